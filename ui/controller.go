package ui

import (
	"context"

	"fyne.io/fyne/v2"

	"github.com/kirotray/kirotray/app"
)

// controller turns clicks into calls on the core. Calls that may block
// (starting, stopping, the keychain) run through background, never on the
// UI goroutine; their results come back as state, or through fyne.Do.
type controller struct {
	core *app.App
	ctx  context.Context // the UI's lifetime: the proxy started here stops with it
	// background runs f off the UI goroutine; tests run it inline.
	background func(f func())
	showError  func(err error)
	show, quit func()
	// relabel rebuilds the window in the language just chosen (UI
	// goroutine); nil where there is no window to rebuild.
	relabel func()
	// win is the window dialogs open over.
	win fyne.Window
	// clients configures coding CLIs; nil means core (tests fake it).
	clients clientSetup
	// openSignIn and configure show the window's sign-in and Configure
	// dialogs (the tray's items); nil where there is no window.
	openSignIn func()
	configure  func(client string)
	// The latest account list (nil until the first arrives) and Kiro IDE
	// and kiro-cli logins, kept by followAccounts so a view built later
	// starts from them. UI goroutine only.
	accountList []app.AccountView
	ideLogin    *app.IDELogin
	cliLogin    *app.KiroCLILogin
}

func (c *controller) start() { c.background(func() { _ = c.core.Start(c.ctx) }) } // a failure shows in the state

func (c *controller) stop() { c.background(c.core.Stop) }

func (c *controller) copyURL() { c.clip(c.core.State().BaseURL) }

func (c *controller) copySetup() {
	c.background(func() {
		s, err := c.core.ClaudeCodeSetup()
		fyne.Do(func() {
			if err != nil {
				c.showError(err)
				return
			}
			c.clip(s)
		})
	})
}

// withKey calls f on the UI goroutine with the API key, once loaded.
func (c *controller) withKey(f func(key string)) {
	c.background(func() {
		k, err := c.core.APIKey()
		fyne.Do(func() {
			if err != nil {
				c.showError(err)
				return
			}
			f(k.Reveal())
		})
	})
}

func (c *controller) clip(s string) { fyne.CurrentApp().Clipboard().SetContent(s) }

func (c *controller) actions() actions {
	return actions{start: c.start, stop: c.stop, copyURL: c.copyURL, copySetup: c.copySetup,
		signIn: c.signIn, configureClaude: c.configureClaude, show: c.show, quit: c.quit}
}
