package kiro

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/conv"
)

// claudeCodeRequest is the shape of a typical Claude Code turn: a 12 KB
// system prompt, 16 tools with long descriptions, 9 tool rounds; about
// 100 KB of JSON.
func claudeCodeRequest() *conv.Request {
	req := &conv.Request{
		Model:          "claude-sonnet-4-5-20250929",
		System:         strings.Repeat("You are Claude Code, Anthropic's official CLI for Claude. <env>cwd: /src</env>\n", 160)[:12_000],
		ConversationID: "5b0e6c4a-8d2f-4f0e-a8a1-0c9d7e6b5a43",
		Thinking:       conv.Thinking{Mode: conv.ThinkingEnabled, Budget: 16_000},
	}
	for i := range 16 {
		schema := fmt.Sprintf(`{"type":"object","properties":{"command":{"type":"string","description":"%s"},"timeout":{"type":"number","description":"Optional timeout in milliseconds (max 600000)"},"path_%d":{"type":"string"}},"required":["command"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}`,
			strings.Repeat("The command to execute. ", 30), i)
		req.Tools = append(req.Tools, conv.Tool{
			Name:        fmt.Sprintf("Tool%d", i),
			Description: strings.Repeat("Executes a given command in a persistent shell session with optional timeout. ", 30),
			Schema:      json.RawMessage(schema),
		})
	}
	req.Messages = append(req.Messages, user(text("Find the bug in the parser and fix it, then run the tests.")))
	for i := range 9 {
		id := fmt.Sprintf("toolu_01ABCDEFGHIJ%02d", i)
		req.Messages = append(req.Messages,
			asst(conv.Block{Type: conv.Reasoning, Text: "I should look at the file first.", Signature: "sig"},
				text("Let me look at the next file."),
				conv.Block{Type: conv.ToolUse, ToolUseID: id, ToolName: fmt.Sprintf("Tool%d", i), Input: json.RawMessage(`{"command":"cat proxy/kiro/build.go | head -n 200","timeout":120000}`)}),
			user(conv.Block{Type: conv.ToolResult, ToolUseID: id, Content: []conv.Block{text(strings.Repeat("func (t *turn) addText(s, sep string) {\n\tif s == \"\" { return }\n}\n", 60))}}),
		)
	}
	return req
}

func BenchmarkBuildRequest(b *testing.B) {
	req := claudeCodeRequest()
	opt := BuildOptions{ProfileARN: "arn:aws:codewhisperer:us-east-1:111122223333:profile/EXAMPLE1234"}
	p, err := BuildRequest(req, opt)
	if err != nil {
		b.Fatal(err)
	}
	if err := checkBody(p.Body); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p.Body)))
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		p, err := BuildRequest(req, opt)
		if err != nil {
			b.Fatal(err)
		}
		p.Release() // as Send does once the body is sent
	}
	reportCPU(b, cpu)
}

// reportCPU adds the process CPU time per operation (GC and every thread
// included), which on a busy machine says more than wall time.
func reportCPU(b *testing.B, start time.Duration) {
	if used := processCPU() - start; used > 0 && b.N > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkBuildRequestCold is the first request of a session: every tool
// schema is parsed and checked, every tool input validated.
func BenchmarkBuildRequestCold(b *testing.B) {
	req := claudeCodeRequest()
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		toolCache.Lock()
		clear(toolCache.m)
		toolCache.Unlock()
		validInputs.Lock()
		clear(validInputs.m)
		validInputs.Unlock()
		p, err := BuildRequest(req, BuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p.Release()
	}
	reportCPU(b, cpu)
}

// BenchmarkBuildRequestNoRelease is a caller that never calls Release: every
// body is new garbage.
func BenchmarkBuildRequestNoRelease(b *testing.B) {
	req := claudeCodeRequest()
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if _, err := BuildRequest(req, BuildOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}
