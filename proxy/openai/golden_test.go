package openai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/relay/relaytest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const goldenCreated = 1767225600

// TestGolden renders every shared case (proxy/relay/testdata) in the four
// OpenAI forms: a chat stream, a chat completion, a Responses stream and a
// Responses object; each is compared with testdata/<case>.<form> and
// checked for the grammar clients rely on. The same frames read one byte at
// a time must give the same output.
func TestGolden(t *testing.T) {
	for _, c := range relaytest.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			forms := goldenForms(t, c, c.Events(t, false))
			oneByte := goldenForms(t, c, c.Events(t, true))
			for _, f := range forms {
				if !bytes.Equal(f.out, oneByte[f.ext].out) {
					t.Errorf("%s: one byte per read gives different output", f.ext)
				}
				relaytest.Golden(t, c.Name+"."+f.ext, f.out, *update)
				f.check(t, f.out)
			}
		})
	}
}

type goldenForm struct {
	ext   string
	out   []byte
	check func(*testing.T, []byte)
}

// goldenForms renders a case's events in every form.
func goldenForms(t *testing.T, c relaytest.Case, evs []kiro.Event) map[string]goldenForm {
	opts := c.Options.Translator("golden", "claude-sonnet-4-5")
	a := chatAnswer{ID: "chatcmpl-golden", Created: goldenCreated, Model: "claude-sonnet-4-5"}
	forms := map[string]goldenForm{}
	add := func(ext string, out []byte, check func(*testing.T, []byte)) {
		forms[ext] = goldenForm{ext: ext, out: out, check: check}
	}

	add("chat.sse", relaytest.Render(opts, evs, NewChatStream(a, c.Options.IncludeUsage)), checkChatStream)

	var acc anthropic.Accumulator
	collect(opts, evs, func(evs []anthropic.Event) {
		for i := range evs {
			acc.Add(&evs[i])
		}
	})
	if acc.Err() == nil {
		add("chat.json", AppendChatCompletion(nil, a, acc.Message(), false), checkJSON)
	}

	var tools []ResponsesTool
	if len(c.Options.Tools) > 0 {
		if err := json.Unmarshal(c.Options.Tools, &tools); err != nil {
			t.Fatal(err)
		}
	}
	refs := toolMap{}
	convTools(tools, "", nil, refs)
	meta := responseMeta{ID: "resp_golden", Created: goldenCreated, Model: "gpt-5.1-codex", ParallelToolCalls: true}
	add("responses.sse", relaytest.Render(opts, evs, newResponseEncoder(meta, refs, true)), checkResponsesStream)
	enc := newResponseEncoder(meta, refs, false)
	collect(opts, evs, func(evs []anthropic.Event) { enc.Encode(nil, evs) })
	add("responses.json", enc.Body(nil), checkJSON)
	return forms
}

// collect runs evs through a translator and passes its events to add.
func collect(opts anthropic.TranslatorOptions, evs []kiro.Event, add func([]anthropic.Event)) {
	tr := anthropic.NewTranslator(opts)
	add(tr.Start(nil))
	for _, ev := range evs {
		add(tr.Next(nil, ev))
	}
	add(tr.Finish(nil))
}

func checkJSON(t *testing.T, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
}

// sseData returns the data of every event of a stream; it fails on a line
// that is neither an event nor data.
func sseData(t *testing.T, b []byte) (events []string, data [][]byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "event: "):
			events = append(events, strings.TrimPrefix(line, "event: "))
		case strings.HasPrefix(line, "data: "):
			data = append(data, []byte(strings.TrimPrefix(line, "data: ")))
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	return events, data
}

// checkChatStream: every chunk valid JSON with one id, tool call indexes
// from 0 without gaps, a finish_reason before [DONE], [DONE] last; or an
// error chunk.
func checkChatStream(t *testing.T, b []byte) {
	t.Helper()
	_, data := sseData(t, b)
	if len(data) == 0 || string(data[len(data)-1]) != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]:\n%s", b)
	}
	tools, finished := 0, false
	for _, d := range data[:len(data)-1] {
		var chunk struct {
			ID      string `json:"id"`
			Error   any    `json:"error"`
			Choices []struct {
				Delta struct {
					ToolCalls []struct {
						Index int    `json:"index"`
						ID    string `json:"id"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(d, &chunk); err != nil {
			t.Fatalf("chunk %s: %v", d, err)
		}
		if chunk.Error != nil {
			finished = true
			continue
		}
		if chunk.ID != "chatcmpl-golden" {
			t.Fatalf("chunk id %q", chunk.ID)
		}
		for _, ch := range chunk.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				switch {
				case tc.ID != "" && tc.Index != tools:
					t.Fatalf("tool call %s has index %d, want %d", tc.ID, tc.Index, tools)
				case tc.ID != "":
					tools++
				case tc.Index != tools-1:
					t.Fatalf("arguments for index %d while call %d is open", tc.Index, tools-1)
				}
			}
			if ch.FinishReason != nil {
				finished = true
			}
		}
	}
	if !finished {
		t.Fatalf("no finish_reason:\n%s", b)
	}
}

// checkResponsesStream: event names match the data's type, sequence
// numbers count from 0, created first, one terminal event last, items added
// before their deltas and done after them.
func checkResponsesStream(t *testing.T, b []byte) {
	t.Helper()
	names, data := sseData(t, b)
	if len(names) != len(data) || len(data) < 2 {
		t.Fatalf("%d events for %d data lines", len(names), len(data))
	}
	open := map[string]bool{}
	for i, d := range data {
		var ev struct {
			Type   string `json:"type"`
			Seq    *int   `json:"sequence_number"`
			ItemID string `json:"item_id"`
			Item   struct {
				ID string `json:"id"`
			} `json:"item"`
		}
		if err := json.Unmarshal(d, &ev); err != nil {
			t.Fatalf("event %s: %v", d, err)
		}
		if ev.Type != names[i] || ev.Seq == nil || *ev.Seq != i {
			t.Fatalf("event %d: name %s, type %s, sequence %v", i, names[i], ev.Type, ev.Seq)
		}
		switch ev.Type {
		case "response.output_item.added":
			open[ev.Item.ID] = true
		case "response.output_item.done":
			if !open[ev.Item.ID] {
				t.Fatalf("done for item %s that is not open", ev.Item.ID)
			}
			delete(open, ev.Item.ID)
		}
		if ev.ItemID != "" && !open[ev.ItemID] {
			t.Fatalf("%s for item %s that is not open", ev.Type, ev.ItemID)
		}
	}
	if names[0] != "response.created" {
		t.Fatalf("first event %s", names[0])
	}
	switch last := names[len(names)-1]; last {
	case "response.completed", "response.incomplete":
		if len(open) > 0 {
			t.Fatalf("items still open at %s: %v", last, open)
		}
	case "response.failed":
	default:
		t.Fatalf("last event %s", last)
	}
}
