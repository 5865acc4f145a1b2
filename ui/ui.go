// Package ui is kirotray's desktop interface: the tray icon and menu and
// the window (Overview, Live), built with Fyne. It is a thin client of
// app.App: it renders the state the core publishes and turns clicks into
// core calls; it holds no state of its own beyond what is on screen.
//
// Only Run touches the real driver. Everything else is tested with Fyne's
// test package (go test -tags ci), no display needed.
package ui

import (
	"context"
	"log/slog"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"

	"github.com/kirotray/kirotray/app"
)

// AppID is the application id, as in FyneApp.toml.
const AppID = "dev.kirotray.app"

// Options tunes Run.
type Options struct {
	// StartProxy starts the proxy as the window comes up.
	StartProxy bool
	Logger     *slog.Logger // nil means slog.Default()
	// ShowRequests asks for the window: another launch of kirotray sends on
	// it (single instance). Nil: none.
	ShowRequests <-chan struct{}
}

// Run shows kirotray's tray icon (or, where no tray host runs, its window)
// and returns when the user quits or the process is asked to stop
// (SIGINT/SIGTERM). It then stops the proxy, letting streams in flight
// finish, and closes core. Run needs a display: check HasDisplay first.
func Run(core *app.App, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "ui")
	defer core.Close()

	a := fyneapp.NewWithID(AppID)
	a.SetIcon(appIcon)
	w := a.NewWindow("kirotray")
	w.SetIcon(appIcon)

	setLanguage(core.Preferences().Language) // in memory: no I/O
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &controller{
		core:       core,
		ctx:        ctx,
		background: func(f func()) { go f() },
		showError:  func(err error) { dialog.ShowError(err, w) },
		show:       func() { w.Show(); w.RequestFocus() },
		quit:       a.Quit,
		win:        w,
	}
	view := newWindowContent(c)
	c.openSignIn = func() { view.openSignIn(c) } // the view current then: a relabel replaces it
	c.configure = func(client string) { view.configure(c, client) }
	w.SetContent(view.tabs)
	w.Resize(defaultWindowSize)

	// The tray needs a session bus on Linux (without one systray panics on
	// Quit); the window stays in the tray on close only if a host shows it.
	desk, isDesk := a.(desktop.App)
	var tr *tray
	if isDesk && sessionBus() {
		tr = newTray(desk, c.actions(), a.Settings().ThemeVariant() == theme.VariantDark)
		tr.apply(core.State())
		onTrayTapped(c.show)
	}
	hosted := tr != nil && trayHost()
	if hosted {
		w.SetCloseIntercept(w.Hide) // closing keeps kirotray in the tray
	} else {
		log.Info("no system tray found: showing the window; closing it quits kirotray")
	}

	// A language chosen in Settings rebuilds the window (UI goroutine).
	c.relabel = func() {
		view = view.relabel(c)
		w.SetContent(view.tabs)
		view.overview.apply(core.State())
		if tr != nil {
			tr.apply(core.State())
		}
	}

	live := view.live // kept across relabels
	live.alive = func() bool { return ctx.Err() == nil }
	live.onState = func(st app.AppState) { // UI goroutine, in the Live tab's batches
		view.overview.apply(st)
		if tr != nil {
			tr.apply(st)
		}
	}
	wake := make(chan struct{}, 1) // the event stream reconnects at once when the proxy runs
	go func() {
		running := false
		for st := range core.Watch(ctx) { // latest wins; closed when ctx ends
			if st.Proxy == app.Running && !running {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			running = st.Proxy == app.Running
			// Under load the state changes with every finished request:
			// the window shows it with the Live tab's next batch (at most
			// ten a second), so both repaint together.
			live.queueState(st)
		}
	}()
	go live.follow(ctx, app.StreamEvents(ctx, app.EventsOptions{
		BaseURL: func() string { return core.State().BaseURL },
		Key:     core.APIKey,
		Wake:    wake,
		Logger:  log,
	}))
	go c.followAccounts(ctx, func() {
		view.showAccounts(c)
		if tr != nil {
			tr.applyAccounts(c.accountList)
		}
	})
	if opts.StartProxy && core.Preferences().StartProxy {
		c.start()
	}
	if opts.ShowRequests != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-opts.ShowRequests:
					fyne.Do(c.show)
				}
			}
		}()
	}
	a.Lifecycle().SetOnStopped(cancel)
	if hosted {
		a.Run()
	} else {
		w.ShowAndRun()
	}
	cancel()
	return nil
}
