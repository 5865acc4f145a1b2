package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kirotray/kirotray/app/auth"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// ideFile is the IDE's login as the tests write it: keys kirotray does not
// know around the ones it rewrites, and a BOM the IDE itself would choke on.
func writeIDEFull(t *testing.T, path, access, refresh string, expires time.Time, extra string, bom bool) {
	t.Helper()
	body := `{"zzFirst":{"keep":[1,2]},"accessToken":"` + access + `","refreshToken":"` + refresh + `","expiresAt":"` +
		expires.UTC().Format("2006-01-02T15:04:05.000Z") + `"` + extra + `,"lastKey":"x"}`
	if bom {
		body = "\xef\xbb\xbf" + body
	}
	if err := WriteFileAtomic(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readIDEJSON(t *testing.T, path string) (keys []string, m map[string]any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		t.Fatal("a BOM in the IDE's file")
	}
	fields, err := objectFields(b)
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for _, f := range fields {
		keys = append(keys, f.key)
	}
	json.Unmarshal(b, &m)
	return keys, m
}

type keepFreshSetup struct {
	fake    *kirofake.Server
	url     string
	path    string
	refresh string // the refresh token first written to the file
	access  string
}

// newKeepFresh puts an IDE login of kind ("social" or "idc") in a temporary
// ~/.aws/sso/cache, its access token expiring in left.
func newKeepFresh(t *testing.T, kind string, left time.Duration) *keepFreshSetup {
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true})
	dir := t.TempDir()
	k := &keepFreshSetup{fake: fake, url: srv.URL, path: filepath.Join(dir, "kiro-auth-token.json")}
	extra := `,"profileArn":"` + "" + `","authMethod":"social","provider":"Github"`
	if kind == "idc" {
		rt, id, secret := fake.AddIdCAccount("ide")
		k.refresh = rt
		reg, _ := json.Marshal(map[string]string{"clientId": id, "clientSecret": secret, "expiresAt": time.Now().Add(80 * 24 * time.Hour).Format(time.RFC3339)})
		os.WriteFile(filepath.Join(dir, "3f1c.json"), reg, 0o600)
		extra = `,"authMethod":"IdC","provider":"Enterprise","clientIdHash":"3f1c","region":"eu-west-1"`
	} else {
		k.refresh, _ = fake.AddSocialAccount("ide")
	}
	k.access = fake.IssueAccessToken("ide")
	writeIDEFull(t, k.path, k.access, k.refresh, time.Now().Add(left), extra, true)
	return k
}

func (k *keepFreshSetup) pool(t *testing.T) *Accounts {
	t.Helper()
	as, err := NewAccountsFromList([]Credential{{Name: "kiro-ide", ID: "x", Follow: k.path, KeepFresh: true}},
		AccountsOptions{AuthBase: k.url, OIDCBase: k.url, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	return as
}

// works checks a token against kirofake's data plane.
func (k *keepFreshSetup) works(t *testing.T, as *Accounts) {
	t.Helper()
	client := kiro.New(kiro.Config{BaseURL: k.url, Accounts: as})
	defer client.CloseIdleConnections()
	if _, err := client.UsageLimits(context.Background(), as.Account("kiro-ide")); err != nil {
		t.Fatalf("the token does not work: %v", err)
	}
}

// setHook installs testHookWriteback for one test.
func setHook(t *testing.T, f func(step, path string)) {
	testHookWriteback = f
	t.Cleanup(func() { testHookWriteback = nil })
}

// ideRenews is the IDE renewing its own login: refresh with the file's
// token, write the answer back.
func ideRenews(t *testing.T, k *keepFreshSetup) string {
	t.Helper()
	cur, err := ReadIDEToken(k.path)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := auth.RefreshSocial(context.Background(), nil, k.url, cur.RefreshToken, "KiroIDE")
	if err != nil {
		t.Fatalf("the IDE's own refresh: %v", err)
	}
	writeIDEFull(t, k.path, toks.Access.Reveal(), toks.Refresh.Reveal(), time.Now().Add(time.Hour), `,"authMethod":"social","provider":"Github"`, false)
	return toks.Access.Reveal()
}

// With --keep-fresh, a login the IDE did not renew is renewed by kirotray
// and written back: both tokens, atomically, mode 0600, no BOM, other keys
// kept in place. The IDE's refresh token never reaches the keychain.
func TestKeepFreshRenewsAndWritesBack(t *testing.T) {
	for _, kind := range []string{"social", "idc"} {
		t.Run(kind, func(t *testing.T) {
			k := newKeepFresh(t, kind, 5*time.Minute)
			b, _ := os.ReadFile(k.path)
			before, _ := objectFields(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
			var keysBefore []string
			for _, f := range before {
				keysBefore = append(keysBefore, f.key)
			}
			dir := t.TempDir()
			kc := &testKeychain{}
			s, _ := OpenStore(dir, kc)
			if _, err := s.Add(AccountMeta{Name: "kiro-ide", Kind: KindSocial, Source: SourceIDE, IDEFile: k.path, KeepFresh: true}, Secrets{}); err != nil {
				t.Fatal(err)
			}
			as, err := NewAccountsFromStore(s, AccountsOptions{AuthBase: k.url, OIDCBase: k.url, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			defer as.Close()
			tok, err := as.Account("kiro-ide").Token(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			if k.fake.Usage("ide").Refreshes != 1 || tok.Access.Reveal() == k.access {
				t.Fatalf("%d refreshes", k.fake.Usage("ide").Refreshes)
			}
			keys, m := readIDEJSON(t, k.path)
			if strings.Join(keys, ",") != strings.Join(keysBefore, ",") {
				t.Fatalf("keys %v, were %v", keys, keysBefore)
			}
			if m["accessToken"] != tok.Access.Reveal() || m["refreshToken"] == k.refresh || m["lastKey"] != "x" || m["zzFirst"] == nil {
				t.Fatalf("file %v", m)
			}
			if exp, _ := time.Parse(time.RFC3339, m["expiresAt"].(string)); time.Until(exp) < 50*time.Minute {
				t.Fatalf("expiresAt %v", m["expiresAt"])
			}
			if st, _ := os.Stat(k.path); st.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v", st.Mode())
			}
			// The rotated token in the file is the live one; the old one is spent.
			if kind == "social" {
				if _, err := auth.RefreshSocial(context.Background(), nil, k.url, redact.Secret(k.refresh), ""); !errors.Is(err, auth.ErrInvalidGrant) {
					t.Fatalf("old refresh token: %v", err)
				}
			}
			k.works(t, as)
			// Nothing of the IDE's login went to the keychain.
			kc.mu.Lock()
			sets := kc.sets
			kc.mu.Unlock()
			if sets != 0 {
				t.Fatalf("%d keychain writes", sets)
			}
			// A token the IDE keeps fresh is not renewed by kirotray.
			k2 := newKeepFresh(t, kind, time.Hour)
			if _, err := k2.pool(t).Account("kiro-ide").Token(context.Background(), false); err != nil || k2.fake.Usage("ide").Refreshes != 0 {
				t.Fatalf("fresh IDE token: %v, %d refreshes", err, k2.fake.Usage("ide").Refreshes)
			}
		})
	}
}

// The IDE renews between kirotray's first look and its lock: kirotray
// re-reads under the lock and adopts the IDE's tokens instead of spending
// the refresh token a second time.
func TestKeepFreshAdoptsTheIDEsRenewal(t *testing.T) {
	k := newKeepFresh(t, "social", 5*time.Minute)
	var ideAccess string
	setHook(t, func(step, path string) {
		if step == "locked" && ideAccess == "" {
			ideAccess = ideRenews(t, k)
		}
	})
	as := k.pool(t)
	tok, err := as.Account("kiro-ide").Token(context.Background(), false)
	if err != nil || tok.Access.Reveal() != ideAccess {
		t.Fatalf("%v (adopted: %v)", err, tok.Access.Reveal() == ideAccess)
	}
	if n := k.fake.Usage("ide").Refreshes; n != 1 {
		t.Fatalf("%d refreshes, want only the IDE's", n)
	}
}

// The IDE renews after kirotray's re-read, just before kirotray's refresh:
// kirotray's refresh gets invalid_grant, it re-reads once and adopts.
func TestKeepFreshRereadsOnInvalidGrant(t *testing.T) {
	k := newKeepFresh(t, "social", 5*time.Minute)
	var ideAccess string
	setHook(t, func(step, path string) {
		if step == "refresh" && ideAccess == "" {
			ideAccess = ideRenews(t, k)
		}
	})
	as := k.pool(t)
	tok, err := as.Account("kiro-ide").Token(context.Background(), false)
	if err != nil || tok.Access.Reveal() != ideAccess {
		t.Fatalf("%v", err)
	}
	if _, m := readIDEJSON(t, k.path); m["accessToken"] != ideAccess {
		t.Fatal("the IDE's tokens were overwritten")
	}
	k.works(t, as)
}

// A refresh token refused twice (after the re-read too) is a dead login:
// the account says so and the file is left alone.
func TestKeepFreshDeadLogin(t *testing.T) {
	k := newKeepFresh(t, "social", 5*time.Minute)
	k.fake.RevokeRefreshTokens("ide")
	before, _ := os.ReadFile(k.path)
	as := k.pool(t)
	a := as.Account("kiro-ide")
	if _, err := a.Token(context.Background(), false); !errors.Is(err, kiro.ErrNoAccount) {
		t.Fatalf("err = %v", err)
	}
	if st := a.status(time.Now()); st.State != StateNeedsSignIn || !strings.Contains(st.Reason, "Kiro IDE's login was rejected") {
		t.Fatalf("status %+v", st)
	}
	if after, _ := os.ReadFile(k.path); !bytes.Equal(before, after) {
		t.Fatal("the file changed")
	}
}

// Two kirotrays keeping the same IDE login fresh renew it once between
// them: the lock and the re-read make the second adopt the first's tokens.
func TestKeepFreshTwoKirotrays(t *testing.T) {
	k := newKeepFresh(t, "social", 5*time.Minute)
	pools := []*Accounts{k.pool(t), k.pool(t)}
	var wg sync.WaitGroup
	toks := make([]kiro.Token, 2)
	errs := make([]error, 2)
	for i, as := range pools {
		wg.Go(func() { toks[i], errs[i] = as.Account("kiro-ide").Token(context.Background(), false) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || toks[0].Access != toks[1].Access {
		t.Fatalf("%v %v (same token: %v)", errs[0], errs[1], toks[0].Access == toks[1].Access)
	}
	if n := k.fake.Usage("ide").Refreshes; n != 1 {
		t.Fatalf("%d refreshes", n)
	}
	for _, as := range pools {
		k.works(t, as)
	}
}

func TestRewriteIDEFile(t *testing.T) {
	t.Parallel()
	in := []byte(`{"b":1,"accessToken":"old","x":{"y":[true]},"expiresAt":"2026-01-01T00:00:00.000Z"}`)
	toks := &auth.Tokens{Access: "aoaNEW", Refresh: "aorNEW", ExpiresAt: time.Date(2026, 5, 18, 9, 41, 48, 944e6, time.UTC), ProfileARN: "arn:p"}
	out, err := rewriteIDEFile(in, toks)
	want := `{"b":1,"accessToken":"aoaNEW","x":{"y":[true]},"expiresAt":"2026-05-18T09:41:48.944Z","refreshToken":"aorNEW","profileArn":"arn:p"}`
	if err != nil || string(out) != want {
		t.Fatalf("%s %v", out, err)
	}
}

// FuzzRewriteIDEFile: whatever the IDE's file holds, a rewrite is valid
// JSON holding the new tokens and every key the file had.
func FuzzRewriteIDEFile(f *testing.F) {
	f.Add([]byte(`{"accessToken":"a","refreshToken":"r","expiresAt":"2026-11-23T10:15:02.511Z","authMethod":"social"}`))
	f.Add([]byte(`{"a":null,"b":[1,{"c":"\u00e9"}],"refreshToken":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		toks := &auth.Tokens{Access: "aoaFUZZ", Refresh: "aorFUZZ", ExpiresAt: time.Unix(1e9, 0)}
		out, err := rewriteIDEFile(data, toks)
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("not JSON: %s", out)
		}
		if m["accessToken"] != "aoaFUZZ" || m["refreshToken"] != "aorFUZZ" {
			t.Fatalf("tokens missing: %s", out)
		}
		fields, _ := objectFields(data)
		for _, fl := range fields {
			if _, ok := m[fl.key]; !ok {
				t.Fatalf("key %q lost", fl.key)
			}
		}
	})
}

// A refresh that fails on the way (a 500) leaves the IDE's file as it was:
// its refresh token is still the live one, and the next attempt renews it.
func TestKeepFreshTransientFailure(t *testing.T) {
	k := newKeepFresh(t, "social", 5*time.Minute)
	before, _ := os.ReadFile(k.path)
	k.fake.FailRefreshes(kirofake.RefreshServerError, 1)
	if _, err := k.pool(t).Account("kiro-ide").Token(context.Background(), false); err == nil {
		t.Fatal("no error")
	}
	if after, _ := os.ReadFile(k.path); !bytes.Equal(before, after) {
		t.Fatal("the file changed after a failed refresh")
	}
	if _, err := k.pool(t).Account("kiro-ide").Token(context.Background(), false); err != nil || k.fake.Usage("ide").Refreshes != 1 {
		t.Fatalf("next attempt: %v", err)
	}
}
