// Package clientsetup points coding CLIs (Claude Code, Codex CLI) at the
// kirotray proxy by editing their configuration files, and undoes that.
//
// Every change is shown first as a [Plan] (the key masked), then made with
// atomic writes that keep each file's mode and every key and line kirotray
// does not own. Before writing, the original content of each file (or the
// fact that it did not exist) goes to an undo journal in a folder the
// caller names, so [Undo] can restore the last change per client byte for
// byte. The package has no GUI and knows nothing of the rest of kirotray;
// the API key it is given never appears in its errors.
package clientsetup

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Client names a CLI this package configures.
type Client string

const (
	ClaudeCode Client = "claude-code" // Anthropic's Claude Code
	Codex      Client = "codex"       // OpenAI's Codex CLI
)

// CodexKeyEnv is the variable Codex reads the proxy's key from, as
// README.md documents it. kirotray itself also takes its key from it.
const CodexKeyEnv = "KIROTRAY_API_KEY"

// codexProvider is the provider name written to config.toml. Not "openai":
// that name switches Codex to OpenAI-only remote compaction.
const codexProvider = "kirotray"

// Options says where the client's files are and what to point them at.
type Options struct {
	// Home is the user's home folder; empty: os.UserHomeDir.
	Home string
	// BaseURL is the proxy's base URL without /v1, e.g. http://127.0.0.1:8317.
	BaseURL string
	// APIKey is the key clients must send. Claude Code gets it in its
	// settings file; for Codex it only goes into Plan.Export. Never logged.
	APIKey string
	// Model is, for Codex only, the top-level model to set; empty leaves
	// the file's model (or Codex's default) alone.
	Model string
	// StateDir is the folder of the undo journal (one per client, created
	// 0700). Required to configure; plans do not use it.
	StateDir string
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Getenv reads the environment (CLAUDE_CONFIG_DIR, CODEX_HOME); nil: os.Getenv.
	Getenv func(string) string
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

func (o *Options) home() (string, error) {
	if o.Home != "" {
		return o.Home, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("clientsetup: %w", err)
	}
	return h, nil
}

// baseURL checks o.BaseURL and returns it without a trailing slash.
func (o *Options) baseURL() (string, error) {
	s := strings.TrimRight(o.BaseURL, "/")
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(s, " \t\r\n\"'\\") {
		return "", fmt.Errorf("clientsetup: base URL %q: want http://host:port", o.BaseURL)
	}
	return s, nil
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("clientsetup: no API key given")
	}
	if !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("clientsetup: the API key holds control characters")
	}
	return nil
}

// Plan is what a configuration will change, for a person to confirm. It
// never holds the full key, except in Export.
type Plan struct {
	Client Client
	Files  []FilePlan
	// Notes are things to know or do besides the file edits.
	Notes []string
	// Export is the shell line the user must run (or put in a shell
	// profile) before starting the client; empty if none. It may hold the
	// API key: copy it to the clipboard, never log it.
	Export string
}

// FilePlan is the change to one file.
type FilePlan struct {
	Path   string
	Create bool     // the file does not exist yet
	Edits  []string // one line per change; empty: already as wanted
}

// Empty reports whether applying the plan writes nothing.
func (p *Plan) Empty() bool {
	for _, f := range p.Files {
		if len(f.Edits) > 0 {
			return false
		}
	}
	return true
}

// String renders the plan as lines for a confirmation dialog.
func (p *Plan) String() string {
	var b strings.Builder
	for _, f := range p.Files {
		switch {
		case len(f.Edits) == 0:
			fmt.Fprintf(&b, "%s: already set up\n", f.Path)
			continue
		case f.Create:
			fmt.Fprintf(&b, "%s (new file):\n", f.Path)
		default:
			fmt.Fprintf(&b, "%s:\n", f.Path)
		}
		for _, e := range f.Edits {
			fmt.Fprintf(&b, "  - %s\n", e)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "%s\n", n)
	}
	return b.String()
}

// Change is a configuration as made (or undone).
type Change struct {
	Plan
	At time.Time // when it was made, UTC
}

// MaskKey shows enough of a key to recognise it: its first five and last
// four characters ("kt-ab…wxyz"); keys of 16 characters or fewer show only
// their last two.
func MaskKey(key string) string {
	r := []rune(key)
	if len(r) <= 16 {
		if len(r) <= 4 {
			return "…"
		}
		return "…" + string(r[len(r)-2:])
	}
	return string(r[:5]) + "…" + string(r[len(r)-4:])
}

// ShellExports returns the lines that point Claude Code at the proxy
// through the environment instead of its settings file. It holds the key.
func ShellExports(baseURL, key string) string {
	return "export ANTHROPIC_BASE_URL=" + shellQuote(strings.TrimRight(baseURL, "/")) + "\n" +
		"export ANTHROPIC_API_KEY=" + shellQuote(key) + "\n"
}

// CodexExports returns the line that gives Codex the proxy's key; with an
// empty key, a line that asks `kirotray key` for it.
func CodexExports(key string) string {
	if key == "" {
		return "export " + CodexKeyEnv + `="$(kirotray key)"` + "\n"
	}
	return "export " + CodexKeyEnv + "=" + shellQuote(key) + "\n"
}

// shellQuote quotes s for a POSIX shell, leaving plain values (URLs,
// kirotray's keys) as they are.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pendingFile is one file of a prepared change.
type pendingFile struct {
	path    string // symbolic links resolved
	old     fileState
	new     []byte
	lenient bool     // undo leaves it alone if someone changed it since
	dirs    []string // folders to create, outermost first
}

// prepared is a change worked out but not written.
type prepared struct {
	plan  Plan
	files []pendingFile // only those that change
}

func (p *prepared) add(path string, old fileState, newData []byte, edits []string, lenient bool) {
	p.plan.Files = append(p.plan.Files, FilePlan{Path: path, Create: !old.exists, Edits: edits})
	if len(edits) > 0 {
		p.files = append(p.files, pendingFile{path: path, old: old, new: newData, lenient: lenient, dirs: missingDirs(filepath.Dir(path))})
	}
}

// claudePaths returns Claude Code's user settings file and its state file
// (~/.claude.json), both under CLAUDE_CONFIG_DIR when that is set.
func claudePaths(o *Options) (settings, state string, err error) {
	if dir := o.getenv("CLAUDE_CONFIG_DIR"); dir != "" {
		return filepath.Join(dir, "settings.json"), filepath.Join(dir, ".claude.json"), nil
	}
	home, err := o.home()
	if err != nil {
		return "", "", err
	}
	return filepath.Join(home, ".claude", "settings.json"), filepath.Join(home, ".claude.json"), nil
}

// PlanClaudeCode returns what [ConfigureClaudeCode] would change, writing nothing.
func PlanClaudeCode(opts Options) (*Plan, error) {
	p, err := prepareClaudeCode(&opts)
	if err != nil {
		return nil, err
	}
	return &p.plan, nil
}

// ConfigureClaudeCode points Claude Code at the proxy: ANTHROPIC_BASE_URL
// and ANTHROPIC_API_KEY in the "env" object of ~/.claude/settings.json
// (ANTHROPIC_AUTH_TOKEN removed, since Claude Code would send it instead),
// and "hasCompletedOnboarding": true in ~/.claude.json so that its first
// start does not ask for a claude.ai login. Everything else in both files
// is kept byte for byte. Undo with [Undo].
func ConfigureClaudeCode(opts Options) (*Change, error) {
	p, err := prepareClaudeCode(&opts)
	if err != nil {
		return nil, err
	}
	return commit(&opts, ClaudeCode, p)
}

func prepareClaudeCode(o *Options) (*prepared, error) {
	base, err := o.baseURL()
	if err != nil {
		return nil, err
	}
	if err := checkKey(o.APIKey); err != nil {
		return nil, err
	}
	settingsPath, statePath, err := claudePaths(o)
	if err != nil {
		return nil, err
	}
	p := &prepared{plan: Plan{Client: ClaudeCode}}

	settingsPath = resolve(settingsPath)
	old, err := readState(settingsPath)
	if err != nil {
		return nil, fmt.Errorf("clientsetup: %w", err)
	}
	doc, err := parseJSONDoc(settingsPath, old.data)
	if err != nil {
		return nil, err
	}
	var edits []string
	set := func(name, value, shown string) error {
		changed, err := doc.set([]string{"env", name}, []byte(quoteJSON(value)))
		if changed {
			edits = append(edits, fmt.Sprintf("set env.%s = %s", name, shown))
		}
		return err
	}
	if err := set("ANTHROPIC_BASE_URL", base, base); err != nil {
		return nil, err
	}
	if err := set("ANTHROPIC_API_KEY", o.APIKey, MaskKey(o.APIKey)); err != nil {
		return nil, err
	}
	if removed, err := doc.delete([]string{"env", "ANTHROPIC_AUTH_TOKEN"}); err != nil {
		return nil, err
	} else if removed {
		edits = append(edits, "remove env.ANTHROPIC_AUTH_TOKEN (Claude Code would send it instead of the kirotray key)")
	}
	p.add(settingsPath, old, doc.bytes(), edits, false)

	statePath = resolve(statePath)
	old, err = readState(statePath)
	if err != nil {
		return nil, fmt.Errorf("clientsetup: %w", err)
	}
	doc, err = parseJSONDoc(statePath, old.data)
	if err != nil {
		return nil, err
	}
	edits = nil
	if changed, err := doc.set([]string{"hasCompletedOnboarding"}, []byte("true")); err != nil {
		return nil, err
	} else if changed {
		edits = append(edits, "set hasCompletedOnboarding = true (skips the claude.ai login on first start)")
	}
	if changed, err := approveKey(doc, o.APIKey); err != nil {
		return nil, err
	} else if changed {
		edits = append(edits, "approve the key for interactive sessions (customApiKeyResponses; its last 20 characters, as Claude Code keeps them)")
	}
	// Claude Code rewrites this file all the time; undo restores it only
	// while it still holds exactly what kirotray wrote.
	p.add(statePath, old, doc.bytes(), edits, true)
	return p, nil
}

// approveKey adds the key to Claude Code's approved custom keys, so an
// interactive session does not stop to ask "use this API key?". Claude
// Code 2.x records a key by its last 20 characters in
// customApiKeyResponses.approved (and a refusal in .rejected, cleared here).
func approveKey(doc *jsonDoc, key string) (bool, error) {
	id := key
	if r := []rune(key); len(r) > 20 {
		id = string(r[len(r)-20:])
	}
	list := func(name string) ([]string, error) {
		raw := doc.get([]string{"customApiKeyResponses", name})
		var out []string
		if raw != nil {
			if err := json.Unmarshal(raw, &out); err != nil {
				return nil, fmt.Errorf("clientsetup: %s: customApiKeyResponses.%s is not a list of strings", doc.name, name)
			}
		}
		return out, nil
	}
	approved, err := list("approved")
	if err != nil {
		return false, err
	}
	rejected, err := list("rejected")
	if err != nil {
		return false, err
	}
	changed := false
	if !slices.Contains(approved, id) {
		val, _ := json.Marshal(append(approved, id))
		if changed, err = doc.set([]string{"customApiKeyResponses", "approved"}, val); err != nil {
			return false, err
		}
	}
	if slices.Contains(rejected, id) {
		val, _ := json.Marshal(slices.DeleteFunc(rejected, func(s string) bool { return s == id }))
		c, err := doc.set([]string{"customApiKeyResponses", "rejected"}, val)
		if err != nil {
			return false, err
		}
		changed = changed || c
	}
	return changed, nil
}

// codexPath returns Codex's config.toml: in $CODEX_HOME, else ~/.codex.
func codexPath(o *Options) (string, error) {
	if dir := o.getenv("CODEX_HOME"); dir != "" {
		return filepath.Join(dir, "config.toml"), nil
	}
	home, err := o.home()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".codex", "config.toml"), nil
}

// codexEdit is the config.toml change README.md documents.
func codexEdit(base, model string) tomlEdit {
	e := tomlEdit{
		Set: []tomlKV{{"model_provider", quoteTOML(codexProvider)}},
		// Codex knows no context window for Claude model names; without
		// these it never compacts and runs into "prompt is too long".
		Default: []tomlKV{{"model_context_window", "200000"}, {"model_auto_compact_token_limit", "160000"}},
		Table:   []string{"model_providers", codexProvider},
		Body: []tomlKV{
			{"name", quoteTOML(codexProvider)},
			{"base_url", quoteTOML(base + "/v1")},
			{"env_key", quoteTOML(CodexKeyEnv)},
			{"wire_api", quoteTOML("responses")}, // the only value current Codex accepts
		},
	}
	if model != "" {
		e.Set = append([]tomlKV{{"model", quoteTOML(model)}}, e.Set...)
	}
	return e
}

// PlanCodex returns what [ConfigureCodex] would change, writing nothing.
func PlanCodex(opts Options) (*Plan, error) {
	p, err := prepareCodex(&opts)
	if err != nil {
		return nil, err
	}
	return &p.plan, nil
}

// ConfigureCodex points Codex CLI at the proxy in config.toml: top-level
// model_provider = "kirotray" (and model, if opts.Model is set; context
// window settings if absent) and a [model_providers.kirotray] table whose
// env_key is KIROTRAY_API_KEY. Codex reads the key from that variable, so
// the user must export it: Plan.Export is the line. Lines kirotray does
// not own are kept byte for byte. Undo with [Undo].
func ConfigureCodex(opts Options) (*Change, error) {
	p, err := prepareCodex(&opts)
	if err != nil {
		return nil, err
	}
	return commit(&opts, Codex, p)
}

func prepareCodex(o *Options) (*prepared, error) {
	base, err := o.baseURL()
	if err != nil {
		return nil, err
	}
	if o.APIKey != "" {
		if err := checkKey(o.APIKey); err != nil {
			return nil, err
		}
	}
	if o.Model != "" && (!utf8.ValidString(o.Model) || strings.ContainsFunc(o.Model, func(r rune) bool { return r < 0x20 || r == 0x7f })) {
		return nil, errors.New("clientsetup: model name holds control characters")
	}
	path, err := codexPath(o)
	if err != nil {
		return nil, err
	}
	path = resolve(path)
	old, err := readState(path)
	if err != nil {
		return nil, fmt.Errorf("clientsetup: %w", err)
	}
	newData, edits, err := codexEdit(base, o.Model).apply(old.data)
	if err != nil {
		return nil, fmt.Errorf("clientsetup: %s: %w", path, err)
	}
	p := &prepared{plan: Plan{Client: Codex, Export: CodexExports(o.APIKey)}}
	p.add(path, old, newData, edits, false)
	shown := `"$(kirotray key)"`
	if o.APIKey != "" {
		shown = MaskKey(o.APIKey)
	}
	p.plan.Notes = append(p.plan.Notes, fmt.Sprintf("Codex reads the key from $%s: run `export %s=%s` (or add it to your shell profile) before starting codex.", CodexKeyEnv, CodexKeyEnv, shown))
	return p, nil
}
