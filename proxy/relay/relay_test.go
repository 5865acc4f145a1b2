package relay

import (
	"bufio"
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

	"go.uber.org/goleak"

	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestClassify checks the relay's own errors through apierr.Classify; the
// kiro errors are covered in package apierr.
func TestClassify(t *testing.T) {
	tests := []struct {
		err       error
		status    int
		typ, code string
		msgHas    string
		param     string
	}{
		{Invalid("messages.0.role", "required"), 400, anthropic.InvalidRequestError, "", "messages.0.role: required", "messages.0.role"},
		{fmt.Errorf("parse: %w", ErrInvalidRequest), 400, anthropic.InvalidRequestError, "", "invalid request", ""},
		{&anthropic.StreamError{Type: anthropic.OverloadedError, Message: "busy"}, 503, anthropic.OverloadedError, apierr.CodeOverloaded, "busy", ""},
		{MarkStreamed(&kiro.UpstreamError{Status: 429}), 429, anthropic.RateLimitError, apierr.CodeRateLimit, "", ""},
		{&kiro.UpstreamError{Status: 418}, 502, anthropic.APIError, "", "418", ""},
	}
	for _, tt := range tests {
		f := apierr.Classify(tt.err)
		if f.Status != tt.status || f.Type != tt.typ || f.Code != tt.code || !strings.Contains(f.Message, tt.msgHas) || f.Param != tt.param {
			t.Errorf("%v: %+v", tt.err, f)
		}
	}
	f := apierr.Classify(sendError(&kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength}, 1000, 200_000))
	if f.Tokens != 200_001 || f.Limit != 200_000 || f.Code != apierr.CodeContextLength {
		t.Errorf("prompt too long: %+v", f)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "\n\r\t\x00\x1f", "é😀", "\u2028\u2029", "bad \xff utf8", "<&>"} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s is not JSON: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Errorf("%q round-trips to %q", s, back)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"a\"b", "\u2028", "\xff\xfe", "é\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(AppendString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if back != strings.ToValidUTF8(s, "\ufffd") {
			// encoding/json replaces each invalid byte; so do we.
			var viaStd string
			b, _ := json.Marshal(s)
			_ = json.Unmarshal(b, &viaStd)
			if back != viaStd {
				t.Fatalf("%q: got %q, encoding/json %q", s, back, viaStd)
			}
		}
	})
}

func TestExtractJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"  [1,2] \n", "[1,2]"},
		{"Sure:\n```json\n{\"a\": 1}\n```\nDone.", `{"a": 1}`},
		{"```\n[true]\n```", "[true]"},
		{`The answer is {"x": {"y": 2}} as asked.`, `{"x": {"y": 2}}`},
		{"no json here", ""},
		{`{"broken": }`, ""},
	}
	for _, tt := range tests {
		got, ok := ExtractJSON(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("ExtractJSON(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

func TestToolInput(t *testing.T) {
	for in, want := range map[string]string{
		"":            "{}",
		" null ":      "{}",
		`{"a":1}`:     `{"a":1}`,
		`[1]`:         `{"input":[1]}`,
		`"s"`:         `{"input":"s"}`,
		`not json`:    `{"input":"not json"}`,
		`{"a":`:       `{"input":"{\"a\":"}`,
		"\xff":        `{"input":"\ufffd"}`,
		` {"b":true}`: `{"b":true}`,
	} {
		if got := string(ToolInput([]byte(in))); got != want {
			t.Errorf("ToolInput(%q) = %s, want %s", in, got, want)
		}
	}
}

// gated is a Backend whose one stream waits on release before each event.
type gated struct {
	events  []kiro.Event
	release chan struct{}
	closed  chan struct{}
}

func (g *gated) Send(ctx context.Context, _ *conv.Request) (anthropic.Stream, error) {
	return &gatedStream{g: g, ctx: ctx, events: g.events}, nil
}

type gatedStream struct {
	g      *gated
	ctx    context.Context
	events []kiro.Event
	once   sync.Once
}

func (s *gatedStream) Next() (kiro.Event, error) {
	select {
	case <-s.g.release:
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *gatedStream) Close() error {
	s.once.Do(func() { close(s.g.closed) })
	return nil
}

func (s *gatedStream) Account() string { return "acct" }

// lines renders each translator event as "<type>\n" and keeps alive with ":\n".
type lines struct{}

func (lines) Begin(dst []byte) []byte     { return append(dst, "begin\n"...) }
func (lines) KeepAlive(dst []byte) []byte { return append(dst, ":\n"...) }
func (lines) Encode(dst []byte, evs []anthropic.Event) []byte {
	for i := range evs {
		dst = append(dst, evs[i].Type.String()...)
		dst = append(dst, '\n')
	}
	return dst
}

type sink struct {
	mu  sync.Mutex
	evs []activity.Request
}

func (s *sink) Publish(ev activity.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, ev)
}

func (s *sink) last() activity.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evs[len(s.evs)-1]
}

func serve(t *testing.T, rl *Relay, done chan<- error) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := rl.NewCall(r, "test", "id_")
		c.Model, c.Stream = "m", true
		err := rl.Send(r.Context(), c, &conv.Request{Model: "m"}, anthropic.TranslatorOptions{Model: "m"})
		if err == nil {
			err = rl.Stream(w, c, "text/plain", lines{})
		}
		rl.Finish(w, r, c, err, func(w http.ResponseWriter, f *apierr.Failure) { http.Error(w, f.Message, f.Status) })
		done <- err
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestStreamKeepAliveAndEnd(t *testing.T) {
	g := &gated{events: []kiro.Event{kiro.Text{Content: "hi"}}, release: make(chan struct{}), closed: make(chan struct{})}
	s := &sink{}
	rl := &Relay{Backend: g, Sink: s, KeepAlive: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	resp, err := http.Get(serve(t, rl, done))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	want := []string{"begin", "message_start", ":"} // the upstream is silent: keep-alives come
	for _, w := range want {
		line, err := br.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != w {
			t.Fatalf("got %q (%v), want %q", line, err, w)
		}
	}
	close(g.release) // now every event flows
	rest, _ := io.ReadAll(br)
	body := strings.ReplaceAll(string(rest), ":\n", "")
	if body != "content_block_start\ncontent_block_delta\ncontent_block_stop\nmessage_delta\nmessage_stop\n" {
		t.Fatalf("rest %q", rest)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-g.closed
	if ev := s.last(); ev.Kind != activity.RequestFinished || ev.Status != 200 || ev.StopReason != "end_turn" || ev.Account != "acct" || ev.API != "test" {
		t.Fatalf("activity %+v", ev)
	}
}

func TestStreamClientGone(t *testing.T) {
	g := &gated{release: make(chan struct{}), closed: make(chan struct{})}
	s := &sink{}
	rl := &Relay{Backend: g, Sink: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, serve(t, rl, done), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(resp.Body).ReadString('\n'); line != "begin\n" {
		t.Fatalf("first line %q", line)
	}
	cancel() // the client hangs up while the upstream is silent
	resp.Body.Close()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	<-g.closed
	if ev := s.last(); ev.Error != "client closed the request" {
		t.Fatalf("activity %+v", ev)
	}
}

func TestCollectReturnsUpstreamFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		events []kiro.Event
		want   string
	}{
		{"exception", []kiro.Event{kiro.Text{Content: "a"}, kiro.Exception{Type: "ThrottlingException"}}, "ThrottlingException"},
		{"fine", []kiro.Event{kiro.Text{Content: "a"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := &gated{events: tt.events, release: make(chan struct{}), closed: make(chan struct{})}
			close(g.release)
			rl := &Relay{Backend: g}
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			c := rl.NewCall(r, "test", "")
			if err := rl.Send(r.Context(), c, &conv.Request{Model: "m"}, anthropic.TranslatorOptions{}); err != nil {
				t.Fatal(err)
			}
			var types []string
			err := rl.Collect(c, func(evs []anthropic.Event) {
				for _, ev := range evs {
					types = append(types, ev.Type.String())
				}
			})
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err %v", err)
			}
			for _, typ := range types {
				if typ == "error" {
					t.Fatal("Collect passed an error event on")
				}
			}
		})
	}
}

func TestClientName(t *testing.T) {
	for ua, want := range map[string]string{
		"": "",
		"codex_exec/0.171.0 (Debian 12.0.0; x86_64) xterm":                   "codex",
		"codex_cli_rs/0.144.1":                                               "codex",
		"GeminiCLI-tui/0.61.0/gemini-3.1-pro-preview (linux; x64; terminal)": "gemini-cli",
		"OpenAI/Go 3.98.0":                                                   "openai",
		"curl/8.5.0":                                                         "curl",
	} {
		if got := ClientName(ua); got != want {
			t.Errorf("ClientName(%q) = %q, want %q", ua, got, want)
		}
	}
}
