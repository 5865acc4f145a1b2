package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy/kirofake"
)

// fakeClock is kirofake's clock, moved on by the device flow's sleeps so
// that polls are never too fast.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// signInCore is a core whose sign-ins go to a simulated Kiro and AWS
// SSO-OIDC; sleep stands in for the device flow's waits between polls.
func signInCore(t *testing.T, sleep func(ctx context.Context, d time.Duration) error) (*app.App, *kirofake.Server, *fakeClock, *[]string) {
	t.Helper()
	clk := &fakeClock{t: time.Now()}
	fake := kirofake.New(kirofake.Config{Now: clk.Now})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	var opened []string
	core := newCore(t, app.Config{SignIn: app.SignInOptions{
		OIDC: srv.URL, KiroAPI: srv.URL, KiroAuth: srv.URL, Portal: srv.URL,
		Open:  func(u string) error { opened = append(opened, u); return nil },
		Sleep: sleep,
	}})
	return core, fake, clk, &opened
}

func TestSignInDialogBuilderID(t *testing.T) {
	a := test.NewTempApp(t)
	var d *signInDialog
	var fake *kirofake.Server
	var clk *fakeClock
	polls := 0
	var whilePolling struct {
		code, status, link string
		bar, prompt        bool
	}
	// The person approves the code the dialog shows, during the first wait.
	sleep := func(ctx context.Context, wait time.Duration) error {
		polls++
		if polls == 1 {
			whilePolling.code, whilePolling.status, whilePolling.link = d.code.Text, d.status.Text, d.link.Text
			whilePolling.bar, whilePolling.prompt = len(d.busy.Objects) == 1 && d.bar != nil, d.prompt.Visible()
			if _, ok := fake.ApproveDevice(d.code.Text); !ok {
				t.Error("the code shown is not the one kirofake issued")
			}
		}
		clk.advance(wait)
		return ctx.Err()
	}
	core, fake, clk, opened := signInCore(t, sleep)
	c, w, _ := newWinController(t, core)
	tab := newAccountsTab(c)
	w.SetContent(tab.content)

	test.Tap(tab.signInBtn)
	d = tab.signIn
	dlg := top(t, w)
	if s := texts(dlg); !strings.Contains(s, "Sign in to Kiro") || !strings.Contains(s, "the Kiro IDE stays signed in") {
		t.Fatalf("dialog: %q", s)
	}
	if !d.start.Disabled() || len(d.busy.Objects) != 0 {
		t.Fatal("Sign in is enabled before a method is chosen, or the bar shows at rest")
	}
	d.method.SetSelected("AWS Builder ID")
	d.name.SetText(" mine ")
	if d.idc.Visible() {
		t.Error("the IAM Identity Center fields show for Builder ID")
	}
	test.Tap(d.start) // the controller runs SignIn inline: it has finished now

	if whilePolling.code == "" || !whilePolling.bar || !whilePolling.prompt {
		t.Fatalf("while waiting: %+v", whilePolling)
	}
	if !strings.Contains(whilePolling.link, whilePolling.code) || !strings.HasPrefix(whilePolling.status, "Your browser shows the sign-in page") {
		t.Fatalf("while waiting: %+v", whilePolling)
	}
	if len(*opened) != 1 || (*opened)[0] != whilePolling.link {
		t.Fatalf("opened %q, link %q", *opened, whilePolling.link)
	}
	if !strings.HasPrefix(d.status.Text, "Signed in as ") || d.cancel.Text != "Close" || d.start.Visible() {
		t.Fatalf("after: status %q, cancel %q, start shown %v", d.status.Text, d.cancel.Text, d.start.Visible())
	}
	if len(d.busy.Objects) != 0 || d.bar != nil {
		t.Fatal("the progress bar still runs after the sign-in")
	}
	views, err := core.Accounts()
	if err != nil || len(views) != 1 || views[0].Name != "mine" || views[0].Kind != app.KindBuilderID || views[0].Source != app.SourceSignIn {
		t.Fatalf("accounts %+v, %v", views, err)
	}

	test.Tap(d.copyLink)
	if got := a.Clipboard().Content(); got != whilePolling.link {
		t.Errorf("clipboard %q", got)
	}
	test.Tap(d.cancel)
	if o := w.Canvas().Overlays().Top(); o != nil && o.Visible() {
		t.Error("Close left the dialog up")
	}
}

// TestSignInDialogCancel runs the sign-in in a goroutine, as the app
// does: the code from the Prompt shows, and Cancel cancels the ctx.
func TestSignInDialogCancel(t *testing.T) {
	test.NewTempApp(t)
	polling := make(chan struct{}, 1)
	sleep := func(ctx context.Context, _ time.Duration) error {
		select {
		case polling <- struct{}{}:
		default:
		}
		<-ctx.Done() // the person never approves
		return ctx.Err()
	}
	core, _, _, _ := signInCore(t, sleep)
	c, w, _ := newWinController(t, core)
	done := make(chan struct{})
	c.background = func(f func()) { go func() { defer close(done); f() }() }
	tab := newAccountsTab(c)
	w.SetContent(tab.content)

	tab.showSignIn()
	d := tab.signIn
	d.method.SetSelected("AWS Builder ID")
	d.remote.SetChecked(true)
	test.Tap(d.start)
	select {
	case <-polling: // the prompt was shown before the first wait
	case <-time.After(10 * time.Second):
		t.Fatal("the sign-in never got to wait for the person")
	}
	if d.code.Text == "" || !d.prompt.Visible() || d.bar == nil || !d.bar.Running() || d.choose.Visible() {
		t.Fatalf("waiting: code %q, prompt %v, bar %v, choose %v", d.code.Text, d.prompt.Visible(), d.bar != nil, d.choose.Visible())
	}
	if !strings.HasPrefix(d.status.Text, "Open the link on any device") {
		t.Fatalf("remote status %q", d.status.Text)
	}
	if d.openAgain.Disabled() == false {
		t.Error("Open again offers a page on a host that is not Kiro's or AWS's")
	}

	test.Tap(d.cancel)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Cancel did not end the sign-in")
	}
	if d.run != nil || len(d.busy.Objects) != 0 {
		t.Fatal("still running after Cancel")
	}
	if o := w.Canvas().Overlays().Top(); o != nil && o.Visible() {
		t.Error("Cancel left the dialog up")
	}
	if got := accountNames(t, core); got != "" {
		t.Fatalf("accounts after Cancel: %q", got)
	}
}

func TestSignInDialogFailsInWords(t *testing.T) {
	test.NewTempApp(t)
	var d *signInDialog
	var fake *kirofake.Server
	sleep := func(ctx context.Context, _ time.Duration) error {
		fake.DenyDevice(d.code.Text)
		return ctx.Err()
	}
	core, fake, _, _ := signInCore(t, sleep)
	c, w, _ := newWinController(t, core)
	tab := newAccountsTab(c)
	w.SetContent(tab.content)
	tab.showSignIn()
	d = tab.signIn

	// IAM Identity Center needs a start URL.
	d.method.SetSelected("IAM Identity Center (your organisation)")
	if !d.idc.Visible() {
		t.Fatal("no start URL field for IAM Identity Center")
	}
	test.Tap(d.start)
	if d.run != nil || !strings.HasPrefix(d.status.Text, "Enter your organisation's start URL") {
		t.Fatalf("status %q", d.status.Text)
	}

	d.method.SetSelected("AWS Builder ID")
	test.Tap(d.start)
	// The upstream's access_denied reaches the person as a sentence.
	if d.status.Text != "Sign-in failed: The sign-in was declined in the browser." {
		t.Fatalf("status %q", d.status.Text)
	}
	if !d.choose.Visible() || d.start.Text != "Try again" || !d.start.Visible() || len(d.busy.Objects) != 0 {
		t.Fatalf("after a failure: choose %v, start %q", d.choose.Visible(), d.start.Text)
	}
}

// TestOpenSignInFromTheTray: the tray's Sign in… shows the window on the
// Accounts tab with the dialog open; the Overview's button does the same.
func TestOpenSignInFromTheTray(t *testing.T) {
	test.NewTempApp(t)
	c, w, _ := newWinController(t, newCore(t, app.Config{}))
	shown := 0
	c.show = func() { shown++ }
	v := newWindowContent(c)
	w.SetContent(v.tabs)
	c.openSignIn = func() { v.openSignIn(c) }

	c.actions().signIn()
	if shown != 1 || v.tabs.Selected().Content != v.accounts.content {
		t.Fatalf("shown %d, tab %q", shown, v.tabs.Selected().Text)
	}
	if s := texts(top(t, w)); !strings.Contains(s, "Sign in to Kiro") {
		t.Fatalf("dialog %q", s)
	}
	v.accounts.signIn.dlg.Hide()

	v.tabs.SelectIndex(0)
	c.accountList = []app.AccountView{}
	v.overview.applyAccounts(c.accountList)
	test.Tap(v.overview.demoSignIn)
	if shown != 2 || v.tabs.Selected().Content != v.accounts.content {
		t.Fatalf("Overview's Sign in…: shown %d, tab %q", shown, v.tabs.Selected().Text)
	}
}

func TestErrorWords(t *testing.T) {
	kc := &app.KeychainError{Err: errors.New("dbus: no session bus")}
	if got := errorWords(fmt.Errorf("save: %w", kc)); !strings.HasPrefix(got, "kirotray keeps Kiro tokens in the system keychain") {
		t.Errorf("keychain: %q", got)
	}
	if got := errorWords(errors.New("the Kiro IDE is not signed in")); got != "the Kiro IDE is not signed in" {
		t.Errorf("plain: %q", got)
	}
	if got := errorWords(fmt.Errorf("x: %w", app.ErrSignInDenied)); got != "The sign-in was declined in the browser." {
		t.Errorf("denied: %q", got)
	}
	if got := errorWords(fmt.Errorf("x: %w", app.ErrSignInExpired)); !strings.HasPrefix(got, "The sign-in code expired") {
		t.Errorf("expired: %q", got)
	}
}
