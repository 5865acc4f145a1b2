package conv

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEstimateText(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abcd", 1},
		{"abcde", 2},
		{strings.Repeat("word ", 80), 100},      // 400 Latin chars at 4 per token
		{"héllo wörld, ça va", 5},               // Latin-1 letters count as Latin: 18 chars
		{"ǅemal", 2},                            // Latin Extended-B too
		{"世界你好吗", 4},                            // 5 CJK chars at 1.5 per token: 3.33 → 4
		{strings.Repeat("日本語", 100), 200},       // 300 CJK chars
		{"Привет", 4},                           // Cyrillic is not Latin: 6 chars → 4
		{"a→b", 2},                              // 2 Latin + 1 other: (3+3+8)/12 → 2
		{"😀😀😀", 2},                              // each emoji is one non-Latin char
		{strings.Repeat("x", 7) + "é" + "y", 3}, // a multi-byte char straddling the 8-byte word
		{"\xff\xfe invalid", 4},                 // stray lead bytes count as non-Latin characters
	}
	for _, tt := range tests {
		if got := EstimateText(tt.in); got != tt.want {
			t.Errorf("EstimateText(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestTextCounterRoundsOnce(t *testing.T) {
	var c TextCounter
	for range 100 {
		c.Add("ab") // half a token each
	}
	if got := c.Tokens(); got != 50 {
		t.Errorf("100 × 2 chars = %d tokens, want 50 (not 100: rounding once)", got)
	}
	c.AddBytes([]byte("abcd"))
	if got := c.Tokens(); got != 51 {
		t.Errorf("after AddBytes: %d, want 51", got)
	}
}

func TestAddWithin(t *testing.T) {
	tests := []struct {
		already string
		s       string
		limit   int
		want    int
	}{
		{"", "abcdefgh", 2, 8},
		{"", "abcdefghi", 2, 8},
		{"abc", "defgh", 2, 5},
		{"abcdefgh", "xyz", 2, 0},
		{"", "世界你好", 2, 9},  // 3 CJK chars = 2 tokens; the 4th does not fit
		{"", "ab世界", 1, 2},  // the CJK char does not fit beside 2 Latin ones
		{"", "ab世界", 0, 0},  // no room at all
		{"", "éééé", 1, 8},  // 2-byte Latin chars, cut between characters
		{"", "ééééé", 1, 8}, // …and not inside the fifth
		{"abcdefghijk", "", 1, 0},
	}
	for _, tt := range tests {
		var c TextCounter
		c.Add(tt.already)
		before := c.Tokens()
		got := c.AddWithin(tt.s, tt.limit)
		if got != tt.want {
			t.Errorf("AddWithin(%q after %q, %d) = %d, want %d", tt.s, tt.already, tt.limit, got, tt.want)
		}
		var d TextCounter
		d.Add(tt.already)
		d.Add(tt.s[:got])
		if c.Tokens() != d.Tokens() {
			t.Errorf("AddWithin counted %d tokens, the prefix is %d", c.Tokens(), d.Tokens())
		}
		if got > 0 && c.Tokens() > max(tt.limit, before) {
			t.Errorf("AddWithin went over the limit: %d > %d", c.Tokens(), tt.limit)
		}
	}
}

func TestEstimateTokens(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}}}`) // 60 chars = 15 tokens
	req := &Request{
		System: strings.Repeat("abcd", 100), // 100 tokens
		Messages: []Message{
			{Role: User, Content: []Block{{Type: Text, Text: strings.Repeat("abcd", 10)}, {Type: Image, MediaType: "image/png", Data: "AAAA"}}},
			{Role: Assistant, Content: []Block{{Type: ToolUse, ToolName: "Bash", Input: json.RawMessage(`{"command":"ls"}`)}}},
			{Role: User, Content: []Block{{Type: ToolResult, Content: []Block{{Type: Text, Text: "abcdabcd"}}}}},
		},
		Tools: []Tool{{Name: "Bash", Description: "Runs.", Schema: schema}},
	}
	// Text: 400 + 40 + (4 + 16) + 8 + (4 + 5 + 60) = 537 chars → 135 tokens (134.25 rounded up).
	// Fixed: 3 messages × 4 + image 1600 + tool use 8 + tool result 8 + preamble 300 + tool 8.
	want := 135 + 3*MessageOverhead + ImageTokens + 2*ToolUseOverhead + ToolsPreamble + ToolOverhead
	if got := EstimateTokens(req); got != want {
		t.Errorf("EstimateTokens = %d, want %d", got, want)
	}
	if got := EstimateTokens(&Request{}); got != 1 {
		t.Errorf("empty request: %d, want 1", got)
	}
}

func BenchmarkEstimateText(b *testing.B) {
	s := strings.Repeat("The proxy streams tokens back to the client → 快速. ", 2000) // ~100 KB
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		EstimateText(s)
	}
}
