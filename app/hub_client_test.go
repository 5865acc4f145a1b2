package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/kirotray/kirotray/proxy"
	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/redact"
)

// --- fixtures ---------------------------------------------------------------

// eventsProxy is the real Hub behind the real proxy middleware (key, Host and
// Origin checks) on a loopback httptest server.
type eventsProxy struct {
	hub   *Hub
	ts    *httptest.Server
	conns *trackListener
	once  sync.Once

	mu      sync.Mutex
	queries []string // raw query strings of /ws requests: the key must never be there
}

type wsNoBackend struct{}

func (wsNoBackend) Send(context.Context, *conv.Request) (anthropic.Stream, error) {
	return nil, errors.New("no model backend in the events tests")
}

func startEventsProxy(t *testing.T, key string) *eventsProxy {
	t.Helper()
	discard := slog.New(slog.DiscardHandler)
	p := &eventsProxy{hub: NewHub(discard)}
	srv, err := proxy.New(proxy.Config{
		APIKey: redact.Secret(key), Backend: wsNoBackend{}, Logger: discard,
		Routes: []proxy.Route{{Method: http.MethodGet, Path: "/ws", Handler: p.hub}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	p.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			p.mu.Lock()
			p.queries = append(p.queries, r.URL.RawQuery)
			p.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	p.conns = &trackListener{Listener: p.ts.Listener}
	p.ts.Listener = p.conns
	p.ts.Start()
	t.Cleanup(p.close)
	return p
}

func (p *eventsProxy) url() string { return p.ts.URL }

// close stops the proxy: subscribers get a close frame, the port closes.
func (p *eventsProxy) close() {
	p.once.Do(func() {
		p.hub.Close()
		p.ts.Close()
	})
}

// kick drops every websocket subscriber the way the hub drops a slow one.
func (p *eventsProxy) kick() {
	p.hub.mu.Lock()
	defer p.hub.mu.Unlock()
	for c := range p.hub.clients {
		delete(p.hub.clients, c)
		c.stop()
	}
}

func (p *eventsProxy) checkNoQuery(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queries) > 0 {
		t.Errorf("the client put something in the URL: %q", p.queries)
	}
}

// trackListener remembers accepted connections so a test can cut them
// without a close frame.
type trackListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackListener) cutAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

// eventsClock is the client's clock in tests: timers fire when the test says
// so, and each wait the client starts is reported on timers.
type eventsClock struct {
	timers chan *fakeTimer
	ns     atomic.Int64
}

type fakeTimer struct {
	d time.Duration
	c chan time.Time
}

func newEventsClock() *eventsClock { return &eventsClock{timers: make(chan *fakeTimer, 100)} }

func (k *eventsClock) hooks() *eventsHooks { return &eventsHooks{after: k.after, now: k.now} }

func (k *eventsClock) after(d time.Duration) (<-chan time.Time, func()) {
	ft := &fakeTimer{d: d, c: make(chan time.Time, 1)}
	k.timers <- ft
	return ft.c, func() {}
}

func (k *eventsClock) now() time.Time          { return time.Unix(0, k.ns.Load()) }
func (k *eventsClock) advance(d time.Duration) { k.ns.Add(int64(d)) }

// next returns the wait the client started, checking its length.
func (k *eventsClock) next(t *testing.T, lo, hi time.Duration) *fakeTimer {
	t.Helper()
	select {
	case ft := <-k.timers:
		if ft.d < lo || ft.d > hi {
			t.Fatalf("waits %v, want between %v and %v", ft.d, lo, hi)
		}
		return ft
	case <-time.After(10 * time.Second): // a bound against hangs, not a timing
		t.Fatal("the client did not start waiting")
		return nil
	}
}

func (k *eventsClock) noTimer(t *testing.T) {
	t.Helper()
	select {
	case ft := <-k.timers:
		t.Fatalf("unexpected wait of %v", ft.d)
	default:
	}
}

func (ft *fakeTimer) fire() { ft.c <- time.Time{} }

func countingDialer(n *atomic.Int64) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			n.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

func fixedKey(k string) func() (redact.Secret, error) {
	return func() (redact.Secret, error) { return redact.Secret(k), nil }
}

func debugLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func recvEnv(t *testing.T, ch <-chan Envelope) Envelope {
	t.Helper()
	select {
	case env, ok := <-ch:
		if !ok {
			t.Fatal("the events channel closed")
		}
		return env
	case <-time.After(10 * time.Second): // a bound against hangs, not a timing
		t.Fatal("no event")
		return Envelope{}
	}
}

func expectConn(t *testing.T, ch <-chan Envelope, want ConnectionStatus) {
	t.Helper()
	env := recvEnv(t, ch)
	raw, ok := env.Data.(json.RawMessage)
	if env.Type != EventConnection || !ok {
		t.Fatalf("got %s %#v, want a connection envelope %+v", env.Type, env.Data, want)
	}
	var got ConnectionStatus
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("connection %s, want %+v", raw, want)
	}
}

func expectRequest(t *testing.T, ch <-chan Envelope) activity.Request {
	t.Helper()
	env := recvEnv(t, ch)
	ev, ok := env.Data.(activity.Request)
	if env.Type != "request" || !ok {
		t.Fatalf("got %s %#v, want a request", env.Type, env.Data)
	}
	return ev
}

// drain reads until the channel closes.
func drain(t *testing.T, ch <-chan Envelope) {
	t.Helper()
	deadline := time.After(10 * time.Second) // a bound against hangs, not a timing
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the events channel did not close")
		}
	}
}

// --- tests ------------------------------------------------------------------

func TestStreamEventsDeliversInOrder(t *testing.T) {
	const key = "sk-events-test-key-0001"
	p := startEventsProxy(t, key)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := StreamEvents(ctx, EventsOptions{BaseURL: p.url, Key: fixedKey(key), Logger: debugLogger(&logs)})

	expectConn(t, ch, ConnectionStatus{Connected: true})
	eventually(t, "the subscriber", func() bool { return p.hub.Subscribers() == 1 })

	at := time.Date(2026, 11, 27, 13, 39, 31, 30_000_000, time.UTC)
	var sent []activity.Request
	for i := range subscriberBuffer - 6 { // published at once: stay within what the hub queues

		ev := activity.Request{Kind: activity.RequestStarted, ID: fmt.Sprintf("msg_%03d", i/2), Time: at, API: "anthropic",
			Model: "claude-sonnet-4-5", Client: "claude-code", Stream: true, InputTokens: 1000 + i}
		if i%2 == 1 {
			ev.Kind, ev.Account, ev.Status, ev.OutputTokens, ev.Latency, ev.StopReason =
				activity.RequestFinished, "work", 200, i, time.Duration(i)*time.Millisecond, "end_turn"
		}
		sent = append(sent, ev)
		p.hub.Publish(ev)
	}
	state := AppState{Proxy: Running, BaseURL: p.url(), Upstream: "demo", RequestsToday: 125}
	p.hub.Broadcast("state", state)

	for i, want := range sent {
		if got := expectRequest(t, ch); got != want {
			t.Fatalf("event %d: got %+v, want %+v", i, got, want)
		}
	}
	env := recvEnv(t, ch)
	wantJSON, _ := json.Marshal(state)
	if raw, ok := env.Data.(json.RawMessage); env.Type != "state" || !ok || !bytes.Equal(raw, wantJSON) {
		t.Fatalf("got %s %#v, want state %s", env.Type, env.Data, wantJSON)
	}

	cancel()
	drain(t, ch)
	p.checkNoQuery(t)
	if strings.Contains(logs.String(), key) {
		t.Fatal("the key is in the logs")
	}
}

func TestStreamEventsReconnectsAfterServerCloses(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(*eventsProxy)
	}{
		{"hub drops the subscriber", (*eventsProxy).kick},
		{"connection cut without a close frame", func(p *eventsProxy) { p.conns.cutAll() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startEventsProxy(t, "k")
			clock := newEventsClock()
			var dials atomic.Int64
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ch := StreamEvents(ctx, EventsOptions{
				BaseURL: p.url, Key: fixedKey("k"), Dialer: countingDialer(&dials),
				MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
				Logger: slog.New(slog.DiscardHandler), hooks: clock.hooks(),
			})
			expectConn(t, ch, ConnectionStatus{Connected: true})
			eventually(t, "the subscriber", func() bool { return p.hub.Subscribers() == 1 })
			p.hub.Publish(activity.Request{Kind: activity.RequestStarted, ID: "before"})
			if ev := expectRequest(t, ch); ev.ID != "before" {
				t.Fatalf("got %q", ev.ID)
			}

			tc.drop(p)
			expectConn(t, ch, ConnectionStatus{Connected: false})
			eventually(t, "the hub to forget the old subscriber", func() bool { return p.hub.Subscribers() == 0 })
			clock.next(t, 50*time.Millisecond, 100*time.Millisecond).fire()
			expectConn(t, ch, ConnectionStatus{Connected: true})
			eventually(t, "the new subscriber", func() bool { return p.hub.Subscribers() == 1 })
			for i := range 3 {
				p.hub.Publish(activity.Request{Kind: activity.RequestFinished, ID: fmt.Sprint("after_", i)})
			}
			for i := range 3 {
				if ev := expectRequest(t, ch); ev.ID != fmt.Sprint("after_", i) {
					t.Fatalf("got %q", ev.ID)
				}
			}
			if n := dials.Load(); n != 2 {
				t.Fatalf("%d dials, want 2", n)
			}
			clock.noTimer(t)
			cancel()
			drain(t, ch)
		})
	}
}

func TestStreamEventsWaitsForWakeWhileProxyIsDown(t *testing.T) {
	const min, max = 100 * time.Millisecond, 800 * time.Millisecond
	a := startEventsProxy(t, "k")
	var base atomic.Value
	base.Store(a.url())
	clock := newEventsClock()
	var dials atomic.Int64
	wake := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := StreamEvents(ctx, EventsOptions{
		BaseURL: func() string { return base.Load().(string) }, Key: fixedKey("k"), Wake: wake,
		Dialer: countingDialer(&dials), MinBackoff: min, MaxBackoff: max,
		Logger: slog.New(slog.DiscardHandler), hooks: clock.hooks(),
	})
	expectConn(t, ch, ConnectionStatus{Connected: true})

	// The proxy stops: one dial per step of the backoff, and no more.
	a.close()
	expectConn(t, ch, ConnectionStatus{Connected: false})
	steps := []time.Duration{min, 2 * min, 4 * min, max, max, max}
	for i, step := range steps {
		pending := clock.next(t, step/2, step)
		if n := dials.Load(); n != int64(1+i) {
			t.Fatalf("after %d waits: %d dials, want %d", i, n, 1+i)
		}
		if i < len(steps)-1 {
			pending.fire()
		}
	}

	// It comes back on another port; the App's watcher sends on Wake.
	b := startEventsProxy(t, "k")
	base.Store(b.url())
	wake <- struct{}{}
	// Next is "connected": the failed dials did not repeat "disconnected".
	expectConn(t, ch, ConnectionStatus{Connected: true})
	if n := dials.Load(); n != int64(len(steps)+1) {
		t.Fatalf("%d dials, want %d", n, len(steps)+1)
	}
	eventually(t, "the subscriber", func() bool { return b.hub.Subscribers() == 1 })
	b.hub.Publish(activity.Request{Kind: activity.RequestStarted, ID: "back"})
	if ev := expectRequest(t, ch); ev.ID != "back" {
		t.Fatalf("got %q", ev.ID)
	}
	clock.noTimer(t)

	// A connection that lasted resets the backoff…
	clock.advance(eventsStableAfter)
	b.kick()
	expectConn(t, ch, ConnectionStatus{Connected: false})
	clock.next(t, min/2, min).fire()
	expectConn(t, ch, ConnectionStatus{Connected: true})
	// …a short one does not.
	eventually(t, "the subscriber", func() bool { return b.hub.Subscribers() == 1 })
	b.kick()
	expectConn(t, ch, ConnectionStatus{Connected: false})
	clock.next(t, min, 2*min)
	cancel()
	drain(t, ch)
}

func TestStreamEventsWrongKey(t *testing.T) {
	const max = 30 * time.Second
	p := startEventsProxy(t, "the-right-key")
	var key atomic.Value
	key.Store("wrong-key-5f2a9c")
	clock := newEventsClock()
	var dials atomic.Int64
	var logs syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := StreamEvents(ctx, EventsOptions{
		BaseURL: p.url, Key: func() (redact.Secret, error) { return redact.Secret(key.Load().(string)), nil },
		Dialer: countingDialer(&dials), MaxBackoff: max, Logger: debugLogger(&logs), hooks: clock.hooks(),
	})

	expectConn(t, ch, ConnectionStatus{Error: keyRefusedText})
	clock.next(t, max/2, max).fire() // straight to the longest wait
	second := clock.next(t, max/2, max)
	if n := dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
	clock.noTimer(t)

	// The key is fixed (say the user pasted the right one): the next attempt
	// connects, and no second error envelope came in between.
	key.Store("the-right-key")
	second.fire()
	expectConn(t, ch, ConnectionStatus{Connected: true})
	cancel()
	drain(t, ch)

	if s := logs.String(); strings.Contains(s, "wrong-key-5f2a9c") || strings.Contains(s, "the-right-key") {
		t.Fatalf("a key is in the logs:\n%s", s)
	} else if n := strings.Count(s, keyRefusedText); n != 1 {
		t.Fatalf("the refusal is logged %d times, want once:\n%s", n, s)
	}
	p.checkNoQuery(t)
}

func TestStreamEventsCancelClosesChannel(t *testing.T) {
	// Each case checks that the channel closes and that nothing the client
	// started outlives it (TestMain's goleak checks the whole package too).
	t.Run("connected", func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		p := startEventsProxy(t, "k")
		ctx, cancel := context.WithCancel(t.Context())
		ch := StreamEvents(ctx, EventsOptions{BaseURL: p.url, Key: fixedKey("k"), Logger: slog.New(slog.DiscardHandler)})
		expectConn(t, ch, ConnectionStatus{Connected: true})
		eventually(t, "the subscriber", func() bool { return p.hub.Subscribers() == 1 })
		cancel()
		drain(t, ch)
		eventually(t, "the hub to see the client leave", func() bool { return p.hub.Subscribers() == 0 })
		p.close()
		goleak.VerifyNone(t, before)
	})
	t.Run("waiting to reconnect", func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		p := startEventsProxy(t, "k")
		p.close() // nothing listens there any more
		clock := newEventsClock()
		ctx, cancel := context.WithCancel(t.Context())
		ch := StreamEvents(ctx, EventsOptions{BaseURL: p.url, Key: fixedKey("k"), Logger: slog.New(slog.DiscardHandler), hooks: clock.hooks()})
		expectConn(t, ch, ConnectionStatus{Connected: false})
		clock.next(t, 0, time.Hour)
		cancel()
		drain(t, ch)
		goleak.VerifyNone(t, before)
	})
	t.Run("reader blocked on a full queue", func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		p := startEventsProxy(t, "k")
		full := make(chan struct{})
		var once sync.Once
		ctx, cancel := context.WithCancel(t.Context())
		ch := StreamEvents(ctx, EventsOptions{
			BaseURL: p.url, Key: fixedKey("k"), Buffer: 4, Logger: slog.New(slog.DiscardHandler),
			hooks: &eventsHooks{queued: func(s eventsQueueStats) {
				if s.Queued == 4 {
					once.Do(func() { close(full) })
				}
			}},
		})
		expectConn(t, ch, ConnectionStatus{Connected: true})
		eventually(t, "the subscriber", func() bool { return p.hub.Subscribers() == 1 })
		for i := range 10 { // finished events are never dropped: the 5th waits
			p.hub.Publish(activity.Request{Kind: activity.RequestFinished, ID: fmt.Sprint(i)})
		}
		<-full
		cancel()
		drain(t, ch)
		p.close()
		goleak.VerifyNone(t, before)
	})
}

// A window that does not read while 10,000 events go by: the client keeps
// reading the socket (the hub never has to drop it), holds at most Buffer
// envelopes, drops only the oldest progress and keeps every finished event.
func TestStreamEventsSlowConsumerDropsOldestProgress(t *testing.T) {
	const buffer, total, batch = 128, 10_000, 100 // a batch stays under the hub's 256
	p := startEventsProxy(t, "k")
	var received, maxQueued, dropped atomic.Int64
	progressed := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := StreamEvents(ctx, EventsOptions{
		BaseURL: p.url, Key: fixedKey("k"), Buffer: buffer, Logger: slog.New(slog.DiscardHandler),
		hooks: &eventsHooks{queued: func(s eventsQueueStats) {
			received.Store(int64(s.Received))
			dropped.Store(int64(s.Dropped))
			if int64(s.Queued) > maxQueued.Load() {
				maxQueued.Store(int64(s.Queued))
			}
			select {
			case progressed <- struct{}{}:
			default:
			}
		}},
	})
	expectConn(t, ch, ConnectionStatus{Connected: true}) // received: 1
	eventually(t, "the subscriber", func() bool { return p.hub.Subscribers() == 1 })

	for i := range total {
		kind := activity.RequestProgress
		if i%100 == 99 {
			kind = activity.RequestFinished
		}
		p.hub.Publish(activity.Request{Kind: kind, ID: fmt.Sprint("msg_", i%256), OutputTokens: i})
		if i%batch == batch-1 {
			for received.Load() < int64(1+i+1) { // the client has read the batch off the socket
				select {
				case <-progressed:
				case <-time.After(10 * time.Second): // a bound against hangs, not a timing
					t.Fatalf("the client read %d of %d events", received.Load()-1, i+1)
				}
			}
		}
	}
	if n := p.hub.Subscribers(); n != 1 {
		t.Fatalf("the hub dropped the client (%d subscribers)", n)
	}
	if m := maxQueued.Load(); m > buffer {
		t.Fatalf("held %d envelopes, more than the buffer of %d", m, buffer)
	}
	if d := dropped.Load(); d != total-buffer {
		t.Fatalf("dropped %d, want %d", d, total-buffer)
	}

	// What is left: every finished event, then the newest progress, in order.
	last, finished, progress := -1, 0, 0
	for range buffer {
		ev := expectRequest(t, ch)
		if ev.OutputTokens <= last {
			t.Fatalf("event %d after %d", ev.OutputTokens, last)
		}
		last = ev.OutputTokens
		switch ev.Kind {
		case activity.RequestFinished:
			if ev.OutputTokens != finished*100+99 {
				t.Fatalf("finished event %d missing (got %d)", finished*100+99, ev.OutputTokens)
			}
			finished++
		case activity.RequestProgress:
			if ev.OutputTokens < total-1-(buffer-total/100) {
				t.Fatalf("kept an old progress event %d", ev.OutputTokens)
			}
			progress++
		}
	}
	if finished != total/100 || progress != buffer-total/100 {
		t.Fatalf("%d finished, %d progress", finished, progress)
	}
	// Still connected and current.
	p.hub.Publish(activity.Request{Kind: activity.RequestStarted, ID: "next"})
	if ev := expectRequest(t, ch); ev.ID != "next" {
		t.Fatalf("got %+v", ev)
	}
	cancel()
	drain(t, ch)
}

// A reader that is stuck while only undroppable events arrive: the client
// stops reading the socket instead of buffering, Publish never waits, the
// hub drops the client, and the client reconnects and says so in order.
func TestStreamEventsBackpressureNeverBlocksHub(t *testing.T) {
	const buffer, total = 16, 10_000
	p := startEventsProxy(t, "k")
	var maxQueued atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := StreamEvents(ctx, EventsOptions{
		BaseURL: p.url, Key: fixedKey("k"), Buffer: buffer, Logger: slog.New(slog.DiscardHandler),
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		hooks: &eventsHooks{queued: func(s eventsQueueStats) {
			if int64(s.Queued) > maxQueued.Load() {
				maxQueued.Store(int64(s.Queued))
			}
		}},
	})
	expectConn(t, ch, ConnectionStatus{Connected: true})
	eventually(t, "the subscriber", func() bool { return p.hub.Subscribers() == 1 })

	// 40 MB: more than the client's queue, the hub's 256 and both socket
	// buffers hold. Every Publish returns at once (else this test hangs).
	pad := strings.Repeat("x", 4000)
	for i := range total {
		p.hub.Publish(activity.Request{Kind: activity.RequestFinished, ID: pad, OutputTokens: i})
	}
	eventually(t, "the hub to drop the stuck client", func() bool { return p.hub.Subscribers() == 0 })

	last, got := -1, 0
	for {
		env := recvEnv(t, ch)
		if env.Type == EventConnection {
			if raw := string(env.Data.(json.RawMessage)); raw != `{"connected":false}` {
				t.Fatalf("got %s", raw)
			}
			break
		}
		ev := env.Data.(activity.Request)
		if ev.OutputTokens <= last {
			t.Fatalf("event %d after %d", ev.OutputTokens, last)
		}
		last = ev.OutputTokens
		got++
	}
	if got == 0 || got >= total {
		t.Fatalf("received %d of %d before the drop", got, total)
	}
	t.Logf("received %d of %d before the hub dropped the client", got, total)
	expectConn(t, ch, ConnectionStatus{Connected: true})
	eventually(t, "the subscriber", func() bool { return p.hub.Subscribers() == 1 })
	p.hub.Publish(activity.Request{Kind: activity.RequestStarted, ID: "again"})
	if ev := expectRequest(t, ch); ev.ID != "again" {
		t.Fatalf("got %+v", ev)
	}
	if m := maxQueued.Load(); m > buffer {
		t.Fatalf("held %d envelopes, more than the buffer of %d", m, buffer)
	}
	cancel()
	drain(t, ch)
}

func TestEventsQueue(t *testing.T) {
	req := func(kind activity.Kind, id string) Envelope {
		return Envelope{Type: "request", Data: activity.Request{Kind: kind, ID: id}}
	}
	snap := func(typ, v string) Envelope { return Envelope{Type: typ, Data: json.RawMessage(v)} }
	contents := func(q *eventQueue) string {
		var parts []string
		for i := range q.len() {
			env := q.at(i)
			if ev, ok := env.Data.(activity.Request); ok {
				parts = append(parts, ev.ID)
			} else {
				parts = append(parts, env.Type+"="+string(env.Data.(json.RawMessage)))
			}
		}
		return strings.Join(parts, " ")
	}
	q := newEventQueue(4)
	for _, env := range []Envelope{
		req(activity.RequestProgress, "p1"), req(activity.RequestFinished, "f1"),
		req(activity.RequestProgress, "p2"), req(activity.RequestStarted, "s1"),
	} {
		q.add(env)
	}
	q.add(req(activity.RequestFinished, "f2")) // full: drops p1
	q.add(req(activity.RequestProgress, "p3")) // full: drops p2
	if got, want := contents(q), "f1 s1 f2 p3"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	q.add(snap("state", "1")) // full: drops p3
	if q.acceptsMore() {
		t.Fatal("full of undroppable envelopes, yet accepts more")
	}
	q.pop()
	q.pop()
	q.add(snap("accounts", "[1]"))
	q.add(snap("state", "2")) // replaces state=1 and goes last
	if got, want := contents(q), "f2 accounts=[1] state=2"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if q.dropped != 3 || q.progress != 0 || q.snaps["state"] != 1 || q.snaps["accounts"] != 1 {
		t.Fatalf("dropped %d, progress %d, snapshots %v", q.dropped, q.progress, q.snaps)
	}
	for range 3 {
		q.pop()
	}
	if q.len() != 0 || q.snaps["state"] != 0 || q.snaps["accounts"] != 0 {
		t.Fatalf("len %d, snapshots %v", q.len(), q.snaps)
	}
}

func TestEventsURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8317":      "ws://127.0.0.1:8317/ws",
		"http://localhost:8317/":     "ws://localhost:8317/ws",
		"https://127.0.0.1:8443":     "wss://127.0.0.1:8443/ws",
		"http://0.0.0.0:8317":        "ws://127.0.0.1:8317/ws",
		"http://[::]:8317":           "ws://[::1]:8317/ws",
		"http://[::1]:8317":          "ws://[::1]:8317/ws",
		"http://127.0.0.1:8317/?x=1": "ws://127.0.0.1:8317/ws",
		" http://127.0.0.1:1 ":       "ws://127.0.0.1:1/ws",
	} {
		got, err := eventsURL(base)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", base, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8317", "ftp://127.0.0.1", "http://"} {
		if got, err := eventsURL(bad); !errors.Is(err, errBadURL) {
			t.Errorf("%q: got %q, %v; want errBadURL", bad, got, err)
		}
	}
}

// Wake ends a wait; a closed Wake is ignored instead of ending every wait
// at once (which would spin).
func TestEventsWaitWake(t *testing.T) {
	never := func(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	c := &eventsClient{wake: wake, hooks: eventsHooks{after: never}}
	if !c.wait(t.Context(), time.Hour) {
		t.Fatal("Wake did not end the wait")
	}

	close(wake)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// Both the closed Wake and ctx are ready: the wait must always end
	// because of ctx, never report a wake-up.
	for range 100 {
		c := &eventsClient{wake: wake, hooks: eventsHooks{after: never}}
		if c.wait(ctx, time.Hour) {
			t.Fatal("a closed Wake ended the wait")
		}
	}
}

func TestEventsBackoff(t *testing.T) {
	b := backoff{min: 250 * time.Millisecond, max: 30 * time.Second}
	var steps []time.Duration
	for range 10 {
		b.fail()
		steps = append(steps, b.cur)
		for range 20 {
			if d := b.delay(); d < b.cur/2 || d > b.cur {
				t.Fatalf("delay %v for step %v", d, b.cur)
			}
		}
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	b.reset()
	b.fail()
	if b.cur != b.min {
		t.Fatalf("after reset: %v", b.cur)
	}
	b.giveUp()
	if b.cur != b.max {
		t.Fatalf("after giveUp: %v", b.cur)
	}
}

func TestHubBroadcast(t *testing.T) {
	h := NewHub(slog.New(slog.DiscardHandler))
	defer h.Close()
	st := AppState{Proxy: Running, BaseURL: "http://127.0.0.1:8317", RequestsToday: 3}
	ev := activity.Request{Kind: activity.RequestFinished, ID: "msg_1"}
	// Nobody listens: no more work than Publish, and no encoding.
	pub := testing.AllocsPerRun(100, func() { h.Publish(ev) })
	bc := testing.AllocsPerRun(100, func() { h.Broadcast("state", st) })
	t.Logf("idle hub: Publish %v allocs, Broadcast %v", pub, bc)
	if bc > pub {
		t.Fatalf("Broadcast allocates %v times on an idle hub, Publish %v", bc, pub)
	}

	ch, cancel := h.Subscribe()
	defer cancel()
	h.Broadcast("state", st)
	h.Broadcast("accounts", []map[string]any{{"name": "work"}})
	want, _ := json.Marshal(st)
	for _, w := range []struct{ typ, data string }{{"state", string(want)}, {"accounts", `[{"name":"work"}]`}} {
		env := <-ch
		if raw, ok := env.Data.(json.RawMessage); env.Type != w.typ || !ok || string(raw) != w.data {
			t.Fatalf("got %s %#v, want %s %s", env.Type, env.Data, w.typ, w.data)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	ev := activity.Request{Kind: activity.RequestFinished, ID: "msg_1", Model: "m", Status: 200, OutputTokens: 7, Latency: time.Second}
	msg, err := json.Marshal(Envelope{Type: "request", Data: ev})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][]byte{
		msg,
		[]byte(`{"data":` + string(msg[len(requestPrefix):len(msg)-1]) + `,"type":"request"}`), // other order: the long way
		[]byte(`{"type":"request","data":{"id":"msg_1"} ,"extra":{"x":1}}`),                    // shortcut fails: the long way
	} {
		env, ok := decodeEvent(m)
		want, wantOK := decodeEnvelope(m)
		if ok != wantOK || !reflect.DeepEqual(env, want) {
			t.Errorf("%s: decodeEvent %+v %v, decodeEnvelope %+v %v", m, env, ok, want, wantOK)
		}
	}
	if env, ok := decodeEvent(msg); !ok || env.Data.(activity.Request) != ev {
		t.Errorf("got %+v", env)
	}
	for _, m := range []string{`{"type":"request","data":}`, `{"type":"request","data":`, `not json`} {
		if _, ok := decodeEvent([]byte(m)); ok {
			t.Errorf("%s decoded", m)
		}
	}
	if env, ok := decodeEvent([]byte(`{"type":"state","data":{"proxy":"running"}}`)); !ok || env.Type != "state" {
		t.Errorf("state: %+v", env)
	}
}
