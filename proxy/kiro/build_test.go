package kiro

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/conv"
)

// Helpers to write conversations tersely.

func text(s string) conv.Block { return conv.Block{Type: conv.Text, Text: s} }
func use(id, name string) conv.Block {
	return conv.Block{Type: conv.ToolUse, ToolUseID: id, ToolName: name, Input: json.RawMessage(`{"a":1}`)}
}
func result(id, s string) conv.Block {
	return conv.Block{Type: conv.ToolResult, ToolUseID: id, Content: []conv.Block{text(s)}}
}
func user(b ...conv.Block) conv.Message { return conv.Message{Role: conv.User, Content: b} }
func asst(b ...conv.Block) conv.Message { return conv.Message{Role: conv.Assistant, Content: b} }

var bashTool = conv.Tool{Name: "Bash", Description: "Run a shell command.", Schema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}`)}

// mustBuild builds req, checks the body's structure and decodes it.
func mustBuild(t *testing.T, req *conv.Request, opt BuildOptions) (*Payload, checkBodyJSON) {
	t.Helper()
	p, err := BuildRequest(req, opt)
	if err != nil {
		t.Fatalf("BuildRequest: %v", err)
	}
	if err := checkBody(p.Body); err != nil {
		t.Fatalf("structural check: %v\nbody: %s", err, p.Body)
	}
	var b checkBodyJSON
	if err := json.Unmarshal(p.Body, &b); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// transcript renders a body as one line per turn: "U:", "A:" for history,
// "C:" for the current message, then the content and any tool ids/names.
func transcript(b checkBodyJSON) []string {
	var out []string
	userLine := func(tag string, u *checkUser) string {
		s := tag + *u.Content
		if len(u.Images) > 0 {
			s += fmt.Sprintf(" |images=%d", len(u.Images))
		}
		if u.Context != nil {
			if len(u.Context.ToolResults) > 0 {
				var ids []string
				for _, r := range u.Context.ToolResults {
					var c map[string]string
					_ = json.Unmarshal(r.Content[0], &c)
					ids = append(ids, r.ToolUseID+"="+c["text"])
				}
				s += " |results=" + strings.Join(ids, ",")
			}
			if len(u.Context.Tools) > 0 {
				var names []string
				for _, t := range u.Context.Tools {
					names = append(names, t.ToolSpecification.Name)
				}
				s += " |tools=" + strings.Join(names, ",")
			}
		}
		return s
	}
	for _, h := range b.ConversationState.History {
		if h.User != nil {
			out = append(out, userLine("U:", h.User))
			continue
		}
		s := "A:" + *h.Assistant.Content
		if len(h.Assistant.ToolUses) > 0 {
			var ids []string
			for _, u := range h.Assistant.ToolUses {
				ids = append(ids, u.ToolUseID+":"+u.Name)
			}
			s += " |uses=" + strings.Join(ids, ",")
		}
		out = append(out, s)
	}
	return append(out, userLine("C:", b.ConversationState.CurrentMessage.User))
}

func TestBuildRules(t *testing.T) {
	tests := []struct {
		name string
		req  conv.Request
		want []string
	}{
		{"plain", conv.Request{Messages: []conv.Message{user(text("hi"))}},
			[]string{"C:hi"}},
		{"prefill dropped", conv.Request{Messages: []conv.Message{user(text("hi")), asst(text("{"))}},
			[]string{"C:hi"}},
		{"several trailing assistants dropped", conv.Request{Messages: []conv.Message{user(text("a")), asst(text("b")), user(text("c")), asst(text("d")), asst(text("e"))}},
			[]string{"U:a", "A:b", "C:c"}},
		{"only assistant messages", conv.Request{Messages: []conv.Message{asst(text("x"))}},
			[]string{"U:(empty)", "A:x", "C:Continue"}},
		{"no messages", conv.Request{},
			[]string{"C:Continue"}},
		{"unknown role is user and merges", conv.Request{Messages: []conv.Message{{Role: "developer", Content: []conv.Block{text("rules")}}, user(text("hi"))}},
			[]string{"C:rules\nhi"}},
		{"consecutive users merge with newline", conv.Request{Messages: []conv.Message{user(text("a")), user(text("b")), asst(text("x")), user(text("c"))}},
			[]string{"U:a\nb", "A:x", "C:c"}},
		{"consecutive assistants merge with blank line", conv.Request{Messages: []conv.Message{user(text("a")), asst(text("x")), asst(text("y")), user(text("c"))}},
			[]string{"U:a", "A:x\n\ny", "C:c"}},
		{"history starts with user", conv.Request{Messages: []conv.Message{asst(text("hello")), user(text("hi"))}},
			[]string{"U:(empty)", "A:hello", "C:hi"}},
		{"system pair", conv.Request{System: "Be brief.", Messages: []conv.Message{user(text("hi"))}},
			[]string{"U:Be brief.", "A:I will follow these instructions.", "C:hi"}},
		{"system pair then assistant first", conv.Request{System: "S", Messages: []conv.Message{asst(text("x")), user(text("hi"))}},
			[]string{"U:S", "A:I will follow these instructions.", "U:(empty)", "A:x", "C:hi"}},
		{"empty user message in history", conv.Request{Messages: []conv.Message{user(text("a")), asst(text("x")), user(text("  ")), asst(text("y")), user(text("b"))}},
			[]string{"U:a", "A:x", "U:(empty)", "A:y", "C:b"}},
		{"empty messages vanish before merging", conv.Request{Messages: []conv.Message{user(text("a")), asst(), user(text("b"))}},
			[]string{"C:a\nb"}},

		// Tools and pairing.
		{"tool round", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("ls")), asst(text("ok"), use("t1", "Bash")), user(result("t1", "main.go"))}},
			[]string{"U:ls", "A:ok |uses=t1:Bash", "C: |results=t1=main.go |tools=Bash"}},
		{"tool-only assistant gets a space", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("ls")), asst(use("t1", "Bash")), user(result("t1", "x"))}},
			[]string{"U:ls", "A:  |uses=t1:Bash", "C: |results=t1=x |tools=Bash"}},
		{"text beside a tool result is kept (resume)", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("ls")), asst(use("t1", "Bash")), user(result("t1", "x"), text("now fix it"))}},
			[]string{"U:ls", "A:  |uses=t1:Bash", "C:now fix it |results=t1=x |tools=Bash"}},
		{"results reordered to use order", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash"), use("t2", "Bash")), user(result("t2", "b"), result("t1", "a"))}},
			[]string{"U:go", "A:  |uses=t1:Bash,t2:Bash", "C: |results=t1=a,t2=b |tools=Bash"}},
		{"duplicate result dropped", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash")), user(result("t1", "a"), result("t1", "again"))}},
			[]string{"U:go", "A:  |uses=t1:Bash", "C: |results=t1=a |tools=Bash"}},
		{"duplicate result in a later turn dropped", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash")), user(result("t1", "a")), asst(text("done")), user(result("t1", "a"), text("more"))}},
			[]string{"U:go", "A:  |uses=t1:Bash", "U: |results=t1=a", "A:done", "C:more |tools=Bash"}},
		{"orphan result becomes text", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(text("x")), user(result("zz", "lost"), text("hi"))}},
			[]string{"U:go", "A:x", "C:[Tool Result (zz)]\nlost\nhi |tools=Bash"}},
		{"unanswered tool use dropped", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(text("x"), use("t1", "Bash")), user(text("never mind"))}},
			[]string{"U:go", "A:x", "C:never mind |tools=Bash"}},
		{"partly answered uses keep the answered one", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash"), use("t2", "Bash")), user(result("t2", "b"))}},
			[]string{"U:go", "A:  |uses=t2:Bash", "C: |results=t2=b |tools=Bash"}},
		{"only use unanswered leaves a placeholder", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash")), user(text("stop"))}},
			[]string{"U:go", "A:(empty)", "C:stop |tools=Bash"}},
		{"repeated tool use id dropped", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash")), user(result("t1", "a")), asst(use("t1", "Bash")), user(result("t1", "b"))}},
			[]string{"U:go", "A:  |uses=t1:Bash", "U: |results=t1=a", "A:(empty)", "C:Continue |tools=Bash"}},
		{"tool result inside an assistant message moves to a user turn", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash"), result("t1", "r"), text("done")), user(text("next"))}},
			[]string{"U:go", "A:  |uses=t1:Bash", "U: |results=t1=r", "A:done", "C:next |tools=Bash"}},
		{"tool use inside a user message moves to an assistant turn", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go"), use("t1", "Bash")), user(result("t1", "r"))}},
			[]string{"U:go", "A:  |uses=t1:Bash", "C: |results=t1=r |tools=Bash"}},
		{"tool result as the first message", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(result("t0", "old"), text("hi"))}},
			[]string{"C:[Tool Result (t0)]\nold\nhi |tools=Bash"}},
		{"undeclared history tool gets a placeholder", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Read")), user(result("t1", "r"))}},
			[]string{"U:go", "A:  |uses=t1:Read", "C: |results=t1=r |tools=Bash,Read"}},
		{"declared check is case-insensitive", conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "bash")), user(result("t1", "r"))}},
			[]string{"U:go", "A:  |uses=t1:bash", "C: |results=t1=r |tools=Bash"}},
		{"no tools: tool blocks become text", conv.Request{Messages: []conv.Message{user(text("go")), asst(text("ok"), use("t1", "Bash")), user(result("t1", "r"), text("sum up"))}},
			[]string{"U:go", "A:ok\n\n[Tool: Bash (t1)]\n{\"a\":1}", "C:[Tool Result (t1)]\nr\nsum up"}},
		{"tool choice any", conv.Request{Tools: []conv.Tool{bashTool}, ToolChoice: conv.ToolChoice{Type: conv.ToolChoiceAny}, Messages: []conv.Message{user(text("go"))}},
			[]string{"C:go\n\nYou must respond by calling one or more of the available tools. |tools=Bash"}},
		{"tool choice tool on a results-only turn", conv.Request{Tools: []conv.Tool{bashTool}, ToolChoice: conv.ToolChoice{Type: conv.ToolChoiceTool, Name: "Bash"}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash")), user(result("t1", "r"))}},
			[]string{"U:go", "A:  |uses=t1:Bash", "C:You must respond by calling the tool named \"Bash\". |results=t1=r |tools=Bash"}},
		{"tool choice without tools is ignored", conv.Request{ToolChoice: conv.ToolChoice{Type: conv.ToolChoiceAny}, Messages: []conv.Message{user(text("go"))}},
			[]string{"C:go"}},

		// Thinking in history.
		{"thinking re-wrapped, redacted dropped", conv.Request{Messages: []conv.Message{user(text("q")),
			asst(conv.Block{Type: conv.Reasoning, Text: "hmm", Signature: "s"}, conv.Block{Type: conv.Reasoning, Signature: "redacted"}, text("answer")), user(text("next"))}},
			[]string{"U:q", "A:<thinking>hmm</thinking>\n\nanswer", "C:next"}},
		{"thinking in a user message dropped", conv.Request{Messages: []conv.Message{user(conv.Block{Type: conv.Reasoning, Text: "x"}, text("q"))}},
			[]string{"C:q"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, b := mustBuild(t, &tt.req, BuildOptions{})
			got := transcript(b)
			if !slices.Equal(got, tt.want) {
				t.Errorf("transcript:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestBuildFields(t *testing.T) {
	req := &conv.Request{Model: "claude-sonnet-4-5-20250929", System: "S", ConversationID: "conv-1",
		Messages: []conv.Message{user(text("a")), asst(text("b")), user(text("c"))}}
	p, b := mustBuild(t, req, BuildOptions{ProfileARN: "arn:aws:codewhisperer:us-east-1:1:profile/X", ConversationID: "ignored"})
	cs := b.ConversationState
	if cs.ConversationID != "conv-1" || p.ConversationID != "conv-1" {
		t.Errorf("conversationId = %q, want the request's", cs.ConversationID)
	}
	if len(cs.AgentContinuationID) != 36 {
		t.Errorf("agentContinuationId = %q, want a UUID", cs.AgentContinuationID)
	}
	if b.ProfileARN == nil || *b.ProfileARN != "arn:aws:codewhisperer:us-east-1:1:profile/X" {
		t.Errorf("profileArn = %v", b.ProfileARN)
	}
	for i, h := range cs.History {
		if h.User != nil && h.User.ModelID != "claude-sonnet-4.5" {
			t.Errorf("history[%d].modelId = %q", i, h.User.ModelID)
		}
	}
	if cs.CurrentMessage.User.ModelID != "claude-sonnet-4.5" {
		t.Errorf("current modelId = %q", cs.CurrentMessage.User.ModelID)
	}

	// Without an ARN the key is absent; the options' conversation id is the
	// fallback; continuation ids are fresh unless given.
	req.ConversationID = ""
	p, b = mustBuild(t, req, BuildOptions{ConversationID: "fallback", ContinuationID: "cont"})
	if bytes.Contains(p.Body, []byte("profileArn")) {
		t.Error("profileArn present without an ARN")
	}
	if b.ConversationState.ConversationID != "fallback" || b.ConversationState.AgentContinuationID != "cont" {
		t.Errorf("ids = %q, %q", b.ConversationState.ConversationID, b.ConversationState.AgentContinuationID)
	}
	p1, _ := mustBuild(t, req, BuildOptions{})
	p2, _ := mustBuild(t, req, BuildOptions{})
	if p1.ConversationID == p2.ConversationID || len(p1.ConversationID) != 36 {
		t.Errorf("generated conversation ids %q, %q: want distinct UUIDs", p1.ConversationID, p2.ConversationID)
	}
	// An explicit model wins over the request's name.
	_, b = mustBuild(t, req, BuildOptions{Model: Model{ID: "claude-opus-4.8"}})
	if got := b.ConversationState.CurrentMessage.User.ModelID; got != "claude-opus-4.8" {
		t.Errorf("modelId = %q", got)
	}
	// HTML-sensitive characters are not escaped.
	req.Messages = []conv.Message{user(text("a < b && c > d"))}
	p, _ = mustBuild(t, req, BuildOptions{})
	if !bytes.Contains(p.Body, []byte("a < b && c > d")) {
		t.Errorf("body escapes HTML: %s", p.Body)
	}
}

func TestBuildNoEmptyArrays(t *testing.T) {
	// Tool-only history without tools in this request, no images, no results:
	// no empty array or object may appear.
	req := &conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("a")), asst(text("b")), user(text("c"))}}
	p, _ := mustBuild(t, req, BuildOptions{})
	for _, bad := range []string{`[]`, `{}`, `null`, `"toolUses"`, `"images"`, `"toolResults"`} {
		if bytes.Contains(p.Body, []byte(bad)) {
			t.Errorf("body contains %s: %s", bad, p.Body)
		}
	}
}

func TestBuildToolResultStatus(t *testing.T) {
	r := result("t1", "boom")
	r.IsError = true
	r.Content = append(r.Content, text("second"))
	req := &conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash")), user(r)}}
	p, _ := mustBuild(t, req, BuildOptions{})
	want := `"toolResults":[{"toolUseId":"t1","content":[{"text":"boom\nsecond"}],"status":"error"}]`
	if !bytes.Contains(p.Body, []byte(want)) {
		t.Errorf("body lacks %s:\n%s", want, p.Body)
	}
	// An empty result is an empty text, with status success.
	req.Messages[2] = user(conv.Block{Type: conv.ToolResult, ToolUseID: "t1"})
	p, _ = mustBuild(t, req, BuildOptions{})
	want = `"content":"","modelId":"claude-sonnet-4.5","origin":"AI_EDITOR","userInputMessageContext":{"toolResults":[{"toolUseId":"t1","content":[{"text":""}],"status":"success"}]`
	if !bytes.Contains(p.Body, []byte(want)) {
		t.Errorf("body lacks %s:\n%s", want, p.Body)
	}
}

func TestBuildToolNames(t *testing.T) {
	long := "mcp__" + strings.Repeat("server", 8) + "__" + strings.Repeat("tool", 8) // 87 chars
	dotted := "mcp__my.server__do"
	req := &conv.Request{
		Tools:    []conv.Tool{{Name: long, Description: "long"}, {Name: dotted, Description: "dots"}, bashTool, {Name: "BASH", Description: "dup"}, {Name: ""}},
		Messages: []conv.Message{user(text("go")), asst(use("t1", long), use("t2", dotted)), user(result("t1", "a"), result("t2", "b"))},
	}
	p, b := mustBuild(t, req, BuildOptions{})
	tools := b.ConversationState.CurrentMessage.User.Context.Tools
	if len(tools) != 3 {
		t.Fatalf("declared %d tools, want 3 (duplicate and nameless dropped)", len(tools))
	}
	short := tools[0].ToolSpecification.Name
	if len(short) != 63 || !strings.HasPrefix(short, long[:54]+"_") {
		t.Errorf("shortened name %q (%d chars)", short, len(short))
	}
	if again := shortenToolName(long); again != short {
		t.Errorf("shortening is not deterministic: %q vs %q", again, short)
	}
	cleaned := tools[1].ToolSpecification.Name
	if !strings.HasPrefix(cleaned, "mcp__my_server__do_") {
		t.Errorf("cleaned name %q", cleaned)
	}
	uses := b.ConversationState.History[1].Assistant.ToolUses
	if uses[0].Name != short || uses[1].Name != cleaned {
		t.Errorf("history tool uses %q, %q not renamed like the declarations", uses[0].Name, uses[1].Name)
	}
	if p.ToolName(short) != long || p.ToolName(cleaned) != dotted || p.ToolName("Bash") != "Bash" {
		t.Errorf("ToolNames = %v", p.ToolNames)
	}
	if len(p.ToolNames) != 2 {
		t.Errorf("ToolNames has %d entries, want only the 2 changed names", len(p.ToolNames))
	}
	// Without any change the map stays nil.
	p, _ = mustBuild(t, &conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("x"))}}, BuildOptions{})
	if p.ToolNames != nil {
		t.Errorf("ToolNames = %v, want nil", p.ToolNames)
	}
}

func TestToolDescription(t *testing.T) {
	long := strings.Repeat("é", 10_001)
	tests := []struct {
		name, desc string
		wantRunes  int
		wantPrefix string
	}{
		{"Bash", "", 10, "Tool: Bash"},
		{"Bash", "  ", 10, "Tool: Bash"},
		{"Bash", "Run.", 4, "Run."},
		{"Bash", strings.Repeat("a", 10_000), 10_000, "aaa"},
		{"Bash", long, 10_000, "éé"},
		{"Bash", strings.Repeat("a", 20_000), 10_000, "aaa"},
	}
	for _, tt := range tests {
		got := toolDescription(tt.name, tt.desc)
		if n := utf8.RuneCountInString(got); n != tt.wantRunes || !strings.HasPrefix(got, tt.wantPrefix) || !utf8.ValidString(got) {
			t.Errorf("toolDescription(%q…) = %.20q… (%d runes), want %d runes", tt.desc[:min(len(tt.desc), 10)], got, n, tt.wantRunes)
		}
	}
	if got := toolDescription("X", long); !strings.HasSuffix(got, "...") {
		t.Errorf("truncated description does not end with ...")
	}
}

func TestSanitizeSchema(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `{"type":"object","properties":{}}`},
		{`null`, `{"type":"object","properties":{}}`},
		{`[]`, `{"type":"object","properties":{}}`},
		{`{`, `{"type":"object","properties":{}}`},
		{`{} {}`, `{"type":"object","properties":{}}`},
		// Already fine: the client's bytes, compacted, key order kept.
		{`{"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}`, `{"type":"object","required":["a"],"properties":{"a":{"type":"string"}}}`},
		{`{"properties":{}}`, `{"properties":{},"type":"object"}`},
		{`{"type":"object"}`, `{"properties":{},"type":"object"}`},
		{`{"type":"object","properties":null,"required":null}`, `{"properties":{},"type":"object"}`},
		{`{"type":"string"}`, `{"properties":{},"type":"object"}`},
		{`{"type":["object","null"],"properties":{}}`, `{"properties":{},"type":"object"}`},
		{`{"type":"object","properties":{},"required":["a",1,null]}`, `{"properties":{},"required":["a"],"type":"object"}`},
		{`{"type":"object","properties":{},"additionalProperties":"x"}`, `{"properties":{},"type":"object"}`},
		{`{"type":"object","properties":{},"additionalProperties":false}`, `{"type":"object","properties":{},"additionalProperties":false}`},
		{`{"type":"object","properties":{"a":{"type":null,"properties":null,"required":"x"},"b":true,"c":3}}`,
			`{"properties":{"a":{},"b":true,"c":{}},"type":"object"}`},
		{`{"type":"object","properties":{"l":{"type":"array","items":{"type":"","required":null}}}}`,
			`{"properties":{"l":{"items":{},"type":"array"}},"type":"object"}`},
		{`{"type":"object","properties":{"n":{"anyOf":[{"type":""},{"type":"number","minimum":1.50}]}}}`,
			`{"properties":{"n":{"anyOf":[{},{"minimum":1.50,"type":"number"}]}},"type":"object"}`},
		{`{"type":"object","properties":{},"$defs":{"x":{"type":7}}}`, `{"$defs":{"x":{}},"properties":{},"type":"object"}`},
		{`{"type":"object","properties":{"h":{"type":"string","description":"<b> & co"}}}`, `{"type":"object","properties":{"h":{"type":"string","description":"<b> & co"}}}`},
	}
	for _, tt := range tests {
		got := string(sanitizeSchema(json.RawMessage(tt.in)))
		if got != tt.want {
			t.Errorf("sanitizeSchema(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		if again := string(sanitizeSchema(json.RawMessage(tt.in))); again != got {
			t.Errorf("cached result differs: %s", again)
		}
	}
}

func TestNormalizeInput(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `{}`},
		{`null`, `{}`},
		{` {"a":1} `, `{"a":1}`},
		{`[1,2]`, `{"input":[1,2]}`},
		{`"s"`, `{"input":"s"}`},
		{`{bad`, `{"input":"{bad"}`},
	}
	for _, tt := range tests {
		if got := string(normalizeInput(json.RawMessage(tt.in))); got != tt.want {
			t.Errorf("normalizeInput(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestBuildImages(t *testing.T) {
	img := func(media, data string) conv.Block { return conv.Block{Type: conv.Image, MediaType: media, Data: data} }
	req := &conv.Request{Messages: []conv.Message{user(
		img("image/png", "AAAA"),
		img("image/jpg", "data:image/jpeg;base64,BBBB"),
		img("", "data:image/webp;base64,CCCC"),
		img("image/bmp", "DDDD"),
		img("image/gif", ""),
		img("image/gif", strings.Repeat("A", 5_100_000)),
		text("look"),
	)}}
	p, b := mustBuild(t, req, BuildOptions{})
	cur := b.ConversationState.CurrentMessage.User
	var got []string
	for _, im := range cur.Images {
		got = append(got, im.Format+":"+im.Source.Bytes)
	}
	if want := []string{"png:AAAA", "jpeg:BBBB", "webp:CCCC"}; !slices.Equal(got, want) {
		t.Errorf("images %q, want %q", got, want)
	}
	for _, note := range []string{`unsupported type \"image/bmp\"`, "no data", "larger than 3.75 MB", "look"} {
		if !strings.Contains(*cur.Content, strings.ReplaceAll(note, `\"`, `"`)) {
			t.Errorf("content %q lacks %q", *cur.Content, note)
		}
	}
	_ = p

	// History: the 5 most recent history user turns keep their images.
	req = &conv.Request{}
	for i := range 8 {
		req.Messages = append(req.Messages, user(img("image/png", fmt.Sprintf("IMG%d", i)), text(fmt.Sprint(i))), asst(text("ok")))
	}
	req.Messages = append(req.Messages, user(img("image/png", "NOW"), text("now")))
	_, b = mustBuild(t, req, BuildOptions{})
	var kept []string
	for _, h := range b.ConversationState.History {
		if h.User == nil {
			continue
		}
		if len(h.User.Images) > 0 {
			kept = append(kept, h.User.Images[0].Source.Bytes)
		} else if !strings.Contains(*h.User.Content, "image omitted from earlier") {
			t.Errorf("old image turn %q has no note", *h.User.Content)
		}
	}
	if want := []string{"IMG3", "IMG4", "IMG5", "IMG6", "IMG7"}; !slices.Equal(kept, want) {
		t.Errorf("kept history images %q, want %q", kept, want)
	}
	if cur := b.ConversationState.CurrentMessage.User; len(cur.Images) != 1 {
		t.Errorf("current message lost its image")
	}
	_, b = mustBuild(t, req, BuildOptions{HistoryImageTurns: -1})
	for _, h := range b.ConversationState.History {
		if h.User != nil && len(h.User.Images) > 0 {
			t.Errorf("HistoryImageTurns -1 kept an image")
		}
	}

	// Images inside a tool result go on the user turn.
	r := result("t1", "see")
	r.Content = append(r.Content, img("image/png", "SHOT"))
	req = &conv.Request{Tools: []conv.Tool{bashTool}, Messages: []conv.Message{user(text("go")), asst(use("t1", "Bash")), user(r)}}
	_, b = mustBuild(t, req, BuildOptions{})
	if cur := b.ConversationState.CurrentMessage.User; len(cur.Images) != 1 || cur.Images[0].Source.Bytes != "SHOT" {
		t.Errorf("tool result image not on the user turn: %+v", cur.Images)
	}
}

func TestThinkingTags(t *testing.T) {
	sonnet, opus46, opus45 := MapModel("claude-sonnet-4-5"), MapModel("claude-opus-4-6"), MapModel("claude-opus-4-5")
	thinkingName := func(m Model) Model { m.Thinking = true; return m }
	tests := []struct {
		name   string
		system string
		th     conv.Thinking
		model  Model
		want   string // first history message; "" means no system pair
	}{
		{"off", "S", conv.Thinking{}, sonnet, "S"},
		{"off no system", "", conv.Thinking{}, sonnet, ""},
		{"enabled", "S", conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 8000}, sonnet,
			"<thinking_mode>enabled</thinking_mode><max_thinking_length>8000</max_thinking_length>\nS"},
		{"enabled clamps high", "S", conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 100_000}, sonnet,
			"<thinking_mode>enabled</thinking_mode><max_thinking_length>24576</max_thinking_length>\nS"},
		{"enabled clamps low", "S", conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 10}, sonnet,
			"<thinking_mode>enabled</thinking_mode><max_thinking_length>1024</max_thinking_length>\nS"},
		{"enabled default budget", "S", conv.Thinking{Mode: conv.ThinkingEnabled}, sonnet,
			"<thinking_mode>enabled</thinking_mode><max_thinking_length>20000</max_thinking_length>\nS"},
		{"adaptive", "S", conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "medium"}, sonnet,
			"<thinking_mode>adaptive</thinking_mode><thinking_effort>medium</thinking_effort>\nS"},
		{"adaptive default effort", "S", conv.Thinking{Mode: conv.ThinkingAdaptive}, sonnet,
			"<thinking_mode>adaptive</thinking_mode><thinking_effort>high</thinking_effort>\nS"},
		{"creates a system pair", "", conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 4000}, sonnet,
			"<thinking_mode>enabled</thinking_mode><max_thinking_length>4000</max_thinking_length>"},
		{"not twice", "<thinking_mode>enabled</thinking_mode> mine", conv.Thinking{Mode: conv.ThinkingEnabled}, sonnet,
			"<thinking_mode>enabled</thinking_mode> mine"},
		{"not twice (length tag)", "<max_thinking_length>5</max_thinking_length>", conv.Thinking{Mode: conv.ThinkingAdaptive}, sonnet,
			"<max_thinking_length>5</max_thinking_length>"},
		{"model name forces it (opus 4.6: adaptive)", "S", conv.Thinking{}, thinkingName(opus46),
			"<thinking_mode>adaptive</thinking_mode><thinking_effort>high</thinking_effort>\nS"},
		{"model name forces it (opus 4.5: budget)", "S", conv.Thinking{}, thinkingName(opus45),
			"<thinking_mode>enabled</thinking_mode><max_thinking_length>20000</max_thinking_length>\nS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &conv.Request{System: tt.system, Thinking: tt.th, Messages: []conv.Message{user(text("hi"))}}
			_, b := mustBuild(t, req, BuildOptions{Model: tt.model})
			h := b.ConversationState.History
			got := ""
			if len(h) > 0 {
				got = *h[0].User.Content
				if *h[1].Assistant.Content != "I will follow these instructions." {
					t.Errorf("system pair answer %q", *h[1].Assistant.Content)
				}
			}
			if got != tt.want {
				t.Errorf("system message\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestBuildProperty: random conversations (random roles, tool uses and
// results, orphans, duplicates, empties, prefill) always give a body that
// passes the structural checker.
func TestBuildProperty(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		req := genRequest(randChooser{r})
		p, err := BuildRequest(req, BuildOptions{ProfileARN: "arn:x"})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if err := checkBody(p.Body); err != nil {
			t.Fatalf("case %d: %v\nrequest: %s\nbody: %s", i, err, dumpRequest(req), p.Body)
		}
	}
}

func dumpRequest(req *conv.Request) string { return fmt.Sprintf("%+v", *req) }

// TestBuildDoesNotModifyRequest: the request is the client's; building twice
// gives the same structure.
func TestBuildDoesNotModifyRequest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		req := genRequest(randChooser{r})
		before := dumpRequest(req)
		p1, _ := BuildRequest(req, BuildOptions{ConversationID: "c", ContinuationID: "k"})
		if after := dumpRequest(req); after != before {
			t.Fatalf("request modified:\n%s\n%s", before, after)
		}
		p2, _ := BuildRequest(req, BuildOptions{ConversationID: "c", ContinuationID: "k"})
		if !bytes.Equal(p1.Body, p2.Body) && req.ConversationID == "" {
			t.Fatalf("two builds differ:\n%s\n%s", p1.Body, p2.Body)
		}
	}
}

func TestBuildNilRequest(t *testing.T) {
	if _, err := BuildRequest(nil, BuildOptions{}); err == nil {
		t.Error("nil request: no error")
	}
}

func TestBuildImageCap(t *testing.T) {
	img := func(data string) conv.Block { return conv.Block{Type: conv.Image, MediaType: "image/png", Data: data} }
	// 4 history turns with 6 images each, then a current message with 3:
	// 27 images, of which the 20 newest go.
	req := &conv.Request{}
	for i := range 4 {
		var blocks []conv.Block
		for j := range 6 {
			blocks = append(blocks, img(fmt.Sprintf("H%dI%d", i, j)))
		}
		req.Messages = append(req.Messages, user(append(blocks, text(fmt.Sprint(i)))...), asst(text("ok")))
	}
	req.Messages = append(req.Messages, user(img("C0"), img("C1"), img("C2"), text("now")))
	p, b := mustBuild(t, req, BuildOptions{})
	count, size := 0, 0
	var notes []string
	for _, h := range b.ConversationState.History {
		if h.User == nil {
			continue
		}
		count += len(h.User.Images)
		for _, im := range h.User.Images {
			size += len(im.Source.Bytes)
		}
		if strings.Contains(*h.User.Content, "at most 20 images") {
			notes = append(notes, *h.User.Content)
		}
	}
	cur := b.ConversationState.CurrentMessage.User
	count += len(cur.Images)
	for _, im := range cur.Images {
		size += len(im.Source.Bytes)
	}
	if count != MaxImages || len(cur.Images) != 3 {
		t.Errorf("%d images (%d current), want %d", count, len(cur.Images), MaxImages)
	}
	// H0 loses all 6 (a note for 6), H1 keeps 5 of 6.
	if len(notes) != 2 || !strings.Contains(notes[0], "[6 images omitted") || !strings.Contains(notes[1], "[image omitted") {
		t.Errorf("notes %q", notes)
	}
	if p.ImageBytes != size || p.InputBytes() != len(p.Body)-size {
		t.Errorf("ImageBytes %d, want %d", p.ImageBytes, size)
	}
}

func TestBuildOutputSchema(t *testing.T) {
	schema := json.RawMessage(`{ "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"] }`)
	req := &conv.Request{Messages: []conv.Message{user(text("<session>\nfix it\n</session>"))}, OutputSchema: schema}
	_, b := mustBuild(t, req, BuildOptions{})
	want := "<session>\nfix it\n</session>\n\n" + OutputSchemaPreamble + "\n" + `{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]}`
	if got := *b.ConversationState.CurrentMessage.User.Content; got != want {
		t.Errorf("content\n got %q\nwant %q", got, want)
	}
	req.OutputSchema = nil
	if _, b = mustBuild(t, req, BuildOptions{}); strings.Contains(*b.ConversationState.CurrentMessage.User.Content, "JSON") {
		t.Error("instruction without a schema")
	}
}
