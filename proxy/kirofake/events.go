package kirofake

import (
	"strconv"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

// Reply is one scripted answer to a chat call: the frames to stream, or a
// fault. Events are sent exactly as given, one frame per write and flush;
// nothing is added (no automatic metering or context usage).
type Reply struct {
	Events []Event
	// Fault applies to the call(s) this reply answers (see Fault.Times); a
	// standing fault (SetFault, SetAccountFault) replaces it.
	Fault Fault
}

// Event encodes to one write of a scripted stream: a frame for every type
// but Raw, which is written as it is.
type Event interface {
	appendFrame(dst []byte) []byte
}

// Text is an assistantResponseEvent: {"content": …}.
type Text string

// ToolUse is one toolUseEvent fragment. Input is a piece of the call's JSON
// input text; a fragment with Stop and no Input omits "input", as Kiro does.
// See ToolCall for a whole call.
type ToolUse struct {
	ID, Name, Input string
	Stop            bool
}

// Reasoning is a reasoningContentEvent; empty fields are left out.
type Reasoning struct {
	Text, Signature, Redacted string
}

// ContextUsage is a contextUsageEvent: the percentage of the model's context
// window the request filled.
type ContextUsage float64

// Metering is a meteringEvent: credits this call used.
type Metering float64

// Metadata is a metadataEvent carrying token counts.
type Metadata struct {
	InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens int
}

// Exception is an exception frame (:message-type exception), e.g.
// ThrottlingException or ContentLengthExceededException.
type Exception struct {
	Type, Message string
}

// ErrorFrame is an error frame (:message-type error): code and message
// travel in headers, the payload is empty.
type ErrorFrame struct {
	Code, Message string
}

// Frame is an event frame of any type with a raw JSON payload, e.g.
// followupPromptEvent or an event type that does not exist yet.
type Frame struct {
	EventType, Payload string
}

// Raw is written to the stream as it is: half a frame, a corrupt CRC, two
// frames in one write.
type Raw []byte

// ToolCall returns a whole tool call as Kiro streams it: a first fragment
// with empty input, the input in pieces of at most 16 bytes (cut on rune
// boundaries only), and a last fragment with stop.
func ToolCall(id, name, input string) []Event {
	evs := []Event{ToolUse{ID: id, Name: name}}
	for len(input) > 0 {
		n := min(16, len(input))
		for n < len(input) && !utf8.RuneStart(input[n]) {
			n++
		}
		evs = append(evs, ToolUse{ID: id, Name: name, Input: input[:n]})
		input = input[n:]
	}
	return append(evs, ToolUse{ID: id, Name: name, Stop: true})
}

func eventHeaders(typ string) []eventstream.Header {
	return []eventstream.Header{
		eventstream.String(":event-type", typ),
		eventstream.String(":content-type", "application/json"),
		eventstream.String(":message-type", "event"),
	}
}

// Shared header lists: Append only reads them.
var (
	textHeaders      = eventHeaders("assistantResponseEvent")
	toolHeaders      = eventHeaders("toolUseEvent")
	reasoningHeaders = eventHeaders("reasoningContentEvent")
	contextHeaders   = eventHeaders("contextUsageEvent")
	meteringHeaders  = eventHeaders("meteringEvent")
	metadataHeaders  = eventHeaders("metadataEvent")
)

func frame(dst []byte, hdrs []eventstream.Header, payload []byte) []byte {
	return eventstream.Append(dst, eventstream.Message{Headers: hdrs, Payload: payload})
}

func (e Text) appendFrame(dst []byte) []byte {
	p := append(make([]byte, 0, len(e)+16), `{"content":`...)
	p = appendString(p, string(e))
	return frame(dst, textHeaders, append(p, '}'))
}

func (e ToolUse) appendFrame(dst []byte) []byte {
	p := append(make([]byte, 0, 64+len(e.Input)+len(e.Name)+len(e.ID)), `{"name":`...)
	p = appendString(p, e.Name)
	p = append(p, `,"toolUseId":`...)
	p = appendString(p, e.ID)
	if !e.Stop || e.Input != "" {
		p = append(p, `,"input":`...)
		p = appendString(p, e.Input)
	}
	p = append(p, `,"stop":`...)
	p = strconv.AppendBool(p, e.Stop)
	return frame(dst, toolHeaders, append(p, '}'))
}

func (e Reasoning) appendFrame(dst []byte) []byte {
	p := []byte{'{'}
	field := func(k, v string) {
		if v == "" {
			return
		}
		if len(p) > 1 {
			p = append(p, ',')
		}
		p = appendString(p, k)
		p = append(p, ':')
		p = appendString(p, v)
	}
	field("text", e.Text)
	field("signature", e.Signature)
	field("redactedContent", e.Redacted)
	return frame(dst, reasoningHeaders, append(p, '}'))
}

func (e ContextUsage) appendFrame(dst []byte) []byte {
	p := strconv.AppendFloat([]byte(`{"contextUsagePercentage":`), float64(e), 'f', -1, 64)
	return frame(dst, contextHeaders, append(p, '}'))
}

func (e Metering) appendFrame(dst []byte) []byte {
	p := strconv.AppendFloat([]byte(`{"unit":"credit","unitPlural":"credits","usage":`), float64(e), 'f', -1, 64)
	return frame(dst, meteringHeaders, append(p, '}'))
}

func (e Metadata) appendFrame(dst []byte) []byte {
	p := []byte(`{"tokenUsage":{"uncachedInputTokens":`)
	p = strconv.AppendInt(p, int64(e.InputTokens), 10)
	p = append(p, `,"outputTokens":`...)
	p = strconv.AppendInt(p, int64(e.OutputTokens), 10)
	p = append(p, `,"totalTokens":`...)
	p = strconv.AppendInt(p, int64(e.InputTokens+e.CacheReadTokens+e.CacheWriteTokens+e.OutputTokens), 10)
	p = append(p, `,"cacheReadInputTokens":`...)
	p = strconv.AppendInt(p, int64(e.CacheReadTokens), 10)
	p = append(p, `,"cacheWriteInputTokens":`...)
	p = strconv.AppendInt(p, int64(e.CacheWriteTokens), 10)
	return frame(dst, metadataHeaders, append(p, "}}"...))
}

func (e Exception) appendFrame(dst []byte) []byte {
	p := appendString([]byte(`{"message":`), e.Message)
	return frame(dst, []eventstream.Header{
		eventstream.String(":exception-type", e.Type),
		eventstream.String(":content-type", "application/json"),
		eventstream.String(":message-type", "exception"),
	}, append(p, '}'))
}

func (e ErrorFrame) appendFrame(dst []byte) []byte {
	return frame(dst, []eventstream.Header{
		eventstream.String(":error-code", e.Code),
		eventstream.String(":error-message", e.Message),
		eventstream.String(":message-type", "error"),
	}, nil)
}

func (e Frame) appendFrame(dst []byte) []byte {
	return frame(dst, eventHeaders(e.EventType), []byte(e.Payload))
}

func (e Raw) appendFrame(dst []byte) []byte { return append(dst, e...) }

// encodeFrames encodes events into one buffer and returns a slice per event.
func encodeFrames(events []Event) [][]byte {
	var buf []byte
	ends := make([]int, len(events))
	for i, e := range events {
		buf = e.appendFrame(buf)
		ends[i] = len(buf)
	}
	frames := make([][]byte, len(events))
	start := 0
	for i, end := range ends {
		frames[i] = buf[start:end:end]
		start = end
	}
	return frames
}

// appendString appends s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, as Kiro does (thinking tags stay readable on the wire);
// invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
