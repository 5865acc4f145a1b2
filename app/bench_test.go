package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy"
	"github.com/kirotray/kirotray/proxy/anthropic/anthropictest"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/redact"
)

// BenchmarkMessagesStream sends a ~100 KB Claude-Code-like streaming request
// through the real server, middleware, converter, Kiro request builder,
// client, decoder and translator, against an upstream that writes
// pre-encoded event-stream frames. Its CPU per op is an upper bound of the
// proxy's own cost: it also counts the client and the canned upstream (the
// load command, TestLoad, measures the proxy process alone).
func BenchmarkMessagesStream(b *testing.B) {
	t := &testing.T{}
	up := newCannedUpstream(t)
	defer up.close()
	accounts, err := app.NewAccountsFromFile(up.credentials, app.AccountsOptions{AuthBase: up.url, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer accounts.Close()
	client := kiro.New(kiro.Config{BaseURL: up.url, Accounts: accounts, Logger: slog.New(slog.DiscardHandler)})
	srv, err := proxy.New(proxy.Config{
		APIKey: redact.Secret("k"), Backend: app.Backend{Client: client},
		Window: func(m string) int { return kiro.MapModel(m).Window }, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	body := anthropictest.ClaudeCodeRequest(9)
	hc := ts.Client()
	do := func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("x-api-key", "k")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n < 1000 {
			b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
	}
	do()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		do()
	}
}
