package app

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kirofake"
)

// importApp is an App whose Kiro API is srvURL and whose IDE and kiro-cli
// are looked for in an empty home.
func importApp(t *testing.T, srvURL string) *App {
	t.Helper()
	return newTestApp(t, Config{KiroAPI: srvURL, IDE: IDEOptions{Home: t.TempDir(), ConfigDir: t.TempDir(), NoProcessCheck: true}})
}

// storedAccount is the account named name in a's store, failing if absent.
func storedAccount(t *testing.T, a *App, name string) AccountMeta {
	t.Helper()
	s, err := a.Store()
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	m := d.Account(name)
	if m == nil {
		t.Fatalf("no account %q in %+v", name, d.Accounts)
	}
	return *m
}

// noSecret fails when secret shows in what the person reads.
func noSecret(t *testing.T, secret string, shown ...string) {
	t.Helper()
	for _, s := range shown {
		if strings.Contains(s, secret) {
			t.Fatalf("a secret shows in %q", s)
		}
	}
}

func TestImportTextAPIKey(t *testing.T) {
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true})
	key := fake.AddAPIKeyAccount("headless")
	a := importApp(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := a.WatchAccounts(ctx)

	sum, err := a.ImportText(context.Background(), "export KIRO_API_KEY='"+key+"'\n", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.String(); got != "Added 1 account: ci." || sum.Format != FormatAPIKey {
		t.Fatalf("summary %q, format %q", got, sum.Format)
	}
	m := storedAccount(t, a, "ci")
	if m.Kind != KindAPIKey || m.Email != "headless@example.com" || m.Quota == nil || m.Source != SourceImport {
		t.Fatalf("account %+v", m)
	}
	s, _ := a.Store()
	if sec, err := s.Secrets(m); err != nil || sec.APIKey.Reveal() != key {
		t.Fatalf("the key is not in the keychain: %v", err)
	}
	if b, _ := os.ReadFile(s.Path()); strings.Contains(string(b), key) {
		t.Fatal("the key is in accounts.json")
	}
	// The watchers hear of it.
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case vs := <-watch:
			seen = len(vs) == 1 && vs[0].Name == "ci"
		case <-deadline:
			t.Fatal("the account list never showed ci")
		}
	}

	// The same name again replaces the key of the same account.
	key2 := fake.AddAPIKeyAccount("headless2")
	sum, err = a.ImportText(context.Background(), key2, "ci")
	if err != nil || sum.String() != "Updated 1 account with the new tokens: ci." {
		t.Fatalf("again: %q %v", sum.String(), err)
	}
	if sec, _ := s.Secrets(storedAccount(t, a, "ci")); sec.APIKey.Reveal() != key2 {
		t.Fatal("the new key did not replace the old one")
	}
}

func TestImportTextRefusedKey(t *testing.T) {
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true})
	good := fake.AddAPIKeyAccount("good")
	a := importApp(t, srv.URL)
	sum, err := a.ImportText(context.Background(), testKey+"\n"+good+"\n", "")
	if err != nil {
		t.Fatal(err)
	}
	got := sum.String()
	if len(sum.Added()) != 1 || len(sum.Skipped()) != 1 || !strings.Contains(got, "Skipped 1: key 1 (Kiro rejected the API key ksk_…1234") ||
		!strings.Contains(got, "check it in the Kiro portal") {
		t.Fatalf("summary %q", got)
	}
	noSecret(t, testKey, got)
	noSecret(t, good, got)
	views, err := a.Accounts()
	if err != nil || len(views) != 1 || views[0].Email != "good@example.com" {
		t.Fatalf("accounts %+v %v", views, err)
	}

	// A key refused alone: nothing stored, and the summary says why.
	fake.RevokeAPIKeys("good")
	b := importApp(t, srv.URL)
	sum, err = b.ImportText(context.Background(), good, "revoked")
	if err != nil || len(sum.Added()) != 0 || !strings.HasPrefix(sum.String(), "Skipped 1: key 1 (Kiro rejected the API key") {
		t.Fatalf("%q %v", sum.String(), err)
	}
	if views, _ := b.Accounts(); len(views) != 0 {
		t.Fatalf("a refused key was stored: %+v", views)
	}
}

// When Kiro cannot be reached the key is stored unchecked, with a note.
func TestImportTextKiroUnreachable(t *testing.T) {
	srv := httptest.NewServer(nil)
	srv.Close() // nothing listens there now
	a := importApp(t, srv.URL)
	sum, err := a.ImportText(context.Background(), testKey, "offline")
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.String(); !strings.HasPrefix(got, "Added 1 account: offline. Could not check the API key ksk_…1234 with Kiro") ||
		!strings.Contains(got, "added it unchecked") {
		t.Fatalf("summary %q", got)
	}
	noSecret(t, testKey, sum.String())
	if m := storedAccount(t, a, "offline"); m.Kind != KindAPIKey || m.Email != "" {
		t.Fatalf("account %+v", m)
	}

	// A cancelled import stores nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.ImportText(ctx, "ksk_ZyXwVuTsRqPoNmLkJiHg9876", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if views, _ := a.Accounts(); len(views) != 1 {
		t.Fatalf("accounts after a cancelled import: %+v", views)
	}
}

func TestImportTextFilesAndTokens(t *testing.T) {
	a := importApp(t, "http://127.0.0.1:1") // no key to check: never asked
	rt1, rt2 := "aorAAA"+strings.Repeat("a", 60), "aorBBB"+strings.Repeat("b", 60)
	kiro2api := `KIRO_AUTH_TOKEN='[
		{"auth":"Social","refreshToken":"` + rt1 + `"},
		{"auth":"IdC","refreshToken":"` + rt2 + `","clientId":"cid","clientSecret":"csecret","region":"eu-west-1"},
		{"auth":"Social"}
	]'`
	sum, err := a.ImportText(context.Background(), kiro2api, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	got := sum.String()
	if sum.Format != FormatJSON || len(sum.Added()) != 2 || !strings.Contains(got, "Added 2 accounts: ") ||
		!strings.Contains(got, "Skipped 1: entry 3 (no refresh token).") || !strings.Contains(got, "Use each login in one place only.") ||
		!strings.Contains(got, "The name was not used") {
		t.Fatalf("summary %q", got)
	}
	noSecret(t, rt1, got)
	noSecret(t, "csecret", got)
	idc := storedAccount(t, a, sum.Added()[1])
	if idc.Kind != KindIdC || idc.Region != "eu-west-1" || idc.ClientID != "cid" {
		t.Fatalf("IdC account %+v", idc)
	}

	// A pasted refresh token, named.
	rt3 := "aorCCC" + strings.Repeat("c", 80)
	sum, err = a.ImportText(context.Background(), "  "+rt3+"\n", "pasted")
	if err != nil || sum.Format != FormatPastedToken || !strings.HasPrefix(sum.String(), "Added 1 account: pasted. These tokens are kirotray's now") {
		t.Fatalf("%q %v", sum.String(), err)
	}
	s, _ := a.Store()
	if sec, err := s.Secrets(storedAccount(t, a, "pasted")); err != nil || sec.RefreshToken.Reveal() != rt3 {
		t.Fatalf("refresh token not stored: %v", err)
	}

	// What cannot be read is an error in words, before anything is stored.
	for _, tc := range []struct{ in, name, want string }{
		{"", "", "nothing to import"},
		{"hello there", "", "not JSON and not a refresh token"},
		{"{", "", "not valid JSON"},
		{rt3, "two words", "no spaces"},
		{"SQLite format 3\x00\x10\x00", "", "SQLite database"},
		{"\xff\xfe{", "", "not a text file"},
		{strings.Repeat("x", MaxImportText+1), "", "at most 1024 KiB"},
	} {
		if _, err := a.ImportText(context.Background(), tc.in, tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.20q: err %v, want %q", tc.in, err, tc.want)
		}
	}
	if views, _ := a.Accounts(); len(views) != 3 {
		t.Fatalf("%d accounts", len(views))
	}
}

// The Kiro IDE's own login file is refused: its refresh token is the IDE's.
func TestImportTextRefusesTheIDELogin(t *testing.T) {
	a := importApp(t, "http://127.0.0.1:1")
	path := a.cfg.IDE.TokenPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	body := `{"accessToken":"at","refreshToken":"aorIDE` + strings.Repeat("i", 60) + `","expiresAt":"2030-01-01T00:00:00Z","authMethod":"social","provider":"Google"}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ImportText(context.Background(), body, ""); err == nil || !strings.Contains(err.Error(), "would sign the IDE out") {
		t.Fatalf("err %v", err)
	}
	// A copy from elsewhere (another refresh token) is a file like others.
	other := strings.Replace(body, "aorIDE", "aorOLD", 1)
	if sum, err := a.ImportText(context.Background(), other, "old"); err != nil || sum.Format != FormatIDEFile || len(sum.Added()) != 1 {
		t.Fatalf("%+v %v", sum, err)
	}
}

func TestImportKiroCLI(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("kiro-cli keeps no login kirotray reads on Windows")
	}
	t.Setenv("XDG_DATA_HOME", "")
	home := t.TempDir()
	a := newTestApp(t, Config{IDE: IDEOptions{Home: home, ConfigDir: t.TempDir(), NoProcessCheck: true}})
	path := KiroCLIPath(home)

	if l := a.KiroCLI(); l.Found || l.Path != path {
		t.Fatalf("before: %+v", l)
	}
	if _, err := a.ImportKiroCLI(""); err == nil || !strings.Contains(err.Error(), "kiro-cli is not signed in here") {
		t.Fatalf("err %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	sqlite(t, path, `CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO auth_kv VALUES ('kirocli:social:token', '`+cliToken("aoaCLI", time.Now().Add(time.Hour), `,"provider":"Github"`)+`');`)
	l := a.KiroCLI()
	if !l.Found || !l.SignedIn || l.Kind != KindSocial {
		t.Fatalf("detected %+v", l)
	}
	m, err := a.ImportKiroCLI("")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "kiro-cli" || m.Source != SourceKiroCLI || m.IDEFile != path || m.Kind != KindSocial || m.Provider != "Github" {
		t.Fatalf("account %+v", m)
	}
	again, err := a.ImportKiroCLI("")
	if err != nil || again.ID != m.ID {
		t.Fatalf("again: %+v %v", again, err)
	}
	if views, _ := a.Accounts(); len(views) != 1 || views[0].Source != SourceKiroCLI {
		t.Fatalf("accounts %+v", views)
	}
	s, _ := a.Store()
	if sec, err := s.Secrets(m); err == nil && (sec.RefreshToken != "" || sec.APIKey != "") {
		t.Fatal("kiro-cli's tokens were copied")
	}

	sqlite(t, path, `DELETE FROM auth_kv;`)
	if _, err := a.ImportKiroCLI(""); err == nil || !strings.Contains(err.Error(), "cannot be used: found, not signed in") {
		t.Fatalf("signed out: %v", err)
	}
}
