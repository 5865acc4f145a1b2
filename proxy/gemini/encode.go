package gemini

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
)

// answer describes the response being rendered.
type answer struct {
	ResponseID string
	Model      string // the Gemini name the client asked for, echoed as modelVersion
	Options
}

// Stream renders the translator's events as streamed GenerateContentResponse
// chunks: each text or thought delta a chunk of its own, each function call
// one chunk once complete, and a last chunk with an empty text part,
// finishReason and usageMetadata. With sse the chunks are `data:` lines (the
// alt=sse form every SDK uses), else the elements of one JSON array. It is
// not safe for concurrent use.
type Stream struct {
	a      answer
	sse    bool
	n      int // chunks written
	callID string
	name   string
	args   strings.Builder
	think  conv.TextCounter
	inTool bool
}

var _ relay.Encoder = (*Stream)(nil)

func newStream(a answer, sse bool) *Stream { return &Stream{a: a, sse: sse} }

// Begin implements relay.Encoder: "[" for the JSON array form.
func (e *Stream) Begin(dst []byte) []byte {
	if e.sse {
		return dst
	}
	return append(dst, '[')
}

// KeepAlive implements relay.Encoder: none. The Gen AI SDK for JavaScript
// (Gemini CLI) reads events with a pattern that stalls on an SSE comment.
func (e *Stream) KeepAlive(dst []byte) []byte { return dst }

// Encode implements relay.Encoder.
func (e *Stream) Encode(dst []byte, evs []anthropic.Event) []byte {
	for i := range evs {
		ev := &evs[i]
		switch ev.Type {
		case anthropic.ContentBlockStart:
			if ev.Block == anthropic.ToolUseBlock {
				e.callID, e.name, e.inTool = ev.ID, ev.Name, true
				e.args.Reset()
			}
		case anthropic.ContentBlockDelta:
			switch {
			case ev.Delta == anthropic.TextDelta:
				dst = e.chunk(dst, func(b []byte) []byte { return appendTextPart(b, ev.Text, false) }, "", nil)
			case ev.Delta == anthropic.ThinkingDelta:
				e.think.Add(ev.Text)
				if e.a.IncludeThoughts {
					dst = e.chunk(dst, func(b []byte) []byte { return appendTextPart(b, ev.Text, true) }, "", nil)
				}
			case ev.Delta == anthropic.InputJSONDelta && e.inTool:
				e.args.WriteString(ev.Text)
			}
		case anthropic.ContentBlockStop:
			if e.inTool {
				e.inTool = false
				args := e.args.String()
				dst = e.chunk(dst, func(b []byte) []byte { return appendCall(b, e.callID, e.name, args) }, "", nil)
			}
		case anthropic.MessageDelta:
			u := usage(ev.Usage, e.think.Tokens())
			dst = e.chunk(dst, func(b []byte) []byte { return appendTextPart(b, "", false) }, finishReason(ev.StopReason), &u)
		case anthropic.MessageStop:
			if !e.sse {
				dst = append(dst, ']')
			}
		case anthropic.Error:
			dst = e.element(dst, func(b []byte) []byte { return appendError(b, apierr.OfType(ev.ErrorType, ev.Text)) })
			if !e.sse {
				dst = append(dst, ']')
			}
		}
	}
	return dst
}

// element appends one streamed value: a data line, or an array element.
func (e *Stream) element(dst []byte, value func([]byte) []byte) []byte {
	switch {
	case e.sse:
		dst = append(dst, "data: "...)
	case e.n > 0:
		dst = append(dst, ",\r\n"...)
	}
	e.n++
	dst = value(dst)
	if e.sse {
		dst = append(dst, "\n\n"...)
	}
	return dst
}

// chunk appends a response whose only candidate has the parts that parts
// appends, and finishReason and usage when given.
func (e *Stream) chunk(dst []byte, parts func([]byte) []byte, finish string, u *usageMetadata) []byte {
	return e.element(dst, func(b []byte) []byte {
		return appendResponse(b, &e.a, parts, finish, u)
	})
}

// appendResponse appends one GenerateContentResponse.
func appendResponse(b []byte, a *answer, parts func([]byte) []byte, finish string, u *usageMetadata) []byte {
	b = append(b, `{"candidates":[{"content":{"parts":[`...)
	b = parts(b)
	b = append(b, `],"role":"model"}`...)
	if finish != "" {
		b = append(b, `,"finishReason":"`...)
		b = append(b, finish...)
		b = append(b, '"')
	}
	b = append(b, `,"index":0}]`...)
	if u != nil {
		b = append(b, `,"usageMetadata":`...)
		b = u.append(b)
	}
	b = append(b, `,"modelVersion":`...)
	b = relay.AppendString(b, a.Model)
	b = append(b, `,"responseId":`...)
	b = relay.AppendString(b, a.ResponseID)
	return append(b, '}')
}

func appendTextPart(b []byte, text string, thought bool) []byte {
	b = append(b, `{"text":`...)
	b = relay.AppendString(b, text)
	if thought {
		b = append(b, `,"thought":true`...)
	}
	return append(b, '}')
}

func appendCall(b []byte, id, name, args string) []byte {
	b = append(b, `{"functionCall":{"id":`...)
	b = relay.AppendString(b, id)
	b = append(b, `,"name":`...)
	b = relay.AppendString(b, name)
	b = append(b, `,"args":`...)
	b = relay.AppendRawObject(b, args)
	return append(b, "}}"...)
}

// finishReason maps a stop reason: only a cut answer is not STOP (Gemini
// ends function calls with STOP too).
func finishReason(stop string) string {
	switch stop {
	case anthropic.StopMaxTokens, anthropic.StopContextWindow:
		return "MAX_TOKENS"
	}
	return "STOP"
}

// usageMetadata is Gemini's token count; candidates exclude thoughts.
type usageMetadata struct {
	Prompt, Candidates, Thoughts int
}

func usage(u anthropic.Usage, thoughts int) usageMetadata {
	thoughts = min(thoughts, u.OutputTokens)
	return usageMetadata{Prompt: u.InputTokens, Candidates: u.OutputTokens - thoughts, Thoughts: thoughts}
}

func (u *usageMetadata) append(b []byte) []byte {
	b = append(b, `{"promptTokenCount":`...)
	b = relay.AppendInt(b, u.Prompt)
	b = append(b, `,"candidatesTokenCount":`...)
	b = relay.AppendInt(b, u.Candidates)
	if u.Thoughts > 0 {
		b = append(b, `,"thoughtsTokenCount":`...)
		b = relay.AppendInt(b, u.Thoughts)
	}
	b = append(b, `,"totalTokenCount":`...)
	b = relay.AppendInt(b, u.Prompt+u.Candidates+u.Thoughts)
	return append(b, '}')
}

// appendGenerateContent appends the body of a non-streamed response made of
// the folded answer m: thoughts (when asked for), the text, then the calls.
// With JSON output asked for, the text is reduced to the JSON value it
// holds, when it holds one.
func appendGenerateContent(dst []byte, a *answer, m *anthropic.Message) []byte {
	var text strings.Builder
	thoughts := 0
	for i := range m.Content {
		if b := &m.Content[i]; b.Type == anthropic.TextBlock {
			text.WriteString(b.Text)
		} else if b.Type == anthropic.ThinkingBlock {
			thoughts += conv.EstimateText(b.Text)
		}
	}
	body := text.String()
	if a.JSON {
		if j, ok := relay.ExtractJSON(body); ok {
			body = j
		}
	}
	parts := func(b []byte) []byte {
		n := 0
		sep := func() {
			if n > 0 {
				b = append(b, ',')
			}
			n++
		}
		for i := range m.Content {
			if c := &m.Content[i]; c.Type == anthropic.ThinkingBlock && a.IncludeThoughts {
				sep()
				b = appendTextPart(b, c.Text, true)
			}
		}
		if body != "" || len(m.Content) == 0 {
			sep()
			b = appendTextPart(b, body, false)
		}
		for i := range m.Content {
			if c := &m.Content[i]; c.Type == anthropic.ToolUseBlock {
				sep()
				b = appendCall(b, c.ID, c.Name, c.Input)
			}
		}
		if n == 0 {
			b = appendTextPart(b, "", false)
		}
		return b
	}
	u := usage(m.Usage, thoughts)
	return appendResponse(dst, a, parts, finishReason(m.StopReason), &u)
}

// status is the google.rpc status name that goes with an HTTP status.
func status(code int) string {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// appendError appends Gemini's error JSON:
// {"error":{"code":…,"message":…,"status":…}}.
func appendError(b []byte, f *apierr.Failure) []byte {
	msg := f.Message
	if f.Code == apierr.CodeContextLength && f.Limit > 0 {
		msg = "The input token count (" + strconv.Itoa(f.Tokens) + ") exceeds the maximum number of tokens allowed (" +
			strconv.Itoa(f.Limit) + ")."
	}
	b = append(b, `{"error":{"code":`...)
	b = relay.AppendInt(b, f.Status)
	b = append(b, `,"message":`...)
	b = relay.AppendString(b, msg)
	b = append(b, `,"status":"`...)
	b = append(b, status(f.Status)...)
	return append(b, `"}}`...)
}

// WriteError writes f as Gemini's error JSON with f's status.
func WriteError(w http.ResponseWriter, f *apierr.Failure) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Seconds()+0.999)))
	}
	writeJSON(w, f.Status, appendError(make([]byte, 0, 256), f))
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
