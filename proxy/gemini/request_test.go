package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
)

// cliBody has the shape of Gemini CLI's turn requests (clients.md):
// systemInstruction with role user, schemas in parametersJsonSchema, thought
// parts and a functionCall with an id, the functionResponse answering it.
const cliBody = `{
 "contents":[
  {"role":"user","parts":[{"text":"<session_context>cwd /w</session_context>"},{"text":"list the files"}]},
  {"role":"model","parts":[{"text":"Planning.","thought":true},{"text":"I'll list them."},{"functionCall":{"id":"call-1","name":"run_shell_command","args":{"command":"ls","description":"List"}}}]},
  {"role":"user","parts":[{"functionResponse":{"id":"call-1","name":"run_shell_command","response":{"output":"a.go\nb.go"}}}]},
  {"role":"user","parts":[{"text":"and the image?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},{"inlineData":{"mimeType":"application/pdf","data":"JVBE"}}]}
 ],
 "systemInstruction":{"role":"user","parts":[{"text":"You are Gemini CLI."}]},
 "tools":[{"functionDeclarations":[
   {"name":"run_shell_command","description":"Runs a command.","parametersJsonSchema":{"type":"object","properties":{"command":{"type":"string"},"description":{"type":"string"}},"required":["command"]}},
   {"name":"read_file","description":"Reads.","parameters":{"type":"OBJECT","properties":{"path":{"type":"STRING","nullable":true},"lines":{"type":"ARRAY","items":{"type":"INTEGER"}}},"required":["path"],"propertyOrdering":["path","lines"]}}
 ]},{"googleSearch":{}},{"code_execution":{}}],
 "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["read_file"]}},
 "generationConfig":{"temperature":1,"topP":0.95,"maxOutputTokens":1000,"stopSequences":["STOP"],"thinkingConfig":{"includeThoughts":true,"thinkingBudget":8192}}
}`

func TestToConvGeminiCLI(t *testing.T) {
	r, err := ParseRequest([]byte(cliBody))
	if err != nil {
		t.Fatal(err)
	}
	c, opts := r.ToConv("claude-sonnet-4-5")
	if c.Model != "claude-sonnet-4-5" || !strings.HasPrefix(c.System, "You are Gemini CLI.\n\nNote: ") || !strings.Contains(c.System, "(googleSearch, codeExecution)") {
		t.Errorf("model %q system %q", c.Model, c.System)
	}
	var got []string
	for _, m := range c.Messages {
		for _, b := range m.Content {
			got = append(got, string(m.Role)+":"+summary(b))
		}
	}
	want := []string{
		"user:text <session_context>cwd /w</session_context>",
		"user:text list the files",
		"assistant:reasoning Planning.",
		"assistant:text I'll list them.",
		`assistant:use call-1 run_shell_command {"command":"ls","description":"List"}`,
		"user:result call-1 a.go\nb.go",
		"user:text and the image?",
		"user:image image/png",
		"user:text [application/pdf data omitted: only images can be passed to the model]",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("messages:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(c.Tools) != 2 {
		t.Fatalf("tools %+v", c.Tools)
	}
	wantSchema := `{"properties":{"lines":{"items":{"type":"integer"},"type":"array"},"path":{"type":["string","null"]}},"required":["path"],"type":"object"}`
	if string(c.Tools[1].Schema) != wantSchema {
		t.Errorf("converted schema %s", c.Tools[1].Schema)
	}
	if c.ToolChoice != (conv.ToolChoice{Type: conv.ToolChoiceTool, Name: "read_file"}) || c.MaxTokens != 1000 || c.StopSequences[0] != "STOP" {
		t.Errorf("choice %+v max %d stop %v", c.ToolChoice, c.MaxTokens, c.StopSequences)
	}
	if c.Thinking != (conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 8192}) || !opts.Thinking || !opts.IncludeThoughts || opts.JSON {
		t.Errorf("thinking %+v opts %+v", c.Thinking, opts)
	}
}

func summary(b conv.Block) string {
	switch b.Type {
	case conv.Text:
		return "text " + b.Text
	case conv.Reasoning:
		return "reasoning " + b.Text
	case conv.Image:
		return "image " + b.MediaType
	case conv.ToolUse:
		return "use " + b.ToolUseID + " " + b.ToolName + " " + string(b.Input)
	case conv.ToolResult:
		var texts []string
		for _, c := range b.Content {
			texts = append(texts, summary(c))
		}
		s := "result " + b.ToolUseID + " " + strings.TrimPrefix(strings.Join(texts, "+"), "text ")
		if b.IsError {
			s += " (error)"
		}
		return s
	}
	return "?"
}

func TestSnakeCaseAndJSONMode(t *testing.T) {
	r, err := ParseRequest([]byte(`{
	 "system_instruction":{"parts":[{"text":"Sys."}]},
	 "contents":[{"parts":[{"text":"classify"},{"inline_data":{"mime_type":"image/jpeg","data":"/9j/"}}]}],
	 "generation_config":{"response_mime_type":"application/json","response_schema":{"type":"OBJECT","properties":{"model_choice":{"type":"STRING","enum":["flash","pro"]}}},
	   "thinking_config":{"thinking_budget":0},"max_output_tokens":7},
	 "tools":[{"function_declarations":[{"name":"f","parameters_json_schema":{"type":"object","properties":{"snake_key":{"type":"string"}}}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, opts := r.ToConv("claude-haiku-4-5")
	if !strings.HasPrefix(c.System, "Sys.\n\nRespond with only one valid JSON value") ||
		!strings.Contains(c.System, `{"properties":{"model_choice":{"enum":["flash","pro"],"type":"string"}},"type":"object"}`) {
		t.Errorf("system %q", c.System)
	}
	if !opts.JSON || opts.Thinking || c.Thinking.Mode != conv.ThinkingOff || c.MaxTokens != 7 {
		t.Errorf("opts %+v thinking %+v max %d", opts, c.Thinking, c.MaxTokens)
	}
	if img := c.Messages[0].Content[1]; img.Type != conv.Image || img.MediaType != "image/jpeg" {
		t.Errorf("snake_case inline_data: %+v", img)
	}
	if len(c.Tools) != 1 || !strings.Contains(string(c.Tools[0].Schema), "snake_key") {
		t.Errorf("nested keys keep their names: %+v", c.Tools)
	}
}

func TestCallIDsWithoutIDs(t *testing.T) {
	r, err := ParseRequest([]byte(`{"contents":[
	 {"role":"user","parts":[{"text":"go"}]},
	 {"role":"model","parts":[{"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b","args":[1]}},{"functionCall":{"name":"a"}}]},
	 {"role":"user","parts":[{"functionResponse":{"name":"b","response":{"error":"boom"}}},{"functionResponse":{"name":"a","response":{"output":"1"}}},{"functionResponse":{"name":"a","response":{"x":1,"y":2}}},{"functionResponse":{"name":"zzz","response":{}}}]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.ToConv("m")
	var got []string
	for _, m := range c.Messages[1:] {
		for _, b := range m.Content {
			got = append(got, summary(b))
		}
	}
	want := []string{
		"use call_1_0 a {}",
		`use call_1_1 b {"input":[1]}`,
		"use call_1_2 a {}",
		"result call_1_1 boom (error)",
		"result call_1_0 1",
		`result call_1_2 {"x":1,"y":2}`,
		"result result_2_3 {}",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestThinkingConfig(t *testing.T) {
	n := func(v int) *int { return &v }
	tests := []struct {
		tc   ThinkingConfig
		want conv.Thinking
	}{
		{ThinkingConfig{}, conv.Thinking{}},
		{ThinkingConfig{ThinkingBudget: n(0), IncludeThoughts: true}, conv.Thinking{}},
		{ThinkingConfig{ThinkingBudget: n(2048)}, conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 2048}},
		{ThinkingConfig{ThinkingBudget: n(-1)}, conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}},
		{ThinkingConfig{ThinkingLevel: "LOW"}, conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "low"}},
		{ThinkingConfig{ThinkingLevel: "HIGH", IncludeThoughts: true}, conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}},
		{ThinkingConfig{IncludeThoughts: true}, conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}},
	}
	for _, tt := range tests {
		if got := tt.tc.thinking(); got != tt.want {
			t.Errorf("%+v: %+v, want %+v", tt.tc, got, tt.want)
		}
	}
}

func TestClaudeModel(t *testing.T) {
	for name, want := range map[string]string{
		"gemini-3.1-pro-preview":       DefaultModel,
		"gemini-2.5-pro":               DefaultModel,
		"models/gemini-2.5-flash":      FastModel,
		"gemini-3.5-flash-lite":        FastModel,
		"gemini-ultra":                 DefaultModel,
		"claude-opus-4-5":              "claude-opus-4-5",
		"models/claude-sonnet-4-5":     "claude-sonnet-4-5",
		"Gemini-2.0-Flash-Thinking-Ex": FastModel,
	} {
		if got := ClaudeModel(name); got != want {
			t.Errorf("ClaudeModel(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	tests := []struct{ body, param, msg string }{
		{`{}`, "contents", "required"},
		{`{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, "contents.0.role", "unknown role"},
		{`{"contents":[{"parts":[{"functionCall":{"args":{}}}]}]}`, "contents.0.parts.0.functionCall.name", "required"},
		{`{"contents":[{"parts":[{"inlineData":{"data":"AA"}}]}]}`, "contents.0.parts.0.inlineData.mimeType", "required"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"description":"d"}]}]}`, "tools.0.functionDeclarations.0.name", "required"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"candidateCount":2}}`, "generationConfig.candidateCount", "one candidate"},
		{`{"contents":"x"}`, "contents", "wrong type"},
		{`{"contents":[`, "", "invalid JSON"},
	}
	for _, tt := range tests {
		_, err := ParseRequest([]byte(tt.body))
		var re *relay.RequestError
		if !errors.As(err, &re) || re.Param != tt.param || !strings.Contains(re.Msg, tt.msg) {
			t.Errorf("%s: err %v, want %s: %s", tt.body, err, tt.param, tt.msg)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(cliBody))
	f.Add([]byte(`{"contents":[{"parts":[{"text":"x"}]}],"generation_config":{"response_mime_type":"application/json","response_schema":{"type":"OBJECT","nullable":true}}}`))
	f.Add([]byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":"s"}},{"executableCode":{"language":"PYTHON","code":"1"}},{"codeExecutionResult":{"outcome":"OK"}},{"fileData":{"fileUri":"gs://x"}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, relay.ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		c, _ := r.ToConv("m")
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
	})
}
