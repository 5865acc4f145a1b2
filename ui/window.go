package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
)

// window is kirotray's main window: one tab per view.
type window struct {
	overview *overview
	live     *live
	tabs     *container.AppTabs
}

func newWindowContent(c *controller) *window {
	w := &window{overview: newOverview(c), live: newLive()}
	w.tabs = container.NewAppTabs(
		container.NewTabItemWithIcon("Overview", theme.HomeIcon(), w.overview.content),
		container.NewTabItemWithIcon("Live", theme.ListIcon(), w.live.content),
	)
	return w
}

// defaultWindowSize fits the Live table's columns without scrolling.
var defaultWindowSize = fyne.NewSize(820, 520)

// isDark reports whether the current theme is dark, to pick icon ink.
func isDark() bool {
	return fyne.CurrentApp().Settings().ThemeVariant() == theme.VariantDark
}
