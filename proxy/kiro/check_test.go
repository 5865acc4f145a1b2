package kiro

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/conv"
)

// The structural checker: every rule of §3.2–3.7 that a body must obey,
// checked on the JSON alone, independently of how BuildRequest works.

type checkUser struct {
	Content *string `json:"content"`
	ModelID string  `json:"modelId"`
	Origin  string  `json:"origin"`
	Images  []struct {
		Format string `json:"format"`
		Source struct {
			Bytes string `json:"bytes"`
		} `json:"source"`
	} `json:"images"`
	Context *struct {
		ToolResults []struct {
			ToolUseID string            `json:"toolUseId"`
			Content   []json.RawMessage `json:"content"`
			Status    string            `json:"status"`
		} `json:"toolResults"`
		Tools []struct {
			ToolSpecification struct {
				Name        string `json:"name"`
				Description string `json:"description"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpecification"`
		} `json:"tools"`
	} `json:"userInputMessageContext"`
}

type checkAssistant struct {
	Content  *string `json:"content"`
	ToolUses []struct {
		ToolUseID string          `json:"toolUseId"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
	} `json:"toolUses"`
}

type checkBodyJSON struct {
	ConversationState struct {
		ConversationID      string `json:"conversationId"`
		AgentContinuationID string `json:"agentContinuationId"`
		AgentTaskType       string `json:"agentTaskType"`
		ChatTriggerType     string `json:"chatTriggerType"`
		History             []struct {
			User      *checkUser      `json:"userInputMessage"`
			Assistant *checkAssistant `json:"assistantResponseMessage"`
		} `json:"history"`
		CurrentMessage struct {
			User *checkUser `json:"userInputMessage"`
		} `json:"currentMessage"`
	} `json:"conversationState"`
	ProfileARN *string `json:"profileArn"`
}

var toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,63}$`)

// checkBody reports the first broken structural rule of a body.
func checkBody(body []byte) error {
	var generic any
	if err := json.Unmarshal(body, &generic); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := noEmpties(generic, "$"); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b checkBodyJSON
	if err := dec.Decode(&b); err != nil {
		return fmt.Errorf("unexpected shape: %w", err)
	}
	cs := &b.ConversationState
	switch {
	case cs.ConversationID == "" || cs.AgentContinuationID == "":
		return errors.New("missing conversationId or agentContinuationId")
	case cs.AgentTaskType != "vibe" || cs.ChatTriggerType != "MANUAL":
		return fmt.Errorf("agentTaskType %q chatTriggerType %q", cs.AgentTaskType, cs.ChatTriggerType)
	case cs.CurrentMessage.User == nil:
		return errors.New("currentMessage has no userInputMessage")
	case b.ProfileARN != nil && *b.ProfileARN == "":
		return errors.New("empty profileArn")
	}

	// Flatten into one alternating sequence; the current message is last.
	type msg struct {
		user *checkUser
		asst *checkAssistant
	}
	var seq []msg
	for i, h := range cs.History {
		if (h.User == nil) == (h.Assistant == nil) {
			return fmt.Errorf("history[%d] must have exactly one of user/assistant", i)
		}
		seq = append(seq, msg{h.User, h.Assistant})
	}
	seq = append(seq, msg{user: cs.CurrentMessage.User})
	if len(cs.History) > 0 && seq[0].user == nil {
		return errors.New("history starts with an assistant turn")
	}
	for i := 1; i < len(seq); i++ {
		if (seq[i].user == nil) == (seq[i-1].user == nil) {
			return fmt.Errorf("turns %d and %d have the same role", i-1, i)
		}
	}

	// Tools: only on the current message, valid names, unique case-insensitively.
	declared := map[string]bool{}
	if ctx := cs.CurrentMessage.User.Context; ctx != nil {
		for _, t := range ctx.Tools {
			s := t.ToolSpecification
			if !toolNameRE.MatchString(s.Name) {
				return fmt.Errorf("bad tool name %q", s.Name)
			}
			if declared[strings.ToLower(s.Name)] {
				return fmt.Errorf("tool %q declared twice", s.Name)
			}
			declared[strings.ToLower(s.Name)] = true
			if strings.TrimSpace(s.Description) == "" || utf8.RuneCountInString(s.Description) > 10_000 {
				return fmt.Errorf("tool %q: description of %d chars", s.Name, utf8.RuneCountInString(s.Description))
			}
			if err := checkSchema(s.InputSchema.JSON); err != nil {
				return fmt.Errorf("tool %q: %w", s.Name, err)
			}
		}
	}

	var prevUses []string
	seenUse := map[string]bool{}
	for i, m := range seq {
		last := i == len(seq)-1
		if m.asst != nil {
			a := m.asst
			if a.Content == nil || *a.Content == "" {
				return fmt.Errorf("turn %d: empty assistant content", i)
			}
			if len(a.ToolUses) == 0 && strings.TrimSpace(*a.Content) == "" {
				return fmt.Errorf("turn %d: blank assistant content without tool uses", i)
			}
			prevUses = prevUses[:0]
			for _, u := range a.ToolUses {
				if u.ToolUseID == "" || seenUse[u.ToolUseID] {
					return fmt.Errorf("turn %d: tool use id %q empty or repeated", i, u.ToolUseID)
				}
				seenUse[u.ToolUseID] = true
				if !toolNameRE.MatchString(u.Name) {
					return fmt.Errorf("turn %d: bad tool use name %q", i, u.Name)
				}
				if !declared[strings.ToLower(u.Name)] {
					return fmt.Errorf("turn %d: tool %q used but not declared", i, u.Name)
				}
				var obj map[string]any
				if err := json.Unmarshal(u.Input, &obj); err != nil || obj == nil {
					return fmt.Errorf("turn %d: tool input %s is not an object", i, u.Input)
				}
				prevUses = append(prevUses, u.ToolUseID)
			}
			continue
		}
		u := m.user
		if u.Content == nil {
			return fmt.Errorf("turn %d: user content missing", i)
		}
		if u.ModelID == "" || u.Origin != "AI_EDITOR" {
			return fmt.Errorf("turn %d: modelId %q origin %q", i, u.ModelID, u.Origin)
		}
		for _, im := range u.Images {
			switch im.Format {
			case "png", "jpeg", "gif", "webp":
			default:
				return fmt.Errorf("turn %d: image format %q", i, im.Format)
			}
			if im.Source.Bytes == "" || strings.HasPrefix(im.Source.Bytes, "data:") {
				return fmt.Errorf("turn %d: image bytes %.20q", i, im.Source.Bytes)
			}
		}
		var results []string
		if u.Context != nil {
			if len(u.Context.Tools) > 0 && !last {
				return fmt.Errorf("turn %d: tools on a history message", i)
			}
			for _, r := range u.Context.ToolResults {
				if r.Status != "success" && r.Status != "error" {
					return fmt.Errorf("turn %d: status %q", i, r.Status)
				}
				if len(r.Content) != 1 {
					return fmt.Errorf("turn %d: result content has %d items", i, len(r.Content))
				}
				var txt map[string]*string
				if err := json.Unmarshal(r.Content[0], &txt); err != nil || len(txt) != 1 || txt["text"] == nil {
					return fmt.Errorf("turn %d: result content %s is not {\"text\":…}", i, r.Content[0])
				}
				results = append(results, r.ToolUseID)
			}
		}
		if len(results) == 0 && strings.TrimSpace(*u.Content) == "" {
			return fmt.Errorf("turn %d: blank user content without tool results", i)
		}
		if len(results) > 0 && len(declared) == 0 {
			return fmt.Errorf("turn %d: tool results without declared tools", i)
		}
		// Pairing: exactly the previous turn's uses, in order.
		if fmt.Sprint(results) != fmt.Sprint(prevUses) && !(len(results) == 0 && len(prevUses) == 0) {
			return fmt.Errorf("turn %d: results %v do not answer uses %v", i, results, prevUses)
		}
		prevUses = prevUses[:0]
	}
	return nil
}

// noEmpties rejects empty arrays, empty objects (but for tool inputs and
// schemas, which may be {}) and nulls anywhere.
func noEmpties(v any, path string) error {
	switch v := v.(type) {
	case nil:
		return fmt.Errorf("%s: null", path)
	case []any:
		if len(v) == 0 {
			return fmt.Errorf("%s: empty array", path)
		}
		for i, x := range v {
			if err := noEmpties(x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, x := range v {
			if k == "input" || k == "json" {
				continue // tool inputs and schemas are the client's JSON
			}
			if m, ok := x.(map[string]any); ok && len(m) == 0 {
				return fmt.Errorf("%s.%s: empty object", path, k)
			}
			if err := noEmpties(x, path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSchema: an object root of type "object", properties an object,
// required a list of strings.
func checkSchema(raw json.RawMessage) error {
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil || s == nil {
		return fmt.Errorf("schema %s is not an object", raw)
	}
	if s["type"] != "object" {
		return fmt.Errorf("schema type %v", s["type"])
	}
	if p, ok := s["properties"]; ok {
		if _, isMap := p.(map[string]any); !isMap {
			return fmt.Errorf("schema properties %v", p)
		}
	}
	if r, ok := s["required"]; ok {
		list, isList := r.([]any)
		if !isList {
			return fmt.Errorf("schema required %v", r)
		}
		for _, x := range list {
			if _, isStr := x.(string); !isStr {
				return fmt.Errorf("schema required item %v", x)
			}
		}
	}
	return nil
}

// Random conversations: a source of choices, from math/rand or from fuzz bytes.

type chooser interface{ intn(n int) int }

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

func pick[T any](c chooser, xs ...T) T { return xs[c.intn(len(xs))] }

var (
	genLongName = "mcp__a_very_long_server_name_for_testing__and_an_even_longer_tool_name_that_goes_on"
	genSchemas  = []json.RawMessage{
		json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}`),
		json.RawMessage(`{"type":"object","properties":null,"required":null}`),
		json.RawMessage(`{"type":"string"}`),
		json.RawMessage(`[]`),
		json.RawMessage(`{`),
		json.RawMessage(`{"required":[1,"x"],"additionalProperties":"no","properties":{"x":{"type":null}}}`),
		nil,
	}
	genInputs = []json.RawMessage{
		json.RawMessage(`{"command":"ls"}`), nil, json.RawMessage(`null`), json.RawMessage(`[1]`),
		json.RawMessage(`{bad`), json.RawMessage(`"text"`), json.RawMessage(`{}`),
	}
	genToolNames = []string{"Bash", "Read", "bash", genLongName, "mcp__srv__tool.with.dots", "", "Undeclared"}
	genIDs       = []string{"t1", "t2", "t3", "t4", "t5", ""}
)

func genText(c chooser) string {
	return pick(c, "", " ", "\n", "hello", "List the Go files", "<thinking>x</thinking>", "résumé ✓", strings.Repeat("abc ", 50))
}

func genImage(c chooser) conv.Block {
	return conv.Block{Type: conv.Image,
		MediaType: pick(c, "image/png", "image/jpeg", "image/bmp", "", "image/webp"),
		Data:      pick(c, "iVBORw0KGgo=", "data:image/png;base64,iVBORw0KGgo=", "")}
}

func genBlock(c chooser) conv.Block {
	switch c.intn(6) {
	case 0, 1:
		return conv.Block{Type: conv.Text, Text: genText(c)}
	case 2:
		return conv.Block{Type: conv.Reasoning, Text: pick(c, "", "let me think"), Signature: pick(c, "", "sig")}
	case 3:
		return genImage(c)
	case 4:
		return conv.Block{Type: conv.ToolUse, ToolUseID: pick(c, genIDs...), ToolName: pick(c, genToolNames...), Input: pick(c, genInputs...)}
	default:
		return genResult(c, pick(c, genIDs...))
	}
}

func genResult(c chooser, id string) conv.Block {
	b := conv.Block{Type: conv.ToolResult, ToolUseID: id, IsError: c.intn(4) == 0}
	for range c.intn(3) {
		if c.intn(4) == 0 {
			b.Content = append(b.Content, genImage(c))
		} else {
			b.Content = append(b.Content, conv.Block{Type: conv.Text, Text: genText(c)})
		}
	}
	return b
}

// genRequest builds a random request: random roles and blocks, plus
// well-formed tool rounds that are then perturbed (dropped, duplicated,
// reordered results, extra text, prefill).
func genRequest(c chooser) *conv.Request {
	req := &conv.Request{
		Model:  pick(c, "claude-sonnet-4-5", "claude-opus-5-5[1m]", "gpt-4o", "claude-opus-4-6-thinking", ""),
		System: pick(c, "", "You are Claude Code.", "<thinking_mode>enabled</thinking_mode> sys"),
	}
	for range c.intn(5) {
		req.Tools = append(req.Tools, conv.Tool{Name: pick(c, genToolNames...), Description: pick(c, "", "Run a command.", strings.Repeat("d", 10_050)), Schema: pick(c, genSchemas...)})
	}
	req.Thinking = pick(c, conv.Thinking{}, conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 100_000}, conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "medium"})
	req.ToolChoice = pick(c, conv.ToolChoice{}, conv.ToolChoice{Type: conv.ToolChoiceAny}, conv.ToolChoice{Type: conv.ToolChoiceTool, Name: genLongName}, conv.ToolChoice{Type: conv.ToolChoiceNone})
	nextID := 0
	for range c.intn(10) {
		if c.intn(3) == 0 { // a tool round
			var uses, results []conv.Block
			for range 1 + c.intn(3) {
				nextID++
				id := fmt.Sprintf("toolu_%d", nextID)
				uses = append(uses, conv.Block{Type: conv.ToolUse, ToolUseID: id, ToolName: pick(c, genToolNames...), Input: pick(c, genInputs...)})
				if c.intn(5) != 0 {
					results = append(results, genResult(c, id))
				}
			}
			if len(results) > 1 && c.intn(2) == 0 {
				results[0], results[1] = results[1], results[0]
			}
			if len(results) > 0 && c.intn(4) == 0 {
				results = append(results, results[0]) // duplicate
			}
			asst := conv.Message{Role: conv.Assistant, Content: append([]conv.Block{{Type: conv.Text, Text: genText(c)}}, uses...)}
			user := conv.Message{Role: conv.User, Content: results}
			if c.intn(3) == 0 {
				user.Content = append(user.Content, conv.Block{Type: conv.Text, Text: "next prompt"})
			}
			req.Messages = append(req.Messages, asst, user)
			continue
		}
		m := conv.Message{Role: pick(c, conv.User, conv.Assistant, conv.Role("developer"))}
		for range c.intn(4) {
			m.Content = append(m.Content, genBlock(c))
		}
		req.Messages = append(req.Messages, m)
	}
	return req
}

// TestCheckBodyRejects: the checker itself catches each broken rule.
func TestCheckBodyRejects(t *testing.T) {
	const (
		u    = `{"userInputMessage":{"content":"q","modelId":"m","origin":"AI_EDITOR"}}`
		a    = `{"assistantResponseMessage":{"content":"a"}}`
		tool = `"tools":[{"toolSpecification":{"name":"Bash","description":"d","inputSchema":{"json":{"type":"object","properties":{}}}}}]`
	)
	body := func(history, current string) string {
		h := ""
		if history != "" {
			h = `"history":[` + history + `],`
		}
		return `{"conversationState":{"conversationId":"c","agentContinuationId":"k","agentTaskType":"vibe","chatTriggerType":"MANUAL",` +
			h + `"currentMessage":{"userInputMessage":` + current + `}}}`
	}
	cur := `{"content":"now","modelId":"m","origin":"AI_EDITOR"}`
	good := body(u+","+a, cur)
	if err := checkBody([]byte(good)); err != nil {
		t.Fatalf("good body rejected: %v", err)
	}
	bad := map[string]string{
		"empty toolUses":        body(u+`,{"assistantResponseMessage":{"content":"a","toolUses":[]}}`, cur),
		"starts with assistant": body(a+","+u+","+a, cur),
		"two users":             body(u, cur),
		"empty assistant":       body(u+`,{"assistantResponseMessage":{"content":""}}`, cur),
		"blank user":            body(u+","+a, `{"content":" ","modelId":"m","origin":"AI_EDITOR"}`),
		"no modelId":            body(u+","+a, `{"content":"x","origin":"AI_EDITOR"}`),
		"unknown key":           body(u+","+a, `{"content":"x","modelId":"m","origin":"AI_EDITOR","extra":1}`),
		"orphan result":         body(u+","+a, `{"content":"","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{"toolResults":[{"toolUseId":"t","content":[{"text":"r"}],"status":"success"}],`+tool+`}}`),
		"unanswered use":        body(u+`,{"assistantResponseMessage":{"content":" ","toolUses":[{"toolUseId":"t","name":"Bash","input":{}}]}}`, `{"content":"x","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{`+tool+`}}`),
		"undeclared tool":       body(u+`,{"assistantResponseMessage":{"content":" ","toolUses":[{"toolUseId":"t","name":"Read","input":{}}]}}`, `{"content":"","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{"toolResults":[{"toolUseId":"t","content":[{"text":"r"}],"status":"success"}],`+tool+`}}`),
		"bad status":            body(u+`,{"assistantResponseMessage":{"content":" ","toolUses":[{"toolUseId":"t","name":"Bash","input":{}}]}}`, `{"content":"","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{"toolResults":[{"toolUseId":"t","content":[{"text":"r"}],"status":"ok"}],`+tool+`}}`),
		"non-object input":      body(u+`,{"assistantResponseMessage":{"content":" ","toolUses":[{"toolUseId":"t","name":"Bash","input":[1]}]}}`, `{"content":"","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{"toolResults":[{"toolUseId":"t","content":[{"text":"r"}],"status":"success"}],`+tool+`}}`),
		"long tool name":        body("", `{"content":"x","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{"tools":[{"toolSpecification":{"name":"`+strings.Repeat("a", 64)+`","description":"d","inputSchema":{"json":{"type":"object"}}}}]}}`),
		"string schema root":    body("", `{"content":"x","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{"tools":[{"toolSpecification":{"name":"a","description":"d","inputSchema":{"json":{"type":"string"}}}}]}}`),
		"empty context":         body("", `{"content":"x","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{}}`),
		"bad image":             body("", `{"content":"x","modelId":"m","origin":"AI_EDITOR","images":[{"format":"bmp","source":{"bytes":"AA"}}]}`),
		"chatTriggerType AUTO":  strings.Replace(good, "MANUAL", "AUTO", 1),
		"results without tools": body(u+`,{"assistantResponseMessage":{"content":" ","toolUses":[{"toolUseId":"t","name":"Bash","input":{}}]}}`, `{"content":"","modelId":"m","origin":"AI_EDITOR","userInputMessageContext":{"toolResults":[{"toolUseId":"t","content":[{"text":"r"}],"status":"success"}]}}`),
		"null":                  body("", `{"content":null,"modelId":"m","origin":"AI_EDITOR"}`),
	}
	for name, b := range bad {
		if err := checkBody([]byte(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
