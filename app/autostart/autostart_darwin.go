//go:build darwin

package autostart

import (
	"fmt"
	"os"
	"path/filepath"
)

func (c Config) path() (string, error) {
	dir := c.Dir
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("autostart: %w", err)
		}
		dir = filepath.Join(home, "Library", "LaunchAgents")
	}
	return filepath.Join(dir, Label+".plist"), nil
}

// Enable writes a LaunchAgent that runs exe at login.
func (c Config) Enable(exe string) error {
	if err := checkExe(exe); err != nil {
		return err
	}
	p, err := c.path()
	if err != nil {
		return err
	}
	return enableFile(p, LaunchAgent(exe))
}

// Disable removes the LaunchAgent.
func (c Config) Disable() error {
	p, err := c.path()
	if err != nil {
		return err
	}
	return disableFile(p)
}

// Enabled reports whether the LaunchAgent exists.
func (c Config) Enabled() (bool, error) {
	p, err := c.path()
	if err != nil {
		return false, err
	}
	return fileEnabled(p, func([]byte) bool { return true })
}
