package kirofake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentStreams runs 256 demo streams at once, half with tool calls,
// with a small chunk delay so that they really overlap.
func TestConcurrentStreams(t *testing.T) {
	const n = 256
	f := newFake(t, Config{ChunkDelay: time.Millisecond})
	token := f.socialToken("work")
	listBody := simpleBody("list the files").withTools(claudeCodeTools...).bytes()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b := listBody
			if i%2 == 1 {
				b = simpleBody(fmt.Sprintf("question %d", i)).bytes()
			}
			resp, err := f.client.Do(f.chatRequest(t, token, b))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			d := decodeStream(t, resp.Body)
			switch {
			case d.err != nil:
				errs <- d.err
			case i%2 == 0 && len(d.toolCalls()) != 1:
				errs <- fmt.Errorf("stream %d: %d tool calls", i, len(d.toolCalls()))
			case i%2 == 1 && !strings.Contains(d.text(), fmt.Sprintf("question %d", i)):
				errs <- fmt.Errorf("stream %d: text %q", i, d.text())
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if u := f.Usage("work"); u.Streams != n {
		t.Errorf("%d streams counted, want %d", u.Streams, n)
	}
}

// claudeCodeBody is a ~40 KB conversation shaped like Claude Code's: a long
// system pair, tool rounds in history and the full tool set.
func claudeCodeBody(rounds int) []byte {
	b := simpleBody("").withTools(claudeCodeTools...)
	history := []any{
		map[string]any{"userInputMessage": map[string]any{"content": strings.Repeat("You are a coding agent. ", 500), "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}},
		map[string]any{"assistantResponseMessage": map[string]any{"content": "I will follow these instructions."}},
	}
	prev := ""
	for r := range rounds {
		user := map[string]any{"content": "Look at the code.", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}
		if prev != "" {
			user["content"] = ""
			user["userInputMessageContext"] = map[string]any{"toolResults": []any{map[string]any{
				"toolUseId": prev, "status": "success", "content": []any{map[string]any{"text": strings.Repeat("func main() {}\n", 100)}}}}}
		}
		prev = fmt.Sprintf("toolu_%02d", r)
		history = append(history, map[string]any{"userInputMessage": user}, map[string]any{"assistantResponseMessage": map[string]any{
			"content": "Reading it.", "toolUses": []any{map[string]any{"toolUseId": prev, "name": "Read", "input": map[string]any{"file_path": "main.go"}}}}})
	}
	b.set("conversationState.history", history)
	b.set(ctx+".toolResults", []any{map[string]any{"toolUseId": prev, "status": "success", "content": []any{map[string]any{"text": "package main"}}}})
	return b.bytes()
}

// BenchmarkServeHTTP measures the fake's own cost per demo call (validation,
// brain, encoding, writing), without a network.
func BenchmarkServeHTTP(b *testing.B) {
	s := New(Config{MaxRecorded: -1})
	s.AddSocialAccount("work")
	token := s.IssueAccessToken("work")
	body := claudeCodeBody(10)
	if !json.Valid(body) {
		b.Fatal("invalid body")
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/generateAssistantResponse", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-amz-user-agent", "aws-sdk-js/1.0.34 KiroIDE-0.11.107-"+machineID)
		req.Header.Set("amz-sdk-invocation-id", "5b0e6c4a-8d2f-4f0e-a8a1-0c9d7e6b5a43")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkChatLoopback is a whole call over loopback, decoded as the proxy decodes it.
func BenchmarkChatLoopback(b *testing.B) {
	f := newFake(b, Config{MaxRecorded: -1})
	token := f.socialToken("work")
	body := claudeCodeBody(10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := f.client.Do(f.chatRequest(b, token, body))
			if err != nil {
				b.Error(err)
				return
			}
			if d := decodeStream(b, resp.Body); d.err != nil || len(d.events) == 0 {
				b.Errorf("stream: %v", d.err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
