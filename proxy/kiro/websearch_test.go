package kiro

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/conv"
)

func searchRequest(query string) *conv.Request {
	return &conv.Request{Model: "claude-sonnet-4-5", ConversationID: "conv-7",
		Messages:  []conv.Message{user(text("Perform a web search for the query: " + query))},
		WebSearch: &conv.WebSearch{Query: query}}
}

// mcpAnswer writes a JSON-RPC result whose text holds results.
func mcpAnswer(w http.ResponseWriter, results any) {
	text, _ := json.Marshal(map[string]any{"results": results, "totalResults": 2, "query": "q", "error": nil})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": "x",
		"result": map[string]any{"content": []any{map[string]any{"type": "text", "text": string(text)}}, "isError": false}})
}

func TestWebSearch(t *testing.T) {
	published := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mcpAnswer(w, []map[string]any{
			{"title": "Generics", "url": "https://go.dev/doc/generics", "snippet": "Type parameters.", "publishedDate": published.UnixMilli(), "id": "1", "domain": "go.dev"},
			{"title": "Blocked", "url": "https://spam.example.com/x", "snippet": "no"},
			{"title": "No URL"},
		})
	})
	acct := newAccount("work", "secret-access-token-0123456789abcdef")
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{acct}}, Config{})
	req := searchRequest("golang generics")
	req.WebSearch.BlockedDomains = []string{"example.com"}
	st, err := c.Send(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs := drain(t, st)
	want := WebSearchResults{Query: "golang generics", Results: []WebResult{
		{Title: "Generics", URL: "https://go.dev/doc/generics", Snippet: "Type parameters.", Published: published}}}
	if len(evs) != 1 {
		t.Fatalf("events %v", evs)
	}
	got, ok := evs[0].(WebSearchResults)
	if !ok || got.Query != want.Query || len(got.Results) != 1 || got.Results[0] != want.Results[0] {
		t.Errorf("got %+v, want %+v", evs[0], want)
	}
	if st.Account() != "work" {
		t.Errorf("account %q", st.Account())
	}

	reqs := up.requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/mcp" {
		t.Fatalf("requests %+v", reqs)
	}
	h := reqs[0].Header
	if h.Get("Authorization") != "Bearer secret-access-token-0123456789abcdef" || h.Get("Content-Type") != "application/json" ||
		h.Get("X-Amzn-Kiro-Profile-Arn") != acct.arn || h.Get("X-Amz-User-Agent") == "" {
		t.Errorf("headers %v", h)
	}
	var body struct {
		ID, JSONRPC, Method string
		Params              struct {
			Name      string
			Arguments map[string]string
		}
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.JSONRPC != "2.0" || body.Method != "tools/call" || body.Params.Name != "web_search" ||
		body.Params.Arguments["query"] != "golang generics" || len(body.ID) < len("web_search_tooluse_") {
		t.Errorf("body %s", reqs[0].Body)
	}
	if len(acct.reportStatuses()) != 0 {
		t.Errorf("a search reported to the account: %v", acct.reportStatuses())
	}
}

func TestWebSearchFailures(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter)
		calls   int // upstream calls made (two accounts)
		wantSub string
	}{
		{"no such endpoint", func(w http.ResponseWriter) { writeError(w, http.StatusNotFound, "", "Unknown operation") }, 1, "status 404"},
		{"json-rpc error", func(w http.ResponseWriter) {
			json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": "x", "error": map[string]any{"code": -32601, "message": "Method not found"}})
		}, 1, "Method not found"},
		{"tool error", func(w http.ResponseWriter) {
			json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": "x",
				"result": map[string]any{"isError": true, "content": []any{map[string]any{"type": "text", "text": "quota"}}}})
		}, 1, "tool error: quota"},
		{"not JSON", func(w http.ResponseWriter) { w.Write([]byte("<html>")) }, 1, "unreadable answer"},
		{"busy: next account", func(w http.ResponseWriter) { writeError(w, http.StatusServiceUnavailable, "", "high load") }, 2, "status 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) { tt.answer(w) })
			c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a"), newAccount("b")}}, Config{})
			_, err := c.Send(t.Context(), searchRequest("q"))
			if !errors.Is(err, ErrWebSearch) || !strings.Contains(err.Error(), tt.wantSub) {
				t.Errorf("err %v, want ErrWebSearch with %q", err, tt.wantSub)
			}
			if n := len(up.requests()); n != tt.calls {
				t.Errorf("%d calls, want %d", n, tt.calls)
			}
		})
	}

	t.Run("refused token is refreshed once", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if r.Header.Get("Authorization") == "Bearer old-token-0123456789abcdef" {
				writeError(w, http.StatusForbidden, "", "The bearer token included in the request is invalid.")
				return
			}
			mcpAnswer(w, []any{})
		})
		acct := newAccount("a", "old-token-0123456789abcdef", "new-token-0123456789abcdef")
		c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{acct}}, Config{})
		st, err := c.Send(t.Context(), searchRequest("q"))
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		if n := len(up.requests()); n != 2 {
			t.Errorf("%d calls", n)
		}
	})
	t.Run("empty query", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {})
		c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
		if _, err := c.Send(t.Context(), searchRequest(" ")); !errors.Is(err, ErrWebSearch) {
			t.Errorf("err %v", err)
		}
	})
}

func TestFilterDomains(t *testing.T) {
	rs := []WebResult{{URL: "https://go.dev/a"}, {URL: "https://www.example.com/b"}, {URL: "https://blog.example.org/c"}, {URL: "::bad"}}
	urls := func(rs []WebResult) (out []string) {
		for _, r := range rs {
			out = append(out, r.URL)
		}
		return out
	}
	if got := urls(filterDomains(rs, []string{"example.com", "https://example.org/"}, nil)); len(got) != 2 || got[0] != "https://www.example.com/b" {
		t.Errorf("allowed: %v", got)
	}
	// Unparseable addresses go too: their domain cannot be checked.
	if got := urls(filterDomains(rs, nil, []string{"www.example.com"})); len(got) != 2 || got[1] != "https://blog.example.org/c" {
		t.Errorf("blocked: %v", got)
	}
	if got := filterDomains(rs, nil, nil); len(got) != 4 {
		t.Errorf("no filter: %d", len(got))
	}
}
