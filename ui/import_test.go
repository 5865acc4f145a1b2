package ui

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// keyCore is a core whose Kiro API is a simulated Kiro that waits for
// release before it answers (nil: answers at once).
func keyCore(t *testing.T, release chan struct{}) (*app.App, *kirofake.Server) {
	t.Helper()
	fake := kirofake.New(kirofake.Config{LaxHeaders: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if release != nil {
			<-release
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return newCore(t, app.Config{KiroAPI: srv.URL}), fake
}

// noKey fails when key shows anywhere on w's canvas: in a label, a
// button, or the rendered markup.
func noKey(t *testing.T, w fyne.Window, key string) {
	t.Helper()
	for _, o := range append([]fyne.CanvasObject{w.Content()}, w.Canvas().Overlays().List()...) {
		if strings.Contains(texts(o), key) {
			t.Fatalf("the key shows in a label: %q", texts(o))
		}
	}
	if strings.Contains(test.RenderToMarkup(w.Canvas()), key) {
		t.Fatal("the key shows on the canvas")
	}
}

// TestPasteDialogImportsAKey pastes a key into the dialog and imports it
// through the real core, checked against kirofake: the bar moves only
// while the import runs, and the key is never shown.
func TestPasteDialogImportsAKey(t *testing.T) {
	a := test.NewTempApp(t)
	release := make(chan struct{})
	core, fake := keyCore(t, release)
	key := fake.AddAPIKeyAccount("headless")
	c, w, _ := newWinController(t, core)
	done := make(chan struct{})
	c.background = func(f func()) { go func() { defer close(done); f() }() }
	tab := newAccountsTab(c)
	w.SetContent(tab.content)

	test.Tap(tab.pasteBtn)
	d := tab.importing
	if s := texts(top(t, w)); !strings.Contains(s, "Add an API key or token") || !strings.Contains(s, "checks an API key with Kiro") {
		t.Fatalf("dialog: %q", s)
	}
	if !d.text.Password || !d.text.MultiLine || !d.start.Disabled() || len(d.busy.Objects) != 0 {
		t.Fatalf("at rest: password %v, multi-line %v, Import enabled %v, bar %d", d.text.Password, d.text.MultiLine, !d.start.Disabled(), len(d.busy.Objects))
	}
	a.Clipboard().SetContent(key)
	d.text.TypedShortcut(&fyne.ShortcutPaste{Clipboard: a.Clipboard()})
	a.Clipboard().SetContent("")
	d.name.SetText("ci")
	if d.text.Text != key || d.start.Disabled() {
		t.Fatalf("after pasting: Import enabled %v", !d.start.Disabled())
	}
	noKey(t, w, key)

	test.Tap(d.start) // the import now waits for kirofake
	if d.bar == nil || !d.bar.Running() || len(d.busy.Objects) != 1 || !d.text.Disabled() || !d.start.Disabled() {
		t.Fatalf("while importing: bar %v, text disabled %v", d.bar != nil, d.text.Disabled())
	}
	noKey(t, w, key)
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the import never finished")
	}
	if d.bar != nil || len(d.busy.Objects) != 0 || d.run != nil {
		t.Fatal("the bar still runs after the import")
	}
	if d.status.Text != "Added 1 account: ci." || d.cancel.Text != "Close" || d.text.Text != "" || !d.start.Disabled() {
		t.Fatalf("after: status %q, cancel %q, text cleared %v", d.status.Text, d.cancel.Text, d.text.Text == "")
	}
	noKey(t, w, key)
	views, err := core.Accounts()
	if err != nil || len(views) != 1 || views[0].Name != "ci" || views[0].Kind != app.KindAPIKey || views[0].Email != "headless@example.com" {
		t.Fatalf("accounts %+v, %v", views, err)
	}
	reload(t, c, tab)
	if got := tab.cards[0].kind.Text; got != "Kiro API key · headless@example.com" {
		t.Fatalf("kind %q", got)
	}
	test.Tap(d.cancel)
	if o := w.Canvas().Overlays().Top(); o != nil && o.Visible() {
		t.Error("Close left the dialog up")
	}
}

// A key Kiro refuses is not stored; the dialog says why, masked.
func TestPasteDialogRefusedKey(t *testing.T) {
	test.NewTempApp(t)
	core, fake := keyCore(t, nil)
	key := fake.AddAPIKeyAccount("gone")
	fake.RevokeAPIKeys("gone")
	c, w, _ := newWinController(t, core)
	tab := newAccountsTab(c)
	w.SetContent(tab.content)

	tab.showPaste("")
	d := tab.importing
	d.text.SetText(key)
	test.Tap(d.start) // inline: finished now
	want := "Skipped 1:\n• key 1: Kiro rejected the API key " + app.MaskAPIKey(redact.Secret(key))
	if !strings.HasPrefix(d.status.Text, want) || d.bar != nil || d.start.Disabled() || d.cancel.Text != "Cancel" {
		t.Fatalf("status %q, want %q; Import enabled %v", d.status.Text, want, !d.start.Disabled())
	}
	noKey(t, w, key)
	if got := accountNames(t, core); got != "" {
		t.Fatalf("stored %q", got)
	}

	// What is not a key, token or account file fails in words.
	d.text.SetText("hello there")
	test.Tap(d.start)
	if !strings.HasPrefix(d.status.Text, "Import failed: not JSON and not a refresh token") {
		t.Fatalf("status %q", d.status.Text)
	}
}

// A file is read and imported at once; the dialog shows the summary.
func TestImportAFile(t *testing.T) {
	test.NewTempApp(t)
	core, _ := keyCore(t, nil)
	c, w, _ := newWinController(t, core)
	tab := newAccountsTab(c)
	w.SetContent(tab.content)

	test.Tap(tab.fileBtn)
	if top(t, w) == nil {
		t.Fatal("no file dialog")
	}
	w.Canvas().Overlays().Top().Hide()

	dir := t.TempDir()
	rt := "aorFILE" + strings.Repeat("f", 80)
	path := filepath.Join(dir, "kiro.json")
	body := `[{"name":"one","auth":"Social","refreshToken":"` + rt + `"},{"name":"two","auth":"Social","refreshToken":"` + rt + `2"},{"auth":"Social"}]`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := storage.Reader(storage.NewFileURI(path))
	if err != nil {
		t.Fatal(err)
	}
	tab.onFileChosen(r, nil)
	d := tab.importing
	s := texts(top(t, w))
	for _, want := range []string{"Import a file", "Accounts from kiro.json:", "Added 2 accounts: one, two.", "Skipped 1:", "• entry 3: no refresh token",
		"Use each login in one place only."} {
		if !strings.Contains(s, want) {
			t.Errorf("dialog lacks %q: %q", want, s)
		}
	}
	if d.text.Visible() || d.start.Visible() || d.bar != nil {
		t.Error("a file's dialog shows the paste entry, Try again, or a bar after the import")
	}
	noKey(t, w, rt)
	if got := accountNames(t, core); got != "one two" {
		t.Fatalf("accounts %q", got)
	}
	test.Tap(d.cancel)

	// A file too large to be an account file is not read through.
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, app.MaxImportText+10), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = storage.Reader(storage.NewFileURI(big))
	if err != nil {
		t.Fatal(err)
	}
	tab.onFileChosen(r, nil)
	if !tab.problem.Visible() || tab.problem.Text != "big.json is larger than 1 MiB: it is not a file of Kiro accounts." {
		t.Fatalf("problem %q", tab.problem.Text)
	}
	tab.onFileChosen(nil, nil) // cancelled: nothing happens
}

// kiro-cli's row shows only when kiro-cli is installed; its button
// explains the read-only follower before adding it.
func TestAccountsTabUsesKiroCLI(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("kiro-cli keeps no login kirotray reads on Windows")
	}
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("no sqlite3 program")
	}
	test.NewTempApp(t)
	t.Setenv("XDG_DATA_HOME", "")
	home := t.TempDir()
	core := newCore(t, app.Config{IDE: app.IDEOptions{Home: home, ConfigDir: t.TempDir(), NoProcessCheck: true}})
	c, w, _ := newWinController(t, core)
	tab := newAccountsTab(c)
	w.SetContent(tab.content)
	test.Tap(tab.checkIDE)
	if tab.cliRow.Visible() {
		t.Fatal("the kiro-cli row shows without kiro-cli")
	}

	db := app.KiroCLIPath(home)
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	tok := `{"access_token":"aoaCLI","refresh_token":"aorCLI","expires_at":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano) + `","provider":"Github"}`
	sql := `CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT); CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO auth_kv VALUES ('kirocli:social:token', '` + tok + `');`
	if out, err := exec.Command(bin, db, sql).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	test.Tap(tab.checkIDE)
	if !tab.cliRow.Visible() || tab.cliStatus.Text != "kiro-cli: signed in with Github." || tab.useCLI.Disabled() {
		t.Fatalf("row shown %v, status %q, use enabled %v", tab.cliRow.Visible(), tab.cliStatus.Text, !tab.useCLI.Disabled())
	}
	test.Tap(tab.useCLI)
	d := top(t, w)
	s := texts(d)
	for _, want := range []string{"kiro-cli stays signed in", "never writes it", "until you run kiro-cli again", "use Sign in… instead"} {
		if !strings.Contains(s, want) {
			t.Errorf("the explanation lacks %q: %q", want, s)
		}
	}
	if got := accountNames(t, core); got != "" {
		t.Fatalf("added before confirming: %q", got)
	}
	test.Tap(button(t, d, "Use kiro-cli's login"))
	reload(t, c, tab)
	if len(tab.cards) != 1 || tab.cards[0].title.Text != "kiro-cli" || tab.cards[0].kind.Text != "Follows kiro-cli (read-only)" || !tab.useCLI.Disabled() {
		t.Fatalf("after: %d cards, use enabled %v", len(tab.cards), !tab.useCLI.Disabled())
	}
	if tab.problem.Visible() {
		t.Fatalf("problem %q", tab.problem.Text)
	}
}

func TestCLIText(t *testing.T) {
	for _, tc := range []struct {
		l    app.KiroCLILogin
		want string
	}{
		{app.KiroCLILogin{Found: true, SignedIn: true}, "kiro-cli: signed in."},
		{app.KiroCLILogin{Found: true, SignedIn: true, Provider: "Google"}, "kiro-cli: signed in with Google."},
		{app.KiroCLILogin{Found: true, NoSQLite3: true}, "kiro-cli: found; install the sqlite3 program to use its login."},
		{app.KiroCLILogin{Found: true, Detail: "found, not signed in"}, "kiro-cli: its login cannot be used (found, not signed in)."},
	} {
		if got := cliText(tc.l); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.l, got, tc.want)
		}
	}
}
