package ui

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/kirotray/kirotray/app"
)

// settingsTab is the window's settings form: the proxy's port, start and
// login behaviour, language, upstream services, outbound proxy and rate
// limits. It is filled from the core (Preferences, NetworkSettings) when
// built, checked on Save, and saved off the UI goroutine; errors show
// above the Save button.
type settingsTab struct {
	c       *controller
	content fyne.CanvasObject

	port          *widget.Entry
	startProxy    *widget.Check
	launchAtLogin *widget.Check
	language      *widget.Select
	region        *widget.Select
	kiroAPI       *widget.Entry
	kiroAuth      *widget.Entry
	oidc          *widget.Entry
	outbound      *widget.Entry
	minInterval   *widget.Entry
	perMinute     *widget.Entry
	save          *widget.Button
	errorText     *widget.Label // what stops the save, in the person's words
	status        *widget.Label // "Saved." and the like
	portNotice    *widget.Label // after a port change: Claude Code needs the new URL
	copySetup     *widget.Button
	notice        fyne.CanvasObject // portNotice + copySetup, hidden until needed

	// UI goroutine only.
	prefs     app.Preferences // as loaded or last saved
	net       app.Settings    // as loaded or last saved
	netOK     bool            // net was read: the network fields may be saved
	loaded    bool            // the form holds the core's values: Save may run
	saving    bool            // a save runs in the background
	host      string          // the listen address's host, kept when the port changes
	shownPort string          // the port the entry was filled with
	statusKey string          // status's English text, kept across a relabel
	noticeURL string          // the new base URL portNotice tells of; empty: hidden
}

// kiroRegions are the regions whose Kiro API endpoint the protocol notes
// document (kiro/protocol.md §1.1: q.{region}.amazonaws.com is served in
// us-east-1, the default, and eu-central-1).
var kiroRegions = []struct{ code, api string }{
	{"us-east-1", "https://q.us-east-1.amazonaws.com"},
	{"eu-central-1", "https://q.eu-central-1.amazonaws.com"},
}

// Language choices in the order the select shows them.
var languageCodes = []string{"", "en", "zh"}

func languageName(code string) string {
	switch code {
	case "en":
		return "English"
	case "zh":
		return "中文"
	}
	return tr("System")
}

func regionName(code string) string {
	switch code {
	case "us-east-1":
		return tr("US East (N. Virginia), us-east-1")
	case "eu-central-1":
		return tr("Europe (Frankfurt), eu-central-1")
	}
	return tr("Custom (see Advanced)")
}

func newSettingsTab(c *controller) *settingsTab {
	s := &settingsTab{c: c, host: "127.0.0.1"}
	s.port = &widget.Entry{PlaceHolder: "8317"}
	s.startProxy = widget.NewCheck(tr("Start the proxy when kirotray opens"), nil)
	s.launchAtLogin = widget.NewCheck(tr("Open kirotray when I log in"), nil)
	var langs []string
	for _, code := range languageCodes {
		langs = append(langs, languageName(code))
	}
	s.language = widget.NewSelect(langs, nil)
	var regions []string
	for _, r := range kiroRegions {
		regions = append(regions, regionName(r.code))
	}
	regions = append(regions, regionName(""))
	s.region = widget.NewSelect(regions, s.onRegion)
	s.kiroAPI = &widget.Entry{PlaceHolder: app.DefaultKiroAPI, OnChanged: s.onKiroAPI}
	s.kiroAuth = &widget.Entry{PlaceHolder: app.DefaultKiroAuth}
	s.oidc = &widget.Entry{PlaceHolder: tr("https://oidc.REGION.amazonaws.com (the account's region)")}
	s.outbound = &widget.Entry{PlaceHolder: tr("from the environment (HTTPS_PROXY)")}
	s.minInterval = &widget.Entry{PlaceHolder: tr("off, e.g. 2s")}
	s.perMinute = &widget.Entry{PlaceHolder: tr("off, e.g. 30")}
	s.save = &widget.Button{Text: tr("Save"), Icon: theme.DocumentSaveIcon(), Importance: widget.HighImportance, OnTapped: s.onSave}
	s.save.Disable() // until the form holds the core's values
	s.errorText = &widget.Label{Wrapping: fyne.TextWrapWord, Importance: widget.DangerImportance}
	s.errorText.Hide()
	s.status = &widget.Label{Importance: widget.LowImportance}
	s.portNotice = &widget.Label{Wrapping: fyne.TextWrapWord, Importance: widget.WarningImportance}
	s.copySetup = &widget.Button{Text: tr("Copy Claude Code setup"), Icon: theme.ContentCopyIcon(), OnTapped: c.copySetup}
	s.notice = container.NewBorder(nil, nil, nil, container.NewCenter(s.copySetup), s.portNotice)
	s.notice.Hide()

	advanced := widget.NewAccordion(widget.NewAccordionItem(tr("Advanced"), container.New(layout.NewFormLayout(),
		fieldName(tr("Kiro API URL")), s.kiroAPI,
		fieldName(tr("Kiro sign-in URL")), s.kiroAuth,
		fieldName(tr("AWS OIDC URL")), s.oidc,
	)))
	// One form layout for every section, so the fields line up.
	form := container.New(layout.NewFormLayout(),
		heading(tr("Proxy")), layout.NewSpacer(),
		fieldName(tr("Port")), s.port,
		layout.NewSpacer(), s.startProxy,
		layout.NewSpacer(), s.launchAtLogin,
		fieldName(tr("Language")), s.language,
		heading(tr("Kiro service")), layout.NewSpacer(),
		fieldName(tr("Region")), s.region,
		layout.NewSpacer(), advanced,
		heading(tr("Network")), layout.NewSpacer(),
		fieldName(tr("Outbound proxy")), s.outbound,
		layout.NewSpacer(), hint(tr("Type direct to connect without a proxy.")),
		fieldName(tr("Minimum interval")), s.minInterval,
		fieldName(tr("Requests per minute")), s.perMinute,
		layout.NewSpacer(), hint(tr("Rate limits apply to all accounts together. Leave them empty for no limit.")),
	)
	footer := container.NewVBox(widget.NewSeparator(), s.errorText, s.notice, container.NewBorder(nil, nil, s.save, nil, s.status))
	s.content = container.NewBorder(nil, container.NewPadded(footer), nil, nil, container.NewVScroll(container.NewPadded(form)))
	s.load()
	return s
}

func heading(s string) *widget.Label {
	return widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

func hint(s string) *widget.Label {
	return &widget.Label{Text: s, Wrapping: fyne.TextWrapWord, Importance: widget.LowImportance}
}

// load reads the settings from the core off the UI goroutine and fills the
// form with them.
func (s *settingsTab) load() {
	s.c.background(func() {
		p := s.c.core.Preferences()
		baseURL := s.c.core.State().BaseURL
		ns, err := s.c.core.NetworkSettings()
		fyne.Do(func() { s.fill(p, baseURL, ns, err) })
	})
}

// fill puts loaded settings in the form; UI goroutine.
func (s *settingsTab) fill(p app.Preferences, baseURL string, ns app.Settings, netErr error) {
	s.prefs, s.net, s.netOK, s.loaded = p, ns, netErr == nil, true
	addr := p.Listen
	if addr == "" { // not fixed yet: the address the proxy uses now
		if u, err := url.Parse(baseURL); err == nil {
			addr = u.Host
		}
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		s.host, s.shownPort = host, port
	}
	s.port.SetText(s.shownPort)
	s.startProxy.SetChecked(p.StartProxy)
	s.launchAtLogin.SetChecked(p.LaunchAtLogin)
	s.language.SetSelected(languageName(p.Language))
	s.kiroAuth.SetText(p.KiroAuth)
	s.oidc.SetText(p.OIDC)
	s.kiroAPI.SetText(p.KiroAPI) // sets the region too
	s.onKiroAPI(p.KiroAPI)
	s.outbound.SetText(app.MaskProxy(ns.Proxy)) // a password never shows on screen
	s.minInterval.SetText("")
	if ns.RateLimit.MinInterval > 0 {
		s.minInterval.SetText(time.Duration(ns.RateLimit.MinInterval).String())
	}
	s.perMinute.SetText("")
	if ns.RateLimit.PerMinute > 0 {
		s.perMinute.SetText(strconv.Itoa(ns.RateLimit.PerMinute))
	}
	for _, e := range []*widget.Entry{s.outbound, s.minInterval, s.perMinute} {
		if s.netOK {
			e.Enable()
		} else {
			e.Disable()
		}
	}
	if netErr != nil {
		s.showError(fmt.Errorf(tr("The network settings could not be read, so they are not saved: %v"), netErr))
	}
	s.save.Enable()
}

// onRegion fills the Kiro API URL with the chosen region's endpoint.
func (s *settingsTab) onRegion(name string) {
	for _, r := range kiroRegions {
		if regionName(r.code) == name && apiURL(s.kiroAPI.Text) != r.api {
			s.kiroAPI.SetText(r.api)
		}
	}
}

// onKiroAPI shows the region whose endpoint the URL is, or Custom.
func (s *settingsTab) onKiroAPI(u string) {
	name := regionName("")
	for _, r := range kiroRegions {
		if apiURL(u) == r.api {
			name = regionName(r.code)
		}
	}
	if s.region.Selected != name {
		s.region.SetSelected(name)
	}
}

// apiURL is the Kiro API URL an entry's text stands for: empty is the default.
func apiURL(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if s == "" {
		return app.DefaultKiroAPI
	}
	return s
}

// read checks the form and returns the settings it holds, or an error that
// says which field to correct and how.
func (s *settingsTab) read() (app.Preferences, app.Settings, error) {
	p := s.prefs
	if port := strings.TrimSpace(s.port.Text); port != s.shownPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return p, s.net, errors.New(tr("Port: enter a number from 1 to 65535."))
		}
		p.Listen = net.JoinHostPort(s.host, strconv.Itoa(n))
	}
	p.StartProxy = s.startProxy.Checked
	p.LaunchAtLogin = s.launchAtLogin.Checked
	for i, code := range languageCodes {
		if s.language.SelectedIndex() == i {
			p.Language = code
		}
	}
	var err error
	if p.KiroAPI, err = serviceURL(tr("Kiro API URL"), s.kiroAPI.Text, app.DefaultKiroAPI); err != nil {
		return p, s.net, err
	}
	if p.KiroAuth, err = serviceURL(tr("Kiro sign-in URL"), s.kiroAuth.Text, app.DefaultKiroAuth); err != nil {
		return p, s.net, err
	}
	if p.OIDC, err = serviceURL(tr("AWS OIDC URL"), s.oidc.Text, ""); err != nil {
		return p, s.net, err
	}
	if err := p.Check(); err != nil { // the core's own rules, should one be missed above
		return p, s.net, errors.New(strings.TrimPrefix(err.Error(), "settings: "))
	}

	ns := s.net
	if !s.netOK {
		return p, ns, nil
	}
	ns.Proxy = strings.TrimSpace(s.outbound.Text)
	if ns.Proxy == app.MaskProxy(s.net.Proxy) {
		ns.Proxy = s.net.Proxy // left as shown: keep the saved password
	}
	if strings.EqualFold(ns.Proxy, "direct") {
		ns.Proxy = "direct"
	} else if ns.Proxy != "" {
		if _, err := app.ParseProxyURL(ns.Proxy); err != nil {
			return p, ns, errors.New(tr("Outbound proxy: enter a URL like http://host:port or socks5://host:port, or direct."))
		}
	}
	ns.RateLimit = app.RateLimit{}
	if v := strings.TrimSpace(s.minInterval.Text); v != "" {
		r, err := app.ParseRateLimit(v)
		if err != nil || r.PerMinute != 0 {
			return p, ns, errors.New(tr("Minimum interval: enter a time like 2s or 500ms (at most 1h), or leave it empty."))
		}
		ns.RateLimit.MinInterval = r.MinInterval
	}
	if v := strings.TrimSpace(s.perMinute.Text); v != "" {
		n, err := strconv.Atoi(v)
		r, perr := app.ParseRateLimit(v + "/min")
		if err != nil || perr != nil || n < 1 {
			return p, ns, errors.New(tr("Requests per minute: enter a whole number of 1 or more, or leave it empty."))
		}
		ns.RateLimit.PerMinute = r.PerMinute
	}
	return p, ns, nil
}

// serviceURL checks an upstream URL entry; the default (or empty) is
// saved as empty, which follows kirotray's default if it ever changes.
func serviceURL(field, text, def string) (string, error) {
	u := strings.TrimRight(strings.TrimSpace(text), "/")
	if u == "" || u == def {
		return "", nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return "", fmt.Errorf(tr("%s: enter an address like https://host, or leave it empty for the default."), field)
	}
	return u, nil
}

func (s *settingsTab) onSave() {
	if !s.loaded || s.saving {
		return
	}
	p, ns, err := s.read()
	if err != nil {
		s.showError(err)
		s.setStatus("")
		return
	}
	old := s.prefs
	savePrefs, saveNet := p != s.prefs, s.netOK && ns != s.net
	if !savePrefs && !saveNet {
		s.clearError()
		s.setStatus("No changes to save.")
		return
	}
	s.saving = true
	s.save.Disable()
	s.clearError()
	s.setStatus("Saving…")
	s.c.background(func() {
		var perr, nerr error
		if savePrefs {
			perr = s.c.core.SetPreferences(s.c.ctx, p)
		}
		if saveNet {
			nerr = s.c.core.SetNetworkSettings(ns)
		}
		fyne.Do(func() { s.saved(old, p, ns, savePrefs && perr == nil, saveNet && nerr == nil, errors.Join(perr, nerr)) })
	})
}

// saved shows how a save went; UI goroutine.
func (s *settingsTab) saved(old, p app.Preferences, ns app.Settings, prefsOK, netOK bool, err error) {
	s.saving = false
	s.save.Enable()
	if netOK {
		s.net = ns
	}
	if prefsOK {
		s.prefs = p
		if p.Listen != old.Listen && app.PortOf(p.Listen) != 0 {
			_, s.shownPort, _ = net.SplitHostPort(p.Listen)
			s.showPortNotice("http://" + p.Listen)
		}
	}
	if err != nil {
		s.showError(fmt.Errorf(tr("Could not save: %v"), strings.TrimPrefix(err.Error(), "settings: ")))
		s.setStatus("")
		return
	}
	s.setStatus("Saved.")
	if prefsOK && resolveLanguage(p.Language) != currentLanguage() {
		if s.c.relabel == nil { // no window to rebuild
			s.setStatus("Saved. The language applies after a restart.")
			return
		}
		setLanguage(p.Language)
		s.c.relabel() // rebuilds this tab too
	}
}

// showPortNotice tells that Claude Code must use baseURL from now on.
func (s *settingsTab) showPortNotice(baseURL string) {
	s.noticeURL = baseURL
	s.portNotice.SetText(fmt.Sprintf(tr("The proxy's address is now %s. Claude Code must be told: set ANTHROPIC_BASE_URL to it where you run claude, or copy the new setup."), baseURL))
	s.notice.Show()
}

// carry keeps what the old tab was telling the person when the window is
// rebuilt in another language.
func (s *settingsTab) carry(old *settingsTab) {
	s.setStatus(old.statusKey)
	if old.noticeURL != "" {
		s.showPortNotice(old.noticeURL)
	}
}

func (s *settingsTab) showError(err error) {
	s.errorText.SetText(err.Error())
	s.errorText.Show()
}

func (s *settingsTab) clearError() {
	s.errorText.SetText("")
	s.errorText.Hide()
}

// setStatus shows one of the status lines below (English, translated here).
func (s *settingsTab) setStatus(key string) {
	s.statusKey = key
	switch key {
	case "No changes to save.":
		s.status.SetText(tr("No changes to save."))
	case "Saving…":
		s.status.SetText(tr("Saving…"))
	case "Saved.":
		s.status.SetText(tr("Saved."))
	case "Saved. The language applies after a restart.":
		s.status.SetText(tr("Saved. The language applies after a restart."))
	default:
		s.status.SetText("")
	}
}
