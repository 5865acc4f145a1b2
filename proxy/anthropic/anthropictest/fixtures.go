package anthropictest

import (
	"bytes"
	"embed"
	"encoding/json"
	"net/http"
)

// Recorded Claude Code requests.
//
// The files in testdata/ are request bodies the real Claude Code CLI 2.1.197
// sent to a local proxy (the demo upstream answering), with the device id,
// the session id, the machine's paths and kernel version replaced. They keep
// what makes Claude Code's requests hard: a system prompt in blocks with
// cache_control (and a billing header block), context_management, adaptive
// thinking with output_config.effort, metadata.user_id as a JSON string, a
// system-role message after the first prompt, 25 tools, and on resume
// thinking blocks with empty signatures in history.

//go:embed testdata/*.json
var fixtures embed.FS

// Names of the recorded requests.
const (
	// ClaudeCodeMain is the first request of `claude -p "say hi"`.
	ClaudeCodeMain = "claude-code-main.json"
	// ClaudeCodeResume is the request of `claude -c -p "what did you
	// find?"` after a Bash tool round: user, system, assistant (thinking,
	// text, tool_use), user (tool_result), assistant (thinking, text), user.
	ClaudeCodeResume = "claude-code-resume.json"
	// ClaudeCodeTitle is the session-title side request: thinking disabled,
	// output_config.format a JSON schema, no tools.
	ClaudeCodeTitle = "claude-code-title.json"
	// ClaudeCodeWebSearch is what its WebSearch tool sends: the
	// web_search_20250305 server tool only, with tool_choice naming it.
	ClaudeCodeWebSearch = "claude-code-websearch.json"
)

// ClaudeCodeSession is the session id in every fixture's metadata.user_id.
const ClaudeCodeSession = "6c0ffee0-1d2b-4c3d-8e4f-5a6b7c8d9e0f"

// ClaudeCodePath is where Claude Code posts: /v1/messages with ?beta=true.
const ClaudeCodePath = "/v1/messages?beta=true"

// Fixture returns a recorded request body. It panics for an unknown name.
func Fixture(name string) []byte {
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		panic("anthropictest: " + err.Error())
	}
	return b
}

// FixtureWith returns a recorded request with top-level members replaced
// (a nil value removes the member), e.g. another model or no stream.
func FixtureWith(name string, members map[string]any) []byte {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(Fixture(name), &body); err != nil {
		panic("anthropictest: " + err.Error())
	}
	for k, v := range members {
		if v == nil {
			delete(body, k)
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			panic("anthropictest: " + err.Error())
		}
		body[k] = raw
	}
	// Without HTML escaping, as Claude Code (JSON.stringify) writes it.
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		panic("anthropictest: " + err.Error())
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}

// CountTokensBody is the count_tokens form of a recorded request: the same
// model, system, messages, tools and thinking, without max_tokens, stream,
// metadata and the other generation settings.
func CountTokensBody(name string) []byte {
	return FixtureWith(name, map[string]any{"max_tokens": nil, "stream": nil, "metadata": nil,
		"context_management": nil, "output_config": nil, "tool_choice": nil})
}

// QuotaProbe is the request Claude Code makes to check its quota: one token
// of a small model, not streamed.
func QuotaProbe() []byte {
	return []byte(`{"model":"claude-haiku-4-5-20251001","max_tokens":1,"messages":[{"role":"user","content":"quota"}],` +
		`"metadata":{"user_id":"{\"device_id\":\"` + zeros64 + `\",\"account_uuid\":\"\",\"session_id\":\"` + ClaudeCodeSession + `\"}"}}`)
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"

// ClaudeCodeHeaders sets the headers Claude Code 2.1.197 sends (key aside).
func ClaudeCodeHeaders(h http.Header) {
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "claude-cli/2.1.197 (external, sdk-cli)")
	h.Set("X-Claude-Code-Session-Id", ClaudeCodeSession)
	h.Set("anthropic-version", "2023-06-01")
	h.Set("anthropic-beta", "claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14,"+
		"context-management-2025-06-27,prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24")
	h.Set("anthropic-dangerous-direct-browser-access", "true")
	h.Set("x-app", "cli")
	h.Set("X-Stainless-Lang", "js")
	h.Set("X-Stainless-Package-Version", "0.94.0")
	h.Set("X-Stainless-Retry-Count", "0")
	h.Set("X-Stainless-Timeout", "600")
}
