package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kirotray/kirotray/app/auth"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Keep-alive connections of SDK clients on http.DefaultTransport end when
	// their test server closes, but not always before goleak looks.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		err := goleak.Find(
			// godbus keeps one session-bus connection per process, by design
			// (only the keyring_integration test opens it).
			goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.(*Conn).inWorker"),
			goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.newConn.func1"),
			// An idle keep-alive connection of some client in these tests
			// occasionally outlives its server by a moment (one pair, same
			// place each time; not yet traced). Idle connections are closed
			// by their transport's idle timeout; everything else still counts.
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// fakeAuth is Kiro's auth service and AWS SSO-OIDC in one: every refresh
// token is single-use and rotates; reusing a spent one fails the test.
type fakeAuth struct {
	t   *testing.T
	srv *httptest.Server

	calls   atomic.Int32
	arrived chan struct{} // receives when a refresh reaches the server
	gate    chan struct{} // when set, refreshes wait for it to close

	mu        sync.Mutex
	live      map[string]string // refresh token → account family
	spent     map[string]bool
	n         int
	expiresIn int                                                     // seconds; 0 means 3600
	fail      func(path string, body map[string]string) (int, string) // scripted answer; status 0: none
	bodies    []map[string]string
}

func newFakeAuth(t *testing.T, tokens ...string) *fakeAuth {
	fa := &fakeAuth{t: t, live: map[string]string{}, spent: map[string]bool{}, arrived: make(chan struct{}, 1)}
	for _, tok := range tokens {
		fa.live[tok] = tok
	}
	fa.srv = httptest.NewServer(http.HandlerFunc(fa.serve))
	t.Cleanup(fa.srv.Close)
	return fa
}

func (fa *fakeAuth) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fa.t.Errorf("refresh body: %v", err)
	}
	fa.calls.Add(1)
	select {
	case fa.arrived <- struct{}{}:
	default:
	}
	if fa.gate != nil {
		<-fa.gate
	}
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fa.bodies = append(fa.bodies, body)
	w.Header().Set("Content-Type", "application/json")
	if fa.fail != nil {
		if status, answer := fa.fail(r.URL.Path, body); status != 0 {
			w.WriteHeader(status)
			fmt.Fprint(w, answer)
			return
		}
	}
	rt := body["refreshToken"]
	if fa.spent[rt] {
		fa.t.Errorf("refresh token %q was used twice", rt)
	}
	family, ok := fa.live[rt]
	if !ok {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid refresh token provided"}`)
		return
	}
	fa.n++
	next := fmt.Sprintf("%s~%d", family, fa.n)
	delete(fa.live, rt)
	fa.spent[rt] = true
	fa.live[next] = family
	exp := fa.expiresIn
	if exp == 0 {
		exp = 3600
	}
	json.NewEncoder(w).Encode(map[string]any{
		"accessToken": fmt.Sprintf("at-%d", fa.n), "refreshToken": next, "expiresIn": exp,
	})
}

func (fa *fakeAuth) setFail(f func(path string, body map[string]string) (int, string)) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fa.fail = f
}

// liveToken returns the one live refresh token of family.
func (fa *fakeAuth) liveToken(family string) string {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	for tok, f := range fa.live {
		if f == family {
			return tok
		}
	}
	return ""
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 5, 18, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from many goroutines.
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

// pool makes a list-backed pool against fa with an injected clock and a
// captured log (no ReplaceAttr: the code itself must keep secrets out).
func pool(t *testing.T, fa *fakeAuth, clk *fakeClock, creds ...Credential) (*Accounts, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	as, err := NewAccountsFromList(creds, AccountsOptions{
		HTTPClient: fa.srv.Client(), AuthBase: fa.srv.URL, OIDCBase: fa.srv.URL,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = as.Close() })
	return as, logs
}

func social(name, rt string, prio int) Credential {
	return Credential{Name: name, RefreshToken: redact.Secret(rt), AuthMethod: AuthSocial, Priority: prio}
}

func account(t *testing.T, as *Accounts, name string) *Account {
	t.Helper()
	for _, a := range as.list {
		if a.Name() == name {
			return a
		}
	}
	t.Fatalf("no account %q", name)
	return nil
}

func TestTokenRefreshesAndCaches(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "rt-a")
	clk := newClock()
	as, _ := pool(t, fa, clk, social("a", "rt-a", 0))
	a := account(t, as, "a")
	ctx := context.Background()

	tok, err := a.Token(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Access != "at-1" || tok.MachineID != kiro.MachineID("rt-a") || tok.APIKey {
		t.Fatalf("token = %+v", tok)
	}
	// Cached while more than 5 min remain.
	clk.Advance(54 * time.Minute)
	if tok, _ := a.Token(ctx, false); tok.Access != "at-1" || fa.calls.Load() != 1 {
		t.Fatalf("token %v after %d calls, want the cached one", tok.Access, fa.calls.Load())
	}
	// Renewed inside the last 5 min, with the rotated refresh token.
	clk.Advance(2 * time.Minute)
	if tok, _ := a.Token(ctx, false); tok.Access != "at-2" || tok.MachineID != kiro.MachineID("rt-a") {
		t.Fatalf("token = %+v, want at-2 with the same machine id", tok)
	}
	// Forced: renewed again, at once.
	clk.Advance(time.Minute)
	if tok, _ := a.Token(ctx, true); tok.Access != "at-3" {
		t.Fatalf("forced token = %v", tok.Access)
	}
	if got := fa.bodies[2]["refreshToken"]; got != "rt-a~2" {
		t.Fatalf("third refresh sent %q, want the token the second one returned", got)
	}
}

// Exactly one refresh for 100 concurrent callers, forced or not.
func TestTokenSingleFlight(t *testing.T) {
	t.Parallel()
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("force=", force), func(t *testing.T) {
			t.Parallel()
			fa := newFakeAuth(t, "rt")
			fa.gate = make(chan struct{})
			as, _ := pool(t, fa, newClock(), social("a", "rt", 0))
			a := account(t, as, "a")

			const n = 100
			var (
				wg      sync.WaitGroup
				started sync.WaitGroup
				got     [n]kiro.Token
				errs    [n]error
			)
			started.Add(n)
			for i := range n {
				wg.Go(func() {
					started.Done()
					got[i], errs[i] = a.Token(context.Background(), force)
				})
			}
			started.Wait()
			<-fa.arrived // the refresh is at the server, held there
			close(fa.gate)
			wg.Wait()
			if c := fa.calls.Load(); c != 1 {
				t.Fatalf("%d refresh calls, want 1", c)
			}
			for i := range n {
				if errs[i] != nil || got[i].Access != "at-1" {
					t.Fatalf("caller %d: %v %v", i, got[i].Access, errs[i])
				}
			}
		})
	}
}

// A caller that gives up does not cancel the refresh the others wait for,
// and its result is kept.
func TestTokenCallerCancelDoesNotLoseRotation(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "rt")
	fa.gate = make(chan struct{})
	as, _ := pool(t, fa, newClock(), social("a", "rt", 0))
	a := account(t, as, "a")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := a.Token(ctx, false)
		done <- err
	}()
	<-fa.arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	close(fa.gate) // the server answers after the caller left
	if err := as.Close(); err != nil {
		t.Fatal(err)
	}
	if tok, err := a.Token(context.Background(), false); err != nil || tok.Access != "at-1" || fa.calls.Load() != 1 {
		t.Fatalf("token %v, %v after %d calls: the refresh should have completed", tok.Access, err, fa.calls.Load())
	}
	if a.cred.RefreshToken != "rt~1" {
		t.Fatal("rotated refresh token not kept")
	}
}

// The rotated refresh token reaches the store before the new access token
// is handed out; a failed save keeps it in memory and is retried.
func TestRotationPersistedBeforeUse(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "rt")
	clk := newClock()
	var (
		mu       sync.Mutex
		saved    []string
		handed   atomic.Bool
		failNext = 2
	)
	logs := &syncBuffer{}
	as, err := NewAccountsFromList([]Credential{social("a", "rt", 0)}, AccountsOptions{
		HTTPClient: fa.srv.Client(), AuthBase: fa.srv.URL, Now: clk.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Persist: func(c Credential) error {
			mu.Lock()
			defer mu.Unlock()
			if handed.Load() {
				t.Error("persist ran after the access token was handed out")
			}
			if failNext > 0 {
				failNext--
				return errors.New("disk full")
			}
			saved = append(saved, c.RefreshToken.Reveal())
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	a := account(t, as, "a")

	// Construction tried to save the derived machine id (failure 1);
	// the refresh tries again (failure 2): the token is still served.
	tok, err := a.Token(context.Background(), false)
	handed.Store(true)
	if err != nil || tok.Access != "at-1" {
		t.Fatalf("Token = %v, %v", tok.Access, err)
	}
	if !strings.Contains(logs.String(), "could not save rotated refresh tokens") {
		t.Fatalf("no error logged for the failed save:\n%s", logs)
	}
	if strings.Contains(logs.String(), "rt~1") {
		t.Fatal("the log holds the refresh token")
	}
	// Too soon to retry: nothing happens. Later: saved.
	handed.Store(false)
	_, _ = a.Token(context.Background(), false)
	mu.Lock()
	n := len(saved)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("saved %v before the retry interval", saved)
	}
	clk.Advance(saveRetry)
	_, _ = a.Token(context.Background(), false)
	mu.Lock()
	defer mu.Unlock()
	if len(saved) != 1 || saved[0] != "rt~1" {
		t.Fatalf("saved %v, want the rotated token once", saved)
	}
}

// invalid_grant parks the account with a log line naming it and no token;
// later calls do not touch the server.
func TestInvalidGrantParks(t *testing.T) {
	t.Parallel()
	const secretRT = "aorSECRET-never-log-me-0123456789"
	fa := newFakeAuth(t) // knows no token: every refresh is invalid_grant
	clk := newClock()
	as, logs := pool(t, fa, clk, social("work", secretRT, 0))
	a := account(t, as, "work")

	_, err := a.Token(context.Background(), false)
	if !errors.Is(err, kiro.ErrNoAccount) || !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("err = %v, want kiro.ErrNoAccount and auth.ErrInvalidGrant", err)
	}
	if !strings.Contains(err.Error(), `account "work" needs sign-in: refresh token was rejected`) {
		t.Fatalf("err = %q", err)
	}
	if _, err2 := a.Token(context.Background(), true); !errors.Is(err2, kiro.ErrNoAccount) || fa.calls.Load() != 1 {
		t.Fatalf("second call: %v after %d refreshes; want the parked error and no new refresh", err2, fa.calls.Load())
	}
	_, perr := as.Pick(context.Background(), "", nil)
	var nae *NoAccountError
	if !errors.As(perr, &nae) || !errors.Is(perr, kiro.ErrNoAccount) ||
		nae.Reason != `account "work" needs sign-in: refresh token was rejected` || !nae.RetryAt.IsZero() {
		t.Fatalf("Pick: %v", perr)
	}
	if st := as.Snapshot()[0]; st.State != StateNeedsSignIn || st.Reason != "refresh token was rejected" {
		t.Fatalf("snapshot = %+v", st)
	}

	log := logs.String()
	if !strings.Contains(log, `"msg":"account needs sign-in"`) || !strings.Contains(log, `"account":"work"`) ||
		!strings.Contains(log, `"reason":"refresh token was rejected"`) {
		t.Fatalf("log lacks the sign-in line:\n%s", log)
	}
	for _, where := range []string{log, err.Error(), perr.Error(), fmt.Sprintf("%+v %#v", as.Snapshot(), a.cred)} {
		if strings.Contains(where, secretRT) || strings.Contains(where, "aorSECRET") {
			t.Fatalf("the refresh token leaked into %q", where)
		}
	}
}

func TestInvalidClientParks(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "rt")
	fa.fail = func(path string, body map[string]string) (int, string) {
		if path != "/token" || body["grantType"] != "refresh_token" || body["clientId"] != "cid" || body["clientSecret"] != "cs" {
			t.Errorf("IdC refresh %s %v", path, body)
		}
		return 400, `{"error":"invalid_client"}`
	}
	as, _ := pool(t, fa, newClock(), Credential{Name: "org", RefreshToken: "rt", AuthMethod: AuthIdC, ClientID: "cid", ClientSecret: "cs"})
	_, err := account(t, as, "org").Token(context.Background(), false)
	if !errors.Is(err, auth.ErrInvalidClient) || !errors.Is(err, kiro.ErrNoAccount) {
		t.Fatalf("err = %v", err)
	}
}

// A transient failure keeps the old tokens: the old access token while it
// is valid, the old refresh token for the next try, after a pause.
func TestTransientRefreshFailure(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "rt")
	clk := newClock()
	as, _ := pool(t, fa, clk, social("a", "rt", 0))
	a := account(t, as, "a")
	ctx := context.Background()
	if _, err := a.Token(ctx, false); err != nil {
		t.Fatal(err)
	}
	down := atomic.Bool{}
	down.Store(true)
	fa.setFail(func(string, map[string]string) (int, string) {
		if down.Load() {
			return 503, `{"message":"unavailable"}`
		}
		return 0, ""
	})

	clk.Advance(57 * time.Minute) // 3 min left: due for renewal
	tok, err := a.Token(ctx, false)
	if err != nil || tok.Access != "at-1" {
		t.Fatalf("Token = %v, %v; want the old, still valid access token", tok.Access, err)
	}
	if _, err := a.Token(ctx, true); err == nil {
		t.Fatal("a forced refresh during the pause should fail")
	}
	clk.Advance(4 * time.Minute) // expired, and the pause (5 s) is over
	calls := fa.calls.Load()
	_, err = a.Token(ctx, false)
	var re *auth.RefreshError
	if !errors.As(err, &re) || !re.Transient || fa.calls.Load() != calls+1 {
		t.Fatalf("err = %v", err)
	}
	if st := as.Snapshot()[0]; st.State != StateCooling || st.Until != clk.Now().Add(10*time.Second) {
		t.Fatalf("snapshot = %+v, want cooling for 10 s (second failure)", st)
	}
	if _, err := as.Pick(ctx, "", nil); !errors.Is(err, kiro.ErrNoAccount) {
		t.Fatalf("Pick while cooling: %v", err)
	}
	if _, err := a.Token(ctx, false); err == nil || fa.calls.Load() != calls+1 {
		t.Fatal("retried before the pause was over")
	}
	down.Store(false)
	clk.Advance(10 * time.Second)
	tok, err = a.Token(ctx, false)
	if err != nil || tok.Access != "at-2" || fa.bodies[len(fa.bodies)-1]["refreshToken"] != "rt~1" {
		t.Fatalf("Token = %v, %v; want a refresh with the kept token", tok.Access, err)
	}
	if st := as.Snapshot()[0]; st.State != StateActive {
		t.Fatalf("snapshot = %+v", st)
	}
}

func TestRepeatedRefreshFailuresPark(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "rt")
	fa.fail = func(string, map[string]string) (int, string) { return 400, `{"message":"Bad credentials"}` }
	clk := newClock()
	as, _ := pool(t, fa, clk, social("a", "rt", 0))
	a := account(t, as, "a")
	for i := range maxRefreshFailures {
		_, err := a.Token(context.Background(), false)
		if (i == maxRefreshFailures-1) != errors.Is(err, kiro.ErrNoAccount) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
		clk.Advance(retryMax)
	}
	if st := as.Snapshot()[0]; st.State != StateNeedsSignIn {
		t.Fatalf("snapshot = %+v", st)
	}
}

func TestPickPriorityAndFailover(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t)
	as, _ := pool(t, fa, newClock(), social("a", "1", 1), social("b", "2", 0), social("c", "3", 0), social("d", "4", 5))
	ctx := context.Background()
	var tried []string
	for range 4 {
		acct, err := as.Pick(ctx, "", tried)
		if err != nil {
			t.Fatal(err)
		}
		tried = append(tried, acct.Name())
	}
	if got := strings.Join(tried, ","); got != "b,c,a,d" {
		t.Fatalf("order %s, want b,c,a,d (priority, then file order)", got)
	}
	_, err := as.Pick(ctx, "", tried)
	var nae *NoAccountError
	if !errors.As(err, &nae) || nae.Reason != "all 4 accounts were already tried" {
		t.Fatalf("err = %v", err)
	}
	if _, err := as.Pick(ctx, "", []string{"b", "c"}); err != nil {
		t.Fatal(err)
	}
}

func TestCooldown(t *testing.T) {
	t.Parallel()
	clk := newClock()
	as, logs := pool(t, newFakeAuth(t), clk, social("a", "1", 0), social("b", "2", 1))
	a, b := account(t, as, "a"), account(t, as, "b")
	ctx := context.Background()
	rate := &kiro.UpstreamError{Status: 429, Reason: "THROTTLING"}

	// 30 s doubling to 5 min.
	for _, want := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		a.Report(fmt.Errorf("wrapped: %w", rate))
		if st := a.status(clk.Now()); st.State != StateCooling || st.Until != clk.Now().Add(want) {
			t.Fatalf("after 429: %+v, want cooling for %v", st, want)
		}
	}
	if got, _ := as.Pick(ctx, "", nil); got != b {
		t.Fatalf("Pick = %v, want b while a cools", got.Name())
	}
	// Retry-After wins.
	a.Report(&kiro.UpstreamError{Status: 429, RetryAfter: 42 * time.Second})
	if st := a.status(clk.Now()); st.Until != clk.Now().Add(42*time.Second) {
		t.Fatalf("Retry-After not honoured: %+v", st)
	}
	// Both cooling: rather than refuse, the one that recovers first is tried
	// (a 429 is transient; with one account refusing would lock the user out).
	clk.Advance(10 * time.Second) // 12:00:10
	b.Report(rate)                // b until 12:00:40; a until 12:00:42
	if got, err := as.Pick(ctx, "", nil); got != b {
		t.Fatalf("Pick = %v, %v; want b, whose cooldown ends first", got, err)
	}
	// Both cooling and both already tried for this request: the error says until when.
	_, err := as.Pick(ctx, "", []string{"a", "b"})
	var nae *NoAccountError
	if !errors.As(err, &nae) || !errors.Is(err, kiro.ErrNoAccount) {
		t.Fatalf("err = %v", err)
	}
	// Over: a is back, first by priority.
	clk.Advance(32 * time.Second)
	if got, _ := as.Pick(ctx, "", nil); got != a {
		t.Fatalf("Pick = %v, want a after its cooldown", got.Name())
	}
	// A success resets the backoff.
	a.Report(nil)
	a.Report(rate)
	if st := a.status(clk.Now()); st.Until != clk.Now().Add(30*time.Second) {
		t.Fatalf("backoff not reset by success: %+v", st)
	}
	// Errors that are not the account's fault change nothing.
	b.Report(&kiro.UpstreamError{Status: 500})
	b.Report(&kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength})
	b.Report(context.Canceled)
	clk.Advance(time.Minute)
	for _, acct := range []*Account{a, b} {
		if st := acct.status(clk.Now()); st.State != StateActive {
			t.Fatalf("%s: %+v", acct.Name(), st)
		}
	}
	if log := logs.String(); !strings.Contains(log, `"msg":"account rate limited; cooling down"`) || !strings.Contains(log, `"account":"a"`) {
		t.Fatalf("no cooldown log line:\n%s", logs)
	}
}

func TestQuotaAndSuspension(t *testing.T) {
	t.Parallel()
	clk := newClock()
	as, _ := pool(t, newFakeAuth(t), clk, social("a", "1", 0), social("b", "2", 0))
	a, b := account(t, as, "a"), account(t, as, "b")
	a.Report(&kiro.UpstreamError{Status: 402, Reason: kiro.ReasonMonthlyQuota})
	b.Report(&kiro.UpstreamError{Status: 403, Reason: kiro.ReasonSuspended})

	snap := as.Snapshot()
	if snap[0].State != StateQuotaExhausted || !snap[0].Until.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("a = %+v", snap[0])
	}
	if snap[1].State != StateSuspended {
		t.Fatalf("b = %+v", snap[1])
	}
	_, err := as.Pick(context.Background(), "", nil)
	want := `account "a" has used its monthly quota until 2026-06-01 00:00; account "b" is suspended: Kiro suspended it (TEMPORARILY_SUSPENDED)`
	var nae *NoAccountError
	if !errors.As(err, &nae) || nae.Reason != want {
		t.Fatalf("err = %v\nwant reason %s", err, want)
	}
	if _, err := a.Token(context.Background(), false); !errors.Is(err, kiro.ErrNoAccount) {
		t.Fatalf("Token of an exhausted account: %v", err)
	}
	// The quota comes back on the 1st; a suspension only by a success.
	clk.Advance(14 * 24 * time.Hour)
	if got, err := as.Pick(context.Background(), "", nil); err != nil || got != a {
		t.Fatalf("Pick after the reset = %v, %v", got, err)
	}
	b.Report(nil)
	if st := b.status(clk.Now()); st.State != StateActive {
		t.Fatalf("b = %+v", st)
	}
}

func TestStickiness(t *testing.T) {
	t.Parallel()
	clk := newClock()
	as, _ := pool(t, newFakeAuth(t), clk, social("a", "1", 0), social("b", "2", 1), social("c", "3", 2))
	a, b := account(t, as, "a"), account(t, as, "b")
	ctx := context.Background()
	pick := func(conv string, exclude ...string) string {
		t.Helper()
		acct, err := as.Pick(ctx, conv, exclude)
		if err != nil {
			t.Fatal(err)
		}
		return acct.Name()
	}

	if got := pick("conv-1"); got != "a" {
		t.Fatalf("first pick %s", got)
	}
	a.Report(&kiro.UpstreamError{Status: 429})
	if got := pick("conv-1"); got != "b" {
		t.Fatalf("a cooling: %s, want b", got)
	}
	clk.Advance(time.Minute) // a is usable again, but conv-1 stays on b
	if got := pick("conv-1"); got != "b" {
		t.Fatalf("conv-1 moved to %s, want it to stay on b", got)
	}
	if got := pick("conv-2"); got != "a" {
		t.Fatalf("a new conversation got %s, want a", got)
	}
	if got := pick("conv-1", "b"); got != "a" {
		t.Fatalf("with b excluded: %s", got)
	}
	if got := pick("conv-1"); got != "a" {
		t.Fatalf("conv-1 should now stay on a, got %s", got)
	}
	b.Report(&kiro.UpstreamError{Status: 402, Reason: kiro.ReasonMonthlyQuota})
	if got := pick("conv-3", "a"); got != "c" {
		t.Fatalf("got %s, want c", got)
	}
	// An hour without use ends the stickiness.
	a.Report(&kiro.UpstreamError{Status: 429})
	if got := pick("conv-4"); got != "c" {
		t.Fatal(got)
	}
	clk.Advance(stickyTTL + time.Second)
	if got := pick("conv-4"); got != "a" {
		t.Fatalf("after the TTL: %s, want a by priority", got)
	}
}

func TestStickyMapIsBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	as, _ := pool(t, newFakeAuth(t), clk, social("a", "1", 0))
	for i := range maxSticky + 100 {
		if _, err := as.Pick(context.Background(), fmt.Sprint("conv-", i), nil); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			clk.Advance(time.Second)
		}
	}
	as.mu.Lock()
	n := len(as.sticky)
	_, newest := as.sticky[fmt.Sprint("conv-", maxSticky+99)]
	as.mu.Unlock()
	if n > maxSticky || !newest {
		t.Fatalf("%d sticky entries (max %d), newest kept %v", n, maxSticky, newest)
	}
}

func TestRefreshDue(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "rt-a", "rt-b", "rt-c")
	clk := newClock()
	as, _ := pool(t, fa, clk, social("a", "rt-a", 0), social("b", "rt-b", 0), social("c", "rt-c", 0))
	ctx := context.Background()
	if _, err := account(t, as, "a").Token(ctx, false); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	if _, err := account(t, as, "b").Token(ctx, false); err != nil {
		t.Fatal(err)
	}
	clk.Advance(22 * time.Minute) // a: 8 min left; b: 38 min; c: never used
	if err := as.RefreshDue(ctx); err != nil {
		t.Fatal(err)
	}
	if c := fa.calls.Load(); c != 3 {
		t.Fatalf("%d refreshes, want 3 (a twice, b once, c never)", c)
	}
	if exp := as.Snapshot()[0].ExpiresAt; !exp.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("a expires %v", exp)
	}
}

// The file-backed pool writes each rotation back atomically, 0600, keeping
// the file's other content, and stores the derived machine id at once.
func TestFileBackedRotation(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "rt-social", "rt-org")
	path := writeFile(t, `[
  {"name": "home", "refreshToken": "rt-social", "priority": 1, "comment": "keep me"},
  {"name": "org", "refreshToken": "rt-org", "authMethod": "idc", "clientId": "cid", "clientSecret": "cs", "region": "eu-west-1"}
]`, 0o644)
	clk := newClock()
	as, err := NewAccountsFromFile(path, AccountsOptions{
		HTTPClient: fa.srv.Client(), AuthBase: fa.srv.URL, OIDCBase: fa.srv.URL, Now: clk.Now,
		Logger: slog.New(slog.NewJSONHandler(&syncBuffer{}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	load := func() []Credential {
		t.Helper()
		f, err := LoadCredentials(path)
		if err != nil {
			t.Fatal(err)
		}
		return f.Credentials()
	}
	cs := load()
	if cs[0].MachineID != kiro.MachineID("rt-social") || cs[1].MachineID != kiro.MachineID("rt-org") {
		t.Fatalf("machine ids not stored at start: %q %q", cs[0].MachineID, cs[1].MachineID)
	}
	checkMode(t, path)

	ctx := context.Background()
	for _, name := range []string{"org", "home", "org"} {
		acct, err := as.Pick(ctx, "", []string{map[string]string{"org": "home", "home": "org"}[name]})
		if err != nil || acct.Name() != name {
			t.Fatalf("Pick = %v, %v", acct, err)
		}
		if _, err := acct.Token(ctx, true); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		// Written before Token returned: the file holds the live tokens now.
		cs := load()
		for i, family := range []string{"rt-social", "rt-org"} {
			if got, want := cs[i].RefreshToken.Reveal(), fa.liveToken(family); got != want {
				t.Fatalf("after refreshing %s: file has %q for %s, server's live token is %q", name, got, cs[i].Name, want)
			}
		}
	}
	if cs := load(); cs[0].MachineID != kiro.MachineID("rt-social") {
		t.Fatal("machine id changed with rotation")
	}
	checkMode(t, path)
	checkNoTemps(t, path)
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"comment": "keep me"`) || !strings.Contains(string(b), `"region": "eu-west-1"`) {
		t.Fatalf("file lost content:\n%s", b)
	}
}

func TestNewAccountsErrors(t *testing.T) {
	t.Parallel()
	for _, creds := range [][]Credential{
		nil,
		{{Name: "a"}},
		{social("a", "1", 0), social("a", "2", 0)},
		{{Name: "x", RefreshToken: "1", AuthMethod: AuthIdC}},
	} {
		if _, err := NewAccountsFromList(creds, AccountsOptions{}); err == nil {
			t.Errorf("NewAccountsFromList(%v): no error", creds)
		}
	}
	if _, err := NewAccountsFromFile(writeFile(t, `[]`, 0o600), AccountsOptions{}); err == nil || !strings.Contains(err.Error(), "no accounts") {
		t.Errorf("empty file: %v", err)
	}
}

// Against the simulated upstream (proxy/kirofake): social and IdC accounts
// from a file rotate through several refreshes, every rotation lands in the
// file, and a revoked login parks its account.
func TestAgainstKirofake(t *testing.T) {
	t.Parallel()
	fake := kirofake.New(kirofake.Config{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	srt, arn := fake.AddSocialAccount("home")
	irt, cid, cs := fake.AddIdCAccount("org")
	entries, _ := json.Marshal([]map[string]any{
		{"name": "home", "refreshToken": srt, "authMethod": "social"},
		{"name": "org", "refreshToken": irt, "authMethod": "idc", "clientId": cid, "clientSecret": cs, "priority": 1},
	})
	path := writeFile(t, string(entries), 0o600)
	clk := newClock()
	logs := &syncBuffer{}
	as, err := NewAccountsFromFile(path, AccountsOptions{
		AuthBase: srv.URL, OIDCBase: srv.URL, Now: clk.Now, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	ctx := context.Background()
	for range 3 {
		for _, name := range []string{"home", "org"} {
			tok, err := account(t, as, name).Token(ctx, true)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if name == "home" && tok.ProfileARN != arn {
				t.Fatalf("profile %q, want %q", tok.ProfileARN, arn)
			}
		}
		clk.Advance(time.Minute)
		// Starting over from the file works: it always holds the live tokens.
		f, err := LoadCredentials(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Credentials() {
			if c.RefreshToken != account(t, as, c.Name).cred.RefreshToken {
				t.Fatalf("%s: the file is behind memory", c.Name)
			}
		}
	}
	if u := fake.Usage("home"); u.Refreshes != 3 {
		t.Fatalf("home refreshed %d times, want 3", u.Refreshes)
	}
	fake.RevokeRefreshTokens("org")
	if _, err := account(t, as, "org").Token(ctx, true); !errors.Is(err, kiro.ErrNoAccount) {
		t.Fatalf("revoked login: %v", err)
	}
	if acct, err := as.Pick(ctx, "", nil); err != nil || acct.Name() != "home" {
		t.Fatalf("Pick = %v, %v", acct, err)
	}
	if strings.Contains(logs.String(), irt) || strings.Contains(logs.String(), cs) {
		t.Fatal("a secret reached the log")
	}
}

// Many accounts refreshing at once share one file: saves are serialised and
// the file ends up holding every account's live token.
func TestConcurrentRotationsShareTheFile(t *testing.T) {
	t.Parallel()
	const n = 6
	var tokens []string
	var entries []map[string]any
	for i := range n {
		rt := fmt.Sprint("rt", i)
		tokens = append(tokens, rt)
		entries = append(entries, map[string]any{"name": fmt.Sprint("acct", i), "refreshToken": rt})
	}
	fa := newFakeAuth(t, tokens...)
	raw, _ := json.Marshal(entries)
	path := writeFile(t, string(raw), 0o600)
	clk := newClock()
	as, err := NewAccountsFromFile(path, AccountsOptions{
		HTTPClient: fa.srv.Client(), AuthBase: fa.srv.URL, Now: clk.Now,
		Logger: slog.New(slog.NewJSONHandler(&syncBuffer{}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	for range 4 {
		var wg sync.WaitGroup
		for i := range 5 * n {
			wg.Go(func() {
				if _, err := as.list[i%n].Token(context.Background(), false); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		clk.Advance(58 * time.Minute) // every token due again
	}
	if c := fa.calls.Load(); c != 4*n {
		t.Fatalf("%d refreshes, want %d", c, 4*n)
	}
	f, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range f.Credentials() {
		if want := fa.liveToken(tokens[i]); c.RefreshToken.Reveal() != want {
			t.Fatalf("%s: file has %q, live token is %q", c.Name, c.RefreshToken.Reveal(), want)
		}
	}
	checkNoTemps(t, path)
}
