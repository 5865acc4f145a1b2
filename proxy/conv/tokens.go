package conv

import "unsafe"

// Token estimates.
//
// Kiro reports Anthropic-style token counts late (a context-usage percentage
// near the end of a stream) or not at all, but clients need a number up front:
// count_tokens answers with one and message_start carries one. Both use
// EstimateTokens, so the two always agree.
//
// The method is a character-class heuristic, no tokenizer: Latin-script
// characters (ASCII and U+0080–U+027F, the Latin supplements and extensions)
// cost 1/4 token each, every other character (CJK, Cyrillic, Greek, symbols,
// emoji, …) 1/1.5 tokens. Claude's tokenizer averages about 4 characters per
// token on English prose and code, while scripts without Latin letters get
// far fewer characters per token. Counting works on UTF-8 bytes without
// decoding runes: an ASCII byte is a Latin character, a lead byte 0xC2–0xC9
// starts one of U+0080–U+027F, any other lead byte starts a non-Latin
// character, and continuation bytes are skipped; eight ASCII bytes at a time
// are recognised with one word test. Fractions are kept in integer units
// (12 per token) and rounded up once per count, so summing many small pieces
// through a TextCounter does not inflate the total.
//
// On top of the text, EstimateTokens adds fixed overheads for the framing the
// model sees: per message, per content block of tool use or result, per tool
// definition, a preamble when tools are present, and a flat cost per image.

// Costs in tokens of the parts of a request that are not plain text.
const (
	MessageOverhead = 4    // role markers around each message
	ToolUseOverhead = 8    // the framing of a tool call or tool result
	ToolOverhead    = 8    // per tool definition, besides its text
	ToolsPreamble   = 300  // the tool-use instructions added when any tool is defined
	ImageTokens     = 1600 // one image, whatever its size (about a 1.2-megapixel image)
)

const (
	unitsPerToken = 12
	latinUnits    = 3 // 12/3 = 4 Latin characters per token
	otherUnits    = 8 // 12/8 = 1.5 other characters per token
	asciiMask     = 0x8080808080808080
)

// TextCounter sums the estimated tokens of many pieces of text, rounding once
// at the end. Its zero value is ready; it is not safe for concurrent use.
type TextCounter struct {
	units int
}

// Add counts s.
func (c *TextCounter) Add(s string) { c.units += textUnits(s) }

// AddBytes counts b as UTF-8 text (a JSON document, say).
func (c *TextCounter) AddBytes(b []byte) {
	if len(b) > 0 {
		c.units += textUnits(unsafe.String(unsafe.SliceData(b), len(b)))
	}
}

// Tokens returns the estimate for everything added so far, rounded up.
func (c *TextCounter) Tokens() int { return (c.units + unitsPerToken - 1) / unitsPerToken }

// AddWithin adds the longest prefix of s that keeps the total within limit
// tokens, cut at a character boundary, and returns its length in bytes.
func (c *TextCounter) AddWithin(s string, limit int) int {
	room := limit*unitsPerToken - c.units
	if room <= 0 {
		return 0
	}
	if u := textUnits(s); u <= room {
		c.units += u
		return len(s)
	}
	used := 0
	for i := 0; i < len(s); i++ {
		l, o := classify(s[i])
		cost := l*latinUnits + o*otherUnits
		if cost > 0 && used+cost > room { // s[i] starts a character that does not fit
			c.units += used
			return i
		}
		used += cost
	}
	c.units += used
	return len(s)
}

// EstimateText returns the estimated number of tokens in s (see the method
// above). It is 0 only for the empty string.
func EstimateText(s string) int {
	var c TextCounter
	c.Add(s)
	return c.Tokens()
}

// EstimateTokens returns the estimated input tokens of req: system prompt,
// every message with its blocks, and the tool definitions (names,
// descriptions and schemas). It is at least 1.
func EstimateTokens(req *Request) int {
	var c TextCounter
	fixed := 0
	c.Add(req.System)
	for i := range req.Messages {
		fixed += MessageOverhead
		fixed += countBlocks(&c, req.Messages[i].Content)
	}
	if len(req.Tools) > 0 {
		fixed += ToolsPreamble
	}
	for i := range req.Tools {
		t := &req.Tools[i]
		fixed += ToolOverhead
		c.Add(t.Name)
		c.Add(t.Description)
		c.AddBytes(t.Schema)
	}
	return max(1, c.Tokens()+fixed)
}

// countBlocks adds the text of blocks to c and returns their fixed costs.
func countBlocks(c *TextCounter, blocks []Block) int {
	fixed := 0
	for i := range blocks {
		b := &blocks[i]
		switch b.Type {
		case Text, Reasoning:
			c.Add(b.Text)
		case Image:
			fixed += ImageTokens
		case ToolUse:
			fixed += ToolUseOverhead
			c.Add(b.ToolName)
			c.AddBytes(b.Input)
		case ToolResult:
			fixed += ToolUseOverhead
			fixed += countBlocks(c, b.Content)
		}
	}
	return fixed
}

// textUnits returns the cost of s in units (unitsPerToken per token).
func textUnits(s string) int {
	latin, other := 0, 0
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&asciiMask == 0 {
			latin += 8
			continue
		}
		for j := i; j < i+8; j++ {
			l, o := classify(s[j])
			latin += l
			other += o
		}
	}
	for ; i < len(s); i++ {
		l, o := classify(s[i])
		latin += l
		other += o
	}
	return latin*latinUnits + other*otherUnits
}

// classify says whether byte b starts a Latin (1, 0) or another (0, 1)
// character; a UTF-8 continuation byte starts none (0, 0).
func classify(b byte) (latin, other int) {
	switch {
	case b < 0x80:
		return 1, 0
	case b < 0xC0: // continuation byte
		return 0, 0
	case b <= 0xC9: // U+0080–U+027F
		return 1, 0
	default:
		return 0, 1
	}
}
