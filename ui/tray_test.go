package ui

import (
	"testing"

	"fyne.io/fyne/v2"

	"github.com/kirotray/kirotray/app"
)

func TestTrayItems(t *testing.T) {
	var called []string
	act := actions{
		start:     func() { called = append(called, "start") },
		stop:      func() { called = append(called, "stop") },
		copyURL:   func() { called = append(called, "copyURL") },
		copySetup: func() { called = append(called, "copySetup") },
		show:      func() { called = append(called, "show") },
		quit:      func() { called = append(called, "quit") },
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
			items := trayItems(tt.st, act)
			var labels []string
			for _, it := range items {
				labels = append(labels, it.Label)
			}
			want := []string{tt.status, tt.toggle, "", "Copy base URL", "Copy Claude Code setup", "", "Open window", "", "Quit"}
			if len(labels) != len(want) {
				t.Fatalf("items %q", labels)
			}
			for i := range want {
				if labels[i] != want[i] {
					t.Fatalf("item %d = %q, want %q (all: %q)", i, labels[i], want[i], labels)
				}
			}
			if !items[0].Disabled {
				t.Error("the status line must not be clickable")
			}
			if items[1].Disabled == tt.toggleOn {
				t.Errorf("toggle disabled = %v", items[1].Disabled)
			}
			if items[3].Disabled == tt.copyOn || items[4].Disabled == tt.copyOn {
				t.Errorf("copy items disabled = %v, %v", items[3].Disabled, items[4].Disabled)
			}
			if !items[8].IsQuit {
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
			items[6].Action()
			items[8].Action()
			if got := join(called); got != "show quit" {
				t.Errorf("called %q", got)
			}
		})
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestTooltipAndIcon(t *testing.T) {
	tests := []struct {
		st   app.AppState
		tip  string
		icon string
	}{
		{app.AppState{Proxy: app.Running, BaseURL: "http://127.0.0.1:8317"}, "kirotray — running on 127.0.0.1:8317", "tray-running-light.png"},
		{app.AppState{Proxy: app.Stopped}, "kirotray — stopped", "tray-stopped-light.png"},
		{app.AppState{Proxy: app.Starting}, "kirotray — starting…", "tray-stopped-light.png"},
		{app.AppState{Proxy: app.Failed, Message: "The port is in use."}, "kirotray — error: The port is in use.", "tray-error-light.png"},
	}
	for _, tt := range tests {
		if got := tooltip(tt.st); got != tt.tip {
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
