package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/kirofake"
)

// buf is an io.Writer safe for the goroutines of a sign-in.
type buf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// failingKeychain is a keychain with no Secret Service behind it.
type failingKeychain struct{}

var errNoBus = fmt.Errorf("%w: The name org.freedesktop.secrets was not provided by any .service files", keychain.ErrUnavailable)

func (failingKeychain) Get(string) (string, error) { return "", errNoBus }
func (failingKeychain) Set(string, string) error   { return errNoBus }
func (failingKeychain) Delete(string) error        { return errNoBus }

type cliTest struct {
	t     *testing.T
	env   accountsEnv
	kc    *keychain.Memory
	home  string
	out   *buf
	err   *buf
	fake  *kirofake.Server
	upURL string
}

func newCLI(t *testing.T) *cliTest {
	fake := kirofake.New(kirofake.Config{})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c := &cliTest{t: t, kc: &keychain.Memory{}, home: t.TempDir(), out: &buf{}, err: &buf{}, fake: fake, upURL: srv.URL}
	c.env = accountsEnv{
		stdin: strings.NewReader(""), stdout: c.out, stderr: c.err, keychain: c.kc,
		configDir: filepath.Join(c.home, "config", "kirotray"),
		ide:       app.IDEOptions{Home: c.home, ConfigDir: filepath.Join(c.home, "config"), NoProcessCheck: true},
		open:      func(string) error { return errors.New("no browser in tests") },
		ctx:       context.Background(),
	}
	return c
}

// run runs one accounts command and returns its standard output.
func (c *cliTest) run(args ...string) (string, error) {
	c.t.Helper()
	c.out.mu.Lock()
	c.out.b.Reset()
	c.out.mu.Unlock()
	e := c.env
	err := e.run(args)
	return c.out.String(), err
}

func (c *cliTest) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("accounts %v: %v\nstderr: %s", args, err, c.err.String())
	}
	return out
}

func (c *cliTest) writeFile(name, content string) string {
	p := filepath.Join(c.home, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func TestAccountsCommandManagesTheList(t *testing.T) {
	c := newCLI(t)
	if out := c.must("list"); !strings.Contains(out, "No Kiro account yet") {
		t.Fatalf("empty list: %q", out)
	}
	long := strings.Repeat("A", 200)
	krs := c.writeFile("credentials.json", `[{"refreshToken":"aorKRS`+long+`","authMethod":"social","expiresAt":"2026-01-01T00:00:00Z","email":"a@example.com"},
		{"refreshToken":"aorIDC`+long+`","authMethod":"idc","clientId":"cid","clientSecret":"sec","region":"eu-west-1","expiresAt":1790000000,"priority":1}]`)
	out := c.must("import", krs)
	if !strings.Contains(out, `added "a"`) || !strings.Contains(out, `added "idc"`) {
		t.Fatalf("import: %s", out)
	}
	// A pasted refresh token, on standard input.
	c.env.stdin = strings.NewReader("aorPASTED" + long + "\n")
	if out := c.must("import", "-", "--name", "pasted"); !strings.Contains(out, `added "pasted"`) {
		t.Fatalf("paste: %s", out)
	}
	c.must("set-priority", "pasted", "-1")
	c.must("disable", "idc")
	c.must("rename", "a", "work")
	out = c.must("list")
	for _, want := range []string{"work  (social, priority 0) — active", "idc  (idc, priority 1) — disabled", "pasted  (social, priority -1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(c.env.configDir, "accounts.json"))
	if strings.Contains(string(raw), "aor") || strings.Contains(string(raw), `"sec"`) {
		t.Fatal("a secret is in accounts.json")
	}

	// Export: the list alone, unless asked; then with a warning.
	out = c.must("export")
	if strings.Contains(out, "aor") || !strings.Contains(out, `"kirotray": "accounts"`) {
		t.Fatalf("export: %s", out)
	}
	out = c.must("export", "--with-secrets")
	if !strings.Contains(out, "aorKRS") || !strings.Contains(c.err.String(), "single-use") {
		t.Fatal("export --with-secrets: no tokens or no warning")
	}
	credOut := filepath.Join(c.home, "serve-creds.json")
	c.must("export", "--as-credentials", "-o", credOut)
	if f, err := app.LoadCredentials(credOut); err != nil || len(f.Credentials()) != 3 {
		t.Fatalf("as credentials: %v", err)
	}

	c.must("set-proxy", "work", "socks5://127.0.0.1:1080")
	c.must("set-rate-limit", "--global", "30/min,1s")
	if _, err := c.run("set-proxy", "work", "ftp://x"); err == nil {
		t.Fatal("an ftp proxy was accepted")
	}
	out = c.must("list")
	if !strings.Contains(out, "proxy socks5://127.0.0.1:1080") || !strings.Contains(out, "at most 30 a minute") {
		t.Fatalf("list: %s", out)
	}
	out = c.must("remove", "work")
	if !strings.Contains(out, `Removed account "work"`) {
		t.Fatal(out)
	}
	if _, err := c.run("remove", "work"); !errors.Is(err, app.ErrNoSuchAccount) {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := c.run("bogus"); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
	if out := c.must("help"); !strings.Contains(out, "import-ide") {
		t.Fatal("help")
	}
}

func TestAccountsImportIDEFollowsReadOnly(t *testing.T) {
	c := newCLI(t)
	if _, err := c.run("import-ide"); err == nil || !strings.Contains(err.Error(), "not signed in") {
		t.Fatalf("no IDE: %v", err)
	}
	dir := filepath.Join(c.home, ".aws", "sso", "cache")
	os.MkdirAll(dir, 0o700)
	tokenFile := filepath.Join(dir, "kiro-auth-token.json")
	content := `{"accessToken":"aoaIDE","refreshToken":"aorIDE","expiresAt":"` + time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z") +
		`","profileArn":"arn:aws:codewhisperer:us-east-1:1:profile/X","authMethod":"social","provider":"Github"}`
	os.WriteFile(tokenFile, []byte(content), 0o600)
	before, _ := os.Stat(tokenFile)

	out := c.must("ide")
	if !strings.Contains(out, "signed in with Github") {
		t.Fatalf("ide: %s", out)
	}
	out = c.must("import-ide")
	if !strings.Contains(out, "FOLLOW") || !strings.Contains(out, "never refreshes") || !strings.Contains(out, `Added account "kiro-ide"`) {
		t.Fatalf("import-ide: %s", out)
	}
	if out := c.must("import-ide"); !strings.Contains(out, "already follows") {
		t.Fatalf("second import-ide: %s", out)
	}
	if out := c.must("list"); !strings.Contains(out, "Github, follows the Kiro IDE") {
		t.Fatalf("list: %s", out)
	}
	// Nothing of the IDE's login was copied or changed.
	after, _ := os.Stat(tokenFile)
	if b, _ := os.ReadFile(tokenFile); string(b) != content || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("the IDE's file changed")
	}
	// Importing the IDE's file directly would copy its single-use token: refused.
	if _, err := c.run("import", tokenFile); err == nil || !strings.Contains(err.Error(), "import-ide") {
		t.Fatalf("import of the IDE file: %v", err)
	}
}

func TestAccountsWithoutKeychain(t *testing.T) {
	c := newCLI(t)
	c.env.keychain = failingKeychain{}
	_, err := c.run("login", "builder-id", "--oidc", c.upURL)
	if err == nil || !strings.Contains(err.Error(), "--credentials FILE") {
		t.Fatalf("login with no keychain: %v", err)
	}
	// The explicit file store works.
	krs := c.writeFile("in.json", `{"refreshToken":"aor`+strings.Repeat("x", 100)+`"}`)
	credFile := filepath.Join(c.home, "creds.json")
	if out := c.must("import", krs, "--credentials", credFile, "--name", "box"); !strings.Contains(out, "Added box") {
		t.Fatal(out)
	}
	if out := c.must("list", "--credentials", credFile); !strings.Contains(out, "box") {
		t.Fatal(out)
	}
}

var userCode = regexp.MustCompile(`code:\s+([A-Z]{4}-[A-Z]{4})`)

func TestAccountsLoginBuilderIDAgainstKirofake(t *testing.T) {
	c := newCLI(t)
	approved := false
	c.env.signIn.Sleep = func(ctx context.Context, d time.Duration) error {
		if m := userCode.FindStringSubmatch(c.err.String()); m != nil && !approved {
			if _, ok := c.fake.ApproveDevice(m[1]); ok {
				approved = true
			}
		}
		return sleepShort(ctx)
	}
	out := c.must("login", "builder-id", "--oidc", c.upURL, "--kiro-api", c.upURL, "--kiro-auth", c.upURL, "--remote")
	if !approved || !strings.Contains(out, `Added account "device-1"`) {
		t.Fatalf("login: %s\nstderr: %s", out, c.err.String())
	}
	if !strings.Contains(c.err.String(), "/device?user_code=") {
		t.Fatalf("no verification link shown: %s", c.err.String())
	}
	s, _ := app.OpenStore(c.env.configDir, c.kc)
	d, _ := s.Load()
	m := d.Accounts[0]
	if m.Kind != app.KindBuilderID || m.ClientID == "" || m.ProfileARN == "" || m.StartURL != "https://view.awsapps.com/start" {
		t.Fatalf("stored %+v", m)
	}
	// The stored login works in the pool.
	as, err := app.NewAccountsFromStore(s, app.AccountsOptions{AuthBase: c.upURL, OIDCBase: c.upURL})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	if _, err := as.Account("device-1").Token(context.Background(), false); err != nil {
		t.Fatalf("token of the new login: %v", err)
	}
}

// sleepShort keeps poll loops quick but not spinning.
func sleepShort(ctx context.Context) error {
	select {
	case <-time.After(5 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestAccountsLoginGoogleInTheBrowser(t *testing.T) {
	c := newCLI(t)
	// The portal: /signin sends the browser back to the callback; /oauth/token
	// checks PKCE and hands out kirofake tokens.
	var mu sync.Mutex
	challenges := map[string]string{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		challenges["the-code"] = q.Get("code_challenge")
		mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"/oauth/callback?"+url.Values{"login_option": {"github"}, "code": {"the-code"}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		json.NewDecoder(r.Body).Decode(&in)
		sum := sha256.Sum256([]byte(in["code_verifier"]))
		mu.Lock()
		ok := challenges[in["code"]] == base64.RawURLEncoding.EncodeToString(sum[:])
		mu.Unlock()
		if !ok {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		rt, arn := c.fake.AddSocialAccount("gh")
		json.NewEncoder(w).Encode(map[string]any{"accessToken": c.fake.IssueAccessToken("gh"), "refreshToken": rt, "profileArn": arn, "expiresIn": 3600})
	})
	portal := httptest.NewServer(mux)
	defer portal.Close()
	var page string
	c.env.open = func(u string) error {
		go func() {
			resp, err := http.Get(u) // the browser
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				page = string(b)
				mu.Unlock()
			}
		}()
		return nil
	}
	c.env.signIn.Ports = []int{0}
	out := c.must("login", "google", "--portal", portal.URL, "--kiro-auth", portal.URL, "--kiro-api", c.upURL, "--name", "gh")
	if !strings.Contains(out, `Added account "gh"`) || !strings.Contains(c.err.String(), "Your browser was opened") {
		t.Fatalf("login: %s\nstderr: %s", out, c.err.String())
	}
	s, _ := app.OpenStore(c.env.configDir, c.kc)
	d, _ := s.Load()
	if m := d.Account("gh"); m == nil || m.Provider != "Github" || m.Quota == nil {
		t.Fatalf("stored %+v", m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		p := page
		mu.Unlock()
		if strings.Contains(p, "You can close this tab") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser page: %q", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
