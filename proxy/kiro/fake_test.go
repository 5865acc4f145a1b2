package kiro

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
	"github.com/kirotray/kirotray/proxy/redact"
)

// A small stand-in for the Kiro backend: each request is answered by the
// test's handler; requests are recorded. It writes real event-stream frames
// (one frame per write and flush unless the test says otherwise).

type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

type upstream struct {
	srv     *httptest.Server
	handler func(w http.ResponseWriter, r *http.Request, n int) // n counts requests from 0

	mu   sync.Mutex
	reqs []recorded
}

func newUpstream(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, n int)) *upstream {
	t.Helper()
	u := &upstream{handler: handler}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		n := len(u.reqs)
		u.reqs = append(u.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		u.handler(w, r, n)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.reqs...)
}

// client returns a Client for the upstream whose back-off sleeps are
// recorded instead of slept.
func (u *upstream) client(t *testing.T, accts Accounts, cfg Config) (*Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	cfg.BaseURL = u.srv.URL
	cfg.Accounts = accts
	if cfg.Sleep == nil {
		cfg.Sleep = sl.sleep
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	return New(cfg), sl
}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// Frames.

func eventFrame(typ string, payload any) []byte {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	return eventstream.Append(nil, eventstream.Message{Headers: []eventstream.Header{
		eventstream.String(":event-type", typ),
		eventstream.String(":content-type", "application/json"),
		eventstream.String(":message-type", "event"),
	}, Payload: b})
}

func textFrame(s string) []byte {
	return eventFrame("assistantResponseEvent", map[string]string{"content": s})
}

func exceptionFrame(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return eventstream.Append(nil, eventstream.Message{Headers: []eventstream.Header{
		eventstream.String(":exception-type", typ),
		eventstream.String(":content-type", "application/json"),
		eventstream.String(":message-type", "exception"),
	}, Payload: b})
}

// writeFrames answers 200 and writes each frame with its own write and flush.
func writeFrames(w http.ResponseWriter, frames ...[]byte) {
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	for _, f := range frames {
		w.Write(f)
		w.(http.Flusher).Flush()
	}
}

// writeError answers a Kiro-style error.
func writeError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"message": msg, "reason": nil}
	if reason != "" {
		body["reason"] = reason
	}
	json.NewEncoder(w).Encode(body)
}

// Accounts.

type fakeAccount struct {
	name     string
	arn      string
	apiKey   bool
	tokenErr error

	mu        sync.Mutex
	tokens    []string // tokens[refreshes] is current
	refreshes int
	forced    []bool
	reports   []error
}

func newAccount(name string, tokens ...string) *fakeAccount {
	if len(tokens) == 0 {
		tokens = []string{"tok-" + name + "-0123456789abcdef"}
	}
	return &fakeAccount{name: name, tokens: tokens, arn: "arn:aws:codewhisperer:us-east-1:111122223333:profile/" + name}
}

func (a *fakeAccount) Name() string { return a.name }

func (a *fakeAccount) Token(ctx context.Context, force bool) (Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forced = append(a.forced, force)
	if a.tokenErr != nil {
		return Token{}, a.tokenErr
	}
	if force && a.refreshes < len(a.tokens)-1 {
		a.refreshes++
	}
	return Token{Access: redact.Secret(a.tokens[a.refreshes]), ProfileARN: a.arn, APIKey: a.apiKey, MachineID: MachineID(a.name)}, nil
}

func (a *fakeAccount) Report(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reports = append(a.reports, err)
}

// reportStatuses renders the reports: "ok" for nil, else the status.
func (a *fakeAccount) reportStatuses() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, err := range a.reports {
		var up *UpstreamError
		switch {
		case err == nil:
			out = append(out, "ok")
		case errors.As(err, &up):
			out = append(out, fmt.Sprint(up.Status))
		default:
			out = append(out, err.Error())
		}
	}
	return out
}

type fakePool struct {
	accounts []*fakeAccount

	mu    sync.Mutex
	picks []string // conversation ids asked for
}

func (p *fakePool) Pick(ctx context.Context, conversationID string, exclude []string) (Account, error) {
	p.mu.Lock()
	p.picks = append(p.picks, conversationID)
	p.mu.Unlock()
next:
	for _, a := range p.accounts {
		for _, x := range exclude {
			if x == a.name {
				continue next
			}
		}
		return a, nil
	}
	return nil, fmt.Errorf("pick: %w", ErrNoAccount)
}
