package ui

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
)

// signInMethod is one choice in the sign-in dialog.
type signInMethod struct {
	label  string
	method string // app.SignIn…
	idc    bool   // IAM Identity Center: asks for a start URL and region
}

func signInMethods() []signInMethod {
	return []signInMethod{
		{label: tr("Google"), method: app.SignInGoogle},
		{label: tr("GitHub"), method: app.SignInGitHub},
		{label: tr("AWS Builder ID"), method: app.SignInBuilder},
		{label: tr("IAM Identity Center (your organisation)"), method: app.SignInBuilder, idc: true},
	}
}

// signInDialog runs one of kirotray's own sign-ins: the person picks a
// method, the core's Prompt fills in the link and code, an infinite bar
// moves while (and only while) the sign-in runs, and Cancel or closing
// the dialog cancels it.
type signInDialog struct {
	c       *controller
	methods []signInMethod

	method   *widget.RadioGroup
	startURL *widget.Entry
	region   *widget.Entry
	idc      *fyne.Container // startURL and region; IAM Identity Center only
	remote   *widget.Check
	name     *widget.Entry   // the account's name; empty: from the e-mail
	choose   *fyne.Container // method, idc, remote: hidden while a sign-in runs

	status    *widget.Label
	link      *widget.Label
	codeHint  *widget.Label
	code      *widget.Label
	copyLink  *widget.Button
	openAgain *widget.Button
	prompt    *fyne.Container // link and code: shown once the core has them
	busy      *fyne.Container // holds bar while a sign-in runs, nothing otherwise
	bar       *widget.ProgressBarInfinite

	start  *widget.Button
	cancel *widget.Button
	dlg    *dialog.CustomDialog

	// UI goroutine only.
	run    *signInRun // the sign-in in progress; nil when none runs
	url    string     // the page of the last prompt
	signed bool       // the last sign-in succeeded
}

// signInRun is one sign-in; a finish or prompt from an older run is ignored.
type signInRun struct{ cancel context.CancelFunc }

func newSignInDialog(c *controller) *signInDialog {
	d := &signInDialog{c: c, methods: signInMethods()}
	var labels []string
	for _, m := range d.methods {
		labels = append(labels, m.label)
	}
	d.method = widget.NewRadioGroup(labels, d.onMethod)
	d.method.Required = true
	d.startURL = &widget.Entry{PlaceHolder: "https://my-org.awsapps.com/start"}
	d.region = &widget.Entry{PlaceHolder: "us-east-1"}
	d.idc = container.New(layout.NewFormLayout(),
		widget.NewLabel(tr("Start URL")), d.startURL,
		widget.NewLabel(tr("Region")), d.region)
	d.idc.Hide()
	d.name = &widget.Entry{PlaceHolder: tr("Account name (optional: the e-mail is used)")}
	d.remote = widget.NewCheck(tr("Finish on another device (show a link and code instead of opening a browser here)"), nil)
	d.choose = container.NewVBox(
		&widget.Label{Text: tr("kirotray signs in with its own login: the Kiro IDE stays signed in. Choose how you sign in to Kiro:"), Wrapping: fyne.TextWrapWord},
		d.method, d.idc, d.name, d.remote)

	d.status = &widget.Label{Wrapping: fyne.TextWrapWord}
	d.link = &widget.Label{Selectable: true, Wrapping: fyne.TextWrapBreak, TextStyle: fyne.TextStyle{Monospace: true}}
	d.codeHint = widget.NewLabel(tr("Check that the page shows this code:"))
	d.code = &widget.Label{TextStyle: fyne.TextStyle{Monospace: true}, SizeName: theme.SizeNameHeadingText, Selectable: true}
	d.copyLink = &widget.Button{Text: tr("Copy link"), Icon: theme.ContentCopyIcon(), OnTapped: d.onCopyLink}
	d.openAgain = &widget.Button{Text: tr("Open again"), Icon: theme.ComputerIcon(), OnTapped: d.onOpenAgain}
	d.prompt = container.NewVBox(d.link, container.NewHBox(d.copyLink, d.openAgain), container.NewHBox(d.codeHint, d.code))
	d.prompt.Hide()
	d.busy = container.NewVBox()

	d.start = &widget.Button{Text: tr("Sign in"), Icon: theme.LoginIcon(), Importance: widget.HighImportance, OnTapped: d.onStart}
	d.start.Disable()
	d.cancel = &widget.Button{Text: tr("Cancel"), OnTapped: func() { d.dlg.Hide() }}
	content := container.NewVBox(d.choose, d.prompt, d.busy, d.status,
		container.NewHBox(layout.NewSpacer(), d.cancel, d.start))
	d.dlg = dialog.NewCustomWithoutButtons(tr("Sign in to Kiro"), content, c.win)
	d.dlg.SetOnClosed(d.closed)
	return d
}

func (d *signInDialog) show() {
	d.dlg.Resize(fyne.NewSize(560, 0))
	d.dlg.Show()
}

func (d *signInDialog) chosen() (signInMethod, bool) {
	for _, m := range d.methods {
		if m.label == d.method.Selected {
			return m, true
		}
	}
	return signInMethod{}, false
}

func (d *signInDialog) onMethod(string) {
	m, ok := d.chosen()
	if ok && m.idc {
		d.idc.Show()
	} else {
		d.idc.Hide()
	}
	if ok {
		d.start.Enable()
	} else {
		d.start.Disable()
	}
}

// again fills the dialog to sign account m in again: the method from its
// provider (Google, GitHub, Builder ID, or Identity Center with its start
// URL and region) and its name, which is kept: the store gives the new
// login to the account of that name, in its place and with its settings.
func (d *signInDialog) again(m app.AccountMeta) {
	label := ""
	switch {
	case m.Kind == app.KindIdC || strings.EqualFold(m.Provider, "Enterprise"):
		label = tr("IAM Identity Center (your organisation)")
		d.startURL.SetText(m.StartURL)
		d.region.SetText(m.Region)
	case m.Kind == app.KindBuilderID || strings.EqualFold(m.Provider, "BuilderId"):
		label = tr("AWS Builder ID")
	case strings.EqualFold(m.Provider, "Github"):
		label = tr("GitHub")
	case strings.EqualFold(m.Provider, "Google"):
		label = tr("Google")
	}
	if label != "" {
		d.method.SetSelected(label)
	}
	d.name.SetText(m.Name)
	d.name.Disable()
	d.status.SetText(fmt.Sprintf(tr("Sign in again for %s: it gets the new login and keeps its place in the list."), m.Name))
}

// onStart runs the chosen sign-in in the background.
func (d *signInDialog) onStart() {
	m, ok := d.chosen()
	if !ok || d.run != nil {
		return
	}
	req := app.SignInRequest{Method: m.method, Remote: d.remote.Checked, Name: strings.TrimSpace(d.name.Text)}
	if m.idc {
		req.StartURL = strings.TrimSpace(d.startURL.Text)
		req.Region = strings.TrimSpace(d.region.Text)
		if req.StartURL == "" {
			d.status.SetText(tr("Enter your organisation's start URL, like https://my-org.awsapps.com/start."))
			return
		}
	}
	ctx, cancel := context.WithCancel(d.c.ctx)
	run := &signInRun{cancel: cancel}
	d.run, d.signed, d.url = run, false, ""
	req.Prompt = func(p app.SignInPrompt) { fyne.Do(func() { d.showPrompt(run, p) }) }

	d.choose.Hide()
	d.prompt.Hide()
	d.start.Hide()
	d.cancel.SetText(tr("Cancel"))
	d.status.SetText(tr("Starting the sign-in…"))
	d.bar = widget.NewProgressBarInfinite() // animates from here until finish
	d.busy.Objects = []fyne.CanvasObject{d.bar}
	d.busy.Refresh()

	core := d.c.core
	d.c.background(func() {
		meta, err := core.SignIn(ctx, req)
		cancel()
		fyne.Do(func() { d.finish(run, meta, err) })
	})
}

// showPrompt shows the link and code the core asks the person to use.
func (d *signInDialog) showPrompt(run *signInRun, p app.SignInPrompt) {
	if d.run != run {
		return
	}
	d.url = p.URL
	d.link.SetText(p.URL)
	if p.UserCode != "" {
		d.code.SetText(p.UserCode)
		d.codeHint.Show()
		d.code.Show()
	} else {
		d.codeHint.Hide()
		d.code.Hide()
	}
	switch {
	case p.Opened:
		d.status.SetText(tr("Your browser shows the sign-in page. Finish there; this dialog follows by itself."))
	case p.OpenErr != nil:
		d.status.SetText(fmt.Sprintf(tr("The browser could not be opened (%s). Open the link yourself."), p.OpenErr))
	default:
		d.status.SetText(tr("Open the link on any device and sign in there; this dialog follows by itself."))
	}
	// Open again only what the core opened, or a page on a known sign-in host.
	if p.Opened || app.CheckSignInURL(p.URL) == nil {
		d.openAgain.Enable()
	} else {
		d.openAgain.Disable()
	}
	d.prompt.Show()
}

// finish shows how the sign-in ended.
func (d *signInDialog) finish(run *signInRun, meta app.AccountMeta, err error) {
	if d.run != run {
		return // cancelled: the dialog is gone
	}
	d.run = nil
	d.stopBar()
	d.prompt.Hide()
	if err != nil {
		d.status.SetText(fmt.Sprintf(tr("Sign-in failed: %s"), errorWords(err)))
		d.choose.Show()
		d.start.SetText(tr("Try again"))
		d.start.Show()
		d.cancel.SetText(tr("Close"))
		return
	}
	d.signed = true
	who := meta.Email
	if who == "" {
		who = meta.Name
	}
	d.status.SetText(fmt.Sprintf(tr("Signed in as %s. kirotray can use this account now."), who))
	d.cancel.SetText(tr("Close"))
}

// closed runs when the dialog goes away: a sign-in still running is
// cancelled.
func (d *signInDialog) closed() {
	run := d.run
	if run == nil {
		return
	}
	d.run = nil
	d.stopBar()
	run.cancel() // after the widgets: the sign-in's goroutine may finish at once
}

func (d *signInDialog) stopBar() {
	if d.bar != nil {
		d.bar.Stop()
		d.bar = nil
	}
	d.busy.Objects = nil
	d.busy.Refresh()
}

func (d *signInDialog) onCopyLink() {
	if d.url != "" {
		d.c.clip(d.url)
	}
}

func (d *signInDialog) onOpenAgain() {
	u, err := url.Parse(d.url)
	if err != nil || d.url == "" {
		return
	}
	if err := fyne.CurrentApp().OpenURL(u); err != nil {
		d.status.SetText(fmt.Sprintf(tr("The browser could not be opened (%s). Open the link yourself."), err))
	}
}

// errorWords is a core error's reason for people: the core's own
// sentence, or ours where its text is written for the command line.
func errorWords(err error) string {
	var kc *app.KeychainError
	if errors.As(err, &kc) {
		return tr("kirotray keeps Kiro tokens in the system keychain, and it is not available. Start or unlock your keyring (GNOME Keyring, KWallet, KeePassXC) and try again.")
	}
	switch {
	case errors.Is(err, app.ErrSignInDenied):
		return tr("The sign-in was declined in the browser.")
	case errors.Is(err, app.ErrSignInExpired):
		return tr("The sign-in code expired before it was approved. Start again.")
	}
	return err.Error()
}

// showSignIn opens the sign-in dialog over the window.
func (t *accountsTab) showSignIn() {
	if t.signIn != nil && t.signIn.run != nil {
		t.signIn.show() // one sign-in at a time: bring the running one back
		return
	}
	t.signIn = newSignInDialog(t.c)
	t.signIn.show()
}

// showSignInAgain opens the sign-in dialog set up to sign account m in
// again.
func (t *accountsTab) showSignInAgain(m app.AccountMeta) {
	if t.signIn != nil && t.signIn.run != nil {
		t.signIn.show() // one sign-in at a time: bring the running one back
		return
	}
	t.signIn = newSignInDialog(t.c)
	t.signIn.again(m)
	t.signIn.show()
}

// openSignIn shows the window on the Accounts tab with the sign-in
// dialog open (the tray's and the Overview's Sign in…).
func (w *window) openSignIn(c *controller) {
	c.show()
	w.selectTab(w.accounts.content)
	w.accounts.showSignIn()
}

// configure shows the window on the Overview and starts configuring a
// coding CLI (the tray's Configure Claude Code…).
func (w *window) configure(c *controller, client string) {
	c.show()
	w.selectTab(w.overview.content)
	w.overview.configure(client)
}

func (w *window) selectTab(content fyne.CanvasObject) {
	for _, it := range w.tabs.Items {
		if it.Content == content {
			w.tabs.Select(it)
			return
		}
	}
}
