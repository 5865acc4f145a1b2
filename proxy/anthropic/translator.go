package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
)

// TranslatorOptions describes the request a Translator answers.
type TranslatorOptions struct {
	// MessageID is the msg_… id message_start carries.
	MessageID string
	// Model is echoed exactly as the client sent it.
	Model string
	// InputTokens is the local estimate (conv.EstimateTokens) sent in
	// message_start, and in message_delta when the upstream reports nothing.
	InputTokens int
	// Window is the model's context window in tokens; it turns a
	// contextUsageEvent percentage into input tokens. Zero ignores those.
	Window int
	// Thinking says the client asked for extended thinking: <thinking> tags at
	// the start of the answer become a thinking block, and reasoning events
	// become thinking blocks. Without it text passes untouched and reasoning
	// events are dropped.
	Thinking bool
	// MaxTokens is enforced locally on the estimated output (the upstream
	// ignores it); zero means no limit.
	MaxTokens int
	// StopSequences end the answer where the text contains one of them.
	StopSequences []string
	// JSONOutput says the client asked for a JSON answer (structured
	// outputs): the answer text is held until the end and sent as the JSON
	// value it contains, without the code fences or words around it that a
	// model asked in prose may add.
	JSONOutput bool
	// Notice, if set, starts the answer's text: something the client must
	// be told about how the request was served (a web search that could not
	// be run). It counts as output.
	Notice string
}

// Translator turns decoded Kiro events into Anthropic stream events: one
// message_start, content blocks indexed from 0 as start → delta* → stop, then
// message_delta and message_stop, or an error event instead of those two. It
// does no I/O and starts no goroutines; it is not safe for concurrent use.
//
// Text passes through as it arrives, except for a few bytes that may be the
// start of a <thinking> tag or of a stop sequence. A tool call is emitted only
// once it is complete (its stop flag, the next call's id, or the end of the
// stream, with input that is a JSON object), as start, one input_json_delta
// and stop: a client never sees half a tool call it could run. A call the
// upstream cut off is replaced by a short text saying so, and the answer
// stops with max_tokens, so that the model, reading its own answer back,
// knows to send smaller inputs.
type Translator struct {
	opts  TranslatorOptions
	stops []string

	started, done bool
	index         int       // index of the next block
	open          BlockType // the open text or thinking block, 0 if none
	signature     string    // signature for the open thinking block

	phase     tagPhase
	held      string // text held back by the tag splitter
	skipNL    bool   // drop one "\n" right after <thinking>
	lastThink byte   // last byte of thinking text emitted from tags
	tagged    bool   // the answer's thinking came in tags
	stopHeld  string // text held back as a possible stop sequence start
	jsonBuf   []byte // the answer, held until the end (JSONOutput)

	tool     pendingTool
	finished []string // ids of tool calls already emitted or dropped

	output                         conv.TextCounter // what was streamed: text, thinking, tool JSON
	sawText, sawThinking, usedTool bool
	truncated                      bool // a tool call was cut off or broken, or the output was cut
	contentLength                  bool
	contextPercent                 float64
	meta                           kiro.Metadata
	hasMeta                        bool
	webSearches                    int // web searches answered (server_tool_use)

	stopReason, stopSequence string
	usage                    Usage
	err                      *StreamError // how the answer failed, after Abort
}

// tagPhase is where the tag splitter is in an answer.
type tagPhase uint8

const (
	phaseStart    tagPhase = iota // only whitespace so far: a <thinking> tag may come
	phaseThinking                 // inside <thinking>…
	phaseAfter                    // after </thinking>: skip whitespace, then text
	phasePlain                    // ordinary text, no more tags
)

const (
	openTag  = "<thinking>"
	closeTag = "</thinking>"
)

// pendingTool collects the fragments of one tool call.
type pendingTool struct {
	active   bool
	id, name string
	buf      []byte
	// A small scanner over the fragments tells when the JSON value is
	// complete, so input repeated after that (Kiro sometimes resends the
	// whole input) is ignored.
	depth            int
	inString, escape bool
	complete         bool
}

// NewTranslator returns a Translator for one answer.
func NewTranslator(opts TranslatorOptions) *Translator {
	t := &Translator{opts: opts}
	for _, s := range opts.StopSequences {
		if s != "" {
			t.stops = append(t.stops, s)
		}
	}
	if !opts.Thinking {
		t.phase = phasePlain
	}
	return t
}

// Start appends message_start if it was not sent yet. Next and Finish call it
// as needed; a handler calls it to commit to a stream before the first event.
func (t *Translator) Start(out []Event) []Event {
	if t.started || t.done {
		return out
	}
	t.started = true
	out = append(out, Event{Type: MessageStart, ID: t.opts.MessageID, Model: t.opts.Model,
		Usage: Usage{InputTokens: t.opts.InputTokens, OutputTokens: 1}})
	if t.opts.Notice != "" {
		out = t.emitText(out, t.opts.Notice+"\n\n")
	}
	return out
}

// Next appends the events that ev causes to out. After the answer has ended
// (Done) it appends nothing.
func (t *Translator) Next(out []Event, ev kiro.Event) []Event {
	if t.done {
		return out
	}
	switch ev := ev.(type) {
	case kiro.Text:
		if ev.Content == "" {
			return out
		}
		out = t.Start(out)
		if t.tool.active && t.tool.complete {
			out = t.finishTool(out)
			if t.done {
				return out
			}
		}
		return t.text(out, ev.Content)
	case kiro.ToolUse:
		return t.toolUse(t.Start(out), ev)
	case kiro.Reasoning:
		return t.reasoning(t.Start(out), ev)
	case kiro.ContextUsage:
		t.contextPercent = ev.Percent
	case kiro.Metadata:
		t.meta, t.hasMeta = ev, true
	case kiro.WebSearchResults:
		return t.webSearch(t.Start(out), ev)
	case kiro.Exception:
		if ev.Type == "ContentLengthExceededException" { // the answer was cut for length
			t.contentLength = true
			return t.Finish(out)
		}
		kind, msg := exceptionError(ev.Type)
		out = t.Abort(out, kind, msg)
		if t.err != nil && t.err.cause == nil {
			t.err.cause = fmt.Errorf("kiro: exception %q: %s", ev.Type, ev.Message)
		}
		return out
	}
	return out // Metering and Unknown change nothing
}

// Finish ends the answer: it releases held-back text, emits a pending tool
// call if its input is complete (drops it otherwise), closes the open block,
// and appends message_delta and message_stop.
func (t *Translator) Finish(out []Event) []Event {
	if t.done {
		return out
	}
	out = t.Start(out)
	out = t.flushText(out)
	if t.tool.active && !t.done {
		out = t.finishTool(out)
	}
	if t.done {
		return out
	}
	return t.end(out, t.reason())
}

// Abort ends the answer with an error event of the given Anthropic error type
// (overloaded_error, api_error …): open blocks are closed, and no
// message_delta or message_stop follows. Before message_start it appends the
// error alone.
func (t *Translator) Abort(out []Event, kind, msg string) []Event {
	if t.done {
		return out
	}
	if t.started {
		out = t.closeBlock(out)
	}
	t.done = true
	t.err = &StreamError{Type: kind, Message: msg}
	return append(out, Event{Type: Error, ErrorType: kind, Text: msg})
}

// Err returns a *StreamError after the answer ended with an error event,
// else nil.
func (t *Translator) Err() error {
	if t.err == nil {
		return nil
	}
	return t.err
}

// Done reports whether the answer has ended (message_stop or error sent);
// the caller can stop reading the upstream.
func (t *Translator) Done() bool { return t.done }

// StopReason returns the stop reason sent in message_delta ("" before the
// end, or after an error).
func (t *Translator) StopReason() string { return t.stopReason }

// Usage returns the usage sent in message_delta (or message_start's before
// the end).
func (t *Translator) Usage() Usage {
	if t.stopReason == "" {
		return Usage{InputTokens: t.opts.InputTokens, OutputTokens: t.output.Tokens()}
	}
	return t.usage
}

// reason decides the stop reason of an answer that ran to its end.
func (t *Translator) reason() string {
	switch {
	case t.truncated || t.contentLength:
		return StopMaxTokens
	case t.contextPercent >= 100:
		return StopContextWindow
	case t.usedTool:
		return StopToolUse
	case t.sawThinking && !t.sawText:
		return StopMaxTokens // the answer never got past its thinking
	}
	return StopEndTurn
}

// end closes the open block and appends message_delta and message_stop.
// Held-back text and a pending tool call are dropped.
func (t *Translator) end(out []Event, reason string) []Event {
	out = t.closeBlock(out)
	t.held, t.stopHeld = "", ""
	t.tool = pendingTool{}
	u := Usage{InputTokens: t.opts.InputTokens, OutputTokens: max(1, t.output.Tokens()), WebSearchRequests: t.webSearches}
	switch {
	case t.hasMeta && t.meta.InputTokens+t.meta.CacheReadTokens+t.meta.CacheWriteTokens > 0:
		// Anthropic's input_tokens are the uncached ones; clients add the
		// cache fields to get the context's size.
		u.InputTokens = t.meta.InputTokens
		u.CacheReadInputTokens, u.CacheCreationInputTokens = t.meta.CacheReadTokens, t.meta.CacheWriteTokens
	case t.contextPercent > 0 && t.opts.Window > 0:
		u.InputTokens = int(math.Round(min(t.contextPercent, 100) * float64(t.opts.Window) / 100))
	}
	if t.hasMeta && t.meta.OutputTokens > 0 {
		u.OutputTokens = t.meta.OutputTokens
	}
	t.stopReason, t.usage, t.done = reason, u, true
	return append(out,
		Event{Type: MessageDelta, StopReason: reason, StopSequence: t.stopSequence, Usage: u},
		Event{Type: MessageStop})
}

// closeBlock closes the open text or thinking block, if any.
func (t *Translator) closeBlock(out []Event) []Event {
	switch t.open {
	case 0:
		return out
	case ThinkingBlock:
		out = append(out, Event{Type: ContentBlockDelta, Index: t.index, Delta: SignatureDelta, Text: t.signature})
		t.signature = ""
	}
	t.open = 0
	out = append(out, Event{Type: ContentBlockStop, Index: t.index})
	t.index++
	return out
}

// openBlock makes sure a block of type typ is open.
func (t *Translator) openBlock(out []Event, typ BlockType) []Event {
	if t.open == typ {
		return out
	}
	out = t.closeBlock(out)
	t.open = typ
	return append(out, Event{Type: ContentBlockStart, Index: t.index, Block: typ})
}

// fit applies the local max_tokens to s: it returns the part of s that fits
// and whether the limit was reached, counting what it returns.
func (t *Translator) fit(s string) (string, bool) {
	if t.opts.MaxTokens > 0 {
		n := t.output.AddWithin(s, t.opts.MaxTokens)
		return s[:n], n < len(s)
	}
	t.output.Add(s)
	return s, false
}

// emitText sends s as text, opening a text block if needed.
func (t *Translator) emitText(out []Event, s string) []Event {
	if s == "" || t.done {
		return out
	}
	s, over := t.fit(s)
	if s != "" {
		out = t.openBlock(out, TextBlock)
		out = append(out, Event{Type: ContentBlockDelta, Index: t.index, Delta: TextDelta, Text: s})
		t.sawText = true
	}
	if over {
		t.truncated = true
		return t.end(out, StopMaxTokens)
	}
	return out
}

// emitThinking sends s as thinking, opening a thinking block if needed.
func (t *Translator) emitThinking(out []Event, s string) []Event {
	if s == "" || t.done {
		return out
	}
	s, over := t.fit(s)
	if s != "" {
		out = t.openBlock(out, ThinkingBlock)
		out = append(out, Event{Type: ContentBlockDelta, Index: t.index, Delta: ThinkingDelta, Text: s})
		t.sawThinking = true
	}
	if over {
		t.truncated = true
		return t.end(out, StopMaxTokens)
	}
	return out
}

// text routes a chunk of the answer through the tag splitter.
func (t *Translator) text(out []Event, s string) []Event {
	switch t.phase {
	case phaseStart:
		buf := t.held + s
		rest := strings.TrimLeft(buf, " \t\r\n")
		switch {
		case rest == "" || strings.HasPrefix(openTag, rest): // whitespace, or maybe the tag's start
			t.held = buf
			return out
		case strings.HasPrefix(rest, openTag):
			t.held, t.phase, t.skipNL, t.tagged = "", phaseThinking, true, true
			return t.thinkingText(out, rest[len(openTag):])
		}
		t.held, t.phase = "", phasePlain
		return t.answer(out, buf)
	case phaseThinking:
		return t.thinkingText(out, s)
	case phaseAfter:
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return out
		}
		t.phase = phasePlain
	}
	return t.answer(out, s)
}

// thinkingText handles text inside <thinking>: everything up to a real
// </thinking> is thinking; a possible partial closing tag at the end is held.
func (t *Translator) thinkingText(out []Event, s string) []Event {
	if t.skipNL && s != "" {
		s = strings.TrimPrefix(s, "\n")
		t.skipNL = false
	}
	buf := s
	if t.held != "" {
		buf, t.held = t.held+s, ""
	}
	if i := t.closingTag(buf); i >= 0 {
		// The newline the model writes before </thinking> is layout, not
		// thinking (the one after <thinking> is dropped likewise).
		out = t.thinkingPart(out, strings.TrimSuffix(buf[:i], "\n"))
		if t.done {
			return out
		}
		out = t.closeBlock(out)
		t.phase = phaseAfter
		return t.text(out, buf[i+len(closeTag):])
	}
	k := max(partialSuffix(buf, closeTag), partialSuffix(buf, "\n"+closeTag))
	t.held = buf[len(buf)-k:]
	return t.thinkingPart(out, buf[:len(buf)-k])
}

func (t *Translator) thinkingPart(out []Event, s string) []Event {
	if s == "" {
		return out
	}
	t.lastThink = s[len(s)-1]
	return t.emitThinking(out, s)
}

// closingTag returns the index of the first real </thinking> in buf, or -1.
// A tag right after a quote-like character is the model writing about the
// tag, not closing its thinking.
func (t *Translator) closingTag(buf string) int {
	for from := 0; ; {
		i := strings.Index(buf[from:], closeTag)
		if i < 0 {
			return -1
		}
		i += from
		prev := t.lastThink
		if i > 0 {
			prev = buf[i-1]
		}
		if !quoteLike(prev) {
			return i
		}
		from = i + 1
	}
}

func quoteLike(c byte) bool { return c == '"' || c == '\'' || c == '`' || c == '\\' }

// partialSuffix returns the length of the longest suffix of s that is a
// proper prefix of tag.
func partialSuffix(s, tag string) int {
	for k := min(len(tag)-1, len(s)); k > 0; k-- {
		if s[len(s)-k:] == tag[:k] {
			return k
		}
	}
	return 0
}

// answer handles answer text: stop sequences, then out.
func (t *Translator) answer(out []Event, s string) []Event {
	if t.opts.JSONOutput {
		t.jsonBuf = append(t.jsonBuf, s...)
		return out
	}
	if len(t.stops) == 0 {
		return t.emitText(out, s)
	}
	buf := s
	if t.stopHeld != "" {
		buf, t.stopHeld = t.stopHeld+s, ""
	}
	at, seq := -1, ""
	for _, st := range t.stops {
		if i := strings.Index(buf, st); i >= 0 && (at < 0 || i < at) {
			at, seq = i, st
		}
	}
	if at >= 0 {
		out = t.emitText(out, buf[:at])
		if t.done {
			return out
		}
		t.stopSequence = seq
		return t.end(out, StopSequence)
	}
	k := 0
	for _, st := range t.stops {
		k = max(k, partialSuffix(buf, st))
	}
	t.stopHeld = buf[len(buf)-k:]
	return t.emitText(out, buf[:len(buf)-k])
}

// flushText releases held-back text: a tool call or the end of the stream
// means no tag or stop sequence can complete it any more.
func (t *Translator) flushText(out []Event) []Event {
	switch t.phase {
	case phaseStart:
		held := t.held
		t.held = ""
		if strings.TrimSpace(held) != "" {
			t.phase = phasePlain
			out = t.answer(out, held)
		}
	case phaseThinking:
		held := t.held
		t.held = ""
		out = t.thinkingPart(out, held)
		if t.done {
			return out
		}
		out = t.closeBlock(out)
		t.phase = phaseAfter
	}
	if t.stopHeld != "" && !t.done {
		held := t.stopHeld
		t.stopHeld = ""
		out = t.emitText(out, held)
	}
	if len(t.jsonBuf) > 0 && !t.done {
		s := jsonAnswer(t.jsonBuf)
		t.jsonBuf = t.jsonBuf[:0]
		out = t.emitText(out, s)
	}
	return out
}

// jsonAnswer returns the JSON value in a model's answer: the answer itself
// when it is one, else what is between code fences, or from the first
// opening brace (or bracket) to the last closing one, if that is valid
// JSON. Anything else is returned trimmed, for the client to judge.
func jsonAnswer(b []byte) string {
	b = bytes.TrimSpace(b)
	if json.Valid(b) {
		return string(b)
	}
	if rest, ok := bytes.CutPrefix(b, []byte("```")); ok {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[i+1:]
		}
		if i := bytes.LastIndex(rest, []byte("```")); i >= 0 {
			rest = rest[:i]
		}
		if rest = bytes.TrimSpace(rest); json.Valid(rest) {
			return string(rest)
		}
	}
	for _, pair := range [...][2]byte{{'{', '}'}, {'[', ']'}} {
		i, j := bytes.IndexByte(b, pair[0]), bytes.LastIndexByte(b, pair[1])
		if i >= 0 && j > i && json.Valid(b[i:j+1]) {
			return string(b[i : j+1])
		}
	}
	return string(b)
}

// reasoning handles native reasoning events.
func (t *Translator) reasoning(out []Event, ev kiro.Reasoning) []Event {
	switch {
	case !t.opts.Thinking || t.tagged: // not asked for, or already shown from tags
		return out
	case t.phase == phaseStart: // reasoning comes natively: stop looking for tags
		out = t.flushText(out)
		t.phase = phasePlain
		if t.done {
			return out
		}
	}
	if ev.Redacted != "" {
		out = t.closeBlock(out)
		out = append(out,
			Event{Type: ContentBlockStart, Index: t.index, Block: RedactedThinkingBlock, Text: ev.Redacted},
			Event{Type: ContentBlockStop, Index: t.index})
		t.index++
		t.sawThinking = true
	}
	out = t.emitThinking(out, ev.Text)
	if ev.Signature != "" && !t.done {
		t.signature += ev.Signature
	}
	return out
}

// toolUse accumulates a tool call fragment.
func (t *Translator) toolUse(out []Event, ev kiro.ToolUse) []Event {
	if ev.ID != "" && t.isFinished(ev.ID) {
		return out // resent after its stop
	}
	if t.tool.active && ev.ID != "" && ev.ID != t.tool.id {
		out = t.finishTool(out) // a new id ends the previous call
		if t.done {
			return out
		}
	}
	if !t.tool.active {
		out = t.flushText(out)
		if t.done {
			return out
		}
		t.tool = pendingTool{active: true, id: ev.ID, buf: t.tool.buf[:0]}
	}
	if t.tool.name == "" {
		t.tool.name = ev.Name
	}
	t.tool.add(ev.Input)
	if ev.Stop {
		out = t.finishTool(out)
	}
	return out
}

func (t *Translator) isFinished(id string) bool {
	for _, f := range t.finished {
		if f == id {
			return true
		}
	}
	return false
}

// finishTool emits the pending tool call if its input is a JSON object, and
// drops it otherwise (the answer then stops with max_tokens: it was cut).
func (t *Translator) finishTool(out []Event) []Event {
	p := &t.tool
	p.active = false
	t.finished = append(t.finished, p.id)
	input := bytes.TrimSpace(p.buf)
	if len(input) == 0 {
		input = emptyObject
	} else if !p.complete || input[0] != '{' || !json.Valid(input) {
		t.truncated = true
		notice := droppedToolNotice(p.name, p.complete)
		if t.open == TextBlock {
			notice = "\n\n" + notice
		}
		return t.emitText(out, notice)
	}
	// A complete call is always passed on, even past the local max_tokens:
	// the upstream wrote all of it, and dropping a finished Write would only
	// make the client ask for it again.
	t.output.Add(p.name)
	t.output.AddBytes(input)
	out = t.closeBlock(out)
	i := t.index
	t.index++
	t.usedTool = true
	return append(out,
		Event{Type: ContentBlockStart, Index: i, Block: ToolUseBlock, ID: t.toolID(p.id, i), Name: p.name},
		Event{Type: ContentBlockDelta, Index: i, Delta: InputJSONDelta, Text: string(input)},
		Event{Type: ContentBlockStop, Index: i})
}

// droppedToolNotice is the text that stands for a tool call that was not
// passed on: cut off by the upstream before its input was complete, or
// (complete) with an input that is not a JSON object.
func droppedToolNotice(name string, complete bool) string {
	if name == "" {
		name = "a tool"
	}
	if complete {
		return "[The call to " + name + " was not made: its input was not a JSON object.]"
	}
	return "[The call to " + name + " was cut off by the upstream before its input was complete, so it was not made. " +
		"Send large content in smaller parts, e.g. write the start of a file, then append the rest with further edits.]"
}

// webSearch answers a web search: the call (server_tool_use, whole in its
// start event, as Anthropic sends it), the results (web_search_tool_result),
// and a text block listing them, since clients such as Claude Code pass only
// text and links on to the model.
func (t *Translator) webSearch(out []Event, ev kiro.WebSearchResults) []Event {
	out = t.flushText(out)
	if t.done {
		return out
	}
	out = t.closeBlock(out)
	t.webSearches++
	id := "srvtoolu_" + strings.TrimPrefix(t.opts.MessageID, "msg_") + "_" + strconv.Itoa(t.index)
	input := appendString([]byte(`{"query":`), ev.Query)
	input = append(input, '}')
	t.output.AddBytes(input)
	var content []byte
	content = append(content, '[')
	for i, r := range ev.Results {
		if i > 0 {
			content = append(content, ',')
		}
		content = append(content, `{"type":"web_search_result","title":`...)
		content = appendString(content, r.Title)
		content = append(content, `,"url":`...)
		content = appendString(content, r.URL)
		// Anthropic's encrypted_content is opaque to clients; Kiro's snippet
		// stands in for it (only a proxy that made it can read it back).
		content = append(content, `,"encrypted_content":`...)
		content = appendString(content, r.Snippet)
		content = append(content, `,"page_age":`...)
		if r.Published.IsZero() {
			content = append(content, "null"...)
		} else {
			content = appendString(content, r.Published.Format("January 2, 2006"))
		}
		content = append(content, '}')
	}
	content = append(content, ']')
	i := t.index
	t.index += 2
	out = append(out,
		Event{Type: ContentBlockStart, Index: i, Block: ServerToolUseBlock, ID: id, Name: "web_search", Text: string(input)},
		Event{Type: ContentBlockStop, Index: i},
		Event{Type: ContentBlockStart, Index: i + 1, Block: WebSearchToolResultBlock, ID: id, Text: string(content)},
		Event{Type: ContentBlockStop, Index: i + 1})
	return t.emitText(out, searchSummary(ev))
}

// searchSummary lists results as text: title, address and snippet of each.
func searchSummary(ev kiro.WebSearchResults) string {
	var b strings.Builder
	if len(ev.Results) == 0 {
		b.WriteString("The web search for \"" + ev.Query + "\" found no results.")
		return b.String()
	}
	b.WriteString("Web search results for \"" + ev.Query + "\":\n")
	for i, r := range ev.Results {
		b.WriteString("\n" + strconv.Itoa(i+1) + ". " + r.Title + "\n   " + r.URL)
		if !r.Published.IsZero() {
			b.WriteString(" (" + r.Published.Format("January 2, 2006") + ")")
		}
		if snip := strings.TrimSpace(r.Snippet); snip != "" {
			b.WriteString("\n   " + strings.Join(strings.Fields(snip), " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// toolID gives a Kiro tool call id the toolu_ form Anthropic clients expect:
// tooluse_X becomes toolu_X. The client sends that id back in history, and
// Kiro accepts any id there, so no mapping back is needed.
func (t *Translator) toolID(id string, index int) string {
	switch {
	case strings.HasPrefix(id, "toolu_"):
		return id
	case strings.HasPrefix(id, "tooluse_"):
		return "toolu_" + strings.TrimPrefix(id, "tooluse_")
	case id == "":
		return "toolu_" + strings.TrimPrefix(t.opts.MessageID, "msg_") + "_" + strconv.Itoa(index)
	}
	return "toolu_" + id
}

// add appends an input fragment, ignoring anything after the value completed.
func (p *pendingTool) add(frag string) {
	if p.complete || frag == "" {
		return
	}
	for i := 0; i < len(frag); i++ {
		c := frag[i]
		switch {
		case p.inString:
			switch {
			case p.escape:
				p.escape = false
			case c == '\\':
				p.escape = true
			case c == '"':
				p.inString = false
			}
		case c == '"':
			p.inString = true
		case c == '{' || c == '[':
			p.depth++
		case c == '}' || c == ']':
			p.depth--
			if p.depth <= 0 {
				p.buf = append(p.buf, frag[:i+1]...)
				p.complete = true
				return
			}
		}
	}
	p.buf = append(p.buf, frag...)
}

// exceptionError maps an exception that ends a stream to an Anthropic error
// type and a message for the client. Throttling and server-side failures are
// overloaded_error, which clients retry; the type name is from the upstream's
// fixed vocabulary, the message is ours.
func exceptionError(typ string) (kind, msg string) {
	switch typ {
	case "ThrottlingException", "ServiceQuotaExceededException":
		return OverloadedError, "the upstream model is overloaded or rate limited (" + typ + "); retry shortly"
	case "InternalServerException", "InternalServerError", "ServiceUnavailableException",
		"ModelStreamErrorException", "error", "":
		return OverloadedError, "the upstream model failed mid-answer (" + safeName(typ) + "); retry"
	}
	return APIError, "the upstream model stream ended with an error (" + safeName(typ) + ")"
}

// safeName keeps an upstream type name to a short run of harmless characters.
func safeName(s string) string {
	if s == "" {
		return "unknown"
	}
	b := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == ':' || c == ' ' {
			b = append(b, c)
		}
	}
	return string(b)
}
