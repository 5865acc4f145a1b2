package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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
	// A proxy password is stored, but never printed.
	if out := c.must("set-proxy", "--global", "http://bob:hunter2@127.0.0.1:3128"); strings.Contains(out, "hunter2") {
		t.Fatalf("set-proxy printed the password: %s", out)
	}
	if out = c.must("list"); strings.Contains(out, "hunter2") || !strings.Contains(out, "http://bob:xxxxx@127.0.0.1:3128") {
		t.Fatalf("list shows the proxy password or not the proxy: %s", out)
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
	// kirofake is the portal: /signin sends the browser back to the
	// callback; /oauth/token checks PKCE and the redirect URI.
	c.fake.SetPortalChoice(kirofake.PortalChoice{Option: "github", Account: "gh"})
	var mu sync.Mutex
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
	out := c.must("login", "google", "--portal", c.upURL, "--kiro-auth", c.upURL, "--kiro-api", c.upURL, "--name", "gh")
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

func TestAccountsImportAPIKey(t *testing.T) {
	c := newCLI(t)
	key := c.fake.AddAPIKeyAccount("headless")
	c.env.stdin = strings.NewReader("export KIRO_API_KEY='" + key + "'\n")
	out := c.must("import", "-", "--kiro-api", c.upURL, "--name", "ci")
	if !strings.Contains(out, `added "ci"`) || !strings.Contains(c.err.String(), "Kiro accepts the API key ksk_…") {
		t.Fatalf("import: %s\nstderr: %s", out, c.err.String())
	}
	if strings.Contains(out+c.err.String(), key) {
		t.Fatal("the key was printed")
	}
	s, _ := app.OpenStore(c.env.configDir, c.kc)
	d, _ := s.Load()
	m := d.Account("ci")
	if m == nil || m.Kind != app.KindAPIKey || m.Email != "headless@example.com" || m.Quota == nil {
		t.Fatalf("stored %+v", m)
	}
	if b, _ := os.ReadFile(s.Path()); strings.Contains(string(b), key) {
		t.Fatal("the key is in accounts.json")
	}
	if out := c.must("list"); !strings.Contains(out, "ci  (api-key") {
		t.Fatalf("list: %s", out)
	}
	// A key Kiro refuses is not added.
	c.env.stdin = strings.NewReader("ksk_NotAKeyKiroKnowsAbout0000\n")
	if out := c.must("import", "-", "--kiro-api", c.upURL); !strings.Contains(out, "skipped key 1: Kiro rejected the API key ksk_…0000") {
		t.Fatalf("rejected key: %s", out)
	}
}

func TestAccountsImportCLI(t *testing.T) {
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("no sqlite3 program")
	}
	c := newCLI(t)
	t.Setenv("XDG_DATA_HOME", "")
	if _, err := c.run("import-cli"); err == nil || !strings.Contains(err.Error(), "kiro-cli login") {
		t.Fatalf("no kiro-cli: %v", err)
	}
	path := app.KiroCLIPath(c.home)
	if path == "" {
		t.Skip("kiro-cli keeps no login here on this OS")
	}
	os.MkdirAll(filepath.Dir(path), 0o700)
	value := `{"access_token":"aoaCLI","refresh_token":"aorCLI","expires_at":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano) + `","region":"us-east-1"}`
	if out, err := exec.Command(bin, path, `CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO auth_kv VALUES ('kirocli:social:token', '`+value+`');`).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	before, _ := os.ReadFile(path)

	if out := c.must("ide"); !strings.Contains(out, "kirotray accounts import-cli") {
		t.Fatalf("ide: %s", out)
	}
	if _, err := c.run("import-ide"); err == nil || !strings.Contains(err.Error(), "import-cli") {
		t.Fatalf("import-ide without the IDE: %v", err)
	}
	out := c.must("import-cli")
	if !strings.Contains(out, "FOLLOW kiro-cli") || !strings.Contains(out, `Added account "kiro-cli"`) {
		t.Fatalf("import-cli: %s", out)
	}
	if out := c.must("list"); !strings.Contains(out, "follows kiro-cli") {
		t.Fatalf("list: %s", out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("kiro-cli's database changed")
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := c.run("import-cli"); err == nil || !strings.Contains(err.Error(), "sqlite3 program") {
		t.Fatalf("without sqlite3: %v", err)
	}
}

func TestAccountsImportIDEKeepFresh(t *testing.T) {
	c := newCLI(t)
	dir := filepath.Join(c.home, ".aws", "sso", "cache")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "kiro-auth-token.json"), []byte(`{"accessToken":"aoaIDE","refreshToken":"aorIDE","expiresAt":"`+
		time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")+`","authMethod":"social","provider":"Github"}`), 0o600)
	out := c.must("import-ide", "--keep-fresh")
	if !strings.HasPrefix(c.err.String(), "WARNING: with --keep-fresh") || !strings.Contains(out, "KEEP IT FRESH") {
		t.Fatalf("stdout: %s\nstderr: %s", out, c.err.String())
	}
	if out := c.must("list"); !strings.Contains(out, "follows the Kiro IDE, kept fresh by kirotray") {
		t.Fatalf("list: %s", out)
	}
	// Importing again without the flag goes back to read-only.
	c.must("import-ide")
	if out := c.must("list"); strings.Contains(out, "kept fresh") {
		t.Fatalf("list: %s", out)
	}
}
