package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
)

// ResponsesRequest is the part of a Responses API body kirotray uses.
type ResponsesRequest struct {
	Model        string `json:"model"`
	Instructions string `json:"instructions"`
	// Input is a string (one user message) or a list of items.
	Input              json.RawMessage `json:"input"`
	Tools              []ResponsesTool `json:"tools"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
	Reasoning          *Reasoning      `json:"reasoning"`
	Store              *bool           `json:"store"`
	Stream             bool            `json:"stream"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	PreviousResponseID string          `json:"previous_response_id"`
	PromptCacheKey     string          `json:"prompt_cache_key"`
	Text               *struct {
		Format *ResponseFormat `json:"format"`
	} `json:"text"`

	items []InputItem // Input, parsed
}

// Reasoning is the request's reasoning configuration.
type Reasoning struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

// ResponsesTool is an entry of tools: a function, a custom (freeform) tool,
// a namespace of those, or a hosted tool such as web_search.
type ResponsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	// Format is a custom tool's input format: {"type":"text"} or
	// {"type":"grammar","syntax":…,"definition":…}.
	Format *struct {
		Type       string `json:"type"`
		Syntax     string `json:"syntax"`
		Definition string `json:"definition"`
	} `json:"format"`
	Tools []ResponsesTool `json:"tools"` // a namespace's tools
}

// InputItem is one item of input. Which fields are set depends on Type; an
// item without a type but with a role is a message.
type InputItem struct {
	Type string `json:"type"`
	Role string `json:"role"`
	// Content is a message's content (a string or parts) or a reasoning
	// item's reasoning_text parts.
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Arguments string          `json:"arguments"`
	Input     string          `json:"input"`  // custom_tool_call
	Output    json.RawMessage `json:"output"` // a string or parts
	Summary   []struct {
		Text string `json:"text"`
	} `json:"summary"`
	Action json.RawMessage `json:"action"` // local_shell_call

	parts []contentPart // Content, parsed
}

// ParseResponsesRequest parses and checks a Responses body. Every error
// wraps relay.ErrInvalidRequest and names the field at fault.
func ParseResponsesRequest(body []byte) (*ResponsesRequest, error) {
	var r ResponsesRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if r.Model == "" {
		return nil, relay.Invalid("model", "required")
	}
	in := bytes.TrimSpace(r.Input)
	switch {
	case len(in) == 0 || string(in) == "null":
		if r.PreviousResponseID == "" {
			return nil, relay.Invalid("input", "required")
		}
	case in[0] == '"':
		var s string
		if err := json.Unmarshal(in, &s); err != nil {
			return nil, relay.Invalid("input", "invalid string")
		}
		r.items = []InputItem{{Type: "message", Role: "user", parts: []contentPart{{Type: "input_text", Text: s}}}}
	case in[0] == '[':
		if err := decode(in, &r.items); err != nil {
			return nil, at(err, "input")
		}
	default:
		return nil, relay.Invalid("input", "must be a string or a list of items")
	}
	for i := range r.items {
		if err := r.items[i].check(); err != nil {
			return nil, at(err, fmt.Sprintf("input.%d", i))
		}
	}
	if err := checkTools(r.Tools, "tools"); err != nil {
		return nil, err
	}
	if _, err := r.toolChoice(); err != nil {
		return nil, err
	}
	if _, err := effortThinking(r.effort(), "reasoning.effort"); err != nil {
		return nil, err
	}
	return &r, nil
}

func (it *InputItem) check() error {
	if it.Type == "" && it.Role != "" {
		it.Type = "message"
	}
	switch it.Type {
	case "message":
		switch it.Role {
		case "user", "assistant", "system", "developer":
		case "":
			return relay.Invalid("role", "required")
		default:
			return relay.Invalid("role", "unknown role %q: use user, assistant, system or developer", it.Role)
		}
		if it.parts != nil {
			return nil // from a string input
		}
		var err error
		it.parts, err = parseContent(it.Content)
		return at(err, "content")
	case "function_call", "custom_tool_call", "function_call_output", "custom_tool_call_output",
		"local_shell_call", "local_shell_call_output":
		if it.CallID == "" {
			return relay.Invalid("call_id", "required")
		}
		if (it.Type == "function_call" || it.Type == "custom_tool_call") && it.Name == "" {
			return relay.Invalid("name", "required")
		}
	case "reasoning":
		if len(bytes.TrimSpace(it.Content)) > 0 && string(bytes.TrimSpace(it.Content)) != "null" {
			var err error
			it.parts, err = reasoningParts(it.Content)
			return at(err, "content")
		}
	case "":
		return relay.Invalid("type", "required")
	}
	return nil // other items (hosted tool calls, references) are dropped by ToConv
}

func reasoningParts(raw json.RawMessage) ([]contentPart, error) {
	var parts []contentPart
	if err := decode(raw, &parts); err != nil {
		return nil, err
	}
	return parts, nil
}

func checkTools(tools []ResponsesTool, param string) error {
	for i := range tools {
		t := &tools[i]
		p := fmt.Sprintf("%s.%d", param, i)
		switch t.Type {
		case "function", "custom":
			if t.Name == "" {
				return relay.Invalid(p+".name", "required")
			}
		case "namespace":
			if t.Name == "" {
				return relay.Invalid(p+".name", "required")
			}
			if err := checkTools(t.Tools, p+".tools"); err != nil {
				return err
			}
		case "":
			return relay.Invalid(p+".type", "required")
		}
	}
	return nil
}

func (r *ResponsesRequest) effort() string {
	switch {
	case r.Reasoning == nil:
		return ""
	case r.Reasoning.Effort == nil:
		return "medium" // the API's default when reasoning is asked for
	}
	return *r.Reasoning.Effort
}

// toolChoice reads tool_choice: "auto", "none", "required", or an object
// naming a function or custom tool; other objects (allowed_tools, hosted
// tools) leave the choice to the model.
func (r *ResponsesRequest) toolChoice() (conv.ToolChoice, error) {
	raw := bytes.TrimSpace(r.ToolChoice)
	if len(raw) == 0 || string(raw) == "null" {
		return conv.ToolChoice{}, nil
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return namedChoice(s, "tool_choice")
	}
	var obj struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		Mode      string `json:"mode"`
	}
	if err := decode(raw, &obj); err != nil {
		return conv.ToolChoice{}, at(err, "tool_choice")
	}
	switch obj.Type {
	case "function", "custom":
		if obj.Name == "" {
			return conv.ToolChoice{}, relay.Invalid("tool_choice.name", "required")
		}
		return conv.ToolChoice{Type: conv.ToolChoiceTool, Name: flatName(obj.Namespace, obj.Name)}, nil
	case "allowed_tools":
		if obj.Mode == "required" {
			return conv.ToolChoice{Type: conv.ToolChoiceAny}, nil
		}
	}
	return conv.ToolChoice{}, nil
}

// toolRef says how a tool the model calls is presented to the client.
type toolRef struct {
	namespace, name string
	custom          bool // a custom (freeform) tool: its call carries raw input text
}

// toolMap maps the names Kiro sees to the client's tools, for the names
// that need it (namespaced and custom tools).
type toolMap map[string]toolRef

// flatName is the single name a namespaced tool gets: Kiro has no
// namespaces. Codex names its namespaces so that plain concatenation reads
// well ("mcp__server__" + "tool"); otherwise "__" joins the two.
func flatName(namespace, name string) string {
	switch {
	case namespace == "":
		return name
	case strings.HasSuffix(namespace, "_") || strings.HasPrefix(name, "_") ||
		strings.HasSuffix(namespace, ".") || strings.HasSuffix(namespace, "-"):
		return namespace + name
	}
	return namespace + "__" + name
}

// customSchema is the input schema of a custom tool: one string.
var customSchema = json.RawMessage(`{"type":"object","properties":{"input":{"type":"string","description":"The tool's input, as raw text in the format the tool's description gives."}},"required":["input"]}`)

// convTools flattens tools into Kiro's form: functions as they are, custom
// tools as a function of one string, namespaces flattened into their
// tools. Hosted tools (web_search, file_search, …) cannot run here: their
// types are returned so that the model can be told.
func convTools(tools []ResponsesTool, namespace string, out []conv.Tool, refs toolMap) ([]conv.Tool, []string) {
	var hosted []string
	for i := range tools {
		t := &tools[i]
		switch t.Type {
		case "function":
			name := flatName(namespace, t.Name)
			if namespace != "" {
				refs[name] = toolRef{namespace: namespace, name: t.Name}
			}
			out = append(out, conv.Tool{Name: name, Description: t.Description, Schema: schemaOrDefault(t.Parameters)})
		case "custom":
			name := flatName(namespace, t.Name)
			refs[name] = toolRef{namespace: namespace, name: t.Name, custom: true}
			desc := t.Description
			if f := t.Format; f != nil && f.Type == "grammar" && f.Definition != "" {
				desc += "\n\nThe input must follow this " + f.Syntax + " grammar:\n" + f.Definition
			}
			out = append(out, conv.Tool{Name: name, Description: desc, Schema: customSchema})
		case "namespace":
			var h []string
			out, h = convTools(t.Tools, flatName(namespace, t.Name), out, refs)
			hosted = append(hosted, h...)
		default:
			if !slices.Contains(hosted, t.Type) {
				hosted = append(hosted, t.Type)
			}
		}
	}
	return out, hosted
}

// hostedNote tells the model which offered tools it cannot use.
func hostedNote(types []string) string {
	if len(types) == 0 {
		return ""
	}
	return "Note: the client also offered built-in tools that are not available through this connection (" +
		strings.Join(types, ", ") + "). Do not try to call them; use the other tools or say what you cannot do."
}

// responsesConv is a Responses request in neutral form.
type responsesConv struct {
	req    *conv.Request
	tools  toolMap
	hosted []string // dropped hosted tool types
	json   bool     // text.format asks for JSON
}

// ToConv returns the request as a neutral conversation, after the stored
// history of previous_response_id (history, nil when none).
func (r *ResponsesRequest) toConv(history []conv.Message) *responsesConv {
	c := &conv.Request{Model: r.Model, System: r.Instructions}
	c.Messages = append(make([]conv.Message, 0, len(history)+len(r.items)), history...)
	leading := len(history) == 0
	for i := range r.items {
		it := &r.items[i]
		if it.Type == "message" && (it.Role == "system" || it.Role == "developer") {
			text := partsText(it.parts)
			if leading {
				c.System = relay.AddSystem(c.System, text)
			} else if text != "" {
				c.Messages = append(c.Messages, conv.Message{Role: conv.User,
					Content: []conv.Block{{Type: conv.Text, Text: systemReminder(text)}}})
			}
			continue
		}
		if m, ok := it.message(); ok {
			c.Messages = append(c.Messages, m)
			leading = false
		}
	}
	rc := &responsesConv{req: c, tools: toolMap{}}
	c.Tools, rc.hosted = convTools(r.Tools, "", nil, rc.tools)
	c.System = relay.AddSystem(c.System, hostedNote(rc.hosted))
	c.ToolChoice, _ = r.toolChoice()
	c.Thinking, _ = effortThinking(r.effort(), "reasoning.effort")
	c.MaxTokens = maxTokens(r.MaxOutputTokens, nil)
	c.ConversationID = conversationID(r.PromptCacheKey)
	if r.Text != nil {
		if schema, ok := r.Text.Format.json(); ok {
			rc.json = true
			c.System = relay.AddSystem(c.System, relay.JSONInstruction(schema))
		}
	}
	return rc
}

// message converts one non-system item; ok is false for items with no
// neutral form (hosted tool calls, item references), which are dropped.
func (it *InputItem) message() (conv.Message, bool) {
	switch it.Type {
	case "message":
		if it.Role == "assistant" {
			return conv.Message{Role: conv.Assistant, Content: partBlocks(nil, it.parts)}, true
		}
		return conv.Message{Role: conv.User, Content: partBlocks(nil, it.parts)}, true
	case "reasoning":
		var texts []string
		for _, s := range it.Summary {
			if s.Text != "" {
				texts = append(texts, s.Text)
			}
		}
		if len(texts) == 0 {
			if t := partsText(it.parts); t != "" {
				texts = append(texts, t)
			}
		}
		if len(texts) == 0 {
			return conv.Message{}, false
		}
		return conv.Message{Role: conv.Assistant, Content: []conv.Block{{Type: conv.Reasoning, Text: strings.Join(texts, "\n\n")}}}, true
	case "function_call":
		return toolUse(it.CallID, flatName(it.Namespace, it.Name), toolInput(it.Arguments)), true
	case "custom_tool_call":
		input, _ := json.Marshal(map[string]string{"input": it.Input})
		return toolUse(it.CallID, flatName(it.Namespace, it.Name), input), true
	case "local_shell_call":
		return toolUse(it.CallID, "local_shell", toolInput(string(it.Action))), true
	case "function_call_output", "custom_tool_call_output", "local_shell_call_output":
		return conv.Message{Role: conv.User, Content: []conv.Block{{Type: conv.ToolResult, ToolUseID: it.CallID,
			Content: outputBlocks(it.Output)}}}, true
	}
	return conv.Message{}, false
}

func toolUse(id, name string, input json.RawMessage) conv.Message {
	return conv.Message{Role: conv.Assistant, Content: []conv.Block{{Type: conv.ToolUse, ToolUseID: id, ToolName: name, Input: input}}}
}

// outputBlocks reads a tool output: a string or a list of content parts.
func outputBlocks(raw json.RawMessage) []conv.Block {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return []conv.Block{{Type: conv.Text, Text: s}}
		}
		return nil
	}
	if parts, err := parseContent(raw); err == nil {
		return partBlocks(nil, parts)
	}
	return []conv.Block{{Type: conv.Text, Text: string(raw)}} // some other JSON value: show it
}
