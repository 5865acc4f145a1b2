package ui

import (
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
	show, quit         func()
}

// trayItems is the whole tray menu as a function of state. The menu is
// rebuilt from it on every state change and never edited item by item:
// tray hosts do not reliably apply piecemeal changes.
func trayItems(st app.AppState, a actions) []*fyne.MenuItem {
	status := fyne.NewMenuItem(statusLine(st), nil)
	status.Disabled = true

	var toggle *fyne.MenuItem
	switch st.Proxy {
	case app.Running:
		toggle = fyne.NewMenuItem("Stop proxy", a.stop)
	case app.Starting:
		toggle = fyne.NewMenuItem("Starting…", nil)
		toggle.Disabled = true
	case app.Stopping:
		toggle = fyne.NewMenuItem("Stopping…", nil)
		toggle.Disabled = true
	default: // Stopped, Failed
		toggle = fyne.NewMenuItem("Start proxy", a.start)
	}
	copyURL := fyne.NewMenuItem("Copy base URL", a.copyURL)
	copySetup := fyne.NewMenuItem("Copy Claude Code setup", a.copySetup)
	copyURL.Disabled = st.Proxy != app.Running
	copySetup.Disabled = st.Proxy != app.Running
	quit := fyne.NewMenuItem("Quit", a.quit)
	quit.IsQuit = true // replaces the Quit item Fyne would add
	return []*fyne.MenuItem{
		status, toggle,
		fyne.NewMenuItemSeparator(),
		copyURL, copySetup,
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Open window", a.show),
		fyne.NewMenuItemSeparator(),
		quit,
	}
}

// statusLine is the proxy's state in a few words, for the menu and window.
func statusLine(st app.AppState) string {
	switch st.Proxy {
	case app.Running:
		s := "Running on " + hostPort(st.BaseURL)
		if st.Upstream == "demo" {
			s += " (demo)"
		}
		return s
	case app.Starting:
		return "Starting…"
	case app.Stopping:
		return "Stopping…"
	case app.Failed:
		return "Not running: error"
	}
	return "Stopped"
}

// tooltip is the tray icon's hover text.
func tooltip(st app.AppState) string {
	switch st.Proxy {
	case app.Running:
		return "kirotray — running on " + hostPort(st.BaseURL)
	case app.Failed:
		return "kirotray — error: " + st.Message
	}
	return "kirotray — " + strings.ToLower(statusLine(st))
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

// tray applies states to the system tray.
type tray struct {
	desk    desktop.App
	menu    *fyne.Menu
	act     actions
	dark    bool
	shown   app.AppState // the state the tray shows
	applied bool
}

func newTray(desk desktop.App, act actions, dark bool) *tray {
	return &tray{desk: desk, act: act, dark: dark, menu: fyne.NewMenu("kirotray")}
}

// apply redraws the tray from st; call it on the UI goroutine. The tray
// does not show request counts, so states that differ only in those are
// skipped: under load they change with every request, and each rebuild is
// a round of D-Bus calls.
func (t *tray) apply(st app.AppState) {
	key := app.AppState{Proxy: st.Proxy, Message: st.Message, BaseURL: st.BaseURL, Upstream: st.Upstream}
	if t.applied && key == t.shown {
		return
	}
	t.shown, t.applied = key, true
	t.menu.Items = trayItems(st, t.act)
	t.desk.SetSystemTrayMenu(t.menu) // the first call creates the tray; later ones rebuild its menu
	t.desk.SetSystemTrayIcon(trayIcon(st.Proxy, t.dark))
	setTrayTooltip(tooltip(st))
}
