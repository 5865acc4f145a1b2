package ui

import (
	"context"
	"fmt"
	"io"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
)

// importDialog adds the accounts in what a person pastes (a Kiro API key,
// a refresh token, another Kiro tool's accounts) or in a file they picked.
// The pasted text sits in a concealed entry and is never shown in a label;
// the core checks API keys with Kiro, and an infinite bar moves while (and
// only while) the import runs. Closing the dialog cancels it.
type importDialog struct {
	c *controller

	intro  *widget.Label
	text   *widget.Entry // concealed; hidden for a file
	file   string        // the picked file's name; "" when pasting
	data   string        // the picked file's content
	name   *widget.Entry
	status *widget.Label
	busy   *fyne.Container // holds bar while an import runs, nothing otherwise
	bar    *widget.ProgressBarInfinite

	start  *widget.Button
	cancel *widget.Button
	dlg    *dialog.CustomDialog

	// UI goroutine only.
	run *importRun // the import in progress; nil when none runs
}

// importRun is one import; a finish from an older run is ignored.
type importRun struct{ cancel context.CancelFunc }

// newPasteDialog asks for a key, token or accounts to paste. name, when
// set, is the account that should get them (a new key for it).
func newPasteDialog(c *controller, name string) *importDialog {
	d := newImportDialog(c, tr("Add an API key or token"))
	d.intro.SetText(tr("Paste a Kiro API key (ksk_…), a refresh token, or the accounts of another Kiro tool (kiro2api, kiro.rs, Kiro Account Manager). kirotray checks an API key with Kiro before adding it."))
	d.name.SetText(name)
	return d
}

// newFileImportDialog imports the accounts in a picked file at once.
func newFileImportDialog(c *controller, file, data string) *importDialog {
	d := newImportDialog(c, tr("Import a file"))
	d.file, d.data = file, data
	d.intro.SetText(fmt.Sprintf(tr("Accounts from %s:"), file))
	d.text.Hide()
	d.name.Hide()
	d.start.SetText(tr("Try again"))
	d.start.Hide() // it starts at once; shown after a failure
	return d
}

func newImportDialog(c *controller, title string) *importDialog {
	d := &importDialog{c: c}
	d.intro = &widget.Label{Wrapping: fyne.TextWrapWord}
	d.text = &widget.Entry{MultiLine: true, Password: true, Wrapping: fyne.TextWrapBreak,
		PlaceHolder: tr("ksk_…, a refresh token, or JSON"), OnChanged: d.onText}
	d.text.SetMinRowsVisible(3)
	d.name = &widget.Entry{PlaceHolder: tr("Account name (optional)")}
	d.status = &widget.Label{Wrapping: fyne.TextWrapWord}
	d.busy = container.NewVBox()
	d.start = &widget.Button{Text: tr("Import"), Importance: widget.HighImportance, OnTapped: d.onImport}
	d.start.Disable()
	d.cancel = &widget.Button{Text: tr("Cancel"), OnTapped: func() { d.dlg.Hide() }}
	// A long summary scrolls instead of growing the dialog past the window.
	status := container.NewVScroll(d.status)
	status.SetMinSize(fyne.NewSize(0, 110))
	content := container.NewVBox(d.intro, d.text, d.name, d.busy, status,
		container.NewHBox(layout.NewSpacer(), d.cancel, d.start))
	d.dlg = dialog.NewCustomWithoutButtons(title, content, c.win)
	d.dlg.SetOnClosed(d.closed)
	return d
}

func (d *importDialog) show() {
	d.dlg.Resize(fyne.NewSize(560, 0))
	d.dlg.Show()
	if d.file != "" {
		d.onImport()
	}
}

func (d *importDialog) onText(s string) {
	if strings.TrimSpace(s) == "" || d.run != nil {
		d.start.Disable()
	} else {
		d.start.Enable()
	}
}

// onImport runs the import in the background.
func (d *importDialog) onImport() {
	text := d.data
	if d.file == "" {
		text = d.text.Text
	}
	if d.run != nil || strings.TrimSpace(text) == "" {
		return
	}
	name := strings.TrimSpace(d.name.Text)
	ctx, cancel := context.WithCancel(d.c.ctx)
	run := &importRun{cancel: cancel}
	d.run = run
	d.text.Disable()
	d.name.Disable()
	d.start.Disable()
	d.status.SetText(tr("Importing… API keys are checked with Kiro."))
	d.bar = widget.NewProgressBarInfinite() // animates from here until finish
	d.busy.Objects = []fyne.CanvasObject{d.bar}
	d.busy.Refresh()

	core := d.c.core
	d.c.background(func() {
		sum, err := core.ImportText(ctx, text, name)
		cancel()
		fyne.Do(func() { d.finish(run, sum, err) })
	})
}

// finish shows what the import did.
func (d *importDialog) finish(run *importRun, sum app.ImportSummary, err error) {
	if d.run != run {
		return // cancelled: the dialog is gone
	}
	d.run = nil
	d.stopBar()
	d.text.Enable()
	d.name.Enable()
	switch {
	case err != nil && len(sum.Results) == 0:
		d.status.SetText(fmt.Sprintf(tr("Import failed: %s"), errorWords(err)))
	case err != nil:
		d.status.SetText(summaryText(sum) + "\n" + fmt.Sprintf(tr("Then it failed: %s"), errorWords(err)))
	default:
		d.status.SetText(summaryText(sum))
	}
	done := err == nil && len(sum.Added())+len(sum.Updated()) > 0
	if done {
		d.text.SetText("") // done with it: the key no longer sits in the window
		d.cancel.SetText(tr("Close"))
	}
	switch {
	case d.file != "" && err != nil:
		d.start.Enable()
		d.start.Show()
	case d.file == "" && strings.TrimSpace(d.text.Text) != "":
		d.start.Enable()
	}
}

// summaryText is what an import did, in the window's language. Skip
// reasons are the core's words; keys in them are masked.
func summaryText(sum app.ImportSummary) string {
	var lines []string
	switch n := sum.Added(); len(n) {
	case 0:
	case 1:
		lines = append(lines, fmt.Sprintf(tr("Added 1 account: %s."), n[0]))
	default:
		lines = append(lines, fmt.Sprintf(tr("Added %d accounts: %s."), len(n), strings.Join(n, ", ")))
	}
	if n := sum.Updated(); len(n) > 0 {
		lines = append(lines, fmt.Sprintf(tr("Gave the new tokens to %s."), strings.Join(n, ", ")))
	}
	if sk := sum.Skipped(); len(sk) > 0 {
		lines = append(lines, fmt.Sprintf(tr("Skipped %d:"), len(sk)))
		for _, r := range sk {
			lines = append(lines, fmt.Sprintf(tr("• %s: %s"), r.Entry, r.Skipped))
		}
	}
	if len(lines) == 0 {
		lines = append(lines, tr("Nothing was imported."))
	}
	for _, u := range sum.Unchecked {
		lines = append(lines, fmt.Sprintf(tr("Kiro could not be reached to check the API key %s (%s); it was added unchecked."), u.Key, u.Reason))
	}
	if sum.RefreshTokens {
		lines = append(lines, tr("These tokens are kirotray's now: if another program still uses the same login, refreshing it in both places signs one of them out. Use each login in one place only."))
	}
	if sum.NameUnused {
		lines = append(lines, tr("The name was not used: it can name one account only."))
	}
	return strings.Join(lines, "\n")
}

// closed runs when the dialog goes away: an import still running is
// cancelled.
func (d *importDialog) closed() {
	run := d.run
	if run == nil {
		return
	}
	d.run = nil
	d.stopBar()
	run.cancel()
}

func (d *importDialog) stopBar() {
	if d.bar != nil {
		d.bar.Stop()
		d.bar = nil
	}
	d.busy.Objects = nil
	d.busy.Refresh()
}

// showPaste opens the paste dialog; name, when set, is the account that
// should get the pasted key.
func (t *accountsTab) showPaste(name string) {
	if t.importing != nil && t.importing.run != nil {
		t.importing.show() // one import at a time: bring the running one back
		return
	}
	t.importing = newPasteDialog(t.c, name)
	t.importing.show()
}

// onImportFile lets the person pick a file of accounts.
func (t *accountsTab) onImportFile() {
	if t.importing != nil && t.importing.run != nil {
		t.importing.show()
		return
	}
	fd := dialog.NewFileOpen(t.onFileChosen, t.c.win)
	fd.Resize(fyne.NewSize(720, 480))
	fd.Show()
}

// onFileChosen reads the picked file (at most app.MaxImportText) in the
// background and imports it; r is nil when the person cancelled.
func (t *accountsTab) onFileChosen(r fyne.URIReadCloser, err error) {
	if err != nil {
		t.problem.SetText(fmt.Sprintf(tr("Could not open the file: %s"), err))
		t.problem.Show()
		return
	}
	if r == nil {
		return
	}
	t.problem.Hide()
	file := r.URI().Name()
	t.c.background(func() {
		defer r.Close()
		data, err := io.ReadAll(io.LimitReader(r, app.MaxImportText+1))
		fyne.Do(func() {
			switch {
			case err != nil:
				t.problem.SetText(fmt.Sprintf(tr("Could not read %s: %s"), file, err))
				t.problem.Show()
			case len(data) > app.MaxImportText:
				t.problem.SetText(fmt.Sprintf(tr("%s is larger than 1 MiB: it is not a file of Kiro accounts."), file))
				t.problem.Show()
			default:
				t.importing = newFileImportDialog(t.c, file, string(data))
				t.importing.show()
			}
		})
	})
}

// kiro-cli's login.

// showCLI shows kiro-cli's login when kiro-cli is installed; UI goroutine.
func (t *accountsTab) showCLI() {
	l := t.c.cliLogin
	if l == nil || !l.Found {
		t.cliRow.Hide()
		return
	}
	t.cliStatus.SetText(cliText(*l))
	t.useCLI.Disable()
	followed := false
	for _, v := range t.c.accountList {
		followed = followed || v.Source == app.SourceKiroCLI
	}
	if l.SignedIn && !followed {
		t.useCLI.Enable()
	}
	t.cliRow.Show()
}

// cliText is kiro-cli's login in a sentence.
func cliText(l app.KiroCLILogin) string {
	switch {
	case l.SignedIn && l.Provider != "":
		return fmt.Sprintf(tr("kiro-cli: signed in with %s."), l.Provider)
	case l.SignedIn:
		return tr("kiro-cli: signed in.")
	case l.NoSQLite3:
		return tr("kiro-cli: found; install the sqlite3 program to use its login.")
	}
	return fmt.Sprintf(tr("kiro-cli: its login cannot be used (%s)."), l.Detail)
}

// onUseCLI explains what following kiro-cli's login means, then adds it.
func (t *accountsTab) onUseCLI() {
	msg := container.NewVBox(
		&widget.Label{Wrapping: fyne.TextWrapWord, Text: tr("kirotray will follow kiro-cli's login read-only: kiro-cli stays signed in, and kirotray never renews or changes its login. It reads kiro-cli's database through the sqlite3 program and never writes it.")},
		&widget.Label{Wrapping: fyne.TextWrapWord, Text: tr("kiro-cli renews the access token only while it is used. Once the token runs out (within the hour when kiro-cli is not used), this account pauses until you run kiro-cli again.")},
		&widget.Label{Wrapping: fyne.TextWrapWord, Text: tr("For a login that works on its own, use Sign in… instead: that is the recommended way."), TextStyle: fyne.TextStyle{Bold: true}},
	)
	d := dialog.NewCustomConfirm(tr("Use kiro-cli's login?"), tr("Use kiro-cli's login"), tr("Cancel"), msg, func(ok bool) {
		if ok {
			t.useCLI.Disable()
			t.run(func() error { _, err := t.c.core.ImportKiroCLI(""); return err }, func(err error) string {
				return fmt.Sprintf(tr("Could not use kiro-cli's login: %s"), errorWords(err))
			})
		}
	}, t.c.win)
	d.Resize(fyne.NewSize(520, 0))
	d.Show()
}
