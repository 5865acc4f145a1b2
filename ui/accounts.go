package ui

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
)

// accountsTab is the window's Accounts tab: the ways to add an account
// (sign-in, a pasted key or token, a file, the Kiro IDE's or kiro-cli's
// login), and one card per account (kind, state, reason, warning, quota)
// with enable/disable, order, remove, and a new sign-in when one is
// needed. It renders the controller's latest account list; every change
// goes to the core and comes back as a new list.
type accountsTab struct {
	c *controller

	ideStatus *widget.Label
	useIDE    *widget.Button
	checkIDE  *widget.Button
	signInBtn *widget.Button
	pasteBtn  *widget.Button
	fileBtn   *widget.Button
	cliStatus *widget.Label
	useCLI    *widget.Button
	cliRow    *fyne.Container // kiro-cli's login: shown when kiro-cli is installed
	problem   *widget.Label   // the last action that failed, in words
	empty     *widget.Label
	list      *fyne.Container
	cards     []*accountCard
	content   fyne.CanvasObject

	signIn    *signInDialog // the open sign-in dialog, if any
	importing *importDialog // the open import dialog, if any
}

// accountCard is one account in the list.
type accountCard struct {
	name    string
	title   *widget.Label
	kind    *widget.Label
	state   *widget.Label
	reason  *widget.Label
	warning *widget.Label
	quota   *widget.Label
	toggle  *widget.Button // Disable / Enable
	up      *widget.Button
	down    *widget.Button
	remove  *widget.Button
	again   *widget.Button // Sign in again… / Paste a new key…; nil unless a new login is needed
	box     *fyne.Container
}

func newAccountsTab(c *controller) *accountsTab {
	t := &accountsTab{c: c}
	t.ideStatus = &widget.Label{Text: tr("Kiro IDE: checking…"), Wrapping: fyne.TextWrapWord}
	t.useIDE = &widget.Button{Text: tr("Use the Kiro IDE's login…"), Icon: theme.DownloadIcon(), OnTapped: t.onUseIDE}
	t.useIDE.Disable()
	t.checkIDE = &widget.Button{Text: tr("Check again"), Icon: theme.ViewRefreshIcon(), OnTapped: t.onCheckIDE}
	t.signInBtn = &widget.Button{Text: tr("Sign in…"), Icon: theme.LoginIcon(), Importance: widget.HighImportance, OnTapped: t.showSignIn}
	t.pasteBtn = &widget.Button{Text: tr("Paste an API key or token…"), Icon: theme.ContentPasteIcon(), OnTapped: func() { t.showPaste("") }}
	t.fileBtn = &widget.Button{Text: tr("Import a file…"), Icon: theme.FolderOpenIcon(), OnTapped: t.onImportFile}
	t.cliStatus = &widget.Label{Wrapping: fyne.TextWrapWord}
	t.useCLI = &widget.Button{Text: tr("Use kiro-cli's login…"), Icon: theme.DownloadIcon(), OnTapped: t.onUseCLI}
	t.useCLI.Disable()
	t.cliRow = container.NewBorder(nil, nil, nil, t.useCLI, t.cliStatus)
	t.cliRow.Hide()
	t.problem = &widget.Label{Wrapping: fyne.TextWrapWord, Importance: widget.DangerImportance}
	t.problem.Hide()
	t.empty = &widget.Label{Text: tr("No Kiro account yet. Sign in to use your Kiro plan; until then the proxy answers with simulated replies."), Wrapping: fyne.TextWrapWord}
	t.list = container.NewVBox()

	top := container.NewVBox(
		&widget.Label{Text: tr("Accounts are tried from the top down; the next one takes over when one is rate limited or out of quota."), Wrapping: fyne.TextWrapWord},
		container.NewHBox(&widget.Label{Text: tr("Add an account:"), TextStyle: fyne.TextStyle{Bold: true}}, t.signInBtn, t.pasteBtn, t.fileBtn),
		container.NewBorder(nil, nil, nil, container.NewHBox(t.useIDE, t.checkIDE), t.ideStatus),
		t.cliRow,
		t.problem,
		widget.NewSeparator(),
	)
	t.content = container.NewBorder(container.NewPadded(top), nil, nil, nil,
		container.NewVScroll(container.NewPadded(container.NewVBox(t.empty, t.list))))
	t.refresh()
	return t
}

// refresh shows the controller's latest account list and the Kiro IDE's
// and kiro-cli's logins; UI goroutine.
func (t *accountsTab) refresh() {
	t.showIDE(t.c.ideLogin)
	t.showCLI()
	views := t.c.accountList
	t.cards = t.cards[:0]
	var objs []fyne.CanvasObject
	for i, v := range views {
		card := t.newCard(v, i == 0, i == len(views)-1)
		t.cards = append(t.cards, card)
		if i > 0 {
			objs = append(objs, widget.NewSeparator())
		}
		objs = append(objs, card.box)
	}
	t.list.Objects = objs
	t.list.Refresh()
	if views != nil && len(views) == 0 {
		t.empty.Show()
	} else {
		t.empty.Hide()
	}
}

func (t *accountsTab) newCard(v app.AccountView, first, last bool) *accountCard {
	name := v.Name
	c := &accountCard{
		name:    name,
		title:   &widget.Label{Text: name, TextStyle: fyne.TextStyle{Bold: true}},
		kind:    &widget.Label{Text: kindText(v.AccountMeta), Importance: widget.LowImportance, Truncation: fyne.TextTruncateEllipsis},
		state:   &widget.Label{Text: stateText(v), Importance: stateImportance(v), TextStyle: fyne.TextStyle{Bold: true}},
		reason:  &widget.Label{Text: reasonText(v), Wrapping: fyne.TextWrapWord},
		warning: &widget.Label{Text: v.Warning, Wrapping: fyne.TextWrapWord, Importance: widget.WarningImportance},
		quota:   &widget.Label{Text: quotaLine(v), Importance: widget.LowImportance, Wrapping: fyne.TextWrapWord},
	}
	if c.reason.Text == "" {
		c.reason.Hide()
	}
	if v.Warning == "" {
		c.warning.Hide()
	}
	if v.Enabled {
		c.toggle = &widget.Button{Text: tr("Disable"), Icon: theme.MediaPauseIcon(), OnTapped: func() { t.setEnabled(name, false) }}
	} else {
		c.toggle = &widget.Button{Text: tr("Enable"), Icon: theme.MediaPlayIcon(), OnTapped: func() { t.setEnabled(name, true) }}
	}
	c.up = &widget.Button{Icon: theme.MoveUpIcon(), OnTapped: func() { t.move(name, -1) }}
	c.down = &widget.Button{Icon: theme.MoveDownIcon(), OnTapped: func() { t.move(name, 1) }}
	if first {
		c.up.Disable()
	}
	if last {
		c.down.Disable()
	}
	follows := v.Source == app.SourceIDE || v.Source == app.SourceKiroCLI
	c.remove = &widget.Button{Text: tr("Remove…"), Icon: theme.DeleteIcon(), Importance: widget.DangerImportance,
		OnTapped: func() { t.confirmRemove(name, follows) }}
	head := container.NewBorder(nil, nil, container.NewHBox(c.title, c.state), container.NewHBox(c.toggle, c.up, c.down, c.remove), c.kind)
	c.box = container.NewVBox(head, c.reason, c.warning, c.quota)
	if v.State == app.StateNeedsSignIn && !follows {
		// The same name takes the new login: the account keeps its place and settings.
		m := v.AccountMeta
		if m.Kind == app.KindAPIKey {
			c.again = &widget.Button{Text: tr("Paste a new key…"), Icon: theme.ContentPasteIcon(), Importance: widget.HighImportance,
				OnTapped: func() { t.showPaste(name) }}
		} else {
			c.again = &widget.Button{Text: tr("Sign in again…"), Icon: theme.LoginIcon(), Importance: widget.HighImportance,
				OnTapped: func() { t.showSignInAgain(m) }}
		}
		c.box.Add(container.NewHBox(c.again))
	}
	return c
}

// kindText names the login for people: "Google · alice@example.com".
func kindText(m app.AccountMeta) string {
	var kind string
	switch {
	case m.Source == app.SourceIDE:
		kind = tr("Follows the Kiro IDE (read-only)")
	case m.Source == app.SourceKiroCLI:
		kind = tr("Follows kiro-cli (read-only)")
	case m.Kind == app.KindAPIKey:
		kind = tr("Kiro API key")
	case m.Kind == app.KindBuilderID:
		kind = tr("AWS Builder ID")
	case m.Kind == app.KindIdC:
		kind = tr("IAM Identity Center")
	case m.Provider == "Github":
		kind = tr("GitHub")
	case m.Provider == "Google":
		kind = tr("Google")
	default:
		kind = tr("Kiro login")
	}
	if m.Email == "" {
		return kind
	}
	return fmt.Sprintf(tr("%s · %s"), kind, m.Email)
}

// stateText is an account's state, capitalised, for the Accounts tab.
func stateText(v app.AccountView) string {
	if !v.Enabled {
		return tr("Disabled")
	}
	switch v.State {
	case app.StateCooling:
		return tr("Cooling down")
	case app.StateQuotaExhausted:
		return tr("Quota used up")
	case app.StateSuspended:
		return tr("Suspended")
	case app.StateNeedsSignIn:
		return tr("Needs a new sign-in")
	}
	return tr("Active")
}

func stateImportance(v app.AccountView) widget.Importance {
	switch {
	case !v.Enabled:
		return widget.LowImportance
	case v.State == app.StateSuspended, v.State == app.StateNeedsSignIn:
		return widget.DangerImportance
	case v.State == app.StateCooling, v.State == app.StateQuotaExhausted:
		return widget.WarningImportance
	}
	return widget.SuccessImportance
}

// reasonText says why an account is out of service and until when, and
// the last error seen; empty when all is well.
func reasonText(v app.AccountView) string {
	inactive := v.State != "" && v.State != app.StateActive
	switch {
	case inactive && v.StateReason != "" && !v.StateUntil.IsZero():
		return fmt.Sprintf(tr("%s (until %s)"), v.StateReason, whenText(v.StateUntil))
	case inactive && v.StateReason != "":
		return v.StateReason
	case inactive && !v.StateUntil.IsZero():
		return fmt.Sprintf(tr("Until %s"), whenText(v.StateUntil))
	case v.LastError != "":
		return fmt.Sprintf(tr("Last error: %s"), v.LastError)
	}
	return ""
}

// quotaLine is an account's quota in a short sentence for the card.
func quotaLine(v app.AccountView) string {
	q := v.Quota
	if q == nil || q.Limit <= 0 {
		return tr("Quota not checked yet: it is read while the proxy runs.")
	}
	if q.ResetAt.IsZero() {
		return fmt.Sprintf(tr("Quota: %.0f%% left (%s of %s)."), floorPct(q.RemainingPercent), num(q.Remaining), num(q.Limit))
	}
	return fmt.Sprintf(tr("Quota: %.0f%% left (%s of %s), resets %s."), floorPct(q.RemainingPercent), num(q.Remaining), num(q.Limit), shortDate(q.ResetAt))
}

// shortDate is a day for people: "Dec 1". The layouts go through tr, so
// a translation gives its own (Chinese: "1月2日").
func shortDate(t time.Time) string { return t.Local().Format(tr("Jan 2")) }

// whenText is a moment for people: "15:04" today, else "Dec 1 15:04".
func whenText(t time.Time) string {
	t = t.Local()
	if y, m, d := time.Now().Date(); t.Year() == y && t.Month() == m && t.Day() == d {
		return t.Format("15:04")
	}
	return t.Format(tr("Jan 2 15:04"))
}

// setEnabled, move and remove change the store; the new list comes back
// through the controller's feed.
func (t *accountsTab) setEnabled(name string, on bool) {
	t.run(func() error { return t.c.core.SetAccountEnabled(name, on) }, func(err error) string {
		return fmt.Sprintf(tr("Could not change %s: %s"), name, errorWords(err))
	})
}

func (t *accountsTab) move(name string, delta int) {
	t.run(func() error { return t.c.core.MoveAccount(name, delta) }, func(err error) string {
		return fmt.Sprintf(tr("Could not move %s: %s"), name, errorWords(err))
	})
}

func (t *accountsTab) confirmRemove(name string, follows bool) {
	msg := tr("kirotray stops using this account and deletes its tokens from this computer. You can sign in again at any time.")
	if follows {
		msg = tr("kirotray stops using this account. The login it follows is not touched.")
	}
	d := dialog.NewConfirm(fmt.Sprintf(tr("Remove %s?"), name), msg, func(ok bool) {
		if ok {
			t.run(func() error { return t.c.core.RemoveAccount(name) }, func(err error) string {
				return fmt.Sprintf(tr("Could not remove %s: %s"), name, errorWords(err))
			})
		}
	}, t.c.win)
	d.SetConfirmText(tr("Remove"))
	d.SetDismissText(tr("Cancel"))
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
}

// run calls f in the background; a failure shows above the list in the
// words fail finds for it.
func (t *accountsTab) run(f func() error, fail func(err error) string) {
	t.problem.Hide()
	t.c.background(func() {
		err := f()
		fyne.Do(func() {
			if err != nil {
				t.problem.SetText(fail(err))
				t.problem.Show()
			}
		})
	})
}

// The Kiro IDE's login.

func (t *accountsTab) showIDE(l *app.IDELogin) {
	t.useIDE.Disable()
	if l == nil {
		t.ideStatus.SetText(tr("Kiro IDE: checking…"))
		return
	}
	t.ideStatus.SetText(ideText(*l))
	if l.State != app.IDESignedIn && l.State != app.IDENeedsRenewal {
		return
	}
	for _, v := range t.c.accountList {
		if v.Source == app.SourceIDE {
			return // already followed
		}
	}
	t.useIDE.Enable()
}

// ideText is the IDE's login in a sentence.
func ideText(l app.IDELogin) string {
	who := l.Email
	if who == "" {
		who = l.Provider
	}
	switch l.State {
	case app.IDESignedIn:
		if who == "" {
			return tr("Kiro IDE: signed in.")
		}
		return fmt.Sprintf(tr("Kiro IDE: signed in as %s."), who)
	case app.IDENeedsRenewal:
		if who == "" {
			return tr("Kiro IDE: signed in; its access token has expired and the IDE renews it the next time it runs.")
		}
		return fmt.Sprintf(tr("Kiro IDE: signed in as %s; its access token has expired and the IDE renews it the next time it runs."), who)
	case app.IDEIncomplete, app.IDEUnreadable:
		return fmt.Sprintf(tr("Kiro IDE: its login cannot be used (%s)."), l.Detail)
	}
	return tr("Kiro IDE: not signed in.")
}

// onCheckIDE looks at the Kiro IDE's and kiro-cli's logins again.
func (t *accountsTab) onCheckIDE() {
	t.checkIDE.Disable()
	c := t.c
	c.background(func() {
		l := c.core.IDE()
		cl := c.core.KiroCLI()
		fyne.Do(func() {
			c.ideLogin, c.cliLogin = &l, &cl
			t.checkIDE.Enable()
			t.refresh()
		})
	})
}

// onUseIDE explains what following the IDE's login means, then adds it.
func (t *accountsTab) onUseIDE() {
	msg := container.NewVBox(
		&widget.Label{Wrapping: fyne.TextWrapWord, Text: tr("kirotray will follow the Kiro IDE's login read-only: the IDE stays signed in, and kirotray never renews or changes its login.")},
		&widget.Label{Wrapping: fyne.TextWrapWord, Text: tr("The IDE renews the access token only while it runs. When the IDE has been closed for about an hour, this account pauses until you open the IDE again.")},
		&widget.Label{Wrapping: fyne.TextWrapWord, Text: tr("For a login that works on its own, use Sign in… instead: that is the recommended way."), TextStyle: fyne.TextStyle{Bold: true}},
	)
	d := dialog.NewCustomConfirm(tr("Use the Kiro IDE's login?"), tr("Use the IDE's login"), tr("Cancel"), msg, func(ok bool) {
		if ok {
			t.useIDE.Disable()
			t.run(func() error { _, err := t.c.core.ImportIDE(""); return err }, func(err error) string {
				return fmt.Sprintf(tr("Could not use the Kiro IDE's login: %s"), errorWords(err))
			})
		}
	}, t.c.win)
	d.Resize(fyne.NewSize(520, 0))
	d.Show()
}

// Controller helpers for accounts and the views that show them.

// clientSetup is the core's configuration of coding CLIs (app.App); tests
// put a fake in controller.clients so that none writes the real
// ~/.claude or ~/.codex.
type clientSetup interface {
	PlanClientSetup(client string) (string, error)
	ConfigureClient(client string) (string, error)
	UndoClientSetup(client string) error
	CanUndoClientSetup(client string) bool
}

func (c *controller) clientSetup() clientSetup {
	if c.clients != nil {
		return c.clients
	}
	return c.core
}

// signIn opens the window's sign-in (the tray's and Overview's Sign in…).
func (c *controller) signIn() {
	if c.openSignIn != nil {
		c.openSignIn()
	}
}

// configureClaude opens the window's Configure Claude Code… (the tray's).
func (c *controller) configureClaude() {
	if c.configure != nil {
		c.configure(app.ClientClaudeCode)
	}
}

// useAddr moves the proxy to addr, the free port offered after a busy one.
func (c *controller) useAddr(addr string) {
	c.background(func() {
		if err := c.core.UseAddr(c.ctx, addr); err != nil {
			fyne.Do(func() { c.showError(err) })
		}
	})
}

func (c *controller) restart() { c.background(func() { _ = c.core.Restart(c.ctx) }) } // a failure shows in the state

// followAccounts reads the Kiro IDE's and kiro-cli's logins once, then
// receives every account list the core publishes until ctx ends. Each is kept in the
// controller and changed is called, both on the UI goroutine. Run it in
// a goroutine.
func (c *controller) followAccounts(ctx context.Context, changed func()) {
	l, cl := c.core.IDE(), c.core.KiroCLI()
	fyne.DoAndWait(func() {
		if ctx.Err() == nil {
			c.ideLogin, c.cliLogin = &l, &cl
			changed()
		}
	})
	for views := range c.core.WatchAccounts(ctx) { // latest wins; closed when ctx ends
		fyne.DoAndWait(func() {
			if ctx.Err() != nil {
				return // the UI has stopped
			}
			c.accountList = views
			changed()
		})
	}
}

// showAccounts redraws what shows accounts in the window from the
// controller's latest list; UI goroutine.
func (w *window) showAccounts(c *controller) {
	w.accounts.refresh()
	w.overview.applyAccounts(c.accountList)
}
