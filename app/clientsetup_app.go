package app

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kirotray/kirotray/app/clientsetup"
)

// Clients the window can configure.
const (
	ClientClaudeCode = string(clientsetup.ClaudeCode)
	ClientCodex      = string(clientsetup.Codex)
)

// setupOptions points a client at the proxy's fixed base URL.
func (a *App) setupOptions(withKey bool) (clientsetup.Options, error) {
	dir, err := a.dir()
	if err != nil {
		return clientsetup.Options{}, err
	}
	o := clientsetup.Options{Home: a.cfg.Home, BaseURL: a.State().BaseURL, StateDir: filepath.Join(dir, "undo")}
	if withKey {
		k, err := a.APIKey()
		if err != nil {
			return o, err
		}
		o.APIKey = k.Reveal()
	}
	return o, nil
}

// PlanClientSetup describes, for a confirmation dialog, what
// ConfigureClient(client) would change (files and keys; the key masked).
func (a *App) PlanClientSetup(client string) (string, error) {
	o, err := a.setupOptions(true)
	if err != nil {
		return "", err
	}
	var p *clientsetup.Plan
	switch client {
	case ClientClaudeCode:
		p, err = clientsetup.PlanClaudeCode(o)
	case ClientCodex:
		p, err = clientsetup.PlanCodex(o)
	default:
		return "", fmt.Errorf("%q is not a client kirotray configures", client)
	}
	if err != nil {
		return "", err
	}
	if p.Empty() {
		return "Everything is already set up:\n" + p.String(), nil
	}
	return "kirotray will change these files (a copy of each is kept, so you can undo):\n\n" + p.String(), nil
}

// ConfigureClient points a coding CLI at the proxy: Claude Code's
// settings.json (env) and onboarding flag, or Codex CLI's config.toml. It
// records the files' old content for UndoClientSetup and returns what to
// tell the person (restart running sessions; for Codex, the key variable).
func (a *App) ConfigureClient(client string) (string, error) {
	o, err := a.setupOptions(true)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	switch client {
	case ClientClaudeCode:
		if _, err := clientsetup.ConfigureClaudeCode(o); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "Claude Code now uses kirotray at %s.\nRestart any Claude Code session that is running: it reads its settings when it starts.", o.BaseURL)
	case ClientCodex:
		if _, err := clientsetup.ConfigureCodex(o); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "Codex CLI now uses kirotray at %s/v1.\nCodex reads the key from %s: add this line to your shell profile, then open a new terminal:\n\n  %s\nRestart any Codex session that is running.",
			o.BaseURL, clientsetup.CodexKeyEnv, strings.TrimSpace(clientsetup.CodexExports("")))
	default:
		return "", fmt.Errorf("%q is not a client kirotray configures", client)
	}
	a.log.Info("configured a client", "client", client)
	return b.String(), nil
}

// UndoClientSetup restores the files ConfigureClient changed last. It
// refuses, saying which, when a file was edited since.
func (a *App) UndoClientSetup(client string) error {
	o, err := a.setupOptions(false)
	if err != nil {
		return err
	}
	_, err = clientsetup.Undo(o.StateDir, clientsetup.Client(client))
	return err
}

// CanUndoClientSetup reports whether ConfigureClient's last change can be undone.
func (a *App) CanUndoClientSetup(client string) bool {
	o, err := a.setupOptions(false)
	return err == nil && clientsetup.CanUndo(o.StateDir, clientsetup.Client(client))
}
