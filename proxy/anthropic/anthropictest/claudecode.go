// Package anthropictest builds realistic Anthropic Messages API request bodies
// for tests and benchmarks: shaped like what Claude Code sends (system prompt
// in cache_control blocks, a full tool set, rounds of tool_use/tool_result),
// with generated prose and code instead of any real prompt text. It also
// holds requests recorded from the real Claude Code CLI ([Fixture]).
package anthropictest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ClaudeCodeRequest returns a streaming /v1/messages body the way Claude Code
// shapes one: a ~12 KB system prompt in two text blocks with cache_control,
// 16 tools with JSON Schemas, a first user turn carrying system reminders, then
// rounds assistant(text + tool_use) / user(tool_result) rounds and a final
// user question. With rounds = 9 the body is about 100 KB. The output is
// deterministic: the same rounds give the same bytes.
func ClaudeCodeRequest(rounds int) []byte {
	g := &gen{seed: 0x9e3779b97f4a7c15}
	req := request{
		Model:     "claude-sonnet-4-5-20250929",
		MaxTokens: 32000,
		Stream:    true,
		System: []textBlock{
			{Type: "text", Text: "You are a coding agent running in a terminal.", CacheControl: ephemeral()},
			{Type: "text", Text: g.prose(12 * 1024), CacheControl: ephemeral()},
		},
		Metadata: map[string]string{
			"user_id": "user_" + g.hex(64) + "_account_" + g.uuid() + "_session_" + SessionID,
		},
		Temperature: 1,
	}
	for i, name := range toolNames {
		req.Tools = append(req.Tools, g.tool(name, i))
	}
	req.Messages = append(req.Messages, message{Role: "user", Content: []any{
		textBlock{Type: "text", Text: "<system-reminder>\n" + g.prose(1500) + "\n</system-reminder>"},
		textBlock{Type: "text", Text: "Please look at the proxy package, find why streaming stalls and fix it. Ünïcödé → ok."},
	}})
	for r := 0; r < rounds; r++ {
		id := fmt.Sprintf("toolu_01%s", g.alnum(22))
		tool := toolNames[(r*5+1)%len(toolNames)]
		req.Messages = append(req.Messages,
			message{Role: "assistant", Content: []any{
				textBlock{Type: "text", Text: g.prose(300)},
				toolUse{Type: "tool_use", ID: id, Name: tool, Input: json.RawMessage(g.input(tool))},
			}},
			message{Role: "user", Content: []any{
				toolResult{Type: "tool_result", ToolUseID: id, Content: g.code(4600), IsError: r == 4},
			}},
		)
	}
	last := &req.Messages[len(req.Messages)-1]
	last.Content = append(last.Content, textBlock{Type: "text", Text: "Now run the tests again.", CacheControl: ephemeral()})
	b, err := json.Marshal(req)
	if err != nil {
		panic(err)
	}
	return b
}

// SessionID is the session UUID inside every generated metadata.user_id.
const SessionID = "4f1c2a9e-7b3d-4e8a-9c61-2d5f8e0b7a13"

var toolNames = []string{
	"Task", "Bash", "Glob", "Grep", "ExitPlanMode", "Read", "Edit", "Write",
	"NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "SlashCommand", "Skill",
}

type request struct {
	Model       string            `json:"model"`
	Messages    []message         `json:"messages"`
	Temperature float64           `json:"temperature"`
	System      []textBlock       `json:"system"`
	Tools       []tool            `json:"tools"`
	Metadata    map[string]string `json:"metadata"`
	MaxTokens   int               `json:"max_tokens"`
	Stream      bool              `json:"stream"`
}

type message struct {
	Role    string `json:"role"`
	Content []any  `json:"content"`
}

type cacheControl struct {
	Type string `json:"type"`
}

func ephemeral() *cacheControl { return &cacheControl{Type: "ephemeral"} }

type textBlock struct {
	Type         string        `json:"type"`
	Text         string        `json:"text"`
	CacheControl *cacheControl `json:"cache_control,omitempty"`
}

type toolUse struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type toolResult struct {
	Type      string `json:"type"`
	ToolUseID string `json:"tool_use_id"`
	Content   string `json:"content"`
	IsError   bool   `json:"is_error,omitempty"`
}

type tool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"input_schema"`
}

// gen is a small deterministic generator (xorshift64*), so bodies are
// reproducible without math/rand's global state.
type gen struct{ seed uint64 }

func (g *gen) next() uint64 {
	g.seed ^= g.seed >> 12
	g.seed ^= g.seed << 25
	g.seed ^= g.seed >> 27
	return g.seed * 2685821657736338717
}

func (g *gen) intn(n int) int { return int(g.next() % uint64(n)) }

var words = strings.Fields(`the a proxy request stream token model user assistant tool result
	file read write edit search test run build error handle return value function package module
	when if always never must should may you your code change commit branch output input line
	context window message block text json schema schema-valid "quoted" path/to/file.go use
	instead before after each every only with without into from about this that these`)

// prose returns about n bytes of sentences, with the odd newline and bullet.
func (g *gen) prose(n int) string {
	var b strings.Builder
	for b.Len() < n {
		k := 6 + g.intn(14)
		for i := 0; i < k; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[g.intn(len(words))])
		}
		switch g.intn(8) {
		case 0:
			b.WriteString(".\n\n- ")
		case 1:
			b.WriteString(".\n")
		default:
			b.WriteString(". ")
		}
	}
	return b.String()
}

// code returns about n bytes of Read-tool-like output: numbered Go lines with
// tabs, quotes and backslashes (so the JSON has escapes, as real bodies do).
func (g *gen) code(n int) string {
	var b strings.Builder
	for line := 1; b.Len() < n; line++ {
		fmt.Fprintf(&b, "%6d→", line)
		switch g.intn(6) {
		case 0:
			b.WriteString("func (s *server) handle(w http.ResponseWriter, r *http.Request) error {")
		case 1:
			fmt.Fprintf(&b, "\treturn fmt.Errorf(\"read %%s: %%w\\n\", %q, err)", words[g.intn(len(words))])
		case 2:
			b.WriteString("\t\tif err != nil && !errors.Is(err, io.EOF) {")
		case 3:
			b.WriteString("\t// " + g.prose(40))
		case 4:
			b.WriteString("}")
		default:
			fmt.Fprintf(&b, "\tbuf = append(buf, `%s`...)", words[g.intn(len(words))])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (g *gen) input(tool string) string {
	var v any
	switch tool {
	case "Bash":
		v = map[string]any{"command": "go test -race ./proxy/... 2>&1 | tail -50", "description": "Run the proxy tests"}
	case "Edit":
		v = map[string]any{"file_path": "/work/main/proxy/server.go", "old_string": g.code(400), "new_string": g.code(450)}
	case "Read":
		v = map[string]any{"file_path": "/work/main/proxy/server.go"}
	default:
		v = map[string]any{"pattern": "func .*Stream", "path": "/work/main/proxy", "output_mode": "content"}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (g *gen) tool(name string, i int) tool {
	props := map[string]any{}
	var required []string
	for p := 0; p < 3+i%4; p++ {
		pname := fmt.Sprintf("%s_%d", words[g.intn(len(words))], p)
		prop := map[string]any{"type": "string", "description": g.prose(120)}
		switch p % 4 {
		case 1:
			prop = map[string]any{"type": "number", "description": g.prose(80)}
		case 2:
			prop = map[string]any{"type": "array", "items": map[string]any{
				"type": "object", "properties": map[string]any{
					"content": map[string]any{"type": "string", "minLength": 1},
					"status":  map[string]any{"type": "string", "enum": []string{"pending", "in_progress", "completed"}},
				}, "required": []string{"content", "status"}, "additionalProperties": false,
			}}
		case 3:
			prop = map[string]any{"type": "boolean", "description": g.prose(60)}
		}
		props[pname] = prop
		if p%2 == 0 {
			required = append(required, pname)
		}
	}
	return tool{
		Name:        name,
		Description: g.prose(1100 + 150*(i%5)),
		InputSchema: map[string]any{
			"type": "object", "properties": props, "required": required,
			"additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#",
		},
	}
}

func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.intn(16)]
	}
	return string(b)
}

func (g *gen) alnum(n int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.intn(len(digits))]
	}
	return string(b)
}

func (g *gen) uuid() string {
	h := g.hex(32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
