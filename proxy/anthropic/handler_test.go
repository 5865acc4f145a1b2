package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
)

// fakeBackend answers each Send with the next script: events to stream, or
// an error. It records the conversations it was sent.
type fakeBackend struct {
	mu      sync.Mutex
	scripts []script
	reqs    []*conv.Request
	// gate, when set, holds every stream before each event until a value
	// arrives (or the call's context ends).
	gate chan struct{}
	// closed receives one value per closed stream, if set.
	closed chan struct{}
}

type script struct {
	events []kiro.Event
	err    error
}

func (b *fakeBackend) Send(ctx context.Context, req *conv.Request) (Stream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reqs = append(b.reqs, req)
	if len(b.scripts) == 0 {
		return nil, errors.New("fake backend: no script left")
	}
	s := b.scripts[0]
	if len(b.scripts) > 1 {
		b.scripts = b.scripts[1:]
	}
	if s.err != nil {
		return nil, s.err
	}
	return &fakeStream{ctx: ctx, events: s.events, gate: b.gate, closed: b.closed}, nil
}

func (b *fakeBackend) requests() []*conv.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*conv.Request(nil), b.reqs...)
}

type fakeStream struct {
	ctx    context.Context
	events []kiro.Event
	gate   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (s *fakeStream) Next() (kiro.Event, error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		}
	}
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *fakeStream) Close() error {
	s.once.Do(func() {
		if s.closed != nil {
			s.closed <- struct{}{}
		}
	})
	return nil
}

func (s *fakeStream) Account() string { return "work-account" }

// recordSink collects activity events.
type recordSink struct {
	mu  sync.Mutex
	evs []activity.Request
}

func (s *recordSink) Publish(ev activity.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, ev)
}

func (s *recordSink) events() []activity.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activity.Request(nil), s.evs...)
}

func newHandler(b Backend) *Handler {
	return &Handler{
		Backend: b,
		Logger:  slog.New(slog.DiscardHandler),
		NewID:   func() string { return "msg_test" },
	}
}

// serve mounts h like the server package does, plus the body limit.
func serve(t *testing.T, h *Handler) (*httptest.Server, sdk.Client) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", h.Messages)
	mux.HandleFunc("POST /v1/messages/count_tokens", h.CountTokens)
	mux.HandleFunc("GET /v1/models", h.Models)
	srv := httptest.NewServer(http.MaxBytesHandler(mux, 1<<20))
	t.Cleanup(srv.Close)
	client := sdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("test-key"), option.WithMaxRetries(0))
	return srv, client
}

func userText(s string) []sdk.MessageParam {
	return []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock(s))}
}

func TestSDKNonStreamingText(t *testing.T) {
	b := &fakeBackend{scripts: []script{{events: []kiro.Event{kiro.Text{Content: "Hello"}, kiro.Text{Content: ", world."}}}}}
	sink := &recordSink{}
	h := newHandler(b)
	h.Sink = sink
	_, client := serve(t, h)
	msg, err := client.Messages.New(t.Context(), sdk.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: userText("Say hello"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != "msg_test" || string(msg.Model) != "claude-sonnet-4-5" || msg.StopReason != sdk.StopReasonEndTurn {
		t.Errorf("got id %q model %q stop %q", msg.ID, msg.Model, msg.StopReason)
	}
	if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != "Hello, world." {
		t.Errorf("content: %s", msg.RawJSON())
	}
	est := conv.EstimateTokens(b.requests()[0])
	if msg.Usage.InputTokens != int64(est) || msg.Usage.OutputTokens != 4 {
		t.Errorf("usage %+v, want input %d output 4", msg.Usage, est)
	}
	evs := sink.events()
	if len(evs) != 2 || evs[0].Kind != activity.RequestStarted || evs[1].Kind != activity.RequestFinished {
		t.Fatalf("activity: %+v", evs)
	}
	fin := evs[1]
	if fin.ID != "msg_test" || fin.Status != 200 || fin.Account != "work-account" || fin.StopReason != "end_turn" ||
		fin.InputTokens != est || fin.OutputTokens != 4 || fin.API != "anthropic" || fin.Stream {
		t.Errorf("finished event: %+v", fin)
	}
}

// TestSDKGolden streams every golden case to the official SDK, accumulates
// it with Message.Accumulate, and compares the result with the Accumulator's
// fold of the same transcript; the non-streaming answer must match too.
func TestSDKGolden(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			evs := c.events(t)
			_, want := transcript(c.opts.translator(), evs)
			var acc Accumulator
			for i := range want {
				acc.Add(&want[i])
			}
			wantMsg, wantErr := acc.Message(), acc.Err()

			b := &fakeBackend{scripts: []script{{events: evs}}}
			h := newHandler(b)
			h.Window = func(string) int { return c.opts.Window }
			_, client := serve(t, h)
			params := sdk.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: userText("go"),
				StopSequences: c.opts.StopSequences}
			if c.opts.MaxTokens > 0 {
				params.MaxTokens = int64(c.opts.MaxTokens)
			}
			if c.opts.Thinking {
				params.Thinking = sdk.ThinkingConfigParamOfEnabled(2048)
			}

			stream := client.Messages.NewStreaming(t.Context(), params)
			var got sdk.Message
			n := 0
			for stream.Next() {
				if err := got.Accumulate(stream.Current()); err != nil {
					t.Fatalf("Accumulate event %d: %v", n, err)
				}
				n++
			}
			err := stream.Err()
			stream.Close()
			if wantErr != nil {
				var se *StreamError
				errors.As(wantErr, &se)
				if err == nil || !strings.Contains(err.Error(), se.Type) {
					t.Fatalf("stream error %v, want one of type %s", err, se.Type)
				}
			} else if err != nil {
				t.Fatalf("stream: %v", err)
			}
			compareContent(t, "stream", &got, wantMsg, wantErr != nil)

			// Non-streaming: same content, or the error as an HTTP status.
			b.scripts = []script{{events: evs}}
			msg, err := client.Messages.New(t.Context(), params)
			if wantErr != nil {
				var apiErr *sdk.Error
				var se *StreamError
				errors.As(wantErr, &se)
				if !errors.As(err, &apiErr) || apiErr.StatusCode != statusOf(se.Type) || string(apiErr.Type()) != se.Type {
					t.Fatalf("non-streaming error %v, want status %d %s", err, statusOf(se.Type), se.Type)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			compareContent(t, "non-streaming", msg, wantMsg, false)
			if string(msg.StopReason) != wantMsg.StopReason || msg.StopSequence != wantMsg.StopSequence {
				t.Errorf("stop %q %q, want %q %q", msg.StopReason, msg.StopSequence, wantMsg.StopReason, wantMsg.StopSequence)
			}
		})
	}
}

func compareContent(t *testing.T, mode string, got *sdk.Message, want *Message, partial bool) {
	t.Helper()
	if !partial && string(got.StopReason) != want.StopReason {
		t.Errorf("%s: stop_reason %q, want %q", mode, got.StopReason, want.StopReason)
	}
	if len(got.Content) != len(want.Content) {
		t.Fatalf("%s: %d blocks, want %d: %s", mode, len(got.Content), len(want.Content), got.RawJSON())
	}
	for i, w := range want.Content {
		g := got.Content[i]
		if g.Type != w.Type.String() {
			t.Errorf("%s: block %d is %s, want %s", mode, i, g.Type, w.Type)
			continue
		}
		switch w.Type {
		case TextBlock:
			if g.Text != w.Text {
				t.Errorf("%s: block %d text %q, want %q", mode, i, g.Text, w.Text)
			}
		case ThinkingBlock:
			if g.Thinking != w.Text || g.Signature != w.Signature {
				t.Errorf("%s: block %d thinking %q/%q, want %q/%q", mode, i, g.Thinking, g.Signature, w.Text, w.Signature)
			}
		case RedactedThinkingBlock:
			if g.Data != w.Text {
				t.Errorf("%s: block %d data %q, want %q", mode, i, g.Data, w.Text)
			}
		case ToolUseBlock:
			var gi, wi any
			if err := json.Unmarshal(g.Input, &gi); err != nil {
				t.Errorf("%s: block %d input %s: %v", mode, i, g.Input, err)
			}
			_ = json.Unmarshal([]byte(w.Input), &wi)
			gj, _ := json.Marshal(gi)
			wj, _ := json.Marshal(wi)
			if g.ID != w.ID || g.Name != w.Name || !bytes.Equal(gj, wj) {
				t.Errorf("%s: block %d tool %s %s %s, want %s %s %s", mode, i, g.ID, g.Name, gj, w.ID, w.Name, wj)
			}
		}
	}
}

// TestSDKToolRoundTrip runs three turns: a tool call, its result sent back
// with the next prompt text beside it, a second tool call, the final answer.
func TestSDKToolRoundTrip(t *testing.T) {
	toolEvents := func(id, name, input string) []kiro.Event {
		return []kiro.Event{
			kiro.Text{Content: "Running " + name + "."},
			kiro.ToolUse{ID: id, Name: name, Input: input[:5]},
			kiro.ToolUse{ID: id, Name: name, Input: input[5:]},
			kiro.ToolUse{ID: id, Name: name, Stop: true},
		}
	}
	b := &fakeBackend{scripts: []script{
		{events: toolEvents("tooluse_1", "Bash", `{"command":"ls -la"}`)},
		{events: toolEvents("tooluse_2", "Read", `{"file_path":"/src/main.go"}`)},
		{events: []kiro.Event{kiro.Text{Content: "main.go prints hello."}}},
	}}
	_, client := serve(t, newHandler(b))
	tools := []sdk.ToolUnionParam{
		sdk.ToolUnionParamOfTool(sdk.ToolInputSchemaParam{Properties: map[string]any{"command": map[string]any{"type": "string"}}}, "Bash"),
		sdk.ToolUnionParamOfTool(sdk.ToolInputSchemaParam{Properties: map[string]any{"file_path": map[string]any{"type": "string"}}}, "Read"),
	}
	messages := userText("What does main.go do?")
	results := []string{"main.go\ngo.mod", "package main\n\nfunc main() { println(\"hello\") }"}
	for turn := 0; ; turn++ {
		stream := client.Messages.NewStreaming(t.Context(), sdk.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 4096, Messages: messages, Tools: tools,
		})
		var msg sdk.Message
		for stream.Next() {
			if err := msg.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		stream.Close()
		if msg.StopReason != sdk.StopReasonToolUse {
			if turn != 2 || msg.Content[0].Text != "main.go prints hello." {
				t.Fatalf("turn %d ended with %s: %s", turn, msg.StopReason, msg.RawJSON())
			}
			break
		}
		tu := msg.Content[len(msg.Content)-1].AsToolUse()
		messages = append(messages, msg.ToParam(), sdk.NewUserMessage(
			sdk.NewToolResultBlock(tu.ID, results[turn], false),
			sdk.NewTextBlock("(also: keep it short)"),
		))
	}

	reqs := b.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	last := reqs[2]
	if len(last.Tools) != 2 || len(last.Messages) != 5 {
		t.Fatalf("last request: %d tools, %d messages", len(last.Tools), len(last.Messages))
	}
	wantCalls := []struct{ id, name, input string }{
		{"toolu_1", "Bash", `{"command":"ls -la"}`},
		{"toolu_2", "Read", `{"file_path":"/src/main.go"}`},
	}
	for i, w := range wantCalls {
		a := last.Messages[1+2*i]
		if a.Role != conv.Assistant || len(a.Content) != 2 || a.Content[0].Text != "Running "+w.name+"." {
			t.Fatalf("assistant turn %d: %+v", i, a)
		}
		tu := a.Content[1]
		var got, want any
		_ = json.Unmarshal(tu.Input, &got)
		_ = json.Unmarshal([]byte(w.input), &want)
		if tu.Type != conv.ToolUse || tu.ToolUseID != w.id || tu.ToolName != w.name || !jsonEqual(got, want) {
			t.Errorf("tool use %d: %+v (input %s)", i, tu, tu.Input)
		}
		u := last.Messages[2+2*i]
		if u.Role != conv.User || len(u.Content) != 2 {
			t.Fatalf("user turn %d: %+v", i, u)
		}
		tr := u.Content[0]
		if tr.Type != conv.ToolResult || tr.ToolUseID != w.id || len(tr.Content) != 1 || tr.Content[0].Text != results[i] || tr.IsError {
			t.Errorf("tool result %d: %+v", i, tr)
		}
		if u.Content[1].Type != conv.Text || u.Content[1].Text != "(also: keep it short)" {
			t.Errorf("text beside the tool result %d was lost: %+v", i, u.Content[1])
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestSDKErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		kind       string
		msg        string
		retryAfter string
	}{
		{"rate limited", &kiro.UpstreamError{Status: 429, Reason: "ThrottlingException", Message: "slow down", Retry: true, RetryAfter: 2500 * time.Millisecond},
			429, RateLimitError, "rate limited upstream: retry later", "3"},
		{"prompt too long", &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength, Message: "Input is too long."},
			400, InvalidRequestError, "prompt is too long: 5 tokens > 4 maximum", ""},
		{"over the byte guard", &kiro.TooLongError{Bytes: 1000, Limit: 600},
			400, InvalidRequestError, "prompt is too long: 5 tokens > 3 maximum", ""},
		{"refused upstream below the guard", &kiro.TooLongError{Bytes: 500, Limit: 600,
			Err: &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength, Message: "Input is too long."}},
			400, InvalidRequestError, "prompt is too long: 5 tokens > 4 maximum", ""},
		{"other 400", &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonImproper, Message: "Improperly formed request."},
			400, InvalidRequestError, "the upstream refused the request: Improperly formed request.", ""},
		{"invalid model", &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonInvalidModel, Message: "Invalid model."},
			404, NotFoundError, "model: claude-sonnet-4-5", ""},
		{"no account", errors.Join(errors.New("pick"), kiro.ErrNoAccount),
			401, AuthenticationError, "no usable Kiro account: sign in to an account in kirotray", ""},
		{"auth refused", &kiro.UpstreamError{Status: 403, Reason: kiro.ReasonBadToken},
			401, AuthenticationError, "the Kiro account was refused: sign in again in kirotray", ""},
		{"quota", &kiro.UpstreamError{Status: 402, Reason: kiro.ReasonMonthlyQuota},
			429, RateLimitError, "the Kiro account's monthly quota is used up", ""},
		{"overloaded", &kiro.UpstreamError{Status: 503, Message: "high load"},
			529, OverloadedError, "the upstream is overloaded or unavailable: retry later", ""},
		{"unexpected", errors.New("secret token abc123 leaked into an error"),
			500, APIError, "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{scripts: []script{{err: tt.err}}}
			srv, client := serve(t, newHandler(b))
			_, err := client.Messages.New(t.Context(), sdk.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 10, Messages: userText("hi")})
			var apiErr *sdk.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %v, want an API error", err)
			}
			if apiErr.StatusCode != tt.status || string(apiErr.Type()) != tt.kind {
				t.Errorf("got %d %s, want %d %s", apiErr.StatusCode, apiErr.Type(), tt.status, tt.kind)
			}
			var body struct {
				Type  string `json:"type"`
				Error struct{ Type, Message string }
			}
			if err := json.Unmarshal([]byte(apiErr.RawJSON()), &body); err != nil || body.Type != "error" || body.Error.Message != tt.msg {
				t.Errorf("body %s, want message %q", apiErr.RawJSON(), tt.msg)
			}
			if got := apiErr.Response.Header.Get("retry-after"); got != tt.retryAfter {
				t.Errorf("retry-after %q, want %q", got, tt.retryAfter)
			}
			// The streaming request fails the same way, before any event.
			b.scripts = []script{{err: tt.err}}
			stream := client.Messages.NewStreaming(t.Context(), sdk.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 10, Messages: userText("hi")})
			for stream.Next() {
				t.Errorf("event before the error: %s", stream.Current().Type)
			}
			if !errors.As(stream.Err(), &apiErr) || apiErr.StatusCode != tt.status {
				t.Errorf("stream error %v, want status %d", stream.Err(), tt.status)
			}
			stream.Close()
			_ = srv
		})
	}
}

func TestBadRequests(t *testing.T) {
	b := &fakeBackend{}
	srv, _ := serve(t, newHandler(b))
	tests := []struct {
		name, path, body string
		status           int
		kind, msg        string
	}{
		{"bad JSON", "/v1/messages", `{"model": "m", "max_tokens": 10, "messages": [}`, 400, InvalidRequestError,
			"invalid JSON at offset 46: unexpected character '}' at the start of a value"},
		{"missing model", "/v1/messages", `{"max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, 400, InvalidRequestError, "model: required"},
		{"missing max_tokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 400, InvalidRequestError, "max_tokens: required"},
		{"missing messages", "/v1/messages", `{"model":"m","max_tokens":10}`, 400, InvalidRequestError, "messages: required"},
		{"image url", "/v1/messages", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}`,
			400, InvalidRequestError, "messages.0.content.0: image URLs are not supported: send the image as base64"},
		{"too large", "/v1/messages", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"` + strings.Repeat("x", 1<<20) + `"}]}`,
			413, RequestTooLarge, "request body too large: the limit is 1048576 bytes"},
		{"count_tokens bad JSON", "/v1/messages/count_tokens", `{`, 400, InvalidRequestError, "invalid JSON at offset 1: unexpected end of input where an object key was expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Type  string
				Error struct{ Type, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || body.Type != "error" || body.Error.Type != tt.kind || body.Error.Message != tt.msg {
				t.Errorf("got %d %+v, want %d %s %q", resp.StatusCode, body, tt.status, tt.kind, tt.msg)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("%d bad requests reached the backend", n)
	}
}

// TestCountTokensAgrees checks that count_tokens and message_start report the
// same number for the same request.
func TestCountTokensAgrees(t *testing.T) {
	b := &fakeBackend{scripts: []script{{events: []kiro.Event{kiro.Text{Content: "ok"}}}}}
	_, client := serve(t, newHandler(b))
	messages := userText(strings.Repeat("Count these words, 世界. ", 200))
	system := []sdk.TextBlockParam{{Text: "You are terse."}}
	tools := []sdk.ToolUnionParam{sdk.ToolUnionParamOfTool(sdk.ToolInputSchemaParam{Properties: map[string]any{"q": map[string]any{"type": "string"}}}, "Search")}
	count, err := client.Messages.CountTokens(t.Context(), sdk.MessageCountTokensParams{
		Model: "claude-sonnet-4-5", Messages: messages, System: sdk.MessageCountTokensParamsSystemUnion{OfTextBlockArray: system},
		Tools: []sdk.MessageCountTokensToolUnionParam{{OfTool: tools[0].OfTool}},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := client.Messages.NewStreaming(t.Context(), sdk.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 100, Messages: messages, System: system, Tools: tools,
	})
	defer stream.Close()
	if !stream.Next() {
		t.Fatal(stream.Err())
	}
	start := stream.Current().AsMessageStart()
	if count.InputTokens < 500 || start.Message.Usage.InputTokens != count.InputTokens {
		t.Errorf("count_tokens %d, message_start %d", count.InputTokens, start.Message.Usage.InputTokens)
	}
	for stream.Next() {
	}
}

func TestModels(t *testing.T) {
	_, client := serve(t, newHandler(&fakeBackend{}))
	page, err := client.Models.List(t.Context(), sdk.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != len(DefaultModels) || page.HasMore || page.FirstID != DefaultModels[0].ID || page.LastID != DefaultModels[len(DefaultModels)-1].ID {
		t.Fatalf("page %+v", page)
	}
	m := page.Data[0]
	if m.ID != DefaultModels[0].ID || m.DisplayName != DefaultModels[0].DisplayName || !m.CreatedAt.Equal(DefaultModels[0].CreatedAt) || m.Type != "model" {
		t.Errorf("model %+v", m)
	}
}

// sseReader reads raw server-sent events from a response.
type sseReader struct{ sc *bufio.Scanner }

func (r *sseReader) next(t *testing.T) (event, data string) {
	t.Helper()
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		case line == "" && event != "":
			return event, data
		}
	}
	t.Fatalf("stream ended: %v", r.sc.Err())
	return "", ""
}

func postStream(t *testing.T, ctx context.Context, url string) (*http.Response, *sseReader) {
	t.Helper()
	body := `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/messages?beta=true", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	return resp, &sseReader{sc: bufio.NewScanner(resp.Body)}
}

// TestStreamPingAndFlush checks that message_start and each event arrive
// before the upstream produces the next one, and that a silent upstream gets
// pings.
func TestStreamPingAndFlush(t *testing.T) {
	gate := make(chan struct{})
	b := &fakeBackend{gate: gate, scripts: []script{{events: []kiro.Event{kiro.Text{Content: "one"}, kiro.Text{Content: "two"}}}}}
	h := newHandler(b)
	h.PingInterval = 20 * time.Millisecond
	srv, _ := serve(t, h)
	resp, r := postStream(t, t.Context(), srv.URL)
	defer resp.Body.Close()

	if ev, _ := r.next(t); ev != "message_start" {
		t.Fatalf("first event %s", ev)
	}
	if ev, data := r.next(t); ev != "ping" || data != `{"type":"ping"}` {
		t.Fatalf("got %s %s, want a ping while the upstream is silent", ev, data)
	}
	gate <- struct{}{} // "one"
	for _, want := range []string{"content_block_start", "content_block_delta"} {
		ev, _ := r.next(t)
		for ev == "ping" {
			ev, _ = r.next(t)
		}
		if ev != want {
			t.Fatalf("got %s, want %s", ev, want)
		}
	}
	gate <- struct{}{} // "two"
	gate <- struct{}{} // EOF
	var events []string
	for {
		ev, _ := r.next(t)
		if ev != "ping" {
			events = append(events, ev)
		}
		if ev == "message_stop" {
			break
		}
	}
	if want := "content_block_delta content_block_stop message_delta message_stop"; strings.Join(events, " ") != want {
		t.Errorf("got %v, want %s", events, want)
	}
}

// TestClientDisconnect checks that a client hanging up mid-stream stops the
// handler and closes the upstream stream (goleak checks the reader is gone).
func TestClientDisconnect(t *testing.T) {
	closed := make(chan struct{}, 1)
	b := &fakeBackend{gate: make(chan struct{}), closed: closed, scripts: []script{{events: []kiro.Event{kiro.Text{Content: "never"}}}}}
	sink := &recordSink{}
	h := newHandler(b)
	h.Sink = sink
	srv, _ := serve(t, h)
	ctx, cancel := context.WithCancel(t.Context())
	resp, r := postStream(t, ctx, srv.URL)
	if ev, _ := r.next(t); ev != "message_start" {
		t.Fatalf("first event %s", ev)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream stream not closed after the client left")
	}
	srv.Close() // waits for the handler to return
	evs := sink.events()
	if len(evs) != 2 || evs[1].Error != "client closed the request" {
		t.Errorf("activity %+v", evs)
	}
}

// TestStreamUpstreamFailure checks an upstream read error after the first
// byte becomes an SSE error event.
func TestStreamUpstreamFailure(t *testing.T) {
	b := &fakeBackend{scripts: []script{{events: []kiro.Event{kiro.Text{Content: "partial"}}}}}
	h := newHandler(&failingBackend{fakeBackend: b, err: &kiro.UpstreamError{Status: 0, Message: "connection reset"}})
	srv, _ := serve(t, h)
	resp, r := postStream(t, t.Context(), srv.URL)
	defer resp.Body.Close()
	var last, data string
	for last != "error" {
		last, data = r.next(t)
	}
	if want := `{"type":"error","error":{"type":"overloaded_error","message":"the upstream is overloaded or unavailable: retry later"}}`; data != want {
		t.Errorf("error event %s, want %s", data, want)
	}
}

// failingBackend's streams fail with err instead of io.EOF.
type failingBackend struct {
	*fakeBackend
	err error
}

func (b *failingBackend) Send(ctx context.Context, req *conv.Request) (Stream, error) {
	s, err := b.fakeBackend.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	return &failingStream{Stream: s, err: b.err}, nil
}

type failingStream struct {
	Stream
	err error
}

func (s *failingStream) Next() (kiro.Event, error) {
	ev, err := s.Stream.Next()
	if errors.Is(err, io.EOF) {
		return nil, s.err
	}
	return ev, err
}

func TestNoAccountErrors(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		kind       string
		retryAfter bool
	}{
		{&kiro.NoAccountError{Reason: "all 2 accounts are cooling down until 12:03:10", RetryAt: time.Now().Add(30 * time.Second)}, 429, RateLimitError, true},
		{&kiro.NoAccountError{Reason: `account "work" needs sign-in`}, 401, AuthenticationError, false},
		{fmt.Errorf("pick: %w", kiro.ErrNoAccount), 401, AuthenticationError, false},
	}
	for _, tt := range tests {
		status, kind, msg := classify(tt.err)
		if status != tt.status || kind != tt.kind {
			t.Errorf("%v: got %d %s %q", tt.err, status, kind, msg)
		}
		var na *kiro.NoAccountError
		if errors.As(tt.err, &na) && !strings.Contains(msg, na.Reason) {
			t.Errorf("message %q does not say why (%q)", msg, na.Reason)
		}
		rec := httptest.NewRecorder()
		setRetryAfter(rec, apierr.Classify(tt.err))
		if got := rec.Header().Get("retry-after") != ""; got != tt.retryAfter {
			t.Errorf("%v: retry-after set = %v", tt.err, got)
		}
	}
}
