// Package gemini is kirotray's Gemini API front end: generateContent,
// streamGenerateContent (server-sent events with alt=sse, else a streamed
// JSON array) and countTokens under /v1beta/models/, and the model list, as
// Gemini CLI and the Google Gen AI SDKs call them. Gemini model names are
// served by Claude models through a documented table ([ClaudeModel]). It
// parses bodies into the neutral conversation of proxy/conv and renders the
// answer that proxy/relay runs; it does not talk to Kiro itself.
package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
)

// Request is the part of a generateContent body kirotray uses. Field names
// are accepted in camelCase (the SDKs) and snake_case (the REST docs).
type Request struct {
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction"`
	Tools             []Tool            `json:"tools"`
	ToolConfig        *ToolConfig       `json:"toolConfig"`
	GenerationConfig  *GenerationConfig `json:"generationConfig"`
}

// Content is one turn: role "user" or "model", and its parts.
type Content struct {
	Role  string `json:"role"`
	Parts []Part `json:"parts"`
}

// Part is one piece of a turn; one of its fields is set.
type Part struct {
	Text             *string           `json:"text"`
	Thought          bool              `json:"thought"`
	InlineData       *Blob             `json:"inlineData"`
	FileData         *FileData         `json:"fileData"`
	FunctionCall     *FunctionCall     `json:"functionCall"`
	FunctionResponse *FunctionResponse `json:"functionResponse"`
	ExecutableCode   *struct {
		Language string `json:"language"`
		Code     string `json:"code"`
	} `json:"executableCode"`
	CodeExecutionResult *struct {
		Outcome string `json:"outcome"`
		Output  string `json:"output"`
	} `json:"codeExecutionResult"`
}

// Blob is inline data, base64-encoded.
type Blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FileData refers to a file by URI.
type FileData struct {
	MimeType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

// FunctionCall is a call the model made.
type FunctionCall struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// FunctionResponse is the result of a call, sent back by the client.
type FunctionResponse struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
	Parts    []Part          `json:"parts"` // multimodal results (inlineData)
}

// Tool is an entry of tools: function declarations, or a built-in tool
// (googleSearch, codeExecution, urlContext …) that only Google can run.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations"`
	builtin              []string              // the names of built-in tools in this entry
}

// FunctionDeclaration declares a function; its schema is in parameters
// (Gemini's OpenAPI subset) or parametersJsonSchema (JSON Schema).
type FunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Parameters           json.RawMessage `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
}

// ToolConfig constrains function calling.
type ToolConfig struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode"` // AUTO, ANY, NONE, VALIDATED
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
}

// GenerationConfig is the part of generationConfig kirotray honours.
type GenerationConfig struct {
	CandidateCount     *int            `json:"candidateCount"`
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	StopSequences      []string        `json:"stopSequences"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	ThinkingConfig     *ThinkingConfig `json:"thinkingConfig"`
}

// ThinkingConfig asks for thinking: a token budget (0 off, -1 dynamic) or a
// level, and whether the thoughts are returned.
type ThinkingConfig struct {
	IncludeThoughts bool   `json:"includeThoughts"`
	ThinkingBudget  *int   `json:"thinkingBudget"`
	ThinkingLevel   string `json:"thinkingLevel"`
}

// Each type with snake_case variants decodes through camelObject; the alias
// types keep json.Unmarshal from recursing.
type (
	requestAlias          Request
	partAlias             Part
	blobAlias             Blob
	fileDataAlias         FileData
	functionDeclAlias     FunctionDeclaration
	toolConfigAlias       ToolConfig
	generationConfigAlias GenerationConfig
	thinkingConfigAlias   ThinkingConfig
)

func (r *Request) UnmarshalJSON(b []byte) error { return camelObject(b, (*requestAlias)(r)) }
func (p *Part) UnmarshalJSON(b []byte) error    { return camelObject(b, (*partAlias)(p)) }
func (p *Blob) UnmarshalJSON(b []byte) error    { return camelObject(b, (*blobAlias)(p)) }
func (p *FileData) UnmarshalJSON(b []byte) error {
	return camelObject(b, (*fileDataAlias)(p))
}
func (d *FunctionDeclaration) UnmarshalJSON(b []byte) error {
	return camelObject(b, (*functionDeclAlias)(d))
}
func (c *ToolConfig) UnmarshalJSON(b []byte) error { return camelObject(b, (*toolConfigAlias)(c)) }
func (c *GenerationConfig) UnmarshalJSON(b []byte) error {
	return camelObject(b, (*generationConfigAlias)(c))
}
func (c *ThinkingConfig) UnmarshalJSON(b []byte) error {
	return camelObject(b, (*thinkingConfigAlias)(c))
}

// UnmarshalJSON reads a tools entry, noting the built-in tools it names.
func (t *Tool) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, v := range m {
		switch camel(k) {
		case "functionDeclarations":
			if err := json.Unmarshal(v, &t.FunctionDeclarations); err != nil {
				return err
			}
		default:
			t.builtin = append(t.builtin, camel(k))
		}
	}
	slices.Sort(t.builtin)
	return nil
}

// camelObject decodes one JSON object into v after renaming its snake_case
// keys (only this object's own keys: nested values such as schemas and
// function arguments keep theirs) to camelCase.
func camelObject(b []byte, v any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	renamed := false
	for k, val := range m {
		if strings.IndexByte(k, '_') < 0 {
			continue
		}
		if c := camel(k); c != k {
			if _, dup := m[c]; !dup {
				m[c] = val
			}
			delete(m, k)
			renamed = true
		}
	}
	if renamed {
		var err error
		if b, err = json.Marshal(m); err != nil {
			return err
		}
	}
	return json.Unmarshal(b, v)
}

// camel turns snake_case into camelCase.
func camel(s string) string {
	if strings.IndexByte(s, '_') < 0 {
		return s
	}
	var sb strings.Builder
	up := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' && i > 0:
			up = true
		case up && c >= 'a' && c <= 'z':
			sb.WriteByte(c - 'a' + 'A')
			up = false
		default:
			sb.WriteByte(c)
			up = false
		}
	}
	return sb.String()
}

// ParseRequest parses and checks a generateContent body. Every error wraps
// relay.ErrInvalidRequest and names the field at fault.
func ParseRequest(body []byte) (*Request, error) {
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, jsonError(err)
	}
	if len(r.Contents) == 0 {
		return nil, relay.Invalid("contents", "required: at least one content")
	}
	for i := range r.Contents {
		c := &r.Contents[i]
		switch c.Role {
		case "", "user", "model", "function", "tool":
		default:
			return nil, relay.Invalid(fmt.Sprintf("contents.%d.role", i), "unknown role %q: use user or model", c.Role)
		}
		for j := range c.Parts {
			if err := c.Parts[j].check(); err != nil {
				return nil, at(err, fmt.Sprintf("contents.%d.parts.%d", i, j))
			}
		}
	}
	for i := range r.Tools {
		for j, d := range r.Tools[i].FunctionDeclarations {
			if d.Name == "" {
				return nil, relay.Invalid(fmt.Sprintf("tools.%d.functionDeclarations.%d.name", i, j), "required")
			}
		}
	}
	if g := r.GenerationConfig; g != nil && g.CandidateCount != nil && *g.CandidateCount > 1 {
		return nil, relay.Invalid("generationConfig.candidateCount", "only one candidate per request is supported")
	}
	return &r, nil
}

func (p *Part) check() error {
	switch {
	case p.FunctionCall != nil && p.FunctionCall.Name == "":
		return relay.Invalid("functionCall.name", "required")
	case p.FunctionResponse != nil && p.FunctionResponse.Name == "" && p.FunctionResponse.ID == "":
		return relay.Invalid("functionResponse.name", "required")
	case p.InlineData != nil && p.InlineData.MimeType == "":
		return relay.Invalid("inlineData.mimeType", "required")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return relay.Invalid("", "invalid JSON at offset %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		return relay.Invalid(typ.Field, "wrong type: got %s", typ.Value)
	}
	return relay.Invalid("", "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func at(err error, seg string) error {
	var re *relay.RequestError
	if errors.As(err, &re) {
		if re.Param == "" {
			re.Param = seg
		} else {
			re.Param = seg + "." + re.Param
		}
	}
	return err
}

// Options is what the rendering of the answer needs from the request.
type Options struct {
	Thinking        bool // the answer may carry thinking
	IncludeThoughts bool // thinking is returned as thought parts
	JSON            bool // responseMimeType application/json
}

// ToConv returns the request as a neutral conversation for the Claude model
// claude, and how to render the answer.
func (r *Request) ToConv(claude string) (*conv.Request, Options) {
	c := &conv.Request{Model: claude, Messages: make([]conv.Message, 0, len(r.Contents))}
	if r.SystemInstruction != nil {
		c.System = partsText(r.SystemInstruction.Parts)
	}
	var ids callIDs
	for i := range r.Contents {
		ct := &r.Contents[i]
		role := conv.User
		if ct.Role == "model" {
			role = conv.Assistant
		}
		blocks := make([]conv.Block, 0, len(ct.Parts))
		for j := range ct.Parts {
			blocks = ids.appendPart(blocks, &ct.Parts[j], role, i, j)
		}
		c.Messages = append(c.Messages, conv.Message{Role: role, Content: blocks})
	}
	var builtin []string
	for i := range r.Tools {
		t := &r.Tools[i]
		for _, b := range t.builtin {
			if !slices.Contains(builtin, b) {
				builtin = append(builtin, b)
			}
		}
		for _, d := range t.FunctionDeclarations {
			c.Tools = append(c.Tools, conv.Tool{Name: d.Name, Description: d.Description, Schema: d.schema()})
		}
	}
	if len(builtin) > 0 {
		c.System = relay.AddSystem(c.System, "Note: the client also offered built-in tools that are not available through this connection ("+
			strings.Join(builtin, ", ")+"). Do not try to call them; use the other tools or say what you cannot do.")
	}
	c.ToolChoice = r.toolChoice()
	var opts Options
	if g := r.GenerationConfig; g != nil {
		if g.MaxOutputTokens != nil && *g.MaxOutputTokens > 0 {
			c.MaxTokens = *g.MaxOutputTokens
		}
		c.StopSequences = g.StopSequences
		if strings.EqualFold(g.ResponseMimeType, "application/json") {
			opts.JSON = true
			schema := bytes.TrimSpace(g.ResponseJSONSchema)
			if len(schema) == 0 {
				schema = bytes.TrimSpace(g.ResponseSchema)
			}
			if len(schema) > 0 {
				schema = jsonSchema(schema)
			}
			c.System = relay.AddSystem(c.System, relay.JSONInstruction(schema))
		}
		if tc := g.ThinkingConfig; tc != nil {
			c.Thinking = tc.thinking()
			opts.IncludeThoughts = tc.IncludeThoughts && c.Thinking.Mode != conv.ThinkingOff
		}
	}
	opts.Thinking = c.Thinking.Mode != conv.ThinkingOff
	return c, opts
}

// thinking maps a thinking configuration: budget 0 turns thinking off, a
// positive budget is a fixed budget, -1 (dynamic) and levels let the model
// decide with the matching effort.
func (tc *ThinkingConfig) thinking() conv.Thinking {
	if b := tc.ThinkingBudget; b != nil {
		switch {
		case *b == 0:
			return conv.Thinking{}
		case *b > 0:
			return conv.Thinking{Mode: conv.ThinkingEnabled, Budget: *b}
		}
		return conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}
	}
	switch strings.ToLower(tc.ThinkingLevel) {
	case "minimal", "low":
		return conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "low"}
	case "medium":
		return conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "medium"}
	case "high":
		return conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}
	}
	if tc.IncludeThoughts {
		return conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}
	}
	return conv.Thinking{}
}

func (r *Request) toolChoice() conv.ToolChoice {
	if r.ToolConfig == nil || r.ToolConfig.FunctionCallingConfig == nil {
		return conv.ToolChoice{}
	}
	fc := r.ToolConfig.FunctionCallingConfig
	switch strings.ToUpper(fc.Mode) {
	case "ANY":
		if len(fc.AllowedFunctionNames) == 1 {
			return conv.ToolChoice{Type: conv.ToolChoiceTool, Name: fc.AllowedFunctionNames[0]}
		}
		return conv.ToolChoice{Type: conv.ToolChoiceAny}
	case "NONE":
		return conv.ToolChoice{Type: conv.ToolChoiceNone}
	}
	return conv.ToolChoice{}
}

var defaultSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// schema returns the declaration's input schema as JSON Schema.
func (d *FunctionDeclaration) schema() json.RawMessage {
	s := bytes.TrimSpace(d.ParametersJSONSchema)
	if len(s) == 0 || s[0] != '{' {
		s = bytes.TrimSpace(d.Parameters)
	}
	if len(s) == 0 || s[0] != '{' {
		return defaultSchema
	}
	return jsonSchema(s)
}

// jsonSchema converts a Gemini Schema (an OpenAPI 3.0 subset with upper-case
// type names such as OBJECT and STRING, and nullable) to JSON Schema. Gemini
// CLI sends such names in parametersJsonSchema and responseJsonSchema too;
// a schema without them passes unchanged.
func jsonSchema(raw json.RawMessage) json.RawMessage {
	if !geminiSchema(raw) {
		return raw
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return defaultSchema
	}
	fixSchema(v, 0)
	b, err := json.Marshal(v)
	if err != nil {
		return defaultSchema
	}
	return b
}

// geminiSchema reports whether raw may use Gemini's schema dialect: an
// upper-case letter starts a string after a "type" key, or it says nullable.
func geminiSchema(raw []byte) bool {
	if bytes.Contains(raw, []byte(`"nullable"`)) || bytes.Contains(raw, []byte(`"propertyOrdering"`)) {
		return true
	}
	for rest := raw; ; {
		i := bytes.Index(rest, []byte(`"type"`))
		if i < 0 {
			return false
		}
		rest = bytes.TrimLeft(rest[i+len(`"type"`):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			rest = bytes.TrimLeft(rest[1:], " \t\r\n")
			if len(rest) > 1 && rest[0] == '"' && rest[1] >= 'A' && rest[1] <= 'Z' {
				return true
			}
		}
	}
}

// fixSchema lower-cases type names, turns nullable into a "null" type, and
// drops Gemini-only keys, recursing through the schema keywords.
func fixSchema(v any, depth int) {
	s, ok := v.(map[string]any)
	if !ok || depth > 64 {
		return
	}
	if t, ok := s["type"].(string); ok {
		s["type"] = strings.ToLower(t)
		if n, _ := s["nullable"].(bool); n && t != "" {
			s["type"] = []any{strings.ToLower(t), "null"}
		}
	}
	delete(s, "nullable")
	delete(s, "propertyOrdering")
	if props, ok := s["properties"].(map[string]any); ok {
		for _, p := range props {
			fixSchema(p, depth+1)
		}
	}
	fixSchema(s["items"], depth+1)
	for _, k := range [...]string{"anyOf", "oneOf", "allOf"} {
		if list, ok := s[k].([]any); ok {
			for _, x := range list {
				fixSchema(x, depth+1)
			}
		}
	}
}

// callIDs pairs function calls and responses that carry no id (the API does
// not require one): a call gets an id from its position, a response the id
// of the oldest open call of the same name (else of any open call).
type callIDs struct {
	open []struct{ id, name string }
}

func (ids *callIDs) call(fc *FunctionCall, content, part int) string {
	id := fc.ID
	if id == "" {
		id = fmt.Sprintf("call_%d_%d", content, part)
	}
	ids.open = append(ids.open, struct{ id, name string }{id, fc.Name})
	return id
}

func (ids *callIDs) response(fr *FunctionResponse, content, part int) string {
	pick := -1
	for i, o := range ids.open {
		if (fr.ID != "" && o.id == fr.ID) || (fr.ID == "" && o.name == fr.Name) {
			pick = i
			break
		}
	}
	if pick < 0 && fr.ID == "" && len(ids.open) > 0 {
		pick = 0
	}
	if pick < 0 {
		if fr.ID != "" {
			return fr.ID
		}
		return fmt.Sprintf("result_%d_%d", content, part) // an orphan: proxy/kiro keeps it as text
	}
	id := ids.open[pick].id
	ids.open = slices.Delete(ids.open, pick, pick+1)
	return id
}

// appendPart converts one part.
func (ids *callIDs) appendPart(dst []conv.Block, p *Part, role conv.Role, content, part int) []conv.Block {
	switch {
	case p.FunctionCall != nil:
		return append(dst, conv.Block{Type: conv.ToolUse, ToolUseID: ids.call(p.FunctionCall, content, part),
			ToolName: p.FunctionCall.Name, Input: relay.ToolInput(p.FunctionCall.Args)})
	case p.FunctionResponse != nil:
		fr := p.FunctionResponse
		text, isErr := responseText(fr.Response)
		var blocks []conv.Block
		if text != "" {
			blocks = append(blocks, conv.Block{Type: conv.Text, Text: text})
		}
		for i := range fr.Parts {
			blocks = ids.appendPart(blocks, &fr.Parts[i], conv.User, content, part)
		}
		return append(dst, conv.Block{Type: conv.ToolResult, ToolUseID: ids.response(fr, content, part), IsError: isErr, Content: blocks})
	case p.InlineData != nil:
		if strings.HasPrefix(strings.ToLower(p.InlineData.MimeType), "image/") {
			return append(dst, conv.Block{Type: conv.Image, MediaType: strings.ToLower(p.InlineData.MimeType), Data: p.InlineData.Data})
		}
		return append(dst, conv.Block{Type: conv.Text,
			Text: "[" + p.InlineData.MimeType + " data omitted: only images can be passed to the model]"})
	case p.FileData != nil:
		return append(dst, conv.Block{Type: conv.Text,
			Text: "[File " + p.FileData.FileURI + " omitted: only inline images can be passed to the model]"})
	case p.ExecutableCode != nil:
		return append(dst, conv.Block{Type: conv.Text, Text: "```" + strings.ToLower(p.ExecutableCode.Language) + "\n" + p.ExecutableCode.Code + "\n```"})
	case p.CodeExecutionResult != nil:
		return append(dst, conv.Block{Type: conv.Text, Text: "[Code execution " + p.CodeExecutionResult.Outcome + "]\n" + p.CodeExecutionResult.Output})
	case p.Text != nil && *p.Text != "":
		if p.Thought {
			if role == conv.Assistant {
				return append(dst, conv.Block{Type: conv.Reasoning, Text: *p.Text})
			}
			return dst
		}
		return append(dst, conv.Block{Type: conv.Text, Text: *p.Text})
	}
	return dst
}

// responseText renders a function response for the model: {"output": s}
// gives s, {"error": s} gives s marked as an error, anything else its JSON.
func responseText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil && len(m) == 1 {
		for k, v := range m {
			var s string
			if json.Unmarshal(v, &s) == nil && (k == "output" || k == "result" || k == "content") {
				return s, false
			}
			if k == "error" {
				if json.Unmarshal(v, &s) == nil {
					return s, true
				}
				return string(v), true
			}
		}
	}
	return string(relay.CompactJSON(raw)), false
}

func partsText(parts []Part) string {
	var texts []string
	for i := range parts {
		if t := parts[i].Text; t != nil && *t != "" && !parts[i].Thought {
			texts = append(texts, *t)
		}
	}
	return strings.Join(texts, "\n")
}
