package kirofake

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kirotray/kirotray/proxy/kiro"
)

// Tool sets shaped like the clients' own.
var (
	claudeCodeTools = []map[string]any{
		toolSpec("Task", `{"type":"object","properties":{"description":{"type":"string"},"prompt":{"type":"string"},"subagent_type":{"type":"string"}},"required":["description","prompt","subagent_type"]}`),
		toolSpec("Bash", `{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"number"},"description":{"type":"string"}},"required":["command"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}`),
		toolSpec("Glob", `{"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string"}},"required":["pattern"]}`),
		toolSpec("Read", `{"type":"object","properties":{"file_path":{"type":"string"},"offset":{"type":"number"},"limit":{"type":"number"}},"required":["file_path"]}`),
		toolSpec("Write", `{"type":"object","properties":{"file_path":{"type":"string"},"content":{"type":"string"}},"required":["file_path","content"]}`),
	}
	codexTools = []map[string]any{
		toolSpec("exec_command", `{"type":"object","properties":{"cmd":{"type":"string"},"workdir":{"type":"string"},"yield_time_ms":{"type":"number"}},"required":["cmd"],"additionalProperties":false}`),
		toolSpec("apply_patch", `{"type":"object","properties":{"input":{"type":"string"}},"required":["input"]}`),
	}
	geminiTools = []map[string]any{
		toolSpec("read_file", `{"type":"object","properties":{"absolute_path":{"type":"string"}},"required":["absolute_path"]}`),
		toolSpec("run_shell_command", `{"type":"object","properties":{"command":{"type":"string"},"description":{"type":"string"}},"required":["command"]}`),
	}
	oldCodexShell = toolSpec("shell", `{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}},"timeout_ms":{"type":"integer"}},"required":["command"]}`)
	mcpTool       = toolSpec("make_widget", `{"type":"object","properties":{
		"title":{"type":"string"},"count":{"type":"integer","minimum":3},"ratio":{"type":["number","null"]},"dry_run":{"type":"boolean"},
		"tags":{"type":"array","items":{"type":"string"}},"color":{"enum":["red","green"]},
		"size":{"anyOf":[{"type":"null"},{"type":"object","properties":{"w":{"type":"integer"}},"required":["w"]}]},
		"owner":{"type":"object","properties":{"name":{"type":"string"},"admin":{"type":"boolean"}},"required":["name","admin"]}},
		"required":["title","count","ratio","dry_run","tags","color","size","owner"]}`)
)

// demo sends b to a fresh fake with the given seed and decodes the answer.
func demo(t *testing.T, seed int64, b body) (decoded, []byte) {
	t.Helper()
	f := newFake(t, Config{Seed: seed})
	resp := f.chat(t, f.socialToken("work"), b.bytes())
	mustOK(t, resp)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	d := decodeStream(t, bytes.NewReader(raw))
	if d.err != nil {
		t.Fatalf("stream: %v", d.err)
	}
	checkDemoShape(t, d, len(b.bytes()))
	return d, raw
}

// checkDemoShape asserts what every demo reply has: several valid UTF-8
// text chunks first, metering then context usage last, consistent with the
// body size against the 200k window of claude-sonnet-4.5.
func checkDemoShape(t *testing.T, d decoded, bodyLen int) {
	t.Helper()
	n := len(d.events)
	if n < 5 {
		t.Fatalf("only %d events: %v", n, d.events)
	}
	if _, ok := d.events[0].(kiro.Text); !ok {
		t.Errorf("first event %T, want text", d.events[0])
	}
	texts := 0
	for _, e := range d.events {
		if e, ok := e.(kiro.Text); ok {
			texts++
			if !utf8.ValidString(e.Content) || e.Content == "" {
				t.Errorf("text chunk %q", e.Content)
			}
		}
	}
	if texts < 3 {
		t.Errorf("%d text chunks, want several", texts)
	}
	m, ok := d.events[n-2].(kiro.Metering)
	if !ok || m.Usage <= 0 || m.Unit != "credit" {
		t.Errorf("second-to-last event %#v, want metering", d.events[n-2])
	}
	cu, ok := d.events[n-1].(kiro.ContextUsage)
	want := 100 * float64(bodyLen/4) / 200_000
	if !ok || math.Abs(cu.Percent-want) > 0.001 {
		t.Errorf("last event %#v, want context usage ≈ %.4f%%", d.events[n-1], want)
	}
}

func oneCall(t *testing.T, d decoded) (kiro.ToolUse, map[string]any) {
	t.Helper()
	calls := d.toolCalls()
	if len(calls) != 1 {
		t.Fatalf("%d tool calls, want 1 (text %q)", len(calls), d.text())
	}
	c := calls[0]
	if !c.Stop || !strings.HasPrefix(c.ID, "tooluse_") || len(c.ID) != len("tooluse_")+22 {
		t.Errorf("call %+v", c)
	}
	var input map[string]any
	if err := json.Unmarshal([]byte(c.Input), &input); err != nil {
		t.Fatalf("input %q: %v", c.Input, err)
	}
	// The call's frames are together, after the text, ending with stop.
	var frags []kiro.ToolUse
	for _, e := range d.events {
		if tu, ok := e.(kiro.ToolUse); ok {
			frags = append(frags, tu)
		}
	}
	if frags[0].Input != "" || !frags[len(frags)-1].Stop || len(frags) < 4 {
		t.Errorf("fragments %+v: want an empty first, several pieces, a stop last", frags)
	}
	return c, input
}

func TestDemoEcho(t *testing.T) {
	d, _ := demo(t, 1, simpleBody("<system-reminder>ignore me</system-reminder>What is Go? Ünïcödé → ok"))
	text := d.text()
	if !strings.HasPrefix(text, "You said: “What is Go? Ünïcödé → ok”") || !strings.Contains(text, "sign in") {
		t.Errorf("text %q", text)
	}
	if len(d.toolCalls()) != 0 {
		t.Error("a plain question got a tool call")
	}
}

func TestDemoToolCalls(t *testing.T) {
	withSystem := func(prompt, system string, tools ...map[string]any) body {
		b := simpleBody(prompt).withTools(tools...)
		return b.set("conversationState.history", []any{
			map[string]any{"userInputMessage": map[string]any{"content": system, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}},
			map[string]any{"assistantResponseMessage": map[string]any{"content": "I will follow these instructions."}},
		})
	}
	tests := []struct {
		name  string
		body  body
		tool  string
		input map[string]any
	}{
		{"claude code list", simpleBody("list the files here").withTools(claudeCodeTools...), "Bash", map[string]any{"command": "ls -la"}},
		{"claude code list a directory", simpleBody("what files are in proxy/kiro?").withTools(claudeCodeTools...), "Bash",
			map[string]any{"command": "ls -la proxy/kiro"}},
		{"claude code run", simpleBody("please run go version.").withTools(claudeCodeTools...), "Bash", map[string]any{"command": "go version"}},
		{"claude code backticks", simpleBody("run `git status --short` for me").withTools(claudeCodeTools...), "Bash",
			map[string]any{"command": "git status --short"}},
		{"claude code read in cwd", withSystem("read main.go please", "<env>\nWorking directory: /home/dev/proj\n</env>", claudeCodeTools...),
			"Read", map[string]any{"file_path": "/home/dev/proj/main.go"}},
		{"claude code read default", simpleBody("read the readme").withTools(claudeCodeTools...), "Read", map[string]any{"file_path": "README.md"}},
		{"claude code write", simpleBody("create a file notes.txt").withTools(claudeCodeTools...), "Write",
			map[string]any{"file_path": "notes.txt", "content": "Hello from kirotray's demo upstream.\n"}},
		{"claude code named tool", simpleBody("use the Glob tool").withTools(claudeCodeTools...), "Glob", map[string]any{"pattern": "**/*.go"}},
		{"codex", simpleBody("<environment_context><cwd>/w</cwd></environment_context>\nlist files").withTools(codexTools...),
			"exec_command", map[string]any{"cmd": "ls -la"}},
		{"gemini read", simpleBody("show me /etc/hosts").withTools(geminiTools...), "read_file", map[string]any{"absolute_path": "/etc/hosts"}},
		{"gemini run", simpleBody("run pwd").withTools(geminiTools...), "run_shell_command", map[string]any{"command": "pwd"}},
		{"argv shell", simpleBody("ls").withTools(oldCodexShell), "shell", map[string]any{"command": []any{"bash", "-lc", "ls -la"}}},
		{"read without a read tool", simpleBody("cat go.mod").withTools(codexTools...), "exec_command", map[string]any{"cmd": "cat go.mod"}},
		{"schema types", simpleBody("call make_widget").withTools(mcpTool), "make_widget", map[string]any{
			"title": "List the files in the current directory", "count": 3.0, "ratio": 1.0, "dry_run": false, "tags": []any{},
			"color": "red", "size": map[string]any{"w": 1.0}, "owner": map[string]any{"name": "demo", "admin": false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := demo(t, 7, tt.body)
			call, input := oneCall(t, d)
			if call.Name != tt.tool {
				t.Errorf("tool %q, want %q", call.Name, tt.tool)
			}
			got, _ := json.Marshal(input)
			want, _ := json.Marshal(tt.input)
			if !bytes.Equal(got, want) {
				t.Errorf("input %s, want %s", got, want)
			}
			if !strings.Contains(d.text(), tt.tool) {
				t.Errorf("text %q does not announce the %s tool", d.text(), tt.tool)
			}
		})
	}
}

func TestDemoNoToolWhenNotAsked(t *testing.T) {
	for _, prompt := range []string{
		"How are you today?",
		"Your task is to create a detailed summary of the conversation so far. " + strings.Repeat("Be thorough. ", 40),
	} {
		d, _ := demo(t, 1, simpleBody(prompt).withTools(claudeCodeTools...))
		if len(d.toolCalls()) != 0 || !strings.Contains(d.text(), prompt[:15]) {
			t.Errorf("prompt %.30q: text %q, calls %v", prompt, d.text(), d.toolCalls())
		}
	}
}

// TestDemoToolInputSplits checks that the input is cut inside the first key
// and right after a backslash, where naive clients break.
func TestDemoToolInputSplits(t *testing.T) {
	d, _ := demo(t, 3, simpleBody("write hello.txt").withTools(claudeCodeTools...))
	var afterBackslash, insideKey bool
	offset := 0 // where the next fragment starts in the joined input
	for _, e := range d.events {
		tu, ok := e.(kiro.ToolUse)
		if !ok || tu.Input == "" {
			continue
		}
		offset += len(tu.Input)
		afterBackslash = afterBackslash || strings.HasSuffix(tu.Input, `\`)
		insideKey = insideKey || offset > len(`{"`) && offset < len(`{"file_path`)
	}
	if !afterBackslash || !insideKey {
		t.Errorf("fragments cut after a backslash: %v, inside the first key: %v", afterBackslash, insideKey)
	}
}

func TestDemoToolResults(t *testing.T) {
	b := parseBody(validBody)
	d, _ := demo(t, 1, b)
	if len(d.toolCalls()) != 0 {
		t.Errorf("a tool result got another tool call")
	}
	if want := "The tool returned 2 lines; the first is `main.go`."; d.text() != want {
		t.Errorf("text %q, want %q", d.text(), want)
	}
	b.set(ctx+".toolResults.0.status", "error").set(ctx+".toolResults.0.content.0.text", "ls: cannot access")
	if d, _ := demo(t, 1, b); !strings.Contains(d.text(), "error: `ls: cannot access`") {
		t.Errorf("error result: %q", d.text())
	}
}

func TestDemoThinking(t *testing.T) {
	for _, tt := range []struct {
		name string
		body body
	}{
		{"enabled in the current message", simpleBody("<thinking_mode>enabled</thinking_mode><max_thinking_length>20000</max_thinking_length>hi")},
		{"adaptive in the system pair", simpleBody("list files").withTools(claudeCodeTools...).set("conversationState.history", []any{
			map[string]any{"userInputMessage": map[string]any{"content": "<thinking_mode>adaptive</thinking_mode><thinking_effort>high</thinking_effort>be brief",
				"modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}},
			map[string]any{"assistantResponseMessage": map[string]any{"content": "OK"}},
		})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := demo(t, 5, tt.body)
			text := d.text()
			head, answer, ok := strings.Cut(text, "\n</thinking>\n\n")
			if !strings.HasPrefix(head, "<thinking>\n") || !ok || answer == "" || strings.Contains(answer, "<thinking") {
				t.Fatalf("text %q", text)
			}
			if first := d.events[0].(kiro.Text).Content; strings.HasPrefix(first, "<thinking>") {
				t.Errorf("first chunk %q holds the whole opening tag; it must be split", first)
			}
		})
	}
	if d, _ := demo(t, 5, simpleBody("hi")); strings.Contains(d.text(), "<thinking>") {
		t.Error("thinking without being asked")
	}
}

// TestDemoClosingTagSplitSometimes: across seeds the closing tag is split in
// some streams and whole in others.
func TestDemoClosingTagSplitSometimes(t *testing.T) {
	var split, whole bool
	for seed := range int64(16) {
		d, _ := demo(t, seed, simpleBody("<thinking_mode>enabled</thinking_mode>hi"))
		found := false
		for _, e := range d.events {
			if t, ok := e.(kiro.Text); ok && strings.Contains(t.Content, "</thinking>") {
				found = true
			}
		}
		split, whole = split || !found, whole || found
	}
	if !split || !whole {
		t.Errorf("closing tag split in some streams: %v, whole in some: %v", split, whole)
	}
}

func TestDemoDeterministic(t *testing.T) {
	b := simpleBody("list the files").withTools(claudeCodeTools...)
	_, first := demo(t, 42, b)
	// A new conversation id (the client picks one per call) changes nothing.
	b.set("conversationState.conversationId", uuid.NewString())
	_, again := demo(t, 42, b)
	if !bytes.Equal(first, again) {
		t.Error("same seed and conversation gave different frames")
	}
	_, other := demo(t, 43, b)
	if bytes.Equal(first, other) {
		t.Error("another seed gave identical frames")
	}
}

func TestDemoWindowPerModel(t *testing.T) {
	b := simpleBody(strings.Repeat("word ", 4000)).set(cur+".modelId", "claude-opus-4.6")
	f := newFake(t, Config{})
	resp := f.chat(t, f.socialToken("work"), b.bytes())
	mustOK(t, resp)
	d := decodeStream(t, resp.Body)
	got := d.events[len(d.events)-1].(kiro.ContextUsage).Percent
	if want := 100 * float64(len(b.bytes())/4) / 1_000_000; math.Abs(got-want) > 0.001 {
		t.Errorf("context usage %.4f%%, want %.4f%% of a 1M window", got, want)
	}
}

func TestDemoEchoRemembersTheConversation(t *testing.T) {
	b := parseBody(validBody)
	b.set("conversationState.currentMessage.userInputMessage", map[string]any{
		"content": "what did you find?", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"})
	// History: system pair, "List the Go files", a tool call; the current
	// message no longer answers it, so drop the call.
	b.del("conversationState.history.3.assistantResponseMessage.toolUses")
	d, _ := demo(t, 1, b)
	if text := d.text(); !strings.HasPrefix(text, "You said: “what did you find?”; before that: “List the Go files”") {
		t.Errorf("text %q", text)
	}
}
