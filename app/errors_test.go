package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy/kirofake"
)

// TestUpstreamFailuresReachTheClientInItsOwnFormat drives every failure the
// simulated Kiro can produce through the whole path (SDK → server → Kiro
// client with retries → kirofake) and checks what the official SDK sees.
func TestUpstreamFailuresReachTheClientInItsOwnFormat(t *testing.T) {
	fake := kirofake.New(kirofake.Config{Seed: 2, MaxBodyBytes: 4000})
	upstream := httptest.NewServer(fake)
	defer upstream.Close()
	refresh, arn := fake.AddSocialAccount("solo")
	credPath := filepath.Join(t.TempDir(), "accounts.json")
	b, _ := json.Marshal([]map[string]any{{"name": "solo", "authMethod": "social", "refreshToken": refresh, "profileArn": arn}})
	if err := os.WriteFile(credPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startServe(t, app.ServeConfig{APIKey: "k", Credentials: credPath, KiroAPI: upstream.URL, KiroAuth: upstream.URL})
	client := sdk(base, "k")
	small := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}}

	statusOf := func(t *testing.T, err error) (int, string, string) {
		t.Helper()
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("not an API error: %v", err)
		}
		var body struct {
			Type  string
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal([]byte(apiErr.RawJSON()), &body); err != nil || body.Type != "error" {
			t.Fatalf("not Anthropic error JSON: %s", apiErr.RawJSON())
		}
		return apiErr.StatusCode, body.Error.Type, body.Error.Message
	}

	t.Run("throttled on every attempt", func(t *testing.T) {
		fake.SetFault(kirofake.Throttled())
		defer fake.SetFault(kirofake.Fault{})
		_, err := client.Messages.New(context.Background(), small)
		if status, kind, _ := statusOf(t, err); status != http.StatusTooManyRequests || kind != "rate_limit_error" {
			t.Fatalf("got %d %s", status, kind)
		}
	})
	t.Run("upstream 5xx on every attempt", func(t *testing.T) {
		fake.SetFault(kirofake.InternalError())
		defer fake.SetFault(kirofake.Fault{})
		_, err := client.Messages.New(context.Background(), small)
		if status, kind, _ := statusOf(t, err); status != 529 || kind != "overloaded_error" {
			t.Fatalf("got %d %s", status, kind)
		}
	})
	t.Run("one 429 then success is retried before the first byte", func(t *testing.T) {
		fake.Enqueue(kirofake.Reply{Fault: kirofake.Throttled()})
		msg, err := client.Messages.New(context.Background(), small)
		if err != nil || msg.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("err %v, message %+v", err, msg)
		}
	})
	t.Run("prompt too long makes Claude Code compact", func(t *testing.T) {
		long := small
		long.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(strings.Repeat("many words ", 800)))}
		_, err := client.Messages.New(context.Background(), long)
		status, kind, msg := statusOf(t, err)
		if status != http.StatusBadRequest || kind != "invalid_request_error" || !strings.HasPrefix(msg, "prompt is too long: ") {
			t.Fatalf("got %d %s %q", status, kind, msg)
		}
	})
	t.Run("stream cut mid-way ends with an SSE error event", func(t *testing.T) {
		fake.Enqueue(kirofake.Reply{Fault: kirofake.Fault{CutAfterFrames: 3}, Events: []kirofake.Event{
			kirofake.Text("one "), kirofake.Text("two "), kirofake.Text("three "), kirofake.Text("four "), kirofake.Text("five"),
		}})
		params := small
		stream := client.Messages.NewStreaming(context.Background(), params)
		var acc anthropic.Message
		events := 0
		for stream.Next() {
			events++
			_ = acc.Accumulate(stream.Current())
		}
		if stream.Err() == nil || events == 0 {
			t.Fatalf("a cut stream ended without an error (%d events)", events)
		}
	})
	t.Run("bad JSON from the client", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(`{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[}`))
		req.Header.Set("x-api-key", "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error struct{ Type, Message string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != 400 || body.Error.Type != "invalid_request_error" || !strings.Contains(body.Error.Message, "JSON") {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
}
