package anthropic

import (
	"strconv"

	"github.com/kirotray/kirotray/proxy/apierr"
)

// Message is a complete answer: the body of a non-streaming /v1/messages
// response.
type Message struct {
	ID           string
	Model        string
	Content      []OutputBlock
	StopReason   string
	StopSequence string // empty: null
	Usage        Usage
}

// OutputBlock is one content block of a Message.
type OutputBlock struct {
	Type      BlockType
	Text      string // the text of a text block, the thinking of a thinking block, the data of a redacted_thinking block
	Signature string // thinking
	ID        string // tool_use, server_tool_use; web_search_tool_result's tool_use_id
	Name      string // tool_use, server_tool_use
	Input     string // tool_use, server_tool_use: the JSON input, an object; web_search_tool_result: its content, a JSON array
}

// StreamError is the error event that ended a stream.
type StreamError struct {
	Type    string // an Anthropic error type, such as overloaded_error
	Message string // what the client was told
	cause   error  // the upstream's own account, for the log
}

func (e *StreamError) Error() string {
	msg := "anthropic: stream ended with " + e.Type + ": " + e.Message
	if e.cause != nil {
		msg += " (" + e.cause.Error() + ")"
	}
	return msg
}

// Unwrap returns the upstream error behind e, if known.
func (e *StreamError) Unwrap() error { return e.cause }

// Describe is the failure the error event stands for (see [apierr.OfType]).
func (e *StreamError) Describe() *apierr.Failure { return apierr.OfType(e.Type, e.Message) }

// Accumulator folds stream events into a Message, so that a non-streaming
// answer goes through the same Translator as a streamed one. Its zero value
// is ready; it is not safe for concurrent use.
type Accumulator struct {
	msg  Message
	bufs [][]byte // deltas of each block, joined at the block's stop
	err  *StreamError
}

// Add folds in one event. Events for blocks that were never started are
// ignored (the Translator never produces them).
func (a *Accumulator) Add(ev *Event) {
	switch ev.Type {
	case MessageStart:
		a.msg.ID, a.msg.Model, a.msg.Usage = ev.ID, ev.Model, ev.Usage
	case ContentBlockStart:
		b := OutputBlock{Type: ev.Block, ID: ev.ID, Name: ev.Name}
		switch ev.Block {
		case RedactedThinkingBlock:
			b.Text = ev.Text
		case ServerToolUseBlock, WebSearchToolResultBlock:
			b.Input = ev.Text
		}
		a.msg.Content = append(a.msg.Content, b)
		a.bufs = append(a.bufs, nil)
	case ContentBlockDelta:
		if ev.Index < 0 || ev.Index >= len(a.bufs) {
			return
		}
		if ev.Delta == SignatureDelta {
			a.msg.Content[ev.Index].Signature += ev.Text
			return
		}
		a.bufs[ev.Index] = append(a.bufs[ev.Index], ev.Text...)
	case ContentBlockStop:
		if ev.Index < 0 || ev.Index >= len(a.bufs) {
			return
		}
		a.flush(ev.Index)
	case MessageDelta:
		a.msg.StopReason, a.msg.StopSequence, a.msg.Usage = ev.StopReason, ev.StopSequence, ev.Usage
	case Error:
		a.err = &StreamError{Type: ev.ErrorType, Message: ev.Text}
	}
}

func (a *Accumulator) flush(i int) {
	buf := a.bufs[i]
	if buf == nil {
		return
	}
	b := &a.msg.Content[i]
	switch b.Type {
	case ToolUseBlock:
		b.Input = string(buf)
	case TextBlock, ThinkingBlock:
		b.Text = string(buf)
	}
	a.bufs[i] = nil
}

// Message returns the answer folded so far.
func (a *Accumulator) Message() *Message {
	for i := range a.bufs {
		a.flush(i)
	}
	return &a.msg
}

// Err returns the *StreamError that ended the stream, or nil.
func (a *Accumulator) Err() error {
	if a.err == nil {
		return nil
	}
	return a.err
}

// AppendJSON appends m as the Messages API's response JSON.
func (m *Message) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, m.ID)
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = appendString(dst, m.Model)
	dst = append(dst, `,"content":[`...)
	for i := range m.Content {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = m.Content[i].appendJSON(dst)
	}
	dst = append(dst, `],"stop_reason":`...)
	dst = appendNullable(dst, m.StopReason)
	dst = append(dst, `,"stop_sequence":`...)
	dst = appendNullable(dst, m.StopSequence)
	dst = append(dst, `,"usage":`...)
	dst = appendUsage(dst, &m.Usage)
	return append(dst, '}')
}

func (b *OutputBlock) appendJSON(dst []byte) []byte {
	switch b.Type {
	case TextBlock:
		dst = append(dst, `{"type":"text","text":`...)
		dst = appendString(dst, b.Text)
	case ThinkingBlock:
		dst = append(dst, `{"type":"thinking","thinking":`...)
		dst = appendString(dst, b.Text)
		dst = append(dst, `,"signature":`...)
		dst = appendString(dst, b.Signature)
	case RedactedThinkingBlock:
		dst = append(dst, `{"type":"redacted_thinking","data":`...)
		dst = appendString(dst, b.Text)
	case ToolUseBlock:
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = appendString(dst, b.ID)
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, b.Name)
		dst = append(dst, `,"input":`...)
		if b.Input == "" {
			dst = append(dst, "{}"...)
		} else {
			dst = append(dst, b.Input...) // checked JSON object (Translator)
		}
	case ServerToolUseBlock:
		dst = append(dst, `{"type":"server_tool_use","id":`...)
		dst = appendString(dst, b.ID)
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, b.Name)
		dst = append(dst, `,"input":`...)
		dst = appendRawOr(dst, b.Input, "{}")
	case WebSearchToolResultBlock:
		dst = append(dst, `{"type":"web_search_tool_result","tool_use_id":`...)
		dst = appendString(dst, b.ID)
		dst = append(dst, `,"content":`...)
		dst = appendRawOr(dst, b.Input, "[]")
	default:
		dst = append(dst, `{"type":`...)
		dst = appendString(dst, "unknown_"+strconv.Itoa(int(b.Type)))
	}
	return append(dst, '}')
}
