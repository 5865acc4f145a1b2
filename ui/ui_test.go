package ui

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"go.uber.org/goleak"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
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
