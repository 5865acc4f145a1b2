package anthropic

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/anthropic/anthropictest"
	"github.com/kirotray/kirotray/proxy/conv"
)

func TestParseRequestErrors(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, want string
	}{
		{"empty body", ``, "empty request body: expected a JSON object"},
		{"not an object", `[1,2]`, "request body must be a JSON object"},
		{"syntax", `{"model":"m",,}`, `invalid JSON at offset 13: unexpected character ',' where an object key was expected`},
		{"truncated", `{"model":"m","max_tokens":1`, "invalid JSON at offset 27: unexpected end of input after an object member"},
		{"trailing", `{"model":"m","max_tokens":1,` + msgs + `} x`, "invalid JSON at offset 73: unexpected character 'x' after the end of the JSON document"},
		{"bad escape", `{"model":"a\qb"}`, `invalid JSON at offset 12: invalid escape 'q' in a string`},
		{"control char", "{\"model\":\"a\x01\"}", `invalid JSON at offset 11: control character 0x01 in a string`},
		{"missing model", `{"max_tokens":1,` + msgs + `}`, "model: required"},
		{"missing max_tokens", `{"model":"m",` + msgs + `}`, "max_tokens: required"},
		{"zero max_tokens", `{"model":"m","max_tokens":0,` + msgs + `}`, "max_tokens: must be at least 1, got 0"},
		{"string max_tokens", `{"model":"m","max_tokens":"10",` + msgs + `}`, "max_tokens: expected an integer, got a string"},
		{"float max_tokens", `{"model":"m","max_tokens":1.5,` + msgs + `}`, "max_tokens: expected an integer, got 1.5"},
		{"missing messages", `{"model":"m","max_tokens":1}`, "messages: required"},
		{"empty messages", `{"model":"m","max_tokens":1,"messages":[]}`, "messages: at least one message is required"},
		{"messages not array", `{"model":"m","max_tokens":1,"messages":{}}`, "messages: expected an array, got an object"},
		{"bad role", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a"},{"role":"tool","content":"b"}]}`,
			`messages.1.role: unsupported role "tool": use user or assistant (system text goes in the top-level system field)`},
		{"missing content", `{"model":"m","max_tokens":1,"messages":[{"role":"user"}]}`, "messages.0.content: required"},
		{"content number", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":5}]}`,
			"messages.0.content: expected a string or an array of content blocks, got a number"},
		{"unknown block", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":[{"type":"text","text":"x"},{"type":"foo"}]}]}`,
			`messages.3.content.1: unknown block type "foo"`},
		{"block without type", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"text":"x"}]}]}`,
			"messages.0.content.0.type: required"},
		{"image url", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}`,
			"messages.0.content.0: image URLs are not supported: send the image as base64"},
		{"image type", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AAAA"}}]}]}`,
			`messages.0.content.0.source.media_type: unsupported image type "image/bmp": use image/jpeg, image/png, image/gif or image/webp`},
		{"image in tool result url", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}]}`,
			"messages.0.content.0.content.0: image URLs are not supported: send the image as base64"},
		{"tool_use input not object", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":"x"}]}]}`,
			"messages.0.content.0.input: expected a JSON object, got a string"},
		{"tool_use without id", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"n","input":{}}]}]}`,
			"messages.0.content.0.id: required"},
		{"tool_result without id", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`,
			"messages.0.content.0.tool_use_id: required"},
		{"thinking in tool result", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"thinking","thinking":"x"}]}]}]}`,
			`messages.0.content.0.content.0: block type "thinking" is not allowed here`},
		{"system number", `{"model":"m","max_tokens":1,"system":5,` + msgs + `}`, "system: expected a string or an array of text blocks, got a number"},
		{"system block type", `{"model":"m","max_tokens":1,"system":[{"type":"image"}],` + msgs + `}`, `system.0: unknown block type "image"`},
		{"tool without name", `{"model":"m","max_tokens":1,` + msgs + `,"tools":[{"input_schema":{"type":"object"}}]}`, "tools.0.name: required"},
		{"tool schema not object", `{"model":"m","max_tokens":1,` + msgs + `,"tools":[{"name":"a","input_schema":[]}]}`,
			"tools.0.input_schema: expected a JSON Schema object, got an array"},
		{"tool_choice type", `{"model":"m","max_tokens":1,` + msgs + `,"tool_choice":{"type":"some"}}`,
			`tool_choice.type: unknown tool_choice type "some": use auto, any, tool or none`},
		{"tool_choice tool without name", `{"model":"m","max_tokens":1,` + msgs + `,"tool_choice":{"type":"tool"}}`,
			`tool_choice.name: required when type is "tool"`},
		{"thinking without budget", `{"model":"m","max_tokens":1,` + msgs + `,"thinking":{"type":"enabled"}}`,
			"thinking.budget_tokens: required: a positive number of tokens when thinking is enabled"},
		{"thinking type", `{"model":"m","max_tokens":1,` + msgs + `,"thinking":{"type":"on"}}`,
			`thinking.type: unknown thinking type "on": use enabled, adaptive or disabled`},
		{"stream not bool", `{"model":"m","max_tokens":1,` + msgs + `,"stream":"yes"}`, "stream: expected a boolean, got a string"},
		{"stop_sequences not strings", `{"model":"m","max_tokens":1,` + msgs + `,"stop_sequences":["a",1]}`, "stop_sequences.1: expected a string, got a number"},
		{"deep nesting", `{"model":"m","x":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`, "invalid JSON at offset 1017: nesting deeper than 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.body))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v does not wrap ErrInvalidRequest", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestParseRequestAcceptsIgnoredFields(t *testing.T) {
	body := `{"model":"claude-opus-4-5","max_tokens":100,"temperature":0.7,"top_p":0.9,"top_k":5,
		"service_tier":"auto","container":"c","mcp_servers":[{"type":"url","url":"x"}],"betas":["a"],
		"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},
		"output_config":{"effort":"medium","format":{"type":"json_schema"}},
		"unknown_future_field":{"nested":[1,2,{"a":null}]},
		"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"},"citations":null}]}]}`
	req, err := ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if req.Effort != "medium" || req.MaxTokens != 100 || req.Messages[0].Content[0].Text != "hi" {
		t.Errorf("got %+v", req)
	}
}

func TestToConv(t *testing.T) {
	body := `{
	"model": "claude-sonnet-4-5-thinking",
	"max_tokens": 4096,
	"stream": true,
	"system": [{"type":"text","text":"You are helpful.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Be brief."}],
	"metadata": {"user_id": "user_abc123_account_11111111-2222-3333-4444-555555555555_session_4f1c2a9e-7b3d-4e8a-9c61-2d5f8e0b7a13"},
	"stop_sequences": ["END"],
	"tool_choice": {"type":"tool","name":"Bash"},
	"tools": [
		{"name":"Bash","description":"Run a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}},
		{"type":"web_search_20250305","name":"web_search","max_uses":5},
		{"name":"NoSchema"}
	],
	"messages": [
		{"role":"user","content":[
			{"type":"text","text":"Look at this"},
			{"type":"image","source":{"type":"base64","media_type":"image/png","data":"data:image/png;base64,iVBORw0KGgo="}},
			{"type":"document","title":"notes","source":{"type":"text","media_type":"text/plain","data":"plain notes"}},
			{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}
		]},
		{"role":"assistant","content":[
			{"type":"thinking","thinking":"hmm","signature":"sig"},
			{"type":"redacted_thinking","data":"abc"},
			{"type":"text","text":"Running it."},
			{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"ls"}},
			{"type":"tool_use","id":"toolu_02","name":"Bash"},
			{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"go"}},
			{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","title":"Go","url":"https://go.dev","encrypted_content":"x"}]}
		]},
		{"role":"user","content":[
			{"type":"tool_result","tool_use_id":"toolu_01","content":"a.go\nb.go"},
			{"type":"tool_result","tool_use_id":"toolu_02","is_error":true,"content":[{"type":"text","text":"failed"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]},
			{"type":"text","text":"and now?"}
		]}
	]}`
	req, err := ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if !req.Stream || !req.ThinkingRequested() {
		t.Errorf("stream %v thinking %v", req.Stream, req.ThinkingRequested())
	}
	got := req.ToConv()
	want := &conv.Request{
		Model:          "claude-sonnet-4-5-thinking",
		System:         "You are helpful.\nBe brief.\n\n" + WebSearchUnavailable,
		MaxTokens:      4096,
		StopSequences:  []string{"END"},
		ConversationID: "4f1c2a9e-7b3d-4e8a-9c61-2d5f8e0b7a13",
		ToolChoice:     conv.ToolChoice{Type: conv.ToolChoiceTool, Name: "Bash"},
		Tools: []conv.Tool{
			{Name: "Bash", Description: "Run a command", Schema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}}}`)},
			{Name: "NoSchema", Schema: json.RawMessage(`{"type":"object","properties":{}}`)},
		},
		Messages: []conv.Message{
			{Role: conv.User, Content: []conv.Block{
				{Type: conv.Text, Text: "Look at this"},
				{Type: conv.Image, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: conv.Text, Text: "[Document: notes]\nplain notes"},
				{Type: conv.Text, Text: "[Document untitled (application/pdf) omitted: this proxy cannot pass documents to the model; ask the user for its text]"},
			}},
			{Role: conv.Assistant, Content: []conv.Block{
				{Type: conv.Reasoning, Text: "hmm", Signature: "sig"},
				{Type: conv.Text, Text: "Running it."},
				{Type: conv.ToolUse, ToolUseID: "toolu_01", ToolName: "Bash", Input: json.RawMessage(`{"command":"ls"}`)},
				{Type: conv.ToolUse, ToolUseID: "toolu_02", ToolName: "Bash", Input: json.RawMessage(`{}`)},
				{Type: conv.Text, Text: "[Server tool call: web_search (srvtoolu_1)]\n{\"query\":\"go\"}"},
				{Type: conv.Text, Text: "[Web search results for srvtoolu_1]\n- Go <https://go.dev>"},
			}},
			{Role: conv.User, Content: []conv.Block{
				{Type: conv.ToolResult, ToolUseID: "toolu_01", Content: []conv.Block{{Type: conv.Text, Text: "a.go\nb.go"}}},
				{Type: conv.ToolResult, ToolUseID: "toolu_02", IsError: true, Content: []conv.Block{
					{Type: conv.Text, Text: "failed"}, {Type: conv.Image, MediaType: "image/jpeg", Data: "/9j/"}}},
				{Type: conv.Text, Text: "and now?"},
			}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("ToConv:\n got %s\nwant %s", gj, wj)
	}
}

func TestToConvThinkingModes(t *testing.T) {
	tests := []struct {
		extra string
		want  conv.Thinking
	}{
		{``, conv.Thinking{}},
		{`,"thinking":{"type":"disabled"}`, conv.Thinking{}},
		{`,"thinking":{"type":"enabled","budget_tokens":5000}`, conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 5000}},
		{`,"thinking":{"type":"adaptive"}`, conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}},
		{`,"thinking":{"type":"adaptive"},"output_config":{"effort":"low"}`, conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "low"}},
		{`,"thinking":{"type":"adaptive"},"output_config":{"effort":"extreme"}`, conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}},
	}
	for _, tt := range tests {
		req, err := ParseRequest([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]` + tt.extra + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := req.ToConv().Thinking; got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.extra, got, tt.want)
		}
	}
}

func TestConversationID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"user_0a1b_account_11111111-2222-3333-4444-555555555555_session_4F1C2A9E-7B3D-4E8A-9C61-2D5F8E0B7A13", "4f1c2a9e-7b3d-4e8a-9c61-2d5f8e0b7a13"},
		{`{"device_id":"d","account_uuid":"a","session_id":"4f1c2a9e-7b3d-4e8a-9c61-2d5f8e0b7a13"}`, "4f1c2a9e-7b3d-4e8a-9c61-2d5f8e0b7a13"},
		{"user_0a1b_account__session_not-a-uuid", ""},
		{"some-user", ""},
		{`{"session_id": 5}`, ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := conversationID(tt.in); got != tt.want {
			t.Errorf("conversationID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseStrings(t *testing.T) {
	// Escapes, surrogate pairs, lone surrogates and invalid UTF-8 decode the
	// way encoding/json decodes them.
	inputs := []string{
		`"plain"`, `""`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u4e16\ud83d\ude00"`, `"\ud83d alone"`, `"\ude00"`,
		"\"caf\xc3\xa9\"", "\"bad \xff byte\"", "\"bad \xff\\n mixed\"", `"` + strings.Repeat("long text ", 50) + `\n"`,
		`"\u0041\u00"`,
	}
	for _, in := range inputs {
		s := &scanner{data: []byte(in)}
		got, err := s.str()
		var want string
		wantErr := json.Unmarshal([]byte(in), &want)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%q: err %v, encoding/json err %v", in, err, wantErr)
			continue
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestCheckImages(t *testing.T) {
	data := strings.Repeat("A", 4000) // 3000 bytes decoded
	body := `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + data + `"}}]}]}]}`
	req, err := ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := req.checkImages(3000); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	err = req.checkImages(2999)
	if want := "messages.0.content.1.content.0: image too large: about 3000 bytes decoded, the upstream accepts at most 2999 per image: send a smaller or more compressed image"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestClaudeCodeRequest(t *testing.T) {
	body := anthropictest.ClaudeCodeRequest(9)
	if n := len(body); n < 90_000 || n > 120_000 {
		t.Errorf("body is %d bytes, want about 100 KB", n)
	}
	req, err := ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	c := req.ToConv()
	if len(c.Tools) != 16 || len(c.Messages) != 19 || c.ConversationID != anthropictest.SessionID || len(c.System) < 12_000 {
		t.Errorf("tools %d messages %d conversation %q system %d", len(c.Tools), len(c.Messages), c.ConversationID, len(c.System))
	}
	// The same body through encoding/json gives the same texts.
	var std struct {
		Messages []struct {
			Content []struct {
				Type    string          `json:"type"`
				Text    string          `json:"text"`
				Content string          `json:"content"`
				Input   json.RawMessage `json:"input"`
			} `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &std); err != nil {
		t.Fatal(err)
	}
	for i, m := range std.Messages {
		for j, b := range m.Content {
			got := c.Messages[i].Content[j]
			switch b.Type {
			case "text":
				if got.Text != b.Text {
					t.Errorf("message %d block %d text differs", i, j)
				}
			case "tool_result":
				if got.Content[0].Text != b.Content {
					t.Errorf("message %d block %d tool result differs", i, j)
				}
			case "tool_use":
				if string(got.Input) != string(b.Input) {
					t.Errorf("message %d block %d input differs", i, j)
				}
			}
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(anthropictest.ClaudeCodeRequest(1))
	f.Add([]byte(`{"model":"m","max_tokens":5,"system":"s","messages":[{"role":"user","content":"hi \u00e9\ud83d\ude00"}],"stream":true}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}},{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x"}]}]}],"tools":[{"name":"a","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"thinking":{"type":"enabled","budget_tokens":10},"metadata":{"user_id":"{\"session_id\":\"x\"}"}}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"i","name":"n","input":{"a":[1,{"b":null}]}},{"type":"server_tool_use","id":"s","name":"web_search","input":{}},{"type":"web_search_tool_result","tool_use_id":"s","content":{"type":"web_search_tool_result_error","error_code":"unavailable"}}]}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":1e3,"messages":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		c := req.ToConv()
		conv.EstimateTokens(c)
		for _, tool := range c.Tools {
			if !json.Valid(tool.Schema) {
				t.Fatalf("tool %q schema is invalid JSON", tool.Name)
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
	})
}

// FuzzScanString checks the string decoder against encoding/json.
func FuzzScanString(f *testing.F) {
	for _, s := range []string{`"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00\ud83d"`, "\"caf\xc3\xa9 \xff\\n\"", `"unterminated`, `"\u12"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 || in[0] != '"' {
			return
		}
		s := &scanner{data: in}
		got, err := s.str()
		var want string
		wantErr := json.Unmarshal(in[:max(s.pos, 1)], &want)
		if err != nil {
			return // encoding/json may fail later in the input; only compare successes
		}
		if wantErr != nil || got != want {
			t.Fatalf("%q: got %q, encoding/json %q (%v)", in, got, want, wantErr)
		}
		s2 := &scanner{data: in}
		if err := s2.skipString(); err != nil || s2.pos != s.pos {
			t.Fatalf("%q: skipString disagrees: %v at %d, str at %d", in, err, s2.pos, s.pos)
		}
	})
}

func TestEscapedKeys(t *testing.T) {
	req, err := ParseRequest([]byte(`{"mod\u0065l":"m","max_tok\u0065ns":3,"messages":[{"r\u006fle":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != "m" || req.MaxTokens != 3 || req.Messages[0].Role != "user" {
		t.Errorf("got %+v", req)
	}
}

func TestSystemRoleMessagesBecomeMarkedUserText(t *testing.T) {
	// Claude Code 2.1.x sends a "system" message between user turns.
	req, err := ParseRequest([]byte(`{"model":"claude-opus-4-8","max_tokens":64,"messages":[
		{"role":"user","content":[{"type":"text","text":"say hi"}]},
		{"role":"system","content":"Available agent types: claude"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := req.ToConv()
	if len(c.Messages) != 2 || c.Messages[1].Role != conv.User {
		t.Fatalf("messages: %+v", c.Messages)
	}
	if got, want := c.Messages[1].Content[0].Text, "<system-reminder>\nAvailable agent types: claude\n</system-reminder>"; got != want {
		t.Fatalf("system text = %q, want %q", got, want)
	}
}
