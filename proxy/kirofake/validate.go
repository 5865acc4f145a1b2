package kirofake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Limits of protocol.md §3.5 and §3.7.
const (
	maxToolName        = 64
	maxToolDescription = 10240            // bytes (CPA, KGO); 10 000 runes can exceed it
	maxImageBytes      = 3.75 * (1 << 20) // Bedrock's per-image limit, decoded
	maxImages          = 20               // Bedrock's per-request limit
)

// toolInfo is a declared tool with its schema decoded and checked.
type toolInfo struct {
	name     string
	schema   map[string]any
	required []string
}

// checked is what validation learned about a valid body.
type checked struct {
	model *Model
	tools []*toolInfo
}

func improper(detail string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "ValidationException",
		Message: "Improperly formed request.", Detail: fmt.Sprintf(detail, args...)}
}

// constraint is AWS's own wording for a member that breaks a modelled constraint.
func constraint(path, value, rule string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "ValidationException",
		Message: fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, path, rule),
		Detail:  path + ": " + rule}
}

func toolSchemaInvalid(i int, what, detail string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "ValidationException",
		Message: fmt.Sprintf("ValidationException: toolConfig.tools.%d.toolSpec.inputSchema.json%s. reason: TOOL_SCHEMA_INVALID", i, what),
		Detail:  detail}
}

// validate applies the body rules of protocol.md §3 that make Kiro answer 400.
// The checks on tokens and profileArn are the handler's.
func (s *Server) validate(req *Request) (checked, *apiError) {
	var c checked
	cs := req.ConversationState
	if cs == nil {
		return c, improper("conversationState is missing")
	}
	if cs.ChatTriggerType != "MANUAL" {
		return c, constraint("conversationState.chatTriggerType", cs.ChatTriggerType, "Member must satisfy enum value set: [MANUAL]")
	}
	if t := cs.AgentTaskType; t != "" && t != "vibe" && t != "spectask" {
		return c, constraint("conversationState.agentTaskType", t, "Member must satisfy enum value set: [vibe, spectask]")
	}
	cur := cs.CurrentMessage
	if cur.User == nil || cur.Assistant != nil {
		return c, improper("currentMessage must hold a userInputMessage and nothing else")
	}
	if cur.User.ModelID == "" || s.model[cur.User.ModelID] == nil {
		return c, &apiError{Status: http.StatusBadRequest, Type: "ValidationException", Reason: "INVALID_MODEL_ID",
			Message: "Invalid model. Please select a different model to continue.",
			Detail:  fmt.Sprintf("modelId %q is not in the catalogue", cur.User.ModelID)}
	}
	c.model = s.model[cur.User.ModelID]
	if cur.User.Origin != "AI_EDITOR" {
		return c, constraint("conversationState.currentMessage.userInputMessage.origin", cur.User.Origin, "Member must satisfy enum value set: [AI_EDITOR]")
	}
	var err *apiError
	if c.tools, err = s.checkTools(cur.User.Context); err != nil {
		return c, err
	}
	declared := make(map[string]bool, len(c.tools))
	for i, t := range c.tools {
		k := strings.ToLower(t.name)
		if declared[k] {
			return c, &apiError{Status: http.StatusBadRequest, Type: "ValidationException",
				Message: fmt.Sprintf("ValidationException: toolConfig.tools.%d: tool names must be unique.", i),
				Detail:  fmt.Sprintf("tool %q declared twice (names compare case-insensitively)", t.name)}
		}
		declared[k] = true
	}

	images := 0
	eachUser(cs, func(u *UserInputMessage) { images += len(u.Images) })
	if images > maxImages {
		return c, improper("%d images in the request, at most %d are accepted", images, maxImages)
	}

	// Walk history and the current message as one sequence of turns.
	var pending map[string]bool // tool uses of the last assistant turn, until answered
	n := len(cs.History)
	for i := 0; i <= n; i++ {
		m, where := cur, "currentMessage"
		if i < n {
			m, where = cs.History[i], fmt.Sprintf("history[%d]", i)
			if (m.User == nil) == (m.Assistant == nil) {
				return c, improper("%s must hold exactly one of userInputMessage and assistantResponseMessage", where)
			}
		}
		switch wantUser := i%2 == 0; {
		case i == n && n%2 != 0:
			return c, improper("history must end with an assistant turn")
		case (m.User != nil) == wantUser:
		case i == 0:
			return c, improper("history must start with a user turn")
		default:
			return c, improper("%s: turns must alternate user, assistant, user …", where)
		}
		if a := m.Assistant; a != nil {
			if pending, err = checkAssistant(a, where, declared); err != nil {
				return c, err
			}
			continue
		}
		if err := s.checkUser(m.User, where, i == n); err != nil {
			return c, err
		}
		var results []ToolResult
		if ctx := m.User.Context; ctx != nil {
			results = ctx.ToolResults
		}
		if len(results) > 0 && len(declared) == 0 {
			return c, improper("%s carries toolResults but currentMessage declares no tools", where)
		}
		for _, r := range results {
			switch {
			case r.ToolUseID == "":
				return c, improper("%s: toolResult without toolUseId", where)
			case !pending[r.ToolUseID]:
				return c, improper("%s: toolResult %q answers no open tool use of the preceding assistant turn (or answers it twice)", where, r.ToolUseID)
			}
			delete(pending, r.ToolUseID)
			if err := checkResult(r, where); err != nil {
				return c, err
			}
		}
		for id := range pending {
			return c, improper("%s: tool use %q of the preceding assistant turn is not answered", where, id)
		}
	}
	return c, nil
}

func (s *Server) checkUser(u *UserInputMessage, where string, current bool) *apiError {
	if !u.hasContent {
		return constraint(where+".userInputMessage.content", "null", "Member must not be null")
	}
	hasResults := u.Context != nil && len(u.Context.ToolResults) > 0
	if u.Content == "" && !hasResults {
		return improper("%s: user content is empty and there are no toolResults", where)
	}
	if !current {
		if u.ModelID != "" && s.model[u.ModelID] == nil {
			return &apiError{Status: http.StatusBadRequest, Type: "ValidationException", Reason: "INVALID_MODEL_ID",
				Message: "Invalid model. Please select a different model to continue.",
				Detail:  fmt.Sprintf("%s: modelId %q is not in the catalogue", where, u.ModelID)}
		}
		if u.Origin != "" && u.Origin != "AI_EDITOR" {
			return constraint(where+".userInputMessage.origin", u.Origin, "Member must satisfy enum value set: [AI_EDITOR]")
		}
		if u.Context != nil && u.Context.Tools != nil {
			return improper("%s: tools are only accepted on currentMessage", where)
		}
	}
	for j, img := range u.Images {
		path := fmt.Sprintf("%s.userInputMessage.images.%d", where, j)
		switch img.Format {
		case "png", "jpeg", "gif", "webp":
		default:
			return constraint(path+".format", img.Format, "Member must satisfy enum value set: [png, jpeg, gif, webp]")
		}
		if img.Source == nil || img.Source.Bytes == "" {
			return improper("%s: image without source.bytes", path)
		}
		if base64.StdEncoding.DecodedLen(len(img.Source.Bytes)) > maxImageBytes+2 {
			return constraint(path+".source.bytes", "[binary]", fmt.Sprintf("Member must have length less than or equal to %d", int(maxImageBytes)))
		}
		n, err := base64.StdEncoding.Decode(make([]byte, base64.StdEncoding.DecodedLen(len(img.Source.Bytes))), []byte(img.Source.Bytes))
		if err != nil {
			return improper("%s: source.bytes is not standard base64: %v", path, err)
		}
		if n > maxImageBytes {
			return constraint(path+".source.bytes", "[binary]", fmt.Sprintf("Member must have length less than or equal to %d", int(maxImageBytes)))
		}
	}
	for j, d := range u.Documents {
		path := fmt.Sprintf("%s.userInputMessage.documents.%d", where, j)
		switch d.Format {
		case "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md":
		default:
			return constraint(path+".format", d.Format, "Member must satisfy enum value set: [pdf, csv, doc, docx, xls, xlsx, html, txt, md]")
		}
		if !safeDocumentName(d.Name) || d.Source == nil || d.Source.Bytes == "" {
			return &apiError{Status: http.StatusBadRequest, Type: "ValidationException", Reason: "REQUEST_BODY_INVALID",
				Message: "The request body is invalid.", Detail: path + ": a document needs a name of letters, digits, spaces and hyphens, and source.bytes"}
		}
		if _, err := base64.StdEncoding.DecodeString(d.Source.Bytes); err != nil {
			return improper("%s: source.bytes is not standard base64: %v", path, err)
		}
	}
	return nil
}

func safeDocumentName(s string) bool {
	if strings.TrimSpace(s) == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '-') {
			return false
		}
	}
	return true
}

// checkAssistant checks an assistant turn and returns its tool use ids.
func checkAssistant(a *AssistantResponseMessage, where string, declared map[string]bool) (map[string]bool, *apiError) {
	if !a.hasContent {
		return nil, constraint(where+".assistantResponseMessage.content", "null", "Member must not be null")
	}
	if a.Content == "" {
		return nil, improper("%s: assistant content is empty", where)
	}
	if a.ToolUses != nil && len(a.ToolUses) == 0 {
		return nil, improper(`%s: "toolUses": [] (leave it out when there are none)`, where)
	}
	uses := make(map[string]bool, len(a.ToolUses))
	for _, u := range a.ToolUses {
		switch {
		case u.ToolUseID == "":
			return nil, improper("%s: tool use without toolUseId", where)
		case uses[u.ToolUseID]:
			return nil, improper("%s: tool use id %q appears twice", where, u.ToolUseID)
		case !validToolName(u.Name):
			return nil, improper("%s: tool use name %q is not 1–64 characters of [a-zA-Z0-9_-]", where, u.Name)
		case !declared[strings.ToLower(u.Name)]:
			return nil, improper("%s: tool %q is used in history but not declared in currentMessage tools", where, u.Name)
		case !isJSONObject(u.Input):
			return nil, improper("%s: tool use %q input is not a JSON object", where, u.ToolUseID)
		}
		uses[u.ToolUseID] = true
	}
	return uses, nil
}

func checkResult(r ToolResult, where string) *apiError {
	if r.Content == nil {
		return constraint(where+".toolResults.content", "null", "Member must not be null")
	}
	if r.Status != "" && r.Status != "success" && r.Status != "error" {
		return constraint(where+".toolResults.status", r.Status, "Member must satisfy enum value set: [success, error]")
	}
	for _, b := range r.Content {
		if (b.Text == nil) == (b.JSON == nil) {
			return improper("%s: toolResult %q content block must hold exactly one of text and json", where, r.ToolUseID)
		}
	}
	return nil
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

func validToolName(s string) bool {
	if len(s) == 0 || len(s) > maxToolName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkTools checks the current message's tool declarations.
func (s *Server) checkTools(ctx *UserInputMessageContext) ([]*toolInfo, *apiError) {
	if ctx == nil || len(ctx.Tools) == 0 {
		return nil, nil
	}
	out := make([]*toolInfo, 0, len(ctx.Tools))
	for i, t := range ctx.Tools {
		spec := t.ToolSpecification
		path := fmt.Sprintf("conversationState.currentMessage.userInputMessage.userInputMessageContext.tools.%d.toolSpecification", i)
		switch {
		case spec == nil:
			return nil, improper("tools[%d] has no toolSpecification", i)
		case !validToolName(spec.Name):
			return nil, constraint(path+".name", spec.Name, "Member must have length between 1 and 64 and satisfy regular expression pattern: [a-zA-Z0-9_-]+")
		case spec.Description == "" || len(spec.Description) > maxToolDescription:
			return nil, constraint(path+".description", "…", fmt.Sprintf("Member must have length between 1 and %d (it has %d bytes)", maxToolDescription, len(spec.Description)))
		}
		info, err := s.schema.get(i, spec.Name, spec.InputSchema.JSON)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// schemaCache remembers checked schemas by name and bytes: clients send the
// same tool set on every call, so each schema is decoded and walked once.
type schemaCache struct {
	m sync.Map // FNV-64 of name and schema → *cachedSchema
	n atomic.Int32
}

type cachedSchema struct {
	raw  []byte
	info *toolInfo
}

const maxCachedSchemas = 4096

func (c *schemaCache) get(i int, name string, raw json.RawMessage) (*toolInfo, *apiError) {
	h := fnv.New64a()
	io.WriteString(h, name)
	h.Write([]byte{0})
	h.Write(raw)
	key := h.Sum64()
	if v, ok := c.m.Load(key); ok {
		if e := v.(*cachedSchema); e.info.name == name && bytes.Equal(e.raw, raw) {
			return e.info, nil
		}
	}
	info, err := decodeSchema(i, name, raw)
	if err != nil {
		return nil, err
	}
	if c.n.Add(1) <= maxCachedSchemas {
		c.m.Store(key, &cachedSchema{raw: bytes.Clone(raw), info: info})
	}
	return info, nil
}

func decodeSchema(i int, name string, raw json.RawMessage) (*toolInfo, *apiError) {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil, toolSchemaInvalid(i, ".type must be one of the following: object", "inputSchema.json is missing or not JSON")
	}
	root, ok := v.(map[string]any)
	if !ok || root["type"] != "object" {
		return nil, toolSchemaInvalid(i, ".type must be one of the following: object", "the schema root must be an object with type \"object\"")
	}
	if where := badSchema(root, ""); where != "" {
		return nil, toolSchemaInvalid(i, where+" is not a valid JSON Schema", "invalid JSON Schema at "+where)
	}
	info := &toolInfo{name: name, schema: root}
	if req, ok := root["required"].([]any); ok {
		for _, r := range req {
			info.required = append(info.required, r.(string)) // badSchema checked the type
		}
	}
	return info, nil
}

// badSchema returns the path of the first member that makes the schema
// invalid JSON Schema ("" if none). These are what MCP servers get wrong:
// `required: null`, `properties: null`, a non-string type.
func badSchema(node map[string]any, path string) string {
	if t, ok := node["type"]; ok {
		switch t := t.(type) {
		case string:
		case []any:
			for _, x := range t {
				if _, ok := x.(string); !ok {
					return path + ".type"
				}
			}
		default:
			return path + ".type"
		}
	}
	if p, ok := node["properties"]; ok {
		props, ok := p.(map[string]any)
		if !ok {
			return path + ".properties"
		}
		for k, sub := range props {
			if w := badSubschema(sub, path+".properties."+k); w != "" {
				return w
			}
		}
	}
	if r, ok := node["required"]; ok {
		req, ok := r.([]any)
		if !ok {
			return path + ".required"
		}
		for _, x := range req {
			if _, ok := x.(string); !ok {
				return path + ".required"
			}
		}
	}
	if it, ok := node["items"]; ok {
		if arr, ok := it.([]any); ok {
			for j, sub := range arr {
				if w := badSubschema(sub, fmt.Sprintf("%s.items.%d", path, j)); w != "" {
					return w
				}
			}
		} else if w := badSubschema(it, path+".items"); w != "" {
			return w
		}
	}
	if ap, ok := node["additionalProperties"]; ok {
		if w := badSubschema(ap, path+".additionalProperties"); w != "" {
			return w
		}
	}
	for _, k := range [...]string{"anyOf", "oneOf", "allOf"} {
		if x, ok := node[k]; ok {
			arr, ok := x.([]any)
			if !ok || len(arr) == 0 {
				return path + "." + k
			}
			for j, sub := range arr {
				if w := badSubschema(sub, fmt.Sprintf("%s.%s.%d", path, k, j)); w != "" {
					return w
				}
			}
		}
	}
	for _, k := range [...]string{"$defs", "definitions"} {
		if x, ok := node[k]; ok {
			defs, ok := x.(map[string]any)
			if !ok {
				return path + "." + k
			}
			for name, sub := range defs {
				if w := badSubschema(sub, path+"."+k+"."+name); w != "" {
					return w
				}
			}
		}
	}
	return ""
}

// badSubschema accepts a schema object or a boolean schema.
func badSubschema(v any, path string) string {
	switch v := v.(type) {
	case bool:
		return ""
	case map[string]any:
		return badSchema(v, path)
	}
	return path
}
