// Package openai is kirotray's OpenAI front end: Chat Completions
// (/v1/chat/completions) and Responses (/v1/responses, the API Codex CLI
// speaks), plus the OpenAI shape of /v1/models. It parses request bodies into
// the neutral conversation of proxy/conv and renders the answer, which
// proxy/relay runs through the same translator the Anthropic front end uses,
// as OpenAI chunks, events and objects. It does not talk to Kiro itself.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/relay"
)

// ChatRequest is the part of a Chat Completions body kirotray uses.
type ChatRequest struct {
	Model         string        `json:"model"`
	Messages      []ChatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	N                   *int            `json:"n"`
	Stop                json.RawMessage `json:"stop"` // a string or a list of strings
	Tools               []ChatTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ReasoningEffort     string          `json:"reasoning_effort"`
	ResponseFormat      *ResponseFormat `json:"response_format"`
	PromptCacheKey      string          `json:"prompt_cache_key"`
}

// ChatMessage is one message of a Chat Completions conversation.
type ChatMessage struct {
	Role string `json:"role"`
	// Content is a string, a list of content parts, or null.
	Content          json.RawMessage `json:"content"`
	ToolCalls        []ChatToolCall  `json:"tool_calls"`
	ToolCallID       string          `json:"tool_call_id"`
	ReasoningContent string          `json:"reasoning_content"`

	parts []contentPart // Content, parsed by check
}

// ChatToolCall is a function call of an assistant message.
type ChatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// ChatTool is an entry of tools.
type ChatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// ResponseFormat is Chat Completions' response_format.
type ResponseFormat struct {
	Type       string `json:"type"` // text, json_object, json_schema
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// contentPart is one part of a message's content list.
type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"` // {"url": …} or the URL itself (Responses' input_image)
	Filename string          `json:"filename"`  // Responses' input_file
	File     *struct {
		Filename string `json:"filename"`
		FileID   string `json:"file_id"`
	} `json:"file"`
}

// ParseChatRequest parses and checks a Chat Completions body. Every error
// wraps relay.ErrInvalidRequest and names the field at fault.
func ParseChatRequest(body []byte) (*ChatRequest, error) {
	var r ChatRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if r.Model == "" {
		return nil, relay.Invalid("model", "required")
	}
	if len(r.Messages) == 0 {
		return nil, relay.Invalid("messages", "required: at least one message")
	}
	if r.N != nil && *r.N > 1 {
		return nil, relay.Invalid("n", "only one choice per request is supported")
	}
	for i := range r.Messages {
		if err := r.Messages[i].check(); err != nil {
			return nil, at(err, fmt.Sprintf("messages.%d", i))
		}
	}
	for i := range r.Tools {
		if t := &r.Tools[i]; t.Type == "function" && t.Function.Name == "" {
			return nil, relay.Invalid(fmt.Sprintf("tools.%d.function.name", i), "required")
		}
	}
	if _, err := effortThinking(r.ReasoningEffort, "reasoning_effort"); err != nil {
		return nil, err
	}
	if _, err := stopSequences(r.Stop); err != nil {
		return nil, err
	}
	if _, err := chatToolChoice(r.ToolChoice); err != nil {
		return nil, err
	}
	return &r, nil
}

func (m *ChatMessage) check() error {
	switch m.Role {
	case "system", "developer", "user", "assistant":
	case "tool":
		if m.ToolCallID == "" {
			return relay.Invalid("tool_call_id", "required for a tool message")
		}
	case "function":
		return relay.Invalid("role", `"function" messages are deprecated: send tool messages`)
	case "":
		return relay.Invalid("role", "required")
	default:
		return relay.Invalid("role", "unknown role %q: use system, developer, user, assistant or tool", m.Role)
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		if tc.ID == "" {
			return relay.Invalid(fmt.Sprintf("tool_calls.%d.id", j), "required")
		}
		if tc.Function.Name == "" {
			return relay.Invalid(fmt.Sprintf("tool_calls.%d.function.name", j), "required")
		}
	}
	var err error
	m.parts, err = parseContent(m.Content)
	return at(err, "content")
}

// parseContent reads a content value: a string, a list of parts, or null.
func parseContent(raw json.RawMessage) ([]contentPart, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, relay.Invalid("", "invalid string")
		}
		return []contentPart{{Type: "text", Text: s}}, nil
	}
	if raw[0] != '[' {
		return nil, relay.Invalid("", "must be a string or a list of content parts")
	}
	var parts []contentPart
	if err := decode(raw, &parts); err != nil {
		return nil, err
	}
	for i := range parts {
		switch parts[i].Type {
		case "text", "input_text", "output_text", "refusal", "image_url", "input_image", "file", "input_file":
		case "":
			return nil, relay.Invalid(fmt.Sprintf("%d.type", i), "required")
		default:
			return nil, relay.Invalid(fmt.Sprintf("%d.type", i), "unsupported content part type %q", parts[i].Type)
		}
	}
	return parts, nil
}

// imageURL returns the URL of an image_url part.
func (p *contentPart) imageURL() string {
	raw := bytes.TrimSpace(p.ImageURL)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var obj struct {
		URL string `json:"url"`
	}
	_ = json.Unmarshal(raw, &obj)
	return obj.URL
}

// partBlocks converts content parts to blocks.
func partBlocks(dst []conv.Block, parts []contentPart) []conv.Block {
	for i := range parts {
		p := &parts[i]
		switch p.Type {
		case "text", "input_text", "output_text":
			if p.Text != "" {
				dst = append(dst, conv.Block{Type: conv.Text, Text: p.Text})
			}
		case "refusal":
			if p.Refusal != "" {
				dst = append(dst, conv.Block{Type: conv.Text, Text: p.Refusal})
			}
		case "image_url", "input_image":
			dst = append(dst, imageBlock(p.imageURL()))
		case "file", "input_file":
			name := p.Filename
			if p.File != nil && p.File.Filename != "" {
				name = p.File.Filename
			}
			if name == "" {
				name = "unnamed"
			}
			dst = append(dst, conv.Block{Type: conv.Text,
				Text: "[File " + name + " omitted: this proxy cannot pass files to the model; ask the user for its text]"})
		}
	}
	return dst
}

// imageBlock turns an image URL into an image block when it is a base64
// data: URL. Kiro takes only inline images: another URL becomes a note the
// model can read, rather than an error that would break every later request
// of a conversation holding it.
func imageBlock(url string) conv.Block {
	if rest, ok := strings.CutPrefix(url, "data:"); ok {
		if meta, data, ok := strings.Cut(rest, ","); ok && strings.HasSuffix(meta, ";base64") {
			media, _, _ := strings.Cut(meta, ";")
			return conv.Block{Type: conv.Image, MediaType: strings.ToLower(media), Data: data}
		}
	}
	if len(url) > 200 {
		url = url[:200] + "…"
	}
	return conv.Block{Type: conv.Text, Text: "[Image " + url + " omitted: only base64 data: URL images can be passed to the model]"}
}

// partsText joins the text of parts with "\n".
func partsText(parts []contentPart) string {
	var sb strings.Builder
	for i := range parts {
		t := parts[i].Text
		if parts[i].Type == "refusal" {
			t = parts[i].Refusal
		}
		if t == "" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(t)
	}
	return sb.String()
}

// systemReminder marks instructions that arrive in the middle of a
// conversation: Kiro has only user and assistant turns, so they stay in
// place as user text, marked the way Claude Code marks its own context.
func systemReminder(text string) string {
	return "<system-reminder>\n" + text + "\n</system-reminder>"
}

// ToConv returns the request as a neutral conversation. It cannot fail:
// everything it relies on was checked by ParseChatRequest.
func (r *ChatRequest) ToConv() *conv.Request {
	c := &conv.Request{Model: r.Model, Messages: make([]conv.Message, 0, len(r.Messages))}
	leading := true // system messages before the first turn form the system prompt
	for i := range r.Messages {
		m := &r.Messages[i]
		parts := m.parts
		switch m.Role {
		case "system", "developer":
			text := partsText(parts)
			if leading {
				c.System = relay.AddSystem(c.System, text)
			} else if text != "" {
				c.Messages = append(c.Messages, conv.Message{Role: conv.User,
					Content: []conv.Block{{Type: conv.Text, Text: systemReminder(text)}}})
			}
			continue
		case "user":
			c.Messages = append(c.Messages, conv.Message{Role: conv.User, Content: partBlocks(nil, parts)})
		case "assistant":
			var blocks []conv.Block
			if m.ReasoningContent != "" {
				blocks = append(blocks, conv.Block{Type: conv.Reasoning, Text: m.ReasoningContent})
			}
			blocks = partBlocks(blocks, parts)
			for j := range m.ToolCalls {
				tc := &m.ToolCalls[j]
				blocks = append(blocks, conv.Block{Type: conv.ToolUse, ToolUseID: tc.ID, ToolName: tc.Function.Name,
					Input: toolInput(tc.Function.Arguments)})
			}
			c.Messages = append(c.Messages, conv.Message{Role: conv.Assistant, Content: blocks})
		case "tool":
			c.Messages = append(c.Messages, conv.Message{Role: conv.User, Content: []conv.Block{{
				Type: conv.ToolResult, ToolUseID: m.ToolCallID, Content: partBlocks(nil, parts)}}})
		}
		leading = false
	}
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.Type != "function" {
			continue // custom and hosted tools: Kiro has no equivalent
		}
		c.Tools = append(c.Tools, conv.Tool{Name: t.Function.Name, Description: t.Function.Description,
			Schema: schemaOrDefault(t.Function.Parameters)})
	}
	c.ToolChoice, _ = chatToolChoice(r.ToolChoice)
	c.Thinking, _ = effortThinking(r.ReasoningEffort, "reasoning_effort")
	c.StopSequences, _ = stopSequences(r.Stop)
	c.MaxTokens = maxTokens(r.MaxCompletionTokens, r.MaxTokens)
	c.ConversationID = conversationID(r.PromptCacheKey)
	if schema, ok := r.ResponseFormat.json(); ok {
		c.System = relay.AddSystem(c.System, relay.JSONInstruction(schema))
	}
	return c
}

// json reports whether f asks for JSON output, and the schema if any.
func (f *ResponseFormat) json() ([]byte, bool) {
	if f == nil {
		return nil, false
	}
	switch f.Type {
	case "json_object":
		return nil, true
	case "json_schema":
		if f.JSONSchema != nil {
			return f.JSONSchema.Schema, true
		}
		return nil, true
	}
	return nil, false
}

// Thinking reports whether the answer may carry reasoning: the request asked
// for it, or the model name did ("…-thinking", which makes proxy/kiro ask).
func thinkingOn(c *conv.Request) bool {
	return c.Thinking.Mode != conv.ThinkingOff || kiro.MapModel(c.Model).Thinking
}

var defaultSchema = json.RawMessage(`{"type":"object","properties":{}}`)

func schemaOrDefault(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return defaultSchema
	}
	return raw
}

// toolInput is the conv form of a call's arguments string.
func toolInput(args string) json.RawMessage { return relay.ToolInput([]byte(args)) }

// chatToolChoice reads tool_choice: "auto", "none", "required", or
// {"type":"function","function":{"name":…}}.
func chatToolChoice(raw json.RawMessage) (conv.ToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return conv.ToolChoice{}, nil
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return namedChoice(s, "tool_choice")
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
		Custom struct {
			Name string `json:"name"`
		} `json:"custom"`
	}
	if err := decode(raw, &obj); err != nil {
		return conv.ToolChoice{}, at(err, "tool_choice")
	}
	switch obj.Type {
	case "function":
		if obj.Function.Name == "" {
			return conv.ToolChoice{}, relay.Invalid("tool_choice.function.name", "required")
		}
		return conv.ToolChoice{Type: conv.ToolChoiceTool, Name: obj.Function.Name}, nil
	case "custom":
		return conv.ToolChoice{Type: conv.ToolChoiceTool, Name: obj.Custom.Name}, nil
	case "allowed_tools":
		return conv.ToolChoice{}, nil
	}
	return conv.ToolChoice{}, relay.Invalid("tool_choice.type", "unknown type %q", obj.Type)
}

func namedChoice(s, param string) (conv.ToolChoice, error) {
	switch s {
	case "auto", "":
		return conv.ToolChoice{}, nil
	case "none":
		return conv.ToolChoice{Type: conv.ToolChoiceNone}, nil
	case "required":
		return conv.ToolChoice{Type: conv.ToolChoiceAny}, nil
	}
	return conv.ToolChoice{}, relay.Invalid(param, "unknown value %q: use auto, none or required", s)
}

// Thinking budgets for OpenAI reasoning efforts (protocol.md §9.1).
const (
	budgetLow    = 4_000
	budgetMedium = 16_000
	budgetHigh   = 32_000
)

// effortThinking maps a reasoning effort to thinking: none and minimal turn
// it off, low/medium/high/xhigh give a fixed budget.
func effortThinking(effort, param string) (conv.Thinking, error) {
	switch effort {
	case "", "none", "minimal":
		return conv.Thinking{}, nil
	case "low":
		return conv.Thinking{Mode: conv.ThinkingEnabled, Budget: budgetLow}, nil
	case "medium":
		return conv.Thinking{Mode: conv.ThinkingEnabled, Budget: budgetMedium}, nil
	case "high", "xhigh":
		return conv.Thinking{Mode: conv.ThinkingEnabled, Budget: budgetHigh}, nil
	}
	return conv.Thinking{}, relay.Invalid(param, "unknown effort %q: use none, minimal, low, medium, high or xhigh", effort)
}

// stopSequences reads stop: a string, a list of strings, or null.
func stopSequences(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, relay.Invalid("stop", "must be a string or a list of strings")
	}
	return list, nil
}

func maxTokens(preferred, legacy *int) int {
	switch {
	case preferred != nil && *preferred > 0:
		return *preferred
	case legacy != nil && *legacy > 0:
		return *legacy
	}
	return 0
}

// conversationID returns key when it is a UUID (Codex's prompt_cache_key is
// its session id), else "".
func conversationID(key string) string {
	u, err := uuid.Parse(key)
	if err != nil {
		return ""
	}
	return u.String()
}

// decode unmarshals a JSON body, turning encoding/json's errors into
// request errors that name the field in the client's terms.
func decode(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return relay.Invalid("", "invalid JSON at offset %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		return relay.Invalid(typ.Field, "expected %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	return relay.Invalid("", "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	case "struct", "map":
		return "an object"
	case "int", "int64", "float64":
		return "a number"
	}
	return "another type"
}

// at prefixes seg to the field path of a request error.
func at(err error, seg string) error {
	var re *relay.RequestError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	if re.Param == "" {
		re.Param = seg
	} else {
		re.Param = seg + "." + re.Param
	}
	return err
}
