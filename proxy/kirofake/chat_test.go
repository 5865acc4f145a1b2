package kirofake

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

// TestFrameVectors checks the encoder against the worked examples of protocol.md §6.3.
func TestFrameVectors(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"text", Text("Hi"), "0000007c0000005c3bddcf780b3a6576656e742d74797065070016617373697374616e74526573706f6e73654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74223a224869227db02babdc"},
		{"tool use", ToolUse{ID: "tooluse_1", Name: "Read", Input: `{"path":`}, "000000ab00000052e7b041360b3a6576656e742d7479706507000c746f6f6c5573654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b226e616d65223a2252656164222c22746f6f6c5573654964223a22746f6f6c7573655f31222c22696e707574223a227b5c22706174685c223a222c2273746f70223a66616c73657d83171e80"},
		{"exception", Exception{Type: "ThrottlingException", Message: "Rate exceeded"}, "0000008c000000612b81d3340f3a657863657074696f6e2d747970650700135468726f74746c696e67457863657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74797065070009657863657074696f6e7b226d657373616765223a2252617465206578636565646564227d6e1bac2b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(tt.ev.appendFrame(nil)); got != tt.want {
				t.Errorf("frame\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestEventsRoundTrip encodes every event type and decodes it with the proxy's parser.
func TestEventsRoundTrip(t *testing.T) {
	events := []Event{
		Text(`say "hi" <b>&</b> ünï` + "\n\t\x01"),
		ToolUse{ID: "tooluse_1", Name: "Bash", Input: `{"command":"ls \\`},
		ToolUse{ID: "tooluse_1", Name: "Bash", Stop: true},
		Reasoning{Text: "hmm", Signature: "sig"},
		ContextUsage(12.34),
		Metering(0.0123),
		Metadata{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 2},
		Exception{Type: "ContentLengthExceededException", Message: "too long"},
		ErrorFrame{Code: "InternalError", Message: "boom"},
		Frame{EventType: "followupPromptEvent", Payload: `{"followupPrompt":{"content":"more?"}}`},
	}
	want := []kiro.Event{
		kiro.Text{Content: `say "hi" <b>&</b> ünï` + "\n\t\x01"},
		kiro.ToolUse{ID: "tooluse_1", Name: "Bash", Input: `{"command":"ls \\`},
		kiro.ToolUse{ID: "tooluse_1", Name: "Bash", Stop: true},
		kiro.Reasoning{Text: "hmm", Signature: "sig"},
		kiro.ContextUsage{Percent: 12.34},
		kiro.Metering{Usage: 0.0123, Unit: "credit"},
		kiro.Metadata{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 2},
		kiro.Exception{Type: "ContentLengthExceededException", Message: "too long"},
		kiro.Exception{Type: "InternalError", Message: "boom"},
		kiro.Unknown{Type: "followupPromptEvent"},
	}
	var raw []byte
	for _, f := range encodeFrames(events) {
		raw = append(raw, f...)
	}
	d := decodeStream(t, strings.NewReader(string(raw)))
	if d.err != nil || !slices.Equal(d.events, want) {
		t.Errorf("decoded %v (err %v)\nwant    %v", d.events, d.err, want)
	}
}

func TestAuthAndHeaders(t *testing.T) {
	clock := newClock()
	f := newFake(t, Config{Now: clock.Now, AccessTTL: time.Hour})
	_, arn := f.AddSocialAccount("work")
	token := f.IssueAccessToken("work")
	f.AddSocialAccount("other")
	otherARN := f.ProfileARN("other")
	key := f.AddAPIKeyAccount("headless")
	good := simpleBody("hello")

	tests := []struct {
		name    string
		token   string
		body    body
		header  func(h http.Header)
		status  int
		message string
	}{
		{name: "access token", token: token, status: 200},
		{name: "access token with own profileArn", token: token, body: simpleBody("hi").set("profileArn", arn), status: 200},
		{name: "API key with tokentype", token: key, header: func(h http.Header) { h.Set("tokentype", "API_KEY") }, status: 200},
		{name: "no Authorization", header: func(h http.Header) { h.Del("Authorization") }, status: 403,
			message: "The bearer token included in the request is invalid."},
		{name: "unknown token", token: "aoaAAAAAforged", status: 403, message: "The bearer token included in the request is invalid."},
		{name: "refresh token as bearer", token: mustRefreshToken(f), status: 403},
		{name: "API key without tokentype", token: key, status: 403},
		{name: "access token with tokentype API_KEY", token: token, header: func(h http.Header) { h.Set("tokentype", "API_KEY") }, status: 403},
		{name: "API key with profileArn", token: key, body: simpleBody("hi").set("profileArn", arn),
			header: func(h http.Header) { h.Set("tokentype", "API_KEY") }, status: 403},
		{name: "profileArn of another account", token: token, body: simpleBody("hi").set("profileArn", otherARN), status: 403},
		{name: "no x-amz-user-agent", token: token, header: func(h http.Header) { h.Del("x-amz-user-agent") }, status: 400},
		{name: "x-amz-user-agent without machine id", token: token,
			header: func(h http.Header) { h.Set("x-amz-user-agent", "aws-sdk-js/1.0.34 KiroIDE-0.11.107") }, status: 400},
		{name: "no invocation id", token: token, header: func(h http.Header) { h.Del("amz-sdk-invocation-id") }, status: 400},
		{name: "invocation id not a UUID", token: token, header: func(h http.Header) { h.Set("amz-sdk-invocation-id", "1") }, status: 400},
		{name: "awsJson content type", token: token, header: func(h http.Header) {
			h.Set("Content-Type", "application/x-amz-json-1.0")
			h.Set("X-Amz-Target", "AmazonCodeWhispererStreamingService.GenerateAssistantResponse")
		}, status: 200},
		{name: "form content type", token: token, header: func(h http.Header) { h.Set("Content-Type", "text/plain") }, status: 415},
		{name: "another operation's target", token: token, header: func(h http.Header) {
			h.Set("X-Amz-Target", "AmazonCodeWhispererService.GetUsageLimits")
		}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.body
			if b == nil {
				b = good
			}
			req := f.chatRequest(t, tt.token, b.bytes())
			if tt.header != nil {
				tt.header(req.Header)
			}
			resp := f.do(t, req)
			if resp.StatusCode != tt.status {
				got, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d (%s), want %d; detail: %s", resp.StatusCode, got, tt.status, lastDetail(f))
			}
			if tt.status != 200 {
				if e := readError(t, resp); tt.message != "" && e.Message != tt.message {
					t.Errorf("message = %q, want %q", e.Message, tt.message)
				}
			}
		})
	}

	t.Run("expired access token", func(t *testing.T) {
		clock.Advance(time.Hour)
		resp := f.chat(t, token, good.bytes())
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if e := readError(t, resp); e.Message != "The bearer token included in the request is invalid." || e.Reason != nil {
			t.Errorf("body %+v", e)
		}
		mustOK(t, f.chat(t, f.IssueAccessToken("work"), good.bytes()))
	})
	t.Run("revoked access tokens", func(t *testing.T) {
		fresh := f.IssueAccessToken("work")
		f.RevokeAccessTokens("work")
		if resp := f.chat(t, fresh, good.bytes()); resp.StatusCode != http.StatusForbidden {
			t.Errorf("status %d after revocation", resp.StatusCode)
		}
	})
}

func mustRefreshToken(f *fake) string {
	rt, _ := f.AddSocialAccount("refresh-only")
	return rt
}

func TestLaxHeaders(t *testing.T) {
	f := newFake(t, Config{LaxHeaders: true})
	req := f.chatRequest(t, f.socialToken("work"), simpleBody("hi").bytes())
	req.Header.Del("x-amz-user-agent")
	req.Header.Del("amz-sdk-invocation-id")
	mustOK(t, f.do(t, req))
}

func TestRequireProfileARN(t *testing.T) {
	f := newFake(t, Config{RequireProfileARN: true})
	_, arn := f.AddSocialAccount("work")
	token := f.IssueAccessToken("work")
	resp := f.chat(t, token, simpleBody("hi").bytes())
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if e := readError(t, resp); e.Message != "profileArn is required for this request" {
		t.Errorf("message %q", e.Message)
	}
	mustOK(t, f.chat(t, token, simpleBody("hi").set("profileArn", arn).bytes()))
	// API keys never send one.
	key := f.AddAPIKeyAccount("headless")
	req := f.chatRequest(t, key, simpleBody("hi").bytes())
	req.Header.Set("tokentype", "API_KEY")
	mustOK(t, f.do(t, req))
}

func TestRecorded(t *testing.T) {
	f := newFake(t, Config{})
	token := f.socialToken("work")
	body := parseBody(validBody).bytes()
	resp := f.chat(t, token, body)
	mustOK(t, resp)
	io.Copy(io.Discard, resp.Body)
	bad := f.chat(t, "nope", body)
	io.Copy(io.Discard, bad.Body)

	recs := f.Requests()
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Account != "work" || r.Status != 200 || r.Header.Get("Authorization") != "work" || string(r.Body) != string(body) {
		t.Errorf("record %+v", r)
	}
	if r.Header.Get("x-amz-user-agent") == "" || r.Header.Get("amz-sdk-invocation-id") == "" {
		t.Errorf("IDE headers not recorded: %v", r.Header)
	}
	if r.Parsed == nil || r.Parsed.ConversationState.CurrentMessage.User.Context.ToolResults[0].ToolUseID != "toolu_01AbC" {
		t.Errorf("parsed body %+v", r.Parsed)
	}
	if r := recs[1]; r.Account != "" || r.Status != 403 || r.Header.Get("Authorization") != "(refused)" || r.Detail == "" {
		t.Errorf("refused record %+v", r)
	}
	if u := f.Usage("work"); u.Requests != 1 || u.Streams != 1 || u.Credits <= 0 {
		t.Errorf("usage %+v", u)
	}
}

func TestRecordedBounded(t *testing.T) {
	f := newFake(t, Config{MaxRecorded: 3})
	token := f.socialToken("work")
	for i := range 5 {
		resp := f.chat(t, token, simpleBody(strings.Repeat("x", i+1)).bytes())
		io.Copy(io.Discard, resp.Body)
	}
	recs := f.Requests()
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if want := strings.Repeat("x", i+3); r.Parsed.ConversationState.CurrentMessage.User.Content != want {
			t.Errorf("record %d is %q, want %q", i, r.Parsed.ConversationState.CurrentMessage.User.Content, want)
		}
	}
}

func TestScriptedReplies(t *testing.T) {
	f := newFake(t, Config{})
	token := f.socialToken("work")
	f.Enqueue(Reply{Events: append(append([]Event{Text("Hel"), Text("lo")},
		ToolCall("tooluse_A", "Bash", `{"command":"echo \"hi\""}`)...), Metering(0.5), ContextUsage(1.5))})
	f.Enqueue(Reply{Events: []Event{Text("second")}})

	d := decodeStream(t, f.chat(t, token, simpleBody("one").bytes()).Body)
	if d.err != nil || d.text() != "Hello" {
		t.Fatalf("first reply: text %q, err %v", d.text(), d.err)
	}
	calls := d.toolCalls()
	if len(calls) != 1 || calls[0].Input != `{"command":"echo \"hi\""}` || !calls[0].Stop || calls[0].Name != "Bash" {
		t.Errorf("tool calls %+v", calls)
	}
	if last := d.events[len(d.events)-1]; last != (kiro.ContextUsage{Percent: 1.5}) {
		t.Errorf("last event %v", last)
	}
	if d := decodeStream(t, f.chat(t, token, simpleBody("two").bytes()).Body); d.text() != "second" {
		t.Errorf("second reply %q", d.text())
	}
	if d := decodeStream(t, f.chat(t, token, simpleBody("three").bytes()).Body); !strings.Contains(d.text(), "three") {
		t.Errorf("empty queue: demo brain said %q", d.text())
	}
	if u := f.Usage("work"); u.Streams != 3 || u.Credits < 0.5 {
		t.Errorf("usage %+v", u)
	}
}

// TestFlushPerFrame shows that each frame is flushed on its own: the first
// arrives while the server is still waiting to send the second.
func TestFlushPerFrame(t *testing.T) {
	f := newFake(t, Config{ChunkDelay: time.Hour})
	token := f.socialToken("work")
	f.Enqueue(Reply{Events: []Event{Text("first"), Text("never")}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := f.do(t, f.chatRequest(t, token, simpleBody("hi").bytes()).WithContext(ctx))
	mustOK(t, resp)
	m, err := eventstream.NewDecoder(resp.Body).Next()
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := kiro.ParseEvent(&m); ev != (kiro.Text{Content: "first"}) {
		t.Errorf("first frame %v", ev)
	}
}

func TestStatusFaults(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		status     int
		reason     string
		message    string
		retryAfter string
	}{
		{"throttled", Throttled(), 429, "", "Rate exceeded", "1"},
		{"monthly quota", MonthlyQuota(), 402, "MONTHLY_REQUEST_COUNT", "limit", ""},
		{"suspended", Suspended(), 403, "TEMPORARILY_SUSPENDED", "suspended", ""},
		{"internal", InternalError(), 500, "", "unexpected error", ""},
		{"unavailable", Unavailable(), 503, "", "high load", ""},
		{"custom", Fault{Status: 429, Reason: "INSUFFICIENT_MODEL_CAPACITY", Message: "busy", RetryAfter: 1500 * time.Millisecond},
			429, "INSUFFICIENT_MODEL_CAPACITY", "busy", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, Config{})
			token := f.socialToken("work")
			f.SetFault(tt.fault)
			resp := f.chat(t, token, simpleBody("hi").bytes())
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			e := readError(t, resp)
			if (tt.reason == "") != (e.Reason == nil) || e.Reason != nil && *e.Reason != tt.reason {
				t.Errorf("reason %v, want %q", e.Reason, tt.reason)
			}
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q, want %q in it", e.Message, tt.message)
			}
		})
	}
}

func TestFaultCounting(t *testing.T) {
	f := newFake(t, Config{})
	token := f.socialToken("work")
	status := func() int {
		t.Helper()
		resp := f.chat(t, token, simpleBody("hi").bytes())
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	statuses := func(n int) []int {
		var out []int
		for range n {
			out = append(out, status())
		}
		return out
	}

	f.SetFault(Throttled()) // standing
	if got := statuses(3); !slices.Equal(got, []int{429, 429, 429}) {
		t.Errorf("standing fault: %v", got)
	}
	f.SetFault(Fault{})
	if got := status(); got != 200 {
		t.Errorf("cleared fault: %d", got)
	}

	f.SetFault(Fault{Status: 500, Times: 2})
	if got := statuses(3); !slices.Equal(got, []int{500, 500, 200}) {
		t.Errorf("Times 2: %v", got)
	}

	// A status fault leaves the queue alone; a reply's own fault is consumed with it.
	f.SetFault(Fault{Status: 503, Times: 1})
	f.Enqueue(Reply{Fault: Fault{Status: 429, Times: 2}})
	f.Enqueue(Reply{Events: []Event{Text("ok")}})
	if got := statuses(3); !slices.Equal(got, []int{503, 429, 429}) {
		t.Errorf("fault then reply faults: %v", got)
	}
	if d := decodeStream(t, f.chat(t, token, simpleBody("hi").bytes()).Body); d.text() != "ok" {
		t.Errorf("queued reply after faults: %q", d.text())
	}
}

func TestAccountFault(t *testing.T) {
	f := newFake(t, Config{})
	a, b := f.socialToken("a"), f.socialToken("b")
	f.SetAccountFault("a", Suspended())
	if resp := f.chat(t, a, simpleBody("hi").bytes()); resp.StatusCode != 403 {
		t.Errorf("a: %d", resp.StatusCode)
	}
	mustOK(t, f.chat(t, b, simpleBody("hi").bytes()))
	f.SetAccountFault("a", Fault{})
	mustOK(t, f.chat(t, a, simpleBody("hi").bytes()))
}

func TestStreamFaults(t *testing.T) {
	events := []Event{Text("a"), Text("b"), Text("c"), Metering(0.1)}
	tests := []struct {
		name     string
		fault    Fault
		want     []kiro.Event
		truncate bool // the body must end in an error, not a clean EOF
	}{
		{"cut after 2", Fault{CutAfterFrames: 2}, []kiro.Event{kiro.Text{Content: "a"}, kiro.Text{Content: "b"}}, true},
		{"cut before any frame", Fault{CutAfterFrames: -1}, nil, true},
		{"cut after more frames than there are", Fault{CutAfterFrames: 9}, []kiro.Event{
			kiro.Text{Content: "a"}, kiro.Text{Content: "b"}, kiro.Text{Content: "c"}, kiro.Metering{Usage: 0.1, Unit: "credit"}}, true},
		{"exception after 1", Fault{ExceptionAfterFrames: 1, Exception: Exception{Type: "ThrottlingException", Message: "slow down"}},
			[]kiro.Event{kiro.Text{Content: "a"}, kiro.Exception{Type: "ThrottlingException", Message: "slow down"}}, false},
		{"exception first, default type", Fault{ExceptionAfterFrames: -1}, []kiro.Event{kiro.Exception{Type: "InternalServerException",
			Message: "Encountered an unexpected error when processing the request, please try again."}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, Config{})
			token := f.socialToken("work")
			f.Enqueue(Reply{Events: events, Fault: tt.fault})
			resp := f.chat(t, token, simpleBody("hi").bytes())
			mustOK(t, resp)
			d := decodeStream(t, resp.Body)
			if !slices.Equal(d.events, tt.want) {
				t.Errorf("events %v, want %v", d.events, tt.want)
			}
			if tt.truncate != (d.err != nil) {
				t.Errorf("stream ended with %v, want truncated=%v", d.err, tt.truncate)
			}
			if d.err != nil && !errors.Is(d.err, io.ErrUnexpectedEOF) {
				t.Logf("cut surfaced as %v", d.err) // transport-dependent wording; any error is a cut
			}
		})
	}
}

func TestRawEvent(t *testing.T) {
	f := newFake(t, Config{})
	token := f.socialToken("work")
	corrupt := Text("b").appendFrame(nil)
	corrupt[len(corrupt)-1] ^= 0xff // message CRC
	f.Enqueue(Reply{Events: []Event{Text("a"), Raw(corrupt)}})
	d := decodeStream(t, f.chat(t, token, simpleBody("hi").bytes()).Body)
	var crc *eventstream.CRCError
	if len(d.events) != 1 || !errors.As(d.err, &crc) {
		t.Errorf("events %v, err %v; want one event then a CRC error", d.events, d.err)
	}
}

func TestFirstByteDelay(t *testing.T) {
	f := newFake(t, Config{})
	token := f.socialToken("work")
	const delay = 50 * time.Millisecond
	for _, fault := range []Fault{{FirstByteDelay: delay}, {Status: 429, FirstByteDelay: delay}} {
		f.Enqueue(Reply{Fault: fault})
		start := time.Now()
		resp := f.chat(t, token, simpleBody("hi").bytes())
		if elapsed := time.Since(start); elapsed < delay {
			t.Errorf("fault %+v: headers after %v, want ≥ %v", fault, elapsed, delay)
		}
		io.Copy(io.Discard, resp.Body)
	}
}

func TestUnknownRoute(t *testing.T) {
	f := newFake(t, Config{})
	resp := f.do(t, mustRequest(t, http.MethodPost, f.ts.URL+"/SendMessage", ""))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d", resp.StatusCode)
	}
	readError(t, resp)
}

func mustRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}
