// Package autostart starts kirotray when the user logs in: an XDG autostart
// entry on Linux and the BSDs, a LaunchAgent on macOS, a Run value in the
// user's registry hive on Windows. It changes nothing system-wide and needs
// no privileges. It has no GUI; the tray's "Start at login" switch calls it.
package autostart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kirotray/kirotray/app/atomicfile"
)

// Name is the login item's name: the .desktop file's base name on Linux,
// the registry value on Windows.
const Name = "kirotray"

// Label is the macOS LaunchAgent label and plist base name (the app ID of FyneApp.toml).
const Label = "dev.kirotray.app"

// Config says where the login item lives; the zero value means the OS's
// usual place. Its methods are safe for concurrent use on different Dirs.
type Config struct {
	// Dir is the folder of the autostart entry (Linux/BSD) or LaunchAgent
	// (macOS); empty: $XDG_CONFIG_HOME/autostart (else ~/.config/autostart)
	// or ~/Library/LaunchAgents. Unused on Windows.
	Dir string
	// RunKey is, on Windows, the registry key under HKEY_CURRENT_USER that
	// holds the value; empty: Software\Microsoft\Windows\CurrentVersion\Run.
	RunKey string
}

// Enable makes the OS start exe (an absolute path; inside an AppImage, the
// AppImage's own path, $APPIMAGE) at login. Enabling again replaces the entry.
func Enable(exe string) error { return Config{}.Enable(exe) }

// Disable removes the login item; without one it does nothing.
func Disable() error { return Config{}.Disable() }

// Enabled reports whether the login item is there and switched on.
func Enabled() (bool, error) { return Config{}.Enabled() }

func checkExe(exe string) error {
	if !filepath.IsAbs(exe) {
		return fmt.Errorf("autostart: %q is not an absolute path", exe)
	}
	if strings.ContainsAny(exe, "\x00\r\n") {
		return errors.New("autostart: program path holds a line break")
	}
	return nil
}

// DesktopEntry returns an XDG autostart entry that runs exe.
func DesktopEntry(exe string) []byte {
	var b bytes.Buffer
	b.WriteString("[Desktop Entry]\n")
	b.WriteString("Type=Application\n")
	b.WriteString("Name=kirotray\n")
	b.WriteString("Comment=Tray app for a local proxy that lets Claude Code use a Kiro account\n")
	b.WriteString("Exec=" + DesktopExec(exe) + "\n")
	b.WriteString("Icon=" + Label + "\n")
	b.WriteString("Terminal=false\n")
	b.WriteString("X-GNOME-Autostart-enabled=true\n")
	return b.Bytes()
}

// DesktopExec writes args as the value of an Exec key, following the
// Desktop Entry Specification: an argument with reserved characters is
// double-quoted with ", `, $ and \ backslash-escaped inside; % is doubled
// (it starts field codes); then the string-value escapes apply, so a
// literal backslash ends up as four.
func DesktopExec(args ...string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\><~|&;$*?#()`") {
			var q strings.Builder
			q.WriteByte('"')
			for _, r := range a {
				if strings.ContainsRune("\"`$\\", r) {
					q.WriteByte('\\')
				}
				q.WriteRune(r)
			}
			q.WriteByte('"')
			a = q.String()
		}
		a = strings.ReplaceAll(a, "%", "%%")
		parts[i] = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(a)
	}
	return strings.Join(parts, " ")
}

// desktopEnabled reports whether an entry's text leaves it switched on:
// not Hidden, and not switched off in GNOME's settings.
func desktopEnabled(data []byte) bool {
	inEntry := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			inEntry = line == "[Desktop Entry]"
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !inEntry || !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Hidden":
			if strings.TrimSpace(v) == "true" {
				return false
			}
		case "X-GNOME-Autostart-enabled":
			if strings.TrimSpace(v) == "false" {
				return false
			}
		}
	}
	return true
}

// LaunchAgent returns a macOS LaunchAgent property list that runs exe at login.
func LaunchAgent(exe string) []byte {
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
		return b.String()
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + Label + `</string>
	<key>ProgramArguments</key>
	<array>
		<string>` + esc(exe) + `</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>ProcessType</key>
	<string>Interactive</string>
</dict>
</plist>
`)
}

// WindowsCommand returns the Run value that starts exe: the path quoted, as
// Windows splits an unquoted one at its first space.
func WindowsCommand(exe string) string { return `"` + exe + `"` }

// enableFile writes data to path (0644, atomically), creating the folder.
func enableFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	return nil
}

func disableFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("autostart: %w", err)
	}
	return nil
}

// fileEnabled reads path; a missing file means disabled.
func fileEnabled(path string, on func([]byte) bool) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("autostart: %w", err)
	}
	return on(data), nil
}
