package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// untilTrue polls cond (a test helper, not product code) until it holds or 10 s pass.
func untilTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fakeUpstream(t *testing.T, cfg kirofake.Config) (*kirofake.Server, *httptest.Server) {
	t.Helper()
	fake := kirofake.New(cfg)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Tokens are renewed by a timer before they expire, never by a loop: with
// 4 s tokens and a 1–2 s lead, each is renewed every 2–3 s and requests
// never wait for a refresh.
func TestBackgroundRefreshesAheadOfExpiry(t *testing.T) {
	t.Parallel()
	fake, srv := fakeUpstream(t, kirofake.Config{AccessTTL: 4 * time.Second})
	rt, _ := fake.AddSocialAccount("a")
	as, err := NewAccountsFromList([]Credential{{Name: "a", RefreshToken: redact.Secret(rt)}},
		AccountsOptions{AuthBase: srv.URL, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	as.leadMin, as.leadMax = time.Second, 2*time.Second
	defer as.Close()
	a := as.Account("a")
	if _, err := a.Token(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	bg := StartBackground(as, BackgroundOptions{Logger: quietLog(), minGap: 100 * time.Millisecond})
	defer bg.Stop()
	start := time.Now()
	untilTrue(t, "two background refreshes", func() bool { return fake.Usage("a").Refreshes >= 3 })
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("renewed too early: 2 refreshes in %v", d)
	}
	a.mu.Lock()
	left := a.expires.Sub(time.Now())
	a.mu.Unlock()
	if left < time.Second {
		t.Fatalf("token has only %v left after a background refresh", left)
	}
}

// Quota is read at start, after use (at most once per QuotaAfterUse), and
// an exhausted quota parks the account until its reset.
func TestBackgroundQuota(t *testing.T) {
	t.Parallel()
	fake, srv := fakeUpstream(t, kirofake.Config{})
	art, _ := fake.AddSocialAccount("a")
	brt, _ := fake.AddSocialAccount("b")
	as, err := NewAccountsFromList([]Credential{{Name: "a", RefreshToken: redact.Secret(art)}, {Name: "b", RefreshToken: redact.Secret(brt), Priority: 1}},
		AccountsOptions{AuthBase: srv.URL, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	client := kiro.New(kiro.Config{BaseURL: srv.URL, Accounts: as})
	t.Cleanup(client.CloseIdleConnections)
	bg := StartBackground(as, BackgroundOptions{Client: client, Logger: quietLog(), QuotaAfterUse: time.Second})
	defer bg.Stop()
	untilTrue(t, "quota read at start", func() bool {
		s := as.Snapshot()
		return s[0].Quota != nil && s[1].Quota != nil
	})
	q := as.Snapshot()[0].Quota
	if q.Plan != "KIRO PRO" || q.Limit != 1000 || q.RemainingPercent != 100 || q.ResetAt.IsZero() || as.Snapshot()[0].Email == "" {
		t.Fatalf("quota %+v", q)
	}
	// Many requests on a: one more read, a second after the last, not one per request.
	a := as.Account("a")
	for range 20 {
		a.Report(nil)
		time.Sleep(10 * time.Millisecond)
	}
	untilTrue(t, "a read after use", func() bool { return fake.Usage("a").UsageQueries >= 2 })
	time.Sleep(1200 * time.Millisecond)
	if n := fake.Usage("a").UsageQueries; n != 2 {
		t.Fatalf("%d quota reads of a, want 2 (start, after use)", n)
	}
	if n := fake.Usage("b").UsageQueries; n != 1 {
		t.Fatalf("%d quota reads of the idle b, want 1", n)
	}
	// An exhausted quota (no overage) parks the account until the reset; room lifts it.
	used := &Quota{Limit: 1000, Remaining: 0, ResetAt: time.Now().Add(72 * time.Hour), CheckedAt: time.Now()}
	a.setQuota(used, "", "")
	if st := a.status(time.Now()); st.State != StateQuotaExhausted || !st.Until.Equal(used.ResetAt) {
		t.Fatalf("after an exhausted quota: %+v", st)
	}
	if p, err := as.Pick(context.Background(), "", nil); err != nil || p.Name() != "b" {
		t.Fatalf("Pick = %v, %v", p, err)
	}
	a.setQuota(&Quota{Limit: 1000, Remaining: 10, RemainingPercent: 1, CheckedAt: time.Now()}, "", "")
	if st := a.status(time.Now()); st.State != StateActive {
		t.Fatalf("after room came back: %+v", st)
	}
}

// writeIDE writes the IDE's token file the way account managers do: a
// temporary file renamed over it.
func writeIDE(t *testing.T, path, access string, expires time.Time) {
	t.Helper()
	body := fmt.Sprintf(`{"accessToken":%q,"refreshToken":"aorIDE-never-used","expiresAt":%q,"profileArn":"%s","authMethod":"social","provider":"Github"}`,
		access, expires.UTC().Format("2006-01-02T15:04:05.000Z"), "")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// An account following the Kiro IDE uses the IDE's access token, never
// refreshes it, never writes the file, and picks up a renewed token or a
// new sign-in by looking at the file again.
func TestIDEFollower(t *testing.T) {
	t.Parallel()
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true})
	fake.AddSocialAccount("ide")
	dir := t.TempDir()
	path := filepath.Join(dir, "kiro-auth-token.json")
	first := fake.IssueAccessToken("ide")
	writeIDE(t, path, first, time.Now().Add(time.Hour))

	as, err := NewAccountsFromList([]Credential{{Name: "kiro-ide", Follow: path, ID: "x"}}, AccountsOptions{AuthBase: srv.URL, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	client := kiro.New(kiro.Config{BaseURL: srv.URL, Accounts: as})
	t.Cleanup(client.CloseIdleConnections)
	ctx := context.Background()
	if _, err := client.UsageLimits(ctx, as.Account("kiro-ide")); err != nil {
		t.Fatalf("with the IDE's token: %v", err)
	}
	// The IDE renews its token (and the old one stops working): picked up.
	fake.RevokeAccessTokens("ide")
	second := fake.IssueAccessToken("ide")
	writeIDE(t, path, second, time.Now().Add(time.Hour))
	a := as.Account("kiro-ide")
	secondPassed(a)
	tok, err := a.Token(ctx, false)
	if err != nil || tok.Access.Reveal() != second {
		t.Fatalf("after the IDE renewed: %v (same token: %v)", err, tok.Access.Reveal() == first)
	}
	// Even if the file's change was not noticed, a refused token re-reads it.
	fake.RevokeAccessTokens("ide")
	third := fake.IssueAccessToken("ide")
	a.follow.mu.Lock()
	a.follow.checked = time.Now().Add(time.Hour) // no stat for a while
	a.follow.mu.Unlock()
	writeIDE(t, path, third, time.Now().Add(time.Hour))
	if _, err := client.UsageLimits(ctx, a); err != nil {
		t.Fatalf("after a refused token: %v", err)
	}
	a.follow.mu.Lock()
	a.follow.checked = time.Time{}
	a.follow.mu.Unlock()

	// The IDE is closed and its token runs out: the account pauses, saying why.
	fake.RevokeAccessTokens("ide")
	writeIDE(t, path, "aoaSTALE", time.Now().Add(time.Minute))
	_, err = a.Token(ctx, true)
	var stale *IDEStaleError
	if !errors.As(err, &stale) || !strings.Contains(err.Error(), "open Kiro") {
		t.Fatalf("stale IDE token: %v", err)
	}
	if st := a.status(time.Now()); st.State != StateCooling || !strings.Contains(st.Reason, "open Kiro") {
		t.Fatalf("status %+v", st)
	}
	// Kiro opens and renews: back at once (the change is seen on the next pick).
	fresh := fake.IssueAccessToken("ide")
	writeIDE(t, path, fresh, time.Now().Add(time.Hour))
	secondPassed(a)
	if p, err := as.Pick(ctx, "", nil); err != nil || p.Name() != "kiro-ide" {
		t.Fatalf("Pick after renewal: %v %v", p, err)
	}
	// The IDE signs out (file gone): needs sign-in; signs in again: back.
	os.Remove(path)
	if _, err := a.Token(ctx, true); !errors.Is(err, kiro.ErrNoAccount) || !strings.Contains(err.Error(), "signed out") {
		t.Fatalf("signed out: %v", err)
	}
	writeIDE(t, path, fake.IssueAccessToken("ide"), time.Now().Add(time.Hour))
	secondPassed(a)
	if _, err := a.Token(ctx, false); err != nil {
		t.Fatalf("signed in again: %v", err)
	}
	if u := fake.Usage("ide"); u.Refreshes != 0 {
		t.Fatalf("the IDE's login was refreshed %d times", u.Refreshes)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "aorIDE-never-used") {
		t.Fatal("the IDE's file was changed")
	}
}

// secondPassed makes the follower look at the IDE file again on its next
// use, as it does once a second.
func secondPassed(a *Account) {
	a.follow.mu.Lock()
	a.follow.checked = time.Time{}
	a.follow.mu.Unlock()
}

func TestDetectIDE(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	o := IDEOptions{Home: home, ConfigDir: filepath.Join(home, "cfg"), NoProcessCheck: true}
	if l := DetectIDE(o); l.State != IDENotSignedIn {
		t.Fatalf("%+v", l)
	}
	cache := filepath.Join(home, ".aws", "sso", "cache")
	os.MkdirAll(cache, 0o700)
	path := filepath.Join(cache, "kiro-auth-token.json")
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name, body string
		reg        string // the registration file's content, if any
		want       IDEState
		kind       AccountKind
	}{
		{"social", "\xef\xbb\xbf" + `{"accessToken":"a","refreshToken":"r","expiresAt":"` + exp + `","authMethod":"social","provider":"Google"}`, "", IDESignedIn, KindSocial},
		{"stale", `{"accessToken":"a","refreshToken":"r","expiresAt":"2020-01-01T00:00:00.000Z","authMethod":"social","provider":"Github"}`, "", IDENeedsRenewal, KindSocial},
		{"idc ok", `{"accessToken":"a","refreshToken":"r","expiresAt":"` + exp + `","authMethod":"IdC","provider":"Enterprise","clientIdHash":"abc123","region":"eu-west-1"}`,
			`{"clientId":"c","clientSecret":"s","expiresAt":"2099-01-01T00:00:00Z"}`, IDESignedIn, KindIdC},
		{"idc expired registration", `{"accessToken":"a","refreshToken":"r","expiresAt":"` + exp + `","authMethod":"IdC","provider":"BuilderId","clientIdHash":"abc123"}`,
			`{"clientId":"c","clientSecret":"s","expiresAt":"2020-01-01T00:00:00Z"}`, IDEIncomplete, KindBuilderID},
		{"idc no registration", `{"accessToken":"a","refreshToken":"r","expiresAt":"` + exp + `","authMethod":"IdC","clientIdHash":"../../etc"}`, "", IDEIncomplete, KindIdC},
		{"garbage", `{"accessToken":`, "", IDEUnreadable, ""},
	}
	for _, c := range cases {
		os.Remove(filepath.Join(cache, "abc123.json"))
		if c.reg != "" {
			os.WriteFile(filepath.Join(cache, "abc123.json"), []byte(c.reg), 0o600)
		}
		os.WriteFile(path, []byte(c.body), 0o600)
		l := DetectIDE(o)
		if l.State != c.want || c.kind != "" && l.Kind != c.kind {
			t.Errorf("%s: %s %s (%s)", c.name, l.State, l.Kind, l.Detail)
		}
	}
	// A symbolic link is refused, as the IDE refuses it.
	os.Remove(path)
	target := filepath.Join(home, "elsewhere.json")
	os.WriteFile(target, []byte(`{"accessToken":"a","expiresAt":"`+exp+`"}`), 0o600)
	os.Symlink(target, path)
	if l := DetectIDE(o); l.State != IDEUnreadable || !strings.Contains(l.Detail, "symbolic link") {
		t.Fatalf("symlink: %+v", l)
	}
	// The profile an IdC login uses is in the IDE's profile.json.
	os.Remove(path)
	os.WriteFile(path, []byte(`{"accessToken":"a","refreshToken":"r","expiresAt":"`+exp+`","authMethod":"IdC","clientIdHash":"abc123"}`), 0o600)
	os.WriteFile(filepath.Join(cache, "abc123.json"), []byte(`{"clientId":"c","clientSecret":"s"}`), 0o600)
	prof := filepath.Join(home, "cfg", "Kiro", "User", "globalStorage", "kiro.kiroagent")
	os.MkdirAll(prof, 0o700)
	os.WriteFile(filepath.Join(prof, "profile.json"), []byte(`{"arn":"arn:aws:codewhisperer:eu-central-1:1:profile/P"}`), 0o600)
	if l := DetectIDE(o); l.ProfileARN != "arn:aws:codewhisperer:eu-central-1:1:profile/P" {
		t.Fatalf("profile %q", l.ProfileARN)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 5, 18, 9, 41, 48, 944e6, time.UTC)
	for _, in := range []string{`"2026-05-18T09:41:48.944Z"`, `"2026-05-18T09:41:48.944+00:00"`, `"2026-05-18 09:41:48.944"`,
		`1779097308.944`, `1779097308944`, `"1779097308944"`} {
		got, ok := parseTime([]byte(in))
		if !ok || got.Sub(want).Abs() > time.Millisecond {
			t.Errorf("%s → %v %v", in, got, ok)
		}
	}
	if _, ok := parseTime([]byte(`"tomorrow"`)); ok {
		t.Error("parsed nonsense")
	}
}

// Many requests arriving at once with an expired token cause one refresh,
// and failover under load keeps every request served while one account is
// rate limited.
func TestNoRefreshStormAndFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true})
	art, _ := fake.AddSocialAccount("a")
	brt, _ := fake.AddSocialAccount("b")
	as, err := NewAccountsFromList([]Credential{{Name: "a", RefreshToken: redact.Secret(art)}, {Name: "b", RefreshToken: redact.Secret(brt), Priority: 1}},
		AccountsOptions{AuthBase: srv.URL, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			acct, err := as.Pick(ctx, "", nil)
			if err == nil {
				_, err = acct.Token(ctx, false)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := fake.Usage("a").Refreshes; n != 1 {
		t.Fatalf("%d refreshes for 100 simultaneous requests, want 1", n)
	}
	// a is throttled: requests fail over to b, concurrently, with -race.
	fake.SetAccountFault("a", kirofake.Throttled())
	client := kiro.New(kiro.Config{BaseURL: srv.URL, Accounts: as, Sleep: func(context.Context, time.Duration) error { return nil }})
	t.Cleanup(client.CloseIdleConnections)
	var served atomic.Int32
	for range 40 {
		wg.Go(func() {
			if _, err := client.UsageLimits(ctx, mustPick(t, as)); err == nil {
				served.Add(1)
			}
		})
	}
	wg.Wait()
	for range 40 {
		wg.Go(func() {
			acct := mustPick(t, as)
			if acct.Name() != "a" {
				served.Add(1)
				return
			}
			acct.Report(&kiro.UpstreamError{Status: http.StatusTooManyRequests})
		})
	}
	wg.Wait()
	if st := as.Account("a").status(time.Now()); st.State != StateCooling {
		t.Fatalf("a: %+v", st)
	}
	if p := mustPick(t, as); p.Name() != "b" {
		t.Fatalf("picked %s while a cools down", p.Name())
	}
}

func mustPick(t *testing.T, as *Accounts) kiro.Account {
	a, err := as.Pick(context.Background(), "", nil)
	if err != nil {
		t.Error(err)
		return staticAccount{}
	}
	return a
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	fa := newFakeAuth(t, "ra", "rb")
	mk := func(global RateLimit, per ...RateLimit) *Accounts {
		creds := []Credential{social("a", "ra", 0), social("b", "rb", 1)}
		for i := range per {
			creds[i].RateLimit = per[i]
		}
		as, err := NewAccountsFromList(creds, AccountsOptions{HTTPClient: fa.srv.Client(), AuthBase: fa.srv.URL,
			Logger: quietLog(), RateLimit: global, MaxRateWait: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { as.Close() })
		return as
	}
	ctx := context.Background()
	pick := func(as *Accounts) string {
		a, err := as.Pick(ctx, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return a.Name()
	}

	// Off by default: no waiting.
	as := mk(RateLimit{})
	start := time.Now()
	for range 50 {
		pick(as)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("picks waited with no limit set")
	}
	// Global minimum interval: picks are spaced.
	as = mk(RateLimit{MinInterval: Duration(40 * time.Millisecond)})
	start = time.Now()
	for range 4 {
		pick(as)
	}
	if d := time.Since(start); d < 110*time.Millisecond {
		t.Fatalf("4 picks in %v with a 40 ms interval", d)
	}
	// Per-account: a's limit reached, b takes the next requests.
	as = mk(RateLimit{}, RateLimit{PerMinute: 2})
	got := []string{pick(as), pick(as), pick(as), pick(as)}
	if strings.Join(got, ",") != "a,a,b,b" {
		t.Fatalf("picks %v", got)
	}
	// Every account at its limit for longer than MaxRateWait: a clear error.
	as = mk(RateLimit{PerMinute: 1})
	pick(as)
	_, err := as.Pick(ctx, "", nil)
	var nae *NoAccountError
	if !errors.As(err, &nae) || !strings.Contains(nae.Reason, "rate limit") {
		t.Fatalf("over the limit: %v", err)
	}
	// A wait ends with the request's context.
	as = mk(RateLimit{MinInterval: Duration(time.Second)})
	pick(as)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := as.Pick(cctx, "", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
	for _, c := range []struct {
		in   string
		want RateLimit
	}{{"off", RateLimit{}}, {"30/min", RateLimit{PerMinute: 30}}, {"2s", RateLimit{MinInterval: Duration(2 * time.Second)}},
		{"10/min, 500ms", RateLimit{PerMinute: 10, MinInterval: Duration(500 * time.Millisecond)}}} {
		if got, err := ParseRateLimit(c.in); err != nil || got != c.want {
			t.Errorf("ParseRateLimit(%q) = %v, %v", c.in, got, err)
		}
	}
	for _, bad := range []string{"0/min", "fast", "-1s"} {
		if _, err := ParseRateLimit(bad); err == nil {
			t.Errorf("ParseRateLimit(%q) worked", bad)
		}
	}
}

// forwardProxy is an HTTP proxy that counts what it forwards.
type forwardProxy struct {
	srv *httptest.Server
	n   atomic.Int32
}

func newForwardProxy(t *testing.T) *forwardProxy {
	p := &forwardProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.n.Add(1)
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// Refresh calls and upstream calls go through the account's proxy, or the
// pool's; "direct" bypasses both.
func TestOutboundProxy(t *testing.T) {
	t.Parallel()
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true})
	global, own := newForwardProxy(t), newForwardProxy(t)
	var creds []Credential
	for _, n := range []string{"viaOwn", "viaGlobal", "direct"} {
		rt, _ := fake.AddSocialAccount(n)
		c := Credential{Name: n, RefreshToken: redact.Secret(rt)}
		switch n {
		case "viaOwn":
			c.Proxy = own.srv.URL
		case "direct":
			c.Proxy = ProxyDirect
		}
		creds = append(creds, c)
	}
	as, err := NewAccountsFromList(creds, AccountsOptions{AuthBase: srv.URL, Logger: quietLog(), Proxy: global.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	client := kiro.New(kiro.Config{BaseURL: srv.URL, Accounts: as, HTTPClient: &http.Client{Transport: as.UpstreamTransport()}})
	ctx := context.Background()
	count := func() (int32, int32) { return own.n.Load(), global.n.Load() }
	for _, c := range []struct {
		name       string
		own, glob_ int32
	}{{"viaOwn", 2, 0}, {"viaGlobal", 0, 2}, {"direct", 0, 0}} {
		o0, g0 := count()
		if _, err := client.UsageLimits(ctx, as.Account(c.name)); err != nil { // a refresh, then the call
			t.Fatalf("%s: %v", c.name, err)
		}
		o1, g1 := count()
		if o1-o0 != c.own || g1-g0 != c.glob_ {
			t.Errorf("%s: own proxy %d, global %d; want %d, %d", c.name, o1-o0, g1-g0, c.own, c.glob_)
		}
	}
	if _, err := NewAccountsFromList(creds[:1], AccountsOptions{Proxy: "ftp://x"}); err == nil {
		t.Fatal("an ftp proxy was accepted")
	}
	if got := MaskProxy("socks5://u:pw@h:1"); strings.Contains(got, "pw") {
		t.Fatal(got)
	}
}

func TestQuotaFromUsage(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 28, 0, 0, 0, 0, time.UTC)
	u := &kiro.UsageLimits{
		NextDateReset: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), OverageStatus: "DISABLED",
		Subscription: kiro.Subscription{Title: "KIRO FREE"},
		Breakdowns: []kiro.UsageBreakdown{{ResourceType: "CREDIT", DisplayNamePlural: "Credits", CurrentUsage: 50, UsageLimit: 50,
			FreeTrial: &kiro.FreeTrial{Status: "ACTIVE", CurrentUsage: 100, UsageLimit: 500, Expiry: now.Add(240 * time.Hour)},
			Bonuses: []kiro.Bonus{{Status: "ACTIVE", UsageLimit: 100, CurrentUsage: 12.5, ExpiresAt: now.Add(48 * time.Hour)},
				{Status: "EXPIRED", UsageLimit: 1000}}}},
	}
	q := QuotaFromUsage(u, now)
	if q.Limit != 650 || q.Remaining != 487.5 || q.Used != 162.5 || q.Bonus.Limit != 100 || q.FreeTrial.Limit != 500 || q.Exhausted() {
		t.Fatalf("%+v", q)
	}
	s := q.Summary(now)
	for _, want := range []string{"487.5 of 650 credits left (75%)", "KIRO FREE", "free trial 100/500", "bonus 12.5/100", "resets 2026-06-01 (in 4 days)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q lacks %q", s, want)
		}
	}
	u.Breakdowns[0].FreeTrial, u.Breakdowns[0].Bonuses = nil, nil
	if q := QuotaFromUsage(u, now); !q.Exhausted() || !strings.Contains(q.Summary(now), "EXHAUSTED") {
		t.Fatalf("%+v", q)
	}
}

func TestDetectKiroCLI(t *testing.T) {
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("no sqlite3 program")
	}
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", "") // the default place under home
	if l := DetectKiroCLI(home); l.Found {
		t.Fatalf("%+v", l)
	}
	path := KiroCLIPath(home)
	if path == "" {
		t.Skip("kiro-cli keeps no login here on this OS")
	}
	os.MkdirAll(filepath.Dir(path), 0o700)
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	sql := `CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO auth_kv VALUES ('kirocli:social:token', '{"access_token":"aoa","refresh_token":"aor","expires_at":"` + exp + `","region":"us-east-1"}');`
	if out, err := exec.Command(bin, path, sql).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	l := DetectKiroCLI(home)
	if !l.Found || !l.SignedIn || l.Kind != KindSocial || l.ExpiresAt.IsZero() {
		t.Fatalf("%+v", l)
	}
}
