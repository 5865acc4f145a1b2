package app_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/kirofake"
)

// TestSignInAgainstDemoUpstream is what a tester does with `kirotray
// demo-upstream`: the App pointed at the simulated Kiro only through its
// Config (as main_gui.go builds it from KIROTRAY_*), Sign in… with AWS
// Builder ID (device page), Google and GitHub (portal page, loopback
// callback), then the proxy on the signed-in accounts, not the demo, and a
// request from the Anthropic SDK answered by the fake.
func TestSignInAgainstDemoUpstream(t *testing.T) {
	fake := kirofake.New(kirofake.Config{PortalPage: true, PriorUsage: true}) // as `kirotray demo-upstream`
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)

	person := kirofake.NewPerson("action", "approve")
	home := t.TempDir()
	a := app.New(app.Config{
		ConfigDir: t.TempDir(), Keychain: &keychain.Memory{}, Listen: "127.0.0.1:0", APIKey: "kt-test", Version: "test",
		Logger:  slog.New(slog.DiscardHandler),
		KiroAPI: up.URL, KiroAuth: up.URL, OIDC: up.URL,
		SignIn: app.SignInOptions{Portal: up.URL, Open: person.Open, Ports: []int{0},
			Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}, // approved before the first poll
		Home: home, IDE: app.IDEOptions{Home: home, ConfigDir: home, NoProcessCheck: true},
	})
	t.Cleanup(a.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	signIn := func(method string) app.AccountMeta {
		t.Helper()
		var prompts []app.SignInPrompt
		m, err := a.SignIn(ctx, app.SignInRequest{Method: method, Prompt: func(p app.SignInPrompt) { prompts = append(prompts, p) }})
		if err != nil {
			t.Fatalf("sign in with %s: %v", method, err)
		}
		if len(prompts) != 1 || !prompts[0].Opened || prompts[0].OpenErr != nil || !strings.HasPrefix(prompts[0].URL, up.URL+"/") {
			t.Fatalf("%s: prompts %+v", method, prompts)
		}
		return m
	}

	person.Press("action", "approve", nil)
	builder := signIn(app.SignInBuilder)
	if !strings.Contains(person.LastPage(), "Signed in as device-1@example.com") {
		t.Fatalf("device page answer: %s", person.LastPage())
	}
	person.Press("login_option", "google", map[string]string{"account": "alice"})
	google := signIn(app.SignInGoogle)
	if !strings.Contains(person.LastPage(), "You are signed in to kirotray") {
		t.Fatalf("callback page: %s", person.LastPage())
	}
	person.Press("login_option", "github", nil)
	github := signIn(app.SignInGitHub)

	for _, c := range []struct {
		m              app.AccountMeta
		kind           app.AccountKind
		provider, mail string
	}{
		{builder, app.KindBuilderID, "BuilderId", "device-1@example.com"},
		{google, app.KindSocial, "Google", "alice@example.com"},
		{github, app.KindSocial, "Github", "portal-2@example.com"},
	} {
		q := c.m.Quota
		if c.m.Kind != c.kind || c.m.Provider != c.provider || c.m.Email != c.mail || c.m.Source != app.SourceSignIn ||
			q == nil || q.Plan != "KIRO PRO" || q.Limit != 1000 || q.Used <= 0 || q.Used >= 500 || q.ResetAt.Day() != 1 {
			t.Errorf("signed in %+v, quota %+v; want %s %s %s", c.m, q, c.kind, c.provider, c.mail)
		}
	}
	views, err := a.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]app.AccountView{}
	for _, v := range views {
		byName[v.Name] = v
	}
	for _, m := range []app.AccountMeta{builder, google, github} {
		if v, ok := byName[m.Name]; !ok || v.Email != m.Email || v.Quota == nil || v.Quota.Plan != "KIRO PRO" {
			t.Errorf("account %q in the store: %+v (all: %+v)", m.Name, v, views)
		}
	}
	if len(views) != 3 {
		t.Fatalf("%d accounts stored: %+v", len(views), views)
	}

	events, unsubscribe := a.Hub().Subscribe()
	defer unsubscribe()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st := a.State()
	if st.Upstream != "kiro" || st.Proxy != app.Running {
		t.Fatalf("state %+v, want the signed-in accounts (kiro), running", st)
	}
	client := sdk(st.BaseURL, "kt-test")
	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello from the offline demo"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) == 0 || msg.Content[0].Text == "" {
		t.Fatalf("reply %+v", msg)
	}
	var finished activity.Request
	timeout := time.After(10 * time.Second)
	for finished.Kind != activity.RequestFinished {
		select {
		case env, ok := <-events:
			if !ok {
				t.Fatal("the hub closed the subscription")
			}
			if ev, ok := env.Data.(activity.Request); ok && env.Type == "request" {
				finished = ev
			}
		case <-timeout:
			t.Fatal("no request_finished event")
		}
	}
	used, ok := byName[finished.Account]
	if !ok || finished.Status != http.StatusOK {
		t.Fatalf("finished event %+v: not one of the signed-in accounts %v", finished, views)
	}
	recs := fake.Requests()
	if len(recs) != 1 || recs[0].Status != http.StatusOK || recs[0].Account+"@example.com" != used.Email {
		t.Fatalf("the fake saw %+v; the proxy used %q (%s)", recs, used.Name, used.Email)
	}
	if u := fake.Usage(recs[0].Account); u.Streams != 1 || u.Refreshes == 0 {
		t.Fatalf("fake usage of %s: %+v (want one stream, after a token refresh)", recs[0].Account, u)
	}
}

// A first start has no account and serves the demo upstream; the first
// sign-in moves the running proxy onto the new account by itself, on the
// same base URL, so Claude Code keeps working unchanged.
func TestSignInLeavesTheDemo(t *testing.T) {
	fake := kirofake.New(kirofake.Config{PortalPage: true, PriorUsage: true})
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	person := kirofake.NewPerson("action", "approve")
	home := t.TempDir()
	a := app.New(app.Config{
		ConfigDir: t.TempDir(), Keychain: &keychain.Memory{}, Listen: "127.0.0.1:0", APIKey: "kt-test", Version: "test",
		Logger:  slog.New(slog.DiscardHandler),
		KiroAPI: up.URL, KiroAuth: up.URL, OIDC: up.URL,
		SignIn: app.SignInOptions{Portal: up.URL, Open: person.Open, Ports: []int{0},
			Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }},
		Home: home, IDE: app.IDEOptions{Home: home, ConfigDir: home, NoProcessCheck: true},
	})
	t.Cleanup(a.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first := a.State()
	if first.Upstream != "demo" {
		t.Fatalf("first start: %+v, want the demo upstream", first)
	}
	states := a.Watch(ctx)
	person.Press("action", "approve", nil)
	if _, err := a.SignIn(ctx, app.SignInRequest{Method: app.SignInBuilder}); err != nil {
		t.Fatal(err)
	}
	for st := range states {
		if st.Proxy == app.Running && st.Upstream == "kiro" {
			if st.BaseURL != first.BaseURL {
				t.Fatalf("base URL moved from %s to %s", first.BaseURL, st.BaseURL)
			}
			return
		}
	}
	t.Fatalf("the proxy never left the demo upstream: %+v", a.State())
}
