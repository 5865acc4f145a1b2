package openai

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
)

// responseMeta is what the response object echoes of the request.
type responseMeta struct {
	ID                 string // resp_…
	Created            int64  // unix seconds
	Model              string
	Instructions       string
	PreviousResponseID string
	MaxOutputTokens    int
	Effort, Summary    string // reasoning, "" when not asked for
	ParallelToolCalls  bool
	Store              bool
	JSON               bool // text.format asks for JSON: non-streamed text is reduced to it
}

// itemKind is the type of an output item.
type itemKind uint8

const (
	messageItem itemKind = iota + 1
	reasoningItem
	functionCallItem
	customCallItem
)

// outputItem is one item of a response's output.
type outputItem struct {
	kind      itemKind
	id        string
	text      strings.Builder // message text, reasoning summary, or custom tool input
	callID    string
	name      string // the client's name (without namespace)
	namespace string
	args      string // function arguments (JSON text)
	done      bool
}

// ResponseEncoder renders the translator's events as Responses API server-sent
// events, from response.created to response.completed (or
// response.incomplete, or response.failed), and keeps the output items for
// the final response object, the non-streamed body and the stored history.
// Each text block becomes a message item, each thinking block a reasoning
// item with one summary part, each tool call a function_call item (a
// custom_tool_call for custom tools; namespaced tools get their namespace
// back). It is not safe for concurrent use.
type ResponseEncoder struct {
	meta   responseMeta
	tools  toolMap
	sse    bool // render events; false only folds the answer
	seq    int
	items  []*outputItem
	open   *outputItem // the item of the open block, nil if none (or a dropped block)
	status string      // in_progress, completed, incomplete, failed
	reason string      // incomplete_details.reason
	fail   *apierr.Failure
	usage  anthropic.Usage
	think  conv.TextCounter
}

var _ relay.Encoder = (*ResponseEncoder)(nil)

// newResponseEncoder returns the encoder of one response; sse false folds the
// answer without rendering events (a non-streamed request).
func newResponseEncoder(meta responseMeta, tools toolMap, sse bool) *ResponseEncoder {
	return &ResponseEncoder{meta: meta, tools: tools, sse: sse, status: "in_progress"}
}

// Begin implements relay.Encoder: response.created and response.in_progress
// come with the translator's message_start.
func (e *ResponseEncoder) Begin(dst []byte) []byte { return dst }

// KeepAlive implements relay.Encoder with an SSE comment.
func (e *ResponseEncoder) KeepAlive(dst []byte) []byte { return append(dst, ": keep-alive\n\n"...) }

// Encode implements relay.Encoder.
func (e *ResponseEncoder) Encode(dst []byte, evs []anthropic.Event) []byte {
	for i := range evs {
		ev := &evs[i]
		switch ev.Type {
		case anthropic.MessageStart:
			dst = e.event(dst, "response.created", func(b []byte) []byte { return e.appendResponse(append(b, `"response":`...)) })
			dst = e.event(dst, "response.in_progress", func(b []byte) []byte { return e.appendResponse(append(b, `"response":`...)) })
		case anthropic.ContentBlockStart:
			dst = e.start(dst, ev)
		case anthropic.ContentBlockDelta:
			dst = e.delta(dst, ev)
		case anthropic.ContentBlockStop:
			dst = e.stop(dst)
		case anthropic.MessageDelta:
			e.usage = ev.Usage
			e.status = "completed"
			if ev.StopReason == anthropic.StopMaxTokens || ev.StopReason == anthropic.StopContextWindow {
				e.status, e.reason = "incomplete", "max_output_tokens"
			}
		case anthropic.MessageStop:
			dst = e.event(dst, "response."+e.status, func(b []byte) []byte { return e.appendResponse(append(b, `"response":`...)) })
		case anthropic.Error:
			dst = e.Fail(dst, apierr.OfType(ev.ErrorType, ev.Text))
		}
	}
	return dst
}

// Fail ends the response with response.failed carrying f, after the
// response.created a stream must begin with when nothing was sent yet. An
// overloaded or failing upstream is reported as server_error: Codex retries
// that and then shows the message, whereas server_is_overloaded makes it
// tell the user to pick another model.
func (e *ResponseEncoder) Fail(dst []byte, f *apierr.Failure) []byte {
	if f.Code == apierr.CodeOverloaded {
		g := *f
		g.Code = "server_error"
		f = &g
	}
	if e.seq == 0 {
		dst = e.event(dst, "response.created", func(b []byte) []byte { return e.appendResponse(append(b, `"response":`...)) })
	}
	e.open = nil
	e.status, e.fail = "failed", f
	return e.event(dst, "response.failed", func(b []byte) []byte { return e.appendResponse(append(b, `"response":`...)) })
}

// start opens the item of a content block.
func (e *ResponseEncoder) start(dst []byte, ev *anthropic.Event) []byte {
	n := strconv.Itoa(len(e.items))
	suffix := strings.TrimPrefix(e.meta.ID, "resp_") + "_" + n
	it := &outputItem{}
	switch ev.Block {
	case anthropic.TextBlock:
		it.kind, it.id = messageItem, "msg_"+suffix
	case anthropic.ThinkingBlock:
		it.kind, it.id = reasoningItem, "rs_"+suffix
	case anthropic.ToolUseBlock:
		it.kind, it.id, it.callID, it.name = functionCallItem, "fc_"+suffix, ev.ID, ev.Name
		if ref, ok := e.tools[ev.Name]; ok {
			it.name, it.namespace = ref.name, ref.namespace
			if ref.custom {
				it.kind, it.id = customCallItem, "ctc_"+suffix
			}
		}
	default: // redacted thinking has no Responses form
		e.open = nil
		return dst
	}
	e.items = append(e.items, it)
	e.open = it
	index := len(e.items) - 1
	dst = e.event(dst, "response.output_item.added", func(b []byte) []byte {
		b = e.appendIndex(b, index)
		b = append(b, `,"item":`...)
		return e.appendItem(b, it)
	})
	switch it.kind {
	case messageItem:
		dst = e.event(dst, "response.content_part.added", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			return append(b, `,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}`...)
		})
	case reasoningItem:
		dst = e.event(dst, "response.reasoning_summary_part.added", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			return append(b, `,"summary_index":0,"part":{"type":"summary_text","text":""}`...)
		})
	}
	return dst
}

func (e *ResponseEncoder) delta(dst []byte, ev *anthropic.Event) []byte {
	it := e.open
	if it == nil {
		return dst
	}
	index := len(e.items) - 1
	switch {
	case ev.Delta == anthropic.TextDelta && it.kind == messageItem:
		it.text.WriteString(ev.Text)
		return e.event(dst, "response.output_text.delta", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"content_index":0,"delta":`...)
			b = relay.AppendString(b, ev.Text)
			return append(b, `,"logprobs":[]`...)
		})
	case ev.Delta == anthropic.ThinkingDelta && it.kind == reasoningItem:
		it.text.WriteString(ev.Text)
		e.think.Add(ev.Text)
		return e.event(dst, "response.reasoning_summary_text.delta", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"summary_index":0,"delta":`...)
			return relay.AppendString(b, ev.Text)
		})
	case ev.Delta == anthropic.InputJSONDelta && it.kind == functionCallItem:
		it.args += ev.Text
		return e.event(dst, "response.function_call_arguments.delta", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"delta":`...)
			return relay.AppendString(b, ev.Text)
		})
	case ev.Delta == anthropic.InputJSONDelta && it.kind == customCallItem:
		// The translator sends a call's input whole: {"input": "…"}.
		var in struct {
			Input json.RawMessage `json:"input"`
		}
		_ = json.Unmarshal([]byte(ev.Text), &in)
		text := rawText(in.Input)
		it.text.WriteString(text)
		return e.event(dst, "response.custom_tool_call_input.delta", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"delta":`...)
			return relay.AppendString(b, text)
		})
	}
	return dst
}

// rawText is a JSON string's value, or any other JSON value as its text.
func rawText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// stop closes the open item.
func (e *ResponseEncoder) stop(dst []byte) []byte {
	it := e.open
	if it == nil {
		return dst
	}
	e.open = nil
	it.done = true
	index := len(e.items) - 1
	switch it.kind {
	case messageItem:
		dst = e.event(dst, "response.output_text.done", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"content_index":0,"text":`...)
			b = relay.AppendString(b, it.text.String())
			return append(b, `,"logprobs":[]`...)
		})
		dst = e.event(dst, "response.content_part.done", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"content_index":0,"part":`...)
			return appendOutputText(b, it.text.String())
		})
	case reasoningItem:
		dst = e.event(dst, "response.reasoning_summary_text.done", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"summary_index":0,"text":`...)
			return relay.AppendString(b, it.text.String())
		})
		dst = e.event(dst, "response.reasoning_summary_part.done", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"summary_index":0,"part":{"type":"summary_text","text":`...)
			return append(relay.AppendString(b, it.text.String()), '}')
		})
	case functionCallItem:
		dst = e.event(dst, "response.function_call_arguments.done", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"name":`...)
			b = relay.AppendString(b, it.name)
			b = append(b, `,"arguments":`...)
			return relay.AppendString(b, it.args)
		})
	case customCallItem:
		dst = e.event(dst, "response.custom_tool_call_input.done", func(b []byte) []byte {
			b = e.appendItemRef(b, it, index)
			b = append(b, `,"input":`...)
			return relay.AppendString(b, it.text.String())
		})
	}
	return e.event(dst, "response.output_item.done", func(b []byte) []byte {
		b = e.appendIndex(b, index)
		b = append(b, `,"item":`...)
		return e.appendItem(b, it)
	})
}

// event appends one server-sent event whose data is {"type":…, fields…,
// "sequence_number":…}; fields appends the members between.
func (e *ResponseEncoder) event(dst []byte, typ string, fields func([]byte) []byte) []byte {
	seq := e.seq
	e.seq++
	if !e.sse {
		return dst
	}
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, typ...)
	dst = append(dst, "\","...)
	dst = fields(dst)
	dst = append(dst, `,"sequence_number":`...)
	dst = relay.AppendInt(dst, seq)
	return append(dst, "}\n\n"...)
}

func (e *ResponseEncoder) appendIndex(b []byte, index int) []byte {
	b = append(b, `"output_index":`...)
	return relay.AppendInt(b, index)
}

func (e *ResponseEncoder) appendItemRef(b []byte, it *outputItem, index int) []byte {
	b = append(b, `"item_id":`...)
	b = relay.AppendString(b, it.id)
	b = append(b, ',')
	return e.appendIndex(b, index)
}

func appendOutputText(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","text":`...)
	b = relay.AppendString(b, text)
	return append(b, `,"annotations":[],"logprobs":[]}`...)
}

// appendItem appends an output item as it stands.
func (e *ResponseEncoder) appendItem(b []byte, it *outputItem) []byte {
	status := "in_progress"
	if it.done {
		status = "completed"
	}
	switch it.kind {
	case messageItem:
		b = append(b, `{"id":`...)
		b = relay.AppendString(b, it.id)
		b = append(b, `,"type":"message","status":"`...)
		b = append(b, status...)
		b = append(b, `","role":"assistant","content":[`...)
		if it.done {
			text := it.text.String()
			if e.meta.JSON && !e.sse {
				if j, ok := relay.ExtractJSON(text); ok {
					text = j
				}
			}
			b = appendOutputText(b, text)
		}
		return append(b, "]}"...)
	case reasoningItem:
		b = append(b, `{"id":`...)
		b = relay.AppendString(b, it.id)
		b = append(b, `,"type":"reasoning","summary":[`...)
		if it.done {
			b = append(b, `{"type":"summary_text","text":`...)
			b = relay.AppendString(b, it.text.String())
			b = append(b, '}')
		}
		return append(b, `],"encrypted_content":null}`...)
	case customCallItem:
		b = append(b, `{"id":`...)
		b = relay.AppendString(b, it.id)
		b = append(b, `,"type":"custom_tool_call","status":"`...)
		b = append(b, status...)
		b = append(b, `","call_id":`...)
		b = relay.AppendString(b, it.callID)
		b = append(b, `,"name":`...)
		b = relay.AppendString(b, it.name)
		if it.namespace != "" {
			b = append(b, `,"namespace":`...)
			b = relay.AppendString(b, it.namespace)
		}
		b = append(b, `,"input":`...)
		return append(relay.AppendString(b, it.text.String()), '}')
	}
	b = append(b, `{"id":`...)
	b = relay.AppendString(b, it.id)
	b = append(b, `,"type":"function_call","status":"`...)
	b = append(b, status...)
	b = append(b, `","call_id":`...)
	b = relay.AppendString(b, it.callID)
	b = append(b, `,"name":`...)
	b = relay.AppendString(b, it.name)
	if it.namespace != "" {
		b = append(b, `,"namespace":`...)
		b = relay.AppendString(b, it.namespace)
	}
	b = append(b, `,"arguments":`...)
	return append(relay.AppendString(b, it.args), '}')
}

// appendResponse appends the response object as it stands.
func (e *ResponseEncoder) appendResponse(b []byte) []byte {
	m := &e.meta
	b = append(b, `{"id":`...)
	b = relay.AppendString(b, m.ID)
	b = append(b, `,"object":"response","created_at":`...)
	b = strconv.AppendInt(b, m.Created, 10)
	b = append(b, `,"status":"`...)
	b = append(b, e.status...)
	b = append(b, `","background":false,"error":`...)
	if e.fail != nil {
		b = appendErrorObject(b, e.fail)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if e.reason != "" {
		b = append(b, `{"reason":`...)
		b = append(relay.AppendString(b, e.reason), '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"instructions":`...)
	b = relay.AppendNullable(b, m.Instructions)
	b = append(b, `,"max_output_tokens":`...)
	if m.MaxOutputTokens > 0 {
		b = relay.AppendInt(b, m.MaxOutputTokens)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"model":`...)
	b = relay.AppendString(b, m.Model)
	b = append(b, `,"output":[`...)
	if e.status != "in_progress" {
		n := 0
		for _, it := range e.items {
			if !it.done {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = e.appendItem(b, it)
			n++
		}
	}
	b = append(b, `],"parallel_tool_calls":`...)
	b = strconv.AppendBool(b, m.ParallelToolCalls)
	b = append(b, `,"previous_response_id":`...)
	b = relay.AppendNullable(b, m.PreviousResponseID)
	b = append(b, `,"reasoning":{"effort":`...)
	b = relay.AppendNullable(b, m.Effort)
	b = append(b, `,"summary":`...)
	b = relay.AppendNullable(b, m.Summary)
	b = append(b, `},"store":`...)
	b = strconv.AppendBool(b, m.Store)
	b = append(b, `,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"truncation":"disabled","usage":`...)
	if e.status == "completed" || e.status == "incomplete" {
		b = e.appendUsage(b)
	} else {
		b = append(b, "null"...)
	}
	return append(b, `,"metadata":{}}`...)
}

func (e *ResponseEncoder) appendUsage(b []byte) []byte {
	u := &e.usage
	b = append(b, `{"input_tokens":`...)
	b = relay.AppendInt(b, u.InputTokens)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = relay.AppendInt(b, u.CacheReadInputTokens)
	b = append(b, `},"output_tokens":`...)
	b = relay.AppendInt(b, u.OutputTokens)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = relay.AppendInt(b, min(e.think.Tokens(), u.OutputTokens))
	b = append(b, `},"total_tokens":`...)
	b = relay.AppendInt(b, u.InputTokens+u.OutputTokens)
	return append(b, '}')
}

// Body appends the final response object: the body of a non-streamed
// request.
func (e *ResponseEncoder) Body(dst []byte) []byte { return e.appendResponse(dst) }

// Output returns the answer as neutral messages, for the history stored
// under the response's id.
func (e *ResponseEncoder) Output() []conv.Message {
	var blocks []conv.Block
	for _, it := range e.items {
		if !it.done {
			continue
		}
		switch it.kind {
		case messageItem:
			blocks = append(blocks, conv.Block{Type: conv.Text, Text: it.text.String()})
		case reasoningItem:
			blocks = append(blocks, conv.Block{Type: conv.Reasoning, Text: it.text.String()})
		case functionCallItem:
			blocks = append(blocks, conv.Block{Type: conv.ToolUse, ToolUseID: it.callID,
				ToolName: flatName(it.namespace, it.name), Input: toolInput(it.args)})
		case customCallItem:
			input, _ := json.Marshal(map[string]string{"input": it.text.String()})
			blocks = append(blocks, conv.Block{Type: conv.ToolUse, ToolUseID: it.callID,
				ToolName: flatName(it.namespace, it.name), Input: input})
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	return []conv.Message{{Role: conv.Assistant, Content: blocks}}
}

// Status returns the response's status: in_progress until the answer ended,
// then completed, incomplete or failed.
func (e *ResponseEncoder) Status() string { return e.status }
