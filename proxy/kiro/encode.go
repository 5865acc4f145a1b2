package kiro

import (
	"sync"
	"unicode/utf8"
)

// Constant values of the body (§3.2).
const (
	agentTaskType   = "vibe"
	chatTriggerType = "MANUAL" // AUTO is not a valid value
	origin          = "AI_EDITOR"
)

// encodeBody writes the generateAssistantResponse body (§3.1) in one pass
// into one buffer. The history starts with the system pair when there is a
// system text; tools go on the current message only; modelId and origin on
// every user message; empty arrays and objects are left out ("toolUses": []
// is a known rejection).
//
// It is hand-written rather than json.Marshal of wire structs because the
// body is ~100 KB on every request: encoding/json spends most of its time in
// reflection and in re-validating every schema and tool input, which are
// already valid here. The output is byte for byte what encoding/json (with
// SetEscapeHTML(false)) writes for the same structure, key order included;
// TestEncodeMatchesEncodingJSON holds that line.
func encodeBody(p bodyParts) (body []byte, pooled *[]byte) {
	b, pooled := getBuffer(estimateBody(&p))
	b = append(b, `{"conversationState":{"conversationId":`...)
	b = appendString(b, p.conversationID)
	b = append(b, `,"agentContinuationId":`...)
	b = appendString(b, p.continuationID)
	b = append(b, `,"agentTaskType":"`+agentTaskType+`","chatTriggerType":"`+chatTriggerType+`"`...)

	turns := p.turns
	system := p.thinking != "" || p.system != ""
	if system || len(turns) > 1 {
		b = append(b, `,"history":[`...)
		first := true
		if system {
			b = append(b, `{"userInputMessage":`...)
			b = appendUser(b, p.thinking, p.system, p.modelID, nil, nil, nil)
			b = append(b, `},{"assistantResponseMessage":{"content":`...)
			b = appendString(b, systemAck)
			b = append(b, `}}`...)
			first = false
		}
		for i := range turns[:len(turns)-1] {
			t := &turns[i]
			if !first {
				b = append(b, ',')
			}
			first = false
			if t.assistant {
				b = append(b, `{"assistantResponseMessage":`...)
				b = appendAssistant(b, t)
			} else {
				b = append(b, `{"userInputMessage":`...)
				b = appendUser(b, "", t.text, p.modelID, t.images, t.results, nil)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	cur := &turns[len(turns)-1]
	b = append(b, `,"currentMessage":{"userInputMessage":`...)
	b = appendUser(b, "", cur.text, p.modelID, cur.images, cur.results, p.tools)
	b = append(b, `}}`...)
	if p.profileARN != "" {
		b = append(b, `,"profileArn":`...)
		b = appendString(b, p.profileARN)
	}
	b = append(b, '}')
	if pooled != nil {
		*pooled = b
	}
	return b, pooled
}

// bodyPool recycles body buffers (see Payload.Release): the body is by far
// the largest allocation of a request, and reusing it saves most of the
// garbage collector's work for the proxy's own part.
var bodyPool sync.Pool // of *[]byte

// maxPooledBody keeps rare huge bodies (many images) out of the pool.
const maxPooledBody = 4 << 20

// getBuffer returns an empty buffer of at least size bytes, and the pool
// handle to give back through Payload.Release (nil for a buffer too big to
// be worth keeping).
func getBuffer(size int) ([]byte, *[]byte) {
	if size > maxPooledBody {
		return make([]byte, 0, size), nil
	}
	if v, ok := bodyPool.Get().(*[]byte); ok {
		if cap(*v) >= size {
			return (*v)[:0], v
		}
		// Too small for this body: dropped, a bigger one replaces it.
	}
	b := make([]byte, 0, size)
	return b, &b
}

// estimateBody is a capacity that the body rarely outgrows: the raw sizes,
// the fixed keys, and 1/16 for escapes.
func estimateBody(p *bodyParts) int {
	size := 512 + len(p.thinking) + len(p.system) + len(p.modelID)
	for i := range p.turns {
		t := &p.turns[i]
		size += 112 + len(t.text) + len(p.modelID)
		for _, im := range t.images {
			size += 48 + len(im.data)
		}
		for _, u := range t.uses {
			size += 48 + len(u.id) + len(u.name) + len(u.input)
		}
		for _, r := range t.results {
			size += 64 + len(r.id) + len(r.text)
		}
	}
	for i := range p.tools {
		size += 1 + len(p.tools[i].encoded)
	}
	return size + size/16
}

// appendUser writes a userInputMessage object whose content is prefix +
// content (written in two parts to spare a copy of a long system prompt).
func appendUser(b []byte, prefix, content, modelID string, images []image, results []toolResult, tools []spec) []byte {
	b = append(b, `{"content":"`...)
	b = appendEscaped(b, prefix)
	b = appendEscaped(b, content)
	b = append(b, '"')
	b = append(b, `,"modelId":`...)
	b = appendString(b, modelID)
	b = append(b, `,"origin":"`+origin+`"`...)
	if len(images) > 0 {
		b = append(b, `,"images":[`...)
		for i, im := range images {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"format":`...)
			b = appendString(b, im.format)
			b = append(b, `,"source":{"bytes":`...)
			b = appendString(b, im.data)
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	if len(results) > 0 || len(tools) > 0 {
		b = append(b, `,"userInputMessageContext":{`...)
		if len(results) > 0 {
			b = append(b, `"toolResults":[`...)
			for i, r := range results {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"toolUseId":`...)
				b = appendString(b, r.id)
				b = append(b, `,"content":[{"text":`...)
				b = appendString(b, r.text)
				if r.isError {
					b = append(b, `}],"status":"error"}`...)
				} else {
					b = append(b, `}],"status":"success"}`...)
				}
			}
			b = append(b, ']')
		}
		if len(tools) > 0 {
			if len(results) > 0 {
				b = append(b, ',')
			}
			b = append(b, `"tools":[`...)
			for i := range tools {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, tools[i].encoded...)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendAssistant writes an assistantResponseMessage object.
func appendAssistant(b []byte, t *turn) []byte {
	b = append(b, `{"content":`...)
	b = appendString(b, t.text)
	if len(t.uses) > 0 {
		b = append(b, `,"toolUses":[`...)
		for i, u := range t.uses {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"toolUseId":`...)
			b = appendString(b, u.id)
			b = append(b, `,"name":`...)
			b = appendString(b, u.name)
			b = append(b, `,"input":`...)
			b = append(b, u.input...) // valid JSON, checked by normalizeInput
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendToolSpec writes one entry of "tools".
func appendToolSpec(b []byte, name, desc string, schema []byte) []byte {
	b = append(b, `{"toolSpecification":{"name":`...)
	b = appendString(b, name)
	b = append(b, `,"description":`...)
	b = appendString(b, desc)
	b = append(b, `,"inputSchema":{"json":`...)
	b = append(b, schema...)
	return append(b, `}}}`...)
}

// jsonSafe marks the bytes that go into a JSON string as they are: ASCII
// but control characters, quote and backslash.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// without HTML escaping: quote, backslash and control characters escaped
// (\b \f \n \r \t or \u00XX), invalid UTF-8 replaced by \ufffd, U+2028 and
// U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends the escaped contents of a JSON string, without quotes.
func appendEscaped(b []byte, s string) []byte {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	start := 0
	for i := 0; i < len(s); {
		// Skip 8 plain ASCII bytes at a time. The word has a byte below
		// 0x20, a quote, a backslash or a non-ASCII byte iff the expression
		// has a high bit set (for ASCII words the borrow tests are exact; a
		// non-ASCII byte sets a high bit of x itself).
		for i+8 <= len(s) {
			w := s[i : i+8]
			x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
				uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
			q := x ^ ('"' * lsb)
			bs := x ^ ('\\' * lsb)
			if ((x-0x20*lsb)&^x|(q-lsb)&^q|(bs-lsb)&^bs|x)&msb != 0 {
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}
