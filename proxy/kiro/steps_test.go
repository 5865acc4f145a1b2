package kiro

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kirotray/kirotray/proxy/conv"
)

// Step-level tests of BuildRequest's pipeline, on the intermediate turns.

// render shows turns compactly: U/A, the text in quotes, then uses and
// results by id, and the number of images.
func render(turns []turn) []string {
	var out []string
	for _, t := range turns {
		s := "U"
		if t.assistant {
			s = "A"
		}
		s += "'" + t.text + "'"
		for _, u := range t.uses {
			s += " use:" + u.id + "/" + u.name
		}
		for _, r := range t.results {
			s += " res:" + r.id
		}
		if len(t.images) > 0 {
			s += " img:" + strings.Repeat("*", len(t.images))
		}
		out = append(out, s)
	}
	return out
}

func ut(text string, results ...string) turn {
	t := turn{text: text}
	for _, id := range results {
		t.results = append(t.results, toolResult{id: id, text: "r" + id})
	}
	return t
}

func at(text string, uses ...string) turn {
	t := turn{assistant: true, text: text}
	for _, id := range uses {
		t.uses = append(t.uses, toolUse{id: id, name: "Bash", input: json.RawMessage(`{}`)})
	}
	return t
}

func TestToTurns(t *testing.T) {
	tests := []struct {
		name      string
		msgs      []conv.Message
		textTools bool
		want      []string
	}{
		{"empty messages produce nothing", []conv.Message{user(), asst(text(""))}, false, nil},
		{"roles", []conv.Message{{Role: "system", Content: []conv.Block{text("s")}}, asst(text("a"))}, false, []string{"U's'", "A'a'"}},
		{"texts joined per role", []conv.Message{user(text("a"), text("b")), asst(text("c"), text("d"))}, false, []string{"U'a\nb'", "A'c\n\nd'"}},
		{"tool use splits a user message", []conv.Message{user(text("a"), use("t1", "Bash"), text("b"))}, false,
			[]string{"U'a'", "A'' use:t1/Bash", "U'b'"}},
		{"tool result splits an assistant message", []conv.Message{asst(use("t1", "Bash"), result("t1", "x"), text("after"))}, false,
			[]string{"A'' use:t1/Bash", "U'' res:t1", "A'after'"}},
		{"thinking first, glued to the text", []conv.Message{asst(conv.Block{Type: conv.Reasoning, Text: "r"}, text("t"))}, false,
			[]string{"A'<thinking>r</thinking>\n\nt'"}},
		{"thinking after text", []conv.Message{asst(text("t"), conv.Block{Type: conv.Reasoning, Text: "r"})}, false,
			[]string{"A't\n\n<thinking>r</thinking>\n\n'"}},
		{"images: user kept, assistant dropped", []conv.Message{user(conv.Block{Type: conv.Image, MediaType: "image/png", Data: "A"}), asst(conv.Block{Type: conv.Image, MediaType: "image/png", Data: "A"}, text("x"))}, false,
			[]string{"U'' img:*", "A'x'"}},
		{"text tools", []conv.Message{asst(use("t1", "Bash")), user(result("t1", "out"))}, true,
			[]string{"A'[Tool: Bash (t1)]\n{\"a\":1}'", "U'[Tool Result (t1)]\nout'"}},
	}
	for _, tt := range tests {
		var names toolNames
		if got := render(toTurns(tt.msgs, tt.textTools, &names)); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestDropPrefillMergeFrame(t *testing.T) {
	tests := []struct {
		name string
		in   []turn
		want []string
	}{
		{"prefill dropped", []turn{ut("q"), at("pre")}, []string{"U'q'"}},
		{"assistant only kept and framed", []turn{at("a"), at("b")}, []string{"U''", "A'a\n\nb'", "U''"}},
		{"merge users keeps results and text", []turn{ut("", "t1"), ut("next")}, []string{"U'next' res:t1"}},
		{"merge assistants concatenates uses", []turn{ut("q"), at("a", "t1"), at("b", "t2"), ut("", "t1", "t2")},
			[]string{"U'q'", "A'a\n\nb' use:t1/Bash use:t2/Bash", "U'' res:t1 res:t2"}},
		{"nothing", nil, []string{"U''"}},
		{"assistant first", []turn{at("a"), ut("q")}, []string{"U''", "A'a'", "U'q'"}},
	}
	for _, tt := range tests {
		if got := render(frameTurns(mergeRuns(dropPrefill(tt.in)))); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestRepairPairing(t *testing.T) {
	tests := []struct {
		name string
		in   []turn
		want []string
	}{
		{"paired", []turn{ut("q"), at("", "t1"), ut("", "t1")}, []string{"U'q'", "A'' use:t1/Bash", "U'' res:t1"}},
		{"reordered", []turn{ut("q"), at("", "t1", "t2"), ut("", "t2", "t1")}, []string{"U'q'", "A'' use:t1/Bash use:t2/Bash", "U'' res:t1 res:t2"}},
		{"duplicate dropped", []turn{ut("q"), at("", "t1"), ut("", "t1", "t1")}, []string{"U'q'", "A'' use:t1/Bash", "U'' res:t1"}},
		{"orphan to text before the user's text", []turn{ut("q"), at("a"), ut("hi", "zz")}, []string{"U'q'", "A'a'", "U'[Tool Result (zz)]\nrzz\nhi'"}},
		{"orphan duplicate once", []turn{ut("", "zz", "zz")}, []string{"U'[Tool Result (zz)]\nrzz'"}},
		{"unanswered dropped", []turn{ut("q"), at("a", "t1", "t2"), ut("", "t2")}, []string{"U'q'", "A'a' use:t2/Bash", "U'' res:t2"}},
		{"no results: all uses dropped", []turn{ut("q"), at("a", "t1"), ut("x")}, []string{"U'q'", "A'a'", "U'x'"}},
		{"result for an older turn is an orphan", []turn{ut("q"), at("", "t1"), ut("x"), at("b"), ut("", "t1")},
			[]string{"U'q'", "A''", "U'x'", "A'b'", "U'[Tool Result (t1)]\nrt1'"}},
		{"repeated use id dropped", []turn{ut("q"), at("", "t1"), ut("", "t1"), at("", "t1"), ut("", "t1")},
			[]string{"U'q'", "A'' use:t1/Bash", "U'' res:t1", "A''", "U''"}},
		{"empty ids", []turn{ut("q"), at("", ""), ut("", "")}, []string{"U'q'", "A''", "U'[Tool Result ()]\nr'"}},
	}
	for _, tt := range tests {
		repairPairing(tt.in)
		if got := render(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestLimitImages(t *testing.T) {
	withImg := func(s string, n int) turn {
		t := ut(s)
		t.images = make([]image, n)
		return t
	}
	turns := []turn{withImg("1", 2), at("a"), withImg("2", 1), at("b"), withImg("3", 1), at("c"), withImg("now", 3)}
	limitImages(turns, 1)
	want := []string{"U'1\n[2 images omitted from earlier in the conversation]'", "A'a'",
		"U'2\n[image omitted from earlier in the conversation]'", "A'b'", "U'3' img:*", "A'c'", "U'now' img:***"}
	if got := render(turns); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestFillPlaceholders(t *testing.T) {
	turns := []turn{ut(" "), at("\n", "t1"), ut(" \n", "t1"), at(""), ut("")}
	fillPlaceholders(turns)
	want := []string{"U'(empty)'", "A' ' use:t1/Bash", "U'' res:t1", "A'(empty)'", "U'Continue'"}
	if got := render(turns); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestDeclareHistoryTools(t *testing.T) {
	specs := []spec{newSpec("Bash", "d", defaultSchema)}
	turns := []turn{ut("q"), at("", "t1"), ut("", "t1")}
	turns[1].uses = append(turns[1].uses, toolUse{id: "t2", name: "BASH"}, toolUse{id: "t3", name: "Read"}, toolUse{id: "t4", name: "read"})
	got := declareHistoryTools(specs, turns)
	if len(got) != 2 || got[1].name != "Read" || got[1].desc != historyToolDescription || string(got[1].schema) != string(defaultSchema) {
		t.Errorf("declared %+v", got)
	}
}

func TestToolChoiceInstruction(t *testing.T) {
	var names toolNames
	long := strings.Repeat("t", 70)
	tests := []struct {
		tc        conv.ToolChoice
		haveTools bool
		want      string
	}{
		{conv.ToolChoice{}, true, ""},
		{conv.ToolChoice{Type: conv.ToolChoiceAny}, true, "You must respond by calling one or more of the available tools."},
		{conv.ToolChoice{Type: conv.ToolChoiceAny}, false, ""},
		{conv.ToolChoice{Type: conv.ToolChoiceTool, Name: "Bash"}, true, `You must respond by calling the tool named "Bash".`},
		{conv.ToolChoice{Type: conv.ToolChoiceTool, Name: long}, true, `You must respond by calling the tool named "` + shortenToolName(long) + `".`},
		{conv.ToolChoice{Type: conv.ToolChoiceNone}, true, "Do not call any tools in this response; answer with text only."},
	}
	for _, tt := range tests {
		if got := toolChoiceInstruction(tt.tc, &names, tt.haveTools); got != tt.want {
			t.Errorf("toolChoiceInstruction(%+v) = %q, want %q", tt.tc, got, tt.want)
		}
	}
}
