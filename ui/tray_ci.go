//go:build ci

package ui

// Under the ci tag Fyne's test driver has no tray: nothing to set.

func setTrayTooltip(string) {}

func onTrayTapped(func()) {}
