package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
)

const accountsUsage = `kirotray accounts — the Kiro accounts the proxy uses.

Tokens live in the OS keychain; the list (names, kinds, priorities, state,
quota) in accounts.json in kirotray's config folder. Nothing here ever signs
the Kiro IDE out.

Usage:
  kirotray accounts list [--json]           the accounts, their state and quota
  kirotray accounts login google|github     sign in in the browser (a login of kirotray's own)
  kirotray accounts login builder-id [--start-url URL] [--region R]
                                            AWS Builder ID, or your organisation's IAM Identity Center
        --remote                            finish on another device: print the link and code
        --name NAME                         name the account (or sign an existing one in again)
        --credentials FILE                  keep the tokens in FILE instead of the keychain
  kirotray accounts ide                     is the Kiro IDE (or kiro-cli) signed in, and as what
  kirotray accounts import-ide [--name NAME] [--keep-fresh]
                                            use the Kiro IDE's login, read-only (the IDE stays signed in);
                                            --keep-fresh lets kirotray renew it too (read the warning)
  kirotray accounts import-cli [--name NAME]
                                            use kiro-cli's login, read-only (needs the sqlite3 program)
  kirotray accounts import FILE|- [--name NAME] [--credentials FILE]
                                            accounts from kiro2api, kiro.rs, Kiro Account Manager,
                                            a credentials file, a kirotray export, a pasted refresh token,
                                            or a Kiro API key (ksk_…, or KIRO_API_KEY=ksk_…)
  kirotray accounts export [--with-secrets | --as-credentials] [-o FILE]
                                            the list (tokens only when asked, with a warning)
  kirotray accounts remove NAME             forget an account and delete its tokens
  kirotray accounts enable NAME | disable NAME
  kirotray accounts set-priority NAME N     lower is tried first
  kirotray accounts rename NAME NEWNAME
  kirotray accounts set-proxy NAME|--global URL|direct|default
                                            outbound proxy: http://, https://, socks5:// (default: HTTPS_PROXY)
  kirotray accounts set-rate-limit NAME|--global off|N/min|2s|N/min,2s

Changes reach a running "kirotray serve" within a second or two.
The endpoints can be pointed at a simulation with --kiro-auth, --oidc,
--portal and --kiro-api (or KIROTRAY_KIRO_AUTH, KIROTRAY_OIDC, KIROTRAY_PORTAL,
KIROTRAY_KIRO_API); "kirotray demo-upstream" runs such a simulation.
`

// accountsEnv is what the accounts command works with; tests replace parts.
type accountsEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	keychain       keychain.Store         // nil: the OS keychain
	configDir      string                 // "": os.UserConfigDir()/kirotray
	ide            app.IDEOptions         // where the Kiro IDE keeps its login
	open           func(url string) error // nil: app.OpenBrowser
	signIn         app.SignInOptions      // test hooks (Sleep, Ports, HTTPClient)
	ctx            context.Context        // nil: cancelled by Ctrl+C
	now            func() time.Time
}

func accountsCommand(args []string, stdout, stderr io.Writer) error {
	return (&accountsEnv{stdin: os.Stdin, stdout: stdout, stderr: stderr}).run(args)
}

func (e *accountsEnv) run(args []string) error {
	if e.now == nil {
		e.now = time.Now
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(e.stdout, accountsUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "list", "ls":
		return e.list(args)
	case "login", "signin", "sign-in":
		return e.login(args)
	case "ide":
		return e.ideStatus(args)
	case "import-ide":
		return e.importIDE(args)
	case "import-cli":
		return e.importCLI(args)
	case "import":
		return e.importFile(args)
	case "export":
		return e.export(args)
	case "remove", "rm", "delete":
		return e.remove(args)
	case "enable", "disable":
		return e.enable(cmd, args)
	case "set-priority", "priority":
		return e.setPriority(args)
	case "rename":
		return e.rename(args)
	case "set-proxy":
		return e.setProxy(args)
	case "set-rate-limit":
		return e.setRateLimit(args)
	}
	return fmt.Errorf("accounts: unknown command %q (see: kirotray accounts help)", cmd)
}

func (e *accountsEnv) store() (*app.Store, error) {
	dir := e.configDir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("config directory: %w", err)
		}
		dir = filepath.Join(base, "kirotray")
	}
	kc := e.keychain
	if kc == nil {
		kc = keychain.NewOS()
	}
	return app.OpenStore(dir, kc)
}

func (e *accountsEnv) context() (context.Context, context.CancelFunc) {
	if e.ctx != nil {
		return context.WithCancel(e.ctx)
	}
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// flags makes a flag set; positional arguments may come before flags.
func (e *accountsEnv) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("accounts "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parse parses flags wherever they are among the arguments and returns the
// positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		// A negative number is a value (set-priority NAME -1), not a flag.
		for len(args) > 0 && isNegativeNumber(args[0]) {
			pos, args = append(pos, args[0]), args[1:]
		}
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func isNegativeNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && strings.HasPrefix(s, "-")
}

func want(pos []string, n int, usage string) error {
	if len(pos) != n {
		return fmt.Errorf("usage: kirotray accounts %s", usage)
	}
	return nil
}

func (e *accountsEnv) list(args []string) error {
	fs := e.flags("list")
	asJSON := fs.Bool("json", false, "print JSON (no secrets)")
	credFile := fs.String("credentials", "", "list the accounts of a credentials `file` instead")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *credFile != "" {
		f, err := app.LoadCredentials(*credFile)
		if err != nil {
			return err
		}
		for _, c := range f.Credentials() {
			fmt.Fprintf(e.stdout, "%-24s %-6s priority %d  (in %s)\n", c.Name, c.AuthMethod, c.Priority, f.Path)
		}
		return nil
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	d, err := s.Load()
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(d.Accounts, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	if len(d.Accounts) == 0 {
		fmt.Fprint(e.stdout, "No Kiro account yet. Add one with:\n"+
			"  kirotray accounts login google|github|builder-id   (a login of kirotray's own: recommended)\n"+
			"  kirotray accounts import-ide                       (use the Kiro IDE's login, read-only)\n"+
			"  kirotray accounts import FILE                      (from another Kiro tool)\n")
		return nil
	}
	now := e.now()
	for i, a := range d.Accounts {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		e.printAccount(a, now)
	}
	if d.Settings.Proxy != "" || !d.Settings.RateLimit.IsZero() {
		fmt.Fprintf(e.stdout, "\nall accounts: proxy %s, rate limit %s\n", orDefault(app.MaskProxy(d.Settings.Proxy), "from the environment"), d.Settings.RateLimit)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (e *accountsEnv) printAccount(a app.AccountMeta, now time.Time) {
	w := e.stdout
	kind := string(a.Kind)
	if a.Provider != "" && a.Kind == app.KindSocial {
		kind = a.Provider
	}
	switch a.Source {
	case app.SourceIDE:
		kind += ", follows the Kiro IDE"
		if a.KeepFresh {
			kind += ", kept fresh by kirotray"
		}
	case app.SourceKiroCLI:
		kind += ", follows kiro-cli"
	}
	state := "active"
	switch {
	case !a.Enabled:
		state = "disabled"
	case a.State == app.StateQuotaExhausted && !a.StateUntil.IsZero():
		state = "quota used up until " + a.StateUntil.Local().Format("2006-01-02")
	case a.State != "":
		state = strings.ReplaceAll(string(a.State), "_", " ")
		if a.StateReason != "" {
			state += ": " + a.StateReason
		}
	}
	fmt.Fprintf(w, "%s  (%s, priority %d) — %s\n", a.Name, kind, a.Priority, state)
	if a.Email != "" {
		fmt.Fprintf(w, "    e-mail:  %s\n", a.Email)
	}
	if a.Quota != nil {
		fmt.Fprintf(w, "    quota:   %s (checked %s)\n", a.Quota.Summary(now), ago(a.Quota.CheckedAt, now))
	} else if a.Enabled {
		fmt.Fprint(w, "    quota:   not checked yet (kirotray serve reads it)\n")
	}
	if a.Kind != app.KindSocial && a.Source != app.SourceIDE && !a.ClientExpiresAt.IsZero() {
		fmt.Fprintf(w, "    login:   valid until %s (then sign in again)\n", a.ClientExpiresAt.Local().Format("2006-01-02"))
	}
	if a.Proxy != "" || !a.RateLimit.IsZero() {
		fmt.Fprintf(w, "    network: proxy %s, rate limit %s\n", orDefault(app.MaskProxy(a.Proxy), "default"), a.RateLimit)
	}
	if a.LastError != "" {
		fmt.Fprintf(w, "    last error: %s\n", a.LastError)
	}
}

func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02")
}

// endpoints adds the flags that point sign-in at other servers (a simulation).
type endpoints struct{ kiroAuth, oidc, portal, kiroAPI *string }

func addEndpoints(fs *flag.FlagSet) endpoints {
	return endpoints{
		kiroAuth: fs.String("kiro-auth", envOr("KIROTRAY_KIRO_AUTH", app.DefaultKiroAuth), "Kiro auth service base `URL`"),
		oidc:     fs.String("oidc", os.Getenv("KIROTRAY_OIDC"), "AWS SSO-OIDC base `URL` (default https://oidc.{region}.amazonaws.com)"),
		portal:   fs.String("portal", envOr("KIROTRAY_PORTAL", "https://app.kiro.dev"), "Kiro sign-in portal `URL`"),
		kiroAPI:  fs.String("kiro-api", envOr("KIROTRAY_KIRO_API", app.DefaultKiroAPI), "Kiro API base `URL` (profile and e-mail lookup)"),
	}
}

func (e *accountsEnv) login(args []string) error {
	fs := e.flags("login")
	startURL := fs.String("start-url", "", "your organisation's IAM Identity Center start `URL` (builder-id only)")
	region := fs.String("region", "", "the Identity Center's AWS `region` (default us-east-1)")
	remote := fs.Bool("remote", false, "finish the sign-in on another device: print the link and code, open nothing")
	noBrowser := fs.Bool("no-browser", false, "do not open the browser; print the link")
	name := fs.String("name", "", "the account's `name`; an existing name signs that account in again")
	credFile := fs.String("credentials", "", "keep the tokens in this credentials `file` (plain text, mode 0600) instead of the keychain")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	ep := addEndpoints(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, "login google|github|builder-id [--start-url URL] [--remote]"); err != nil {
		return err
	}
	method := strings.ToLower(pos[0])
	o := e.signIn
	o.KiroAuth, o.OIDC, o.Portal, o.KiroAPI = *ep.kiroAuth, *ep.oidc, *ep.portal, *ep.kiroAPI
	o.Region, o.StartURL, o.Remote, o.Timeout = *region, *startURL, *remote, *timeout
	if !*remote && !*noBrowser {
		o.Open = e.open
		if o.Open == nil {
			o.Open = app.OpenBrowser
		}
	}
	if o.HTTPClient == nil {
		hc, err := e.outboundClient()
		if err != nil {
			return err
		}
		o.HTTPClient = hc
	}
	o.Prompt = e.prompt
	// Keep the keychain question before the person spends time in the browser.
	var s *app.Store
	if *credFile == "" {
		if s, err = e.store(); err != nil {
			return err
		}
		if err := e.checkKeychain(); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stderr, "The tokens will be written to %s in plain text (mode 0600), not to the keychain.\n", *credFile)
	}
	ctx, cancel := e.context()
	defer cancel()
	var n *app.NewLogin
	switch method {
	case "google", "github":
		if *startURL != "" {
			return errors.New("--start-url is for builder-id (IAM Identity Center)")
		}
		fmt.Fprintf(e.stderr, "Signing in with %s: a login of kirotray's own (the Kiro IDE's login is not touched).\n", titled(method))
		n, err = app.SignInSocial(ctx, method, o)
	case "builder-id", "builderid", "idc", "sso":
		who := "AWS Builder ID"
		if *startURL != "" {
			who = "IAM Identity Center (" + *startURL + ")"
		}
		fmt.Fprintf(e.stderr, "Signing in with %s: a login of kirotray's own (the Kiro IDE's login is not touched).\n", who)
		n, err = app.SignInBuilderID(ctx, o)
	default:
		return fmt.Errorf("accounts login: %q is not a sign-in method (google, github or builder-id)", method)
	}
	if err != nil {
		return err
	}
	if n.IdentityErr != nil {
		fmt.Fprintf(e.stderr, "Note: could not look up the account's e-mail and profile yet (%v); the proxy will on first use.\n", n.IdentityErr)
	}
	n.Meta.Name = *name
	if *credFile != "" {
		names, err := app.AppendCredentials(*credFile, []app.Credential{n.Credential()})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Signed in. Account %q saved in %s.\nUse it with: kirotray serve --credentials %s\n", names[0], *credFile, *credFile)
		return nil
	}
	res, err := s.Add(n.Meta, n.Secrets)
	if err != nil {
		return err
	}
	verb := "Added"
	if res.Replaced {
		verb = "Signed in again:"
	}
	fmt.Fprintf(e.stdout, "%s account %q", verb, res.Meta.Name)
	if res.Meta.Email != "" {
		fmt.Fprintf(e.stdout, " (%s)", res.Meta.Email)
	}
	fmt.Fprintln(e.stdout, ". Its tokens are in the OS keychain.")
	if res.Meta.Quota != nil {
		fmt.Fprintf(e.stdout, "Quota: %s\n", res.Meta.Quota.Summary(e.now()))
	}
	return nil
}

func titled(s string) string {
	switch s {
	case "github":
		return "GitHub"
	case "google":
		return "Google"
	}
	return s
}

// prompt tells the person what to do while a sign-in waits.
func (e *accountsEnv) prompt(p app.SignInPrompt) {
	w := e.stderr
	switch {
	case p.Opened:
		fmt.Fprintf(w, "\nYour browser was opened at:\n  %s\n", p.URL)
	case p.OpenErr != nil:
		fmt.Fprintf(w, "\n(%v)\nOpen this link in a browser:\n  %s\n", p.OpenErr, p.URL)
	default:
		fmt.Fprintf(w, "\nOpen this link in a browser (on any device):\n  %s\n", p.URL)
	}
	if p.UserCode != "" {
		fmt.Fprintf(w, "and check that the page shows the code:  %s\n", p.UserCode)
	}
	if !p.Expires.IsZero() {
		fmt.Fprintf(w, "Waiting until %s (Ctrl+C to cancel)…\n", p.Expires.Local().Format("15:04"))
	}
}

// checkKeychain makes sure secrets can be stored before a sign-in starts.
func (e *accountsEnv) checkKeychain() error {
	kc := e.keychain
	if kc == nil {
		kc = keychain.NewOS()
	}
	return app.CheckKeychain(kc)
}

// outboundClient honours the store's global proxy for sign-in calls.
func (e *accountsEnv) outboundClient() (*http.Client, error) {
	s, err := e.store()
	if err != nil {
		return nil, err
	}
	return s.OutboundClient()
}

func (e *accountsEnv) ideStatus(args []string) error {
	if _, err := parse(e.flags("ide"), args); err != nil {
		return err
	}
	now := e.now()
	l := app.DetectIDE(e.ide)
	fmt.Fprintf(e.stdout, "Kiro IDE: %s\n  login file: %s\n", l.Describe(now), l.Path)
	if l.ProfileARN != "" {
		fmt.Fprintf(e.stdout, "  profile:    %s\n", l.ProfileARN)
	}
	if l.Running {
		fmt.Fprint(e.stdout, "  the IDE is running (it renews its own token)\n")
	}
	home := e.ide.Home
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if c := app.DetectKiroCLI(home); c.Found {
		fmt.Fprintf(e.stdout, "kiro-cli: ")
		if c.SignedIn {
			fmt.Fprintf(e.stdout, "signed in (%s), access token until %s\n", c.Kind, c.ExpiresAt.Local().Format("15:04"))
		} else {
			fmt.Fprintln(e.stdout, c.Detail)
		}
		fmt.Fprintf(e.stdout, "  login store: %s\n", c.Path)
		if c.SignedIn {
			fmt.Fprint(e.stdout, "  to use this login: kirotray accounts import-cli\n")
		}
	}
	if l.State != app.IDENotSignedIn && l.State != app.IDEUnreadable {
		fmt.Fprint(e.stdout, "\nTo use this login: kirotray accounts import-ide\n")
	}
	return nil
}

// ideExplanation says what following the IDE's login means.
const ideExplanation = `kirotray will FOLLOW the Kiro IDE's login, read-only:
  • it uses the access token the IDE keeps fresh, and never refreshes it itself,
    so the IDE stays signed in (Kiro refresh tokens are single-use: two programs
    renewing one login sign each other out);
  • it never writes the IDE's files;
  • it notices when the IDE renews its token or signs in again;
  • while the IDE is closed, its token runs out within the hour and this account
    pauses until you open Kiro again.
For an account that works on its own, sign in with kirotray instead (recommended):
  kirotray accounts login google|github|builder-id
`

func (e *accountsEnv) importIDE(args []string) error {
	fs := e.flags("import-ide")
	name := fs.String("name", "", "the account's `name` (default kiro-ide)")
	keepFresh := fs.Bool("keep-fresh", false, "let kirotray renew the IDE's login when the IDE has not, writing it back (read the warning)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *keepFresh {
		fmt.Fprint(e.stderr, app.KeepFreshWarning)
	}
	now := e.now()
	l := app.DetectIDE(e.ide)
	fmt.Fprintf(e.stdout, "Kiro IDE: %s\n\n", l.Describe(now))
	switch l.State {
	case app.IDENotSignedIn:
		if c := app.DetectKiroCLI(e.home()); c.Found {
			return fmt.Errorf("the Kiro IDE is not signed in (no %s); kiro-cli is installed: to use its login, run kirotray accounts import-cli", l.Path)
		}
		return fmt.Errorf("the Kiro IDE is not signed in (no %s): sign in to Kiro first, or use kirotray accounts login "+
			"(for kiro-cli's login: kirotray accounts import-cli)", l.Path)
	case app.IDEUnreadable:
		return fmt.Errorf("the Kiro IDE's login file cannot be used: %s", l.Detail)
	}
	if *keepFresh {
		fmt.Fprint(e.stdout, "kirotray will follow the Kiro IDE's login and KEEP IT FRESH: it renews the login itself when\n"+
			"the IDE has not, and writes the new tokens back into the IDE's file.\n")
	} else {
		fmt.Fprint(e.stdout, ideExplanation)
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	res, err := s.Add(app.AccountMeta{Name: *name, Kind: l.Kind, Provider: l.Provider, Region: l.Region,
		ProfileARN: l.ProfileARN, Email: l.Email, Source: app.SourceIDE, IDEFile: l.Path, KeepFresh: *keepFresh}, app.Secrets{})
	if err != nil {
		return err
	}
	if res.Replaced {
		fmt.Fprintf(e.stdout, "\nAccount %q already follows the Kiro IDE; updated.\n", res.Meta.Name)
	} else {
		fmt.Fprintf(e.stdout, "\nAdded account %q.\n", res.Meta.Name)
	}
	if l.State == app.IDENeedsRenewal {
		fmt.Fprint(e.stdout, "The IDE's access token has expired: open Kiro and it will renew it; kirotray picks it up.\n")
	}
	return nil
}

func (e *accountsEnv) home() string {
	if e.ide.Home != "" {
		return e.ide.Home
	}
	h, _ := os.UserHomeDir()
	return h
}

// cliExplanation says what following kiro-cli's login means.
const cliExplanation = `kirotray will FOLLOW kiro-cli's login, read-only:
  • it uses the access token kiro-cli keeps, and never refreshes it itself, so
    kiro-cli stays signed in (two programs renewing one login sign each other out);
  • it reads kiro-cli's database through the sqlite3 program and never writes it;
  • it notices when kiro-cli renews its token or signs in again;
  • once kiro-cli's token runs out (within the hour when kiro-cli is not used),
    this account pauses until you run kiro-cli again.
For an account that works on its own, sign in with kirotray instead (recommended):
  kirotray accounts login google|github|builder-id
`

func (e *accountsEnv) importCLI(args []string) error {
	fs := e.flags("import-cli")
	name := fs.String("name", "", "the account's `name` (default kiro-cli)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	l := app.DetectKiroCLI(e.home())
	switch {
	case l.Path == "":
		return errors.New("kiro-cli keeps no login kirotray can read on this system")
	case !l.Found:
		return fmt.Errorf("kiro-cli is not signed in here (no %s): run `kiro-cli login` first, or use kirotray accounts login", l.Path)
	case l.NoSQLite3:
		return fmt.Errorf("found kiro-cli's login in %s, but %w", l.Path, app.ErrNoSQLite3)
	case !l.SignedIn:
		return fmt.Errorf("kiro-cli's login in %s cannot be used: %s", l.Path, l.Detail)
	}
	fmt.Fprintf(e.stdout, "kiro-cli: signed in (%s), access token until %s\n\n", l.Kind, l.ExpiresAt.Local().Format("15:04"))
	fmt.Fprint(e.stdout, cliExplanation)
	s, err := e.store()
	if err != nil {
		return err
	}
	res, err := s.Add(app.AccountMeta{Name: *name, Kind: l.Kind, Provider: l.Provider, Region: l.Region,
		ProfileARN: l.ProfileARN, Source: app.SourceKiroCLI, IDEFile: l.Path}, app.Secrets{})
	if err != nil {
		return err
	}
	if res.Replaced {
		fmt.Fprintf(e.stdout, "\nAccount %q already follows kiro-cli; updated.\n", res.Meta.Name)
	} else {
		fmt.Fprintf(e.stdout, "\nAdded account %q.\n", res.Meta.Name)
	}
	if !l.ExpiresAt.After(e.now()) {
		fmt.Fprint(e.stdout, "kiro-cli's access token has expired: run kiro-cli and it will renew it; kirotray picks it up.\n")
	}
	return nil
}

func (e *accountsEnv) importFile(args []string) error {
	fs := e.flags("import")
	name := fs.String("name", "", "the account's `name` (one account only)")
	credFile := fs.String("credentials", "", "write the accounts to this credentials `file` instead of the keychain")
	noVerify := fs.Bool("no-verify", false, "do not check API keys with Kiro before adding them")
	ep := addEndpoints(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, "import FILE|-   (- reads a file or a pasted refresh token from standard input)"); err != nil {
		return err
	}
	var data []byte
	if pos[0] == "-" {
		if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
			fmt.Fprint(e.stderr, "Paste the API key, refresh token or JSON, then press Ctrl+D:\n")
		}
		data, err = io.ReadAll(io.LimitReader(e.stdin, 8<<20))
	} else {
		if e.isIDEFile(pos[0]) {
			return errors.New("that is the Kiro IDE's own login file: importing its refresh token would sign the IDE out at the next refresh.\n" +
				"Use `kirotray accounts import-ide` (read-only), or sign in with kirotray: kirotray accounts login …")
		}
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	ims, format, err := app.ParseImport(data)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	fmt.Fprintf(e.stderr, "Read %d account(s) from a %s.\n", len(ims), format)
	if !*noVerify {
		if err := e.verifyKeys(ims, *ep.kiroAPI); err != nil {
			return err
		}
	}
	if format == app.FormatIDEFile || format == app.FormatPastedToken || format == app.FormatJSON || format == app.FormatKiroAM {
		fmt.Fprint(e.stderr, "These tokens become kirotray's: if another program still uses the same login, refreshing\n"+
			"it in both places signs one of them out. Use each login in one place only.\n")
	}
	if *credFile != "" {
		var creds []app.Credential
		for _, im := range ims {
			if im.Skip != "" {
				fmt.Fprintf(e.stdout, "skipped %s: %s\n", im.Entry, im.Skip)
				continue
			}
			n := app.NewLogin{Meta: im.Meta, Secrets: im.Secrets}
			c := n.Credential()
			c.APIKey = im.Secrets.APIKey
			if *name != "" && len(ims) == 1 {
				c.Name = *name
			}
			creds = append(creds, c)
		}
		names, err := app.AppendCredentials(*credFile, creds)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Added %s to %s.\n", strings.Join(names, ", "), *credFile)
		return nil
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	results, err := s.Import(ims, *name)
	for _, r := range results {
		switch {
		case r.Added:
			fmt.Fprintf(e.stdout, "added %q (%s)\n", r.Name, r.Entry)
		case r.Replaced:
			fmt.Fprintf(e.stdout, "updated %q with the imported tokens (%s)\n", r.Name, r.Entry)
		case r.Restored:
			fmt.Fprintf(e.stdout, "restored %q: its tokens are still in the keychain (%s)\n", r.Name, r.Entry)
		default:
			fmt.Fprintf(e.stdout, "skipped %s: %s\n", r.Entry, r.Skipped)
		}
	}
	return err
}

// verifyKeys checks the API keys among ims with Kiro (getUsageLimits): a
// refused key is skipped, a key that works gets its e-mail and quota. When
// Kiro cannot be reached the key is added unchecked, with a note.
func (e *accountsEnv) verifyKeys(ims []app.Imported, kiroAPI string) error {
	var hc *http.Client
	for i := range ims {
		im := &ims[i]
		if im.Skip != "" || im.Meta.Kind != app.KindAPIKey {
			continue
		}
		if hc == nil {
			var err error
			if hc, err = e.outboundClient(); err != nil {
				return err
			}
		}
		ctx, cancel := e.context()
		chk, err := app.VerifyAPIKey(ctx, hc, kiroAPI, im.Secrets.APIKey)
		cancel()
		mask := app.MaskAPIKey(im.Secrets.APIKey)
		switch {
		case errors.Is(err, app.ErrAPIKeyRejected):
			im.Skip = fmt.Sprintf("Kiro rejected the API key %s (%v): check it in the Kiro portal, or create a new one", mask, err)
		case err != nil:
			fmt.Fprintf(e.stderr, "Note: could not check the API key %s with Kiro (%v); adding it unchecked.\n", mask, err)
		default:
			im.Meta.Email, im.Meta.UserID, im.Meta.Quota = chk.Email, chk.UserID, chk.Quota
			fmt.Fprintf(e.stderr, "Kiro accepts the API key %s", mask)
			if chk.Email != "" {
				fmt.Fprintf(e.stderr, " (%s)", chk.Email)
			}
			fmt.Fprintln(e.stderr, ".")
		}
	}
	return nil
}

// isIDEFile reports whether path is the Kiro IDE's live token file.
func (e *accountsEnv) isIDEFile(path string) bool {
	a, err1 := os.Stat(path)
	b, err2 := os.Stat(e.ide.TokenPath())
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (e *accountsEnv) export(args []string) error {
	fs := e.flags("export")
	withSecrets := fs.Bool("with-secrets", false, "include the refresh tokens and client secrets")
	asCreds := fs.Bool("as-credentials", false, "write a credentials file for `serve --credentials` (includes the tokens)")
	out := fs.String("o", "", "write to `file` (mode 0600) instead of standard output")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	secrets := *withSecrets || *asCreds
	if secrets {
		fmt.Fprintln(e.stderr, "WARNING: "+app.ExportNote)
	}
	data, err := s.Export(app.ExportOptions{WithSecrets: *withSecrets, AsCredentials: *asCreds})
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = e.stdout.Write(data)
		return err
	}
	if err := app.WriteFileAtomic(*out, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Exported to %s.\n", *out)
	return nil
}

func (e *accountsEnv) remove(args []string) error {
	pos, err := parse(e.flags("remove"), args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, "remove NAME"); err != nil {
		return err
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	gone, err := s.Remove(pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Removed account %q and deleted its tokens from the keychain.\n", gone.Name)
	if gone.Source == app.SourceIDE {
		fmt.Fprint(e.stdout, "The Kiro IDE's own login is untouched.\n")
	}
	return nil
}

func (e *accountsEnv) enable(cmd string, args []string) error {
	pos, err := parse(e.flags(cmd), args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, cmd+" NAME"); err != nil {
		return err
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	m, err := s.SetEnabled(pos[0], cmd == "enable")
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Account %q %sd.\n", m.Name, cmd)
	return nil
}

func (e *accountsEnv) setPriority(args []string) error {
	pos, err := parse(e.flags("set-priority"), args)
	if err != nil {
		return err
	}
	if err := want(pos, 2, "set-priority NAME N"); err != nil {
		return err
	}
	n, err := strconv.Atoi(pos[1])
	if err != nil {
		return fmt.Errorf("set-priority: %q is not a whole number", pos[1])
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	m, err := s.SetPriority(pos[0], n)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Account %q now has priority %d (lower is tried first).\n", m.Name, m.Priority)
	return nil
}

func (e *accountsEnv) rename(args []string) error {
	pos, err := parse(e.flags("rename"), args)
	if err != nil {
		return err
	}
	if err := want(pos, 2, "rename NAME NEWNAME"); err != nil {
		return err
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	if _, err := s.Rename(pos[0], pos[1]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Renamed %q to %q.\n", pos[0], pos[1])
	return nil
}

// target reads "NAME VALUE" or "--global VALUE".
func (e *accountsEnv) target(name string, args []string, usage string) (account, value string, global bool, err error) {
	fs := e.flags(name)
	g := fs.Bool("global", false, "set it for all accounts")
	pos, err := parse(fs, args)
	if err != nil {
		return "", "", false, err
	}
	if *g {
		if err := want(pos, 1, usage); err != nil {
			return "", "", false, err
		}
		return "", pos[0], true, nil
	}
	if err := want(pos, 2, usage); err != nil {
		return "", "", false, err
	}
	return pos[0], pos[1], false, nil
}

func (e *accountsEnv) setProxy(args []string) error {
	name, v, global, err := e.target("set-proxy", args, "set-proxy NAME|--global URL|direct|default")
	if err != nil {
		return err
	}
	switch strings.ToLower(v) {
	case "default", "env", "":
		v = ""
	case app.ProxyDirect, "none":
		v = app.ProxyDirect
	default:
		if _, err := app.ParseProxyURL(v); err != nil {
			return err
		}
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	if global {
		err = s.Update(func(d *app.StoreData) error { d.Settings.Proxy = v; return nil })
	} else {
		_, err = s.Edit(name, func(a *app.AccountMeta) error { a.Proxy = v; return nil })
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Outbound proxy set to %s.\n", orDefault(app.MaskProxy(v), "the default (HTTPS_PROXY from the environment, if any)"))
	return nil
}

func (e *accountsEnv) setRateLimit(args []string) error {
	name, v, global, err := e.target("set-rate-limit", args, "set-rate-limit NAME|--global off|N/min|2s|N/min,2s")
	if err != nil {
		return err
	}
	lim, err := app.ParseRateLimit(v)
	if err != nil {
		return err
	}
	s, err := e.store()
	if err != nil {
		return err
	}
	if global {
		err = s.Update(func(d *app.StoreData) error { d.Settings.RateLimit = lim; return nil })
	} else {
		_, err = s.Edit(name, func(a *app.AccountMeta) error { a.RateLimit = lim; return nil })
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Rate limit: %s.\n", lim)
	return nil
}
