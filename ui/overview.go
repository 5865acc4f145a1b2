package ui

import (
	"fmt"
	"math"
	"strconv"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
)

// overview is the window's first tab: the proxy's state with start/stop,
// the base URL and key to copy, each account's quota, and the coding
// CLIs to point at the proxy.
type overview struct {
	c *controller

	icon      *canvas.Image
	status    *widget.Label
	detail    *widget.Label
	toggle    *widget.Button
	suggest   *widget.Button // "Use 127.0.0.1:NNNN" after a busy port
	baseURL   *widget.Label
	copyURL   *widget.Button
	key       *widget.Label
	reveal    *widget.Button
	copyKey   *widget.Button
	copySetup *widget.Button
	requests  *widget.Label
	lastError *widget.Label

	demoText   *widget.Label // why replies are simulated, or that a restart uses the new account
	demoSignIn *widget.Button
	restart    *widget.Button
	demo       *fyne.Container // demoText + its buttons; hidden when Kiro serves

	quotaNone  *widget.Label
	checkQuota *widget.Button  // asks the running proxy to read every quota now
	quotas     *fyne.Container // one quotaRow per account
	quotaRows  []*quotaRow

	clients map[string]*clientRow // by app.Client…

	content fyne.CanvasObject

	st       app.AppState
	revealed string // the key while shown; empty when hidden
}

// quotaRow is one account's quota on the Overview.
type quotaRow struct {
	name    *widget.Label
	bar     *widget.ProgressBar
	caption *widget.Label // plan, reset date, state
	barText string        // what bar's TextFormatter returns
}

// clientRow is one coding CLI's Configure and Undo buttons.
type clientRow struct {
	client    string
	configure *widget.Button
	undo      *widget.Button
}

const maskedKey = "••••••••••••••••••••••••"

func newOverview(c *controller) *overview {
	o := &overview{c: c}
	o.icon = canvas.NewImageFromResource(trayIcon(app.Stopped, isDark()))
	o.icon.FillMode = canvas.ImageFillContain
	o.icon.SetMinSize(fyne.NewSquareSize(48))
	o.status = &widget.Label{TextStyle: fyne.TextStyle{Bold: true}, SizeName: theme.SizeNameSubHeadingText}
	o.detail = &widget.Label{Wrapping: fyne.TextWrapWord, Importance: widget.LowImportance}
	o.toggle = &widget.Button{Text: tr("Start proxy"), Icon: theme.MediaPlayIcon(), Importance: widget.HighImportance, OnTapped: o.onToggle}
	o.suggest = &widget.Button{Icon: theme.ConfirmIcon(), Importance: widget.HighImportance, OnTapped: o.onSuggest}
	o.suggest.Hide()
	o.baseURL = &widget.Label{Selectable: true, TextStyle: fyne.TextStyle{Monospace: true}}
	o.copyURL = &widget.Button{Text: tr("Copy"), Icon: theme.ContentCopyIcon(), OnTapped: o.onCopyURL}
	o.key = &widget.Label{Text: maskedKey, TextStyle: fyne.TextStyle{Monospace: true}, Selectable: true}
	o.reveal = &widget.Button{Text: tr("Show"), Icon: theme.VisibilityIcon(), OnTapped: o.onReveal}
	o.copyKey = &widget.Button{Text: tr("Copy"), Icon: theme.ContentCopyIcon(), OnTapped: o.onCopyKey}
	o.copySetup = &widget.Button{Text: tr("Copy Claude Code setup"), Icon: theme.ContentCopyIcon(), OnTapped: o.onCopySetup}
	o.requests = widget.NewLabel("0")
	o.lastError = &widget.Label{Text: tr("none"), Wrapping: fyne.TextWrapWord}

	o.demoText = &widget.Label{Wrapping: fyne.TextWrapWord}
	o.demoSignIn = &widget.Button{Text: tr("Sign in…"), Icon: theme.LoginIcon(), Importance: widget.HighImportance, OnTapped: o.c.signIn}
	o.restart = &widget.Button{Text: tr("Restart proxy"), Icon: theme.ViewRefreshIcon(), Importance: widget.HighImportance, OnTapped: o.onRestart}
	o.demo = container.NewVBox(o.demoText, container.NewHBox(o.demoSignIn, o.restart))
	o.demo.Hide()

	o.quotaNone = &widget.Label{Text: tr("No Kiro account yet."), Importance: widget.LowImportance}
	o.quotas = container.New(layout.NewFormLayout())
	o.checkQuota = &widget.Button{Text: tr("Check quota now"), Icon: theme.ViewRefreshIcon(), OnTapped: o.onCheckQuota}

	o.clients = map[string]*clientRow{}
	claude := o.newClientRow(app.ClientClaudeCode, tr("Configure Claude Code…"))
	codex := o.newClientRow(app.ClientCodex, tr("Configure Codex CLI…"))

	header := container.NewBorder(nil, nil, o.icon, container.NewCenter(container.NewHBox(o.suggest, o.toggle)), container.NewVBox(o.status, o.detail))
	form := container.New(layout.NewFormLayout(),
		fieldName(tr("Base URL")), container.NewHBox(o.baseURL, o.copyURL),
		fieldName(tr("API key")), container.NewHBox(o.key, o.reveal, o.copyKey),
		fieldName(tr("Requests today")), o.requests,
		fieldName(tr("Last error")), o.lastError,
	)
	quota := container.NewVBox(
		container.NewBorder(nil, nil, widget.NewLabelWithStyle(tr("Quota"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), o.checkQuota),
		o.quotaNone, o.quotas,
	)
	setup := container.NewVBox(
		widget.NewLabelWithStyle(tr("Use it with Claude Code"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		&widget.Label{Text: tr("Configure Claude Code to use kirotray, or copy the two exports and paste them into the shell where you run claude."), Wrapping: fyne.TextWrapWord},
		container.NewHBox(claude.configure, claude.undo, o.copySetup),
		widget.NewLabelWithStyle(tr("Use it with Codex CLI"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewHBox(codex.configure, codex.undo),
	)
	o.content = container.NewVScroll(container.NewPadded(container.NewVBox(
		header, o.demo, widget.NewSeparator(), form, widget.NewSeparator(), quota, widget.NewSeparator(), setup)))
	o.apply(app.AppState{})
	o.applyAccounts(c.accountList)
	o.refreshUndo()
	return o
}

func fieldName(s string) *widget.Label {
	return widget.NewLabelWithStyle(s, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
}

// apply shows st; call it on the UI goroutine. Only the widgets whose
// content changes are refreshed: under load st differs from the last one
// by the count of requests alone.
func (o *overview) apply(st app.AppState) {
	o.st = st
	if icon := trayIcon(st.Proxy, isDark()); o.icon.Resource != icon {
		o.icon.Resource = icon
		o.icon.Refresh()
	}
	setText(o.status, proxyHeadline(st))
	setText(o.detail, detailLine(st))
	switch st.Proxy {
	case app.Running:
		setButton(o.toggle, tr("Stop proxy"), theme.MediaStopIcon(), widget.MediumImportance)
		o.toggle.Enable()
	case app.Starting, app.Stopping:
		o.toggle.Disable()
	default:
		setButton(o.toggle, tr("Start proxy"), theme.MediaPlayIcon(), widget.HighImportance)
		o.toggle.Enable()
	}
	if st.SuggestedListen != "" && st.Proxy == app.Failed {
		if text := fmt.Sprintf(tr("Use %s"), st.SuggestedListen); o.suggest.Text != text {
			o.suggest.SetText(text)
		}
		o.suggest.Show()
	} else {
		o.suggest.Hide()
	}
	if st.Proxy == app.Running && st.Upstream == "kiro" {
		o.checkQuota.Enable()
	} else {
		o.checkQuota.Disable() // only the running proxy reads quotas
	}
	setText(o.baseURL, st.BaseURL)
	setText(o.requests, strconv.Itoa(st.RequestsToday))
	if st.LastError == "" {
		setText(o.lastError, tr("none"))
	} else {
		setText(o.lastError, st.LastError)
	}
	o.showDemo()
}

// setText sets a label's text unless it shows it already: every SetText
// lays the text out again and repaints the window.
func setText(l *widget.Label, s string) {
	if l.Text != s {
		l.SetText(s)
	}
}

// setButton gives b a text, icon and importance, refreshing it only if one
// of them changes.
func setButton(b *widget.Button, text string, icon fyne.Resource, imp widget.Importance) {
	if b.Text == text && b.Importance == imp && sameResource(b.Icon, icon) {
		return
	}
	b.Text, b.Icon, b.Importance = text, icon, imp
	b.Refresh()
}

func sameResource(a, b fyne.Resource) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a == b || a.Name() == b.Name()
}

// proxyHeadline is the Overview's title line.
func proxyHeadline(st app.AppState) string {
	switch st.Proxy {
	case app.Running:
		return fmt.Sprintf(tr("Proxy running on %s"), hostPort(st.BaseURL))
	case app.Starting:
		return tr("Proxy starting")
	case app.Stopping:
		return tr("Proxy stopping")
	case app.Failed:
		return tr("Proxy error")
	}
	return tr("Proxy stopped")
}

// detailLine explains the state in a sentence.
func detailLine(st app.AppState) string {
	switch st.Proxy {
	case app.Running:
		if st.Upstream == "demo" {
			return tr("Demo upstream: replies are simulated, no Kiro account is used.")
		}
		return tr("Forwarding to your Kiro accounts.")
	case app.Failed:
		if st.SuggestedListen != "" {
			return fmt.Sprintf(tr("%s Port %s is free: use it instead?"), st.Message, st.SuggestedListen)
		}
		return st.Message
	case app.Starting:
		return fmt.Sprintf(tr("Opening %s…"), hostPort(st.BaseURL))
	case app.Stopping:
		return tr("Letting requests in flight finish…")
	}
	return fmt.Sprintf(tr("Start the proxy to serve Claude Code on %s."), hostPort(st.BaseURL))
}

// demoCase says what the demo line should say: nothing, that replies are
// simulated until a sign-in, or that a restart would use the new account.
type demoCase int

const (
	demoNone    demoCase = iota
	demoNoLogin          // no account: the demo upstream answers
	demoRestart          // the demo runs, but an enabled account exists now
)

func demoState(st app.AppState, accounts []app.AccountView) demoCase {
	enabled := 0
	for _, v := range accounts {
		if v.Enabled {
			enabled++
		}
	}
	switch {
	case st.Upstream == "demo" && st.Proxy == app.Running && enabled > 0:
		return demoRestart
	case st.Upstream == "demo" && st.Proxy == app.Running:
		return demoNoLogin
	case accounts != nil && enabled == 0 && st.Upstream != "kiro":
		return demoNoLogin // the next start will use the demo upstream
	}
	return demoNone
}

func (o *overview) showDemo() {
	switch demoState(o.st, o.c.accountList) {
	case demoNoLogin:
		setText(o.demoText, tr("No Kiro account yet: the proxy answers with simulated replies. Sign in to use your Kiro plan."))
		o.demoSignIn.Show()
		o.restart.Hide()
		o.demo.Show()
	case demoRestart:
		setText(o.demoText, tr("You have a Kiro account now. Restart the proxy to use it instead of the simulated replies."))
		o.demoSignIn.Hide()
		o.restart.Show()
		o.demo.Show()
	default:
		o.demo.Hide()
	}
}

// applyAccounts shows each account's quota; call it on the UI goroutine.
func (o *overview) applyAccounts(views []app.AccountView) {
	if o.sameAccounts(views) {
		// The same accounts in the same order, as when only the counts of
		// requests changed (about once a second under load): update the
		// rows in place rather than building new widgets.
		for i, v := range views {
			o.quotaRows[i].update(v)
		}
		o.showDemo()
		return
	}
	o.quotaRows = o.quotaRows[:0]
	var objs []fyne.CanvasObject
	for _, v := range views {
		r := newQuotaRow(v)
		o.quotaRows = append(o.quotaRows, r)
		objs = append(objs, r.name, container.NewBorder(nil, nil, nil, nil, container.NewVBox(r.bar, r.caption)))
	}
	o.quotas.Objects = objs
	o.quotas.Refresh()
	if len(views) == 0 {
		o.quotaNone.Show()
	} else {
		o.quotaNone.Hide()
	}
	o.showDemo()
}

// sameAccounts reports whether the quota rows are those of views' accounts.
func (o *overview) sameAccounts(views []app.AccountView) bool {
	if len(views) == 0 || len(views) != len(o.quotaRows) {
		return false
	}
	for i, v := range views {
		if o.quotaRows[i].name.Text != v.Name {
			return false
		}
	}
	return true
}

// update shows v in the row, refreshing only what changed.
func (r *quotaRow) update(v app.AccountView) {
	setText(r.caption, quotaCaption(v))
	text, value := quotaBarText(v), max(v.Remaining(), 0)
	if r.barText != text || r.bar.Value != value {
		r.barText = text
		r.bar.TextFormatter = func() string { return text }
		r.bar.SetValue(value)
	}
}

func newQuotaRow(v app.AccountView) *quotaRow {
	r := &quotaRow{
		name:    widget.NewLabelWithStyle(v.Name, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true}),
		bar:     &widget.ProgressBar{Max: 100},
		caption: &widget.Label{Text: quotaCaption(v), Importance: widget.LowImportance, Wrapping: fyne.TextWrapWord},
	}
	text := quotaBarText(v)
	r.barText = text
	r.bar.TextFormatter = func() string { return text }
	if p := v.Remaining(); p > 0 {
		r.bar.Value = p
	}
	return r
}

// quotaBarText is the text on an account's quota bar: "62% left".
func quotaBarText(v app.AccountView) string {
	p := v.Remaining()
	if p < 0 {
		return tr("not checked yet")
	}
	return fmt.Sprintf(tr("%.0f%% left"), math.Floor(p))
}

// quotaCaption is the line under an account's quota bar: plan, amounts
// and reset date, or the state that keeps the account out of service;
// then the requests it served today.
func quotaCaption(v app.AccountView) string {
	s := quotaState(v)
	if v.RequestsToday > 0 {
		s += " " + fmt.Sprintf(tr("Requests today: %d."), v.RequestsToday)
	}
	return s
}

func quotaState(v app.AccountView) string {
	if !v.Enabled {
		return tr("Disabled.")
	}
	if v.State != "" && v.State != app.StateActive {
		return stateText(v)
	}
	q := v.Quota
	if q == nil || q.Limit <= 0 {
		return tr("The quota is read while the proxy runs.")
	}
	switch {
	case q.Plan == "" && q.ResetAt.IsZero():
		return fmt.Sprintf(tr("%s of %s left."), num(q.Remaining), num(q.Limit))
	case q.Plan == "":
		return fmt.Sprintf(tr("%s of %s left, resets %s."), num(q.Remaining), num(q.Limit), shortDate(q.ResetAt))
	case q.ResetAt.IsZero():
		return fmt.Sprintf(tr("%s: %s of %s left."), q.Plan, num(q.Remaining), num(q.Limit))
	}
	return fmt.Sprintf(tr("%s: %s of %s left, resets %s."), q.Plan, num(q.Remaining), num(q.Limit), shortDate(q.ResetAt))
}

// num writes a quota amount: whole numbers without decimals.
func num(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

func (o *overview) onToggle() {
	if o.st.Proxy == app.Running {
		o.c.stop()
	} else {
		o.c.start()
	}
}

func (o *overview) onSuggest() {
	if o.st.SuggestedListen != "" {
		o.suggest.Disable() // the state that follows hides it
		o.c.useAddr(o.st.SuggestedListen)
	}
}

func (o *overview) onRestart() { o.c.restart() }

// onCheckQuota asks for every quota now; the new numbers come back with
// the account list.
func (o *overview) onCheckQuota() { o.c.background(o.c.core.RefreshQuota) }

func (o *overview) onCopyURL() { o.c.copyURL() }

func (o *overview) onCopySetup() { o.c.copySetup() }

func (o *overview) onCopyKey() {
	o.c.withKey(func(k string) { o.c.clip(k) })
}

func (o *overview) onReveal() {
	if o.revealed != "" {
		o.revealed = ""
		o.key.SetText(maskedKey)
		o.reveal.SetText(tr("Show"))
		o.reveal.SetIcon(theme.VisibilityIcon())
		return
	}
	o.c.withKey(func(k string) {
		o.revealed = k
		o.key.SetText(k)
		o.reveal.SetText(tr("Hide"))
		o.reveal.SetIcon(theme.VisibilityOffIcon())
	})
}

// Configuring coding CLIs.

func (o *overview) newClientRow(client, label string) *clientRow {
	r := &clientRow{client: client}
	r.configure = &widget.Button{Text: label, Icon: theme.SettingsIcon(), OnTapped: func() { o.configure(client) }}
	r.undo = &widget.Button{Text: tr("Undo"), Icon: theme.ContentUndoIcon(), OnTapped: func() { o.undo(client) }}
	r.undo.Disable()
	o.clients[client] = r
	return r
}

// clientName is a coding CLI's name for people.
func clientName(client string) string {
	if client == app.ClientCodex {
		return tr("Codex CLI")
	}
	return tr("Claude Code")
}

// restartNote tells the person that running sessions keep the old settings.
func restartNote(client string) string {
	if client == app.ClientCodex {
		return tr("Restart any Codex CLI sessions that are running: they read their settings only when they start.")
	}
	return tr("Restart any Claude Code sessions that are running: they read their settings only when they start.")
}

// configure shows what configuring client would change, asks, then does
// it and shows the result. UI goroutine; the core calls run in background.
func (o *overview) configure(client string) {
	setup := o.c.clientSetup()
	o.c.background(func() {
		plan, err := setup.PlanClientSetup(client)
		fyne.Do(func() {
			if err != nil {
				o.c.showError(fmt.Errorf(tr("%s cannot be configured: %w"), clientName(client), err))
				return
			}
			o.confirmConfigure(client, plan)
		})
	})
}

func (o *overview) confirmConfigure(client, plan string) {
	intro := &widget.Label{Text: fmt.Sprintf(tr("kirotray will make these changes so that %s uses the proxy. A backup is kept, so you can undo them."), clientName(client)), Wrapping: fyne.TextWrapWord}
	planText := &widget.Label{Text: plan, TextStyle: fyne.TextStyle{Monospace: true}, Wrapping: fyne.TextWrapWord, Selectable: true}
	scroll := container.NewVScroll(planText)
	scroll.SetMinSize(fyne.NewSize(480, 160))
	d := dialog.NewCustomConfirm(fmt.Sprintf(tr("Configure %s?"), clientName(client)), tr("Configure"), tr("Cancel"),
		container.NewBorder(intro, nil, nil, nil, scroll), func(ok bool) {
			if ok {
				o.doConfigure(client)
			}
		}, o.c.win)
	d.Show()
}

func (o *overview) doConfigure(client string) {
	setup := o.c.clientSetup()
	o.c.background(func() {
		msg, err := setup.ConfigureClient(client)
		canUndo := setup.CanUndoClientSetup(client)
		fyne.Do(func() {
			o.setUndo(client, canUndo)
			if err != nil {
				o.c.showError(fmt.Errorf(tr("%s was not configured: %w"), clientName(client), err))
				return
			}
			content := container.NewVBox(
				&widget.Label{Text: msg, Wrapping: fyne.TextWrapWord, Selectable: true},
				&widget.Label{Text: restartNote(client), Wrapping: fyne.TextWrapWord, TextStyle: fyne.TextStyle{Bold: true}},
			)
			d := dialog.NewCustom(fmt.Sprintf(tr("%s is configured"), clientName(client)), tr("OK"), content, o.c.win)
			d.Resize(fyne.NewSize(520, 0))
			d.Show()
		})
	})
}

// undo restores the files the last Configure changed.
func (o *overview) undo(client string) {
	setup := o.c.clientSetup()
	o.setUndo(client, false) // one click: the state after it decides
	o.c.background(func() {
		err := setup.UndoClientSetup(client)
		canUndo := setup.CanUndoClientSetup(client)
		fyne.Do(func() {
			o.setUndo(client, canUndo)
			if err != nil {
				o.c.showError(fmt.Errorf(tr("The %s settings could not be restored: %w"), clientName(client), err))
				return
			}
			dialog.ShowInformation(fmt.Sprintf(tr("%s settings restored"), clientName(client)), restartNote(client), o.c.win)
		})
	})
}

// refreshUndo enables each Undo button the core can honour.
func (o *overview) refreshUndo() {
	setup := o.c.clientSetup()
	var clients []string
	for client := range o.clients {
		clients = append(clients, client)
	}
	o.c.background(func() {
		can := map[string]bool{}
		for _, client := range clients {
			can[client] = setup.CanUndoClientSetup(client)
		}
		fyne.Do(func() {
			for client, ok := range can {
				o.setUndo(client, ok)
			}
		})
	})
}

func (o *overview) setUndo(client string, on bool) {
	if r := o.clients[client]; r != nil {
		if on {
			r.undo.Enable()
		} else {
			r.undo.Disable()
		}
	}
}
