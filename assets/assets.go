// Package assets holds kirotray's icons as embedded PNGs: the app icon and
// tray icons for each proxy state, in a dark-ink variant for light panels
// and a light-ink variant for dark ones. The PNGs are drawn by code in
// icons_test.go; run `go test ./assets -update` after changing it.
package assets

import _ "embed"

// AppIcon is the 256×256 application icon (also FyneApp.toml's Icon).
//
//go:embed icon.png
var AppIcon []byte

// Tray icons, 64×64. The Light variants have dark ink, for light panels;
// the Dark variants light ink, for dark panels.
var (
	//go:embed tray-stopped-light.png
	TrayStoppedLight []byte
	//go:embed tray-stopped-dark.png
	TrayStoppedDark []byte
	//go:embed tray-running-light.png
	TrayRunningLight []byte
	//go:embed tray-running-dark.png
	TrayRunningDark []byte
	//go:embed tray-error-light.png
	TrayErrorLight []byte
	//go:embed tray-error-dark.png
	TrayErrorDark []byte
)
