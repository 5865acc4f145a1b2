package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/gorilla/websocket"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs app.Serve as `kirotray serve` would and returns the base
// URL; the server is stopped (and must exit cleanly) when the test ends.
func startServe(t *testing.T, cfg app.ServeConfig) (baseURL string, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: redact.ReplaceAttr}))
	cfg.Keychain = &keychain.Memory{}
	cfg.ConfigDir = t.TempDir()
	cfg.Version = "test"
	ready := make(chan string, 1)
	cfg.Ready = func(u string) { ready <- u }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg) }()
	select {
	case baseURL = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve did not stop cleanly: %v", err)
		}
	})
	return baseURL, logs
}

func sdk(baseURL, key string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(baseURL), option.WithAPIKey(key), option.WithMaxRetries(0))
}

var bashTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "Bash",
	Description: anthropic.String("Run a shell command."),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"command": map[string]any{"type": "string"}},
		Required:   []string{"command"},
	},
}}

func TestServeDemoWithTheAnthropicSDK(t *testing.T) {
	base, _ := startServe(t, app.ServeConfig{Demo: true, APIKey: "test-key"})
	client := sdk(base, "test-key")
	ctx := context.Background()

	t.Run("non-streaming", func(t *testing.T) {
		msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 256,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))},
		})
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != anthropic.StopReasonEndTurn || len(msg.Content) == 0 || !strings.Contains(msg.Content[0].Text, "hello there") {
			t.Fatalf("reply: %+v", msg)
		}
		if !strings.HasPrefix(msg.ID, "msg_") || msg.Usage.InputTokens <= 0 || msg.Usage.OutputTokens <= 0 {
			t.Fatalf("id/usage: %s %+v", msg.ID, msg.Usage)
		}
	})

	t.Run("streaming, a model name no table has seen", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
			Model: "claude-opus-7-1-20300101", MaxTokens: 256,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("what is kirotray?"))},
		})
		var msg anthropic.Message
		events := 0
		for stream.Next() {
			events++
			if err := msg.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if events < 5 || msg.Model != "claude-opus-7-1-20300101" || msg.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("%d events, message %+v", events, msg)
		}
	})

	t.Run("tool round trip over several turns", func(t *testing.T) {
		params := anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 1024,
			System:   []anthropic.TextBlockParam{{Text: "You are a coding agent."}},
			Tools:    []anthropic.ToolUnionParam{bashTool},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("list the files in this directory"))},
		}
		for turn := range 3 {
			stream := client.Messages.NewStreaming(ctx, params)
			var msg anthropic.Message
			for stream.Next() {
				if err := msg.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("turn %d: %v", turn, err)
			}
			params.Messages = append(params.Messages, msg.ToParam())
			var results []anthropic.ContentBlockParamUnion
			for _, b := range msg.Content {
				if b.Type != "tool_use" {
					continue
				}
				if !strings.HasPrefix(b.ID, "toolu_") || b.Name != "Bash" {
					t.Fatalf("turn %d: tool_use %s %s", turn, b.ID, b.Name)
				}
				var in struct{ Command string }
				if err := json.Unmarshal(b.Input, &in); err != nil || in.Command == "" {
					t.Fatalf("turn %d: tool input %s: %v", turn, b.Input, err)
				}
				results = append(results, anthropic.NewToolResultBlock(b.ID, "main.go\ngo.mod\nREADME.md", false))
			}
			if turn == 0 && msg.StopReason != anthropic.StopReasonToolUse {
				t.Fatalf("turn 0 stop_reason %q, want tool_use; content %+v", msg.StopReason, msg.Content)
			}
			if len(results) == 0 {
				if turn == 0 {
					t.Fatal("no tool call")
				}
				// The model answered the tool result: ask a follow-up.
				params.Messages = append(params.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock("now show README.md")))
				continue
			}
			params.Messages = append(params.Messages, anthropic.NewUserMessage(results...))
		}
	})

	t.Run("count_tokens agrees with reported usage", func(t *testing.T) {
		params := anthropic.MessageCountTokensParams{
			Model:    "claude-sonnet-4-5",
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(strings.Repeat("a fairly long prompt ", 200)))},
		}
		count, err := client.Messages.CountTokens(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: params.Model, MaxTokens: 64, Messages: params.Messages})
		var start int64 = -1
		for stream.Next() {
			if ev := stream.Current(); ev.Type == "message_start" {
				start = ev.Message.Usage.InputTokens
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if count.InputTokens <= 0 || start != count.InputTokens {
			t.Fatalf("count_tokens %d, message_start input_tokens %d", count.InputTokens, start)
		}
	})

	t.Run("live events over /ws", func(t *testing.T) {
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", http.Header{"X-Api-Key": {"test-key"}})
		if err != nil {
			t.Fatalf("dial /ws: %v (%v)", err, resp)
		}
		defer ws.Close()
		if _, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/ws without the key: %v", err)
		}
		if _, err := client.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "claude-haiku-4-5", MaxTokens: 32,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("a title please"))},
		}); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		var kinds []string
		for len(kinds) < 2 {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("after %v: %v", kinds, err)
			}
			if strings.Contains(string(msg), "test-key") {
				t.Fatalf("an event carries the API key: %s", msg)
			}
			var env struct {
				Type string
				Data struct {
					Kind, Model, Account string
					Status               int
					OutputTokens         int `json:"output_tokens"`
				}
			}
			if err := json.Unmarshal(msg, &env); err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, env.Data.Kind)
			if env.Data.Kind == "request_finished" && (env.Data.Model != "claude-haiku-4-5" || env.Data.Account != "demo" || env.Data.OutputTokens == 0) {
				t.Fatalf("finished event: %s", msg)
			}
		}
		if kinds[0] != "request_started" || kinds[1] != "request_finished" {
			t.Fatalf("events %v", kinds)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		bad := sdk(base, "nope")
		_, err := bad.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 16,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
		})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestCredentialsRotationAndNoLeaks runs serve against a simulated Kiro with
// a credentials file: the refresh token rotates and is written back (0600),
// and no token ever shows in a log line or a response, even on errors.
func TestCredentialsRotationAndNoLeaks(t *testing.T) {
	fake := kirofake.New(kirofake.Config{Seed: 1})
	upstream := httptest.NewServer(fake)
	defer upstream.Close()
	refresh, arn := fake.AddSocialAccount("alice")
	deadRefresh, deadARN := fake.AddSocialAccount("bob")
	fake.RevokeRefreshTokens("bob")

	dir := t.TempDir()
	credPath := filepath.Join(dir, "accounts.json")
	creds := []map[string]any{
		{"name": "bob", "authMethod": "social", "refreshToken": deadRefresh, "profileArn": deadARN, "priority": 0},
		{"name": "alice", "authMethod": "social", "refreshToken": refresh, "profileArn": arn, "priority": 1},
	}
	b, _ := json.Marshal(creds)
	if err := os.WriteFile(credPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "proxy-key-for-leak-test"
	base, logs := startServe(t, app.ServeConfig{
		APIKey: key, Credentials: credPath, KiroAPI: upstream.URL, KiroAuth: upstream.URL, OIDC: upstream.URL,
	})
	client := sdk(base, key)
	var bodies []string
	for i := range 3 {
		msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 64,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
		})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		bodies = append(bodies, msg.RawJSON())
	}
	// Bob's dead token parks him; alice served every request.
	for _, r := range fake.Requests() {
		if r.Account != "alice" || r.Status != 200 {
			t.Errorf("upstream call by %q answered %d (%s)", r.Account, r.Status, r.Detail)
		}
	}
	if !strings.Contains(logs.String(), "bob") {
		t.Error("no log line names the parked account")
	}

	// The rotated token is on disk, the old one is gone, the mode is 0600.
	st, err := os.Stat(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(credPath)
	var after []map[string]any
	if err := json.Unmarshal(raw, &after); err != nil {
		t.Fatal(err)
	}
	var rotated string
	for _, c := range after {
		if c["name"] == "alice" {
			rotated, _ = c["refreshToken"].(string)
		}
	}
	if rotated == "" || rotated == refresh {
		t.Fatalf("refresh token not rotated on disk")
	}

	// Now make requests fail in every way the client can see.
	fake.RevokeAccessTokens("alice")
	fake.RevokeRefreshTokens("alice")
	_, err = client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("with every account dead: %v", err)
	}
	bodies = append(bodies, apiErr.RawJSON(), err.Error())

	secrets := []string{refresh, rotated, deadRefresh, key}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a secret appears in the logs")
		}
		for _, body := range bodies {
			if strings.Contains(body, s) {
				t.Errorf("a secret appears in a response: %s", body)
			}
		}
	}
	// Access tokens: the fake's are opaque; none may appear after "Bearer".
	if strings.Contains(strings.ToLower(logs.String()), "bearer ") {
		t.Error("an Authorization value reached the logs")
	}
}
