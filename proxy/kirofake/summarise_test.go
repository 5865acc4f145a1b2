package kirofake

import "testing"

// Tool output wrapped by a client (Gemini CLI 0.61 sends
// <untrusted_context>…</untrusted_context>) is summarised by its content.
func TestSummariseLooksPastWrapperTags(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"<untrusted_context>\nmarker-42\nmore\n</untrusted_context>", "The tool returned 4 lines; the first is `marker-42`."},
		{"marker-42", "The tool returned one line: `marker-42`."},
		{"<b>bold</b> first\nsecond", "The tool returned 2 lines; the first is `<b>bold</b> first`."},
		{"<tag>\n</tag>", "The tool returned 2 lines; the first is `<tag>`."},
	} {
		text := tc.out
		got := summarise([]ToolResult{{ToolUseID: "t1", Content: []ToolResultContent{{Text: &text}}}})
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.out, got, tc.want)
		}
	}
}
