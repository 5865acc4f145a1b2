package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigureClientAndUndo(t *testing.T) {
	home := t.TempDir()
	t.Setenv("CLAUDE_CONFIG_DIR", "")
	t.Setenv("CODEX_HOME", "")
	a := newTestApp(t, Config{Listen: "127.0.0.1:18317", APIKey: "kt-0123456789abcdefghij", Home: home})

	plan, err := a.PlanClientSetup(ClientClaudeCode)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, filepath.Join(home, ".claude", "settings.json")) || strings.Contains(plan, "kt-0123456789abcdefghij") {
		t.Fatalf("plan names the wrong files or shows the key:\n%s", plan)
	}
	if a.CanUndoClientSetup(ClientClaudeCode) {
		t.Fatal("undo offered before any change")
	}
	msg, err := a.ConfigureClient(ClientClaudeCode)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "Restart") || strings.Contains(msg, "kt-0123456789abcdefghij") {
		t.Fatalf("message %q", msg)
	}
	var settings struct {
		Env map[string]string `json:"env"`
	}
	data, err := os.ReadFile(filepath.Join(home, ".claude", "settings.json"))
	if err != nil || json.Unmarshal(data, &settings) != nil {
		t.Fatalf("settings.json: %s, %v", data, err)
	}
	if settings.Env["ANTHROPIC_BASE_URL"] != "http://127.0.0.1:18317" || settings.Env["ANTHROPIC_API_KEY"] != "kt-0123456789abcdefghij" {
		t.Fatalf("env %v", settings.Env)
	}
	var state struct {
		Onboarded bool `json:"hasCompletedOnboarding"`
	}
	data, err = os.ReadFile(filepath.Join(home, ".claude.json"))
	if err != nil || json.Unmarshal(data, &state) != nil || !state.Onboarded {
		t.Fatalf(".claude.json: %s, %v", data, err)
	}
	if !a.CanUndoClientSetup(ClientClaudeCode) {
		t.Fatal("no undo after a change")
	}
	if err := a.UndoClientSetup(ClientClaudeCode); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(home, ".claude", "settings.json"), filepath.Join(home, ".claude.json")} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s still there after undo (%v)", f, err)
		}
	}

	// Codex: config.toml with the provider; the key stays out of the file.
	if _, err := a.ConfigureClient(ClientCodex); err != nil {
		t.Fatal(err)
	}
	toml, err := os.ReadFile(filepath.Join(home, ".codex", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`model_provider = "kirotray"`, `base_url = "http://127.0.0.1:18317/v1"`, `env_key = "KIROTRAY_API_KEY"`, `wire_api = "responses"`} {
		if !strings.Contains(string(toml), want) {
			t.Errorf("config.toml lacks %s:\n%s", want, toml)
		}
	}
	if strings.Contains(string(toml), "kt-0123456789abcdefghij") {
		t.Error("config.toml holds the key")
	}
	if err := a.UndoClientSetup(ClientCodex); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ConfigureClient("vim"); err == nil {
		t.Fatal("configured an unknown client")
	}
}
