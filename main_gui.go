package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy/redact"
	"github.com/kirotray/kirotray/ui"
)

// defaultCommand is what `kirotray` runs: the tray app with no arguments,
// else "serve" (so `kirotray --demo` still means `kirotray serve --demo`).
func defaultCommand(args []string) string {
	if len(args) == 0 {
		return "gui"
	}
	return "serve"
}

// gui runs the tray app where a display exists, else says so and runs the
// headless proxy exactly as `kirotray serve` would.
func gui(stderr io.Writer) error {
	if !hasDisplay() {
		fmt.Fprintln(stderr, `kirotray: no display found (DISPLAY and WAYLAND_DISPLAY are unset): running the headless proxy, as "kirotray serve"`)
		return serve(nil, stderr)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(envOr("KIROTRAY_LOG_LEVEL", "info"))); err != nil {
		return fmt.Errorf("KIROTRAY_LOG_LEVEL: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: redact.ReplaceAttr}))
	core := app.New(app.Config{
		Listen:      envOr("KIROTRAY_LISTEN", "127.0.0.1:8317"),
		APIKey:      os.Getenv("KIROTRAY_API_KEY"),
		Credentials: os.Getenv("KIROTRAY_CREDENTIALS"),
		KiroAPI:     envOr("KIROTRAY_KIRO_API", app.DefaultKiroAPI),
		KiroAuth:    envOr("KIROTRAY_KIRO_AUTH", app.DefaultKiroAuth),
		OIDC:        os.Getenv("KIROTRAY_OIDC"),
		Demo:        envBool("KIROTRAY_DEMO"),
		Version:     version,
		Logger:      log,
	})
	return ui.Run(core, ui.Options{StartProxy: true, Logger: log})
}

// hasDisplay reports whether a GUI can open: on Linux and the BSDs an X11
// or Wayland display must be named; Windows and macOS always have one.
func hasDisplay() bool {
	switch runtime.GOOS {
	case "windows", "darwin":
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}
