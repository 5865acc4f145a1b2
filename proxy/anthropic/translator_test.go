package anthropic

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/kiro"
)

// run feeds evs to a new Translator and returns everything it emitted.
func run(opts TranslatorOptions, evs ...kiro.Event) []Event {
	tr := NewTranslator(opts)
	var out []Event
	for _, ev := range evs {
		out = tr.Next(out, ev)
	}
	return tr.Finish(out)
}

// fold returns the Message the events accumulate to.
func fold(evs []Event) *Message {
	var a Accumulator
	for i := range evs {
		a.Add(&evs[i])
	}
	return a.Message()
}

// kinds renders the content of m compactly: "text:…|thinking:…|tool:id:name:input".
func kinds(m *Message) string {
	var parts []string
	for _, b := range m.Content {
		switch b.Type {
		case ToolUseBlock:
			parts = append(parts, "tool:"+b.ID+":"+b.Name+":"+b.Input)
		case RedactedThinkingBlock:
			parts = append(parts, "redacted:"+b.Text)
		default:
			parts = append(parts, b.Type.String()+":"+b.Text)
		}
	}
	return strings.Join(parts, "|")
}

func TestTranslator(t *testing.T) {
	thinking := TranslatorOptions{Thinking: true, MessageID: "msg_x"}
	tests := []struct {
		name       string
		opts       TranslatorOptions
		evs        []kiro.Event
		want       string
		stopReason string
	}{
		{"tags ignored without thinking", TranslatorOptions{},
			[]kiro.Event{kiro.Text{Content: "<thinking>x</thinking>\n\ny"}}, "text:<thinking>x</thinking>\n\ny", StopEndTurn},
		{"tag in one chunk", thinking,
			[]kiro.Event{kiro.Text{Content: "<thinking>\nplan</thinking>\n\nanswer"}}, "thinking:plan|text:answer", StopEndTurn},
		{"newline after the tag in the next chunk", thinking,
			[]kiro.Event{kiro.Text{Content: "<thinking>"}, kiro.Text{Content: "\nplan"}, kiro.Text{Content: "</thinking>"}, kiro.Text{Content: "answer"}},
			"thinking:plan|text:answer", StopEndTurn},
		{"quoted closing tag stays thinking", thinking,
			[]kiro.Event{kiro.Text{Content: "<thinking>use \"</thinking>\" then '</thinking>' too\n</thinking>ok"}},
			"thinking:use \"</thinking>\" then '</thinking>' too|text:ok", StopEndTurn},
		{"quote before the tag in the previous chunk", thinking,
			[]kiro.Event{kiro.Text{Content: "<thinking>a`"}, kiro.Text{Content: "</thinking>`b"}, kiro.Text{Content: "</thinking>c"}},
			"thinking:a`</thinking>`b|text:c", StopEndTurn},
		{"text before a tag is an answer", thinking,
			[]kiro.Event{kiro.Text{Content: "Sure. <thinking>not thinking</thinking>"}}, "text:Sure. <thinking>not thinking</thinking>", StopEndTurn},
		{"partial tag that is not one", thinking,
			[]kiro.Event{kiro.Text{Content: "  <thin"}, kiro.Text{Content: "gs>"}}, "text:  <things>", StopEndTurn},
		{"partial tag at the end", thinking,
			[]kiro.Event{kiro.Text{Content: "<thi"}}, "text:<thi", StopEndTurn},
		{"whitespace-only answer", thinking,
			[]kiro.Event{kiro.Text{Content: "\n\n"}}, "", StopEndTurn},
		{"thinking closed by a tool call", thinking,
			[]kiro.Event{kiro.Text{Content: "<thinking>look</thin"}, kiro.ToolUse{ID: "tooluse_1", Name: "Ls", Input: "{}", Stop: true}},
			"thinking:look</thin|tool:toolu_1:Ls:{}", StopToolUse},
		{"reasoning dropped without thinking", TranslatorOptions{},
			[]kiro.Event{kiro.Reasoning{Text: "secret plan"}, kiro.Text{Content: "hi"}}, "text:hi", StopEndTurn},
		{"reasoning after tags ignored", thinking,
			[]kiro.Event{kiro.Text{Content: "<thinking>a</thinking>b"}, kiro.Reasoning{Text: "again"}}, "thinking:a|text:b", StopEndTurn},
		{"text, tool, text", TranslatorOptions{},
			[]kiro.Event{kiro.Text{Content: "a"}, kiro.ToolUse{ID: "tooluse_1", Name: "X", Input: `{"k":1}`, Stop: true}, kiro.Text{Content: "b"}},
			`text:a|tool:toolu_1:X:{"k":1}|text:b`, StopToolUse},
		{"complete tool emitted before later text", TranslatorOptions{},
			[]kiro.Event{kiro.ToolUse{ID: "call_1", Name: "X", Input: `{"k":1}`}, kiro.Text{Content: "after"}},
			`tool:toolu_call_1:X:{"k":1}|text:after`, StopToolUse},
		{"tool without id", TranslatorOptions{MessageID: "msg_abc"},
			[]kiro.Event{kiro.ToolUse{Name: "X", Input: `{}`, Stop: true}}, "tool:toolu_abc_0:X:{}", StopToolUse},
		{"tool input not an object", TranslatorOptions{},
			[]kiro.Event{kiro.ToolUse{ID: "t1", Name: "X", Input: `[1,2]`, Stop: true}}, "text:" + droppedToolNotice("X", true), StopMaxTokens},
		{"broken tool dropped, next kept", TranslatorOptions{},
			[]kiro.Event{kiro.ToolUse{ID: "t1", Name: "X", Input: `{"a":`}, kiro.ToolUse{ID: "t2", Name: "Y", Input: `{}`, Stop: true}},
			"text:" + droppedToolNotice("X", false) + "|tool:toolu_t2:Y:{}", StopMaxTokens},
		{"name in a later fragment", TranslatorOptions{},
			[]kiro.Event{kiro.ToolUse{ID: "t1", Input: `{"a"`}, kiro.ToolUse{ID: "t1", Name: "Late", Input: `:2}`, Stop: true}},
			`tool:toolu_t1:Late:{"a":2}`, StopToolUse},
		{"braces inside strings", TranslatorOptions{},
			[]kiro.Event{kiro.ToolUse{ID: "t1", Name: "X", Input: `{"s":"}{\"}"`}, kiro.ToolUse{ID: "t1", Name: "X", Input: `}`}, kiro.ToolUse{ID: "t1", Name: "X", Input: `{"s":"}{\"}"}`, Stop: true}},
			`tool:toolu_t1:X:{"s":"}{\"}"}`, StopToolUse},
		{"max_tokens cuts text", TranslatorOptions{MaxTokens: 2},
			[]kiro.Event{kiro.Text{Content: "abcd"}, kiro.Text{Content: "efghij"}}, "text:abcdefgh", StopMaxTokens},
		{"max_tokens keeps a complete tool call", TranslatorOptions{MaxTokens: 3},
			[]kiro.Event{kiro.Text{Content: "ok"}, kiro.ToolUse{ID: "t1", Name: "Write", Input: `{"content":"a long file body"}`, Stop: true}},
			`text:ok|tool:toolu_t1:Write:{"content":"a long file body"}`, StopToolUse},
		{"max_tokens cuts text after a complete tool call", TranslatorOptions{MaxTokens: 3},
			[]kiro.Event{kiro.ToolUse{ID: "t1", Name: "Write", Input: `{"content":"a long file body"}`, Stop: true}, kiro.Text{Content: "more"}},
			`tool:toolu_t1:Write:{"content":"a long file body"}`, StopMaxTokens},
		{"stop sequence across chunks", TranslatorOptions{StopSequences: []string{"", "END"}},
			[]kiro.Event{kiro.Text{Content: "done E"}, kiro.Text{Content: "N"}, kiro.Text{Content: "D more"}}, "text:done ", StopSequence},
		{"stop sequence prefix released at the end", TranslatorOptions{StopSequences: []string{"END"}},
			[]kiro.Event{kiro.Text{Content: "the EN"}}, "text:the EN", StopEndTurn},
		{"stop sequence prefix released at a tool", TranslatorOptions{StopSequences: []string{"END"}},
			[]kiro.Event{kiro.Text{Content: "the EN"}, kiro.ToolUse{ID: "t", Name: "X", Stop: true}}, "text:the EN|tool:toolu_t:X:{}", StopToolUse},
		{"context full", TranslatorOptions{},
			[]kiro.Event{kiro.Text{Content: "a"}, kiro.ContextUsage{Percent: 100.2}}, "text:a", StopContextWindow},
		{"events after the end are ignored", TranslatorOptions{StopSequences: []string{"X"}},
			[]kiro.Event{kiro.Text{Content: "aXb"}, kiro.Text{Content: "more"}, kiro.ToolUse{ID: "t", Name: "T", Stop: true}}, "text:a", StopSequence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := run(tt.opts, tt.evs...)
			checkGrammar(t, evs)
			m := fold(evs)
			if got := kinds(m); got != tt.want {
				t.Errorf("content\n got %q\nwant %q", got, tt.want)
			}
			if m.StopReason != tt.stopReason {
				t.Errorf("stop_reason %q, want %q", m.StopReason, tt.stopReason)
			}
		})
	}
}

func TestTranslatorUsage(t *testing.T) {
	opts := TranslatorOptions{InputTokens: 1000, Window: 200_000}
	tests := []struct {
		name                 string
		evs                  []kiro.Event
		input, output        int
		cacheRead, cacheMade int
	}{
		{"estimate", []kiro.Event{kiro.Text{Content: "abcdefgh"}}, 1000, 2, 0, 0},
		{"context usage", []kiro.Event{kiro.Text{Content: "abcdefgh"}, kiro.ContextUsage{Percent: 12.5}}, 25_000, 2, 0, 0},
		{"metadata wins, cache apart", []kiro.Event{kiro.Text{Content: "abcdefgh"}, kiro.ContextUsage{Percent: 12.5},
			kiro.Metadata{InputTokens: 900, CacheReadTokens: 100, CacheWriteTokens: 10, OutputTokens: 3}}, 900, 3, 100, 10},
		{"empty metadata ignored", []kiro.Event{kiro.Metadata{}}, 1000, 1, 0, 0},
		{"tool JSON counts", []kiro.Event{kiro.ToolUse{ID: "t", Name: "Abcd", Input: `{"k":"abcdefgh"}`, Stop: true}}, 1000, 5, 0, 0},
		{"thinking counts", []kiro.Event{kiro.Reasoning{Text: "abcdefgh"}}, 1000, 2, 0, 0},
	}
	for _, tt := range tests {
		o := opts
		o.Thinking = true
		evs := run(o, tt.evs...)
		u := evs[len(evs)-2].Usage
		if u.InputTokens != tt.input || u.OutputTokens != tt.output || u.CacheReadInputTokens != tt.cacheRead || u.CacheCreationInputTokens != tt.cacheMade {
			t.Errorf("%s: usage %+v, want input %d output %d cache read %d created %d", tt.name, u, tt.input, tt.output, tt.cacheRead, tt.cacheMade)
		}
		if evs[0].Usage != (Usage{InputTokens: 1000, OutputTokens: 1}) {
			t.Errorf("%s: message_start usage %+v", tt.name, evs[0].Usage)
		}
	}
}

func TestTranslatorStartAndAbort(t *testing.T) {
	tr := NewTranslator(TranslatorOptions{MessageID: "msg_1", Model: "m"})
	out := tr.Start(nil)
	out = tr.Start(out)
	if len(out) != 1 || out[0].Type != MessageStart || out[0].ID != "msg_1" || out[0].Model != "m" {
		t.Fatalf("Start: %+v", out)
	}
	out = tr.Next(out, kiro.Text{Content: "hi"})
	out = tr.Abort(out, APIError, "boom")
	out = tr.Finish(tr.Next(out, kiro.Text{Content: "late"}))
	checkGrammar(t, out)
	if last := out[len(out)-1]; last.Type != Error || last.ErrorType != APIError || last.Text != "boom" || !tr.Done() || tr.Err() == nil {
		t.Errorf("last %+v", last)
	}

	// An exception before any content gives the error alone.
	tr = NewTranslator(TranslatorOptions{})
	out = tr.Next(nil, kiro.Metering{Usage: 1})
	out = tr.Next(out, kiro.Exception{Type: "ThrottlingException", Message: "account 1234 is throttled"})
	if len(out) != 1 || out[0].Type != Error || out[0].ErrorType != OverloadedError || strings.Contains(out[0].Text, "1234") {
		t.Errorf("got %+v", out)
	}
	if !strings.Contains(tr.Err().Error(), "account 1234") {
		t.Errorf("the log error lost the upstream message: %v", tr.Err())
	}
}

func TestExceptionError(t *testing.T) {
	for typ, want := range map[string]string{
		"ThrottlingException": OverloadedError, "InternalServerException": OverloadedError, "error": OverloadedError,
		"ValidationException": APIError, "invalidStateEvent: INVALID_TASK_ASSIST_PLAN": APIError,
	} {
		if kind, msg := exceptionError(typ); kind != want || !utf8.ValidString(msg) {
			t.Errorf("%s: %s, want %s", typ, kind, want)
		}
	}
	if _, msg := exceptionError("Bad\"<script>\x00" + strings.Repeat("x", 100)); strings.ContainsAny(msg, "\"<>\x00") || len(msg) > 140 {
		t.Errorf("unsafe message %q", msg)
	}
}

func TestMessageJSON(t *testing.T) {
	m := fold(run(TranslatorOptions{MessageID: "msg_1", Model: "claude", InputTokens: 7, Thinking: true},
		kiro.Text{Content: "<thinking>hm</thinking>"}, kiro.Text{Content: "Hi \"there\"\u2028"},
		kiro.ToolUse{ID: "tooluse_1", Name: "Run", Input: `{"a": [1, 2]}`, Stop: true}))
	got := string(m.AppendJSON(nil))
	want := `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[` +
		`{"type":"thinking","thinking":"hm","signature":""},{"type":"text","text":"Hi \"there\"\u2028"},` +
		`{"type":"tool_use","id":"toolu_1","name":"Run","input":{"a": [1, 2]}}],` +
		`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":8,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Error("invalid JSON")
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n cr\r tab\t", "\x00\x1f\x7f", "é世😀", "bad\xffutf8", "\u2028\u2029", "<&>"} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q: %s is invalid: %v", s, b, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want {
			t.Errorf("%q round-trips to %q", s, got)
		}
	}
}

// fuzzEvents turns bytes into a Kiro event sequence drawn from pieces that
// hit the translator's edges: split tags, stop sequence halves, JSON
// fragments with quotes and backslashes, repeated ids, exceptions.
func fuzzEvents(data []byte) (TranslatorOptions, []kiro.Event) {
	texts := []string{"<thin", "king>", "<thinking>", "\n", "</think", "ing>\n\n", "</thinking>", "`", "\"", "Hello ", "世界", "ST", "OP", "STOP", "  ", "a\xffb", ""}
	frags := []string{"", "{", "}", `"k"`, ":", `"v\"}`, "\\", `"`, "[", "]", "1", ",", `{"a":1}`, "{}", "x"}
	ids := []string{"tooluse_1", "tooluse_2", "call_3", ""}
	opts := TranslatorOptions{MessageID: "msg_f", Model: "m", InputTokens: 10, Window: 1000}
	if len(data) > 0 {
		opts.Thinking = data[0]&1 != 0
		if data[0]&2 != 0 {
			opts.StopSequences = []string{"STOP"}
		}
		if data[0]&4 != 0 {
			opts.MaxTokens = int(data[0] >> 3)
		}
		data = data[1:]
	}
	var evs []kiro.Event
	for len(data) >= 2 {
		op, arg := data[0], int(data[1])
		data = data[2:]
		switch op % 9 {
		case 0, 1, 2:
			evs = append(evs, kiro.Text{Content: texts[arg%len(texts)]})
		case 3, 4, 5:
			evs = append(evs, kiro.ToolUse{ID: ids[arg%len(ids)], Name: "T", Input: frags[(arg/4)%len(frags)], Stop: arg&0x80 != 0})
		case 6:
			evs = append(evs, kiro.Reasoning{Text: texts[arg%len(texts)], Signature: ids[arg%2], Redacted: ids[(arg>>1)%4]})
		case 7:
			evs = append(evs, kiro.ContextUsage{Percent: float64(arg)}, kiro.Metadata{InputTokens: arg, OutputTokens: arg % 3})
		case 8:
			switch arg % 4 {
			case 0:
				evs = append(evs, kiro.Exception{Type: "ContentLengthExceededException"})
			case 1:
				evs = append(evs, kiro.Exception{Type: "ThrottlingException"})
			default:
				evs = append(evs, kiro.Metering{Usage: 1}, kiro.Unknown{Type: "followupPromptEvent"})
			}
		}
	}
	return opts, evs
}

func FuzzTranslator(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 1, 0, 3, 3, 1, 3, 4, 3, 0x83})
	f.Add([]byte{3, 0, 2, 0, 11, 0, 12, 5, 8, 4, 0x81, 8, 1})
	f.Add([]byte{0x2d, 0, 9, 3, 5, 4, 20, 6, 3, 7, 120})
	f.Add([]byte("tool calls and text interleaved: {\"\\}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, evs := fuzzEvents(data)
		tr := NewTranslator(opts)
		var out []Event
		for _, ev := range evs {
			out = tr.Next(out, ev)
		}
		out = tr.Finish(out)
		if err := grammarError(out); err != nil {
			t.Fatalf("%v\nevents: %#v", err, evs)
		}
		for i := range out {
			if !json.Valid(AppendEventJSON(nil, &out[i])) {
				t.Fatalf("event %d renders invalid JSON", i)
			}
		}
		if !tr.Done() || len(tr.Finish(nil)) != 0 {
			t.Fatal("Finish twice emitted events")
		}
	})
}

// typicalStream is a 100-event answer: thinking tags, text in small chunks,
// two tool calls in fragments, and the closing usage events.
func typicalStream() []kiro.Event {
	evs := []kiro.Event{kiro.Text{Content: "<thinking>\nThe user wants"}}
	for i := 0; i < 20; i++ {
		evs = append(evs, kiro.Text{Content: " to know about the streaming code path"})
	}
	evs = append(evs, kiro.Text{Content: ".\n</thinking>\n\nHere is what I found"})
	for len(evs) < 68 {
		evs = append(evs, kiro.Text{Content: " in the proxy → handler, "})
	}
	const input = `{"file_path":"/src/proxy/handler.go"}`
	for _, id := range []string{"tooluse_a", "tooluse_b"} {
		evs = append(evs, kiro.ToolUse{ID: id, Name: "Read"})
		for j := 0; j < len(input); j += 3 {
			evs = append(evs, kiro.ToolUse{ID: id, Name: "Read", Input: input[j:min(j+3, len(input))]})
		}
		evs = append(evs, kiro.ToolUse{ID: id, Name: "Read", Stop: true})
	}
	return append(evs, kiro.Metering{Usage: 0.05, Unit: "credit"}, kiro.ContextUsage{Percent: 4.2})
}

func TestTypicalStream(t *testing.T) {
	evs := typicalStream()
	if len(evs) != 100 {
		t.Fatalf("%d events", len(evs))
	}
	m := fold(run(TranslatorOptions{Thinking: true, StopSequences: []string{"\n\nHuman:"}, MaxTokens: 32000, Window: 200000}, evs...))
	if len(m.Content) != 4 || m.StopReason != StopToolUse || m.Content[2].Input != `{"file_path":"/src/proxy/handler.go"}` {
		t.Errorf("got %s", m.AppendJSON(nil))
	}
}

// BenchmarkTranslate runs a typical 100-event stream through the Translator
// and renders it as SSE, as the handler does.
func BenchmarkTranslate(b *testing.B) {
	evs := typicalStream()
	opts := TranslatorOptions{MessageID: "msg_bench", Model: "claude-sonnet-4-5", InputTokens: 25000, Window: 200000,
		Thinking: true, StopSequences: []string{"\n\nHuman:"}, MaxTokens: 32000}
	out := make([]Event, 0, 16)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		tr := NewTranslator(opts)
		for _, ev := range evs {
			out = tr.Next(out[:0], ev)
			buf = buf[:0]
			for i := range out {
				buf = AppendSSE(buf, &out[i])
			}
		}
		out = tr.Finish(out[:0])
	}
}
