package relay

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
)

// BenchmarkStream is the relay's share of a streamed answer of 100 text
// events: translate, encode, write and flush through the stream writer.
func BenchmarkStream(b *testing.B) {
	events := make([]kiro.Event, 100)
	for i := range events {
		events[i] = kiro.Text{Content: " in the proxy → handler, "}
	}
	rl := &Relay{Logger: slog.New(slog.DiscardHandler)}
	b.ReportAllocs()
	for b.Loop() {
		g := &gated{events: events, release: make(chan struct{}), closed: make(chan struct{})}
		close(g.release)
		rl.Backend = g
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		w := httptest.NewRecorder()
		c := rl.NewCall(r, "bench", "id_")
		if err := rl.Send(r.Context(), c, &conv.Request{Model: "m"}, anthropic.TranslatorOptions{Model: "m"}); err != nil {
			b.Fatal(err)
		}
		if err := rl.Stream(w, c, "text/event-stream", lines{}); err != nil {
			b.Fatal(err)
		}
	}
}
