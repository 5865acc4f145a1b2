package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kirotray/kirotray/app/auth"
)

// The window's account and settings API. Every method may touch the disk,
// the keychain or the network: call them off the UI goroutine. Changes are
// announced through WatchAccounts and the hub's "accounts" events.

// AccountView is one account as the window shows it: what the store keeps,
// with the running proxy's fresher word on state and quota laid over it.
type AccountView struct {
	AccountMeta
	// Live is set while the running proxy serves this account.
	Live bool `json:"live"`
	// ExpiresAt is when the access token in use expires (running proxy only).
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Warning is something the person should know about the login, such as
	// the Kiro IDE being signed in with it too; empty when all is well.
	Warning string `json:"warning,omitempty"`
	// RequestsToday counts the requests this account finished since local
	// midnight, in this run of kirotray.
	RequestsToday int `json:"requestsToday"`
}

// Remaining is the account's quota left in percent, -1 when not known.
func (v AccountView) Remaining() float64 {
	if v.Quota == nil || v.Quota.Limit <= 0 {
		return -1
	}
	return v.Quota.RemainingPercent
}

// accountsHub keeps the window's account list current: one goroutine
// reloads on a signal and hands the list to watchers, latest wins.
type accountsHub struct {
	signal   chan struct{} // cap 1: pending reload
	counts   chan struct{} // cap 1: request counts changed; republish without reading the store
	armed    bool          // a counts republish is scheduled; guarded by mu
	stopped  chan struct{} // closed when the loop has ended
	mu       sync.Mutex
	watchers map[chan []AccountView]struct{}
	last     []AccountView
}

func (a *App) startAccountsLoop() {
	a.acct.signal = make(chan struct{}, 1)
	a.acct.watchers = map[chan []AccountView]struct{}{}
	a.acct.signal <- struct{}{} // the first list
	a.acct.counts = make(chan struct{}, 1)
	a.acct.stopped = make(chan struct{})
	go func() {
		defer close(a.acct.stopped)
		for {
			var views []AccountView
			select {
			case <-a.done:
				return
			case <-a.acct.signal:
				var err error
				if views, err = a.Accounts(); err != nil {
					a.log.Warn("could not read the accounts", "err", err)
					continue
				}
			case <-a.acct.counts:
				a.acct.mu.Lock()
				views = slices.Clone(a.acct.last)
				a.acct.mu.Unlock()
				if views == nil {
					continue
				}
				a.countRequests(views)
			}
			a.acct.mu.Lock()
			a.acct.last = views
			for ch := range a.acct.watchers {
				latestWins(ch, views)
			}
			a.acct.mu.Unlock()
			a.hub.broadcast(Envelope{Type: "accounts", Data: publicAccounts(views)})
		}
	}()
}

// PublicAccount is an account as /ws subscribers see it: what a person
// reads in the window, without identifiers that only the core needs
// (machine id, OIDC client, token file) or an outbound proxy's password.
type PublicAccount struct {
	Name        string       `json:"name"`
	Kind        AccountKind  `json:"kind"`
	Provider    string       `json:"provider,omitempty"`
	Source      string       `json:"source,omitempty"`
	Email       string       `json:"email,omitempty"`
	Region      string       `json:"region,omitempty"`
	Priority    int          `json:"priority"`
	Enabled     bool         `json:"enabled"`
	State       AccountState `json:"state,omitempty"`
	StateReason string       `json:"stateReason,omitempty"`
	StateUntil  time.Time    `json:"stateUntil,omitzero"`
	LastError   string       `json:"lastError,omitempty"`
	Quota       *Quota       `json:"quota,omitempty"`
	Proxy       string       `json:"proxy,omitempty"` // credentials masked
	Live        bool         `json:"live"`
	ExpiresAt   time.Time    `json:"expiresAt,omitzero"`
	Warning     string       `json:"warning,omitempty"`
	// RequestsToday counts requests finished since local midnight (this run).
	RequestsToday int `json:"requestsToday"`
}

func publicAccounts(views []AccountView) []PublicAccount {
	out := make([]PublicAccount, len(views))
	for i, v := range views {
		out[i] = PublicAccount{Name: v.Name, Kind: v.Kind, Provider: v.Provider, Source: v.Source, Email: v.Email,
			Region: v.Region, Priority: v.Priority, Enabled: v.Enabled, State: v.State, StateReason: v.StateReason,
			StateUntil: v.StateUntil, LastError: v.LastError, Quota: v.Quota, Live: v.Live, ExpiresAt: v.ExpiresAt,
			Warning: v.Warning, RequestsToday: v.RequestsToday}
		if v.Proxy != "" {
			out[i].Proxy = MaskProxy(v.Proxy)
		}
	}
	return out
}

// welcome is what a new /ws subscriber gets first: the state and accounts.
func (a *App) welcome() []Envelope {
	envs := []Envelope{{Type: "state", Data: a.State()}}
	a.acct.mu.Lock()
	views := a.acct.last
	a.acct.mu.Unlock()
	if views != nil {
		envs = append(envs, Envelope{Type: "accounts", Data: publicAccounts(views)})
	}
	return envs
}

// countRequests fills in each view's requests today.
func (a *App) countRequests(views []AccountView) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rollDayLocked()
	for i := range views {
		views[i].RequestsToday = a.perAccount[views[i].Name]
	}
}

// countsChanged republishes the account list with new request counts, at
// most once a second: a burst of requests is one update, and nothing runs
// while none finish.
func (a *App) countsChanged() {
	a.acct.mu.Lock()
	defer a.acct.mu.Unlock()
	if a.acct.armed {
		return
	}
	a.acct.armed = true
	time.AfterFunc(time.Second, func() {
		a.acct.mu.Lock()
		a.acct.armed = false
		a.acct.mu.Unlock()
		select {
		case a.acct.counts <- struct{}{}:
		default:
		}
	})
}

// accountsChanged asks for a reload of the account list (never blocks).
func (a *App) accountsChanged() {
	select {
	case a.acct.signal <- struct{}{}:
	default:
	}
}

// latestWins puts v on ch (capacity 1), replacing a value not yet read.
// Its callers are ch's only senders and hold a lock, so after draining a
// stale value there is room.
func latestWins[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
		select {
		case <-ch:
		default:
		}
		ch <- v
	}
}

// WatchAccounts returns a channel that receives the account list now (once
// read) and after every change. Like Watch, it holds one value and the
// latest replaces one not yet read; it is closed when ctx ends or the App
// closes.
func (a *App) WatchAccounts(ctx context.Context) <-chan []AccountView {
	ch := make(chan []AccountView, 1)
	a.acct.mu.Lock()
	if a.acct.last != nil {
		ch <- a.acct.last
	}
	a.acct.watchers[ch] = struct{}{}
	a.acct.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-a.done:
		}
		a.acct.mu.Lock()
		delete(a.acct.watchers, ch)
		close(ch)
		a.acct.mu.Unlock()
	}()
	return ch
}

// Store returns the account store (in the config folder, secrets in the
// keychain), opened once.
func (a *App) Store() (*Store, error) {
	a.storeOnce.Do(func() {
		dir, err := a.dir()
		if err != nil {
			a.storeErr = err
			return
		}
		a.store, a.storeErr = OpenStore(dir, a.cfg.Keychain)
	})
	return a.store, a.storeErr
}

func (a *App) dir() (string, error) { return configDir(a.cfg.ConfigDir) }

// Accounts lists the stored accounts in priority order, with the running
// proxy's state and quota where it has them. With a credentials file
// (--credentials) the list is the running pool's.
func (a *App) Accounts() ([]AccountView, error) {
	var live []AccountStatus
	if pa := a.proxyAccounts(); pa != nil && pa.Upstream != "demo" {
		live = pa.Accounts.Snapshot()
	}
	if a.cfg.Credentials != "" {
		views := make([]AccountView, 0, len(live))
		for _, st := range live {
			views = append(views, AccountView{AccountMeta: AccountMeta{Name: st.Name, Kind: AccountKind(st.Kind),
				ProfileARN: st.ProfileARN, Email: st.Email, Priority: st.Priority, Enabled: true,
				State: st.State, StateReason: st.Reason, StateUntil: st.Until, LastError: st.LastError, Quota: st.Quota},
				Live: true, ExpiresAt: st.ExpiresAt})
		}
		a.countRequests(views)
		return views, nil
	}
	s, err := a.Store()
	if err != nil {
		return nil, err
	}
	d, err := s.Load()
	if err != nil {
		return nil, err
	}
	ide := a.ideLogin()
	views := make([]AccountView, 0, len(d.Accounts))
	for _, m := range d.Accounts {
		v := AccountView{AccountMeta: m}
		for _, st := range live {
			if st.ID != "" && st.ID == m.ID {
				v.Live, v.ExpiresAt = true, st.ExpiresAt
				v.State, v.StateReason, v.StateUntil, v.LastError = st.State, st.Reason, st.Until, st.LastError
				if st.Quota != nil {
					v.Quota = st.Quota
				}
			}
		}
		v.Warning = ideWarning(m, ide)
		views = append(views, v)
	}
	slices.SortStableFunc(views, func(x, y AccountView) int { return x.Priority - y.Priority })
	a.countRequests(views)
	return views, nil
}

// ideWarning says when an account and the Kiro IDE share a login.
func ideWarning(m AccountMeta, ide IDELogin) string {
	if m.Source == SourceIDE {
		return "Follows the Kiro IDE's login (read-only): it pauses when the IDE has been closed for about an hour."
	}
	if ide.State == IDENotSignedIn || ide.State == IDEUnreadable || ide.Email == "" || m.Email == "" {
		return ""
	}
	if strings.EqualFold(ide.Email, m.Email) {
		return "The Kiro IDE is signed in with this login too. kirotray's sign-in keeps its own tokens, so the IDE stays signed in; Kiro may still limit logins used in two places."
	}
	return ""
}

// ideLogin is the IDE's login, looked up at most every 30 s (it reads files
// and the process list).
func (a *App) ideLogin() IDELogin {
	a.ideMu.Lock()
	defer a.ideMu.Unlock()
	if now := time.Now(); now.Sub(a.ideAt) > 30*time.Second {
		a.ide, a.ideAt = DetectIDE(a.cfg.IDE), now
	}
	return a.ide
}

// IDE reports the Kiro IDE's login, read afresh.
func (a *App) IDE() IDELogin {
	a.ideMu.Lock()
	defer a.ideMu.Unlock()
	a.ide, a.ideAt = DetectIDE(a.cfg.IDE), time.Now()
	return a.ide
}

// ImportIDE adds an account that follows the Kiro IDE's login read-only
// (the IDE stays signed in: kirotray never renews or writes its token).
// name may be empty.
func (a *App) ImportIDE(name string) (AccountMeta, error) {
	l := a.IDE()
	switch l.State {
	case IDENotSignedIn:
		return AccountMeta{}, errors.New("the Kiro IDE is not signed in: sign in to Kiro first, or sign in with kirotray")
	case IDEUnreadable:
		return AccountMeta{}, fmt.Errorf("the Kiro IDE's login cannot be used: %s", l.Detail)
	}
	s, err := a.Store()
	if err != nil {
		return AccountMeta{}, err
	}
	res, err := s.Add(AccountMeta{Name: name, Kind: l.Kind, Provider: l.Provider, Region: l.Region,
		ProfileARN: l.ProfileARN, Email: l.Email, Source: SourceIDE, IDEFile: l.Path}, Secrets{})
	if err != nil {
		return AccountMeta{}, err
	}
	a.accountsUpdated()
	return res.Meta, nil
}

// Sign-in methods.
const (
	SignInGoogle  = "google"
	SignInGitHub  = "github"
	SignInBuilder = "builder-id" // AWS Builder ID, or IAM Identity Center with a start URL
)

// SignInRequest is what the person chose in the window.
type SignInRequest struct {
	Method   string // SignInGoogle, SignInGitHub or SignInBuilder
	StartURL string // IAM Identity Center start URL; empty for Builder ID
	Region   string // Identity Center region; empty means us-east-1
	Remote   bool   // finish on another device: open nothing, show link and code
	Name     string // account name; empty: from the e-mail
	// Prompt is told what to show while the sign-in waits (link, code).
	Prompt func(SignInPrompt)
}

// SignIn runs a browser sign-in of kirotray's own (the Kiro IDE's login is
// not touched) and stores the login: tokens in the keychain, the rest in
// the account store. It returns when done, failed, or ctx is cancelled.
func (a *App) SignIn(ctx context.Context, r SignInRequest) (AccountMeta, error) {
	s, err := a.Store()
	if err != nil {
		return AccountMeta{}, err
	}
	if err := CheckKeychain(a.cfg.Keychain); err != nil {
		return AccountMeta{}, err
	}
	p := a.Preferences()
	o := a.cfg.SignIn
	o.KiroAuth = firstNonEmpty(o.KiroAuth, a.cfg.KiroAuth, p.KiroAuth)
	o.OIDC = firstNonEmpty(o.OIDC, a.cfg.OIDC, p.OIDC)
	o.KiroAPI = firstNonEmpty(o.KiroAPI, a.cfg.KiroAPI, p.KiroAPI)
	o.Region, o.StartURL, o.Remote, o.Prompt = r.Region, r.StartURL, r.Remote, r.Prompt
	if o.Open == nil && !r.Remote {
		o.Open = OpenBrowser
	}
	if r.Remote {
		o.Open = nil
	}
	if o.HTTPClient == nil {
		if o.HTTPClient, err = s.OutboundClient(); err != nil {
			return AccountMeta{}, err
		}
	}
	var n *NewLogin
	switch r.Method {
	case SignInGoogle, SignInGitHub:
		n, err = SignInSocial(ctx, r.Method, o)
	case SignInBuilder:
		n, err = SignInBuilderID(ctx, o)
	default:
		return AccountMeta{}, fmt.Errorf("%q is not a sign-in method (google, github or builder-id)", r.Method)
	}
	if err != nil {
		return AccountMeta{}, signInError(ctx, err)
	}
	n.Meta.Name = r.Name
	res, err := s.Add(n.Meta, n.Secrets)
	if err != nil {
		return AccountMeta{}, err
	}
	a.accountsUpdated()
	return res.Meta, nil
}

// Sign-in outcomes a window tells apart (errors.Is).
var (
	ErrSignInDenied   = auth.ErrDenied   // the person declined in the browser
	ErrSignInExpired  = auth.ErrExpired  // the code or link ran out before approval
	ErrSignInCanceled = context.Canceled // the person cancelled here
)

// signInError keeps a sign-in's cause for errors.Is and puts it in words.
func signInError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, auth.ErrDenied):
		return fmt.Errorf("the sign-in was declined in the browser: %w", err)
	case errors.Is(err, auth.ErrExpired):
		return fmt.Errorf("the sign-in code expired before it was approved; start again: %w", err)
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return fmt.Errorf("sign-in cancelled: %w", err)
	}
	return err
}

// RemoveAccount deletes an account and its secrets.
func (a *App) RemoveAccount(name string) error {
	return a.editStore(func(s *Store) error { _, err := s.Remove(name); return err })
}

// SetAccountEnabled takes an account out of service or back in.
func (a *App) SetAccountEnabled(name string, on bool) error {
	return a.editStore(func(s *Store) error { _, err := s.SetEnabled(name, on); return err })
}

// SetAccountPriority sets the order accounts are tried in (lower first).
func (a *App) SetAccountPriority(name string, priority int) error {
	return a.editStore(func(s *Store) error { _, err := s.SetPriority(name, priority); return err })
}

// MoveAccount moves an account one place up (delta < 0) or down the order,
// renumbering priorities 0, 1, 2, … so the order is explicit.
func (a *App) MoveAccount(name string, delta int) error {
	return a.editStore(func(s *Store) error {
		return s.Update(func(d *StoreData) error {
			slices.SortStableFunc(d.Accounts, func(x, y AccountMeta) int { return x.Priority - y.Priority })
			i := slices.IndexFunc(d.Accounts, func(m AccountMeta) bool { return m.Name == name })
			if i < 0 {
				return fmt.Errorf("%w %q", ErrNoSuchAccount, name)
			}
			j := min(max(i+delta, 0), len(d.Accounts)-1)
			d.Accounts[i], d.Accounts[j] = d.Accounts[j], d.Accounts[i]
			for k := range d.Accounts {
				d.Accounts[k].Priority = k
			}
			return nil
		})
	})
}

func (a *App) editStore(f func(s *Store) error) error {
	s, err := a.Store()
	if err != nil {
		return err
	}
	if err := f(s); err != nil {
		return err
	}
	a.accountsUpdated()
	return nil
}

// accountsUpdated tells the running pool (it reloads the store at once)
// and the watchers. A proxy serving the demo upstream only because no
// account existed restarts on the accounts now there.
func (a *App) accountsUpdated() {
	pa := a.proxyAccounts()
	switch {
	case pa != nil && pa.Store != nil:
		if err := pa.Accounts.SyncFromStore(pa.Store); err != nil {
			a.log.Warn("running proxy: could not reload the accounts", "err", err)
		}
	case pa != nil && pa.Upstream == "demo" && !a.cfg.Demo && a.cfg.Credentials == "":
		go a.leaveDemo(pa)
	}
	a.accountsChanged()
}

// leaveDemo restarts a proxy that fell back to the demo upstream, once the
// store has an account it can use. The base URL stays the same.
func (a *App) leaveDemo(was *ProxyAccounts) {
	a.ops.Lock()
	defer a.ops.Unlock()
	if a.run == nil || a.proxyAccounts() != was {
		return // stopped or restarted meanwhile
	}
	views, err := a.Accounts()
	if err != nil || !slices.ContainsFunc(views, func(v AccountView) bool { return v.Enabled }) {
		return
	}
	a.log.Info("an account was added: restarting the proxy on it instead of the demo upstream")
	a.mu.Lock()
	if PortOf(a.listenAddr()) == 0 { // "any port": keep the one clients were given
		a.cfg.Listen = strings.TrimPrefix(a.st.BaseURL, "http://")
	}
	a.mu.Unlock()
	ctx := a.runCtx
	a.stopLocked()
	if err := a.startLocked(ctx); err != nil {
		a.log.Error("could not restart the proxy on the new account", "err", err)
	}
}

// RefreshQuota reads every account's quota now (running proxy only).
func (a *App) RefreshQuota() {
	if pa := a.proxyAccounts(); pa != nil && pa.Background() != nil {
		pa.Background().QuotaNow()
	}
}

// NetworkSettings returns the outbound proxy and global rate limit.
func (a *App) NetworkSettings() (Settings, error) {
	s, err := a.Store()
	if err != nil {
		return Settings{}, err
	}
	d, err := s.Load()
	if err != nil {
		return Settings{}, err
	}
	return d.Settings, nil
}

// SetNetworkSettings saves the outbound proxy and global rate limit; the
// running proxy picks them up.
func (a *App) SetNetworkSettings(ns Settings) error {
	if ns.Proxy != "" && ns.Proxy != "direct" {
		if _, err := ParseProxyURL(ns.Proxy); err != nil {
			return err
		}
	}
	return a.editStore(func(s *Store) error {
		return s.Update(func(d *StoreData) error { d.Settings = ns; return nil })
	})
}

// Preferences returns the app's settings (settings.json).
func (a *App) Preferences() Preferences {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.prefs
}

// SetPreferences saves new settings and applies them: a new address or new
// upstream URLs restart a running proxy. As with caddy's reload, if the
// proxy cannot start with them, the old settings are restored and started
// again, and the error says why.
func (a *App) SetPreferences(ctx context.Context, p Preferences) error {
	if err := p.Check(); err != nil {
		return err
	}
	dir, err := a.dir()
	if err != nil {
		return err
	}
	a.ops.Lock()
	defer a.ops.Unlock()
	a.mu.Lock()
	old := a.prefs
	a.mu.Unlock()
	if p.LaunchAtLogin != old.LaunchAtLogin {
		if err := a.applyLaunchAtLogin(p.LaunchAtLogin); err != nil {
			return err
		}
	}
	if err := SavePreferences(dir, p); err != nil {
		return err
	}
	a.mu.Lock()
	a.prefs = p
	oldListen := a.cfg.Listen
	if p.Listen != old.Listen {
		a.cfg.Listen = "" // the person chose: the environment's address no longer applies
		a.st.SuggestedListen = ""
		if a.run == nil {
			a.st.BaseURL = "http://" + a.listenAddr()
		}
	}
	a.publishLocked()
	a.mu.Unlock()
	restart := p.Listen != old.Listen || p.KiroAPI != old.KiroAPI || p.KiroAuth != old.KiroAuth || p.OIDC != old.OIDC
	if !restart || a.run == nil {
		return nil
	}
	a.stopLocked()
	if err := a.startLocked(ctx); err != nil {
		a.mu.Lock()
		a.prefs, a.cfg.Listen = old, oldListen
		a.mu.Unlock()
		if serr := SavePreferences(dir, old); serr != nil {
			a.log.Warn("could not restore the settings", "err", serr)
		}
		if rerr := a.startLocked(ctx); rerr != nil {
			a.log.Warn("could not restart with the old settings either", "err", rerr)
		}
		return fmt.Errorf("the proxy did not start with the new settings, so the old ones are back: %w", err)
	}
	return nil
}

// UseAddr switches the proxy to addr (the free port offered after a start
// failed on a busy one) and starts it there.
func (a *App) UseAddr(ctx context.Context, addr string) error {
	p := a.Preferences()
	p.Listen = addr
	if err := a.SetPreferences(ctx, p); err != nil {
		return err
	}
	return a.Start(ctx)
}

// listenAddr is where the proxy listens: the command line or environment,
// else the saved address, else the default. Call with a.mu held or before
// the App is shared.
func (a *App) listenAddr() string {
	return firstNonEmpty(a.cfg.Listen, a.prefs.Listen, defaultListen)
}

// fixListen saves the address of the first successful start, so the base
// URL given to clients stays the same from then on.
func (a *App) fixListen(addr string) {
	a.mu.Lock()
	p := a.prefs
	fixed := p.Listen != "" || a.cfg.Listen != "" || PortOf(addr) == 0
	if !fixed {
		p.Listen = addr
		a.prefs = p
	}
	a.mu.Unlock()
	if fixed {
		return
	}
	if dir, err := a.dir(); err == nil {
		if err := SavePreferences(dir, p); err != nil {
			a.log.Warn("could not save the proxy's address", "err", err)
		}
	}
}

// executable is the program the OS should start at login: inside an
// AppImage the image itself, else this binary. Tests replace it.
var executable = func() (string, error) {
	if exe := os.Getenv("APPIMAGE"); exe != "" {
		return exe, nil
	}
	return os.Executable()
}

// applyLaunchAtLogin adds or removes the OS's login item for this program.
func (a *App) applyLaunchAtLogin(on bool) error {
	if !on {
		if err := a.cfg.Autostart.Disable(); err != nil {
			return fmt.Errorf("could not remove kirotray from the programs started at login: %w", err)
		}
		return nil
	}
	exe, err := executable()
	if err != nil {
		return fmt.Errorf("launch at login: %w", err)
	}
	if strings.HasPrefix(exe, os.TempDir()) && strings.Contains(exe, "go-build") {
		return errors.New("launch at login needs an installed kirotray (this one runs from `go run`'s temporary folder)")
	}
	if err := a.cfg.Autostart.Enable(exe); err != nil {
		return fmt.Errorf("could not add kirotray to the programs started at login: %w", err)
	}
	return nil
}
