package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/app/instance"
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
	// One tray app per user: a second launch brings the first one's window up.
	dir, err := app.DefaultConfigDir()
	if err != nil {
		return err
	}
	show := make(chan struct{}, 1)
	inst, err := instance.Acquire(dir, func() {
		select {
		case show <- struct{}{}:
		default:
		}
	})
	if err == instance.ErrAlreadyRunning {
		fmt.Fprintln(stderr, "kirotray is already running: its window was brought to the front.")
		return nil
	}
	if errors.Is(err, instance.ErrAlreadyRunning) {
		return fmt.Errorf("kirotray is already running, but its window could not be shown: %w", err)
	}
	if err != nil {
		log.Warn("could not make sure only one kirotray runs", "err", err)
	} else {
		defer inst.Close()
	}
	app.TuneGC(64 << 20)
	core := app.New(app.Config{
		Listen:      os.Getenv("KIROTRAY_LISTEN"), // empty: the saved address, else 127.0.0.1:8317
		APIKey:      os.Getenv("KIROTRAY_API_KEY"),
		Credentials: os.Getenv("KIROTRAY_CREDENTIALS"),
		KiroAPI:     os.Getenv("KIROTRAY_KIRO_API"), // empty: the saved setting, else the real service
		KiroAuth:    os.Getenv("KIROTRAY_KIRO_AUTH"),
		OIDC:        os.Getenv("KIROTRAY_OIDC"),
		SignIn:      app.SignInOptions{Portal: os.Getenv("KIROTRAY_PORTAL")}, // Google/GitHub sign-in portal; empty: the real one
		Demo:        envBool("KIROTRAY_DEMO"),
		Version:     version,
		Logger:      log,
	})
	return ui.Run(core, ui.Options{StartProxy: true, Logger: log, ShowRequests: show})
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
