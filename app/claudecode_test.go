package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy"
	"github.com/kirotray/kirotray/proxy/anthropic/anthropictest"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// These tests drive what Claude Code does in long, tool-heavy sessions
// through the whole path: the official SDK → `kirotray serve` (app.Serve) →
// the Kiro client → the strict simulated upstream, which checks every body
// it gets. Replies are the demo brain's, or scripted with kirofake.Enqueue.

// stack is app.Serve in front of a kirofake the test controls.
type stack struct {
	fake   *kirofake.Server
	base   string
	client anthropic.Client
	arn    string
}

func newStack(t *testing.T, cfg kirofake.Config) *stack {
	t.Helper()
	fake := kirofake.New(cfg)
	upstream := httptest.NewServer(fake)
	t.Cleanup(upstream.Close)
	refresh, arn := fake.AddSocialAccount("cc")
	credPath := filepath.Join(t.TempDir(), "accounts.json")
	b, _ := json.Marshal([]map[string]any{{"name": "cc", "authMethod": "social", "refreshToken": refresh, "profileArn": arn}})
	if err := os.WriteFile(credPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startServe(t, app.ServeConfig{APIKey: "k", Credentials: credPath, KiroAPI: upstream.URL, KiroAuth: upstream.URL})
	return &stack{fake: fake, base: base, client: sdk(base, "k"), arn: arn}
}

// lastBody is the last generateAssistantResponse body the upstream got.
func (s *stack) lastBody(t *testing.T) *kirofake.Recorded {
	t.Helper()
	recs := s.fake.Requests()
	if len(recs) == 0 {
		t.Fatal("no upstream call")
	}
	return &recs[len(recs)-1]
}

// raw sends a recorded request body the way Claude Code does (?beta=true,
// its headers) and accumulates the stream with the SDK.
func (s *stack) raw(t *testing.T, body []byte) (*anthropic.BetaMessage, *http.Response, error) {
	t.Helper()
	var resp *http.Response
	stream := s.client.Beta.Messages.NewStreaming(t.Context(), anthropic.BetaMessageNewParams{},
		option.WithRequestBody("application/json", body), option.WithResponseInto(&resp),
		option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			anthropictest.ClaudeCodeHeaders(r.Header)
			r.URL.RawQuery = "beta=true"
			return next(r)
		}))
	defer stream.Close()
	var msg anthropic.BetaMessage
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	return &msg, resp, stream.Err()
}

// stream sends params streaming and accumulates the answer.
func (s *stack) stream(t *testing.T, params anthropic.MessageNewParams, opts ...option.RequestOption) (*anthropic.Message, error) {
	t.Helper()
	stream := s.client.Messages.NewStreaming(t.Context(), params, opts...)
	defer stream.Close()
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	return &msg, stream.Err()
}

func apiError(t *testing.T, err error) (int, string) {
	t.Helper()
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("not an API error: %v", err)
	}
	var body struct {
		Error struct{ Type, Message string }
	}
	if json.Unmarshal([]byte(apiErr.RawJSON()), &body) != nil {
		t.Fatalf("not Anthropic error JSON: %s", apiErr.RawJSON())
	}
	return apiErr.StatusCode, body.Error.Message
}

func TestClaudeCodeRequestsThroughTheWholePath(t *testing.T) {
	s := newStack(t, kirofake.Config{Seed: 7})
	var sessionMsg *anthropic.BetaMessage

	t.Run("main request: adaptive thinking", func(t *testing.T) {
		msg, _, err := s.raw(t, anthropictest.Fixture(anthropictest.ClaudeCodeMain))
		if err != nil {
			t.Fatal(err)
		}
		sessionMsg = msg
		if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Thinking == "" || msg.Content[1].Type != "text" {
			t.Fatalf("content %s", msg.RawJSON())
		}
		if strings.Contains(msg.Content[1].Text, "thinking>") || strings.Contains(msg.Content[0].Thinking, "thinking>") {
			t.Errorf("a tag leaked: %s", msg.RawJSON())
		}
		if string(msg.Model) != "claude-opus-4-8" || msg.StopReason != "end_turn" || msg.Usage.InputTokens <= 0 || msg.Usage.OutputTokens <= 0 {
			t.Errorf("model %q stop %q usage %s", msg.Model, msg.StopReason, msg.Usage.RawJSON())
		}
		rec := s.lastBody(t)
		cs := rec.Parsed.ConversationState
		if cs.ConversationID != anthropictest.ClaudeCodeSession || cs.CurrentMessage.User.ModelID != "claude-opus-4.8" {
			t.Errorf("conversation %q model %q", cs.ConversationID, cs.CurrentMessage.User.ModelID)
		}
		if sys := cs.History[0].User.Content; !strings.HasPrefix(sys, "<thinking_mode>adaptive</thinking_mode><thinking_effort>high</thinking_effort>\nYou are a Claude agent") {
			t.Errorf("system turn starts %q", sys[:120])
		}
		if strings.Contains(string(rec.Body), "x-anthropic-billing-header") {
			t.Error("the billing header reached the model")
		}
	})
	t.Run("1m and thinking model names", func(t *testing.T) {
		for model, kiroID := range map[string]string{
			"claude-opus-4-8[1m]":            "claude-opus-4.8",
			"claude-sonnet-4-5-20250929[1m]": "claude-sonnet-4.5",
			"claude-sonnet-4-5-thinking[1m]": "claude-sonnet-4.5",
			"claude-haiku-4-5-20251001":      "claude-haiku-4.5",
		} {
			msg, _, err := s.raw(t, anthropictest.FixtureWith(anthropictest.ClaudeCodeMain, map[string]any{"model": model, "thinking": nil}))
			if err != nil {
				t.Fatalf("%s: %v", model, err)
			}
			if string(msg.Model) != model || s.lastBody(t).Parsed.ConversationState.CurrentMessage.User.ModelID != kiroID {
				t.Errorf("%s: echoed %q, sent %q", model, msg.Model, s.lastBody(t).Parsed.ConversationState.CurrentMessage.User.ModelID)
			}
			thinking := len(msg.Content) > 0 && msg.Content[0].Type == "thinking"
			if thinking != strings.Contains(model, "thinking") {
				t.Errorf("%s: thinking block %v: %s", model, thinking, msg.RawJSON())
			}
			for _, b := range msg.Content {
				if strings.Contains(b.Text, "<thinking") {
					t.Errorf("%s: tags in the text", model)
				}
			}
		}
	})
	t.Run("resumed conversation: thinking blocks sent back", func(t *testing.T) {
		msg, _, err := s.raw(t, anthropictest.Fixture(anthropictest.ClaudeCodeResume))
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "end_turn" || len(msg.Content) == 0 {
			t.Errorf("answer %s", msg.RawJSON())
		}
		hist := s.lastBody(t).Parsed.ConversationState.History
		var asst []string
		for _, h := range hist {
			if h.Assistant != nil {
				asst = append(asst, h.Assistant.Content)
			}
		}
		if len(asst) != 3 || !strings.HasPrefix(asst[1], "<thinking>The user asked") || !strings.Contains(asst[1], "</thinking>\n\nI'll run") {
			t.Errorf("assistant history %q", asst)
		}
		_ = sessionMsg
	})
	t.Run("session title: structured output", func(t *testing.T) {
		msg, _, err := s.raw(t, anthropictest.Fixture(anthropictest.ClaudeCodeTitle))
		if err != nil {
			t.Fatal(err)
		}
		var title struct{ Title string }
		if len(msg.Content) != 1 || json.Unmarshal([]byte(msg.Content[0].Text), &title) != nil || title.Title == "" {
			t.Errorf("answer %s", msg.RawJSON())
		}
	})
	t.Run("WebSearch: Kiro's search", func(t *testing.T) {
		before := s.fake.Usage("cc").WebSearches
		msg, _, err := s.raw(t, anthropictest.Fixture(anthropictest.ClaudeCodeWebSearch))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 3 || msg.Content[0].Type != "server_tool_use" || msg.Content[1].Type != "web_search_tool_result" ||
			msg.Content[2].Type != "text" || msg.Usage.ServerToolUse.WebSearchRequests != 1 {
			t.Fatalf("answer %s", msg.RawJSON())
		}
		results := msg.Content[1].Content.OfBetaWebSearchResultBlockArray
		if len(results) != 5 || !strings.HasPrefix(results[0].URL, "https://") || !strings.Contains(msg.Content[2].Text, results[0].URL) {
			t.Errorf("results %s", msg.Content[1].RawJSON())
		}
		if s.fake.Usage("cc").WebSearches != before+1 {
			t.Error("no search reached the upstream")
		}
	})
	t.Run("WebSearch: search unavailable", func(t *testing.T) {
		s.fake.SetMCPFault(kirofake.Fault{Status: http.StatusNotFound, Message: "Unknown operation"})
		defer s.fake.SetMCPFault(kirofake.Fault{})
		msg, _, err := s.raw(t, anthropictest.Fixture(anthropictest.ClaudeCodeWebSearch))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || !strings.HasPrefix(msg.Content[0].Text, "Web search is not available right now") || msg.StopReason != "end_turn" {
			t.Errorf("answer %s", msg.RawJSON())
		}
		if sys := s.lastBody(t).Parsed.ConversationState.History[0].User.Content; !strings.Contains(sys, "web_search tool is not available") {
			t.Errorf("the model was not told: %q", sys)
		}
	})
	t.Run("count_tokens matches message_start", func(t *testing.T) {
		var count struct {
			InputTokens int `json:"input_tokens"`
		}
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/messages/count_tokens?beta=true",
			strings.NewReader(string(anthropictest.CountTokensBody(anthropictest.ClaudeCodeMain))))
		anthropictest.ClaudeCodeHeaders(req.Header)
		req.Header.Set("x-api-key", "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&count)
		resp.Body.Close()
		stream := s.client.Beta.Messages.NewStreaming(t.Context(), anthropic.BetaMessageNewParams{},
			option.WithRequestBody("application/json", anthropictest.Fixture(anthropictest.ClaudeCodeMain)))
		var start int64
		for stream.Next() {
			if ev := stream.Current(); ev.Type == "message_start" {
				start = ev.Message.Usage.InputTokens
			}
		}
		stream.Close()
		if resp.StatusCode != 200 || count.InputTokens <= 0 || int64(count.InputTokens) != start {
			t.Errorf("count_tokens %d (status %d), message_start %d", count.InputTokens, resp.StatusCode, start)
		}
	})
	t.Run("quota probe", func(t *testing.T) {
		start := time.Now()
		msg, err := s.client.Beta.Messages.New(t.Context(), anthropic.BetaMessageNewParams{},
			option.WithRequestBody("application/json", anthropictest.QuotaProbe()))
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "max_tokens" || msg.Usage.OutputTokens != 1 || len(msg.Content) != 1 {
			t.Errorf("answer %s", msg.RawJSON())
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

var (
	readTool  = tool("Read", `{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}`)
	writeTool = tool("Write", `{"type":"object","properties":{"file_path":{"type":"string"},"content":{"type":"string"}},"required":["file_path","content"]}`)
	todoTool  = tool("TodoRead", `{"type":"object","properties":{}}`)
)

func tool(name, schema string) anthropic.ToolUnionParam {
	var s anthropic.ToolInputSchemaParam
	if err := json.Unmarshal([]byte(schema), &s); err != nil {
		panic(err)
	}
	return anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: name, Description: anthropic.String("The " + name + " tool."), InputSchema: s}}
}

func TestToolCallsThroughTheWholePath(t *testing.T) {
	s := newStack(t, kirofake.Config{Seed: 8})
	params := func(msgs ...anthropic.MessageParam) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 32000,
			System: []anthropic.TextBlockParam{{Text: "You are a coding agent."}},
			Tools:  []anthropic.ToolUnionParam{bashTool, readTool, writeTool, todoTool}, Messages: msgs}
	}
	prompt := anthropic.NewUserMessage(anthropic.NewTextBlock("fix the tests"))

	t.Run("parallel calls, results with an error and an image", func(t *testing.T) {
		reply := []kirofake.Event{kirofake.Text("Looking at three things.")}
		reply = append(reply, kirofake.ToolCall("tooluse_P1", "Read", `{"file_path":"/src/a_test.go"}`)...)
		reply = append(reply, kirofake.ToolCall("tooluse_P2", "Bash", `{"command":"go test ./..."}`)...)
		reply = append(reply, kirofake.ToolCall("tooluse_P3", "TodoRead", ``)...)
		s.fake.Enqueue(kirofake.Reply{Events: append(reply, kirofake.Metering(0.02), kirofake.ContextUsage(1.5))})
		msg, err := s.stream(t, params(prompt))
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "tool_use" || len(msg.Content) != 4 {
			t.Fatalf("answer %s", msg.RawJSON())
		}
		if string(msg.Content[3].Input) != "{}" || msg.Content[1].ID != "toolu_P1" || msg.Content[2].Name != "Bash" {
			t.Errorf("calls %s", msg.RawJSON())
		}
		png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n0000IHDR"))
		shot := anthropic.ToolResultBlockParamContentUnion{OfImage: &anthropic.ImageBlockParam{Source: anthropic.ImageBlockParamSourceUnion{
			OfBase64: &anthropic.Base64ImageSourceParam{MediaType: "image/png", Data: png}}}}
		results := anthropic.NewUserMessage(
			anthropic.NewToolResultBlock("toolu_P1", "package a", false),
			anthropic.NewToolResultBlock("toolu_P2", "exit status 1", true),
			anthropic.ContentBlockParamUnion{OfToolResult: &anthropic.ToolResultBlockParam{ToolUseID: "toolu_P3",
				Content: []anthropic.ToolResultBlockParamContentUnion{{OfText: &anthropic.TextBlockParam{Text: "todo.png"}}, shot}}},
			anthropic.NewTextBlock("also check the docs"),
		)
		msg2, err := s.stream(t, params(prompt, msg.ToParam(), results))
		if err != nil {
			t.Fatal(err)
		}
		if msg2.StopReason == "" {
			t.Errorf("answer %s", msg2.RawJSON())
		}
		cur := s.lastBody(t).Parsed.ConversationState.CurrentMessage.User
		rs := cur.Context.ToolResults
		if len(rs) != 3 || rs[1].Status != "error" || rs[0].Status != "success" || len(cur.Images) != 1 || cur.Images[0].Format != "png" ||
			!strings.Contains(cur.Content, "also check the docs") {
			t.Errorf("current message %+v", cur)
		}
	})
	t.Run("a 200 KB Write", func(t *testing.T) {
		var content strings.Builder
		for i := 0; content.Len() < 200_000; i++ {
			fmt.Fprintf(&content, "line %05d:\t\"quoted\" \\ back\\slash — ünïcødé\n", i)
		}
		input, _ := json.Marshal(map[string]string{"file_path": "/src/big.txt", "content": content.String()})
		s.fake.Enqueue(kirofake.Reply{Events: append([]kirofake.Event{kirofake.Text("Writing it.")},
			kirofake.ToolCall("tooluse_W1", "Write", string(input))...)})
		msg, err := s.stream(t, params(prompt))
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "tool_use" || len(msg.Content) != 2 {
			t.Fatalf("stop %q, %d blocks", msg.StopReason, len(msg.Content))
		}
		var got struct{ Content string }
		if err := json.Unmarshal(msg.Content[1].Input, &got); err != nil || got.Content != content.String() {
			t.Fatalf("the Write input did not survive (%d bytes, %v)", len(got.Content), err)
		}
		// The next turn carries it back in history; the upstream takes it.
		next := params(prompt, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[1].ID, "written", false)))
		if _, err := s.stream(t, next); err != nil {
			t.Fatal(err)
		}
		rec := s.lastBody(t)
		if rec.Status != 200 || len(rec.Body) < 200_000 {
			t.Errorf("upstream answered %d to a %d-byte body (%s)", rec.Status, len(rec.Body), rec.Detail)
		}
	})
	t.Run("a stream that stops inside a tool call", func(t *testing.T) {
		cut := kirofake.ToolCall("tooluse_C1", "Write", `{"file_path":"/src/x.go","content":"package x\n\nfunc X() {}\n"}`)
		s.fake.Enqueue(kirofake.Reply{Events: append([]kirofake.Event{kirofake.Text("Writing x.go.")}, cut[:3]...)}) // no stop, input unfinished
		msg, err := s.stream(t, params(prompt))
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "max_tokens" || len(msg.Content) != 1 || msg.Content[0].Type != "text" ||
			!strings.Contains(msg.Content[0].Text, "was cut off by the upstream") {
			t.Fatalf("answer %s", msg.RawJSON())
		}
		// Claude Code sends it back and asks to go on: accepted.
		if _, err := s.stream(t, params(prompt, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("continue")))); err != nil {
			t.Fatal(err)
		}
		if rec := s.lastBody(t); rec.Status != 200 {
			t.Errorf("upstream: %d %s", rec.Status, rec.Detail)
		}
	})
	t.Run("long and MCP-style tool names, schemas Kiro rejects", func(t *testing.T) {
		long := "mcp__a_very_long_server_name_for_testing__" + strings.Repeat("x", 40) + "_tool"
		dotted := "mcp__server.v2__search.issues"
		plain := "mcp__github__create_issue"
		bad := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "BadSchema", InputSchema: anthropic.ToolInputSchemaParam{
			Properties:  map[string]any{"q": map[string]any{"type": ""}, "n": map[string]any{"type": 5}},
			ExtraFields: map[string]any{"required": nil, "type": "string"}}}}
		p := params(anthropic.NewUserMessage(anthropic.NewTextBlock("hello")))
		p.Tools = append(p.Tools, tool(long, `{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}`),
			tool(dotted, `{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}`),
			tool(plain, `{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]}`), bad)
		if _, err := s.stream(t, p); err != nil {
			t.Fatal(err)
		}
		rec := s.lastBody(t)
		if rec.Status != 200 {
			t.Fatalf("upstream refused: %s", rec.Detail)
		}
		sent := map[string]bool{}
		var shortLong, shortDotted string
		for _, tl := range rec.Parsed.ConversationState.CurrentMessage.User.Context.Tools {
			n := tl.ToolSpecification.Name
			sent[n] = true
			switch {
			case len(n) > 64:
				t.Errorf("name of %d characters sent", len(n))
			case strings.HasPrefix(n, "mcp__a_very_long"):
				shortLong = n
			case strings.HasPrefix(n, "mcp__server_v2"):
				shortDotted = n
			}
		}
		if !sent[plain] || shortLong == "" || shortDotted == "" {
			t.Fatalf("sent tool names %v", sent)
		}
		// Kiro calls them by the names it was given; the client sees its own.
		reply := kirofake.ToolCall("tooluse_L1", shortLong, `{"q":"a"}`)
		reply = append(reply, kirofake.ToolCall("tooluse_L2", shortDotted, `{"q":"b"}`)...)
		reply = append(reply, kirofake.ToolCall("tooluse_L3", plain, `{"title":"c"}`)...)
		s.fake.Enqueue(kirofake.Reply{Events: reply})
		msg, err := s.stream(t, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 3 || msg.Content[0].Name != long || msg.Content[1].Name != dotted || msg.Content[2].Name != plain {
			t.Fatalf("names %s", msg.RawJSON())
		}
		// And they go back in history under the client's names.
		next := p
		next.Messages = append(next.Messages, msg.ToParam(), anthropic.NewUserMessage(
			anthropic.NewToolResultBlock(msg.Content[0].ID, "1", false),
			anthropic.NewToolResultBlock(msg.Content[1].ID, "2", false),
			anthropic.NewToolResultBlock(msg.Content[2].ID, "3", false)))
		if _, err := s.stream(t, next); err != nil {
			t.Fatal(err)
		}
		if rec := s.lastBody(t); rec.Status != 200 {
			t.Errorf("history refused: %s", rec.Detail)
		}
	})
}

func TestImagesThroughTheWholePath(t *testing.T) {
	s := newStack(t, kirofake.Config{Seed: 9})
	img := func(media string, data []byte) anthropic.ContentBlockParamUnion {
		return anthropic.NewImageBlockBase64(media, base64.StdEncoding.EncodeToString(data))
	}
	small := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("0", 64))
	ask := func(blocks ...anthropic.ContentBlockParamUnion) error {
		_, err := s.stream(t, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(append(blocks, anthropic.NewTextBlock("what is this?"))...)}})
		return err
	}

	if err := ask(img("image/png", small), img("image/jpeg", small), img("image/gif", small), img("image/webp", small)); err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, im := range s.lastBody(t).Parsed.ConversationState.CurrentMessage.User.Images {
		formats = append(formats, im.Format)
	}
	if strings.Join(formats, ",") != "png,jpeg,gif,webp" {
		t.Errorf("formats %v", formats)
	}
	// A large screenshot next to a long prompt: image data does not count
	// against the input limit.
	if err := ask(img("image/png", make([]byte, 900_000)), anthropic.NewTextBlock(strings.Repeat("context ", 20_000))); err != nil {
		t.Errorf("large image: %v", err)
	}

	for _, tt := range []struct {
		name   string
		blocks []anthropic.ContentBlockParamUnion
		want   string
	}{
		{"URL image", []anthropic.ContentBlockParamUnion{anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: "https://example.com/a.png"})},
			"image URLs are not supported: send the image as base64"},
		{"too large", []anthropic.ContentBlockParamUnion{img("image/png", make([]byte, 3_800_000))}, "image too large"},
		{"unsupported type", []anthropic.ContentBlockParamUnion{img("image/bmp", small)}, `unsupported image type "image/bmp"`},
		{"too many", func() (b []anthropic.ContentBlockParamUnion) {
			for range 21 {
				b = append(b, img("image/png", small))
			}
			return b
		}(), "too many images: 21, the upstream accepts at most 20"},
	} {
		calls := len(s.fake.Requests())
		status, msg := apiError(t, ask(tt.blocks...))
		if status != 400 || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %q", tt.name, status, msg)
		}
		if len(s.fake.Requests()) != calls {
			t.Errorf("%s: sent upstream", tt.name)
		}
	}
}

func TestLongSessionsThroughTheWholePath(t *testing.T) {
	t.Run("over the byte guard: prompt is too long, not sent", func(t *testing.T) {
		s := newStack(t, kirofake.Config{Seed: 10})
		body := anthropictest.ClaudeCodeRequest(120) // ~690 KB, ~175k tokens: inside the window
		_, _, err := s.raw(t, body)
		status, msg := apiError(t, err)
		var n, m int
		if _, scanErr := fmt.Sscanf(msg, "prompt is too long: %d tokens > %d maximum", &n, &m); scanErr != nil || status != 400 || n <= m || m <= 0 {
			t.Fatalf("%d %q", status, msg)
		}
		t.Logf("%s", msg)
		if len(s.fake.Requests()) != 0 {
			t.Error("sent upstream")
		}
	})
	t.Run("refused upstream: prompt is too long", func(t *testing.T) {
		s := newStack(t, kirofake.Config{Seed: 10, MaxBodyBytes: 150_000})
		_, _, err := s.raw(t, anthropictest.ClaudeCodeRequest(20))
		status, msg := apiError(t, err)
		if status != 400 || !strings.HasPrefix(msg, "prompt is too long: ") {
			t.Fatalf("%d %q", status, msg)
		}
		t.Logf("%s", msg)
		if recs := s.fake.Requests(); len(recs) != 1 || recs[0].Reason != "CONTENT_LENGTH_EXCEEDS_THRESHOLD" {
			t.Errorf("upstream calls %d", len(recs))
		}
		// The conversation goes on once Claude Code has compacted it.
		if _, _, err := s.raw(t, anthropictest.ClaudeCodeRequest(3)); err != nil {
			t.Error(err)
		}
	})
	t.Run("history trimming, when turned on", func(t *testing.T) {
		fake := kirofake.New(kirofake.Config{Seed: 11})
		upstream := httptest.NewServer(fake)
		defer upstream.Close()
		fake.AddSocialAccount("trim")
		client := kiro.New(kiro.Config{BaseURL: upstream.URL, Accounts: pool{fakeAccount{fake: fake, name: "trim"}},
			MaxInputBytes: 100_000, TrimHistory: true})
		defer client.CloseIdleConnections()
		srv, err := proxy.New(proxy.Config{Backend: app.Backend{Client: client}, APIKey: redact.Secret("k")})
		if err != nil {
			t.Fatal(err)
		}
		front := httptest.NewServer(srv.Handler())
		defer front.Close()
		s := &stack{fake: fake, base: front.URL, client: sdk(front.URL, "k")}
		msg, resp, err := s.raw(t, anthropictest.ClaudeCodeRequest(30)) // ~230 KB
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("x-kirotray-trimmed") == "" || msg.StopReason == "" {
			t.Errorf("header %q, answer %s", resp.Header.Get("x-kirotray-trimmed"), msg.RawJSON())
		}
		rec := s.lastBody(t)
		if rec.Status != 200 || len(rec.Body) > 100_000 || !strings.Contains(string(rec.Body), "oldest messages of this conversation were left out") {
			t.Errorf("upstream %d, %d bytes (%s)", rec.Status, len(rec.Body), rec.Detail)
		}
	})
}

func TestTokenAccountingThroughTheWholePath(t *testing.T) {
	s := newStack(t, kirofake.Config{Seed: 12})
	p := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}}

	s.fake.Enqueue(kirofake.Reply{Events: []kirofake.Event{kirofake.Text("Hello there, friend."), kirofake.Metering(0.01), kirofake.ContextUsage(12.5)}})
	msg, err := s.stream(t, p)
	if err != nil {
		t.Fatal(err)
	}
	// 12.5% of Sonnet 4.5's 200k window; output counted from the text.
	if msg.Usage.InputTokens != 25_000 || msg.Usage.OutputTokens != 5 || msg.Usage.CacheReadInputTokens != 0 {
		t.Errorf("usage %s", msg.Usage.RawJSON())
	}

	s.fake.Enqueue(kirofake.Reply{Events: []kirofake.Event{kirofake.Text("Hi."),
		kirofake.Metadata{InputTokens: 900, OutputTokens: 3, CacheReadTokens: 20_000, CacheWriteTokens: 100}, kirofake.ContextUsage(12.5)}})
	if msg, err = s.stream(t, p); err != nil {
		t.Fatal(err)
	}
	u := msg.Usage
	if u.InputTokens != 900 || u.CacheReadInputTokens != 20_000 || u.CacheCreationInputTokens != 100 || u.OutputTokens != 3 {
		t.Errorf("usage %s", u.RawJSON())
	}

	// Without either, the estimate count_tokens gives.
	s.fake.Enqueue(kirofake.Reply{Events: []kirofake.Event{kirofake.Text("Hi.")}})
	if msg, err = s.stream(t, p); err != nil {
		t.Fatal(err)
	}
	count, err := s.client.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{Model: p.Model, Messages: p.Messages})
	if err != nil || msg.Usage.InputTokens != count.InputTokens {
		t.Errorf("usage %s, count_tokens %d (%v)", msg.Usage.RawJSON(), count.InputTokens, err)
	}
}

// fakeAccount is a kiro.Account that takes its tokens straight from the
// simulated upstream, for stacks built without the app's account pool.
type fakeAccount struct {
	fake *kirofake.Server
	name string
}

func (a fakeAccount) Name() string { return a.name }

func (a fakeAccount) Token(context.Context, bool) (kiro.Token, error) {
	return kiro.Token{Access: redact.Secret(a.fake.IssueAccessToken(a.name)), ProfileARN: a.fake.ProfileARN(a.name), MachineID: kiro.MachineID(a.name)}, nil
}

func (a fakeAccount) Report(error) {}

type pool struct{ a kiro.Account }

func (p pool) Pick(context.Context, string, []string) (kiro.Account, error) { return p.a, nil }
