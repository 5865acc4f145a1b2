package openai

import (
	"strconv"
	"strings"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
)

// chatAnswer describes the completion being rendered.
type chatAnswer struct {
	ID      string // chatcmpl-…
	Created int64  // unix seconds, the same on every chunk
	Model   string // echoed as the client sent it
}

// ChatStream renders the translator's events as Chat Completions chunks
// (`data: {…}` lines, then `data: [DONE]`). Tool calls are numbered from 0
// in the order they start, whatever text came before them; the first chunk
// of a call carries its id, type and name with empty arguments, the next
// ones argument fragments. It is not safe for concurrent use.
type ChatStream struct {
	prefix       []byte // `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":`
	includeUsage bool
	tools        int // tool calls started so far
	reasoning    conv.TextCounter
}

var _ relay.Encoder = (*ChatStream)(nil)

// NewChatStream returns the encoder of one streamed completion. With
// includeUsage (stream_options.include_usage) usage comes in an extra last
// chunk with no choices, as OpenAI sends it; without, it rides on the chunk
// that carries finish_reason.
func NewChatStream(a chatAnswer, includeUsage bool) *ChatStream {
	p := append([]byte(`{"id":`), relay.AppendString(nil, a.ID)...)
	p = append(p, `,"object":"chat.completion.chunk","created":`...)
	p = strconv.AppendInt(p, a.Created, 10)
	p = append(p, `,"model":`...)
	p = relay.AppendString(p, a.Model)
	p = append(p, `,"choices":`...)
	return &ChatStream{prefix: p, includeUsage: includeUsage}
}

// Begin implements relay.Encoder: a chat stream has no preamble.
func (e *ChatStream) Begin(dst []byte) []byte { return dst }

// KeepAlive implements relay.Encoder with an SSE comment.
func (e *ChatStream) KeepAlive(dst []byte) []byte { return append(dst, ": keep-alive\n\n"...) }

// Encode implements relay.Encoder.
func (e *ChatStream) Encode(dst []byte, evs []anthropic.Event) []byte {
	for i := range evs {
		ev := &evs[i]
		switch ev.Type {
		case anthropic.MessageStart:
			dst = e.chunk(dst, func(b []byte) []byte { return append(b, `{"role":"assistant","content":""}`...) }, "", nil)
		case anthropic.ContentBlockStart:
			if ev.Block != anthropic.ToolUseBlock {
				continue
			}
			n := e.tools
			e.tools++
			dst = e.chunk(dst, func(b []byte) []byte {
				b = append(b, `{"tool_calls":[{"index":`...)
				b = relay.AppendInt(b, n)
				b = append(b, `,"id":`...)
				b = relay.AppendString(b, ev.ID)
				b = append(b, `,"type":"function","function":{"name":`...)
				b = relay.AppendString(b, ev.Name)
				return append(b, `,"arguments":""}}]}`...)
			}, "", nil)
		case anthropic.ContentBlockDelta:
			dst = e.delta(dst, ev)
		case anthropic.MessageDelta:
			u := e.usage(ev.Usage)
			reason := finishReason(ev.StopReason)
			if e.includeUsage {
				dst = e.chunk(dst, func(b []byte) []byte { return append(b, "{}"...) }, reason, nil)
				dst = append(dst, "data: "...)
				dst = append(dst, e.prefix...)
				dst = append(dst, `[],"usage":`...)
				dst = appendUsage(dst, u)
				dst = append(dst, "}\n\n"...)
			} else {
				dst = e.chunk(dst, func(b []byte) []byte { return append(b, "{}"...) }, reason, &u)
			}
		case anthropic.MessageStop:
			dst = append(dst, "data: [DONE]\n\n"...)
		case anthropic.Error:
			dst = append(dst, "data: "...)
			dst = appendError(dst, apierr.OfType(ev.ErrorType, ev.Text))
			dst = append(dst, "\n\ndata: [DONE]\n\n"...)
		}
	}
	return dst
}

func (e *ChatStream) delta(dst []byte, ev *anthropic.Event) []byte {
	switch ev.Delta {
	case anthropic.TextDelta:
		return e.chunk(dst, func(b []byte) []byte {
			return append(relay.AppendString(append(b, `{"content":`...), ev.Text), '}')
		}, "", nil)
	case anthropic.ThinkingDelta:
		e.reasoning.Add(ev.Text)
		return e.chunk(dst, func(b []byte) []byte {
			return append(relay.AppendString(append(b, `{"reasoning_content":`...), ev.Text), '}')
		}, "", nil)
	case anthropic.InputJSONDelta:
		n := e.tools - 1
		return e.chunk(dst, func(b []byte) []byte {
			b = append(b, `{"tool_calls":[{"index":`...)
			b = relay.AppendInt(b, n)
			b = append(b, `,"function":{"arguments":`...)
			b = relay.AppendString(b, ev.Text)
			return append(b, "}}]}"...)
		}, "", nil)
	}
	return dst // signatures have no OpenAI form
}

// chunk appends one `data:` line whose only choice has the delta that
// delta appends, finish_reason (null when empty) and, if u is set, usage.
func (e *ChatStream) chunk(dst []byte, delta func([]byte) []byte, finish string, u *chatUsage) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, e.prefix...)
	dst = append(dst, `[{"index":0,"delta":`...)
	dst = delta(dst)
	dst = append(dst, `,"logprobs":null,"finish_reason":`...)
	dst = relay.AppendNullable(dst, finish)
	dst = append(dst, "}]"...)
	if u != nil {
		dst = append(dst, `,"usage":`...)
		dst = appendUsage(dst, *u)
	}
	return append(dst, "}\n\n"...)
}

func (e *ChatStream) usage(u anthropic.Usage) chatUsage {
	return chatUsage{Prompt: u.InputTokens, Completion: u.OutputTokens,
		Reasoning: min(e.reasoning.Tokens(), u.OutputTokens), Cached: u.CacheReadInputTokens}
}

// chatUsage is the usage object of Chat Completions.
type chatUsage struct {
	Prompt, Completion, Reasoning, Cached int
}

func appendUsage(dst []byte, u chatUsage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = relay.AppendInt(dst, u.Prompt)
	dst = append(dst, `,"completion_tokens":`...)
	dst = relay.AppendInt(dst, u.Completion)
	dst = append(dst, `,"total_tokens":`...)
	dst = relay.AppendInt(dst, u.Prompt+u.Completion)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = relay.AppendInt(dst, u.Cached)
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = relay.AppendInt(dst, u.Reasoning)
	return append(dst, "}}"...)
}

// finishReason maps a stop reason to Chat Completions' finish_reason.
func finishReason(stop string) string {
	switch stop {
	case anthropic.StopToolUse:
		return "tool_calls"
	case anthropic.StopMaxTokens, anthropic.StopContextWindow:
		return "length"
	}
	return "stop"
}

// AppendChatCompletion appends the body of a non-streamed completion made of
// the folded answer m. With jsonMode the text is reduced to the JSON value
// it holds, when it holds one (the model may have fenced it).
func AppendChatCompletion(dst []byte, a chatAnswer, m *anthropic.Message, jsonMode bool) []byte {
	var text, reasoning strings.Builder
	var calls []*anthropic.OutputBlock
	for i := range m.Content {
		b := &m.Content[i]
		switch b.Type {
		case anthropic.TextBlock:
			text.WriteString(b.Text)
		case anthropic.ThinkingBlock:
			reasoning.WriteString(b.Text)
		case anthropic.ToolUseBlock:
			calls = append(calls, b)
		}
	}
	content := text.String()
	if jsonMode {
		if j, ok := relay.ExtractJSON(content); ok {
			content = j
		}
	}
	dst = append(dst, `{"id":`...)
	dst = relay.AppendString(dst, a.ID)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = strconv.AppendInt(dst, a.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = relay.AppendString(dst, a.Model)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if content == "" && len(calls) > 0 {
		dst = append(dst, "null"...)
	} else {
		dst = relay.AppendString(dst, content)
	}
	if reasoning.Len() > 0 {
		dst = append(dst, `,"reasoning_content":`...)
		dst = relay.AppendString(dst, reasoning.String())
	}
	if len(calls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i, c := range calls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = relay.AppendString(dst, c.ID)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = relay.AppendString(dst, c.Name)
			dst = append(dst, `,"arguments":`...)
			dst = relay.AppendString(dst, c.Input)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"refusal":null},"logprobs":null,"finish_reason":`...)
	dst = relay.AppendString(dst, finishReason(m.StopReason))
	dst = append(dst, `}],"usage":`...)
	u := chatUsage{Prompt: m.Usage.InputTokens, Completion: m.Usage.OutputTokens,
		Reasoning: min(conv.EstimateText(reasoning.String()), m.Usage.OutputTokens), Cached: m.Usage.CacheReadInputTokens}
	dst = appendUsage(dst, u)
	return append(dst, '}')
}
