// Package relaytest helps test the front ends built on proxy/relay: golden
// cases of Kiro events shared by every format (testdata/*.events.jsonl in
// proxy/relay, encoded to real event-stream frames), a runner that renders
// a case through the translator and an encoder, and a scripted Backend.
// It is for tests only.
package relaytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
	"github.com/kirotray/kirotray/proxy/relay"
)

// Case is one testdata/<name>.events.jsonl: an optional first line
// {"options":{…}} and then one Kiro event per line as it is on the wire:
// {"event":"<:event-type>","payload":{…}} or
// {"exception":"<:exception-type>","payload":{"message":…}}.
type Case struct {
	Name    string
	Options Options
	Frames  []byte // the events encoded as event-stream frames
}

// Options is what the request of a case asked for.
type Options struct {
	Thinking        bool     `json:"thinking"`
	MaxTokens       int      `json:"max_tokens"`
	StopSequences   []string `json:"stop_sequences"`
	Window          int      `json:"window"`
	IncludeUsage    bool     `json:"include_usage"`    // Chat Completions stream_options
	IncludeThoughts bool     `json:"include_thoughts"` // Gemini thinkingConfig
	// Tools are the request's Responses tools, as in a request body.
	Tools json.RawMessage `json:"tools"`
}

// Translator returns the translator options of the case.
func (o Options) Translator(id, model string) anthropic.TranslatorOptions {
	return anthropic.TranslatorOptions{MessageID: id, Model: model, InputTokens: 100, Window: o.Window,
		Thinking: o.Thinking, MaxTokens: o.MaxTokens, StopSequences: o.StopSequences}
}

// Dir is proxy/relay/testdata.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// Cases loads every case of Dir.
func Cases(t testing.TB) []Case {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(), "*.events.jsonl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden cases in %s: %v", Dir(), err)
	}
	var cases []Case
	for _, p := range paths {
		c, err := loadCase(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		cases = append(cases, c)
	}
	return cases
}

func loadCase(path string) (Case, error) {
	c := Case{Name: strings.TrimSuffix(filepath.Base(path), ".events.jsonl")}
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var line struct {
			Options   *Options        `json:"options"`
			Event     string          `json:"event"`
			Exception string          `json:"exception"`
			Payload   json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return c, fmt.Errorf("line %d: %w", n, err)
		}
		var hdrs []eventstream.Header
		switch {
		case line.Options != nil:
			c.Options = *line.Options
			continue
		case line.Exception != "":
			hdrs = []eventstream.Header{eventstream.String(":message-type", "exception"), eventstream.String(":exception-type", line.Exception)}
		case line.Event != "":
			hdrs = []eventstream.Header{eventstream.String(":message-type", "event"), eventstream.String(":event-type", line.Event)}
		default:
			return c, fmt.Errorf("line %d: neither event nor exception", n)
		}
		hdrs = append(hdrs, eventstream.String(":content-type", "application/json"))
		c.Frames = eventstream.Append(c.Frames, eventstream.Message{Headers: hdrs, Payload: line.Payload})
	}
	return c, sc.Err()
}

// Events decodes the case's frames, one byte per read when oneByte is set.
func (c Case) Events(t testing.TB, oneByte bool) []kiro.Event {
	t.Helper()
	var r io.Reader = bytes.NewReader(c.Frames)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
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

// Render runs evs through a translator made from opts and renders what it
// emits with enc, as relay.Stream would: Begin, then each event's output.
// An upstream that ends without error gets Finish.
func Render(opts anthropic.TranslatorOptions, evs []kiro.Event, enc relay.Encoder) []byte {
	tr := anthropic.NewTranslator(opts)
	out := enc.Encode(enc.Begin(nil), tr.Start(nil))
	for _, ev := range evs {
		out = enc.Encode(out, tr.Next(nil, ev))
	}
	return enc.Encode(out, tr.Finish(nil))
}

// Golden compares got with testdata/<name> of the calling package, or
// rewrites it when update is set.
func Golden(t *testing.T, name string, got []byte, update bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (-update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// Backend answers each Send with the next script (the last one repeats) and
// records the conversations it was sent. It is safe for concurrent use.
type Backend struct {
	mu      sync.Mutex
	scripts []Script
	reqs    []*conv.Request
}

// Script is one answer: events to stream, or an error from Send.
type Script struct {
	Events []kiro.Event
	Err    error
}

// NewBackend returns a Backend that answers with scripts in turn.
func NewBackend(scripts ...Script) *Backend { return &Backend{scripts: scripts} }

// Send implements anthropic.Backend.
func (b *Backend) Send(ctx context.Context, req *conv.Request) (anthropic.Stream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reqs = append(b.reqs, req)
	if len(b.scripts) == 0 {
		return nil, errors.New("relaytest: no script left")
	}
	s := b.scripts[0]
	if len(b.scripts) > 1 {
		b.scripts = b.scripts[1:]
	}
	if s.Err != nil {
		return nil, s.Err
	}
	return &stream{ctx: ctx, events: s.Events}, nil
}

// Requests returns the conversations sent so far.
func (b *Backend) Requests() []*conv.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*conv.Request(nil), b.reqs...)
}

type stream struct {
	ctx    context.Context
	events []kiro.Event
}

func (s *stream) Next() (kiro.Event, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *stream) Close() error    { return nil }
func (s *stream) Account() string { return "test-account" }

// Text returns the events of a plain answer: text in pieces.
func Text(pieces ...string) []kiro.Event {
	evs := make([]kiro.Event, len(pieces))
	for i, p := range pieces {
		evs[i] = kiro.Text{Content: p}
	}
	return evs
}

// ToolCall returns the events of one whole tool call, its input in two
// fragments.
func ToolCall(id, name, input string) []kiro.Event {
	half := len(input) / 2
	return []kiro.Event{
		kiro.ToolUse{ID: id, Name: name},
		kiro.ToolUse{ID: id, Name: name, Input: input[:half]},
		kiro.ToolUse{ID: id, Name: name, Input: input[half:]},
		kiro.ToolUse{ID: id, Name: name, Stop: true},
	}
}
