package gemini

import (
	"strings"
)

// Claude models that serve Gemini names.
const (
	FastModel    = "claude-haiku-4-5"  // Gemini's Flash and Flash-Lite tiers
	DefaultModel = "claude-sonnet-4-5" // Gemini's Pro tier and any other gemini-* name
)

// ClaudeModel maps a Gemini model name to the Claude model that serves it.
// Gemini CLI uses a Flash-Lite model for its routing and side calls and a
// Pro model for the work itself, so the tiers map onto Claude's:
//
//	Gemini name                    Claude model
//	gemini-*flash* (incl. -lite)   claude-haiku-4-5
//	gemini-*  (pro, ultra, …)      claude-sonnet-4-5
//	any other name (claude-*, …)   itself (proxy/kiro maps it as for every client)
//
// A "models/" prefix is ignored.
func ClaudeModel(name string) string {
	n := strings.ToLower(strings.TrimPrefix(name, "models/"))
	if !strings.HasPrefix(n, "gemini") {
		return strings.TrimPrefix(name, "models/")
	}
	if strings.Contains(n, "flash") {
		return FastModel
	}
	return DefaultModel
}

// ListedModel is an entry of GET /v1beta/models.
type ListedModel struct {
	Name        string // without "models/"
	DisplayName string
}

// DefaultModels is what /v1beta/models lists: the Gemini names Gemini CLI
// uses (any other name works too) and the Claude models by their own names.
var DefaultModels = []ListedModel{
	{"gemini-3.1-pro-preview", "Gemini 3.1 Pro Preview"},
	{"gemini-3-pro-preview", "Gemini 3 Pro Preview"},
	{"gemini-3-flash-preview", "Gemini 3 Flash Preview"},
	{"gemini-2.5-pro", "Gemini 2.5 Pro"},
	{"gemini-2.5-flash", "Gemini 2.5 Flash"},
	{"gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"},
	{"claude-opus-4-5", "Claude Opus 4.5"},
	{"claude-sonnet-4-5", "Claude Sonnet 4.5"},
	{"claude-haiku-4-5", "Claude Haiku 4.5"},
}
