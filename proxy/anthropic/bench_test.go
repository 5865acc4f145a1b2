package anthropic

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kirotray/kirotray/proxy/anthropic/anthropictest"
	"github.com/kirotray/kirotray/proxy/conv"
)

// BenchmarkParseRequest parses a ~100 KB Claude Code body and converts it,
// as the handler does before sending: parse, ToConv, EstimateTokens.
func BenchmarkParseRequest(b *testing.B) {
	body := anthropictest.ClaudeCodeRequest(9)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := ParseRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		cr := req.ToConv()
		if conv.EstimateTokens(cr) == 0 {
			b.Fatal("no tokens")
		}
	}
}

// BenchmarkMessagesHandler is the proxy's whole share of a Claude Code turn
// except the Kiro request building: read and parse a ~100 KB body, convert,
// estimate, then translate a typical 100-event answer to flushed SSE.
func BenchmarkMessagesHandler(b *testing.B) {
	body := anthropictest.ClaudeCodeRequest(9)
	events := typicalStream()
	h := &Handler{
		Backend: backendFunc(func() Stream { return &fakeStream{ctx: b.Context(), events: events} }),
		Logger:  slog.New(slog.DiscardHandler),
		NewID:   func() string { return "msg_bench" },
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/messages?beta=true", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.Messages(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

type backendFunc func() Stream

func (f backendFunc) Send(context.Context, *conv.Request) (Stream, error) { return f(), nil }
