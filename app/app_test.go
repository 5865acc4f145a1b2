package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/activity"
)

func newTestApp(t *testing.T, cfg Config) *App {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Keychain = &keychain.Memory{}
	cfg.ConfigDir = t.TempDir()
	cfg.Version = "test"
	a := New(cfg)
	t.Cleanup(a.Close)
	return a
}

// next reads the next state from w or fails after a while.
func next(t *testing.T, w <-chan AppState) AppState {
	t.Helper()
	select {
	case st, ok := <-w:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no state published")
	}
	return AppState{}
}

// waitFor reads states from w until one satisfies ok.
func waitFor(t *testing.T, w <-chan AppState, ok func(AppState) bool) AppState {
	t.Helper()
	for {
		if st := next(t, w); ok(st) {
			return st
		}
	}
}

func TestAppStartStopRestart(t *testing.T) {
	a := newTestApp(t, Config{APIKey: "kt-test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := a.Watch(ctx)
	if st := next(t, w); st.Proxy != Stopped || st.BaseURL != "http://127.0.0.1:0" {
		t.Fatalf("initial state %+v", st)
	}
	for round := range 2 {
		var err error
		if round == 0 {
			err = a.Start(ctx)
		} else {
			err = a.Restart(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		st := a.State()
		if st.Proxy != Running || st.Upstream != "demo" || strings.HasSuffix(st.BaseURL, ":0") {
			t.Fatalf("round %d: after start %+v", round, st)
		}
		waitFor(t, w, func(s AppState) bool { return s.Proxy == Running })
		resp, err := http.Get(st.BaseURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
		if err := a.Start(ctx); err != nil { // no-op while running
			t.Fatal(err)
		}
	}
	a.Stop()
	if st := a.State(); st.Proxy != Stopped {
		t.Fatalf("after stop %+v", st)
	}
	waitFor(t, w, func(s AppState) bool { return s.Proxy == Stopped })
	a.Stop() // no-op
	a.Close()
	for range w { // Close closes every watch channel
	}
}

func TestAppPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a := newTestApp(t, Config{Listen: ln.Addr().String(), APIKey: "kt-test"})
	err = a.Start(context.Background())
	if !errors.Is(err, errAddrInUse) {
		t.Fatalf("Start: %v, want address in use", err)
	}
	st := a.State()
	if st.Proxy != Failed || !strings.Contains(st.Message, "port is in use") {
		t.Fatalf("state %+v", st)
	}
	ln.Close()
	if err := a.Start(context.Background()); err != nil { // the user freed the port
		t.Fatal(err)
	}
	if st := a.State(); st.Proxy != Running || st.Message != "" {
		t.Fatalf("after retry %+v", st)
	}
}

func TestAppStopsWithItsContext(t *testing.T) {
	a := newTestApp(t, Config{APIKey: "kt-test"})
	ctx, cancel := context.WithCancel(context.Background())
	w := a.Watch(context.Background())
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor(t, w, func(s AppState) bool { return s.Proxy == Stopped })
	if err := a.Start(context.Background()); err != nil { // starts afresh
		t.Fatal(err)
	}
	if st := a.State(); st.Proxy != Running {
		t.Fatalf("restart after ctx end: %+v", st)
	}
}

func TestAppRequestCountsAndEvents(t *testing.T) {
	a := newTestApp(t, Config{APIKey: "kt-test"})
	events, unsubscribe := a.Hub().Subscribe()
	defer unsubscribe()
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	body := `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, a.State().BaseURL+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", "kt-test")
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var kinds []activity.Kind
	var sawState bool
	for env := range events {
		if env.Type != "request" {
			sawState = sawState || env.Type == "state"
			continue // state and account envelopes interleave
		}
		ev, ok := env.Data.(activity.Request)
		if !ok {
			t.Fatalf("data %T", env.Data)
		}
		kinds = append(kinds, ev.Kind)
		if ev.Kind == activity.RequestFinished {
			if ev.Status != http.StatusOK || ev.Model != "claude-sonnet-4-5" {
				t.Fatalf("finished event %+v", ev)
			}
			break
		}
	}
	if kinds[0] != activity.RequestStarted || !sawState {
		t.Fatalf("events %v (state envelope seen: %v)", kinds, sawState)
	}
	if st := a.State(); st.RequestsToday != 1 || st.LastError != "" {
		t.Fatalf("state %+v", st)
	}
}

func TestAppSinkCounters(t *testing.T) {
	day1 := time.Date(2026, 3, 1, 23, 59, 0, 0, time.Local)
	day2 := day1.Add(2 * time.Minute)
	fin := func(status int, errMsg string) activity.Request {
		return activity.Request{Kind: activity.RequestFinished, Time: day1, Model: "m", Status: status, Error: errMsg}
	}
	tests := []struct {
		name      string
		events    []activity.Request
		now       time.Time
		wantCount int
		wantErr   string // substring of LastError; empty: none
	}{
		{"nothing", nil, day1, 0, ""},
		{"started and progress do not count", []activity.Request{{Kind: activity.RequestStarted}, {Kind: activity.RequestProgress}}, day1, 0, ""},
		{"finished counts", []activity.Request{fin(200, ""), fin(200, "")}, day1, 2, ""},
		{"a failure is remembered", []activity.Request{fin(429, "all accounts are rate limited"), fin(200, "")}, day1, 2, "m: 429 all accounts are rate limited"},
		{"status alone", []activity.Request{fin(502, "")}, day1, 1, "502 Bad Gateway"},
		{"midnight resets the count", []activity.Request{fin(200, "")}, day2, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := day1
			a := New(Config{Keychain: &keychain.Memory{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
			defer a.Close()
			for _, ev := range tt.events {
				appSink{a}.Publish(ev)
			}
			now = tt.now
			st := a.State()
			if st.RequestsToday != tt.wantCount {
				t.Errorf("RequestsToday = %d, want %d", st.RequestsToday, tt.wantCount)
			}
			if (tt.wantErr == "") != (st.LastError == "") || !strings.Contains(st.LastError, tt.wantErr) {
				t.Errorf("LastError = %q, want %q", st.LastError, tt.wantErr)
			}
		})
	}
}

func TestWatchLatestWins(t *testing.T) {
	a := New(Config{Keychain: &keychain.Memory{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	w := a.Watch(ctx)
	for range 1000 { // never blocks on a reader that does not read
		appSink{a}.Publish(activity.Request{Kind: activity.RequestFinished, Time: time.Now(), Status: 200})
	}
	if st := next(t, w); st.RequestsToday != 1000 {
		t.Fatalf("got %d, want the latest state (1000)", st.RequestsToday)
	}
	select {
	case st := <-w:
		t.Fatalf("stale state left: %+v", st)
	default:
	}
	cancel()
	for range w { // closed when ctx ends
	}
	a.Close()
	if _, ok := <-a.Watch(context.Background()); ok {
		t.Fatal("Watch after Close must return a closed channel")
	}
}

func TestClaudeCodeSetup(t *testing.T) {
	a := newTestApp(t, Config{Listen: "127.0.0.1:8317", APIKey: "kt-abc"})
	got, err := a.ClaudeCodeSetup()
	if err != nil {
		t.Fatal(err)
	}
	want := "export ANTHROPIC_BASE_URL=http://127.0.0.1:8317\nexport ANTHROPIC_API_KEY=kt-abc\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Without a given key, one is generated once and kept.
	b := newTestApp(t, Config{})
	k1, err := b.APIKey()
	if err != nil || k1.IsZero() {
		t.Fatal(k1, err)
	}
	if k2, _ := b.APIKey(); k2 != k1 {
		t.Fatal("key changed")
	}
}

func TestHubSubscribe(t *testing.T) {
	h := NewHub(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()

	t.Run("typed events in order", func(t *testing.T) {
		ch, cancel := h.Subscribe()
		defer cancel()
		for i, id := range []string{"a", "b", "c"} {
			h.Publish(activity.Request{Kind: activity.RequestStarted, ID: id, Latency: time.Duration(i) * time.Millisecond})
		}
		for i, id := range []string{"a", "b", "c"} {
			env := <-ch
			ev := env.Data.(activity.Request)
			if env.Type != "request" || ev.ID != id || ev.Latency != time.Duration(i)*time.Millisecond {
				t.Fatalf("got %+v", env)
			}
		}
	})
	t.Run("cancel closes and unregisters", func(t *testing.T) {
		ch, cancel := h.Subscribe()
		h.Publish(activity.Request{ID: "x"}) // pending, unread
		cancel()
		cancel()
		for range ch {
		}
		if n := h.Subscribers(); n != 0 {
			t.Fatalf("%d subscribers left", n)
		}
	})
	t.Run("a slow subscriber is dropped, the publisher never blocks", func(t *testing.T) {
		ch, cancel := h.Subscribe()
		defer cancel()
		for range 10 * subscriberBuffer {
			h.Publish(activity.Request{ID: "burst"})
		}
		n := 0
		for range ch { // whatever was queued, then closed
			n++
		}
		if n == 0 || n > subscriberBuffer+1 {
			t.Fatalf("received %d", n)
		}
		if s := h.Subscribers(); s != 0 {
			t.Fatalf("%d subscribers left", s)
		}
	})
	t.Run("close ends every subscription", func(t *testing.T) {
		h2 := NewHub(nil)
		ch, cancel := h2.Subscribe()
		defer cancel()
		h2.Close()
		for range ch {
		}
		if _, ok := <-func() <-chan Envelope { c, _ := h2.Subscribe(); return c }(); ok {
			t.Fatal("subscribe after close must return a closed channel")
		}
	})
}

// sentState is the part of a "state" envelope the tests read.
type sentState struct {
	RequestsToday int    `json:"requestsToday"`
	LastError     string `json:"lastError"`
}

// stateEnvelopes reads the "state" envelopes of events for d, or until it
// has n of them (n > 0).
func stateEnvelopes(t *testing.T, events <-chan Envelope, d time.Duration, n int) []sentState {
	t.Helper()
	var got []sentState
	timeout := time.After(d)
	for {
		select {
		case env, ok := <-events:
			if !ok {
				return got
			}
			if env.Type != "state" {
				continue
			}
			var st sentState
			raw, _ := env.Data.(json.RawMessage)
			if err := json.Unmarshal(raw, &st); err != nil {
				t.Fatal(err)
			}
			got = append(got, st)
			if len(got) == n {
				return got
			}
		case <-timeout:
			return got
		}
	}
}

func TestStateBroadcastsCoalesce(t *testing.T) {
	a := newTestApp(t, Config{APIKey: "kt-test"})
	events, unsubscribe := a.Hub().Subscribe()
	defer unsubscribe()
	w := a.Watch(t.Context())
	next(t, w)

	// A burst of 1000 state changes, as 1000 finished requests make (the
	// sink's path without its request events, which would overflow the
	// subscriber): Watch sees every change (latest wins), the hub a few
	// snapshots, the last of them the final state.
	start := time.Now()
	for range 1000 {
		a.update(func(s *AppState) {
			a.rollDayLocked()
			s.RequestsToday++
		})
	}
	burst := time.Since(start)
	if st := next(t, w); st.RequestsToday != 1000 {
		t.Fatalf("Watch: %+v", st)
	}
	var got []sentState
	for len(got) == 0 || got[len(got)-1].RequestsToday != 1000 {
		more := stateEnvelopes(t, events, 10*time.Second, 1)
		if len(more) == 0 {
			t.Fatalf("state envelopes %+v: the last must be the final state", got)
		}
		got = append(got, more...)
	}
	if more := stateEnvelopes(t, events, 3*stateInterval, 0); len(more) > 0 {
		t.Fatalf("state envelopes after the final state: %+v", more)
	}
	// One at once, then at most one per interval while the burst lasts.
	if limit := 2 + int(burst/stateInterval); len(got) > limit {
		t.Fatalf("%d state envelopes for 1000 changes in %v, want at most %d", len(got), burst, limit)
	}
	t.Logf("%d state envelopes for 1000 changes in %v", len(got), burst)

	// The timer stops when nothing changes; a change after a quiet
	// interval goes out at once.
	timerStopped := func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.stateTimer == nil
	}
	eventually(t, "the state timer to stop", timerStopped)
	a.update(func(s *AppState) { s.LastError = "x" })
	a.mu.Lock()
	sent := a.stateSent.LastError
	a.mu.Unlock()
	if sent != "x" {
		t.Fatal("a change after a quiet interval waited for the timer")
	}
	if got := stateEnvelopes(t, events, 10*time.Second, 1); len(got) != 1 || got[0].LastError != "x" {
		t.Fatalf("after a quiet interval: %+v", got)
	}
	eventually(t, "the state timer to stop", timerStopped)
	// An update that changes nothing sends nothing.
	a.update(func(*AppState) {})
	if got := stateEnvelopes(t, events, 2*stateInterval, 0); len(got) != 0 {
		t.Fatalf("an unchanged state was sent again: %+v", got)
	}
}

func TestCloseStopsStateTimer(t *testing.T) {
	a := newTestApp(t, Config{APIKey: "kt-test"})
	_, unsubscribe := a.Hub().Subscribe()
	defer unsubscribe()
	for i := range 3 {
		a.update(func(s *AppState) { s.RequestsToday = i + 1 })
	}
	a.mu.Lock()
	armed := a.stateTimer != nil
	a.mu.Unlock()
	if !armed {
		t.Fatal("no state timer after a burst")
	}
	a.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stateTimer != nil {
		t.Fatal("the state timer outlives Close")
	}
	a.broadcastStateLocked() // after Close: arms nothing
	if a.stateTimer != nil {
		t.Fatal("a state timer armed after Close")
	}
}
