//go:build !darwin && !windows

package autostart

import (
	"fmt"
	"os"
	"path/filepath"
)

func (c Config) path() (string, error) {
	dir := c.Dir
	if dir == "" {
		base := os.Getenv("XDG_CONFIG_HOME")
		if !filepath.IsAbs(base) { // the spec says to ignore a relative one
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("autostart: %w", err)
			}
			base = filepath.Join(home, ".config")
		}
		dir = filepath.Join(base, "autostart")
	}
	return filepath.Join(dir, Name+".desktop"), nil
}

// Enable writes an XDG autostart entry that runs exe.
func (c Config) Enable(exe string) error {
	if err := checkExe(exe); err != nil {
		return err
	}
	p, err := c.path()
	if err != nil {
		return err
	}
	return enableFile(p, DesktopEntry(exe))
}

// Disable removes the autostart entry.
func (c Config) Disable() error {
	p, err := c.path()
	if err != nil {
		return err
	}
	return disableFile(p)
}

// Enabled reports whether the entry exists and is not switched off.
func (c Config) Enabled() (bool, error) {
	p, err := c.path()
	if err != nil {
		return false, err
	}
	return fileEnabled(p, desktopEnabled)
}
