package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/redact"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "test-key-0123456789"

// scripted is a Backend whose streams replay fixed events; gate, when set,
// holds each stream before its first event until it is closed.
type scripted struct {
	events []kiro.Event
	gate   chan struct{}
	sent   chan struct{} // if set, signalled on each Send
	calls  atomic.Int32
}

func (b *scripted) Send(ctx context.Context, _ *conv.Request) (anthropic.Stream, error) {
	b.calls.Add(1)
	if b.sent != nil {
		b.sent <- struct{}{}
	}
	return &scriptedStream{ctx: ctx, events: b.events, gate: b.gate}, nil
}

type scriptedStream struct {
	ctx    context.Context
	events []kiro.Event
	gate   chan struct{}
}

func (s *scriptedStream) Next() (kiro.Event, error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		}
	}
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}
func (s *scriptedStream) Close() error    { return nil }
func (s *scriptedStream) Account() string { return "test" }

func newTestServer(t *testing.T, b anthropic.Backend, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Addr:    "127.0.0.1:0",
		APIKey:  redact.Secret(testKey),
		Backend: b,
		Window:  func(string) int { return 200_000 },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const helloBody = `{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}`

func do(t *testing.T, h http.Handler, method, target, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Host = "127.0.0.1:8317"
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type anthropicErr struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeErr(t *testing.T, rec *httptest.ResponseRecorder) anthropicErr {
	t.Helper()
	var e anthropicErr
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	if e.Type != "error" || e.Error.Type == "" || e.Error.Message == "" {
		t.Fatalf("not an Anthropic error: %s", rec.Body.String())
	}
	return e
}

func TestMiddleware(t *testing.T) {
	b := &scripted{events: []kiro.Event{kiro.Text{Content: "hello"}}}
	h := newTestServer(t, b, nil).Handler()
	post := func(hdr map[string]string) *httptest.ResponseRecorder {
		return do(t, h, http.MethodPost, "/v1/messages", helloBody, hdr)
	}
	tests := []struct {
		name     string
		hdr      map[string]string
		status   int
		wantType string
	}{
		{"x-api-key", map[string]string{"X-Api-Key": testKey}, 200, ""},
		{"bearer", map[string]string{"Authorization": "Bearer " + testKey}, 200, ""},
		{"no key", nil, 401, "authentication_error"},
		{"wrong key", map[string]string{"X-Api-Key": testKey + "x"}, 401, "authentication_error"},
		{"basic auth is not the key", map[string]string{"Authorization": "Basic " + testKey}, 401, "authentication_error"},
		{"localhost host", map[string]string{"X-Api-Key": testKey, "Host": "localhost:8317"}, 200, ""},
		{"ipv6 loopback host", map[string]string{"X-Api-Key": testKey, "Host": "[::1]:8317"}, 200, ""},
		{"dns rebinding host", map[string]string{"X-Api-Key": testKey, "Host": "evil.example:8317"}, 403, "permission_error"},
		{"private address host", map[string]string{"X-Api-Key": testKey, "Host": "192.168.1.5:8317"}, 403, "permission_error"},
		{"cross-site origin", map[string]string{"X-Api-Key": testKey, "Origin": "https://evil.example"}, 403, "permission_error"},
		{"null origin", map[string]string{"X-Api-Key": testKey, "Origin": "null"}, 403, "permission_error"},
		{"loopback origin", map[string]string{"X-Api-Key": testKey, "Origin": "http://localhost:5173"}, 200, ""},
		{"sec-fetch-site cross-site", map[string]string{"X-Api-Key": testKey, "Sec-Fetch-Site": "cross-site"}, 403, "permission_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(tt.hdr)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body.String())
			}
			if tt.wantType != "" {
				if e := decodeErr(t, rec); e.Error.Type != tt.wantType {
					t.Errorf("error type %q, want %q", e.Error.Type, tt.wantType)
				}
				if strings.Contains(rec.Body.String(), testKey) {
					t.Error("error body echoes the key")
				}
			}
		})
	}
}

func TestHealthzNeedsNoKeyButChecksHost(t *testing.T) {
	h := newTestServer(t, &scripted{}, func(c *Config) { c.Version = "v-test" }).Handler()
	rec := do(t, h, http.MethodGet, "/healthz", "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"v-test"`) {
		t.Fatalf("healthz: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, http.MethodGet, "/healthz", "", map[string]string{"Host": "attacker.example"}); rec.Code != 403 {
		t.Fatalf("healthz with foreign Host: %d", rec.Code)
	}
	if rec := do(t, h, http.MethodGet, "/metrics", "", nil); rec.Code != 401 {
		t.Fatalf("metrics without key: %d", rec.Code)
	}
	rec = do(t, h, http.MethodGet, "/metrics", "", map[string]string{"X-Api-Key": testKey})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "kirotray_http_requests_in_flight") {
		t.Fatalf("metrics: %d", rec.Code)
	}
}

func TestNotFoundAndMethodInAnthropicShape(t *testing.T) {
	h := newTestServer(t, &scripted{}, nil).Handler()
	rec := do(t, h, http.MethodGet, "/v1/nope", "", map[string]string{"X-Api-Key": testKey})
	if rec.Code != 404 || decodeErr(t, rec).Error.Type != "not_found_error" {
		t.Fatalf("404: %d %s", rec.Code, rec.Body.String())
	}
	rec = do(t, h, http.MethodGet, "/v1/messages", "", map[string]string{"X-Api-Key": testKey})
	if rec.Code != 405 {
		t.Fatalf("405: %d %s", rec.Code, rec.Body.String())
	}
}

func TestBodyLimit(t *testing.T) {
	b := &scripted{events: []kiro.Event{kiro.Text{Content: "x"}}}
	srv := newTestServer(t, b, func(c *Config) { c.MaxBodyBytes = 1024 })
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	t.Run("declared length over the limit is refused unread", func(t *testing.T) {
		// Announce 1 GiB and send none of it: a server that read the body
		// before answering would wait forever.
		c, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: "+testKey+
			"\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound against a hang, not a measurement
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer before the body was sent: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var e anthropicErr
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if e.Error.Type != "request_too_large" {
			t.Fatalf("error %+v", e)
		}
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		big := `{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[{"role":"user","content":"` + strings.Repeat("a", 4096) + `"}]}`
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/messages", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("X-Api-Key", testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	})
}

func TestListenAddressMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8317", ":8317", "192.168.1.10:8317", "example.com:80"} {
		if _, err := New(Config{Addr: addr, APIKey: "k", Backend: &scripted{}}); err == nil {
			t.Errorf("%s accepted without AllowRemote", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:8317", "localhost:8317", "[::1]:8317", "127.0.0.2:1"} {
		if _, err := New(Config{Addr: addr, APIKey: "k", Backend: &scripted{}}); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
	if _, err := New(Config{Addr: "0.0.0.0:8317", AllowRemote: true, APIKey: "k", Backend: &scripted{}}); err != nil {
		t.Errorf("AllowRemote refused: %v", err)
	}
	if _, err := New(Config{Addr: "127.0.0.1:8317", Backend: &scripted{}}); err == nil {
		t.Error("no API key accepted")
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	srv := newTestServer(t, &scripted{}, nil)
	srv.http.ReadHeaderTimeout = 200 * time.Millisecond
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	defer func() {
		_ = srv.Shutdown(context.Background())
		<-done
	}()
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n")); err != nil { // never finishes
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a generous bound, not the thing measured
	_, err = bufio.NewReader(c).ReadString('\n')
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept a connection with unfinished headers open")
	}
}

func TestShutdownDrainsStreamsInFlight(t *testing.T) {
	gate := make(chan struct{})
	sent := make(chan struct{}, 1)
	b := &scripted{gate: gate, sent: sent, events: []kiro.Event{kiro.Text{Content: "first"}, kiro.Text{Content: " second"}}}
	srv := newTestServer(t, b, nil)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	type result struct {
		body []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		body := strings.Replace(helloBody, `"max_tokens":32`, `"max_tokens":32,"stream":true`, 1)
		req, _ := http.NewRequest(http.MethodPost, "http://"+srv.Addr()+"/v1/messages", strings.NewReader(body))
		req.Header.Set("X-Api-Key", testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		all, err := io.ReadAll(resp.Body)
		got <- result{all, err}
	}()
	<-sent // the stream is in flight

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	close(gate) // let the stream finish while Shutdown waits for it
	r := <-got
	if r.err != nil {
		t.Fatalf("stream cut during shutdown: %v", r.err)
	}
	if !strings.Contains(string(r.body), "message_stop") || !strings.Contains(string(r.body), "second") {
		t.Fatalf("stream incomplete:\n%s", r.body)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestShutdownGivesUpOnEndlessStreams(t *testing.T) {
	gate := make(chan struct{}) // never closed: the stream hangs
	sent := make(chan struct{}, 1)
	srv := newTestServer(t, &scripted{gate: gate, sent: sent}, nil)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		body := strings.Replace(helloBody, `"max_tokens":32`, `"max_tokens":32,"stream":true`, 1)
		req, _ := http.NewRequest(http.MethodPost, "http://"+srv.Addr()+"/v1/messages", strings.NewReader(body))
		req.Header.Set("X-Api-Key", testKey)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.ReadAll(resp.Body) // ends when the server closes the connection
			resp.Body.Close()
		}
	}()
	<-sent
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	<-done
}
