package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// serveStore runs Serve on the account store in dir, with kc, against upstream.
func serveStore(t *testing.T, dir string, kc *testKeychain, upstream string) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeConfig{
			Listen: "127.0.0.1:0", APIKey: "k", KiroAPI: upstream, KiroAuth: upstream, OIDC: upstream,
			ConfigDir: dir, Keychain: kc, Logger: slog.New(slog.NewTextHandler(logs, nil)),
			Ready: func(u string) { ready <- u },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case u := <-ready:
		return u, logs
	case err := <-done:
		t.Fatalf("serve ended: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", nil
}

func ask(t *testing.T, base string) (int, string) {
	t.Helper()
	body := `{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hello"}]}`
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader([]byte(body)))
	req.Header.Set("x-api-key", "k")
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lastAccount is the account kirofake saw on its latest chat call.
func lastAccount(fake *kirofake.Server) string {
	rs := fake.Requests()
	if len(rs) == 0 {
		return ""
	}
	return rs[len(rs)-1].Account
}

// `kirotray serve` without --credentials serves the store's accounts,
// keeps their rotated tokens in the keychain, follows changes made while it
// runs, and records state and quota for `accounts list`.
func TestServeUsesTheAccountStore(t *testing.T) {
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true})
	art, _ := fake.AddSocialAccount("alice")
	brt, _ := fake.AddSocialAccount("bob")
	dir := t.TempDir()
	kc := &testKeychain{}
	s, err := OpenStore(dir, kc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(socialMeta("alice", ""), rt(art)); err != nil {
		t.Fatal(err)
	}
	base, logs := serveStore(t, dir, kc, srv.URL)
	if status, body := ask(t, base); status != 200 || lastAccount(fake) != "alice" {
		t.Fatalf("%d %s (account %q)\n%s", status, body, lastAccount(fake), logs)
	}
	if !strings.Contains(logs.String(), "account store") || strings.Contains(logs.String(), "demo upstream") {
		t.Fatalf("logs:\n%s", logs)
	}
	// The live token is in the keychain, and it is not the imported one.
	d, _ := s.Load()
	sec, _ := s.Secrets(d.Accounts[0])
	if sec.RefreshToken.Reveal() == art {
		t.Fatal("rotated token not in the keychain")
	}
	// A second serve on the same store is refused: two processes would
	// spend each other's single-use tokens.
	err = Serve(context.Background(), ServeConfig{Listen: "127.0.0.1:0", APIKey: "k", KiroAPI: srv.URL, KiroAuth: srv.URL,
		ConfigDir: dir, Keychain: kc, Logger: quietLog()})
	if err == nil || !strings.Contains(err.Error(), "another kirotray") {
		t.Fatalf("second serve: %v", err)
	}

	// Another process adds bob, gives him priority and disables alice.
	s.Add(socialMeta("bob", ""), rt(brt))
	s.SetPriority("bob", -1)
	s.SetEnabled("alice", false)
	untilTrue(t, "bob to serve", func() bool {
		status, _ := ask(t, base)
		return status == 200 && lastAccount(fake) == "bob"
	})
	// The background recorded quota (read at start) in the store.
	untilTrue(t, "quota in the store", func() bool {
		d, _ := s.Load()
		a := d.Account("bob")
		return a != nil && a.Quota != nil && a.Quota.Plan == "KIRO PRO" && a.Email != ""
	})
	for _, secret := range []string{art, brt, sec.RefreshToken.Reveal()} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a token reached the log")
		}
	}
}

// With no account anywhere, serve still starts: on the demo upstream, saying how to add one.
func TestServeEmptyStoreFallsBackToDemo(t *testing.T) {
	_, srv := fakeUpstream(t, kirofake.Config{})
	base, logs := serveStore(t, t.TempDir(), &testKeychain{}, srv.URL)
	if status, _ := ask(t, base); status != 200 {
		t.Fatalf("demo answered %d", status)
	}
	if !strings.Contains(logs.String(), "demo upstream") || !strings.Contains(logs.String(), "accounts login") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// Accounts exist but the keychain is gone: serve says so and stops, never
// silently serving the demo or a file.
func TestServeWithoutKeychainSaysSo(t *testing.T) {
	_, srv := fakeUpstream(t, kirofake.Config{})
	dir := t.TempDir()
	kc := &testKeychain{}
	s, _ := OpenStore(dir, kc)
	s.Add(socialMeta("alice", ""), Secrets{RefreshToken: redact.Secret("rt")})
	kc.fail(nil, errNoSecretService)
	err := Serve(context.Background(), ServeConfig{Listen: "127.0.0.1:0", APIKey: "k", KiroAPI: srv.URL, KiroAuth: srv.URL,
		ConfigDir: dir, Keychain: kc, Logger: quietLog()})
	if err == nil || !strings.Contains(err.Error(), "--credentials FILE") {
		t.Fatalf("err = %v", err)
	}
}
