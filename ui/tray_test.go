package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"

	"github.com/kirotray/kirotray/app"
)

func TestTrayItems(t *testing.T) {
	var called []string
	act := actions{
		start:           func() { called = append(called, "start") },
		stop:            func() { called = append(called, "stop") },
		copyURL:         func() { called = append(called, "copyURL") },
		copySetup:       func() { called = append(called, "copySetup") },
		signIn:          func() { called = append(called, "signIn") },
		configureClaude: func() { called = append(called, "configureClaude") },
		show:            func() { called = append(called, "show") },
		quit:            func() { called = append(called, "quit") },
	}
	running := app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317", Upstream: "kiro"}
	tests := []struct {
		name        string
		st          app.AppState
		status      string
		toggle      string
		toggleOn    bool // enabled
		toggleCalls string
		copyOn      bool
	}{
		{"stopped", app.AppState{Proxy: app.Stopped, BaseURL: "http://127.0.0.1:8317"}, "Stopped", "Start proxy", true, "start", false},
		{"starting", app.AppState{Proxy: app.Starting}, "Starting…", "Starting…", false, "", false},
		{"running", running, "Running on 127.0.0.1:8317", "Stop proxy", true, "stop", true},
		{"running demo", app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:9000", Upstream: "demo"}, "Running on 127.0.0.1:9000 (demo)", "Stop proxy", true, "stop", true},
		{"stopping", app.AppState{Proxy: app.Stopping}, "Stopping…", "Stopping…", false, "", false},
		{"failed", app.AppState{Proxy: app.Failed, Message: "port in use"}, "Not running: error", "Start proxy", true, "start", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := trayItems(tt.st, testAccounts(), act)
			want := []string{tt.status, tt.toggle, "", "Sign in…",
				"work — 62% left, resets Dec 1", "spare — disabled", "old — suspended", "new — quota not checked yet", "",
				"Copy base URL", "Copy Claude Code setup", "Configure Claude Code…", "", "Open window", "", "Quit"}
			if got := labels(items); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("items\n got %q\nwant %q", got, want)
			}
			if !items[0].Disabled {
				t.Error("the status line must not be clickable")
			}
			if items[1].Disabled == tt.toggleOn {
				t.Errorf("toggle disabled = %v", items[1].Disabled)
			}
			for i := 4; i <= 7; i++ {
				if !items[i].Disabled {
					t.Errorf("quota line %q is clickable", items[i].Label)
				}
			}
			copyURL, copySetup := item(t, items, "Copy base URL"), item(t, items, "Copy Claude Code setup")
			if copyURL.Disabled == tt.copyOn || copySetup.Disabled == tt.copyOn {
				t.Errorf("copy items disabled = %v, %v", copyURL.Disabled, copySetup.Disabled)
			}
			if quit := items[len(items)-1]; !quit.IsQuit {
				t.Error("Quit must replace Fyne's own")
			}
			called = nil
			if f := items[1].Action; f != nil {
				f()
			}
			if got := join(called); got != tt.toggleCalls {
				t.Errorf("toggle called %q, want %q", got, tt.toggleCalls)
			}
			called = nil
			for _, l := range []string{"Sign in…", "Configure Claude Code…", "Open window", "Quit"} {
				item(t, items, l).Action()
			}
			if got := join(called); got != "signIn configureClaude show quit" {
				t.Errorf("called %q", got)
			}
		})
	}
}

// TestTrayItemsFirstStart: with no account the menu says replies are
// simulated and offers the sign-in, so a first start is never a dead end.
func TestTrayItemsFirstStart(t *testing.T) {
	for _, st := range []app.AppState{
		{Proxy: app.Stopped, BaseURL: "http://127.0.0.1:8317"},
		{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317", Upstream: "demo"},
	} {
		items := trayItems(st, []app.AccountView{}, actions{})
		got := labels(items)
		if got[3] != "No Kiro account yet: replies are simulated" || !items[3].Disabled || got[4] != "Sign in…" {
			t.Errorf("%v: items %q", st.Proxy, got)
		}
	}
	// A credentials file serves Kiro with no stored account; before the
	// first list arrives nothing is known: no demo line in either case.
	for _, tt := range []struct {
		st       app.AppState
		accounts []app.AccountView
	}{
		{app.AppState{Proxy: app.Running, Upstream: "kiro"}, []app.AccountView{}},
		{app.AppState{Proxy: app.Stopped}, nil},
	} {
		if got := labels(trayItems(tt.st, tt.accounts, actions{})); got[3] != "Sign in…" {
			t.Errorf("%+v: items %q", tt.st, got)
		}
	}
}

func TestAccountMenuLine(t *testing.T) {
	reset := time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local)
	until := time.Date(2026, 11, 3, 14, 5, 0, 0, time.Local)
	q := func(rem, limit float64) *app.Quota {
		return &app.Quota{Remaining: rem, Limit: limit, RemainingPercent: 100 * rem / limit, ResetAt: reset}
	}
	tests := []struct {
		v    app.AccountView
		want string
	}{
		{view("work", true, "", q(62.9, 100)), "work — 62% left, resets Dec 1"},
		{view("w", true, app.StateActive, &app.Quota{Remaining: 5, Limit: 50, RemainingPercent: 10}), "w — 10% left"},
		{view("x", true, "", nil), "x — quota not checked yet"},
		{view("x", false, app.StateSuspended, q(1, 2)), "x — disabled"},
		{view("x", true, app.StateSuspended, nil), "x — suspended"},
		{view("x", true, app.StateNeedsSignIn, nil), "x — needs a new sign-in"},
		{view("x", true, app.StateQuotaExhausted, q(0, 50)), "x — quota used up, resets Dec 1"},
		{withUntil(view("x", true, app.StateCooling, nil), until), "x — cooling down until Nov 3 14:05"},
	}
	for _, tt := range tests {
		if got := accountMenuLine(tt.v); got != tt.want {
			t.Errorf("accountMenuLine(%+v) = %q, want %q", tt.v.AccountMeta, got, tt.want)
		}
	}
}

func join(s []string) string { return strings.Join(s, " ") }

func labels(items []*fyne.MenuItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Label)
	}
	return out
}

func item(t *testing.T, items []*fyne.MenuItem, label string) *fyne.MenuItem {
	t.Helper()
	for _, it := range items {
		if it.Label == label {
			return it
		}
	}
	t.Fatalf("no %q in %q", label, labels(items))
	return nil
}

func view(name string, enabled bool, st app.AccountState, q *app.Quota) app.AccountView {
	return app.AccountView{AccountMeta: app.AccountMeta{Name: name, Enabled: enabled, State: st, Quota: q}}
}

func withUntil(v app.AccountView, until time.Time) app.AccountView {
	v.StateUntil = until
	return v
}

// testAccounts is a list with one account in each kind of state.
func testAccounts() []app.AccountView {
	reset := time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local)
	return []app.AccountView{
		view("work", true, app.StateActive, &app.Quota{Plan: "KIRO PRO", Unit: "Credits", Remaining: 620, Limit: 1000, RemainingPercent: 62, ResetAt: reset}),
		view("spare", false, "", &app.Quota{Remaining: 50, Limit: 50, RemainingPercent: 100}),
		view("old", true, app.StateSuspended, nil),
		view("new", true, "", nil),
	}
}

func TestTooltipAndIcon(t *testing.T) {
	tests := []struct {
		st       app.AppState
		accounts []app.AccountView
		tip      string
		icon     string
	}{
		{app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317"}, nil, "kirotray — running on 127.0.0.1:8317", "tray-running-light.png"},
		{app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317", Upstream: "kiro"}, testAccounts(), "kirotray — running on 127.0.0.1:8317 — 62% quota left", "tray-running-light.png"},
		{app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317", Upstream: "kiro"}, []app.AccountView{
			view("a", true, "", &app.Quota{Remaining: 10, Limit: 100}),
			view("b", true, "", &app.Quota{Remaining: -5, Limit: 50}), // overage counts as nothing left
		}, "kirotray — running on 127.0.0.1:8317 — 6% quota left", "tray-running-light.png"},
		{app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317", Upstream: "demo"}, []app.AccountView{}, "kirotray — running on 127.0.0.1:8317 — simulated replies", "tray-running-light.png"},
		{app.AppState{Proxy: app.Stopped}, testAccounts(), "kirotray — stopped", "tray-stopped-light.png"},
		{app.AppState{Proxy: app.Starting}, nil, "kirotray — starting…", "tray-stopped-light.png"},
		{app.AppState{Proxy: app.Failed, Message: "The port is in use."}, nil, "kirotray — error: The port is in use.", "tray-error-light.png"},
	}
	for _, tt := range tests {
		if got := tooltip(tt.st, tt.accounts); got != tt.tip {
			t.Errorf("tooltip(%v) = %q, want %q", tt.st.Proxy, got, tt.tip)
		}
		if got := trayIcon(tt.st.Proxy, false).Name(); got != tt.icon {
			t.Errorf("icon(%v) = %q, want %q", tt.st.Proxy, got, tt.icon)
		}
	}
	for _, dark := range []bool{false, true} {
		for _, p := range []app.ProxyState{app.Stopped, app.Starting, app.Running, app.Stopping, app.Failed} {
			if r := trayIcon(p, dark); r == nil || len(r.Content()) == 0 {
				t.Errorf("no icon for %v dark=%v", p, dark)
			}
		}
	}
}

// fakeDesk records what the tray is told.
type fakeDesk struct {
	menus int
	icon  fyne.Resource
	menu  *fyne.Menu
}

func (d *fakeDesk) SetSystemTrayMenu(m *fyne.Menu)    { d.menus++; d.menu = m }
func (d *fakeDesk) SetSystemTrayIcon(r fyne.Resource) { d.icon = r }
func (d *fakeDesk) SetSystemTrayWindow(fyne.Window)   {}

func TestTrayApplySkipsCounterOnlyChanges(t *testing.T) {
	d := &fakeDesk{}
	tr := newTray(d, actions{}, true)
	st := app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317"}
	tr.apply(st)
	for i := range 100 {
		st.RequestsToday = i
		tr.apply(st)
	}
	if d.menus != 1 {
		t.Fatalf("menu rebuilt %d times, want 1", d.menus)
	}
	if d.icon.Name() != "tray-running-dark.png" || d.menu.Items[1].Label != "Stop proxy" {
		t.Fatalf("icon %s, toggle %q", d.icon.Name(), d.menu.Items[1].Label)
	}
	st.Proxy = app.Stopped
	tr.apply(st)
	if d.menus != 2 || d.icon.Name() != "tray-stopped-dark.png" || d.menu.Items[1].Label != "Start proxy" {
		t.Fatalf("after stop: %d rebuilds, icon %s", d.menus, d.icon.Name())
	}
}

func TestTrayApplyAccounts(t *testing.T) {
	d := &fakeDesk{}
	tr := newTray(d, actions{}, false)
	tr.apply(app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317", Upstream: "kiro"})
	accounts := testAccounts()
	tr.applyAccounts(accounts)
	if d.menus != 2 || !strings.Contains(join(labels(d.menu.Items)), "work — 62% left, resets Dec 1") {
		t.Fatalf("%d rebuilds, items %q", d.menus, labels(d.menu.Items))
	}
	// A quota check that finds the same numbers changes nothing on screen.
	again := testAccounts()
	again[0].Quota.CheckedAt = time.Now()
	tr.applyAccounts(again)
	if d.menus != 2 {
		t.Fatalf("menu rebuilt for an invisible change (%d)", d.menus)
	}
	again[0].Quota.RemainingPercent = 40
	tr.applyAccounts(again)
	if d.menus != 3 || item(t, d.menu.Items, "work — 40% left, resets Dec 1") == nil {
		t.Fatalf("%d rebuilds, items %q", d.menus, labels(d.menu.Items))
	}
}

// TestTrayApplyRedrawsOnLanguageChange: the same state in another language
// is a new menu.
func TestTrayApplyRedrawsOnLanguageChange(t *testing.T) {
	defer setLanguage("en")
	d := &fakeDesk{}
	tr := newTray(d, actions{}, false)
	st := app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317"}
	tr.apply(st)
	setLanguage("zh")
	tr.apply(st)
	if d.menus != 2 || d.menu.Items[1].Label != zhStrings["Stop proxy"] {
		t.Fatalf("%d rebuilds, toggle %q", d.menus, d.menu.Items[1].Label)
	}
}
