package anthropic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

var update = flag.Bool("update", false, "rewrite the golden .sse files in testdata")

// goldenCase is one testdata/<name>.events.jsonl: an optional first line
// {"options":{…}} and then one Kiro event per line, in the shape it has on the
// wire: {"event":"<:event-type>","payload":{…}} or
// {"exception":"<:exception-type>","payload":{"message":…}}.
type goldenCase struct {
	name   string
	opts   caseOptions
	frames []byte // the events encoded as real event-stream frames
}

// caseOptions is what the request of a case asked for.
type caseOptions struct {
	Thinking      bool     `json:"thinking"`
	MaxTokens     int      `json:"max_tokens"`
	StopSequences []string `json:"stop_sequences"`
	Window        int      `json:"window"`
}

func (o caseOptions) translator() TranslatorOptions {
	return TranslatorOptions{
		MessageID:     "msg_golden",
		Model:         "claude-sonnet-4-5",
		InputTokens:   100,
		Window:        o.Window,
		Thinking:      o.Thinking,
		MaxTokens:     o.MaxTokens,
		StopSequences: o.StopSequences,
	}
}

func loadCases(t testing.TB) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.events.jsonl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	var cases []goldenCase
	for _, p := range paths {
		c, err := loadCase(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		cases = append(cases, c)
	}
	return cases
}

func loadCase(path string) (goldenCase, error) {
	c := goldenCase{name: strings.TrimSuffix(filepath.Base(path), ".events.jsonl")}
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var line struct {
			Options   *caseOptions    `json:"options"`
			Event     string          `json:"event"`
			Exception string          `json:"exception"`
			Payload   json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return c, err
		}
		var hdrs []eventstream.Header
		switch {
		case line.Options != nil:
			c.opts = *line.Options
			continue
		case line.Exception != "":
			hdrs = []eventstream.Header{eventstream.String(":message-type", "exception"), eventstream.String(":exception-type", line.Exception)}
		case line.Event != "":
			hdrs = []eventstream.Header{eventstream.String(":message-type", "event"), eventstream.String(":event-type", line.Event)}
		default:
			return c, fmt.Errorf("line %d: neither event nor exception", n)
		}
		hdrs = append(hdrs, eventstream.String(":content-type", "application/json"))
		c.frames = eventstream.Append(c.frames, eventstream.Message{Headers: hdrs, Payload: line.Payload})
	}
	return c, sc.Err()
}

// events decodes the case's frames read through r into Kiro events.
func decodeEvents(t testing.TB, r io.Reader) []kiro.Event {
	t.Helper()
	d := eventstream.NewDecoder(r)
	var evs []kiro.Event
	for {
		m, err := d.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		ev, err := kiro.ParseEvent(&m)
		if err != nil {
			t.Fatalf("parse event: %v", err)
		}
		evs = append(evs, ev)
	}
}

func (c goldenCase) events(t testing.TB) []kiro.Event {
	return decodeEvents(t, bytes.NewReader(c.frames))
}

// transcript runs events through a Translator and renders the result as SSE.
func transcript(opts TranslatorOptions, evs []kiro.Event) ([]byte, []Event) {
	tr := NewTranslator(opts)
	var all []Event
	for _, ev := range evs {
		all = tr.Next(all, ev)
	}
	all = tr.Finish(all)
	var sse []byte
	for i := range all {
		sse = AppendSSE(sse, &all[i])
	}
	return sse, all
}

func TestGolden(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got, evs := transcript(c.opts.translator(), c.events(t))
			checkGrammar(t, evs)

			// The same frames one byte per read must give the same transcript.
			oneByte, _ := transcript(c.opts.translator(), decodeEvents(t, iotest.OneByteReader(bytes.NewReader(c.frames))))
			if !bytes.Equal(oneByte, got) {
				t.Errorf("one byte per read gives a different transcript:\n%s", oneByte)
			}

			path := filepath.Join("testdata", c.name+".sse")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./proxy/anthropic -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("transcript differs from %s (go test ./proxy/anthropic -run TestGolden -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// checkGrammar asserts the stream grammar: one message_start first; blocks
// indexed 0, 1, … each start → delta* → stop with no overlap; then
// message_delta and message_stop last, or an error event last; every
// tool_use input valid JSON object. An error alone is also a stream.
func checkGrammar(t testing.TB, evs []Event) {
	t.Helper()
	if err := grammarError(evs); err != nil {
		var sse []byte
		for i := range evs {
			sse = AppendSSE(sse, &evs[i])
		}
		t.Fatalf("%v\n%s", err, sse)
	}
}

func grammarError(evs []Event) error {
	if len(evs) == 0 {
		return errors.New("no events")
	}
	if len(evs) == 1 && evs[0].Type == Error {
		return nil
	}
	if evs[0].Type != MessageStart {
		return errors.New("first event is not message_start")
	}
	next, open := 0, -1
	var input []byte
	var openType BlockType
	for i := 1; i < len(evs); i++ {
		ev := &evs[i]
		last := i == len(evs)-1
		switch ev.Type {
		case MessageStart:
			return errors.New("second message_start")
		case ContentBlockStart:
			if open >= 0 {
				return errors.New("block started while another is open")
			}
			if ev.Index != next {
				return errors.New("block index out of order")
			}
			open, openType, input = ev.Index, ev.Block, input[:0]
			next++
		case ContentBlockDelta:
			if ev.Index != open || open < 0 {
				return errors.New("delta outside its open block")
			}
			switch {
			case ev.Delta == InputJSONDelta && openType == ToolUseBlock:
				input = append(input, ev.Text...)
			case ev.Delta == TextDelta && openType == TextBlock,
				(ev.Delta == ThinkingDelta || ev.Delta == SignatureDelta) && openType == ThinkingBlock:
			default:
				return errors.New("delta type does not match its block")
			}
		case ContentBlockStop:
			if ev.Index != open {
				return errors.New("stop of a block that is not open")
			}
			if openType == ToolUseBlock {
				var obj map[string]any
				if err := json.Unmarshal(input, &obj); err != nil {
					return errors.New("tool_use input is not a JSON object: " + string(input))
				}
			}
			open = -1
		case MessageDelta:
			if open >= 0 {
				return errors.New("message_delta with a block open")
			}
			if i != len(evs)-2 || evs[i+1].Type != MessageStop {
				return errors.New("message_delta not followed by the final message_stop")
			}
			if ev.StopReason == "" {
				return errors.New("message_delta without stop_reason")
			}
		case MessageStop:
			if !last {
				return errors.New("message_stop is not last")
			}
		case Error:
			if !last {
				return errors.New("error event is not last")
			}
			if open >= 0 {
				return errors.New("error with a block open")
			}
		default:
			return errors.New("unexpected event " + ev.Type.String())
		}
	}
	switch evs[len(evs)-1].Type {
	case MessageStop, Error:
		return nil
	}
	return errors.New("stream does not end with message_stop or error")
}
