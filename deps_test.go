package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection keeps the package arrows one-way (STYLE.md):
// main → ui → app → proxy → proxy/*; proxy imports neither app nor Fyne,
// app never imports Fyne or ui, keychain knows only go-keyring.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/kirotray/kirotray"
	rules := []struct {
		pkgs      string
		forbidden []string
	}{
		{"./proxy/...", []string{mod + "/app", mod + "/ui", mod + "/keychain", "fyne.io/"}},
		{"./app/...", []string{mod + "/ui", "fyne.io/"}},
		{"./keychain/...", []string{mod + "/app", mod + "/proxy", mod + "/ui", "fyne.io/"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", "-test=false", r.pkgs).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", r.pkgs, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s listed only %v", r.pkgs, deps)
		}
		for _, dep := range deps {
			for _, f := range r.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) {
					t.Errorf("%s depends on %s", r.pkgs, dep)
				}
			}
		}
	}
}

func TestCommandLine(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home+"/.config")
	var out, errOut strings.Builder
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "kirotray ") {
		t.Fatalf("version: %d %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"bogus"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("bogus: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"serve", "--listen", "0.0.0.0:1", "--demo", "--api-key", "k"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "--allow-remote") {
		t.Fatalf("remote listen: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"serve", "-h"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "-kiro-api") {
		t.Fatalf("serve -h: %d %q", code, errOut.String())
	}
}
