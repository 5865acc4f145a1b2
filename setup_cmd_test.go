package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSetupClaudeCodeAndUndo(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("CLAUDE_CONFIG_DIR", "")
	t.Setenv("KIROTRAY_API_KEY", "kt-setup-test-0123456789abcdef")
	t.Setenv("KIROTRAY_LISTEN", "127.0.0.1:18555")
	var out, errb bytes.Buffer

	// Without a terminal, nothing is written unless --yes says so.
	if err := setup([]string{"claude-code"}, strings.NewReader("y\n"), &out, &errb); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("without --yes: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, ".claude", "settings.json")); !os.IsNotExist(err) {
		t.Fatal("settings.json written without consent")
	}
	out.Reset()
	if err := setup([]string{"claude-code", "--yes"}, nil, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	if strings.Contains(out.String(), "kt-setup-test-0123456789abcdef") {
		t.Errorf("the key was printed:\n%s", out.String())
	}
	var settings struct{ Env map[string]string }
	data, _ := os.ReadFile(filepath.Join(home, ".claude", "settings.json"))
	if err := json.Unmarshal(data, &settings); err != nil || settings.Env["ANTHROPIC_BASE_URL"] != "http://127.0.0.1:18555" ||
		settings.Env["ANTHROPIC_API_KEY"] != "kt-setup-test-0123456789abcdef" {
		t.Fatalf("settings.json %s (%v)", data, err)
	}
	var state struct {
		Onboarded bool                        `json:"hasCompletedOnboarding"`
		Keys      struct{ Approved []string } `json:"customApiKeyResponses"`
	}
	data, _ = os.ReadFile(filepath.Join(home, ".claude.json"))
	if err := json.Unmarshal(data, &state); err != nil || !state.Onboarded || len(state.Keys.Approved) != 1 || state.Keys.Approved[0] != "est-0123456789abcdef" { // the key's last 20 characters
		t.Fatalf(".claude.json %s (%v)", data, err)
	}
	if err := setup([]string{"claude-code", "--undo"}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, ".claude", "settings.json")); !os.IsNotExist(err) {
		t.Fatal("settings.json still there after --undo")
	}
	if err := setup([]string{"vim", "--yes"}, nil, &out, &errb); err == nil {
		t.Fatal("configured an unknown client")
	}
}
