package ui

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"go.uber.org/goleak"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/activity"
)

func TestMain(m *testing.M) {
	os.Setenv("LANGUAGE", "en") // fyne logs a locale error under LANG=C
	goleak.VerifyTestMain(m)
}

// newTestCore returns a core on a free port with the demo upstream.
func newTestCore(t *testing.T) *app.App {
	t.Helper()
	core := app.New(app.Config{
		Listen:    "127.0.0.1:0",
		APIKey:    "kt-test-key",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Keychain:  &keychain.Memory{},
		ConfigDir: t.TempDir(),
		Version:   "test",
	})
	t.Cleanup(core.Close)
	return core
}

// newTestController runs core calls inline, so a tap has taken effect when
// test.Tap returns.
func newTestController(t *testing.T, core *app.App) (*controller, *[]error) {
	var errs []error
	return &controller{
		core:       core,
		ctx:        context.Background(),
		background: func(f func()) { f() },
		showError:  func(err error) { errs = append(errs, err) },
		show:       func() {},
		quit:       func() {},
	}, &errs
}

func TestOverviewStartStop(t *testing.T) {
	a := test.NewTempApp(t)
	core := newTestCore(t)
	c, errs := newTestController(t, core)
	v := newWindowContent(c)
	w := test.NewTempWindow(t, v.tabs)
	w.Resize(defaultWindowSize)
	o := v.overview
	o.apply(core.State())
	if o.toggle.Text != "Start proxy" || o.status.Text != "Proxy stopped" {
		t.Fatalf("initial: %q %q", o.toggle.Text, o.status.Text)
	}

	test.Tap(o.toggle)
	o.apply(core.State()) // what the Watch loop does
	st := core.State()
	if st.Proxy != app.Running {
		t.Fatalf("after tap: %+v", st)
	}
	if o.toggle.Text != "Stop proxy" || !strings.HasPrefix(o.status.Text, "Proxy running on 127.0.0.1:") {
		t.Fatalf("running: %q %q", o.toggle.Text, o.status.Text)
	}
	if o.baseURL.Text != st.BaseURL || !strings.Contains(o.detail.Text, "Demo upstream") {
		t.Fatalf("base URL %q, detail %q", o.baseURL.Text, o.detail.Text)
	}
	markup := test.RenderToMarkup(w.Canvas())
	for _, want := range []string{"Stop proxy", "Copy Claude Code setup", "Requests today", maskedKey} {
		if !strings.Contains(markup, want) {
			t.Errorf("window lacks %q", want)
		}
	}

	test.Tap(o.copyURL)
	if got := a.Clipboard().Content(); got != st.BaseURL {
		t.Errorf("clipboard %q after Copy base URL", got)
	}
	test.Tap(o.copySetup)
	want := "export ANTHROPIC_BASE_URL=" + st.BaseURL + "\nexport ANTHROPIC_API_KEY=kt-test-key\n"
	if got := a.Clipboard().Content(); got != want {
		t.Errorf("clipboard %q, want %q", got, want)
	}

	test.Tap(o.toggle)
	o.apply(core.State())
	if core.State().Proxy != app.Stopped || o.toggle.Text != "Start proxy" {
		t.Fatalf("after stop: %v %q", core.State().Proxy, o.toggle.Text)
	}
	if len(*errs) > 0 {
		t.Fatal(*errs)
	}
}

func TestOverviewKeyReveal(t *testing.T) {
	a := test.NewTempApp(t)
	c, _ := newTestController(t, newTestCore(t))
	o := newOverview(c)
	test.NewTempWindow(t, o.content)
	if o.key.Text != maskedKey {
		t.Fatal(o.key.Text)
	}
	test.Tap(o.reveal)
	if o.key.Text != "kt-test-key" || o.reveal.Text != "Hide" {
		t.Fatalf("revealed: %q %q", o.key.Text, o.reveal.Text)
	}
	test.Tap(o.reveal)
	if o.key.Text != maskedKey || o.reveal.Text != "Show" {
		t.Fatalf("hidden again: %q %q", o.key.Text, o.reveal.Text)
	}
	test.Tap(o.copyKey)
	if got := a.Clipboard().Content(); got != "kt-test-key" {
		t.Fatalf("clipboard %q", got)
	}
}

func TestOverviewShowsErrors(t *testing.T) {
	test.NewTempApp(t)
	c, _ := newTestController(t, newTestCore(t))
	o := newOverview(c)
	o.apply(app.AppState{Proxy: app.Failed, Message: "The port is in use by another program.", BaseURL: "http://127.0.0.1:8317", LastError: "12:00:00 m: 429 rate limited", RequestsToday: 7})
	if o.status.Text != "Proxy error" || o.detail.Text != "The port is in use by another program." || o.toggle.Text != "Start proxy" {
		t.Fatalf("%q %q %q", o.status.Text, o.detail.Text, o.toggle.Text)
	}
	if o.requests.Text != "7" || o.lastError.Text != "12:00:00 m: 429 rate limited" {
		t.Fatalf("%q %q", o.requests.Text, o.lastError.Text)
	}
	o.apply(app.AppState{Proxy: app.Starting})
	if !o.toggle.Disabled() {
		t.Fatal("toggle enabled while starting")
	}
}

// manualArm collects the coalescing timer's callbacks so a test fires them.
type manualArm struct{ fns []func() }

func (m *manualArm) arm(f func()) { m.fns = append(m.fns, f) }

func (m *manualArm) fire() {
	fns := m.fns
	m.fns = nil
	for _, f := range fns {
		f()
	}
}

func TestLiveTableFromEvents(t *testing.T) {
	test.NewTempApp(t)
	l := newLive()
	clock := &manualArm{}
	l.arm = clock.arm
	w := test.NewTempWindow(t, l.content)
	w.Resize(defaultWindowSize)

	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.Local)
	events := []activity.Request{
		{Kind: activity.RequestStarted, ID: "r1", Time: t0, Client: "claude-code", Model: "claude-sonnet-4-5", Stream: true},
		{Kind: activity.RequestStarted, ID: "r2", Time: t0.Add(time.Second), Client: "curl", Model: "claude-haiku-4-5"},
		{Kind: activity.RequestProgress, ID: "r1", Time: t0.Add(2 * time.Second), Client: "claude-code", Model: "claude-sonnet-4-5", Account: "work", Stream: true, OutputTokens: 40, Latency: 2 * time.Second},
	}
	for _, ev := range events {
		l.receive(ev)
	}
	if len(clock.fns) != 1 {
		t.Fatalf("a burst armed %d timers, want 1", len(clock.fns))
	}
	if len(l.rows) != 0 {
		t.Fatal("applied before the timer fired")
	}
	clock.fire()
	if n, _ := l.table.Length(); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	if got := rowText(l.rows[0]); got != "12:00:01 curl claude-haiku-4-5 — waiting — — —" {
		t.Errorf("newest row %q", got)
	}
	if got := rowText(l.rows[1]); got != "12:00:00 claude-code claude-sonnet-4-5 work streaming — 40 2s" {
		t.Errorf("in-flight row %q", got)
	}
	if l.summary.Text != "2 requests shown, 2 in flight" {
		t.Errorf("summary %q", l.summary.Text)
	}

	l.receive(activity.Request{Kind: activity.RequestFinished, ID: "r1", Time: t0.Add(3 * time.Second), Client: "claude-code", Model: "claude-sonnet-4-5", Account: "work", Stream: true, Status: 200, InputTokens: 1200, OutputTokens: 80, Latency: 3 * time.Second})
	l.receive(activity.Request{Kind: activity.RequestProgress, ID: "r1", OutputTokens: 60}) // late: ignored
	l.receive(activity.Request{Kind: activity.RequestFinished, ID: "r2", Time: t0.Add(3 * time.Second), Client: "curl", Model: "claude-haiku-4-5", Status: 429, Error: "rate limited", Latency: 2 * time.Second})
	clock.fire()
	if got := rowText(l.rows[1]); got != "12:00:00 claude-code claude-sonnet-4-5 work 200 1200 80 3s" {
		t.Errorf("finished row %q", got)
	}
	if got := cell(l.rows[0], 4); got != "429" {
		t.Errorf("status %q", got)
	}
	if l.summary.Text != "2 requests shown, 0 in flight" {
		t.Errorf("summary %q", l.summary.Text)
	}
	w.Content().Refresh()
	markup := test.RenderToMarkup(w.Canvas())
	for _, want := range []string{"claude-sonnet-4-5", "Latency", "1200"} {
		if !strings.Contains(markup, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func rowText(r *liveRow) string {
	var s []string
	for c := range liveColumns {
		s = append(s, cell(r, c))
	}
	return strings.Join(s, " ")
}

func TestLiveKeepsAtMostMaxRows(t *testing.T) {
	test.NewTempApp(t)
	l := newLive()
	var batch []activity.Request
	for i := range maxLiveRows + 50 {
		batch = append(batch, activity.Request{Kind: activity.RequestFinished, ID: string(rune('a'+i%26)) + time.Duration(i).String(), Status: 200})
	}
	l.apply(batch)
	if len(l.rows) != maxLiveRows || len(l.byID) != maxLiveRows {
		t.Fatalf("%d rows, %d ids", len(l.rows), len(l.byID))
	}
}

// TestLiveFollowsTheHub runs the real path: proxy events → hub → Subscribe
// → coalescing timer → table.
func TestLiveFollowsTheHub(t *testing.T) {
	test.NewTempApp(t)
	core := newTestCore(t)
	l := newLive()
	fired := make(chan struct{}, 16)
	l.arm = func(f func()) { time.AfterFunc(time.Millisecond, func() { f(); fired <- struct{}{} }) }
	test.NewTempWindow(t, l.content)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.follow(ctx, core.Hub()) }()
	defer func() { cancel(); <-done }()

	// Wait until follow has subscribed, then publish.
	for core.Hub().Subscribers() == 0 {
		runtime.Gosched()
	}
	core.Hub().Publish(activity.Request{Kind: activity.RequestStarted, ID: "x", Model: "claude-opus-4-1", Time: time.Now()})
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("event never reached the table")
	}
	var n int
	fyne.DoAndWait(func() { n = len(l.rows) })
	if n != 1 || l.rows[0].ev.Model != "claude-opus-4-1" {
		t.Fatalf("%d rows", n)
	}
}
