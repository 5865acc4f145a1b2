package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/kirotray/kirotray/proxy/anthropic/anthropictest"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
)

// The recorded Claude Code requests, parsed.
func TestClaudeCodeFixturesParse(t *testing.T) {
	t.Run("main", func(t *testing.T) {
		req, err := ParseRequest(anthropictest.Fixture(anthropictest.ClaudeCodeMain))
		if err != nil {
			t.Fatal(err)
		}
		c := req.ToConv()
		if !req.Stream || !req.ThinkingRequested() || c.Thinking != (conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: "high"}) {
			t.Errorf("stream %v thinking %+v", req.Stream, c.Thinking)
		}
		if c.ConversationID != anthropictest.ClaudeCodeSession || len(c.Tools) != 25 || c.WebSearch != nil || c.OutputSchema != nil {
			t.Errorf("conversation %q, %d tools, web search %v, schema %s", c.ConversationID, len(c.Tools), c.WebSearch, c.OutputSchema)
		}
		if strings.Contains(c.System, "x-anthropic-billing-header") || !strings.HasPrefix(c.System, "You are a Claude agent") {
			t.Errorf("system starts %q", c.System[:80])
		}
		// The system-role message stays in place, as a marked user turn.
		if len(c.Messages) != 2 || c.Messages[1].Role != conv.User ||
			!strings.HasPrefix(c.Messages[1].Content[0].Text, "<system-reminder>\nAvailable agent types") {
			t.Errorf("messages %+v", c.Messages)
		}
	})
	t.Run("resume with thinking in history", func(t *testing.T) {
		req, err := ParseRequest(anthropictest.Fixture(anthropictest.ClaudeCodeResume))
		if err != nil {
			t.Fatal(err)
		}
		c := req.ToConv()
		roles := ""
		reasoning := 0
		for _, m := range c.Messages {
			roles += string(m.Role)[:1]
			for _, b := range m.Content {
				if b.Type == conv.Reasoning {
					reasoning++
					if b.Text == "" || b.Signature != "" {
						t.Errorf("thinking block %+v", b)
					}
				}
			}
		}
		if roles != "uuauau" || reasoning != 2 {
			t.Errorf("roles %s, %d thinking blocks", roles, reasoning)
		}
	})
	t.Run("title", func(t *testing.T) {
		req, err := ParseRequest(anthropictest.Fixture(anthropictest.ClaudeCodeTitle))
		if err != nil {
			t.Fatal(err)
		}
		c := req.ToConv()
		if req.ThinkingRequested() || !json.Valid(c.OutputSchema) || !strings.Contains(string(c.OutputSchema), `"title"`) {
			t.Errorf("thinking %v schema %s", req.ThinkingRequested(), c.OutputSchema)
		}
	})
	t.Run("web search", func(t *testing.T) {
		req, err := ParseRequest(anthropictest.Fixture(anthropictest.ClaudeCodeWebSearch))
		if err != nil {
			t.Fatal(err)
		}
		c := req.ToConv()
		if c.WebSearch == nil || c.WebSearch.Query != "TODO" || len(c.Tools) != 0 {
			t.Errorf("web search %+v, tools %v", c.WebSearch, c.Tools)
		}
	})
	t.Run("1m model names", func(t *testing.T) {
		for _, model := range []string{"claude-opus-4-8[1m]", "claude-sonnet-4-5-20250929[1m]", "claude-sonnet-4-5-thinking[1m]"} {
			req, err := ParseRequest(anthropictest.FixtureWith(anthropictest.ClaudeCodeMain, map[string]any{"model": model, "thinking": nil}))
			if err != nil {
				t.Fatal(err)
			}
			if c := req.ToConv(); c.Model != model {
				t.Errorf("model %q", c.Model)
			}
			if got, want := req.ThinkingRequested(), strings.Contains(model, "thinking"); got != want {
				t.Errorf("%s: thinking %v", model, got)
			}
		}
	})
}

func TestParseWebSearchAndFormats(t *testing.T) {
	req, err := ParseRequest([]byte(`{"model":"m","max_tokens":10,
		"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3,"allowed_domains":["go.dev"],"blocked_domains":null,
			"user_location":{"type":"approximate","city":"Paris"}}],
		"output_format":{"type":"json_schema","schema":{"type":"object"}},
		"messages":[{"role":"user","content":"Perform a web search for the query: go 1.26 release"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := req.ToConv()
	if c.WebSearch == nil || c.WebSearch.Query != "go 1.26 release" || len(c.WebSearch.AllowedDomains) != 1 || string(c.OutputSchema) != `{"type":"object"}` {
		t.Errorf("got %+v %s", c.WebSearch, c.OutputSchema)
	}
	// Other formats are left alone.
	req, err = ParseRequest([]byte(`{"model":"m","max_tokens":10,"output_config":{"format":{"type":"text"}},"messages":[{"role":"user","content":"x"}]}`))
	if err != nil || req.OutputSchema != nil {
		t.Errorf("err %v schema %s", err, req.OutputSchema)
	}
}

func TestTooManyImagesInTheLastMessage(t *testing.T) {
	img := `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}`
	blocks := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = img
		}
		return strings.Join(parts, ",")
	}
	body := func(n int) []byte {
		return []byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[` + blocks(n) + `]}]}`)
	}
	for n, wantErr := range map[int]bool{kiro.MaxImages: false, kiro.MaxImages + 1: true} {
		req, err := ParseRequest(body(n))
		if err != nil {
			t.Fatal(err)
		}
		err = req.checkImages(DefaultMaxImageBytes)
		if (err != nil) != wantErr || wantErr && !strings.Contains(err.Error(), "too many images: 21, the upstream accepts at most 20") {
			t.Errorf("%d images: %v", n, err)
		}
	}
	// Older messages may hold more: proxy/kiro leaves the oldest out.
	req, _ := ParseRequest([]byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[` + blocks(30) + `]},
		{"role":"assistant","content":"ok"},{"role":"user","content":"and?"}]}`))
	if err := req.checkImages(DefaultMaxImageBytes); err != nil {
		t.Errorf("history images: %v", err)
	}
}

// A thinking answer cut into chunks at every possible place, in two and in
// three pieces, gives the same thinking and the same text: no tag or part of
// a tag ever reaches the text.
func TestThinkingNeverLeaks(t *testing.T) {
	const answer = "\n<thinking>\nThe user wants `</thinking>` explained.\nPlan: say hi.\n</thinking>\n\nHi there! <thinking> is a tag."
	const wantThinking = "The user wants `</thinking>` explained.\nPlan: say hi."
	const wantText = "Hi there! <thinking> is a tag."
	check := func(t *testing.T, chunks []string) {
		t.Helper()
		var evs []kiro.Event
		for _, c := range chunks {
			evs = append(evs, kiro.Text{Content: c})
		}
		out := run(TranslatorOptions{Thinking: true}, evs...)
		checkGrammar(t, out)
		m := fold(out)
		if got := kinds(m); got != "thinking:"+wantThinking+"|text:"+wantText {
			t.Fatalf("chunks %q:\n got %q", chunks, got)
		}
	}
	for i := 1; i < len(answer); i++ {
		check(t, []string{answer[:i], answer[i:]})
		for j := i + 1; j < len(answer); j += 3 {
			check(t, []string{answer[:i], answer[i:j], answer[j:]})
		}
	}
	// One byte per chunk.
	var bytewise []string
	for i := range len(answer) {
		bytewise = append(bytewise, answer[i:i+1])
	}
	check(t, bytewise)
}

func TestTranslatorWebSearch(t *testing.T) {
	ev := kiro.WebSearchResults{Query: "go generics", Results: []kiro.WebResult{
		{Title: "Generics", URL: "https://go.dev/doc/generics", Snippet: "Type\nparameters.", Published: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)},
		{Title: "Tour", URL: "https://go.dev/tour"},
	}}
	out := run(TranslatorOptions{MessageID: "msg_ws"}, ev)
	checkGrammar(t, out)
	m := fold(out)
	if len(m.Content) != 3 || m.Content[0].Type != ServerToolUseBlock || m.Content[1].Type != WebSearchToolResultBlock || m.Content[2].Type != TextBlock {
		t.Fatalf("content %s", m.AppendJSON(nil))
	}
	if m.Content[0].ID != "srvtoolu_ws_0" || m.Content[0].Name != "web_search" || m.Content[0].Input != `{"query":"go generics"}` || m.Content[1].ID != m.Content[0].ID {
		t.Errorf("blocks %+v", m.Content[:2])
	}
	want := `[{"type":"web_search_result","title":"Generics","url":"https://go.dev/doc/generics","encrypted_content":"Type\nparameters.","page_age":"March 4, 2026"},` +
		`{"type":"web_search_result","title":"Tour","url":"https://go.dev/tour","encrypted_content":"","page_age":null}]`
	if m.Content[1].Input != want {
		t.Errorf("results\n got %s\nwant %s", m.Content[1].Input, want)
	}
	if !strings.Contains(m.Content[2].Text, "1. Generics\n   https://go.dev/doc/generics (March 4, 2026)\n   Type parameters.") {
		t.Errorf("summary %q", m.Content[2].Text)
	}
	if m.StopReason != StopEndTurn || m.Usage.WebSearchRequests != 1 {
		t.Errorf("stop %q usage %+v", m.StopReason, m.Usage)
	}
	if js := string(m.AppendJSON(nil)); !json.Valid([]byte(js)) || !strings.Contains(js, `"server_tool_use":{"web_search_requests":1}`) {
		t.Errorf("message JSON %s", js)
	}
	empty := fold(run(TranslatorOptions{}, kiro.WebSearchResults{Query: "nothing"}))
	if len(empty.Content) != 3 || !strings.Contains(empty.Content[2].Text, "found no results") {
		t.Errorf("no results: %s", empty.AppendJSON(nil))
	}
}

func TestTranslatorJSONOutput(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"title":"Fix the build"}`, `{"title":"Fix the build"}`},
		{"```json\n{\"title\": \"Fix\"}\n```", `{"title": "Fix"}`},
		{`Sure! Here it is: {"title":"A {b} c"} Hope that helps.`, `{"title":"A {b} c"}`},
		{`["a","b"]`, `["a","b"]`},
		{`no json here`, `no json here`},
	} {
		// Split in small chunks, as Kiro streams.
		var evs []kiro.Event
		for i := 0; i < len(tt.in); i += 5 {
			evs = append(evs, kiro.Text{Content: tt.in[i:min(i+5, len(tt.in))]})
		}
		m := fold(run(TranslatorOptions{JSONOutput: true}, evs...))
		if got := kinds(m); got != "text:"+tt.want {
			t.Errorf("%q: got %q", tt.in, got)
		}
	}
}

func TestTranslatorNotice(t *testing.T) {
	out := run(TranslatorOptions{Notice: "Web search is not available."}, kiro.Text{Content: "From memory: …"})
	checkGrammar(t, out)
	if got := kinds(fold(out)); got != "text:Web search is not available.\n\nFrom memory: …" {
		t.Errorf("got %q", got)
	}
}

// postFixture sends a recorded body as Claude Code does (to ?beta=true,
// with its headers) through the official SDK, and accumulates the stream.
func postFixture(t *testing.T, client sdk.Client, body []byte) (*sdk.BetaMessage, *http.Response, error) {
	t.Helper()
	var resp *http.Response
	stream := client.Beta.Messages.NewStreaming(t.Context(), sdk.BetaMessageNewParams{},
		option.WithRequestBody("application/json", body), option.WithResponseInto(&resp),
		option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			anthropictest.ClaudeCodeHeaders(r.Header)
			r.URL.RawQuery = "beta=true" // this SDK version leaves it out
			return next(r)
		}))
	defer stream.Close()
	var msg sdk.BetaMessage
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	return &msg, resp, stream.Err()
}

func TestClaudeCodeThroughTheHandler(t *testing.T) {
	thinkingAnswer := []kiro.Event{kiro.Text{Content: "<thin"}, kiro.Text{Content: "king>\nThe user says hi.\n</thi"},
		kiro.Text{Content: "nking>\n\nHi!"}, kiro.ContextUsage{Percent: 2.5}}

	t.Run("main: adaptive thinking", func(t *testing.T) {
		b := &fakeBackend{scripts: []script{{events: thinkingAnswer}}}
		_, client := serve(t, newHandler(b))
		msg, _, err := postFixture(t, client, anthropictest.Fixture(anthropictest.ClaudeCodeMain))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Thinking != "The user says hi." ||
			msg.Content[1].Type != "text" || msg.Content[1].Text != "Hi!" {
			t.Fatalf("content %s", msg.RawJSON())
		}
		// contextUsage × the default window; both cache fields present.
		if msg.Usage.InputTokens != 5000 || msg.Usage.OutputTokens <= 0 || !strings.Contains(msg.RawJSON(), `"cache_read_input_tokens":0`) {
			t.Errorf("usage %s", msg.Usage.RawJSON())
		}
		if string(msg.Model) != "claude-opus-4-8" {
			t.Errorf("model %q", msg.Model)
		}
	})
	t.Run("resume: thinking in history accepted", func(t *testing.T) {
		b := &fakeBackend{scripts: []script{{events: thinkingAnswer}}}
		_, client := serve(t, newHandler(b))
		if _, _, err := postFixture(t, client, anthropictest.Fixture(anthropictest.ClaudeCodeResume)); err != nil {
			t.Fatal(err)
		}
		sent := b.requests()[0]
		if sent.Messages[2].Content[0].Type != conv.Reasoning {
			t.Errorf("assistant history %+v", sent.Messages[2].Content)
		}
	})
	t.Run("title: a JSON answer", func(t *testing.T) {
		b := &fakeBackend{scripts: []script{{events: []kiro.Event{kiro.Text{Content: "```json\n{\"title\":"}, kiro.Text{Content: "\"Say hi\"}\n```"}}}}}
		_, client := serve(t, newHandler(b))
		msg, _, err := postFixture(t, client, anthropictest.Fixture(anthropictest.ClaudeCodeTitle))
		if err != nil {
			t.Fatal(err)
		}
		var title struct{ Title string }
		if len(msg.Content) != 1 || json.Unmarshal([]byte(msg.Content[0].Text), &title) != nil || title.Title != "Say hi" {
			t.Errorf("content %s", msg.RawJSON())
		}
		if b.requests()[0].OutputSchema == nil {
			t.Error("schema not passed on")
		}
	})
	t.Run("web search served", func(t *testing.T) {
		b := &fakeBackend{scripts: []script{{events: []kiro.Event{kiro.WebSearchResults{Query: "TODO",
			Results: []kiro.WebResult{{Title: "A", URL: "https://a.example/1", Snippet: "about A"}}}}}}}
		_, client := serve(t, newHandler(b))
		msg, _, err := postFixture(t, client, anthropictest.Fixture(anthropictest.ClaudeCodeWebSearch))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 3 || msg.Content[0].Type != "server_tool_use" || msg.Content[1].Type != "web_search_tool_result" ||
			msg.Usage.ServerToolUse.WebSearchRequests != 1 {
			t.Fatalf("content %s", msg.RawJSON())
		}
		results := msg.Content[1].Content.OfBetaWebSearchResultBlockArray
		if len(results) != 1 || results[0].URL != "https://a.example/1" || results[0].Title != "A" {
			t.Errorf("results %s", msg.Content[1].RawJSON())
		}
		if sent := b.requests()[0]; sent.WebSearch == nil || sent.WebSearch.Query != "TODO" {
			t.Errorf("sent %+v", sent.WebSearch)
		}
		// The same, not streamed.
		whole, err := client.Beta.Messages.New(t.Context(), sdk.BetaMessageNewParams{}, option.WithRequestBody("application/json",
			anthropictest.FixtureWith(anthropictest.ClaudeCodeWebSearch, map[string]any{"stream": false})))
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.Content) != 3 || whole.Content[1].Content.OfBetaWebSearchResultBlockArray[0].URL != "https://a.example/1" ||
			whole.Usage.ServerToolUse.WebSearchRequests != 1 {
			t.Errorf("non-streaming %s", whole.RawJSON())
		}
	})
	t.Run("web search unavailable: answered without it", func(t *testing.T) {
		b := &fakeBackend{scripts: []script{
			{err: errors.Join(kiro.ErrWebSearch, &kiro.UpstreamError{Status: http.StatusNotFound})},
			{events: []kiro.Event{kiro.Text{Content: "I cannot search."}}},
		}}
		_, client := serve(t, newHandler(b))
		msg, _, err := postFixture(t, client, anthropictest.Fixture(anthropictest.ClaudeCodeWebSearch))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || !strings.HasPrefix(msg.Content[0].Text, "Web search is not available right now (the upstream has no search service)") ||
			!strings.HasSuffix(msg.Content[0].Text, "I cannot search.") || msg.StopReason != "end_turn" {
			t.Errorf("content %s", msg.RawJSON())
		}
		reqs := b.requests()
		if len(reqs) != 2 || reqs[1].WebSearch != nil || !strings.HasSuffix(reqs[1].System, WebSearchUnavailable) {
			t.Errorf("fallback request %+v", reqs[len(reqs)-1])
		}
	})
	t.Run("count_tokens agrees with message_start", func(t *testing.T) {
		b := &fakeBackend{scripts: []script{{events: thinkingAnswer}}}
		srv, client := serve(t, newHandler(b))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages/count_tokens?beta=true",
			strings.NewReader(string(anthropictest.CountTokensBody(anthropictest.ClaudeCodeMain))))
		anthropictest.ClaudeCodeHeaders(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var count struct {
			InputTokens int `json:"input_tokens"`
		}
		json.NewDecoder(resp.Body).Decode(&count)
		resp.Body.Close()
		var start int64
		stream := client.Beta.Messages.NewStreaming(t.Context(), sdk.BetaMessageNewParams{},
			option.WithRequestBody("application/json", anthropictest.Fixture(anthropictest.ClaudeCodeMain)))
		for stream.Next() {
			if ev := stream.Current(); ev.Type == "message_start" {
				start = ev.Message.Usage.InputTokens
			}
		}
		stream.Close()
		if count.InputTokens < 15_000 || int64(count.InputTokens) != start {
			t.Errorf("count_tokens %d, message_start %d", count.InputTokens, start)
		}
	})
	t.Run("quota probe", func(t *testing.T) {
		b := &fakeBackend{scripts: []script{{events: []kiro.Event{kiro.Text{Content: "Hello, I am"}, kiro.Text{Content: " here."}}}}}
		_, client := serve(t, newHandler(b))
		msg, err := client.Beta.Messages.New(t.Context(), sdk.BetaMessageNewParams{}, option.WithRequestBody("application/json", anthropictest.QuotaProbe()))
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "max_tokens" || msg.Usage.OutputTokens != 1 || len(msg.Content) != 1 || msg.Content[0].Text != "Hell" {
			t.Errorf("probe answer %s", msg.RawJSON())
		}
	})
}

func TestPromptOverTheWindowIsRefusedBeforeSending(t *testing.T) {
	b := &fakeBackend{scripts: []script{{events: []kiro.Event{kiro.Text{Content: "never"}}}}}
	h := newHandler(b)
	h.Window = func(string) int { return 10_000 }
	_, client := serve(t, h)
	_, err := client.Messages.New(t.Context(), sdk.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 10,
		Messages: userText(strings.Repeat("word ", 20_000))})
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.RawJSON(), `"prompt is too long: 25004 tokens > 10000 maximum"`) {
		t.Fatalf("err %v", err)
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("%d upstream calls", n)
	}
}

// trimmedBackend's streams say the backend left messages out.
type trimmedBackend struct{ *fakeBackend }

func (b trimmedBackend) Send(ctx context.Context, req *conv.Request) (Stream, error) {
	s, err := b.fakeBackend.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	return trimmedStream{s}, nil
}

type trimmedStream struct{ Stream }

func (trimmedStream) Trimmed() int { return 12 }

func TestTrimmedHeader(t *testing.T) {
	b := &fakeBackend{scripts: []script{{events: []kiro.Event{kiro.Text{Content: "ok"}}}}}
	_, client := serve(t, newHandler(trimmedBackend{b}))
	for _, stream := range []bool{false, true} {
		var resp *http.Response
		params := sdk.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 10, Messages: userText("hi")}
		if stream {
			s := client.Messages.NewStreaming(t.Context(), params, option.WithResponseInto(&resp))
			for s.Next() {
			}
			s.Close()
		} else if _, err := client.Messages.New(t.Context(), params, option.WithResponseInto(&resp)); err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get(TrimmedHeader); got != "12" {
			t.Errorf("stream %v: %s = %q", stream, TrimmedHeader, got)
		}
	}
}

func TestWhenASearchIsRunDirectly(t *testing.T) {
	search := `{"type":"web_search_20250305","name":"web_search"}`
	bash := `{"name":"Bash","input_schema":{"type":"object"}}`
	one := `[{"role":"user","content":"Perform a web search for the query: q"}]`
	three := `[{"role":"user","content":"find q"},{"role":"assistant","content":"Found it."},{"role":"user","content":"thanks, and r?"}]`
	for _, tt := range []struct {
		tools, choice, msgs string
		direct, note        bool
	}{
		{search, ``, one, true, false},
		{search, `,"tool_choice":{"type":"tool","name":"web_search"}`, three, true, false},
		{search, `,"tool_choice":{"type":"tool","name":"other"}`, one, false, true},
		{search, ``, three, false, true},
		{search + "," + bash, ``, one, false, true},
		{bash, ``, one, false, false},
	} {
		req, err := ParseRequest([]byte(`{"model":"m","max_tokens":10,"tools":[` + tt.tools + `]` + tt.choice + `,"messages":` + tt.msgs + `}`))
		if err != nil {
			t.Fatal(err)
		}
		c := req.ToConv()
		if (c.WebSearch != nil) != tt.direct || strings.Contains(c.System, WebSearchUnavailable) != tt.note {
			t.Errorf("tools %s choice %s messages %d: search %+v, system %q", tt.tools, tt.choice, len(req.Messages), c.WebSearch, c.System)
		}
	}
}
