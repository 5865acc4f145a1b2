package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
)

func mustChat(t *testing.T, body string) *conv.Request {
	t.Helper()
	r, err := ParseChatRequest([]byte(body))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return r.ToConv()
}

func TestParseChatRequestErrors(t *testing.T) {
	tests := []struct{ body, param, msg string }{
		{`{"messages":[{"role":"user","content":"x"}]}`, "model", "required"},
		{`{"model":"m"}`, "messages", "required"},
		{`{"model":"m","messages":[{"content":"x"}]}`, "messages.0.role", "required"},
		{`{"model":"m","messages":[{"role":"function","content":"x"}]}`, "messages.0.role", "deprecated"},
		{`{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages.0.tool_call_id", "required"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"","function":{"name":"f"}}]}]}`, "messages.0.tool_calls.0.id", "required"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "messages.0.content.0.type", "unsupported"},
		{`{"model":"m","messages":[{"role":"user","content":{"a":1}}]}`, "messages.0.content", "string or a list"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{}}]}`, "tools.0.function.name", "required"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"huge"}`, "reasoning_effort", "unknown effort"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"stop":5}`, "stop", "string or a list"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"always"}`, "tool_choice", "unknown value"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function","function":{}}}`, "tool_choice.function.name", "required"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"ten"}`, "max_tokens", "expected a number"},
		{`[1]`, "", "expected an object"},
	}
	for _, tt := range tests {
		_, err := ParseChatRequest([]byte(tt.body))
		var re *relay.RequestError
		if !errors.As(err, &re) || !errors.Is(err, relay.ErrInvalidRequest) {
			t.Errorf("%s: err %v", tt.body, err)
			continue
		}
		if re.Param != tt.param || !strings.Contains(re.Msg, tt.msg) {
			t.Errorf("%s: got %q %q, want %q %q", tt.body, re.Param, re.Msg, tt.param, tt.msg)
		}
	}
}

func TestChatToConv(t *testing.T) {
	c := mustChat(t, `{"model":"claude-opus-4-5","messages":[
		{"role":"developer","content":[{"type":"text","text":"Rule one."},{"type":"text","text":"Rule two."}]},
		{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}},{"type":"image_url","image_url":"data:image/jpeg;base64,/9j/"},{"type":"file","file":{"filename":"spec.pdf"}}]},
		{"role":"assistant","content":null,"reasoning_content":"thought","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"not json"}}]},
		{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"out"}]}
	],"max_tokens":10,"max_completion_tokens":20,"stop":["A","B"],"reasoning_effort":"high",
	"tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},
	"prompt_cache_key":"5B0E6C4A-8D2F-4F0E-A8A1-0C9D7E6B5A43",
	"tools":[{"type":"function","function":{"name":"f"}},{"type":"custom","custom":{"name":"g"}}]}`)
	if !strings.HasPrefix(c.System, "Rule one.\nRule two.\n\nRespond with only one valid JSON value") || !strings.Contains(c.System, `{"type":"object"}`) {
		t.Errorf("system %q", c.System)
	}
	user := c.Messages[0].Content
	if len(user) != 3 || user[0].Type != conv.Text || !strings.Contains(user[0].Text, "https://example.com/cat.png") ||
		user[1].Type != conv.Image || user[1].MediaType != "image/jpeg" || user[1].Data != "/9j/" || !strings.Contains(user[2].Text, "spec.pdf") {
		t.Errorf("user blocks %+v", user)
	}
	asst := c.Messages[1].Content
	if len(asst) != 2 || asst[0].Type != conv.Reasoning || string(asst[1].Input) != `{"input":"not json"}` {
		t.Errorf("assistant blocks %+v", asst)
	}
	if res := c.Messages[2].Content[0]; res.Type != conv.ToolResult || res.Content[0].Text != "out" {
		t.Errorf("result %+v", res)
	}
	if c.MaxTokens != 20 || len(c.StopSequences) != 2 || c.Thinking.Budget != budgetHigh ||
		c.ToolChoice != (conv.ToolChoice{Type: conv.ToolChoiceTool, Name: "f"}) || c.ConversationID != "5b0e6c4a-8d2f-4f0e-a8a1-0c9d7e6b5a43" {
		t.Errorf("request %+v", c)
	}
	if len(c.Tools) != 1 || string(c.Tools[0].Schema) != string(defaultSchema) {
		t.Errorf("tools %+v", c.Tools)
	}
}

func TestEffortThinking(t *testing.T) {
	for effort, want := range map[string]conv.Thinking{
		"":        {},
		"none":    {},
		"minimal": {},
		"low":     {Mode: conv.ThinkingEnabled, Budget: budgetLow},
		"medium":  {Mode: conv.ThinkingEnabled, Budget: budgetMedium},
		"high":    {Mode: conv.ThinkingEnabled, Budget: budgetHigh},
		"xhigh":   {Mode: conv.ThinkingEnabled, Budget: budgetHigh},
	} {
		if got, err := effortThinking(effort, "p"); err != nil || got != want {
			t.Errorf("%q: %+v %v", effort, got, err)
		}
	}
}

func TestThinkingFromModelName(t *testing.T) {
	c := mustChat(t, `{"model":"claude-sonnet-4-5-thinking","messages":[{"role":"user","content":"x"}]}`)
	if !thinkingOn(c) {
		t.Error("a -thinking model name turns thinking on (proxy/kiro adds the tags)")
	}
	if thinkingOn(mustChat(t, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`)) {
		t.Error("thinking on without being asked")
	}
}

func FuzzParseChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"1","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required","stream":true,"stream_options":{"include_usage":true},"stop":"x","reasoning_effort":"low"}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"\u00e9\ud83d\ude00"}],"response_format":{"type":"json_object"},"n":1,"max_tokens":1e3}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"x","function":{"name":"g","arguments":"[1,2]"}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseChatRequest(body)
		if err != nil {
			if !errors.Is(err, relay.ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		checkConv(t, req.ToConv())
	})
}

// checkConv asserts what proxy/kiro relies on: schemas and tool inputs are
// JSON objects, texts are valid UTF-8.
func checkConv(t *testing.T, c *conv.Request) {
	t.Helper()
	conv.EstimateTokens(c)
	for _, tool := range c.Tools {
		if !json.Valid(tool.Schema) || tool.Schema[0] != '{' {
			t.Fatalf("tool %q schema %q is not a JSON object", tool.Name, tool.Schema)
		}
	}
	for _, m := range c.Messages {
		for _, b := range m.Content {
			if b.Type == conv.ToolUse && (!json.Valid(b.Input) || b.Input[0] != '{') {
				t.Fatalf("tool input %q is not a JSON object", b.Input)
			}
			if !utf8.ValidString(b.Text) {
				t.Fatalf("text %q is not valid UTF-8", b.Text)
			}
		}
	}
}
