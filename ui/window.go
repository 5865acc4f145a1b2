package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
)

// window is kirotray's main window: one tab per view.
type window struct {
	overview *overview
	accounts *accountsTab
	live     *live
	settings *settingsTab
	tabs     *container.AppTabs
}

func newWindowContent(c *controller) *window {
	return newWindowWith(c, newLive())
}

func newWindowWith(c *controller, l *live) *window {
	w := &window{overview: newOverview(c), accounts: newAccountsTab(c), live: l, settings: newSettingsTab(c)}
	w.tabs = container.NewAppTabs(
		container.NewTabItemWithIcon(tr("Overview"), theme.HomeIcon(), w.overview.content),
		container.NewTabItemWithIcon(tr("Accounts"), theme.AccountIcon(), w.accounts.content),
		container.NewTabItemWithIcon(tr("Live"), theme.ListIcon(), w.live.content),
		container.NewTabItemWithIcon(tr("Settings"), theme.SettingsIcon(), w.settings.content),
	)
	return w
}

// relabel builds the window's content again in the language tr speaks
// now, on the same tab; the Live table and its rows carry over. The caller
// puts the new tabs in the window and applies the current state to them.
// UI goroutine.
func (w *window) relabel(c *controller) *window {
	w.live.relabel()
	nw := newWindowWith(c, w.live)
	nw.settings.carry(w.settings)
	nw.tabs.SelectIndex(w.tabs.SelectedIndex())
	return nw
}

// defaultWindowSize fits the Live table's columns and the Overview without scrolling.
var defaultWindowSize = fyne.NewSize(840, 680)

// isDark reports whether the current theme is dark, to pick icon ink.
func isDark() bool {
	return fyne.CurrentApp().Settings().ThemeVariant() == theme.VariantDark
}
