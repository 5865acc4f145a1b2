package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// testKeychain is a keychain.Store whose calls can be made to fail.
type testKeychain struct {
	keychain.Memory
	mu      sync.Mutex
	failSet error // returned by Set while set
	failAll error // returned by every call while set
	sets    int
}

func (k *testKeychain) fail(set, all error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.failSet, k.failAll = set, all
}

func (k *testKeychain) errs() (error, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.failSet, k.failAll
}

func (k *testKeychain) Get(id string) (string, error) {
	if _, all := k.errs(); all != nil {
		return "", all
	}
	return k.Memory.Get(id)
}

func (k *testKeychain) Set(id, v string) error {
	set, all := k.errs()
	if all != nil {
		return all
	}
	if set != nil {
		return set
	}
	k.mu.Lock()
	k.sets++
	k.mu.Unlock()
	return k.Memory.Set(id, v)
}

func (k *testKeychain) Delete(id string) error {
	if _, all := k.errs(); all != nil {
		return all
	}
	return k.Memory.Delete(id)
}

var errNoSecretService = fmt.Errorf("%w: The name org.freedesktop.secrets was not provided by any .service files", keychain.ErrUnavailable)

func newStore(t *testing.T) (*Store, *testKeychain) {
	t.Helper()
	kc := &testKeychain{}
	s, err := OpenStore(t.TempDir(), kc)
	if err != nil {
		t.Fatal(err)
	}
	return s, kc
}

func socialMeta(name, email string) AccountMeta {
	return AccountMeta{Name: name, Kind: KindSocial, Provider: "Google", Email: email, Source: SourceSignIn}
}

func rt(s string) Secrets { return Secrets{RefreshToken: redact.Secret(s)} }

func TestStoreKeepsSecretsOnlyInTheKeychain(t *testing.T) {
	t.Parallel()
	s, kc := newStore(t)
	res, err := s.Add(socialMeta("", "dev@example.com"), rt("aor-secret-social"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Replaced || res.Meta.Name != "dev" || !res.Meta.Enabled || len(res.Meta.MachineID) != 64 {
		t.Fatalf("added %+v", res)
	}
	idc := AccountMeta{Kind: KindBuilderID, Region: "us-east-1", ClientID: "cid", Source: SourceSignIn}
	big := strings.Repeat("s", 5000) // an OIDC client secret is ≈ 5 KB
	if _, err := s.Add(idc, Secrets{RefreshToken: "aor-secret-idc", ClientSecret: redact.Secret(big)}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(s.Path())
	for _, secret := range []string{"aor-secret-social", "aor-secret-idc", big} {
		if strings.Contains(string(raw), secret) {
			t.Fatal("a secret is in accounts.json")
		}
	}
	if st, _ := os.Stat(s.Path()); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	d, err := s.Load()
	if err != nil || len(d.Accounts) != 2 {
		t.Fatalf("load: %v %+v", err, d)
	}
	if d.Accounts[1].Name != "builder-id" || d.Accounts[1].Priority != 1 {
		t.Fatalf("second account %+v", d.Accounts[1])
	}
	sec, err := s.Secrets(d.Accounts[1])
	if err != nil || sec.RefreshToken != "aor-secret-idc" || sec.ClientSecret.Reveal() != big {
		t.Fatalf("secrets: %v", err)
	}
	if v, _ := kc.Memory.Get(secretID(d.Accounts[0].ID, secretRefresh)); v != "aor-secret-social" {
		t.Fatal("refresh token not under account/<id>/refresh")
	}

	// Signing in again as the same person replaces the tokens, keeps the account.
	res2, err := s.Add(socialMeta("", "DEV@example.com"), rt("aor-second-login"))
	if err != nil || !res2.Replaced || res2.Meta.ID != res.Meta.ID {
		t.Fatalf("re-sign-in: %+v %v", res2, err)
	}
	if sec, _ := s.Secrets(res2.Meta); sec.RefreshToken != "aor-second-login" {
		t.Fatal("re-sign-in did not replace the token")
	}

	gone, err := s.Remove("builder-id")
	if err != nil || gone.Kind != KindBuilderID {
		t.Fatal(err)
	}
	for _, item := range []string{secretRefresh, secretClient} {
		if _, err := kc.Memory.Get(secretID(gone.ID, item)); !errors.Is(err, keychain.ErrNotFound) {
			t.Fatalf("%s left in the keychain", item)
		}
	}
	if _, err := s.Remove("builder-id"); !errors.Is(err, ErrNoSuchAccount) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestStoreEdits(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for _, n := range []string{"a", "b"} {
		if _, err := s.Add(socialMeta(n, ""), rt("rt-"+n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetPriority("b", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetEnabled("a", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rename("a", "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rename("work", "b"); err == nil {
		t.Fatal("rename onto a taken name worked")
	}
	if _, err := s.Rename("work", "has space"); err == nil {
		t.Fatal("a name with a space was accepted")
	}
	d, _ := s.Load()
	if a := d.Account("work"); a == nil || a.Enabled {
		t.Fatalf("work = %+v", a)
	}
	if b := d.Account("b"); b.Priority != -1 {
		t.Fatalf("b = %+v", b)
	}
	// Enabling clears a parked state and records when, for a running pool.
	if _, err := s.Edit("work", func(a *AccountMeta) error { a.State = StateNeedsSignIn; return nil }); err != nil {
		t.Fatal(err)
	}
	m, err := s.SetEnabled("work", true)
	if err != nil || m.State != "" || m.ResumedAt.IsZero() {
		t.Fatalf("enable: %+v %v", m, err)
	}
}

func TestStoreBackupAndRecovery(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	if _, err := s.Add(socialMeta("one", ""), rt("rt1")); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(s.Path())
	if _, err := s.Add(socialMeta("two", ""), rt("rt2")); err != nil {
		t.Fatal(err)
	}
	bak, _ := os.ReadFile(s.Path() + backupSuffix)
	if string(bak) != string(first) {
		t.Fatalf("backup is not the previous version:\n%s", bak)
	}
	// A damaged file (a bad write, a person's edit) is recovered from the backup…
	if err := os.WriteFile(s.Path(), []byte(`{"version":1,"accounts":[{"name":`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := s.Load()
	if err != nil || len(d.Accounts) != 1 || d.Accounts[0].Name != "one" {
		t.Fatalf("recovered %+v, %v", d, err)
	}
	// …and the next change writes the recovered list, keeping the damaged file aside.
	if _, err := s.SetPriority("one", 5); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(s.Path() + corruptSuffix + "*")
	if len(matches) != 1 {
		t.Fatalf("damaged file not kept aside: %v", matches)
	}
	if d, _ := s.Load(); d.Accounts[0].Priority != 5 {
		t.Fatal("change lost")
	}
	// Both copies damaged: an error, never an empty list written over them.
	os.WriteFile(s.Path(), []byte("garbage"), 0o600)
	os.WriteFile(s.Path()+backupSuffix, []byte("garbage"), 0o600)
	if _, err := s.Load(); err == nil {
		t.Fatal("loaded garbage")
	}
	if err := s.Update(func(d *StoreData) error { return nil }); err == nil {
		t.Fatal("updated over garbage")
	}
}

func TestStoreNoKeychain(t *testing.T) {
	t.Parallel()
	s, kc := newStore(t)
	kc.fail(nil, errNoSecretService)
	_, err := s.Add(socialMeta("x", ""), rt("rt"))
	var kerr *KeychainError
	if !errors.As(err, &kerr) || !strings.Contains(err.Error(), "--credentials FILE") || !strings.Contains(err.Error(), "Secret Service") {
		t.Fatalf("err = %v", err)
	}
	if d, _ := s.Load(); len(d.Accounts) != 0 {
		t.Fatal("an account without its tokens was recorded")
	}
	// The IDE follower keeps nothing in the keychain: it works without one.
	if _, err := s.Add(AccountMeta{Kind: KindSocial, Source: SourceIDE, IDEFile: "/x/kiro-auth-token.json"}, Secrets{}); err != nil {
		t.Fatal(err)
	}
}

// Many goroutines changing the store at once lose no change.
func TestStoreConcurrentUpdates(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := s.Add(socialMeta(fmt.Sprint("acct", i), ""), rt(fmt.Sprint("rt", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	d, _ := s.Load()
	if len(d.Accounts) != 20 {
		t.Fatalf("%d accounts, want 20", len(d.Accounts))
	}
}

// TestStoreLockHelper is not a test: TestStoreAcrossProcesses runs the test
// binary with KIROTRAY_STORE_DIR set, and it adds accounts to that store.
func TestStoreLockHelper(t *testing.T) {
	dir := os.Getenv("KIROTRAY_STORE_DIR")
	if dir == "" {
		t.Skip("helper process for TestStoreAcrossProcesses")
	}
	s, err := OpenStore(dir, &keychain.Memory{})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	for i := range 15 {
		name := fmt.Sprintf("p%s-%d", os.Getenv("KIROTRAY_HELPER"), i)
		if err := s.Update(func(d *StoreData) error {
			d.Accounts = append(d.Accounts, AccountMeta{ID: name, Name: name, Kind: KindSocial, Enabled: true})
			return nil
		}); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
	}
}

// Several processes changing the store at once (the proxy recording quota
// while `kirotray accounts …` runs) lose no change: the lock file serialises them.
func TestStoreAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Parallel()
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for i := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStoreLockHelper$")
		cmd.Env = append(os.Environ(), "KIROTRAY_STORE_DIR="+dir, "KIROTRAY_HELPER="+strconv.Itoa(i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	s, _ := OpenStore(dir, &keychain.Memory{})
	d, err := s.Load()
	if err != nil || len(d.Accounts) != 60 {
		t.Fatalf("%d accounts (%v), want 60", len(d.Accounts), err)
	}
}

func TestPoolLockIsExclusive(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	l, err := s.LockPool()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LockPool(); err == nil || !strings.Contains(err.Error(), "another kirotray") {
		t.Fatalf("second lock: %v", err)
	}
	l.Unlock()
	l2, err := s.LockPool()
	if err != nil {
		t.Fatal(err)
	}
	l2.Unlock()
}

// storePool builds the pool of a store against a kirofake server.
func storePool(t *testing.T, s *Store, srv *httptest.Server, clk *fakeClock) *Accounts {
	t.Helper()
	opts := AccountsOptions{AuthBase: srv.URL, OIDCBase: srv.URL, Logger: slog.New(slog.NewJSONHandler(&syncBuffer{}, nil))}
	if clk != nil {
		opts.Now = clk.Now
	}
	as, err := NewAccountsFromStore(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = as.Close() })
	return as
}

// Rotated refresh tokens reach the keychain before use, so a new process
// (a restart, a kill -9) always starts from the live token.
func TestStorePoolRotationSurvivesRestart(t *testing.T) {
	t.Parallel()
	fake := kirofake.New(kirofake.Config{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	srt, arn := fake.AddSocialAccount("home")
	irt, cid, cs := fake.AddIdCAccount("org")
	s, kc := newStore(t)
	if _, err := s.Add(AccountMeta{Name: "home", Kind: KindSocial, Source: SourceImport}, rt(srt)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(AccountMeta{Name: "org", Kind: KindIdC, ClientID: cid, Region: "eu-west-1", Source: SourceImport},
		Secrets{RefreshToken: redact.Secret(irt), ClientSecret: redact.Secret(cs)}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for round := range 3 {
		as := storePool(t, s, srv, nil) // a fresh process each round
		for _, name := range []string{"home", "org"} {
			tok, err := as.Account(name).Token(ctx, true)
			if err != nil {
				t.Fatalf("round %d %s: %v", round, name, err)
			}
			if name == "home" && tok.ProfileARN != arn {
				t.Fatalf("profile %q", tok.ProfileARN)
			}
		}
		// What a kill -9 right now would leave: the keychain holds the live tokens.
		d, _ := s.Load()
		for _, m := range d.Accounts {
			sec, _ := s.Secrets(m)
			if sec.RefreshToken != as.Account(m.Name).cred.RefreshToken {
				t.Fatalf("round %d: %s: keychain is behind memory", round, m.Name)
			}
		}
		if d.Account("home").ProfileARN != arn {
			t.Fatal("profile ARN not recorded in the store")
		}
		as.Close()
	}
	if u := fake.Usage("home"); u.Refreshes != 3 {
		t.Fatalf("%d refreshes", u.Refreshes)
	}
	raw, _ := os.ReadFile(s.Path())
	if strings.Contains(string(raw), "aor") {
		t.Fatal("a token reached accounts.json")
	}

	// A keychain that fails a write: the token stays in memory and is
	// written on the next attempt; nothing is lost.
	as := storePool(t, s, srv, nil)
	kc.fail(errors.New("keychain: write failed"), nil)
	if _, err := as.Account("home").Token(ctx, true); err != nil {
		t.Fatal(err)
	}
	kc.fail(nil, nil)
	if err := as.Close(); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Load()
	if sec, _ := s.Secrets(*d.Account("home")); sec.RefreshToken != as.Account("home").cred.RefreshToken {
		t.Fatal("the rotated token was not saved after the keychain came back")
	}
}

func TestStorePoolStartsFromStoredState(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for _, n := range []string{"dead", "spent", "off", "ok"} {
		if _, err := s.Add(socialMeta(n, ""), rt("rt-"+n)); err != nil {
			t.Fatal(err)
		}
	}
	clk := newClock()
	until := clk.Now().Add(48 * time.Hour)
	s.Edit("dead", func(a *AccountMeta) error {
		a.State, a.StateReason = StateNeedsSignIn, "refresh token was rejected"
		return nil
	})
	s.Edit("spent", func(a *AccountMeta) error {
		a.State, a.StateUntil = StateQuotaExhausted, until
		return nil
	})
	s.SetEnabled("off", false)
	fa := newFakeAuth(t, "rt-ok")
	as, err := NewAccountsFromStore(s, AccountsOptions{HTTPClient: fa.srv.Client(), AuthBase: fa.srv.URL, Now: clk.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	snap := as.Snapshot()
	if len(snap) != 3 {
		t.Fatalf("%d accounts in the pool, want the 3 enabled", len(snap))
	}
	got := map[string]AccountState{}
	for _, st := range snap {
		got[st.Name] = st.State
	}
	if got["dead"] != StateNeedsSignIn || got["spent"] != StateQuotaExhausted || got["ok"] != StateActive {
		t.Fatalf("states %v", got)
	}
	if a, err := as.Pick(context.Background(), "", nil); err != nil || a.Name() != "ok" {
		t.Fatalf("Pick = %v %v", a, err)
	}

	// Nothing enabled: the caller falls back to the demo.
	s2, _ := newStore(t)
	if _, err := NewAccountsFromStore(s2, AccountsOptions{}); !errors.Is(err, ErrNoStoredAccounts) {
		t.Fatalf("empty store: %v", err)
	}
}

// Changes made by another process (kirotray accounts …) reach a running pool.
func TestSyncFromStore(t *testing.T) {
	t.Parallel()
	fake := kirofake.New(kirofake.Config{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	art, _ := fake.AddSocialAccount("a")
	brt, _ := fake.AddSocialAccount("b")
	s, _ := newStore(t)
	s.Add(socialMeta("a", "a@x"), rt(art))
	clk := newClock()
	as := storePool(t, s, srv, clk)
	ctx := context.Background()
	if _, err := as.Account("a").Token(ctx, false); err != nil {
		t.Fatal(err)
	}

	// Added while running.
	s.Add(socialMeta("b", "b@x"), rt(brt))
	if err := as.SyncFromStore(s); err != nil {
		t.Fatal(err)
	}
	if as.Account("b") == nil {
		t.Fatal("new account not in the pool")
	}
	// a's tokens in the pool are newer than the keychain's and are kept.
	a := as.Account("a")
	before := a.cred.RefreshToken
	clk.Advance(time.Minute)
	if _, err := a.Token(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := as.SyncFromStore(s); err != nil || a.cred.RefreshToken == before {
		t.Fatalf("sync lost the rotated token (%v)", err)
	}

	// a dies; the user signs in again: the new tokens replace the dead ones.
	fake.RevokeRefreshTokens("a")
	clk.Advance(time.Minute)
	if _, err := a.Token(ctx, true); !errors.Is(err, kiro.ErrNoAccount) {
		t.Fatalf("revoked: %v", err)
	}
	fresh, _ := fake.AddSocialAccount("a-signed-in-again")          // kirofake cannot sign an account in twice
	s.now = func() time.Time { return time.Now().Add(time.Second) } // a later SignedInAt
	if res, err := s.Add(socialMeta("", "a@x"), rt(fresh)); err != nil || !res.Replaced {
		t.Fatalf("re-sign-in: %+v %v", res, err)
	}
	if err := as.SyncFromStore(s); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Token(ctx, false); err != nil {
		t.Fatalf("after re-sign-in: %v", err)
	}

	// Disabled and re-prioritised while running.
	s.SetEnabled("a", false)
	s.SetPriority("b", -5)
	if err := as.SyncFromStore(s); err != nil {
		t.Fatal(err)
	}
	if as.Account("a") != nil || len(as.Snapshot()) != 1 {
		t.Fatal("disabled account still in the pool")
	}
	if p, err := as.Pick(ctx, "", nil); err != nil || p.Name() != "b" {
		t.Fatalf("Pick = %v %v", p, err)
	}
}

func TestImportFormats(t *testing.T) {
	t.Parallel()
	long := func(p string) string { return p + strings.Repeat("A", 60) }
	cases := []struct {
		name, in, format string
		want             []Imported // compared on Kind, Name, Email, Region, ClientID, Priority, Enabled, secrets, Skip != ""
	}{
		{"kiro2api KIRO_AUTH_TOKEN", `KIRO_AUTH_TOKEN='[{"auth":"Social","refreshToken":"` + long("s") + `"},
			{"auth":"IdC","refreshToken":"` + long("i") + `","clientId":"c","clientSecret":"cs","disabled":true}]'`, FormatJSON,
			[]Imported{{Meta: AccountMeta{Kind: KindSocial, Enabled: true}, Secrets: rt(long("s"))},
				{Meta: AccountMeta{Kind: KindIdC, ClientID: "c", Enabled: false}, Secrets: Secrets{RefreshToken: redact.Secret(long("i")), ClientSecret: "cs"}}}},
		{"kiro.rs single object, expiresAt string", `{"refreshToken":"r1","expiresAt":"2025-12-31T00:00:00Z","authMethod":"social","accessToken":"a"}`, FormatJSON,
			[]Imported{{Meta: AccountMeta{Kind: KindSocial, Enabled: true}, Secrets: rt("r1")}}},
		{"kiro.rs array with builder-id, authRegion, priority", `[{"refreshToken":"r1","authMethod":"builder-id","clientId":"c","clientSecret":"s","authRegion":"eu-west-1","region":"us-east-1","priority":3,"email":"x@y"},
			{"kiroApiKey":"ksk_abc","authMethod":"api_key"},
			{"refreshToken":"r3","authMethod":"idc","expiresAt":1790000000123}]`, FormatJSON,
			[]Imported{{Meta: AccountMeta{Kind: KindBuilderID, ClientID: "c", Region: "eu-west-1", Priority: 3, Email: "x@y", Enabled: true}, Secrets: Secrets{RefreshToken: "r1", ClientSecret: "s"}},
				{Skip: "api key"}, {Skip: "no client"}}},
		{"Kiro Account Manager export, no email", `{"version":"1.3.0","exportedAt":1760000000000,"accounts":[
			{"id":"u1","email":"","nickname":"main","idp":"Github","credentials":{"accessToken":"a","csrfToken":"c","refreshToken":"r1","expiresAt":1760003600000,"authMethod":"social","provider":"Github"},"status":"active"},
			{"id":"u2","email":"b@x","idp":"BuilderId","credentials":{"accessToken":"a","refreshToken":"r2","clientId":"c","clientSecret":"s","region":"us-east-1","expiresAt":1760003600000,"authMethod":"IdC","provider":"BuilderId"}}],"groups":[],"tags":[]}`, FormatKiroAM,
			[]Imported{{Meta: AccountMeta{Name: "main", Kind: KindSocial, Provider: "Github", Enabled: true}, Secrets: rt("r1")},
				{Meta: AccountMeta{Kind: KindBuilderID, Provider: "BuilderId", Email: "b@x", ClientID: "c", Region: "us-east-1", Enabled: true}, Secrets: Secrets{RefreshToken: "r2", ClientSecret: "s"}}}},
		{"credentials file", `[{"name":"work","refreshToken":"r","authMethod":"social","profileArn":"arn:p"}]`, FormatJSON,
			[]Imported{{Meta: AccountMeta{Name: "work", Kind: KindSocial, ProfileARN: "arn:p", Enabled: true}, Secrets: rt("r")}}},
		{"pasted refresh token", "\n  " + long("aor") + "  \n", FormatPastedToken,
			[]Imported{{Meta: AccountMeta{Kind: KindSocial}, Secrets: rt(long("aor"))}}},
		{"pasted truncated token", "aorAAAA", FormatPastedToken, []Imported{{Skip: "short"}}},
		{"IDE social file", `{"accessToken":"a","refreshToken":"r","expiresAt":"2026-11-23T10:15:02.511Z","profileArn":"arn:p","authMethod":"social","provider":"Github"}`, FormatIDEFile,
			[]Imported{{Meta: AccountMeta{Kind: KindSocial, Provider: "Github", ProfileARN: "arn:p", Enabled: true}, Secrets: rt("r")}}},
		{"IDE IdC file", `{"accessToken":"a","refreshToken":"r","expiresAt":"2026-11-23T10:15:02.511Z","authMethod":"IdC","provider":"Enterprise","clientIdHash":"abc","region":"eu-west-1"}`, FormatIDEFile,
			[]Imported{{Skip: "import-ide"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, format, err := ParseImport([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if format != c.format {
				t.Errorf("format %q, want %q", format, c.format)
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d entries, want %d: %+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				g := got[i]
				if (g.Skip != "") != (w.Skip != "") {
					t.Errorf("entry %d: skip %q, want skipped=%v", i, g.Skip, w.Skip != "")
					continue
				}
				if w.Skip != "" {
					continue
				}
				gm, wm := g.Meta, w.Meta
				if gm.Kind != wm.Kind || gm.Name != wm.Name || gm.Email != wm.Email || gm.Region != wm.Region && wm.Region != "" ||
					gm.ClientID != wm.ClientID || gm.Priority != wm.Priority || gm.Enabled != wm.Enabled && c.format != FormatPastedToken ||
					gm.ProfileARN != wm.ProfileARN || wm.Provider != "" && gm.Provider != wm.Provider {
					t.Errorf("entry %d: meta %+v, want %+v", i, gm, wm)
				}
				if g.Secrets != w.Secrets {
					t.Errorf("entry %d: secrets differ", i)
				}
			}
		})
	}
	for _, bad := range []string{"", "{not json", "two words here"} {
		if _, _, err := ParseImport([]byte(bad)); err == nil {
			t.Errorf("ParseImport(%q) worked", bad)
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	s, kc := newStore(t)
	s.Add(socialMeta("home", "h@x"), rt("rt-home"))
	s.Add(AccountMeta{Name: "org", Kind: KindIdC, ClientID: "cid", Region: "eu-west-1", StartURL: "https://x.awsapps.com/start"},
		Secrets{RefreshToken: "rt-org", ClientSecret: "cs-org"})
	s.Add(AccountMeta{Kind: KindSocial, Source: SourceIDE, IDEFile: "/home/u/.aws/sso/cache/kiro-auth-token.json"}, Secrets{})
	s.SetPriority("org", 7)
	s.SetEnabled("home", false)

	meta, err := s.Export(ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(meta), "rt-") || strings.Contains(string(meta), "cs-org") {
		t.Fatal("a metadata-only export holds a secret")
	}
	// After a reinstall: the keychain kept the tokens, the list is restored from the export.
	s2, err := OpenStore(t.TempDir(), kc)
	if err != nil {
		t.Fatal(err)
	}
	ims, format, err := ParseImport(meta)
	if err != nil || format != FormatKirotray {
		t.Fatalf("%v %q", err, format)
	}
	res, err := s2.Import(ims, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Skipped != "" || !(r.Restored || r.Added) {
			t.Fatalf("%+v", r)
		}
	}
	d2, _ := s2.Load()
	if o := d2.Account("org"); o == nil || o.Priority != 7 || o.StartURL == "" {
		t.Fatalf("org = %+v", o)
	}
	if h := d2.Account("home"); h == nil || h.Enabled {
		t.Fatalf("home = %+v", h)
	}
	// Without the keychain's tokens, a metadata entry needs sign-in.
	s3, _ := newStore(t)
	res, _ = s3.Import(ims, "")
	if res[0].Restored || res[0].Skipped == "" {
		t.Fatalf("%+v", res[0])
	}
	if d3, _ := s3.Load(); d3.Accounts[0].State != StateNeedsSignIn {
		t.Fatalf("%+v", d3.Accounts[0])
	}

	// With secrets: a new machine, a new keychain.
	full, err := s.Export(ExportOptions{WithSecrets: true})
	if err != nil || !strings.Contains(string(full), "rt-org") {
		t.Fatalf("export with secrets: %v", err)
	}
	s4, _ := newStore(t)
	ims, _, _ = ParseImport(full)
	if _, err := s4.Import(ims, ""); err != nil {
		t.Fatal(err)
	}
	d4, _ := s4.Load()
	if sec, err := s4.Secrets(*d4.Account("org")); err != nil || sec.ClientSecret != "cs-org" {
		t.Fatalf("org secrets: %v", err)
	}

	// As a credentials file for serve --credentials.
	cf, err := s.Export(ExportOptions{AsCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "creds.json")
	os.WriteFile(path, cf, 0o600)
	f, err := LoadCredentials(path)
	if err != nil || len(f.Credentials()) != 2 {
		t.Fatalf("credentials file: %v", err)
	}
}

func TestAppendCredentials(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "creds.json")
	names, err := AppendCredentials(path, []Credential{{Name: "a", RefreshToken: "r1"}})
	if err != nil || names[0] != "a" {
		t.Fatal(names, err)
	}
	names, err = AppendCredentials(path, []Credential{{Name: "a", RefreshToken: "r2"}, {RefreshToken: "r3", ClientID: "c", ClientSecret: "s"}})
	if err != nil || names[0] != "a-2" || names[1] != "account" {
		t.Fatal(names, err)
	}
	f, err := LoadCredentials(path)
	if err != nil || len(f.Credentials()) != 3 || f.Credentials()[2].AuthMethod != AuthIdC {
		t.Fatal(err)
	}
	checkMode(t, path)
}
