package ui

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// newCore returns a core with cfg's settings and test defaults: a free
// port, a fixed key, an in-memory keychain, a temporary config folder and
// a Kiro IDE that is looked for in an empty home.
func newCore(t *testing.T, cfg app.Config) *app.App {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.APIKey = "kt-test-key"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Keychain = &keychain.Memory{}
	cfg.ConfigDir = t.TempDir()
	if cfg.IDE.Home == "" {
		cfg.IDE = app.IDEOptions{Home: t.TempDir(), ConfigDir: t.TempDir(), NoProcessCheck: true}
	}
	cfg.Version = "test"
	core := app.New(cfg)
	t.Cleanup(core.Close)
	return core
}

// newWinController returns a controller that runs core calls inline and
// a window for its dialogs; errors it would show are collected.
func newWinController(t *testing.T, core *app.App) (*controller, fyne.Window, *[]error) {
	t.Helper()
	var errs []error
	w := test.NewTempWindow(t, widget.NewLabel(""))
	w.Resize(defaultWindowSize)
	c := &controller{
		core:       core,
		ctx:        context.Background(),
		background: func(f func()) { f() },
		showError:  func(err error) { errs = append(errs, err) },
		show:       func() {},
		quit:       func() {},
		win:        w,
	}
	return c, w, &errs
}

// addAccounts stores signed-in accounts, in order.
func addAccounts(t *testing.T, core *app.App, names ...string) {
	t.Helper()
	s, err := core.Store()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		m := app.AccountMeta{Name: n, Kind: app.KindSocial, Provider: "Google", Email: n + "@example.com", Source: app.SourceSignIn}
		if _, err := s.Add(m, app.Secrets{RefreshToken: redact.Secret("refresh-" + n)}); err != nil {
			t.Fatal(err)
		}
	}
}

// accountNames lists the core's accounts: "a b- c" (- marks a disabled one).
func accountNames(t *testing.T, core *app.App) string {
	t.Helper()
	views, err := core.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range views {
		n := v.Name
		if !v.Enabled {
			n += "-"
		}
		out = append(out, n)
	}
	return strings.Join(out, " ")
}

// reload gives the controller the core's list, as followAccounts would.
func reload(t *testing.T, c *controller, tab *accountsTab) {
	t.Helper()
	views, err := c.core.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	c.accountList = views
	tab.refresh()
}

// objects walks what is on screen under root, through widgets' renderers.
func objects(root fyne.CanvasObject) []fyne.CanvasObject {
	var out []fyne.CanvasObject
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || !o.Visible() {
			return
		}
		out = append(out, o)
		switch o := o.(type) {
		case *fyne.Container:
			for _, c := range o.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(o).Objects() {
				walk(c)
			}
		}
	}
	walk(root)
	return out
}

// button finds the visible button labelled text under root.
func button(t *testing.T, root fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	var seen []string
	for _, o := range objects(root) {
		if b, ok := o.(*widget.Button); ok {
			if b.Text == text {
				return b
			}
			seen = append(seen, b.Text)
		}
	}
	t.Fatalf("no button %q; buttons: %q", text, seen)
	return nil
}

// texts joins the text of the visible labels under root.
func texts(root fyne.CanvasObject) string {
	var out []string
	for _, o := range objects(root) {
		if l, ok := o.(*widget.Label); ok && l.Text != "" {
			out = append(out, l.Text)
		}
	}
	return strings.Join(out, "\n")
}

// top is the dialog on top of w, failing when none shows.
func top(t *testing.T, w fyne.Window) fyne.CanvasObject {
	t.Helper()
	o := w.Canvas().Overlays().Top()
	if o == nil || !o.Visible() {
		t.Fatal("no dialog shows")
	}
	return o
}

func TestAccountsTabRendersTheList(t *testing.T) {
	test.NewTempApp(t)
	c, w, _ := newWinController(t, newCore(t, app.Config{}))
	until := time.Now().Add(90 * time.Minute).Round(time.Minute)
	views := testAccounts()
	views[0].Email, views[0].Provider = "work@example.com", "Google"
	views[0].Warning = "The Kiro IDE is signed in with this login too."
	views[2].StateReason, views[2].StateUntil = "Kiro suspended the account", until
	views = append(views, app.AccountView{AccountMeta: app.AccountMeta{Name: "ide", Source: app.SourceIDE, Enabled: true,
		State: app.StateCooling, StateReason: "rate limited", LastError: "429"}})
	c.accountList = views
	c.ideLogin = &app.IDELogin{State: app.IDESignedIn, Email: "me@example.com"}
	tab := newAccountsTab(c)
	w.SetContent(tab.content)

	if len(tab.cards) != 5 {
		t.Fatalf("%d cards", len(tab.cards))
	}
	want := []struct{ title, kind, state, reason, warning, quota, toggle string }{
		{"work", "Google · work@example.com", "Active", "", "The Kiro IDE is signed in with this login too.", "Quota: 62% left (620 of 1000), resets Dec 1.", "Disable"},
		{"spare", "Kiro login", "Disabled", "", "", "Quota: 100% left (50 of 50).", "Enable"},
		{"old", "Kiro login", "Suspended", "Kiro suspended the account (until " + whenText(until) + ")", "", "Quota not checked yet: it is read while the proxy runs.", "Disable"},
		{"new", "Kiro login", "Active", "", "", "Quota not checked yet: it is read while the proxy runs.", "Disable"},
		{"ide", "Follows the Kiro IDE (read-only)", "Cooling down", "rate limited", "", "Quota not checked yet: it is read while the proxy runs.", "Disable"},
	}
	for i, c := range tab.cards {
		got := struct{ title, kind, state, reason, warning, quota, toggle string }{c.title.Text, c.kind.Text, c.state.Text,
			shown(c.reason), shown(c.warning), c.quota.Text, c.toggle.Text}
		if got != want[i] {
			t.Errorf("card %d\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	if !tab.cards[0].up.Disabled() || tab.cards[0].down.Disabled() || !tab.cards[4].down.Disabled() || tab.cards[4].up.Disabled() {
		t.Error("only the first can't go up and only the last can't go down")
	}
	if tab.cards[2].state.Importance != widget.DangerImportance || tab.cards[0].warning.Importance != widget.WarningImportance {
		t.Error("a suspension is shown as danger, a warning as a warning")
	}
	if tab.ideStatus.Text != "Kiro IDE: signed in as me@example.com." || !tab.useIDE.Disabled() {
		t.Errorf("IDE %q, use enabled %v: the IDE's login is followed already", tab.ideStatus.Text, !tab.useIDE.Disabled())
	}
	if tab.empty.Visible() {
		t.Error("the empty-list text shows")
	}
	markup := test.RenderToMarkup(w.Canvas())
	for _, s := range []string{"work", "spare", "Suspended", "Kiro suspended the account", "Sign in…", "Use the Kiro IDE's login…"} {
		if !strings.Contains(markup, s) {
			t.Errorf("tab lacks %q", s)
		}
	}

	c.accountList = []app.AccountView{}
	c.ideLogin = &app.IDELogin{State: app.IDENotSignedIn}
	tab.refresh()
	if len(tab.cards) != 0 || !tab.empty.Visible() || tab.ideStatus.Text != "Kiro IDE: not signed in." {
		t.Errorf("empty: %d cards, empty text shown %v, IDE %q", len(tab.cards), tab.empty.Visible(), tab.ideStatus.Text)
	}
}

func shown(l *widget.Label) string {
	if !l.Visible() {
		return ""
	}
	return l.Text
}

func TestAccountsTabCallsTheCore(t *testing.T) {
	test.NewTempApp(t)
	core := newCore(t, app.Config{})
	addAccounts(t, core, "a", "b", "c")
	c, w, _ := newWinController(t, core)
	tab := newAccountsTab(c)
	w.SetContent(tab.content)
	reload(t, c, tab)

	test.Tap(tab.cards[1].toggle)
	if got := accountNames(t, core); got != "a b- c" {
		t.Fatalf("after Disable: %q", got)
	}
	reload(t, c, tab)
	if tab.cards[1].toggle.Text != "Enable" || tab.cards[1].state.Text != "Disabled" {
		t.Fatalf("card: %q %q", tab.cards[1].toggle.Text, tab.cards[1].state.Text)
	}
	test.Tap(tab.cards[1].toggle)
	if got := accountNames(t, core); got != "a b c" {
		t.Fatalf("after Enable: %q", got)
	}

	reload(t, c, tab)
	test.Tap(tab.cards[0].down)
	if got := accountNames(t, core); got != "b a c" {
		t.Fatalf("after moving a down: %q", got)
	}
	reload(t, c, tab)
	test.Tap(tab.cards[2].up)
	if got := accountNames(t, core); got != "b c a" {
		t.Fatalf("after moving c up: %q", got)
	}

	// Remove asks first; Cancel keeps the account.
	reload(t, c, tab)
	test.Tap(tab.cards[1].remove)
	d := top(t, w)
	if s := texts(d); !strings.Contains(s, "Remove c?") || !strings.Contains(s, "deletes its tokens") {
		t.Fatalf("confirmation: %q", s)
	}
	test.Tap(button(t, d, "Cancel"))
	if got := accountNames(t, core); got != "b c a" {
		t.Fatalf("after Cancel: %q", got)
	}
	test.Tap(tab.cards[1].remove)
	test.Tap(button(t, top(t, w), "Remove"))
	if got := accountNames(t, core); got != "b a" {
		t.Fatalf("after Remove: %q", got)
	}
	if tab.problem.Visible() {
		t.Fatalf("problem shown: %q", tab.problem.Text)
	}

	// A failure shows above the list, in words.
	test.Tap(tab.cards[1].remove) // c: gone already, the card is stale
	test.Tap(button(t, top(t, w), "Remove"))
	if !tab.problem.Visible() || !strings.HasPrefix(tab.problem.Text, "Could not remove c: ") {
		t.Fatalf("problem %v %q", tab.problem.Visible(), tab.problem.Text)
	}
}

// TestAccountsTabUsesTheIDELogin: the IDE's login is detected, the button
// explains before it adds a read-only follower.
func TestAccountsTabUsesTheIDELogin(t *testing.T) {
	test.NewTempApp(t)
	home := t.TempDir()
	tok := app.IDETokenPath(home)
	if err := os.MkdirAll(filepath.Dir(tok), 0o700); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	body := `{"accessToken":"at","refreshToken":"rt","expiresAt":"` + exp + `","authMethod":"social","provider":"Google","email":"me@example.com","profileArn":"arn:aws:codewhisperer:us-east-1:1:profile/X"}`
	if err := os.WriteFile(tok, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	core := newCore(t, app.Config{IDE: app.IDEOptions{Home: home, ConfigDir: t.TempDir(), NoProcessCheck: true}})
	c, w, _ := newWinController(t, core)
	tab := newAccountsTab(c)
	w.SetContent(tab.content)
	reload(t, c, tab)
	if tab.ideStatus.Text != "Kiro IDE: checking…" {
		t.Fatalf("before the check: %q", tab.ideStatus.Text)
	}
	test.Tap(tab.checkIDE)
	if tab.ideStatus.Text != "Kiro IDE: signed in as me@example.com." || tab.useIDE.Disabled() {
		t.Fatalf("IDE %q, use disabled %v", tab.ideStatus.Text, tab.useIDE.Disabled())
	}

	test.Tap(tab.useIDE)
	d := top(t, w)
	s := texts(d)
	for _, want := range []string{"the IDE stays signed in", "closed for about an hour", "use Sign in… instead"} {
		if !strings.Contains(s, want) {
			t.Errorf("the explanation lacks %q: %q", want, s)
		}
	}
	if got := accountNames(t, core); got != "" {
		t.Fatalf("added before confirming: %q", got)
	}
	test.Tap(button(t, d, "Use the IDE's login"))
	views, err := core.Accounts()
	if err != nil || len(views) != 1 || views[0].Source != app.SourceIDE {
		t.Fatalf("accounts %+v, %v", views, err)
	}
	reload(t, c, tab)
	if !tab.useIDE.Disabled() || tab.cards[0].kind.Text != "Follows the Kiro IDE (read-only) · me@example.com" || !tab.cards[0].warning.Visible() {
		t.Fatalf("after import: use enabled %v, kind %q, warning %q", !tab.useIDE.Disabled(), tab.cards[0].kind.Text, tab.cards[0].warning.Text)
	}
}

// TestFollowAccounts runs the real feed: a change in the core reaches the
// controller and the views through WatchAccounts, pushed, not polled.
func TestFollowAccounts(t *testing.T) {
	test.NewTempApp(t)
	core := newCore(t, app.Config{})
	addAccounts(t, core, "a", "b")
	c, _, _ := newWinController(t, core)
	v := newWindowContent(c)
	got := make(chan string, 16) // what the tab shows after each change
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.followAccounts(ctx, func() {
			v.showAccounts(c)
			var s []string
			for _, card := range v.accounts.cards {
				s = append(s, card.title.Text+":"+card.state.Text)
			}
			select {
			case got <- v.accounts.ideStatus.Text + " " + strings.Join(s, " ") + " quotas:" + strconv.Itoa(len(v.overview.quotaRows)):
			case <-ctx.Done():
			}
		})
	}()
	defer func() { cancel(); <-done }()

	wait := func(want string) { // until a change shows what starts with want
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case s := <-got:
				if strings.HasPrefix(s, want) {
					return
				}
			case <-timeout:
				t.Fatalf("never showed %q", want)
			}
		}
	}
	wait("Kiro IDE: not signed in.") // the list may predate b: Store.Add tells no one
	if err := core.SetAccountEnabled("b", false); err != nil {
		t.Fatal(err)
	}
	wait("Kiro IDE: not signed in. a:Active b:Disabled quotas:2")
}

// Each card names the account's kind: an API key, kiro-cli's or the
// IDE's login followed read-only, or the sign-in it came from.
func TestAccountsTabShowsKinds(t *testing.T) {
	test.NewTempApp(t)
	c, w, _ := newWinController(t, newCore(t, app.Config{}))
	view := func(m app.AccountMeta) app.AccountView { m.Enabled = true; return app.AccountView{AccountMeta: m} }
	c.accountList = []app.AccountView{
		view(app.AccountMeta{Name: "ci", Kind: app.KindAPIKey, Email: "ci@example.com", Source: app.SourceImport}),
		view(app.AccountMeta{Name: "kiro-cli", Kind: app.KindSocial, Provider: "Github", Source: app.SourceKiroCLI}),
		view(app.AccountMeta{Name: "kiro-ide", Kind: app.KindIdC, Source: app.SourceIDE, Email: "me@example.com"}),
		view(app.AccountMeta{Name: "gh", Kind: app.KindSocial, Provider: "Github", Source: app.SourceSignIn}),
		view(app.AccountMeta{Name: "org", Kind: app.KindIdC, Provider: "Enterprise", Source: app.SourceSignIn}),
		view(app.AccountMeta{Name: "bid", Kind: app.KindBuilderID, Provider: "BuilderId", Source: app.SourceSignIn}),
	}
	tab := newAccountsTab(c)
	w.SetContent(tab.content)
	want := []string{"Kiro API key · ci@example.com", "Follows kiro-cli (read-only)", "Follows the Kiro IDE (read-only) · me@example.com",
		"GitHub", "IAM Identity Center", "AWS Builder ID"}
	for i, card := range tab.cards {
		if card.kind.Text != want[i] {
			t.Errorf("card %s: kind %q, want %q", card.name, card.kind.Text, want[i])
		}
		if card.again != nil {
			t.Errorf("card %s offers a new sign-in while active", card.name)
		}
	}
	markup := test.RenderToMarkup(w.Canvas())
	for _, s := range []string{"Add an account:", "Sign in…", "Paste an API key or token…", "Import a file…", "Follows kiro-cli (read-only)"} {
		if !strings.Contains(markup, s) {
			t.Errorf("tab lacks %q", s)
		}
	}
}

// An account that needs a new sign-in offers one, with its method, its
// organisation and its name filled in; an API key offers to paste a new
// one; an account that follows another program's login offers neither.
func TestSignInAgainPreselects(t *testing.T) {
	test.NewTempApp(t)
	c, w, _ := newWinController(t, newCore(t, app.Config{}))
	needs := func(m app.AccountMeta) app.AccountView {
		m.Enabled, m.State, m.StateReason = true, app.StateNeedsSignIn, "refresh token was rejected"
		return app.AccountView{AccountMeta: m}
	}
	c.accountList = []app.AccountView{
		needs(app.AccountMeta{Name: "home", Kind: app.KindSocial, Provider: "Google"}),
		needs(app.AccountMeta{Name: "gh", Kind: app.KindSocial, Provider: "Github"}),
		needs(app.AccountMeta{Name: "bid", Kind: app.KindBuilderID, Provider: "BuilderId", Region: "us-east-1", StartURL: "https://view.awsapps.com/start"}),
		needs(app.AccountMeta{Name: "org", Kind: app.KindIdC, Provider: "Enterprise", Region: "eu-west-1", StartURL: "https://my-org.awsapps.com/start"}),
		needs(app.AccountMeta{Name: "ci", Kind: app.KindAPIKey}),
		needs(app.AccountMeta{Name: "kiro-ide", Kind: app.KindSocial, Provider: "Google", Source: app.SourceIDE}),
	}
	tab := newAccountsTab(c)
	w.SetContent(tab.content)
	for _, tc := range []struct {
		card                     int
		method, startURL, region string
		idcShown                 bool
	}{
		{0, "Google", "", "", false},
		{1, "GitHub", "", "", false},
		{2, "AWS Builder ID", "", "", false},
		{3, "IAM Identity Center (your organisation)", "https://my-org.awsapps.com/start", "eu-west-1", true},
	} {
		card := tab.cards[tc.card]
		if card.again == nil || card.again.Text != "Sign in again…" || !card.again.Visible() {
			t.Fatalf("%s: no Sign in again…", card.name)
		}
		test.Tap(card.again)
		d := tab.signIn
		got := struct {
			method, startURL, region string
			idcShown                 bool
		}{d.method.Selected, d.startURL.Text, d.region.Text, d.idc.Visible()}
		if got.method != tc.method || got.startURL != tc.startURL || got.region != tc.region || got.idcShown != tc.idcShown {
			t.Errorf("%s: %+v", card.name, got)
		}
		if d.name.Text != card.name || !d.name.Disabled() || d.start.Disabled() {
			t.Errorf("%s: name %q (disabled %v), Sign in enabled %v", card.name, d.name.Text, d.name.Disabled(), !d.start.Disabled())
		}
		if !strings.HasPrefix(d.status.Text, "Sign in again for "+card.name+":") {
			t.Errorf("%s: status %q", card.name, d.status.Text)
		}
		test.Tap(d.cancel)
	}
	key := tab.cards[4]
	if key.again == nil || key.again.Text != "Paste a new key…" {
		t.Fatal("an API key that needs replacing offers no Paste a new key…")
	}
	test.Tap(key.again)
	if d := tab.importing; d == nil || d.name.Text != "ci" || !strings.Contains(texts(top(t, w)), "Add an API key or token") {
		t.Fatal("Paste a new key… did not open the paste dialog for ci")
	}
	test.Tap(tab.importing.cancel)
	if tab.cards[5].again != nil {
		t.Error("an IDE follower offers a sign-in of kirotray's own")
	}
}

// Sign in again, end to end: the account of that name gets the new login
// and stays one account, in service again.
func TestSignInAgainKeepsTheAccount(t *testing.T) {
	test.NewTempApp(t)
	var d *signInDialog
	var fake *kirofake.Server
	sleep := func(ctx context.Context, _ time.Duration) error {
		fake.ApproveDevice(d.code.Text)
		return ctx.Err()
	}
	core, fake, _, _ := signInCore(t, sleep)
	s, err := core.Store()
	if err != nil {
		t.Fatal(err)
	}
	addAccounts(t, core, "first")
	res, err := s.Add(app.AccountMeta{Name: "work", Kind: app.KindBuilderID, Provider: "BuilderId", Region: "us-east-1", ClientID: "old-client"},
		app.Secrets{RefreshToken: "aor-old", ClientSecret: "old-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(sd *app.StoreData) error {
		a := sd.Account("work")
		a.State, a.StateReason = app.StateNeedsSignIn, "refresh token was rejected"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c, w, _ := newWinController(t, core)
	tab := newAccountsTab(c)
	w.SetContent(tab.content)
	reload(t, c, tab)
	card := tab.cards[1]
	if card.name != "work" || card.state.Text != "Needs a new sign-in" || card.again == nil {
		t.Fatalf("card %s %q", card.name, card.state.Text)
	}
	test.Tap(card.again)
	d = tab.signIn
	test.Tap(d.start) // inline: done
	if !strings.HasPrefix(d.status.Text, "Signed in as ") {
		t.Fatalf("status %q", d.status.Text)
	}
	views, err := core.Accounts()
	if err != nil || len(views) != 2 || views[1].Name != "work" || views[1].ID != res.Meta.ID || views[1].State != "" || views[1].ClientID == "old-client" {
		t.Fatalf("accounts %+v, %v", views, err)
	}
	reload(t, c, tab)
	if tab.cards[1].again != nil || tab.cards[1].state.Text != "Active" {
		t.Fatalf("after: %q, again offered %v", tab.cards[1].state.Text, tab.cards[1].again != nil)
	}
}
