package clientsetup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const testKey = "kt-0123456789abcdefghijklmnopqrstuv"

var testNow = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

func testOptions(t *testing.T) Options {
	t.Helper()
	home := t.TempDir()
	return Options{
		Home:     home,
		BaseURL:  testBase,
		APIKey:   testKey,
		StateDir: filepath.Join(home, "state"),
		Now:      func() time.Time { return testNow },
		Getenv:   func(string) string { return "" },
	}
}

func writeFile(t *testing.T, path, data string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigureClaudeCode(t *testing.T) {
	const envWant = "\"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8317\",\n    \"ANTHROPIC_API_KEY\": \"" + testKey + "\""
	tests := []struct {
		name      string
		settings  *string // nil: no file
		state     *string
		want      string // settings.json after
		wantState string
		wantEdit  string // in the plan
	}{
		{name: "missing files",
			want:      "{\n  \"env\": {\n    " + envWant + "\n  }\n}\n",
			wantState: "{\n  \"hasCompletedOnboarding\": true,\n  \"customApiKeyResponses\": {\n    \"approved\": [\"cdefghijklmnopqrstuv\"]\n  }\n}\n",
			wantEdit:  "set env.ANTHROPIC_API_KEY = kt-01…stuv"},
		{name: "empty files", settings: ptr(""), state: ptr(""),
			want:      "{\n  \"env\": {\n    " + envWant + "\n  }\n}\n",
			wantState: "{\n  \"hasCompletedOnboarding\": true,\n  \"customApiKeyResponses\": {\n    \"approved\": [\"cdefghijklmnopqrstuv\"]\n  }\n}\n",
			wantEdit:  "set env.ANTHROPIC_BASE_URL = http://127.0.0.1:8317"},
		{name: "other vars and keys kept in order",
			settings:  ptr("{\n  \"permissions\": {\"allow\": [\"Bash(ls:*)\"]},\n  \"env\": {\n    \"DISABLE_TELEMETRY\": \"1\",\n    \"ANTHROPIC_BASE_URL\": \"https://old\"\n  },\n  \"model\": \"opus\"\n}\n"),
			state:     ptr("{\"numStartups\": 3, \"hasCompletedOnboarding\": false, \"projects\": {}}"),
			want:      "{\n  \"permissions\": {\"allow\": [\"Bash(ls:*)\"]},\n  \"env\": {\n    \"DISABLE_TELEMETRY\": \"1\",\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8317\",\n    \"ANTHROPIC_API_KEY\": \"" + testKey + "\"\n  },\n  \"model\": \"opus\"\n}\n",
			wantState: "{\"numStartups\": 3, \"hasCompletedOnboarding\": true, \"projects\": {}, \"customApiKeyResponses\": {\"approved\": [\"cdefghijklmnopqrstuv\"]}}",
			wantEdit:  "set env.ANTHROPIC_BASE_URL"},
		{name: "auth token removed",
			settings:  ptr("{\"env\": {\"ANTHROPIC_AUTH_TOKEN\": \"other-secret\", \"X\": \"y\"}}"),
			state:     ptr("{\"hasCompletedOnboarding\": true, \"customApiKeyResponses\": {\"approved\": [\"cdefghijklmnopqrstuv\"], \"rejected\": []}}"),
			want:      "{\"env\": {\"X\": \"y\", \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8317\", \"ANTHROPIC_API_KEY\": \"" + testKey + "\"}}",
			wantState: "{\"hasCompletedOnboarding\": true, \"customApiKeyResponses\": {\"approved\": [\"cdefghijklmnopqrstuv\"], \"rejected\": []}}",
			wantEdit:  "remove env.ANTHROPIC_AUTH_TOKEN"},
		{name: "a refused key is approved",
			settings:  ptr("{}"),
			state:     ptr("{\"hasCompletedOnboarding\": true, \"customApiKeyResponses\": {\"approved\": [\"older-key-last-20-ch\"], \"rejected\": [\"cdefghijklmnopqrstuv\"]}}"),
			want:      "{\n  \"env\": {\n    " + envWant + "\n  }\n}",
			wantState: "{\"hasCompletedOnboarding\": true, \"customApiKeyResponses\": {\"approved\": [\"older-key-last-20-ch\",\"cdefghijklmnopqrstuv\"], \"rejected\": []}}",
			wantEdit:  "approve the key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			settings, state := filepath.Join(o.Home, ".claude", "settings.json"), filepath.Join(o.Home, ".claude.json")
			if tt.settings != nil {
				writeFile(t, settings, *tt.settings, 0o600)
			}
			if tt.state != nil {
				writeFile(t, state, *tt.state, 0o600)
			}
			plan, err := PlanClaudeCode(o)
			if err != nil {
				t.Fatal(err)
			}
			if s := plan.String(); !strings.Contains(s, tt.wantEdit) || strings.Contains(s, testKey) {
				t.Errorf("plan:\n%s\nwant %q and no key", s, tt.wantEdit)
			}
			ch, err := ConfigureClaudeCode(o)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, settings); got != tt.want {
				t.Errorf("settings.json:\n%s\nwant\n%s", got, tt.want)
			}
			if got := readFile(t, state); got != tt.wantState {
				t.Errorf(".claude.json:\n%s\nwant\n%s", got, tt.wantState)
			}
			if !ch.At.Equal(testNow) || ch.String() != plan.String() {
				t.Errorf("change %v differs from the plan", ch)
			}
			if runtime.GOOS != "windows" {
				for _, p := range []string{settings, state} {
					if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
						t.Errorf("%s: mode %v", p, st.Mode())
					}
				}
				if st, _ := os.Stat(filepath.Dir(settings)); tt.settings == nil && st.Mode().Perm() != 0o700 {
					t.Errorf("~/.claude: mode %v", st.Mode())
				}
			}
			// Running it again changes nothing.
			plan, err = PlanClaudeCode(o)
			if err != nil || !plan.Empty() {
				t.Errorf("second plan: %v, %v", plan, err)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestClaudeCodeInvalidJSON(t *testing.T) {
	o := testOptions(t)
	settings := filepath.Join(o.Home, ".claude", "settings.json")
	bad := "{\n  \"env\": {\n    \"K\": \"v\",\n  }\n}\n"
	writeFile(t, settings, bad, 0o600)
	_, err := ConfigureClaudeCode(o)
	if err == nil || !strings.Contains(err.Error(), settings+":4:") {
		t.Fatalf("err = %v, want it to name %s line 4", err, settings)
	}
	if got := readFile(t, settings); got != bad {
		t.Errorf("file changed")
	}
	if _, err := os.Stat(filepath.Join(o.Home, ".claude.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".claude.json written: %v", err)
	}
	if CanUndo(o.StateDir, ClaudeCode) {
		t.Errorf("a journal was recorded")
	}
}

func TestClaudeJSONHuge(t *testing.T) {
	for _, flag := range []string{`"hasCompletedOnboarding": false, `, ""} {
		o := testOptions(t)
		var b bytes.Buffer
		b.WriteString("{\n  \"numStartups\": 12,\n  " + flag + "\"projects\": {\n")
		for i := range 20000 {
			if i > 0 {
				b.WriteString(",\n")
			}
			b.WriteString(`    "/home/u/p` + strings.Repeat("x", 10) + string(rune('a'+i%26)) + `": {"history": [{"display": "fix the \"bug\" {now}", "pastedContents": {}}], "n": 1.50e3}`)
		}
		b.WriteString("\n  }\n}\n")
		state := filepath.Join(o.Home, ".claude.json")
		writeFile(t, state, b.String(), 0o644)
		start := time.Now()
		if _, err := ConfigureClaudeCode(o); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d MB in %v", b.Len()>>20, time.Since(start))
		got := readFile(t, state)
		var want string
		approval := ",\n  \"customApiKeyResponses\": {\n    \"approved\": [\"cdefghijklmnopqrstuv\"]\n  }\n}\n"
		if flag != "" { // the members' layout is taken from the file: here one line
			want = strings.TrimSuffix(strings.Replace(b.String(), "false", "true", 1), "\n}\n") +
				", \"customApiKeyResponses\": {\"approved\": [\"cdefghijklmnopqrstuv\"]}\n}\n"
		} else {
			want = strings.TrimSuffix(b.String(), "\n  }\n}\n") + "\n  },\n  \"hasCompletedOnboarding\": true" + approval
		}
		if got != want {
			t.Errorf("flag %q: more than the flag changed; ends %q, want %q", flag, got[max(0, len(got)-160):], want[max(0, len(want)-160):])
		}
		if st, _ := os.Stat(state); runtime.GOOS != "windows" && st.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, want 0644 kept", st.Mode())
		}
	}
}

func TestUndoRoundTrip(t *testing.T) {
	o := testOptions(t)
	settings, state := filepath.Join(o.Home, ".claude", "settings.json"), filepath.Join(o.Home, ".claude.json")
	codex := filepath.Join(o.Home, ".codex", "config.toml")
	origSettings := "{\r\n  \"env\": {\"ANTHROPIC_AUTH_TOKEN\": \"x\"},\r\n  \"z\": 1e2\r\n}"
	writeFile(t, settings, origSettings, 0o640)
	origCodex := "# mine\nmodel_provider = \"openai\"\n[x]\ny = 1"
	writeFile(t, codex, origCodex, 0o600)

	if CanUndo(o.StateDir, ClaudeCode) || CanUndo(o.StateDir, Codex) {
		t.Fatal("CanUndo before any change")
	}
	if _, err := ConfigureClaudeCode(o); err != nil {
		t.Fatal(err)
	}
	if _, err := ConfigureCodex(o); err != nil {
		t.Fatal(err)
	}
	if !CanUndo(o.StateDir, ClaudeCode) || !CanUndo(o.StateDir, Codex) {
		t.Fatal("CanUndo false after a change")
	}
	if st, _ := os.Stat(settings); runtime.GOOS != "windows" && st.Mode().Perm() != 0o640 {
		t.Errorf("settings mode %v, want 0640 kept", st.Mode())
	}

	ch, err := Undo(o.StateDir, ClaudeCode)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, settings); got != origSettings {
		t.Errorf("settings.json after undo:\n%q\nwant\n%q", got, origSettings)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".claude.json kirotray created is still there: %v", err)
	}
	if !strings.Contains(ch.String(), "removed") || !strings.Contains(ch.String(), "restored") {
		t.Errorf("undo change:\n%s", ch)
	}
	if st, _ := os.Stat(settings); runtime.GOOS != "windows" && st.Mode().Perm() != 0o640 {
		t.Errorf("settings mode %v after undo", st.Mode())
	}
	if _, err := Undo(o.StateDir, ClaudeCode); !errors.Is(err, ErrNothingToUndo) {
		t.Errorf("second undo: %v", err)
	}

	if _, err := Undo(o.StateDir, Codex); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, codex); got != origCodex {
		t.Errorf("config.toml after undo:\n%q", got)
	}
	entries, _ := os.ReadDir(journalDir(o.StateDir, Codex))
	if len(entries) != 0 {
		t.Errorf("journal folder not emptied: %v", entries)
	}
}

func TestUndoRemovesCreatedFolders(t *testing.T) {
	o := testOptions(t)
	if _, err := ConfigureCodex(o); err != nil {
		t.Fatal(err)
	}
	if _, err := Undo(o.StateDir, Codex); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(o.Home, ".codex")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("~/.codex left behind: %v", err)
	}
}

func TestUndoRefusedAfterForeignEdit(t *testing.T) {
	o := testOptions(t)
	settings, state := filepath.Join(o.Home, ".claude", "settings.json"), filepath.Join(o.Home, ".claude.json")
	writeFile(t, settings, `{"a": 1}`, 0o600)
	writeFile(t, state, `{"hasCompletedOnboarding": false}`, 0o600)
	if _, err := ConfigureClaudeCode(o); err != nil {
		t.Fatal(err)
	}
	written := readFile(t, state)
	edited := strings.Replace(readFile(t, settings), `"a": 1`, `"a": 2`, 1)
	writeFile(t, settings, edited, 0o600)
	_, err := Undo(o.StateDir, ClaudeCode)
	var ce *ChangedError
	if !errors.Is(err, ErrChangedSince) || !errors.As(err, &ce) || len(ce.Paths) != 1 || ce.Paths[0] != settings {
		t.Fatalf("err = %v, want ChangedError for %s", err, settings)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("error holds the key")
	}
	if readFile(t, settings) != edited || readFile(t, state) != written || !CanUndo(o.StateDir, ClaudeCode) {
		t.Fatal("a refused undo changed something")
	}
	if _, err := ForceUndo(o.StateDir, ClaudeCode); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, settings); got != `{"a": 1}` {
		t.Errorf("after ForceUndo: %s", got)
	}
	if got := readFile(t, state); got != `{"hasCompletedOnboarding": false}` {
		t.Errorf(".claude.json after ForceUndo: %s", got)
	}
}

func TestUndoLeavesClaudeStateEditedByClaude(t *testing.T) {
	o := testOptions(t)
	state := filepath.Join(o.Home, ".claude.json")
	if _, err := ConfigureClaudeCode(o); err != nil {
		t.Fatal(err)
	}
	claudeWrote := `{"hasCompletedOnboarding": true, "numStartups": 1}`
	writeFile(t, state, claudeWrote, 0o600)
	ch, err := Undo(o.StateDir, ClaudeCode)
	if err != nil {
		t.Fatal(err)
	}
	if readFile(t, state) != claudeWrote {
		t.Error("Claude Code's state file was overwritten")
	}
	if !strings.Contains(ch.String(), "not restored: changed since") {
		t.Errorf("change:\n%s", ch)
	}
	if _, err := os.Stat(filepath.Join(o.Home, ".claude", "settings.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("settings.json not removed: %v", err)
	}
}

func TestSecondChangeReplacesJournal(t *testing.T) {
	o := testOptions(t)
	codex := filepath.Join(o.Home, ".codex", "config.toml")
	writeFile(t, codex, "a = 1\n", 0o600)
	if _, err := ConfigureCodex(o); err != nil {
		t.Fatal(err)
	}
	first := readFile(t, codex)
	o.BaseURL = "http://127.0.0.1:9000/"
	if _, err := ConfigureCodex(o); err != nil {
		t.Fatal(err)
	}
	// A change that writes nothing keeps the journal of the last one.
	if ch, err := ConfigureCodex(o); err != nil || !ch.Empty() {
		t.Fatalf("third: %v %v", ch, err)
	}
	if _, err := Undo(o.StateDir, Codex); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, codex); got != first {
		t.Errorf("undo went back to\n%s\nwant\n%s", got, first)
	}
	if entries, _ := os.ReadDir(journalDir(o.StateDir, Codex)); len(entries) != 0 {
		t.Errorf("stale originals: %v", entries)
	}
}

func TestSymlinkWrittenThrough(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	o := testOptions(t)
	real := filepath.Join(o.Home, "dotfiles", "settings.json")
	writeFile(t, real, `{}`, 0o600)
	link := filepath.Join(o.Home, ".claude", "settings.json")
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := ConfigureClaudeCode(o); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v", err)
	}
	if !strings.Contains(readFile(t, real), "ANTHROPIC_BASE_URL") {
		t.Error("target not written")
	}
}

func TestClaudeConfigDir(t *testing.T) {
	o := testOptions(t)
	dir := filepath.Join(o.Home, "cfg")
	o.Getenv = func(k string) string {
		if k == "CLAUDE_CONFIG_DIR" {
			return dir
		}
		return ""
	}
	if _, err := ConfigureClaudeCode(o); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "settings.json"), filepath.Join(dir, ".claude.json")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

func TestConfigureCodex(t *testing.T) {
	o := testOptions(t)
	o.Model = "claude-sonnet-4-5"
	codex := filepath.Join(o.Home, ".codex", "config.toml")
	orig := "# keep me\nmodel_provider = \"openai\" # old\n\n[model_providers.local]\nname = \"local\"\nbase_url = \"http://localhost:1234/v1\"\n"
	writeFile(t, codex, orig, 0o600)
	plan, err := PlanCodex(o)
	if err != nil {
		t.Fatal(err)
	}
	s := plan.String()
	for _, want := range []string{`set model_provider = "kirotray" (was "openai" # old)`, "add the [model_providers.kirotray] table", "export KIROTRAY_API_KEY=kt-01…stuv"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, testKey) {
		t.Error("plan shows the key")
	}
	if plan.Export != "export KIROTRAY_API_KEY="+testKey+"\n" {
		t.Errorf("Export = %q", plan.Export)
	}
	if _, err := ConfigureCodex(o); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, codex)
	if !strings.HasPrefix(got, "# keep me\nmodel_provider = \"kirotray\"\nmodel = \"claude-sonnet-4-5\"\n") ||
		!strings.Contains(got, "\n\n[model_providers.local]\nname = \"local\"\nbase_url = \"http://localhost:1234/v1\"\n\n[model_providers.kirotray]\n") {
		t.Errorf("config.toml:\n%s", got)
	}
	var v struct {
		ModelProvider  string `toml:"model_provider"`
		ModelProviders map[string]struct {
			Name, BaseURL, EnvKey, WireAPI string
		} `toml:"model_providers"`
	}
	if _, err := toml.Decode(got, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.ModelProviders) != 2 {
		t.Errorf("providers: %+v", v.ModelProviders)
	}
}

func TestCodexHome(t *testing.T) {
	o := testOptions(t)
	dir := filepath.Join(o.Home, "codex-home")
	o.Getenv = nil
	t.Setenv("CODEX_HOME", dir)
	if _, err := ConfigureCodex(o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.toml")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(o.Home, ".codex")); !errors.Is(err, os.ErrNotExist) {
		t.Error("~/.codex written although CODEX_HOME is set")
	}
}

func TestCodexRefusal(t *testing.T) {
	o := testOptions(t)
	codex := filepath.Join(o.Home, ".codex", "config.toml")
	bad := "model_providers = { kirotray = { name = \"" + testKey + "\" } }\n"
	writeFile(t, codex, bad, 0o600)
	_, err := ConfigureCodex(o)
	if err == nil || !strings.Contains(err.Error(), codex+": line 1:") || strings.Contains(err.Error(), testKey) {
		t.Errorf("err = %v", err)
	}
	if readFile(t, codex) != bad {
		t.Error("file changed")
	}
}

func TestOptionErrors(t *testing.T) {
	for _, base := range []string{"", "127.0.0.1:8317", "ftp://x", "http://x/?q=1", "http://x/a b"} {
		o := testOptions(t)
		o.BaseURL = base
		if _, err := PlanClaudeCode(o); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
	o := testOptions(t)
	o.APIKey = ""
	if _, err := PlanClaudeCode(o); err == nil {
		t.Error("no key accepted for Claude Code")
	}
	if p, err := PlanCodex(o); err != nil || p.Export != "export KIROTRAY_API_KEY=\"$(kirotray key)\"\n" {
		t.Errorf("Codex without a key: %v, %v", p, err)
	}
	o = testOptions(t)
	o.APIKey = "bad\nkey-with-secret"
	if _, err := PlanClaudeCode(o); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("err = %v", err)
	}
	o = testOptions(t)
	o.StateDir = ""
	if _, err := ConfigureClaudeCode(o); err == nil {
		t.Error("configured without a state folder")
	}
}

func TestShellExports(t *testing.T) {
	if got, want := ShellExports("http://127.0.0.1:8317/", "kt-abc_DEF-1"), "export ANTHROPIC_BASE_URL=http://127.0.0.1:8317\nexport ANTHROPIC_API_KEY=kt-abc_DEF-1\n"; got != want {
		t.Errorf("got %q", got)
	}
	if got, want := ShellExports("http://h", "a'b $(x)"), "export ANTHROPIC_BASE_URL=http://h\nexport ANTHROPIC_API_KEY='a'\\''b $(x)'\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := CodexExports("kt-x"), "export KIROTRAY_API_KEY=kt-x\n"; got != want {
		t.Errorf("got %q", got)
	}
	if got := shellQuote(""); got != "''" {
		t.Errorf("empty: %q", got)
	}
}

func TestMaskKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{testKey, "kt-01…stuv"},
		{"short-key-12", "…12"},
		{"abc", "…"},
		{"", "…"},
	}
	for _, tt := range tests {
		if got := MaskKey(tt.in); got != tt.want {
			t.Errorf("MaskKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
