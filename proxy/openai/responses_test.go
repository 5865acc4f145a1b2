package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
)

// codexBody has the shape of Codex CLI's requests (clients.md): developer
// items instead of instructions, input_text parts, a reasoning item, a
// function call and its output, function, namespace, custom and hosted
// tools, store false.
const codexBody = `{
 "model":"claude-sonnet-4-5","stream":true,"store":false,"parallel_tool_calls":true,
 "reasoning":{"summary":"auto"},"include":["reasoning.encrypted_content"],
 "prompt_cache_key":"01a21d40-9d78-7792-8033-444baae6030f","tool_choice":"auto",
 "input":[
  {"type":"message","id":"msg_1","role":"developer","content":[{"type":"input_text","text":"You are a coding agent."}]},
  {"type":"message","role":"developer","content":[{"type":"input_text","text":"<permissions>workspace-write</permissions>"}]},
  {"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context><cwd>/w</cwd></environment_context>"}]},
  {"type":"message","role":"user","content":[{"type":"input_text","text":"list the files"}]},
  {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need ls."}],"encrypted_content":null,"content":null},
  {"type":"message","role":"assistant","id":"msg_2","status":"completed","content":[{"type":"output_text","text":"Listing.","annotations":[]}]},
  {"type":"function_call","id":"fc_1","name":"exec_command","arguments":"{\"cmd\":\"ls\"}","call_id":"call_1"},
  {"type":"function_call_output","call_id":"call_1","output":"a.go\nb.go"},
  {"type":"custom_tool_call","call_id":"call_2","name":"apply_patch","input":"*** Begin Patch"},
  {"type":"custom_tool_call_output","call_id":"call_2","output":[{"type":"input_text","text":"Done"}]},
  {"type":"function_call","name":"spawn_agent","namespace":"collaboration","arguments":"{}","call_id":"call_3"},
  {"type":"function_call_output","call_id":"call_3","output":"ok"},
  {"type":"web_search_call","id":"ws_1","status":"completed"},
  {"role":"developer","content":"Approval mode changed."},
  {"role":"user","content":"now read a.go"}
 ],
 "tools":[
  {"type":"function","name":"exec_command","description":"Run.","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}},
  {"type":"custom","name":"apply_patch","description":"Patch.","format":{"type":"grammar","syntax":"lark","definition":"start: x"}},
  {"type":"namespace","name":"collaboration","description":"Agents.","tools":[{"type":"function","name":"spawn_agent","parameters":{"type":"object","properties":{}}}]},
  {"type":"namespace","name":"mcp__docs__","description":"Docs.","tools":[{"type":"function","name":"lookup"}]},
  {"type":"web_search"},{"type":"image_generation"}
 ]}`

func TestResponsesToConvCodex(t *testing.T) {
	r, err := ParseResponsesRequest([]byte(codexBody))
	if err != nil {
		t.Fatal(err)
	}
	rc := r.toConv(nil)
	c := rc.req
	if !strings.HasPrefix(c.System, "You are a coding agent.\n\n<permissions>workspace-write</permissions>\n\nNote: ") ||
		!strings.Contains(c.System, "(web_search, image_generation)") {
		t.Errorf("system %q", c.System)
	}
	var got []string
	for _, m := range c.Messages {
		for _, b := range m.Content {
			got = append(got, string(m.Role)+":"+blockSummary(b))
		}
	}
	want := []string{
		"user:text <environment_context><cwd>/w</cwd></environment_context>",
		"user:text list the files",
		"assistant:reasoning Need ls.",
		"assistant:text Listing.",
		`assistant:use call_1 exec_command {"cmd":"ls"}`,
		"user:result call_1 a.go\nb.go",
		`assistant:use call_2 apply_patch {"input":"*** Begin Patch"}`,
		"user:result call_2 Done",
		"assistant:use call_3 collaboration__spawn_agent {}",
		"user:result call_3 ok",
		"user:text <system-reminder>\nApproval mode changed.\n</system-reminder>",
		"user:text now read a.go",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("messages:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var names []string
	for _, tool := range c.Tools {
		names = append(names, tool.Name)
	}
	if strings.Join(names, " ") != "exec_command apply_patch collaboration__spawn_agent mcp__docs__lookup" {
		t.Errorf("tools %v", names)
	}
	if !strings.Contains(c.Tools[1].Description, "lark grammar:\nstart: x") || string(c.Tools[1].Schema) != string(customSchema) {
		t.Errorf("custom tool %+v", c.Tools[1])
	}
	if ref := rc.tools["collaboration__spawn_agent"]; ref != (toolRef{namespace: "collaboration", name: "spawn_agent"}) {
		t.Errorf("namespace ref %+v", ref)
	}
	if ref := rc.tools["apply_patch"]; !ref.custom {
		t.Errorf("custom ref %+v", ref)
	}
	if c.Thinking.Mode != conv.ThinkingEnabled || c.ConversationID != "01a21d40-9d78-7792-8033-444baae6030f" {
		t.Errorf("thinking %+v conversation %q", c.Thinking, c.ConversationID)
	}
}

func blockSummary(b conv.Block) string {
	switch b.Type {
	case conv.Text:
		return "text " + b.Text
	case conv.Reasoning:
		return "reasoning " + b.Text
	case conv.ToolUse:
		return "use " + b.ToolUseID + " " + b.ToolName + " " + string(b.Input)
	case conv.ToolResult:
		var texts []string
		for _, c := range b.Content {
			texts = append(texts, c.Text)
		}
		return "result " + b.ToolUseID + " " + strings.Join(texts, "+")
	case conv.Image:
		return "image " + b.MediaType
	}
	return "?"
}

func TestResponsesRequestVariants(t *testing.T) {
	r, err := ParseResponsesRequest([]byte(`{"model":"m","input":"hello","instructions":"Be kind.","max_output_tokens":50,
		"reasoning":{"effort":"none"},"text":{"format":{"type":"json_object"}},"tool_choice":{"type":"function","name":"f"}}`))
	if err != nil {
		t.Fatal(err)
	}
	rc := r.toConv(nil)
	c := rc.req
	if c.System != "Be kind.\n\n"+relay.JSONInstruction(nil) || !rc.json || c.MaxTokens != 50 || c.Thinking.Mode != conv.ThinkingOff ||
		c.ToolChoice.Name != "f" || len(c.Messages) != 1 || c.Messages[0].Content[0].Text != "hello" {
		t.Errorf("%+v", c)
	}

	history := []conv.Message{{Role: conv.User, Content: []conv.Block{{Type: conv.Text, Text: "earlier"}}}}
	r, err = ParseResponsesRequest([]byte(`{"model":"m","previous_response_id":"resp_1","input":[{"role":"system","content":"Mid-way rule."}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c = r.toConv(history).req
	if c.System != "" || len(c.Messages) != 2 || !strings.Contains(c.Messages[1].Content[0].Text, "<system-reminder>") {
		t.Errorf("after history, system items stay in place: %+v", c)
	}
	if len(history) != 1 {
		t.Error("the stored history was modified")
	}
}

func TestParseResponsesRequestErrors(t *testing.T) {
	tests := []struct{ body, param, msg string }{
		{`{"input":"x"}`, "model", "required"},
		{`{"model":"m"}`, "input", "required"},
		{`{"model":"m","input":5}`, "input", "string or a list"},
		{`{"model":"m","input":[{"type":"message","role":"robot","content":"x"}]}`, "input.0.role", "unknown role"},
		{`{"model":"m","input":[{"content":"x"}]}`, "input.0.type", "required"},
		{`{"model":"m","input":[{"type":"function_call","name":"f"}]}`, "input.0.call_id", "required"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c"}]}`, "input.0.name", "required"},
		{`{"model":"m","input":[{"type":"message","role":"user","content":[{"type":"input_audio"}]}]}`, "input.0.content.0.type", "unsupported"},
		{`{"model":"m","input":"x","tools":[{"type":"function"}]}`, "tools.0.name", "required"},
		{`{"model":"m","input":"x","tools":[{"type":"namespace","name":"n","tools":[{"type":"custom"}]}]}`, "tools.0.tools.0.name", "required"},
		{`{"model":"m","input":"x","reasoning":{"effort":"max"}}`, "reasoning.effort", "unknown effort"},
		{`{"model":"m","input":"x","tool_choice":"sometimes"}`, "tool_choice", "unknown value"},
	}
	for _, tt := range tests {
		_, err := ParseResponsesRequest([]byte(tt.body))
		var re *relay.RequestError
		if !errors.As(err, &re) || re.Param != tt.param || !strings.Contains(re.Msg, tt.msg) {
			t.Errorf("%s: err %v, want %s: %s", tt.body, err, tt.param, tt.msg)
		}
	}
}

func TestFlatName(t *testing.T) {
	for _, tt := range [][3]string{
		{"", "f", "f"},
		{"mcp__docs__", "lookup", "mcp__docs__lookup"},
		{"mcp__codex_apps__gmail", "_search_emails", "mcp__codex_apps__gmail_search_emails"},
		{"collaboration", "spawn_agent", "collaboration__spawn_agent"},
	} {
		if got := flatName(tt[0], tt[1]); got != tt[2] {
			t.Errorf("flatName(%q, %q) = %q, want %q", tt[0], tt[1], got, tt[2])
		}
	}
}

func TestStoreBounds(t *testing.T) {
	msg := func(n int) []conv.Message {
		return []conv.Message{{Role: conv.User, Content: []conv.Block{{Type: conv.Text, Text: strings.Repeat("x", n)}}}}
	}
	s := &Store{MaxEntries: 2, MaxBytes: 10_000}
	s.Put("a", msg(10))
	s.Put("b", msg(10))
	if _, ok := s.Get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	s.Put("c", msg(10))
	if _, ok := s.Get("b"); ok || s.Len() != 2 {
		t.Fatalf("the least recently used entry stays: len %d", s.Len())
	}
	s.Put("big", msg(9_850))
	if _, ok := s.Get("big"); !ok || s.Len() != 1 {
		t.Fatalf("a large entry pushes out others to fit: len %d", s.Len())
	}
	s.Put("huge", msg(20_000))
	if _, ok := s.Get("huge"); ok || s.Len() != 1 {
		t.Fatal("an entry larger than the store is not kept, and evicts nothing")
	}
}

func FuzzParseResponsesRequest(f *testing.F) {
	f.Add([]byte(codexBody))
	f.Add([]byte(`{"model":"m","input":"hi","text":{"format":{"type":"json_schema","schema":{"type":"object"}}}}`))
	f.Add([]byte(`{"model":"m","input":[{"type":"local_shell_call","call_id":"c","action":{"type":"exec","command":["ls"]}},{"type":"local_shell_call_output","call_id":"c","output":"{\"a\":1}"},{"type":"reasoning","content":[{"type":"reasoning_text","text":"r"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseResponsesRequest(body)
		if err != nil {
			if !errors.Is(err, relay.ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		checkConv(t, req.toConv(nil).req)
	})
}
