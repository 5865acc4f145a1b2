package main

import (
	"runtime"
	"testing"
)

func TestDefaultCommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "gui"},
		{[]string{}, "gui"},
		{[]string{"--demo"}, "serve"}, // flags alone still mean serve
		{[]string{"serve"}, "serve"},  // run replaces it with args[0]
	}
	for _, tt := range tests {
		if got := defaultCommand(tt.args); got != tt.want {
			t.Errorf("defaultCommand(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestHasDisplay(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("always has a display")
	}
	for _, tt := range []struct {
		display, wayland string
		want             bool
	}{
		{"", "", false}, {":0", "", true}, {"", "wayland-0", true},
	} {
		t.Setenv("DISPLAY", tt.display)
		t.Setenv("WAYLAND_DISPLAY", tt.wayland)
		if got := hasDisplay(); got != tt.want {
			t.Errorf("DISPLAY=%q WAYLAND_DISPLAY=%q: %v", tt.display, tt.wayland, got)
		}
	}
}
