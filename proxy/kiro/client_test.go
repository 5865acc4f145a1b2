package kiro

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

func simpleRequest() *conv.Request {
	return &conv.Request{Model: "claude-sonnet-4-5", ConversationID: "conv-42", Messages: []conv.Message{user(text("hi"))}}
}

// drain reads a stream to its end.
func drain(t *testing.T, st *Stream) []Event {
	t.Helper()
	var out []Event
	for {
		ev, err := st.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, ev)
	}
}

func TestSendHeadersAndBody(t *testing.T) {
	for _, apiKey := range []bool{false, true} {
		t.Run(map[bool]string{false: "oauth", true: "api key"}[apiKey], func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeFrames(w, textFrame("Hello"), textFrame(" world"))
			})
			acct := newAccount("work", "secret-access-token-0123456789abcdef")
			acct.apiKey = apiKey
			var logs bytes.Buffer
			c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{acct}}, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			st, err := c.Send(t.Context(), simpleRequest())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			evs := drain(t, st)
			if want := []Event{Text{Content: "Hello"}, Text{Content: " world"}}; !slices.Equal(evs, want) {
				t.Errorf("events %v, want %v", evs, want)
			}
			if st.Account() != "work" || st.Model().ID != "claude-sonnet-4.5" || st.ConversationID() != "conv-42" {
				t.Errorf("Account %q Model %q ConversationID %q", st.Account(), st.Model().ID, st.ConversationID())
			}
			if got := acct.reportStatuses(); !slices.Equal(got, []string{"ok"}) {
				t.Errorf("reports %v", got)
			}

			reqs := up.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/generateAssistantResponse" {
				t.Errorf("%s %s", r.Method, r.Path)
			}
			mid := MachineID("work")
			want := map[string]string{
				"Authorization":               "Bearer secret-access-token-0123456789abcdef",
				"Content-Type":                "application/json",
				"X-Amz-User-Agent":            "aws-sdk-js/1.0.34 KiroIDE-0.11.107-" + mid,
				"Amz-Sdk-Request":             "attempt=1; max=9",
				"X-Amzn-Codewhisperer-Optout": "true",
				"X-Amzn-Kiro-Agent-Mode":      "vibe",
			}
			if apiKey {
				want["Tokentype"] = "API_KEY"
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !apiKey && r.Header.Get("Tokentype") != "" {
				t.Errorf("tokentype sent for an OAuth account")
			}
			ua := regexp.MustCompile(`^aws-sdk-js/1\.0\.34 ua/2\.1 os/\S+#\S+ lang/js md/nodejs#22\.22\.0 api/codewhispererstreaming#1\.0\.34 m/E KiroIDE-0\.11\.107-[0-9a-f]{64}$`)
			if got := r.Header.Get("User-Agent"); !ua.MatchString(got) {
				t.Errorf("User-Agent = %q", got)
			}
			if id := r.Header.Get("Amz-Sdk-Invocation-Id"); len(id) != 36 {
				t.Errorf("invocation id %q", id)
			}
			// The token appears in Authorization only: not in other
			// headers, the body, or the log.
			for k, vs := range r.Header {
				if k == "Authorization" {
					continue
				}
				for _, v := range vs {
					if strings.Contains(v, "secret-access-token") {
						t.Errorf("token in header %s", k)
					}
				}
			}
			if bytes.Contains(r.Body, []byte("secret-access-token")) || strings.Contains(logs.String(), "secret-access-token") {
				t.Error("token in body or log")
			}
			if err := checkBody(r.Body); err != nil {
				t.Errorf("body: %v", err)
			}
			hasARN := bytes.Contains(r.Body, []byte(`"profileArn":"arn:aws:codewhisperer:us-east-1:111122223333:profile/work"`))
			if hasARN == apiKey {
				t.Errorf("profileArn present = %v for api key = %v", hasARN, apiKey)
			}
		})
	}
}

// TestSendRetries drives the retry policy of §10.2 through scripted answers.
func TestSendRetries(t *testing.T) {
	type answer func(w http.ResponseWriter)
	ok := func(w http.ResponseWriter) { writeFrames(w, textFrame("ok")) }
	status := func(code int, reason, msg string) answer {
		return func(w http.ResponseWriter) { writeError(w, code, reason, msg) }
	}
	throttleFrame := func(w http.ResponseWriter) { writeFrames(w, exceptionFrame("ThrottlingException", "Rate exceeded")) }
	hangUp := func(w http.ResponseWriter) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	tooMany := status(429, "", "Too many requests")
	tests := []struct {
		name     string
		accounts int
		answers  []answer // by request index; past the end: ok
		wantErr  string   // reason or status of the final *UpstreamError; "" for success
		served   []string // account of each request
		reports  map[string][]string
		refresh  bool // account a forced a refresh
		sleeps   int
	}{
		{name: "401 refresh then ok", accounts: 1, answers: []answer{status(401, "", "Unauthorized")},
			served: []string{"a", "a"}, reports: map[string][]string{"a": {"401", "ok"}}, refresh: true},
		{name: "403 bearer invalid refresh then ok", accounts: 1, answers: []answer{status(403, "", "The bearer token included in the request is invalid.")},
			served: []string{"a", "a"}, reports: map[string][]string{"a": {"403", "ok"}}, refresh: true},
		{name: "401 twice moves on", accounts: 2, answers: []answer{status(401, "", ""), status(401, "", "")},
			served: []string{"a", "a", "b"}, reports: map[string][]string{"a": {"401", "401"}, "b": {"ok"}}, refresh: true},
		{name: "429 backoff then ok", accounts: 2, answers: []answer{tooMany},
			served: []string{"a", "a"}, reports: map[string][]string{"a": {"429", "ok"}}, sleeps: 1},
		{name: "429 x3 next account", accounts: 2, answers: []answer{tooMany, tooMany, tooMany},
			served: []string{"a", "a", "a", "b"}, reports: map[string][]string{"a": {"429", "429", "429"}, "b": {"ok"}}, sleeps: 2},
		{name: "5xx and 408 retried", accounts: 1, answers: []answer{status(503, "", "unexpectedly high load"), status(408, "", "")},
			served: []string{"a", "a", "a"}, reports: map[string][]string{"a": {"503", "408", "ok"}}, sleeps: 2},
		{name: "throttling exception frame retried like 429", accounts: 1, answers: []answer{throttleFrame},
			served: []string{"a", "a"}, reports: map[string][]string{"a": {"429", "ok"}}, sleeps: 1},
		{name: "network error retried", accounts: 1, answers: []answer{hangUp},
			served: []string{"a", "a"}, reports: map[string][]string{"a": {"0", "ok"}}, sleeps: 1},
		{name: "402 quota next account", accounts: 2, answers: []answer{status(402, "MONTHLY_REQUEST_COUNT", "quota")},
			served: []string{"a", "b"}, reports: map[string][]string{"a": {"402"}, "b": {"ok"}}},
		{name: "429 monthly quota next account", accounts: 2, answers: []answer{status(429, "MONTHLY_REQUEST_COUNT", "quota")},
			served: []string{"a", "b"}, reports: map[string][]string{"a": {"429"}, "b": {"ok"}}},
		{name: "403 suspended next account", accounts: 2, answers: []answer{status(403, "TEMPORARILY_SUSPENDED", "Your User ID (x) is suspended")},
			served: []string{"a", "b"}, reports: map[string][]string{"a": {"403"}, "b": {"ok"}}},
		{name: "403 other next account", accounts: 2, answers: []answer{status(403, "", "not authorized")},
			served: []string{"a", "b"}, reports: map[string][]string{"a": {"403"}, "b": {"ok"}}},
		{name: "all quota spent", accounts: 2, answers: []answer{status(402, "", "q"), status(402, "", "q")},
			wantErr: ReasonMonthlyQuota, served: []string{"a", "b"}, reports: map[string][]string{"a": {"402"}, "b": {"402"}}},
		{name: "400 no retry", accounts: 2, answers: []answer{status(400, "", "Improperly formed request.")},
			wantErr: ReasonImproper, served: []string{"a"}, reports: map[string][]string{"a": {"400"}}},
		{name: "400 too long no retry", accounts: 2, answers: []answer{status(400, "CONTENT_LENGTH_EXCEEDS_THRESHOLD", "Input is too long.")},
			wantErr: ReasonContentLength, served: []string{"a"}, reports: map[string][]string{"a": {"400"}}},
		{name: "invalid model tries the next account", accounts: 2, answers: []answer{status(400, "INVALID_MODEL_ID", "Invalid model."), status(400, "INVALID_MODEL_ID", "Invalid model.")},
			wantErr: ReasonInvalidModel, served: []string{"a", "b"}, reports: map[string][]string{"a": {"400"}, "b": {"400"}}},
		{name: "validation exception frame fails", accounts: 2, answers: []answer{func(w http.ResponseWriter) {
			writeFrames(w, exceptionFrame("ValidationException", "Input is too long."))
		}}, wantErr: ReasonContentLength, served: []string{"a"}, reports: map[string][]string{"a": {"400"}}},
		{name: "at most 9 attempts", accounts: 4, answers: slices.Repeat([]answer{status(500, "", "boom")}, 12),
			wantErr: "500", served: []string{"a", "a", "a", "b", "b", "b", "c", "c", "c"},
			reports: map[string][]string{"a": {"500", "500", "500"}, "b": {"500", "500", "500"}, "c": {"500", "500", "500"}}, sleeps: 6},
		{name: "long Retry-After moves on", accounts: 2, answers: []answer{func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "3600")
			writeError(w, 429, "", "slow down")
		}}, served: []string{"a", "b"}, reports: map[string][]string{"a": {"429"}, "b": {"ok"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n < len(tt.answers) {
					tt.answers[n](w)
					return
				}
				ok(w)
			})
			pool := &fakePool{}
			byToken := map[string]string{}
			for _, name := range []string{"a", "b", "c", "d"}[:tt.accounts] {
				a := newAccount(name, "tok-"+name+"-first-0123456789", "tok-"+name+"-second-0123456789")
				pool.accounts = append(pool.accounts, a)
				byToken["Bearer tok-"+name+"-first-0123456789"] = name
				byToken["Bearer tok-"+name+"-second-0123456789"] = name
			}
			c, sl := up.client(t, pool, Config{})
			st, err := c.Send(t.Context(), simpleRequest())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if evs := drain(t, st); !slices.Equal(evs, []Event{Text{Content: "ok"}}) {
					t.Errorf("events %v", evs)
				}
				st.Close()
			} else {
				var ue *UpstreamError
				if !errors.As(err, &ue) {
					t.Fatalf("Send error %v, want *UpstreamError", err)
				}
				if ue.Reason != tt.wantErr && strings.TrimSpace(strings.Fields(ue.Error())[2]) != tt.wantErr+":" {
					t.Errorf("error %v, want %s", ue, tt.wantErr)
				}
			}
			var served []string
			var invocations []string
			for i, r := range up.requests() {
				served = append(served, byToken[r.Header.Get("Authorization")])
				invocations = append(invocations, r.Header.Get("Amz-Sdk-Invocation-Id"))
				if want := "attempt=" + string(rune('1'+i)) + "; max=9"; r.Header.Get("Amz-Sdk-Request") != want {
					t.Errorf("request %d: amz-sdk-request %q, want %q", i, r.Header.Get("Amz-Sdk-Request"), want)
				}
			}
			if !slices.Equal(served, tt.served) {
				t.Errorf("served by %v, want %v", served, tt.served)
			}
			if len(slices.Compact(invocations)) != 1 {
				t.Errorf("invocation ids %v: want one per logical request", invocations)
			}
			for _, a := range pool.accounts {
				if got := a.reportStatuses(); !slices.Equal(got, tt.reports[a.name]) {
					t.Errorf("account %s reports %v, want %v", a.name, got, tt.reports[a.name])
				}
			}
			if refreshed := slices.Contains(pool.accounts[0].forced, true); refreshed != tt.refresh {
				t.Errorf("forced refresh = %v, want %v", refreshed, tt.refresh)
			}
			if got := sl.all(); len(got) != tt.sleeps {
				t.Errorf("slept %v, want %d sleeps", got, tt.sleeps)
			}
			for _, p := range pool.picks {
				if p != "conv-42" {
					t.Errorf("Pick got conversation %q", p)
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for n, base := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second, 2 * time.Second} {
		for range 50 {
			if d := backoff(n); d < base || d > base+base/4 {
				t.Fatalf("backoff(%d) = %v, want %v..%v", n, d, base, base+base/4)
			}
		}
	}
}

func TestSendRetryAfter(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "3")
			writeError(w, 429, "", "slow down")
			return
		}
		writeFrames(w, textFrame("ok"))
	})
	c, sl := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if got := sl.all(); len(got) != 1 || got[0] != 3*time.Second {
		t.Errorf("slept %v, want [3s]", got)
	}
}

func TestSendTokenErrorNextAccount(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) { writeFrames(w, textFrame("ok")) })
	bad := newAccount("bad")
	bad.tokenErr = errors.New("refresh: invalid_grant")
	good := newAccount("good")
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{bad, good}}, Config{})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Account() != "good" {
		t.Errorf("served by %q", st.Account())
	}
	if len(bad.reports) != 0 {
		t.Errorf("a token failure was reported: %v", bad.reports)
	}
}

func TestSendNoAccount(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) { t.Error("unexpected request") })
	c, _ := up.client(t, &fakePool{}, Config{})
	if _, err := c.Send(t.Context(), simpleRequest()); !errors.Is(err, ErrNoAccount) {
		t.Errorf("Send error %v, want ErrNoAccount", err)
	}
}

// TestSendCancelDuringBackoff: the client hangs up while Send waits to
// retry: Send returns the context's error at once, with no further request.
func TestSendCancelDuringBackoff(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) { writeError(w, 429, "", "slow") })
	ctx, cancel := context.WithCancel(t.Context())
	acct := newAccount("a")
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{acct, newAccount("b")}}, Config{
		Sleep: func(ctx context.Context, d time.Duration) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		},
	})
	_, err := c.Send(ctx, simpleRequest())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error %v, want context.Canceled", err)
	}
	if n := len(up.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestSendCancelWhileWaiting: the client hangs up while the upstream has not
// answered: the call is abandoned, not retried, and not reported.
func TestSendCancelWhileWaiting(t *testing.T) {
	arrived := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		close(arrived)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(t.Context())
	acct := newAccount("a")
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{acct}}, Config{})
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.Send(ctx, simpleRequest())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error %v, want context.Canceled", err)
	}
	if n := len(up.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if len(acct.reports) != 0 {
		t.Errorf("reports %v, want none", acct.reports)
	}
}

// TestStreamFirstEventEarly: Send returns, and Next yields the first event,
// while the upstream still holds back the second.
func TestStreamFirstEventEarly(t *testing.T) {
	gate := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeFrames(w, textFrame("first"))
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		w.Write(textFrame("second"))
	})
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.Ready() {
		t.Error("Ready is false with the first event read by Send")
	}
	if ev, err := st.Next(); err != nil || ev != (Text{Content: "first"}) {
		t.Fatalf("first Next = %v, %v", ev, err)
	}
	if st.Ready() {
		t.Error("Ready is true while the upstream holds back the second event")
	}
	close(gate)
	if ev, err := st.Next(); err != nil || ev != (Text{Content: "second"}) {
		t.Fatalf("second Next = %v, %v", ev, err)
	}
	if _, err := st.Next(); err != io.EOF {
		t.Fatalf("third Next error %v, want io.EOF", err)
	}
	if _, err := st.Next(); err != io.EOF {
		t.Fatalf("EOF is not sticky: %v", err)
	}
}

func streamFixture() [][]byte {
	return [][]byte{
		eventFrame("initial-response", map[string]string{}),
		textFrame("I'll list them."),
		eventFrame("toolUseEvent", map[string]any{"name": "Bash", "toolUseId": "tooluse_1", "input": ""}),
		eventFrame("toolUseEvent", map[string]any{"name": "Bash", "toolUseId": "tooluse_1", "input": `{"comm`}),
		eventFrame("toolUseEvent", map[string]any{"name": "Bash", "toolUseId": "tooluse_1", "input": `and": "ls"}`}),
		eventFrame("toolUseEvent", map[string]any{"name": "Bash", "toolUseId": "tooluse_1", "stop": true}),
		eventFrame("meteringEvent", map[string]any{"usage": 0.25, "unit": "credit"}),
		eventFrame("contextUsageEvent", map[string]any{"contextUsagePercentage": 12.5}),
	}
}

// TestStreamOneByteWrites: the same events whether frames arrive whole or
// one byte per write.
func TestStreamOneByteWrites(t *testing.T) {
	frames := streamFixture()
	run := func(oneByte bool) []Event {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if !oneByte {
				writeFrames(w, frames...)
				return
			}
			var all []byte
			for _, f := range frames {
				all = append(all, f...)
			}
			w.WriteHeader(http.StatusOK)
			for i := range all {
				w.Write(all[i : i+1])
				w.(http.Flusher).Flush()
			}
		})
		c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
		st, err := c.Send(t.Context(), simpleRequest())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		return drain(t, st)
	}
	whole, bytewise := run(false), run(true)
	want := []Event{
		Unknown{Type: "initial-response"},
		Text{Content: "I'll list them."},
		ToolUse{ID: "tooluse_1", Name: "Bash"},
		ToolUse{ID: "tooluse_1", Name: "Bash", Input: `{"comm`},
		ToolUse{ID: "tooluse_1", Name: "Bash", Input: `and": "ls"}`},
		ToolUse{ID: "tooluse_1", Name: "Bash", Stop: true},
		Metering{Usage: 0.25, Unit: "credit"},
		ContextUsage{Percent: 12.5},
	}
	if !slices.Equal(whole, want) {
		t.Errorf("whole frames: %v\nwant %v", whole, want)
	}
	if !slices.Equal(bytewise, want) {
		t.Errorf("one byte per write: %v\nwant %v", bytewise, want)
	}
}

func TestStreamToolNamesMappedBack(t *testing.T) {
	long := "mcp__" + strings.Repeat("x", 70)
	var short string
	var up *upstream
	up = newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		var body struct {
			ConversationState struct {
				CurrentMessage struct {
					UserInputMessage struct {
						UserInputMessageContext struct {
							Tools []struct {
								ToolSpecification struct{ Name string } `json:"toolSpecification"`
							} `json:"tools"`
						} `json:"userInputMessageContext"`
					} `json:"userInputMessage"`
				} `json:"currentMessage"`
			} `json:"conversationState"`
		}
		json.Unmarshal(up.requests()[n].Body, &body)
		short = body.ConversationState.CurrentMessage.UserInputMessage.UserInputMessageContext.Tools[0].ToolSpecification.Name
		writeFrames(w,
			eventFrame("toolUseEvent", map[string]any{"name": short, "toolUseId": "t1", "input": "{}"}),
			eventFrame("toolUseEvent", map[string]any{"name": "Other", "toolUseId": "t2", "input": "{}"}))
	})
	req := simpleRequest()
	req.Tools = []conv.Tool{{Name: long, Description: "d"}, {Name: "Other", Description: "d"}}
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
	st, err := c.Send(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs := drain(t, st)
	if len(short) != 63 {
		t.Fatalf("sent name %q", short)
	}
	if evs[0].(ToolUse).Name != long || evs[1].(ToolUse).Name != "Other" {
		t.Errorf("names %q, %q", evs[0].(ToolUse).Name, evs[1].(ToolUse).Name)
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeFrames(w, textFrame("first"))
		<-r.Context().Done() // never another byte
	})
	acct := newAccount("a")
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{acct}}, Config{IdleTimeout: 250 * time.Millisecond})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Next(); !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("Next error %v, want ErrIdleTimeout", err)
	}
}

func TestSendIdleTimeoutBeforeFirstEvent(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		writeFrames(w, textFrame("ok"))
	})
	acct := newAccount("a")
	c, sl := up.client(t, &fakePool{accounts: []*fakeAccount{acct}}, Config{IdleTimeout: 250 * time.Millisecond})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if got := acct.reportStatuses(); !slices.Equal(got, []string{"0", "ok"}) {
		t.Errorf("reports %v", got)
	}
	var ue *UpstreamError
	if err := acct.reports[0]; !errors.As(err, &ue) || !errors.Is(err, ErrIdleTimeout) {
		t.Errorf("report %v, want an idle timeout", err)
	}
	if len(sl.all()) != 1 {
		t.Errorf("sleeps %v", sl.all())
	}
}

func TestStreamCorruptFrame(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		bad := textFrame("second")
		bad[len(bad)-1] ^= 0xff
		writeFrames(w, textFrame("first"), bad)
	})
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Next()
	_, err = st.Next()
	var crc *eventstream.CRCError
	if !errors.As(err, &crc) {
		t.Fatalf("Next error %v, want a CRC error", err)
	}
	if _, again := st.Next(); again != err {
		t.Errorf("error not sticky: %v", again)
	}
}

func TestStreamTruncated(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		f := textFrame("second")
		writeFrames(w, textFrame("first"), f[:len(f)-3])
	})
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Next()
	if _, err := st.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next error %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestStreamCloseUnblocksNext: Close from another goroutine ends a Next that
// waits for the upstream.
func TestStreamCloseUnblocksNext(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeFrames(w, textFrame("first"))
		<-r.Context().Done()
	})
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	st.Next()
	done := make(chan error)
	go func() {
		_, err := st.Next()
		done <- err
	}()
	st.Close()
	if err := <-done; err == nil || err == io.EOF {
		t.Errorf("Next after Close: %v, want an error", err)
	}
	st.Close() // idempotent
}

func TestStreamCallerCancel(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeFrames(w, textFrame("first"))
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(t.Context())
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
	st, err := c.Send(ctx, simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Next()
	cancel()
	if _, err := st.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next error %v, want context.Canceled", err)
	}
}

func TestStreamEmptyAnswer(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusOK) })
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Config{})
	st, err := c.Send(t.Context(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Next(); err != io.EOF {
		t.Errorf("Next error %v, want io.EOF", err)
	}
}

// TestDefaultHTTPClient: New builds its own transport with a header timeout
// and no overall timeout.
func TestDefaultHTTPClient(t *testing.T) {
	c := New(Config{BaseURL: "http://127.0.0.1:1/", Accounts: &fakePool{}})
	defer c.http.CloseIdleConnections()
	if c.http.Timeout != 0 {
		t.Errorf("client Timeout %v: would cut streams", c.http.Timeout)
	}
	if tr, ok := c.http.Transport.(*http.Transport); !ok || tr.ResponseHeaderTimeout != DefaultResponseHeaderTimeout {
		t.Errorf("transport %#v", c.http.Transport)
	}
	if c.base != "http://127.0.0.1:1" || c.idle != DefaultIdleTimeout || c.maxTotal != 9 || c.perAccount != 3 || c.version != DefaultVersion {
		t.Errorf("defaults: %+v", c)
	}
}

// TestSecretsNeverLeak: an upstream that echoes the bearer token in its
// error bodies gets it into no log line, report or returned error.
func TestSecretsNeverLeak(t *testing.T) {
	const token = "aoaSECRETsecretSECRETsecret0123456789"
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		auth := r.Header.Get("Authorization")
		switch n {
		case 0:
			writeError(w, 429, "", "throttled for "+auth)
		case 1:
			writeError(w, 403, "", "The bearer token included in the request is invalid: "+strings.TrimPrefix(auth, "Bearer "))
		default:
			writeError(w, 400, "", "Improperly formed request. token="+strings.TrimPrefix(auth, "Bearer "))
		}
	})
	var logs bytes.Buffer
	acct := newAccount("a", token, token)
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{acct}}, Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	_, err := c.Send(t.Context(), simpleRequest())
	if err == nil {
		t.Fatal("Send succeeded")
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("token in error: %v", err)
	}
	for _, r := range acct.reports {
		if strings.Contains(r.Error(), "SECRET") {
			t.Errorf("token in report: %v", r)
		}
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Errorf("token in logs: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "upstream_attempt_failed") {
		t.Errorf("retries not logged: %s", logs.String())
	}
}

func TestBodyRefs(t *testing.T) {
	p, err := BuildRequest(simpleRequest(), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs := newBodyRefs(p)
	b1, b2 := refs.body(), refs.body()
	refs.release() // the builder's reference
	b1.Close()
	b1.Close() // a second Close must not release twice
	if p.buf.Load() == nil {
		t.Fatal("released while a request body is open")
	}
	if got, _ := io.ReadAll(b2); !bytes.Equal(got, p.Body) {
		t.Fatal("body reader does not read the payload")
	}
	b2.Close()
	if p.buf.Load() != nil {
		t.Fatal("not released after the last reference")
	}
	p.Release() // idempotent
}

// TestSendConcurrentBodies: many Sends at once, each body must arrive intact
// (a buffer recycled too early would mix them up, and -race would see it).
func TestSendConcurrentBodies(t *testing.T) {
	var up *upstream
	up = newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		var body struct {
			ConversationState struct {
				ConversationID string `json:"conversationId"`
				CurrentMessage struct {
					UserInputMessage struct {
						Content string `json:"content"`
					} `json:"userInputMessage"`
				} `json:"currentMessage"`
			} `json:"conversationState"`
		}
		if err := json.Unmarshal(up.requests()[n].Body, &body); err != nil {
			writeError(w, 400, "", "bad json")
			return
		}
		cs := body.ConversationState
		if n%3 == 0 { // some retries, so bodies are sent more than once
			writeError(w, 503, "", "busy")
			return
		}
		writeFrames(w, textFrame(cs.ConversationID+"|"+cs.CurrentMessage.UserInputMessage.Content))
	})
	c, _ := up.client(t, &fakePool{accounts: []*fakeAccount{newAccount("a"), newAccount("b")}}, Config{})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			id := fmt.Sprintf("conv-%d", i)
			req := &conv.Request{ConversationID: id, Messages: []conv.Message{user(text(strings.Repeat(id, 500)))}}
			st, err := c.Send(t.Context(), req)
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			ev, err := st.Next()
			if want := id + "|" + strings.Repeat(id, 500); err != nil || ev != (Text{Content: want}) {
				t.Errorf("%s: got %.40v…, %v", id, ev, err)
			}
		})
	}
	wg.Wait()
}

func TestBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "ftp://x", "q.us-east-1.amazonaws.com", "http://"} {
		c := New(Config{BaseURL: base, Accounts: &fakePool{accounts: []*fakeAccount{newAccount("a")}}, Sleep: func(context.Context, time.Duration) error {
			t.Error("slept: a bad base URL was retried")
			return nil
		}})
		if _, err := c.Send(t.Context(), simpleRequest()); err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("BaseURL %q: Send error %v", base, err)
		}
		if _, err := c.UsageLimits(t.Context(), newAccount("a")); err == nil {
			t.Errorf("BaseURL %q: UsageLimits succeeded", base)
		}
		c.http.CloseIdleConnections()
	}
}

func TestMachineID(t *testing.T) {
	a, b := MachineID("refresh-token-1"), MachineID("refresh-token-2")
	if len(a) != 64 || a == b || a != MachineID("refresh-token-1") || strings.ToLower(a) != a {
		t.Errorf("MachineID: %q %q", a, b)
	}
	tests := []struct {
		in, want string
		ok       bool
	}{
		{strings.Repeat("AB", 32), strings.Repeat("ab", 32), true},
		{"3f0c1b2a-0000-4000-8000-00000000e91a", "3f0c1b2a000040008000000000" + "00e91a" + "3f0c1b2a000040008000000000" + "00e91a", true},
		{"xyz", "", false},
		{strings.Repeat("g", 64), "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeMachineID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeMachineID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
