package relay

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// the output is always valid JSON; U+2028 and U+2029 are escaped for
// JavaScript clients, while <, > and & stay as they are (no client is an
// HTML page).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, "89"[r-'\u2028'])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

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
