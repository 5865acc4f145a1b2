package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kirofake"
)

// sqlite runs SQL on the database at path with the sqlite3 program, as
// kiro-cli would write it; the test is skipped without the program.
func sqlite(t *testing.T, path, sql string) {
	t.Helper()
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("no sqlite3 program")
	}
	if out, err := exec.Command(bin, path, sql).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
}

// cliToken is an auth_kv value as kiro-cli writes it: snake_case,
// nanosecond expiry.
func cliToken(access string, expires time.Time, extra string) string {
	return fmt.Sprintf(`{"access_token":%q,"refresh_token":"aorCLI-never-used","expires_at":%q,"region":"us-east-1"%s}`,
		access, expires.UTC().Format(time.RFC3339Nano), extra)
}

// newCLIDB makes kiro-cli's database (WAL mode, like the real one) with a
// login under key.
func newCLIDB(t *testing.T, key, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.sqlite3")
	sqlite(t, path, `PRAGMA journal_mode=WAL;
CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO auth_kv VALUES ('`+key+`', '`+value+`');`)
	return path
}

func TestReadKiroCLIToken(t *testing.T) {
	exp := time.Date(2026, 5, 18, 10, 0, 0, 123456789, time.UTC)
	t.Run("social", func(t *testing.T) {
		path := newCLIDB(t, "kirocli:social:token", cliToken("aoaX", exp, `,"profile_arn":"arn:aws:codewhisperer:us-east-1:1:profile/S"`))
		tok, err := ReadKiroCLIToken(context.Background(), path)
		if err != nil || tok.Kind() != KindSocial || !tok.ExpiresAt.Equal(exp) || tok.AccessToken.Reveal() != "aoaX" || tok.ProfileARN == "" {
			t.Fatalf("%+v %v", tok, err)
		}
	})
	t.Run("Builder ID, profile from the state table", func(t *testing.T) {
		path := newCLIDB(t, "kirocli:odic:token", cliToken("aoaY", exp, `,"start_url":"https://view.awsapps.com/start"`))
		sqlite(t, path, `INSERT INTO state VALUES ('api.codewhisperer.profile', '{"arn":"arn:aws:codewhisperer:us-east-1:2:profile/P"}');`)
		tok, err := ReadKiroCLIToken(context.Background(), path)
		if err != nil || tok.Kind() != KindBuilderID || tok.ProfileARN != "arn:aws:codewhisperer:us-east-1:2:profile/P" {
			t.Fatalf("%+v %v", tok, err)
		}
	})
	t.Run("external IdP", func(t *testing.T) {
		path := newCLIDB(t, "kirocli:external-idp:token", cliToken("eyJ", exp, ""))
		if _, err := ReadKiroCLIToken(context.Background(), path); err == nil || !strings.Contains(err.Error(), "external identity provider") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("signed out", func(t *testing.T) {
		path := newCLIDB(t, "other", "{}")
		if _, err := ReadKiroCLIToken(context.Background(), path); !errors.Is(err, ErrKiroCLISignedOut) {
			t.Fatalf("err = %v", err)
		}
		if _, err := ReadKiroCLIToken(context.Background(), path+"-gone"); !errors.Is(err, ErrKiroCLISignedOut) {
			t.Fatalf("err = %v", err)
		}
	})
}

// An account following kiro-cli uses kiro-cli's access token, never
// refreshes it, never writes the database, and picks up a renewal by
// looking again; a stale token or a sign-out says what to do.
func TestKiroCLIFollower(t *testing.T) {
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true})
	fake.AddSocialAccount("cli")
	first := fake.IssueAccessToken("cli")
	path := newCLIDB(t, "kirocli:social:token", cliToken(first, time.Now().Add(time.Hour), ""))
	set := func(access string, exp time.Time) {
		t.Helper()
		sqlite(t, path, `UPDATE auth_kv SET value = '`+cliToken(access, exp, "")+`' WHERE key = 'kirocli:social:token';`)
	}

	as, err := NewAccountsFromList([]Credential{{Name: "kiro-cli", Follow: path, FollowCLI: true, ID: "x"}}, AccountsOptions{AuthBase: srv.URL, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	client := kiro.New(kiro.Config{BaseURL: srv.URL, Accounts: as})
	t.Cleanup(client.CloseIdleConnections)
	ctx := context.Background()
	a := as.Account("kiro-cli")
	if _, err := client.UsageLimits(ctx, a); err != nil {
		t.Fatalf("with kiro-cli's token: %v", err)
	}
	if st := a.status(time.Now()); !st.FollowsKiroCLI || st.FollowsIDE {
		t.Fatalf("status %+v", st)
	}

	// kiro-cli renews (the old token stops working): picked up.
	fake.RevokeAccessTokens("cli")
	second := fake.IssueAccessToken("cli")
	set(second, time.Now().Add(time.Hour))
	secondPassed(a)
	if tok, err := a.Token(ctx, false); err != nil || tok.Access.Reveal() != second {
		t.Fatalf("after kiro-cli renewed: %v", err)
	}

	// kiro-cli is not used and its token runs out: paused, saying why.
	set("aoaSTALE", time.Now().Add(time.Minute))
	secondPassed(a)
	_, err = a.Token(ctx, true)
	var stale *IDEStaleError
	if !errors.As(err, &stale) || !strings.Contains(err.Error(), "run kiro-cli to renew it, or sign in with kirotray") {
		t.Fatalf("stale: %v", err)
	}
	if st := a.status(time.Now()); st.State != StateCooling || !strings.Contains(st.Reason, "run kiro-cli") {
		t.Fatalf("status %+v", st)
	}
	// kiro-cli runs again: back on the next pick.
	set(fake.IssueAccessToken("cli"), time.Now().Add(time.Hour))
	secondPassed(a)
	if p, err := as.Pick(ctx, "", nil); err != nil || p.Name() != "kiro-cli" {
		t.Fatalf("pick after renewal: %v", err)
	}

	// Signed out, then in again.
	sqlite(t, path, `DELETE FROM auth_kv;`)
	secondPassed(a)
	if _, err := a.Token(ctx, true); !errors.Is(err, kiro.ErrNoAccount) || !strings.Contains(err.Error(), "kiro-cli is signed out") {
		t.Fatalf("signed out: %v", err)
	}
	sqlite(t, path, `INSERT INTO auth_kv VALUES ('kirocli:social:token', '`+cliToken(fake.IssueAccessToken("cli"), time.Now().Add(time.Hour), "")+`');`)
	secondPassed(a)
	if _, err := a.Token(ctx, false); err != nil {
		t.Fatalf("signed in again: %v", err)
	}
	if fake.Usage("cli").Refreshes != 0 {
		t.Fatal("kiro-cli's login was refreshed")
	}
}

// Without the sqlite3 program, the account says so instead of failing vaguely.
func TestKiroCLIWithoutSQLite3(t *testing.T) {
	path := newCLIDB(t, "kirocli:social:token", cliToken("aoa", time.Now().Add(time.Hour), ""))
	home := t.TempDir()
	cliPath := KiroCLIPath(home)
	t.Setenv("XDG_DATA_HOME", "")
	if cliPath = KiroCLIPath(home); cliPath == "" {
		t.Skip("kiro-cli keeps no login here on this OS")
	}
	os.MkdirAll(filepath.Dir(cliPath), 0o700)
	b, _ := os.ReadFile(path)
	os.WriteFile(cliPath, b, 0o600)
	t.Setenv("PATH", t.TempDir()) // no sqlite3 anywhere

	if l := DetectKiroCLI(home); !l.Found || !l.NoSQLite3 || l.SignedIn {
		t.Fatalf("detect: %+v", l)
	}
	as, err := NewAccountsFromList([]Credential{{Name: "kiro-cli", Follow: path, FollowCLI: true, ID: "x"}}, AccountsOptions{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	_, err = as.Account("kiro-cli").Token(context.Background(), false)
	if !errors.Is(err, kiro.ErrNoAccount) || !strings.Contains(err.Error(), "needs the sqlite3 program") {
		t.Fatalf("err = %v", err)
	}
}

// The store keeps a kiro-cli follower without any secret, like the IDE's.
func TestKiroCLIInTheStore(t *testing.T) {
	t.Parallel()
	s, kc := newStore(t)
	res, err := s.Add(AccountMeta{Kind: KindSocial, Source: SourceKiroCLI, IDEFile: "/h/.local/share/kiro-cli/data.sqlite3"}, Secrets{})
	if err != nil || res.Meta.Name != "kiro-cli" {
		t.Fatalf("%+v %v", res, err)
	}
	if again, _ := s.Add(AccountMeta{Kind: KindSocial, Source: SourceKiroCLI, IDEFile: "/h/.local/share/kiro-cli/data.sqlite3"}, Secrets{}); !again.Replaced {
		t.Fatal("a second import made a second account")
	}
	d, _ := s.Load()
	creds, err := s.credentials(d, nil, quietLog())
	if err != nil || len(creds) != 1 || !creds[0].FollowCLI || creds[0].Follow == "" || creds[0].RefreshToken != "" {
		t.Fatalf("%+v %v", creds, err)
	}
	kc.mu.Lock()
	sets := kc.sets
	kc.mu.Unlock()
	if sets != 0 {
		t.Fatalf("%d keychain writes for a follower", sets)
	}
}
