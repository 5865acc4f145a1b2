package relay

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/kirotray/kirotray/proxy/anthropic"
)

// AppendString appends s as a JSON string, exactly as the Anthropic front
// end writes its own (anthropic.AppendJSONString): invalid UTF-8 becomes
// U+FFFD, U+2028 and U+2029 are escaped, <, > and & stay as they are.
func AppendString(dst []byte, s string) []byte { return anthropic.AppendJSONString(dst, s) }

// AppendNullable appends s as a JSON string, or null when it is empty.
func AppendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return AppendString(dst, s)
}

// AppendInt appends n.
func AppendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// AppendRawObject appends raw when it is a JSON object, else {}: tool input
// from the translator is always an object, but a defensive copy costs
// nothing here.
func AppendRawObject(dst []byte, raw string) []byte {
	t := strings.TrimSpace(raw)
	if t == "" || t[0] != '{' || !json.Valid([]byte(t)) {
		return append(dst, "{}"...)
	}
	return append(dst, t...)
}

// ExtractJSON returns the JSON value in a model's answer to a request for
// JSON output: the whole text when it is JSON, else the contents of a
// ```json fence, else the longest span from the first { or [ to the last
// matching } or ] that is valid JSON. ok is false when there is none.
func ExtractJSON(text string) (string, bool) {
	t := strings.TrimSpace(text)
	if t != "" && json.Valid([]byte(t)) {
		return t, true
	}
	if i := strings.Index(t, "```"); i >= 0 {
		body := t[i+3:]
		if nl := strings.IndexByte(body, '\n'); nl >= 0 {
			body = body[nl+1:]
		}
		if j := strings.Index(body, "```"); j >= 0 {
			if inner := strings.TrimSpace(body[:j]); json.Valid([]byte(inner)) {
				return inner, true
			}
		}
	}
	for _, pair := range [...][2]byte{{'{', '}'}, {'[', ']'}} {
		i := strings.IndexByte(t, pair[0])
		j := strings.LastIndexByte(t, pair[1])
		if i >= 0 && j > i {
			if cand := t[i : j+1]; json.Valid([]byte(cand)) {
				return cand, true
			}
		}
	}
	return "", false
}

// CompactJSON returns raw compacted, or raw itself if it is not valid JSON.
func CompactJSON(raw []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

// JSONInstruction is the instruction added to the system prompt when a
// client asks for JSON output (OpenAI response_format, Gemini
// responseMimeType): Kiro has no such switch, so the model is told. schema
// is the JSON Schema the answer must follow, or empty.
func JSONInstruction(schema []byte) string {
	const base = "Respond with only one valid JSON value: no code fences, no text before or after it."
	if len(bytes.TrimSpace(schema)) == 0 {
		return base
	}
	return base + " It must conform to this JSON Schema:\n" + string(CompactJSON(schema))
}

// AddSystem appends text to a system prompt, separated by a blank line.
func AddSystem(system, text string) string {
	switch {
	case text == "":
		return system
	case system == "":
		return text
	}
	return system + "\n\n" + text
}

// ToolInput returns a tool call's input in the form conv.Block.Input
// promises, a JSON object: raw itself when it is one, {} when it is empty or
// null, and {"input": …} around any other JSON value or text (a client's
// arguments string need not be JSON).
func ToolInput(raw []byte) json.RawMessage {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0 || string(t) == "null":
		return json.RawMessage(`{}`)
	case t[0] == '{' && json.Valid(t):
		return t
	case json.Valid(t):
		return append(append([]byte(`{"input":`), t...), '}')
	}
	return append(AppendString([]byte(`{"input":`), string(raw)), '}')
}
