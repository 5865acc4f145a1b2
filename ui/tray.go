package ui

import (
	"fmt"
	"math"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/assets"
)

// actions are what the tray menu can do. Each must return at once: the
// ones that call the core run it in a goroutine.
type actions struct {
	start, stop        func()
	copyURL, copySetup func()
	signIn             func() // the window on Accounts, with the sign-in dialog
	configureClaude    func() // the window on Overview, with Configure Claude Code…
	show, quit         func()
}

// trayItems is the whole tray menu as a function of state and accounts.
// The menu is rebuilt from it on every change and never edited item by
// item: tray hosts do not reliably apply piecemeal changes.
func trayItems(st app.AppState, accounts []app.AccountView, a actions) []*fyne.MenuItem {
	status := fyne.NewMenuItem(statusLine(st), nil)
	status.Disabled = true

	var toggle *fyne.MenuItem
	switch st.Proxy {
	case app.Running:
		toggle = fyne.NewMenuItem(tr("Stop proxy"), a.stop)
	case app.Starting:
		toggle = fyne.NewMenuItem(tr("Starting…"), nil)
		toggle.Disabled = true
	case app.Stopping:
		toggle = fyne.NewMenuItem(tr("Stopping…"), nil)
		toggle.Disabled = true
	default: // Stopped, Failed
		toggle = fyne.NewMenuItem(tr("Start proxy"), a.start)
	}
	items := []*fyne.MenuItem{status, toggle, fyne.NewMenuItemSeparator()}
	if accounts != nil && len(accounts) == 0 && st.Upstream != "kiro" { // nil: not known yet
		// A first start is never a dead end: the demo answers, sign-in is next.
		none := fyne.NewMenuItem(tr("No Kiro account yet: replies are simulated"), nil)
		none.Disabled = true
		items = append(items, none)
	}
	items = append(items, fyne.NewMenuItem(tr("Sign in…"), a.signIn))
	for _, v := range accounts {
		line := fyne.NewMenuItem(accountMenuLine(v), nil)
		line.Disabled = true
		items = append(items, line)
	}
	copyURL := fyne.NewMenuItem(tr("Copy base URL"), a.copyURL)
	copySetup := fyne.NewMenuItem(tr("Copy Claude Code setup"), a.copySetup)
	copyURL.Disabled = st.Proxy != app.Running
	copySetup.Disabled = st.Proxy != app.Running
	quit := fyne.NewMenuItem(tr("Quit"), a.quit)
	quit.IsQuit = true // replaces the Quit item Fyne would add
	return append(items,
		fyne.NewMenuItemSeparator(),
		copyURL, copySetup, fyne.NewMenuItem(tr("Configure Claude Code…"), a.configureClaude),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem(tr("Open window"), a.show),
		fyne.NewMenuItemSeparator(),
		quit,
	)
}

// accountMenuLine is one account in the tray: "work — 62% left, resets Dec 1".
func accountMenuLine(v app.AccountView) string {
	switch {
	case !v.Enabled:
		return fmt.Sprintf(tr("%s — disabled"), v.Name)
	case v.State == app.StateSuspended:
		return fmt.Sprintf(tr("%s — suspended"), v.Name)
	case v.State == app.StateNeedsSignIn:
		return fmt.Sprintf(tr("%s — needs a new sign-in"), v.Name)
	case v.State == app.StateQuotaExhausted && v.Quota != nil && !v.Quota.ResetAt.IsZero():
		return fmt.Sprintf(tr("%s — quota used up, resets %s"), v.Name, shortDate(v.Quota.ResetAt))
	case v.State == app.StateQuotaExhausted:
		return fmt.Sprintf(tr("%s — quota used up"), v.Name)
	case v.State == app.StateCooling && !v.StateUntil.IsZero():
		return fmt.Sprintf(tr("%s — cooling down until %s"), v.Name, whenText(v.StateUntil))
	case v.State == app.StateCooling:
		return fmt.Sprintf(tr("%s — cooling down"), v.Name)
	}
	p := v.Remaining()
	switch {
	case p < 0:
		return fmt.Sprintf(tr("%s — quota not checked yet"), v.Name)
	case v.Quota.ResetAt.IsZero():
		return fmt.Sprintf(tr("%s — %.0f%% left"), v.Name, floorPct(p))
	}
	return fmt.Sprintf(tr("%s — %.0f%% left, resets %s"), v.Name, floorPct(p), shortDate(v.Quota.ResetAt))
}

// floorPct rounds a percentage down, so "0% left" means nothing is.
func floorPct(p float64) float64 { return math.Floor(p) }

// quotaLeft is the share of quota left over the enabled accounts whose
// quota is known, in percent; ok is false when none is.
func quotaLeft(accounts []app.AccountView) (pct float64, ok bool) {
	var left, limit float64
	for _, v := range accounts {
		if !v.Enabled || v.Quota == nil || v.Quota.Limit <= 0 {
			continue
		}
		left += math.Max(v.Quota.Remaining, 0)
		limit += v.Quota.Limit
	}
	if limit <= 0 {
		return 0, false
	}
	return floorPct(100 * left / limit), true
}

// statusLine is the proxy's state in a few words, for the menu.
func statusLine(st app.AppState) string {
	switch st.Proxy {
	case app.Running:
		if st.Upstream == "demo" {
			return fmt.Sprintf(tr("Running on %s (demo)"), hostPort(st.BaseURL))
		}
		return fmt.Sprintf(tr("Running on %s"), hostPort(st.BaseURL))
	case app.Starting:
		return tr("Starting…")
	case app.Stopping:
		return tr("Stopping…")
	case app.Failed:
		return tr("Not running: error")
	}
	return tr("Stopped")
}

// tooltip is the tray icon's hover text: "kirotray — running on
// 127.0.0.1:8317 — 62% quota left".
func tooltip(st app.AppState, accounts []app.AccountView) string {
	switch st.Proxy {
	case app.Running:
		if st.Upstream == "demo" {
			return fmt.Sprintf(tr("kirotray — running on %s — simulated replies"), hostPort(st.BaseURL))
		}
		if pct, ok := quotaLeft(accounts); ok {
			return fmt.Sprintf(tr("kirotray — running on %s — %.0f%% quota left"), hostPort(st.BaseURL), pct)
		}
		return fmt.Sprintf(tr("kirotray — running on %s"), hostPort(st.BaseURL))
	case app.Starting:
		return tr("kirotray — starting…")
	case app.Stopping:
		return tr("kirotray — stopping…")
	case app.Failed:
		return fmt.Sprintf(tr("kirotray — error: %s"), st.Message)
	}
	return tr("kirotray — stopped")
}

func hostPort(baseURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(baseURL, "http://"), "https://")
}

// Icons as Fyne resources.
var (
	appIcon = fyne.NewStaticResource("kirotray.png", assets.AppIcon)

	trayIcons = map[bool]map[string]fyne.Resource{ // dark panel? → kind → icon
		false: {
			"stopped": fyne.NewStaticResource("tray-stopped-light.png", assets.TrayStoppedLight),
			"running": fyne.NewStaticResource("tray-running-light.png", assets.TrayRunningLight),
			"error":   fyne.NewStaticResource("tray-error-light.png", assets.TrayErrorLight),
		},
		true: {
			"stopped": fyne.NewStaticResource("tray-stopped-dark.png", assets.TrayStoppedDark),
			"running": fyne.NewStaticResource("tray-running-dark.png", assets.TrayRunningDark),
			"error":   fyne.NewStaticResource("tray-error-dark.png", assets.TrayErrorDark),
		},
	}
)

// trayIcon picks the icon for a state; dark says the panel is dark.
func trayIcon(p app.ProxyState, dark bool) fyne.Resource {
	kind := "stopped"
	switch p {
	case app.Running:
		kind = "running"
	case app.Failed:
		kind = "error"
	}
	return trayIcons[dark][kind]
}

// tray applies states and account lists to the system tray.
type tray struct {
	desk     desktop.App
	menu     *fyne.Menu
	act      actions
	dark     bool
	st       app.AppState
	accounts []app.AccountView
	shown    string // what the tray shows (menu, icon, tooltip), to skip no-op redraws
	lang     string // the language of shown
}

func newTray(desk desktop.App, act actions, dark bool) *tray {
	return &tray{desk: desk, act: act, dark: dark, menu: fyne.NewMenu("kirotray")}
}

// apply redraws the tray for st; applyAccounts for a new account list.
// Call them on the UI goroutine.
func (t *tray) apply(st app.AppState) {
	same := t.shown != "" && t.lang == currentLanguage() && trayState(st) == trayState(t.st)
	t.st = st
	if !same {
		t.redraw()
	}
}

// trayState is the part of st the tray shows: a state that differs only in
// the rest (the count of requests, the last error) needs no redraw.
func trayState(st app.AppState) app.AppState {
	return app.AppState{Proxy: st.Proxy, Message: st.Message, BaseURL: st.BaseURL, Upstream: st.Upstream}
}

func (t *tray) applyAccounts(accounts []app.AccountView) {
	t.accounts = accounts
	t.redraw()
}

// redraw rebuilds the tray unless it would look the same. The tray shows
// no request counts or quota check times, so changes in only those are
// skipped: under load they come with every request, and each rebuild is a
// round of D-Bus calls.
func (t *tray) redraw() {
	items := trayItems(t.st, t.accounts, t.act)
	icon := trayIcon(t.st.Proxy, t.dark)
	tip := tooltip(t.st, t.accounts)
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "%s|%v|%v\n", it.Label, it.Disabled, it.IsSeparator)
	}
	fmt.Fprintf(&b, "%s|%s", icon.Name(), tip)
	t.lang = currentLanguage()
	if b.String() == t.shown {
		return
	}
	t.shown = b.String()
	t.menu.Items = items
	t.desk.SetSystemTrayMenu(t.menu) // the first call creates the tray; later ones rebuild its menu
	t.desk.SetSystemTrayIcon(icon)
	setTrayTooltip(tip)
}
