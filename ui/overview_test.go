package ui

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
)

func TestOverviewQuotaBars(t *testing.T) {
	test.NewTempApp(t)
	c, w, _ := newWinController(t, newCore(t, app.Config{}))
	o := newOverview(c)
	w.SetContent(o.content)
	if !o.quotaNone.Visible() || len(o.quotaRows) != 0 {
		t.Fatal("quota rows before any account")
	}
	accounts := testAccounts()
	accounts[2].StateReason = "Kiro suspended the account"
	accounts[0].RequestsToday = 7
	c.accountList = accounts
	o.applyAccounts(accounts)
	if o.quotaNone.Visible() || len(o.quotaRows) != 4 {
		t.Fatalf("%d rows", len(o.quotaRows))
	}
	want := []struct {
		name, bar, caption string
		value              float64
	}{
		{"work", "62% left", "KIRO PRO: 620 of 1000 left, resets Dec 1. Requests today: 7.", 62},
		{"spare", "100% left", "Disabled.", 100},
		{"old", "not checked yet", "Suspended", 0},
		{"new", "not checked yet", "The quota is read while the proxy runs.", 0},
	}
	for i, r := range o.quotaRows {
		if r.name.Text != want[i].name || r.bar.TextFormatter() != want[i].bar || r.caption.Text != want[i].caption || r.bar.Value != want[i].value {
			t.Errorf("row %d: %q %q %q %v, want %+v", i, r.name.Text, r.bar.TextFormatter(), r.caption.Text, r.bar.Value, want[i])
		}
	}
	w.Content().Refresh()
	markup := test.RenderToMarkup(w.Canvas())
	for _, s := range []string{"62% left", "KIRO PRO: 620 of 1000 left, resets Dec 1. Requests today: 7.", "work"} {
		if !strings.Contains(markup, s) {
			t.Errorf("Overview lacks %q", s)
		}
	}
}

// TestOverviewPortInUse: a start on a busy port offers the next free one,
// and the button moves the proxy there.
func TestOverviewPortInUse(t *testing.T) {
	test.NewTempApp(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	core := newCore(t, app.Config{Listen: busy.Addr().String()})
	c, w, errs := newWinController(t, core)
	o := newOverview(c)
	w.SetContent(o.content)

	test.Tap(o.toggle)
	st := core.State()
	o.apply(st)
	if st.Proxy != app.Failed || st.SuggestedListen == "" {
		t.Fatalf("state %+v", st)
	}
	if !o.suggest.Visible() || o.suggest.Text != "Use "+st.SuggestedListen {
		t.Fatalf("offer shown %v, %q", o.suggest.Visible(), o.suggest.Text)
	}
	if !strings.Contains(o.detail.Text, "in use") || !strings.Contains(o.detail.Text, st.SuggestedListen) {
		t.Errorf("detail %q", o.detail.Text)
	}

	test.Tap(o.suggest)
	after := core.State()
	o.apply(after)
	if after.Proxy != app.Running || hostPort(after.BaseURL) != st.SuggestedListen {
		t.Fatalf("after the offer: %+v", after)
	}
	if o.suggest.Visible() || o.toggle.Text != "Stop proxy" {
		t.Fatalf("offer still shown %v, toggle %q", o.suggest.Visible(), o.toggle.Text)
	}
	if len(*errs) > 0 {
		t.Fatal(*errs)
	}
}

// TestOverviewDemo: with no account the Overview says replies are
// simulated and offers the sign-in; with one, a restart to use it.
func TestOverviewDemo(t *testing.T) {
	test.NewTempApp(t)
	core := newCore(t, app.Config{})
	c, w, errs := newWinController(t, core)
	signIns := 0
	c.openSignIn = func() { signIns++ }
	o := newOverview(c)
	w.SetContent(o.content)
	if o.demo.Visible() {
		t.Fatal("the demo line shows before the account list is known")
	}
	c.accountList = []app.AccountView{}
	o.applyAccounts(c.accountList)
	if !o.demo.Visible() || !o.demoSignIn.Visible() || o.restart.Visible() || !strings.Contains(o.demoText.Text, "simulated replies") {
		t.Fatalf("stopped, no account: demo %v, %q", o.demo.Visible(), o.demoText.Text)
	}

	test.Tap(o.toggle)
	o.apply(core.State())
	if !o.demo.Visible() || !strings.Contains(o.detail.Text, "replies are simulated") {
		t.Fatalf("running demo: demo %v, detail %q", o.demo.Visible(), o.detail.Text)
	}
	test.Tap(o.demoSignIn)
	if signIns != 1 {
		t.Fatalf("Sign in… opened the sign-in %d times", signIns)
	}

	c.accountList = testAccounts()
	o.applyAccounts(c.accountList)
	if !o.demo.Visible() || o.demoSignIn.Visible() || !o.restart.Visible() || !strings.Contains(o.demoText.Text, "Restart the proxy") {
		t.Fatalf("demo with an account: %q, restart %v", o.demoText.Text, o.restart.Visible())
	}
	test.Tap(o.restart)
	if st := core.State(); st.Proxy != app.Running {
		t.Fatalf("after Restart: %+v", st)
	}

	if !o.checkQuota.Disabled() {
		t.Error("Check quota now is offered while the demo serves")
	}
	o.apply(app.AppState{Proxy: app.Running, Upstream: "kiro", BaseURL: "http://127.0.0.1:8317"})
	if o.demo.Visible() || o.checkQuota.Disabled() {
		t.Fatalf("while Kiro serves: demo line %v, Check quota now enabled %v", o.demo.Visible(), !o.checkQuota.Disabled())
	}
	test.Tap(o.checkQuota) // no pool to ask here: a no-op that must not block or fail
	if len(*errs) > 0 {
		t.Fatal(*errs)
	}
}

// fakeClients stands in for the core's client setup: no test writes the
// real ~/.claude or ~/.codex.
type fakeClients struct {
	planErr    error
	configured []string
	undone     []string
	canUndo    map[string]bool
}

func (f *fakeClients) PlanClientSetup(client string) (string, error) {
	if f.planErr != nil {
		return "", f.planErr
	}
	return "Edit ~/.claude/settings.json: env.ANTHROPIC_BASE_URL = http://127.0.0.1:8317 (" + client + ")", nil
}

func (f *fakeClients) ConfigureClient(client string) (string, error) {
	f.configured = append(f.configured, client)
	f.canUndo[client] = true
	return "Claude Code now uses kirotray.", nil
}

func (f *fakeClients) UndoClientSetup(client string) error {
	f.undone = append(f.undone, client)
	f.canUndo[client] = false
	return nil
}

func (f *fakeClients) CanUndoClientSetup(client string) bool { return f.canUndo[client] }

func TestOverviewConfiguresClients(t *testing.T) {
	test.NewTempApp(t)
	c, w, errs := newWinController(t, newCore(t, app.Config{}))
	fake := &fakeClients{canUndo: map[string]bool{app.ClientCodex: true}}
	c.clients = fake
	o := newOverview(c)
	w.SetContent(o.content)
	claude, codex := o.clients[app.ClientClaudeCode], o.clients[app.ClientCodex]
	if !claude.undo.Disabled() || codex.undo.Disabled() {
		t.Fatal("Undo is enabled where the core cannot undo, or the reverse")
	}

	test.Tap(claude.configure)
	d := top(t, w)
	s := texts(d)
	if !strings.Contains(s, "Configure Claude Code?") || !strings.Contains(s, "Edit ~/.claude/settings.json") {
		t.Fatalf("confirmation %q", s)
	}
	if len(fake.configured) != 0 {
		t.Fatal("configured before the person confirmed")
	}
	test.Tap(button(t, d, "Configure"))
	if strings.Join(fake.configured, " ") != app.ClientClaudeCode {
		t.Fatalf("configured %q", fake.configured)
	}
	d = top(t, w)
	s = texts(d)
	if !strings.Contains(s, "Claude Code now uses kirotray.") || !strings.Contains(s, "Restart any Claude Code sessions that are running") {
		t.Fatalf("result %q", s)
	}
	if claude.undo.Disabled() {
		t.Fatal("no Undo after Configure")
	}
	test.Tap(button(t, d, "OK"))

	test.Tap(claude.undo)
	if strings.Join(fake.undone, " ") != app.ClientClaudeCode || !claude.undo.Disabled() {
		t.Fatalf("undone %q, undo enabled %v", fake.undone, !claude.undo.Disabled())
	}
	if s := texts(top(t, w)); !strings.Contains(s, "Claude Code settings restored") {
		t.Fatalf("after Undo %q", s)
	}

	// Codex CLI: Cancel changes nothing.
	test.Tap(codex.configure)
	d = top(t, w)
	if s := texts(d); !strings.Contains(s, "Configure Codex CLI?") {
		t.Fatalf("confirmation %q", s)
	}
	test.Tap(button(t, d, "Cancel"))
	if len(fake.configured) != 1 {
		t.Fatalf("configured %q after Cancel", fake.configured)
	}
	if len(*errs) > 0 {
		t.Fatal(*errs)
	}

	// A plan that cannot be made is an error shown to the person.
	fake.planErr = errors.New("~/.claude/settings.json is not valid JSON")
	test.Tap(claude.configure)
	if len(*errs) != 1 || (*errs)[0].Error() != "Claude Code cannot be configured: ~/.claude/settings.json is not valid JSON" {
		t.Fatalf("errors %v", *errs)
	}
}

// TestTrayConfiguresClaudeCode: the tray's item shows the window on the
// Overview and asks before configuring.
func TestTrayConfiguresClaudeCode(t *testing.T) {
	test.NewTempApp(t)
	c, w, _ := newWinController(t, newCore(t, app.Config{}))
	c.clients = &fakeClients{canUndo: map[string]bool{}}
	shown := 0
	c.show = func() { shown++ }
	v := newWindowContent(c)
	w.SetContent(v.tabs)
	c.configure = func(client string) { v.configure(c, client) }
	v.tabs.SelectIndex(1)

	c.actions().configureClaude()
	if shown != 1 || v.tabs.Selected().Content != v.overview.content {
		t.Fatalf("shown %d, tab %q", shown, v.tabs.Selected().Text)
	}
	if s := texts(top(t, w)); !strings.Contains(s, "Configure Claude Code?") {
		t.Fatalf("dialog %q", s)
	}
}

// TestOverviewApplyTransitions: apply refreshes only what changed, so every
// transition must still reach each widget, and a count-only change must
// leave the rest as it was.
func TestOverviewApplyTransitions(t *testing.T) {
	test.NewTempApp(t)
	c, w, _ := newWinController(t, newCore(t, app.Config{}))
	o := newOverview(c)
	w.SetContent(o.content)
	running := app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317", Upstream: "kiro"}
	steps := []struct {
		st                      app.AppState
		status, toggle, suggest string
		disabled                bool
	}{
		{running, "Proxy running on 127.0.0.1:8317", "Stop proxy", "", false},
		{app.AppState{Proxy: app.Stopping, BaseURL: running.BaseURL, Upstream: "kiro"}, "Proxy stopping", "Stop proxy", "", true},
		{app.AppState{Proxy: app.Stopped, BaseURL: running.BaseURL, Upstream: "kiro"}, "Proxy stopped", "Start proxy", "", false},
		{app.AppState{Proxy: app.Failed, BaseURL: running.BaseURL, Message: "busy", SuggestedListen: "127.0.0.1:8318"}, "Proxy error", "Start proxy", "Use 127.0.0.1:8318", false},
		{app.AppState{Proxy: app.Starting, BaseURL: running.BaseURL}, "Proxy starting", "Start proxy", "", true},
		{running, "Proxy running on 127.0.0.1:8317", "Stop proxy", "", false},
	}
	for i, s := range steps {
		o.apply(s.st)
		suggest := ""
		if o.suggest.Visible() {
			suggest = o.suggest.Text
		}
		if o.status.Text != s.status || o.toggle.Text != s.toggle || suggest != s.suggest || o.toggle.Disabled() != s.disabled {
			t.Errorf("step %d (%v): status %q, toggle %q (disabled %v), suggest %q", i, s.st.Proxy, o.status.Text, o.toggle.Text, o.toggle.Disabled(), suggest)
		}
		if want := trayIcon(s.st.Proxy, isDark()); o.icon.Resource != want {
			t.Errorf("step %d: icon %s, want %s", i, o.icon.Resource.Name(), want.Name())
		}
	}
	if o.toggle.Icon.Name() != theme.MediaStopIcon().Name() || o.toggle.Importance != widget.MediumImportance {
		t.Errorf("running toggle: icon %s, importance %v", o.toggle.Icon.Name(), o.toggle.Importance)
	}
	for i := range 50 {
		st := running
		st.RequestsToday = i + 1
		o.apply(st)
	}
	if o.requests.Text != "50" || o.lastError.Text != "none" || o.status.Text != "Proxy running on 127.0.0.1:8317" {
		t.Fatalf("after a burst: requests %q, last error %q, status %q", o.requests.Text, o.lastError.Text, o.status.Text)
	}
	st := running
	st.LastError = "12:00:00 m: 429 slow down"
	o.apply(st)
	if o.lastError.Text != st.LastError || o.requests.Text != "0" {
		t.Fatalf("last error %q, requests %q", o.lastError.Text, o.requests.Text)
	}
}

// TestOverviewQuotaRowsInPlace: a new list of the same accounts (new
// request counts, about once a second under load) updates the rows it
// has; a different list builds new ones.
func TestOverviewQuotaRowsInPlace(t *testing.T) {
	test.NewTempApp(t)
	c, w, _ := newWinController(t, newCore(t, app.Config{}))
	o := newOverview(c)
	w.SetContent(o.content)
	accounts := testAccounts()
	o.applyAccounts(accounts)
	rows := slices.Clone(o.quotaRows)

	again := testAccounts()
	again[0].RequestsToday = 3
	again[0].Quota.RemainingPercent = 40
	again[3].Quota = &app.Quota{Remaining: 5, Limit: 50, RemainingPercent: 10}
	o.applyAccounts(again)
	if !slices.Equal(rows, o.quotaRows) {
		t.Fatal("the same accounts built new rows")
	}
	r := o.quotaRows[0]
	if r.caption.Text != "KIRO PRO: 620 of 1000 left, resets Dec 1. Requests today: 3." || r.bar.TextFormatter() != "40% left" || r.bar.Value != 40 {
		t.Errorf("row 0: %q %q %v", r.caption.Text, r.bar.TextFormatter(), r.bar.Value)
	}
	if r := o.quotaRows[3]; r.bar.TextFormatter() != "10% left" || r.bar.Value != 10 || r.caption.Text != "5 of 50 left." {
		t.Errorf("row 3: %q %q %v", r.caption.Text, r.bar.TextFormatter(), r.bar.Value)
	}

	o.applyAccounts(again[:2])
	if len(o.quotaRows) != 2 || o.quotaRows[0] == rows[0] {
		t.Fatalf("a shorter list kept %d rows (reused: %v)", len(o.quotaRows), o.quotaRows[0] == rows[0])
	}
	o.applyAccounts(nil)
	if len(o.quotaRows) != 0 || !o.quotaNone.Visible() {
		t.Fatalf("no accounts: %d rows", len(o.quotaRows))
	}
}
