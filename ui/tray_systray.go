//go:build !ci

package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/systray"
)

// setTrayTooltip sets the hover text; Fyne has no API for it, so this goes
// to systray directly (it keeps the text until the tray is up).
func setTrayTooltip(s string) { systray.SetTooltip(s) }

// onTrayTapped opens the window on a left click. SetSystemTrayWindow's own
// handler calls Show off the UI goroutine; this one goes through fyne.Do.
func onTrayTapped(show func()) { systray.SetOnTapped(func() { fyne.Do(show) }) }
