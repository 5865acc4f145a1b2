package kiro

import "testing"

func TestMapModel(t *testing.T) {
	tests := []struct {
		name     string
		id       string
		thinking bool
	}{
		// Exact and normalized names of the table (§4.1, §4.3).
		{"claude-sonnet-4.5", "claude-sonnet-4.5", false},
		{"claude-sonnet-4-5", "claude-sonnet-4.5", false},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4.5", false},
		{"claude-sonnet-4-5[1m]", "claude-sonnet-4.5", false},
		{"Claude-Sonnet-4-5-Latest", "claude-sonnet-4.5", false},
		{"claude-sonnet-4-5-thinking", "claude-sonnet-4.5", true},
		{"claude-sonnet-4.5-1m", "claude-sonnet-4.5", false},
		{"claude-sonnet-4-6", "claude-sonnet-4.6", false},
		{"claude-sonnet-4-6[1m]", "claude-sonnet-4.6", false},
		{"claude-sonnet-4-20250514", "claude-sonnet-4", false},
		{"claude-sonnet-4-0", "claude-sonnet-4", false},
		{"claude-sonnet-4", "claude-sonnet-4", false},
		{"claude-haiku-4-5", "claude-haiku-4.5", false},
		{"claude-haiku-4-5-20251001", "claude-haiku-4.5", false},
		{"claude-opus-4-5", "claude-opus-4.5", false},
		{"claude-opus-4-5-20251101", "claude-opus-4.5", false},
		{"claude-opus-4-6", "claude-opus-4.6", false},
		{"claude-opus-4.6", "claude-opus-4.6", false},
		{"claude-opus-4-7", "claude-opus-4.7", false},
		{"claude-opus-4-8", "claude-opus-4.8", false},
		{"claude-opus-4-8[1m]", "claude-opus-4.8", false},
		{"claude-opus-4-6-thinking", "claude-opus-4.6", true},
		{"claude-4.5-opus-high", "claude-opus-4.5", false},
		{"claude-4.6-opus", "claude-opus-4.6", false},
		{"claude-4-5-sonnet-thinking", "claude-sonnet-4.5", true},
		{"auto", "auto", false},
		{"auto-kiro", "auto", false},
		{" claude-sonnet-4-6 ", "claude-sonnet-4.6", false},
		// Provider prefixes and Bedrock forms.
		{"anthropic/claude-sonnet-4.5", "claude-sonnet-4.5", false},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4.5", false},
		{"kiro-claude-opus-4-7", "claude-opus-4.7", false},
		{"amazonq-claude-haiku-4-5-agentic", "claude-haiku-4.5", false},
		// Newer than anything known: the family's newest id, never an error.
		{"claude-opus-5-5", "claude-opus-4.8", false},
		{"claude-opus-5-5[1m]", "claude-opus-4.8", false},
		{"claude-opus-5", "claude-opus-4.8", false},
		{"claude-opus-4-9", "claude-opus-4.8", false},
		{"claude-opus-4-10", "claude-opus-4.8", false},
		{"claude-opus-6-20280101", "claude-opus-4.8", false},
		{"claude-sonnet-5", "claude-sonnet-4.6", false},
		{"claude-sonnet-5-20270101", "claude-sonnet-4.6", false},
		{"claude-sonnet-4-7", "claude-sonnet-4.6", false},
		{"claude-haiku-5", "claude-haiku-4.5", false},
		{"claude-haiku-5-1-20290101", "claude-haiku-4.5", false},
		{"claude-5-opus", "claude-opus-4.8", false},
		{"claude-opus-5-5-thinking", "claude-opus-4.8", true},
		{"claude-opus", "claude-opus-4.8", false},
		{"claude-sonnet-latest", "claude-sonnet-4.6", false},
		// Older than anything known: the nearest version.
		{"claude-opus-4-1-20250805", "claude-opus-4.5", false},
		{"claude-opus-4-20250514", "claude-opus-4.5", false},
		{"claude-3-opus-20240229", "claude-opus-4.5", false},
		{"claude-3-7-sonnet-20250219", "claude-sonnet-4", false},
		{"claude-3.7-sonnet", "claude-sonnet-4", false},
		{"claude-3-5-sonnet-20241022", "claude-sonnet-4", false},
		{"claude-3-5-haiku-20241022", "claude-haiku-4.5", false},
		{"claude-3-haiku", "claude-haiku-4.5", false},
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-sonnet-4", false},
		// Claude names without a known family, and non-Claude names: the default.
		{"claude", "claude-sonnet-4.5", false},
		{"claude-instant-1.2", "claude-sonnet-4.5", false},
		{"claude-mythos-1", "claude-sonnet-4.5", false},
		{"gpt-4o", "claude-sonnet-4.5", false},
		{"gpt-5.1-codex", "claude-sonnet-4.5", false},
		{"o3", "claude-sonnet-4.5", false},
		{"gemini-3.1-pro-preview", "claude-sonnet-4.5", false},
		{"gemini-3.5-flash-lite", "claude-sonnet-4.5", false},
		{"", "claude-sonnet-4.5", false},
		{"[1m]", "claude-sonnet-4.5", false},
		{"---", "claude-sonnet-4.5", false},
		{"gpt-4o-thinking", "claude-sonnet-4.5", true},
		// Non-Claude catalogue ids are taken as named.
		{"deepseek-3.2", "deepseek-3.2", false},
		{"qwen3-coder-next", "qwen3-coder-next", false},
	}
	for _, tt := range tests {
		got := MapModel(tt.name)
		if got.ID != tt.id || got.Thinking != tt.thinking {
			t.Errorf("MapModel(%q) = %q thinking=%v, want %q thinking=%v", tt.name, got.ID, got.Thinking, tt.id, tt.thinking)
		}
		if got.Window != ContextWindow(got.ID) {
			t.Errorf("MapModel(%q).Window = %d, want %d", tt.name, got.Window, ContextWindow(got.ID))
		}
	}
}

func TestMapModelFamily(t *testing.T) {
	for name, family := range map[string]string{
		"claude-opus-5-5": FamilyOpus, "claude-sonnet-4-5": FamilySonnet, "claude-haiku-4-5": FamilyHaiku,
		"auto": FamilyAuto, "gpt-4o": FamilySonnet, "glm-5": "",
	} {
		if got := MapModel(name).Family; got != family {
			t.Errorf("MapModel(%q).Family = %q, want %q", name, got, family)
		}
	}
}

func TestModelMapDefault(t *testing.T) {
	tests := []struct{ def, name, want string }{
		{"", "gpt-4o", "claude-sonnet-4.5"},
		{"claude-opus-4.8", "gpt-4o", "claude-opus-4.8"},
		{"claude-opus-4-6", "gemini-3.1-pro-preview", "claude-opus-4.6"},
		{"claude-opus-7", "o3", "claude-opus-4.8"}, // a default outside the table is mapped too
		{"nonsense", "o3", "claude-sonnet-4.5"},
		{"claude-haiku-4.5", "claude-sonnet-4-6", "claude-sonnet-4.6"}, // Claude names ignore the default
	}
	for _, tt := range tests {
		if got := (ModelMap{Default: tt.def}).Map(tt.name).ID; got != tt.want {
			t.Errorf("ModelMap{%q}.Map(%q) = %q, want %q", tt.def, tt.name, got, tt.want)
		}
	}
}

func TestContextWindow(t *testing.T) {
	tests := map[string]int{
		"claude-opus-4.8": 1_000_000, "claude-opus-4.7": 1_000_000, "claude-opus-4.6": 1_000_000,
		"claude-sonnet-4.6": 1_000_000, "claude-opus-4.5": 200_000, "claude-sonnet-4.5": 200_000,
		"claude-sonnet-4": 200_000, "claude-haiku-4.5": 200_000, "auto": 200_000, "unknown": 200_000,
	}
	for id, want := range tests {
		if got := ContextWindow(id); got != want {
			t.Errorf("ContextWindow(%q) = %d, want %d", id, got, want)
		}
	}
}

func TestThinkingModelName(t *testing.T) {
	for name, want := range map[string]bool{
		"claude-sonnet-4-5-thinking":          true,
		"claude-opus-4-6-thinking[1m]":        true,
		"Claude-Sonnet-4-5-Thinking":          true,
		"claude-sonnet-4-5-thinking-20250929": true,
		"claude-sonnet-4-5":                   false,
		"claude-opus-4-8[1m]":                 false,
	} {
		if got := ThinkingModelName(name); got != want {
			t.Errorf("ThinkingModelName(%q) = %v, want %v", name, got, want)
		}
		if got := MapModel(name).Thinking; got != want {
			t.Errorf("MapModel(%q).Thinking = %v, want %v", name, got, want)
		}
	}
}
