//go:build !darwin && !windows

package autostart

import (
	"path/filepath"
	"testing"
)

func TestXDGPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	tests := []struct{ xdg, want string }{
		{"", filepath.Join(home, ".config", "autostart", "kirotray.desktop")},
		{"relative/cfg", filepath.Join(home, ".config", "autostart", "kirotray.desktop")},
		{"/x/cfg", "/x/cfg/autostart/kirotray.desktop"},
	}
	for _, tt := range tests {
		t.Setenv("XDG_CONFIG_HOME", tt.xdg)
		if got, err := (Config{}).path(); err != nil || got != tt.want {
			t.Errorf("XDG_CONFIG_HOME=%q: %s, %v; want %s", tt.xdg, got, err, tt.want)
		}
	}
}
