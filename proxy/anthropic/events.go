package anthropic

import (
	"strconv"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/apierr"
)

// EventType is the type of an Anthropic stream event.
type EventType uint8

// Stream event types, named as on the wire by String.
const (
	MessageStart EventType = iota + 1
	ContentBlockStart
	ContentBlockDelta
	ContentBlockStop
	MessageDelta
	MessageStop
	Ping
	Error
)

var eventNames = [...]string{
	MessageStart:      "message_start",
	ContentBlockStart: "content_block_start",
	ContentBlockDelta: "content_block_delta",
	ContentBlockStop:  "content_block_stop",
	MessageDelta:      "message_delta",
	MessageStop:       "message_stop",
	Ping:              "ping",
	Error:             "error",
}

func (t EventType) String() string {
	if int(t) < len(eventNames) && eventNames[t] != "" {
		return eventNames[t]
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// BlockType is the type of a content block.
type BlockType uint8

// Content block types.
const (
	TextBlock BlockType = iota + 1
	ThinkingBlock
	RedactedThinkingBlock
	ToolUseBlock
	ServerToolUseBlock       // a server tool call (web_search), whole in its start event
	WebSearchToolResultBlock // its results, whole in its start event
)

var blockNames = [...]string{
	TextBlock:                "text",
	ThinkingBlock:            "thinking",
	RedactedThinkingBlock:    "redacted_thinking",
	ToolUseBlock:             "tool_use",
	ServerToolUseBlock:       "server_tool_use",
	WebSearchToolResultBlock: "web_search_tool_result",
}

func (t BlockType) String() string {
	if int(t) < len(blockNames) && blockNames[t] != "" {
		return blockNames[t]
	}
	return "BlockType(" + strconv.Itoa(int(t)) + ")"
}

// DeltaType is the type of a content_block_delta.
type DeltaType uint8

// Delta types.
const (
	TextDelta DeltaType = iota + 1
	ThinkingDelta
	SignatureDelta
	InputJSONDelta
)

// Stop reasons.
const (
	StopEndTurn       = "end_turn"
	StopToolUse       = "tool_use"
	StopMaxTokens     = "max_tokens"
	StopSequence      = "stop_sequence"
	StopContextWindow = "model_context_window_exceeded"
)

// Error types of the Anthropic error JSON, which are also the neutral ones
// of package apierr.
const (
	InvalidRequestError = apierr.InvalidRequest
	AuthenticationError = apierr.Authentication
	PermissionError     = apierr.Permission
	NotFoundError       = apierr.NotFound
	RequestTooLarge     = apierr.RequestTooLarge
	RateLimitError      = apierr.RateLimit
	APIError            = apierr.API
	OverloadedError     = apierr.Overloaded
)

// Usage is a message's token counts.
type Usage struct {
	InputTokens              int
	OutputTokens             int
	CacheCreationInputTokens int
	CacheReadInputTokens     int
	// WebSearchRequests is usage.server_tool_use.web_search_requests, left
	// out of the JSON when 0.
	WebSearchRequests int
}

// Event is one Anthropic stream event. It is a flat value (no pointers to
// follow, nothing to allocate) whose fields are meaningful per Type:
//
//	MessageStart       ID (msg_…), Model, Usage
//	ContentBlockStart  Index, Block; ID and Name for tool_use and server_tool_use; Text is the data of
//	                   redacted_thinking, the input (a JSON object) of server_tool_use, the content (a JSON
//	                   array) of web_search_tool_result, whose ID is its tool_use_id
//	ContentBlockDelta  Index, Delta, Text (the text, thinking, signature or partial JSON)
//	ContentBlockStop   Index
//	MessageDelta       StopReason, StopSequence (empty: null), Usage
//	MessageStop, Ping  nothing
//	Error              ErrorType, Text (the message)
type Event struct {
	Type         EventType
	Block        BlockType
	Delta        DeltaType
	Index        int
	Text         string
	ID           string
	Name         string
	Model        string
	StopReason   string
	StopSequence string
	ErrorType    string
	Usage        Usage
}

// AppendSSE appends ev as one server-sent event: "event: <type>\ndata: <json>\n\n".
func AppendSSE(dst []byte, ev *Event) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, ev.Type.String()...)
	dst = append(dst, "\ndata: "...)
	dst = AppendEventJSON(dst, ev)
	return append(dst, "\n\n"...)
}

// AppendEventJSON appends the JSON data of ev, as the Messages API sends it.
func AppendEventJSON(dst []byte, ev *Event) []byte {
	switch ev.Type {
	case MessageStart:
		dst = append(dst, `{"type":"message_start","message":{"id":`...)
		dst = appendString(dst, ev.ID)
		dst = append(dst, `,"type":"message","role":"assistant","content":[],"model":`...)
		dst = appendString(dst, ev.Model)
		dst = append(dst, `,"stop_reason":null,"stop_sequence":null,"usage":`...)
		dst = appendUsage(dst, &ev.Usage)
		return append(dst, "}}"...)
	case ContentBlockStart:
		dst = append(dst, `{"type":"content_block_start","index":`...)
		dst = strconv.AppendInt(dst, int64(ev.Index), 10)
		dst = append(dst, `,"content_block":`...)
		switch ev.Block {
		case TextBlock:
			dst = append(dst, `{"type":"text","text":""}`...)
		case ThinkingBlock:
			dst = append(dst, `{"type":"thinking","thinking":"","signature":""}`...)
		case RedactedThinkingBlock:
			dst = append(dst, `{"type":"redacted_thinking","data":`...)
			dst = appendString(dst, ev.Text)
			dst = append(dst, '}')
		case ToolUseBlock:
			dst = append(dst, `{"type":"tool_use","id":`...)
			dst = appendString(dst, ev.ID)
			dst = append(dst, `,"name":`...)
			dst = appendString(dst, ev.Name)
			dst = append(dst, `,"input":{}}`...)
		case ServerToolUseBlock:
			dst = append(dst, `{"type":"server_tool_use","id":`...)
			dst = appendString(dst, ev.ID)
			dst = append(dst, `,"name":`...)
			dst = appendString(dst, ev.Name)
			dst = append(dst, `,"input":`...)
			dst = appendRawOr(dst, ev.Text, "{}")
			dst = append(dst, '}')
		case WebSearchToolResultBlock:
			dst = append(dst, `{"type":"web_search_tool_result","tool_use_id":`...)
			dst = appendString(dst, ev.ID)
			dst = append(dst, `,"content":`...)
			dst = appendRawOr(dst, ev.Text, "[]")
			dst = append(dst, '}')
		}
		return append(dst, '}')
	case ContentBlockDelta:
		dst = append(dst, `{"type":"content_block_delta","index":`...)
		dst = strconv.AppendInt(dst, int64(ev.Index), 10)
		switch ev.Delta {
		case TextDelta:
			dst = append(dst, `,"delta":{"type":"text_delta","text":`...)
		case ThinkingDelta:
			dst = append(dst, `,"delta":{"type":"thinking_delta","thinking":`...)
		case SignatureDelta:
			dst = append(dst, `,"delta":{"type":"signature_delta","signature":`...)
		case InputJSONDelta:
			dst = append(dst, `,"delta":{"type":"input_json_delta","partial_json":`...)
		}
		dst = appendString(dst, ev.Text)
		return append(dst, "}}"...)
	case ContentBlockStop:
		dst = append(dst, `{"type":"content_block_stop","index":`...)
		dst = strconv.AppendInt(dst, int64(ev.Index), 10)
		return append(dst, '}')
	case MessageDelta:
		dst = append(dst, `{"type":"message_delta","delta":{"stop_reason":`...)
		dst = appendNullable(dst, ev.StopReason)
		dst = append(dst, `,"stop_sequence":`...)
		dst = appendNullable(dst, ev.StopSequence)
		dst = append(dst, `},"usage":`...)
		dst = appendUsage(dst, &ev.Usage)
		return append(dst, '}')
	case MessageStop:
		return append(dst, `{"type":"message_stop"}`...)
	case Ping:
		return append(dst, `{"type":"ping"}`...)
	case Error:
		return appendErrorJSON(dst, ev.ErrorType, ev.Text)
	}
	return append(dst, "{}"...)
}

// appendErrorJSON appends {"type":"error","error":{"type":kind,"message":msg}}.
func appendErrorJSON(dst []byte, kind, msg string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = appendString(dst, kind)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, msg)
	return append(dst, "}}"...)
}

func appendUsage(dst []byte, u *Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens), 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.OutputTokens), 10)
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CacheCreationInputTokens), 10)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CacheReadInputTokens), 10)
	if u.WebSearchRequests > 0 {
		dst = append(dst, `,"server_tool_use":{"web_search_requests":`...)
		dst = strconv.AppendInt(dst, int64(u.WebSearchRequests), 10)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendRawOr appends raw, JSON the translator built, or def when it is empty.
func appendRawOr(dst []byte, raw, def string) []byte {
	if raw == "" {
		return append(dst, def...)
	}
	return append(dst, raw...)
}

func appendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}

// safe marks bytes that go into a JSON string as they are.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string the way every event this
// package writes is encoded; the other front ends (proxy/relay) share it.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// the output is always valid JSON; U+2028 and U+2029 are escaped for
// JavaScript clients, as encoding/json does.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
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
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
