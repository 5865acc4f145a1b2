package kirofake

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	cur     = "conversationState.currentMessage.userInputMessage"
	ctx     = cur + ".userInputMessageContext"
	hist    = "conversationState.history"
	bashUse = hist + ".3.assistantResponseMessage.toolUses"
)

func TestValidation(t *testing.T) {
	const improperMsg = "Improperly formed request."
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n fake image bytes"))
	tests := []struct {
		name       string
		edit       func(b body) body
		raw        string // sent instead of the edited body when set
		status     int
		reason     string // "" means null
		msgContain string
	}{
		{name: "valid body", edit: func(b body) body { return b }, status: 200},
		{name: "valid first turn", edit: func(body) body { return simpleBody("hi") }, status: 200},
		{name: "tool name case differs from declaration", edit: func(b body) body {
			return b.set(bashUse+".0.name", "bash")
		}, status: 200},
		{name: "assistant content of one space", edit: func(b body) body {
			return b.set(hist+".3.assistantResponseMessage.content", " ")
		}, status: 200},
		{name: "64-char tool name", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.name", strings.Repeat("a", 64))
		}, status: 200},
		{name: "10240-byte description", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.description", strings.Repeat("d", 10240))
		}, status: 200},
		{name: "image", edit: func(b body) body {
			return b.set(cur+".images", []any{map[string]any{"format": "png", "source": map[string]any{"bytes": png}}})
		}, status: 200},
		{name: "json tool result", edit: func(b body) body {
			return b.set(ctx+".toolResults.0.content", []any{map[string]any{"json": map[string]any{"files": 2}}})
		}, status: 200},
		{name: "unknown members are ignored", edit: func(b body) body {
			return b.set("conversationState.profileArn", "x").set("inferenceConfig", map[string]any{"maxTokens": 10})
		}, status: 200},

		{name: "not JSON", raw: `{"conversationState":`, status: 400, msgContain: improperMsg},
		{name: "wrong member type", edit: func(b body) body { return b.set(cur+".content", 5) }, status: 400, msgContain: improperMsg},
		{name: "no conversationState", edit: func(b body) body { return b.del("conversationState") }, status: 400, msgContain: improperMsg},
		{name: "chatTriggerType AUTO", edit: func(b body) body {
			return b.set("conversationState.chatTriggerType", "AUTO")
		}, status: 400, msgContain: "chatTriggerType"},
		{name: "chatTriggerType missing", edit: func(b body) body {
			return b.del("conversationState.chatTriggerType")
		}, status: 400, msgContain: "chatTriggerType"},
		{name: "agentTaskType unknown", edit: func(b body) body {
			return b.set("conversationState.agentTaskType", "spec")
		}, status: 400, msgContain: "agentTaskType"},
		{name: "no currentMessage", edit: func(b body) body {
			return b.del("conversationState.currentMessage")
		}, status: 400, msgContain: improperMsg},
		{name: "unknown model", edit: func(b body) body { return b.set(cur+".modelId", "claude-sonnet-4-5") },
			status: 400, reason: "INVALID_MODEL_ID", msgContain: "Invalid model"},
		{name: "legacy upper-case model", edit: func(b body) body { return b.set(cur+".modelId", "CLAUDE_SONNET_4_5_20250929_V1_0") },
			status: 400, reason: "INVALID_MODEL_ID"},
		{name: "no model", edit: func(b body) body { return b.del(cur + ".modelId") }, status: 400, reason: "INVALID_MODEL_ID"},
		{name: "unknown model in history", edit: func(b body) body {
			return b.set(hist+".2.userInputMessage.modelId", "gpt-4o")
		}, status: 400, reason: "INVALID_MODEL_ID"},
		{name: "origin KIRO_CLI", edit: func(b body) body { return b.set(cur+".origin", "KIRO_CLI") }, status: 400, msgContain: "origin"},
		{name: "no origin", edit: func(b body) body { return b.del(cur + ".origin") }, status: 400, msgContain: "origin"},
		{name: "history origin CLI", edit: func(b body) body {
			return b.set(hist+".0.userInputMessage.origin", "CLI")
		}, status: 400, msgContain: "origin"},

		{name: "history entry with both members", edit: func(b body) body {
			return b.set(hist+".1.userInputMessage", map[string]any{"content": "x"})
		}, status: 400, msgContain: improperMsg},
		{name: "history entry with neither member", edit: func(b body) body {
			return b.set(hist+".1", map[string]any{})
		}, status: 400, msgContain: improperMsg},
		{name: "history starts with assistant", edit: func(b body) body {
			h := b.get(hist).([]any)
			return b.set(hist, h[1:]).set(cur+".userInputMessageContext", nil).set(cur+".content", "go on")
		}, status: 400, msgContain: improperMsg},
		{name: "two user turns in a row", edit: func(b body) body {
			h := b.get(hist).([]any)
			return b.set(hist, []any{h[0], h[2], h[1], h[3]})
		}, status: 400, msgContain: improperMsg},
		{name: "history ends with a user turn", edit: func(b body) body {
			h := b.get(hist).([]any)
			return b.set(hist, h[:3])
		}, status: 400, msgContain: improperMsg},
		{name: "empty assistant content", edit: func(b body) body {
			return b.set(hist+".3.assistantResponseMessage.content", "")
		}, status: 400, msgContain: improperMsg},
		{name: "missing assistant content", edit: func(b body) body {
			return b.del(hist + ".1.assistantResponseMessage.content")
		}, status: 400, msgContain: "must not be null"},
		{name: "missing user content", edit: func(b body) body { return b.del(cur + ".content") }, status: 400, msgContain: "must not be null"},
		{name: "empty current content without tool results", edit: func(body) body { return simpleBody("") },
			status: 400, msgContain: improperMsg},
		{name: "empty history user content without tool results", edit: func(b body) body {
			return b.set(hist+".2.userInputMessage.content", "")
		}, status: 400, msgContain: improperMsg},
		{name: "empty toolUses array", edit: func(b body) body {
			return b.set(hist+".1.assistantResponseMessage.toolUses", []any{})
		}, status: 400, msgContain: improperMsg},
		{name: "tool use not answered", edit: func(b body) body {
			return b.del(ctx+".toolResults").set(cur+".content", "go on")
		}, status: 400, msgContain: improperMsg},
		{name: "tool result answers an unknown id", edit: func(b body) body {
			return b.set(ctx+".toolResults.0.toolUseId", "toolu_other")
		}, status: 400, msgContain: improperMsg},
		{name: "duplicate tool result", edit: func(b body) body {
			r := b.get(ctx + ".toolResults.0")
			return b.set(ctx+".toolResults", []any{r, r})
		}, status: 400, msgContain: improperMsg},
		{name: "tool result with no preceding tool use", edit: func(b body) body {
			return b.set(hist+".2.userInputMessage.userInputMessageContext", map[string]any{"toolResults": []any{
				map[string]any{"toolUseId": "toolu_01AbC", "content": []any{map[string]any{"text": "x"}}}}})
		}, status: 400, msgContain: improperMsg},
		{name: "duplicate tool use id in one turn", edit: func(b body) body {
			u := b.get(bashUse + ".0")
			return b.set(bashUse, []any{u, u})
		}, status: 400, msgContain: improperMsg},
		{name: "tool use input not an object", edit: func(b body) body {
			return b.set(bashUse+".0.input", "ls *.go")
		}, status: 400, msgContain: improperMsg},
		{name: "tool use name invalid", edit: func(b body) body {
			return b.set(bashUse+".0.name", "mcp.bash")
		}, status: 400, msgContain: improperMsg},
		{name: "tools on a history message", edit: func(b body) body {
			return b.set(hist+".2.userInputMessage.userInputMessageContext", map[string]any{"tools": b.get(ctx + ".tools")})
		}, status: 400, msgContain: improperMsg},
		{name: "history tool not declared", edit: func(b body) body {
			return b.set(ctx+".tools", []any{b.get(ctx + ".tools.1")})
		}, status: 400, msgContain: improperMsg},
		{name: "tool results without any tools", edit: func(b body) body {
			return b.del(ctx + ".tools")
		}, status: 400, msgContain: improperMsg},
		{name: "tool result block with neither text nor json", edit: func(b body) body {
			return b.set(ctx+".toolResults.0.content", []any{map[string]any{}})
		}, status: 400, msgContain: improperMsg},
		{name: "tool result without content", edit: func(b body) body {
			return b.del(ctx + ".toolResults.0.content")
		}, status: 400, msgContain: "must not be null"},
		{name: "tool result status unknown", edit: func(b body) body {
			return b.set(ctx+".toolResults.0.status", "ok")
		}, status: 400, msgContain: "status"},

		{name: "tool name with a dot", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.name", "fs.read")
		}, status: 400, msgContain: "name"},
		{name: "65-char tool name", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.name", strings.Repeat("a", 65))
		}, status: 400, msgContain: "name"},
		{name: "duplicate tool names", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.name", "BASH")
		}, status: 400, msgContain: "unique"},
		{name: "no toolSpecification", edit: func(b body) body {
			return b.set(ctx+".tools.1", map[string]any{"cachePoint": map[string]any{"type": "default"}})
		}, status: 400, msgContain: improperMsg},
		{name: "empty description", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.description", "")
		}, status: 400, msgContain: "description"},
		{name: "10241-byte description", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.description", strings.Repeat("d", 10241))
		}, status: 400, msgContain: "description"},
		{name: "10000 runes over 10240 bytes", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.description", strings.Repeat("é", 10000))
		}, status: 400, msgContain: "description"},
		{name: "schema root type string", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.inputSchema.json", map[string]any{"type": "string"})
		}, status: 400, msgContain: "TOOL_SCHEMA_INVALID"},
		{name: "schema without type", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.inputSchema.json", map[string]any{"properties": map[string]any{}})
		}, status: 400, msgContain: "TOOL_SCHEMA_INVALID"},
		{name: "schema not an object", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.inputSchema.json", []any{"object"})
		}, status: 400, msgContain: "TOOL_SCHEMA_INVALID"},
		{name: "schema missing", edit: func(b body) body {
			return b.del(ctx + ".tools.1.toolSpecification.inputSchema")
		}, status: 400, msgContain: "TOOL_SCHEMA_INVALID"},
		{name: "required null", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.inputSchema.json.required", nil)
		}, status: 400, msgContain: "TOOL_SCHEMA_INVALID"},
		{name: "properties null", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.inputSchema.json.properties", nil)
		}, status: 400, msgContain: "TOOL_SCHEMA_INVALID"},
		{name: "nested required null", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.inputSchema.json.properties.file_path",
				map[string]any{"type": "object", "required": nil})
		}, status: 400, msgContain: "TOOL_SCHEMA_INVALID"},
		{name: "type not a string", edit: func(b body) body {
			return b.set(ctx+".tools.1.toolSpecification.inputSchema.json.properties.file_path", map[string]any{"type": 7})
		}, status: 400, msgContain: "TOOL_SCHEMA_INVALID"},

		{name: "image format bmp", edit: func(b body) body {
			return b.set(cur+".images", []any{map[string]any{"format": "bmp", "source": map[string]any{"bytes": png}}})
		}, status: 400, msgContain: "format"},
		{name: "image not base64", edit: func(b body) body {
			return b.set(cur+".images", []any{map[string]any{"format": "png", "source": map[string]any{"bytes": "not base64!"}}})
		}, status: 400, msgContain: improperMsg},
		{name: "image without bytes", edit: func(b body) body {
			return b.set(cur+".images", []any{map[string]any{"format": "png"}})
		}, status: 400, msgContain: improperMsg},
		{name: "document without a safe name", edit: func(b body) body {
			return b.set(cur+".documents", []any{map[string]any{"format": "pdf", "name": "a/b.pdf", "source": map[string]any{"bytes": png}}})
		}, status: 400, reason: "REQUEST_BODY_INVALID"},
	}
	f := newFake(t, Config{})
	token := f.socialToken("work")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			if tt.raw == "" {
				raw = tt.edit(parseBody(validBody)).bytes()
			}
			resp := f.chat(t, token, raw)
			if resp.StatusCode != tt.status {
				got, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d (%s), want %d; detail: %s", resp.StatusCode, got, tt.status, lastDetail(f))
			}
			if tt.status == http.StatusOK {
				if d := decodeStream(t, resp.Body); d.err != nil || len(d.events) == 0 {
					t.Fatalf("stream: %d events, err %v", len(d.events), d.err)
				}
				return
			}
			e := readError(t, resp)
			switch {
			case tt.reason == "" && e.Reason != nil:
				t.Errorf("reason = %q, want null", *e.Reason)
			case tt.reason != "" && (e.Reason == nil || *e.Reason != tt.reason):
				t.Errorf("reason = %v, want %q", e.Reason, tt.reason)
			}
			if !strings.Contains(e.Message, tt.msgContain) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.msgContain)
			}
			if lastDetail(f) == "" {
				t.Error("the record carries no detail for a refusal")
			}
		})
	}
}

func lastDetail(f *fake) string {
	recs := f.Requests()
	if len(recs) == 0 {
		return ""
	}
	return recs[len(recs)-1].Detail
}

func TestBodyTooLong(t *testing.T) {
	f := newFake(t, Config{MaxBodyBytes: 2000})
	token := f.socialToken("work")
	for _, size := range []int{2001, 1 << 20} { // read and refused, refused by Content-Length
		b := simpleBody(strings.Repeat("x", size))
		resp := f.chat(t, token, b.bytes())
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("size %d: status %d", size, resp.StatusCode)
		}
		e := readError(t, resp)
		if e.Message != "Input is too long." || e.Reason == nil || *e.Reason != "CONTENT_LENGTH_EXCEEDS_THRESHOLD" {
			t.Errorf("size %d: body %+v", size, e)
		}
	}
	resp := f.chat(t, token, simpleBody(strings.Repeat("x", 1000)).bytes())
	mustOK(t, resp)
}

func TestImageTooLarge(t *testing.T) {
	f := newFake(t, Config{MaxBodyBytes: 8 << 20})
	token := f.socialToken("work")
	for _, tt := range []struct {
		size   int
		status int
	}{{maxImageBytes, 200}, {maxImageBytes + 1, 400}} {
		img := base64.StdEncoding.EncodeToString(make([]byte, tt.size))
		b := simpleBody("what is this?").set(cur+".images", []any{map[string]any{"format": "jpeg", "source": map[string]any{"bytes": img}}})
		resp := f.chat(t, token, b.bytes())
		if resp.StatusCode != tt.status {
			t.Errorf("image of %d bytes: status %d, want %d", tt.size, resp.StatusCode, tt.status)
		}
		io.Copy(io.Discard, resp.Body)
	}
}

// TestValidatorMatchesProtocolExample keeps the table's base body honest: it is
// the example of protocol.md §3.1, which every implementation agrees is valid.
func TestValidatorMatchesProtocolExample(t *testing.T) {
	s := New(Config{})
	b := parseBody(validBody)
	req, perr := parseRequest(b.bytes())
	if perr != nil {
		t.Fatal(perr)
	}
	c, err := s.validate(req)
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	if c.model.ID != "claude-sonnet-4.5" || len(c.tools) != 2 || c.tools[0].required[0] != "command" {
		t.Errorf("checked = model %v, %d tools", c.model, len(c.tools))
	}
}
