package gemini

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

// TestGolden renders every shared case (proxy/relay/testdata) as Gemini
// sends it: server-sent events (alt=sse), a streamed JSON array, and one
// generateContent response; each is compared with testdata/<case>.<form>
// and checked for what Gemini CLI relies on. The same frames read one byte
// at a time must give the same output.
func TestGolden(t *testing.T) {
	for _, c := range relaytest.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			got := goldenForms(c, c.Events(t, false))
			oneByte := goldenForms(c, c.Events(t, true))
			for ext, out := range got {
				if !bytes.Equal(out, oneByte[ext]) {
					t.Errorf("%s: one byte per read gives different output", ext)
				}
				relaytest.Golden(t, c.Name+"."+ext, out, *update)
			}
			checkSSE(t, got["gemini.sse"])
			var array []json.RawMessage
			if err := json.Unmarshal(got["gemini.array"], &array); err != nil {
				t.Fatalf("the array form is not a JSON array: %v\n%s", err, got["gemini.array"])
			}
			if b, ok := got["gemini.json"]; ok && !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
		})
	}
}

func goldenForms(c relaytest.Case, evs []kiro.Event) map[string][]byte {
	opts := c.Options.Translator("golden", "gemini-2.5-pro")
	a := answer{ResponseID: "golden", Model: "gemini-2.5-pro",
		Options: Options{Thinking: c.Options.Thinking, IncludeThoughts: c.Options.IncludeThoughts}}
	forms := map[string][]byte{
		"gemini.sse":   relaytest.Render(opts, evs, newStream(a, true)),
		"gemini.array": relaytest.Render(opts, evs, newStream(a, false)),
	}
	tr := anthropic.NewTranslator(opts)
	var acc anthropic.Accumulator
	add := func(evs []anthropic.Event) {
		for i := range evs {
			acc.Add(&evs[i])
		}
	}
	add(tr.Start(nil))
	for _, ev := range evs {
		add(tr.Next(nil, ev))
	}
	add(tr.Finish(nil))
	if acc.Err() == nil {
		forms["gemini.json"] = appendGenerateContent(nil, &a, acc.Message())
	}
	return forms
}

// checkSSE: only `data:` lines, each a JSON object; the last one carries a
// finishReason and usageMetadata, or an error; no chunk before it does.
func checkSSE(t *testing.T, b []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	var chunks []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "data: ") {
			t.Fatalf("unexpected line %q", line)
		}
		chunks = append(chunks, strings.TrimPrefix(line, "data: "))
	}
	for i, ch := range chunks {
		var r struct {
			Error      any `json:"error"`
			Candidates []struct {
				FinishReason string `json:"finishReason"`
			} `json:"candidates"`
			Usage any `json:"usageMetadata"`
		}
		if err := json.Unmarshal([]byte(ch), &r); err != nil {
			t.Fatalf("chunk %s: %v", ch, err)
		}
		last := i == len(chunks)-1
		final := r.Error != nil || (len(r.Candidates) == 1 && r.Candidates[0].FinishReason != "" && r.Usage != nil)
		if final != last {
			t.Fatalf("chunk %d of %d: final %v: %s", i, len(chunks), final, ch)
		}
	}
}
