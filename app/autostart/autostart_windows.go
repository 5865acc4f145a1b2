//go:build windows

package autostart

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

const defaultRunKey = `Software\Microsoft\Windows\CurrentVersion\Run`

func (c Config) runKey() string {
	if c.RunKey != "" {
		return c.RunKey
	}
	return defaultRunKey
}

// Enable sets the Run value that starts exe at login.
func (c Config) Enable(exe string) error {
	if err := checkExe(exe); err != nil {
		return err
	}
	k, _, err := registry.CreateKey(registry.CURRENT_USER, c.runKey(), registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	defer k.Close()
	if err := k.SetStringValue(Name, WindowsCommand(exe)); err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	return nil
}

// Disable deletes the Run value.
func (c Config) Disable() error {
	k, err := registry.OpenKey(registry.CURRENT_USER, c.runKey(), registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	defer k.Close()
	if err := k.DeleteValue(Name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("autostart: %w", err)
	}
	return nil
}

// Enabled reports whether the Run value exists.
func (c Config) Enabled() (bool, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, c.runKey(), registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("autostart: %w", err)
	}
	defer k.Close()
	_, _, err = k.GetStringValue(Name)
	switch {
	case errors.Is(err, registry.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("autostart: %w", err)
	}
	return true, nil
}
