package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kirotray/kirotray/app/autostart"
	"github.com/kirotray/kirotray/app/clientsetup"
	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy"
	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/redact"
)

// ProxyState is where the proxy is in its life cycle.
type ProxyState int

const (
	Stopped  ProxyState = iota // not listening; the zero value
	Starting                   // loading accounts and opening the port
	Running                    // listening on AppState.BaseURL
	Stopping                   // draining streams in flight
	Failed                     // could not start or stopped on an error; see AppState.Message
)

func (s ProxyState) String() string {
	switch s {
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Stopping:
		return "stopping"
	case Failed:
		return "error"
	}
	return "stopped"
}

// AppState is a snapshot of what the tray and window show. It is a value:
// holding one never races with the App.
type AppState struct {
	Proxy ProxyState `json:"proxy"`
	// Message says what went wrong, in words a user understands, when Proxy
	// is Failed; empty otherwise.
	Message string `json:"message,omitempty"`
	// SuggestedListen is a free address offered when the configured port is
	// in use or reserved (see App.UseAddr); empty otherwise.
	SuggestedListen string `json:"suggestedListen,omitempty"`
	// BaseURL is where clients reach the proxy ("http://127.0.0.1:8317"); it
	// is the configured address until the proxy runs, then the real one.
	BaseURL string `json:"baseURL"`
	// Upstream is "demo" (the built-in simulated Kiro) or "kiro"; empty
	// until the proxy has started once.
	Upstream string `json:"upstream,omitempty"`
	// RequestsToday counts finished requests since local midnight.
	RequestsToday int `json:"requestsToday"`
	// LastError is the latest failed request ("12:03:04 claude-sonnet-4.5: 429 …"), if any.
	LastError string `json:"lastError,omitempty"`
}

// MarshalText names the state in JSON ("running").
func (s ProxyState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// defaultListen is the proxy's address when nothing else is configured.
const defaultListen = proxy.DefaultAddr

// Config configures an App. The fields mirror ServeConfig; zero values mean
// the same defaults as `kirotray serve`.
type Config struct {
	// Listen is the listen address given on the command line or in
	// KIROTRAY_LISTEN; empty means the saved preference, else proxy.DefaultAddr.
	Listen      string
	AllowRemote bool
	APIKey      string // fixed key; empty: the stored key, generated on first use
	Credentials string // accounts file; empty: the demo upstream until accounts exist
	KiroAPI     string
	KiroAuth    string
	OIDC        string
	Demo        bool // always use the built-in simulated upstream

	Version string
	Logger  *slog.Logger // nil means slog.Default()
	// Keychain stores the generated API key; nil means the OS keychain.
	Keychain keychain.Store
	// ConfigDir holds kirotray's files; empty means os.UserConfigDir()/kirotray.
	ConfigDir string
	// Now is the clock used to count requests per day; nil means time.Now.
	Now func() time.Time
	// IDE tells where to look for the Kiro IDE's login (tests); zero: the real places.
	IDE IDEOptions
	// SignIn presets the browser sign-in (tests: endpoints, Open); zero: the real services.
	SignIn SignInOptions
	// Home is the user's home folder, where Claude Code and Codex keep
	// their settings (tests); empty means os.UserHomeDir().
	Home string
	// Autostart is where "launch at login" is recorded; zero: the OS's place.
	Autostart autostart.Config
}

// App is the application core the tray and window talk to: it starts and
// stops the proxy, publishes AppState to watchers and owns the event hub. All
// methods are safe for concurrent use; Start, Stop, Restart and APIKey may
// block (network, keychain, draining streams), so UIs call them from a
// goroutine, never from a UI callback.
type App struct {
	cfg Config
	log *slog.Logger
	hub *Hub

	ops sync.Mutex // serializes Start, Stop and Restart
	run *proxyRun  // the running proxy; guarded by ops

	mu       sync.Mutex
	st       AppState
	day      string // the local date RequestsToday counts, "2006-01-02"
	key      redact.Secret
	watchers map[chan AppState]struct{}
	closed   bool
	done     chan struct{} // closed by Close; ends Watch goroutines
	prefs    Preferences   // guarded by mu
	// perAccount counts each account's finished requests today; guarded by
	// mu, reset with RequestsToday.
	perAccount map[string]int
	pa         *ProxyAccounts // the running proxy's accounts; guarded by mu
	// runCtx is the ctx of the last Start (guarded by ops): an automatic
	// restart keeps the proxy's lifetime the caller chose.
	runCtx context.Context

	// The hub's "state" envelopes, at most one per stateInterval (Watch
	// stays exact): stateTimer runs while states may be pending, stateDirty
	// says one is. Guarded by mu.
	stateTimer *time.Timer
	stateDirty bool
	stateSent  AppState // the last state broadcast

	acct      accountsHub
	storeOnce sync.Once
	store     *Store
	storeErr  error
	ideMu     sync.Mutex
	ide       IDELogin
	ideAt     time.Time
}

// proxyRun is one start of the proxy.
type proxyRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed once the proxy has stopped and been cleaned up
}

// proxyAccounts is the running proxy's accounts, nil when stopped.
func (a *App) proxyAccounts() *ProxyAccounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pa
}

// New returns an App with the proxy stopped. Call Close when done.
func New(cfg Config) *App {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Keychain == nil {
		cfg.Keychain = keychain.NewOS()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &App{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "app"),
		hub:      NewHub(cfg.Logger),
		watchers: map[chan AppState]struct{}{},
		done:     make(chan struct{}),
		prefs:    DefaultPreferences(),

		perAccount: map[string]int{},
	}
	if dir, err := configDir(cfg.ConfigDir); err == nil {
		p, err := LoadPreferences(dir)
		if err != nil {
			a.log.Warn("settings", "err", err)
		}
		a.prefs = p
	}
	a.st.BaseURL = "http://" + a.listenAddr()
	a.hub.SetWelcome(a.welcome)
	a.startAccountsLoop()
	return a
}

// Hub returns the event hub; it lives as long as the App, across restarts
// of the proxy, so a window subscribes once.
func (a *App) Hub() *Hub { return a.hub }

// State returns the current snapshot.
func (a *App) State() AppState {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rollDayLocked()
	return a.st
}

// Watch returns a channel that receives the current AppState at once and then
// every change. Its capacity is 1 and the latest state replaces one not yet
// read, so a slow reader skips stale states instead of blocking the App.
// The channel is closed when ctx ends or the App is closed.
func (a *App) Watch(ctx context.Context) <-chan AppState {
	ch := make(chan AppState, 1)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		close(ch)
		return ch
	}
	ch <- a.st
	a.watchers[ch] = struct{}{}
	a.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-a.done:
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if _, ok := a.watchers[ch]; ok {
			delete(a.watchers, ch)
			close(ch)
		}
	}()
	return ch
}

// update changes the state under the lock and tells every watcher.
func (a *App) update(f func(*AppState)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.st)
	a.publishLocked()
}

// stateInterval spaces the hub's "state" envelopes: under load the state
// changes with every finished request, and subscribers redraw a snapshot no
// faster than people read it.
const stateInterval = 100 * time.Millisecond

func (a *App) publishLocked() {
	a.broadcastStateLocked()
	for ch := range a.watchers {
		latestWins(ch, a.st) // only publishers send, and they hold a.mu
	}
}

// broadcastStateLocked sends the state to the hub at most once per
// stateInterval: a change after a quiet interval goes out at once and arms
// a timer; changes while it runs are sent, the latest only, when it fires.
// A timer that finds nothing new stops, so nothing runs at rest.
func (a *App) broadcastStateLocked() {
	if a.closed {
		return
	}
	if a.stateTimer != nil {
		a.stateDirty = true
		return
	}
	a.sendStateLocked()
	a.stateTimer = time.AfterFunc(stateInterval, a.stateTick)
}

// stateTick ends a stateInterval: it sends the pending state, if any, and
// runs again, or stops.
func (a *App) stateTick() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || !a.stateDirty {
		a.stateTimer = nil
		return
	}
	a.stateDirty = false
	a.sendStateLocked()
	a.stateTimer.Reset(stateInterval)
}

// sendStateLocked broadcasts the state unless it is the one last sent. It
// runs under a.mu so that envelopes leave in the order of the changes.
func (a *App) sendStateLocked() {
	if a.st == a.stateSent {
		return
	}
	a.stateSent = a.st
	a.hub.broadcast(Envelope{Type: "state", Data: a.st})
}

// rollDayLocked resets RequestsToday after midnight.
func (a *App) rollDayLocked() {
	today := a.cfg.Now().Format(time.DateOnly)
	if a.day != today {
		a.day = today
		a.st.RequestsToday = 0
		clear(a.perAccount)
	}
}

// Start starts the proxy and returns once it listens, or with the reason
// it could not (also shown as AppState.Message). It is a no-op while the proxy
// runs. The proxy runs until Stop, or until ctx ends.
func (a *App) Start(ctx context.Context) error {
	a.ops.Lock()
	defer a.ops.Unlock()
	return a.startLocked(ctx)
}

// Stop stops the proxy, letting streams in flight finish for at most
// proxy.ShutdownGrace. It is a no-op when the proxy is not running.
func (a *App) Stop() {
	a.ops.Lock()
	defer a.ops.Unlock()
	a.stopLocked()
}

// Restart stops the proxy if it runs and starts it again.
func (a *App) Restart(ctx context.Context) error {
	a.ops.Lock()
	defer a.ops.Unlock()
	a.stopLocked()
	return a.startLocked(ctx)
}

// Close stops the proxy, disconnects hub subscribers and closes every
// Watch channel.
func (a *App) Close() {
	a.Stop()
	a.hub.Close()
	a.mu.Lock()
	if !a.closed {
		close(a.done)
	}
	a.closed = true
	if a.stateTimer != nil {
		a.stateTimer.Stop() // a tick already under way finds a.closed
		a.stateTimer = nil
	}
	for ch := range a.watchers {
		delete(a.watchers, ch)
		close(ch)
	}
	a.mu.Unlock()
	<-a.acct.stopped // it may be reading the store: done before the caller removes the folder
}

// APIKey returns the key clients must send, loading (or, on first use,
// creating) the stored one. It may block on the OS keychain.
func (a *App) APIKey() (redact.Secret, error) {
	a.mu.Lock()
	k := a.key
	a.mu.Unlock()
	if !k.IsZero() {
		return k, nil
	}
	dir, err := configDir(a.cfg.ConfigDir)
	if err != nil {
		return "", err
	}
	k, _, err = apiKey(a.cfg.APIKey, a.cfg.Keychain, filepath.Join(dir, "api-key"), a.log)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	a.key = k
	a.mu.Unlock()
	return k, nil
}

// ClaudeCodeSetup returns the shell lines that point Claude Code at the
// proxy. It contains the key: put it on the clipboard, never in a log.
func (a *App) ClaudeCodeSetup() (string, error) {
	k, err := a.APIKey()
	if err != nil {
		return "", err
	}
	return ClaudeCodeSetup(a.State().BaseURL, k), nil
}

// ClaudeCodeSetup formats the shell exports for Claude Code.
func ClaudeCodeSetup(baseURL string, key redact.Secret) string {
	return clientsetup.ShellExports(baseURL, key.Reveal())
}

func (a *App) startLocked(ctx context.Context) error {
	if a.run != nil {
		if a.State().Proxy == Running {
			return nil
		}
		<-a.run.done // it failed, or its ctx ended: finishing; then start afresh
		a.run = nil
	}
	a.runCtx = ctx
	a.update(func(s *AppState) { s.Proxy, s.Message, s.SuggestedListen = Starting, "", "" })
	run, baseURL, upstream, err := a.launch(ctx)
	if err != nil {
		a.log.Error("proxy did not start", "err", err)
		var next string
		if portUnavailable(err) {
			a.mu.Lock()
			addr := a.listenAddr()
			a.mu.Unlock()
			next = NextFreeAddr(addr)
		}
		a.update(func(s *AppState) { s.Proxy, s.Message, s.SuggestedListen = Failed, userMessage(err), next })
		return err
	}
	a.run = run
	a.update(func(s *AppState) { s.Proxy, s.BaseURL, s.Upstream = Running, baseURL, upstream })
	a.fixListen(strings.TrimPrefix(baseURL, "http://"))
	a.accountsChanged()
	return nil
}

func (a *App) stopLocked() {
	if a.run == nil {
		return
	}
	a.update(func(s *AppState) {
		if s.Proxy == Running {
			s.Proxy = Stopping
		}
	})
	a.run.cancel()
	<-a.run.done
	a.run = nil
	a.update(func(s *AppState) {
		if s.Proxy == Stopping { // a failure while serving stays visible
			s.Proxy = Stopped
		}
	})
}

// launch builds and opens the proxy the way Serve does (the same accounts:
// a credentials file, the account store, or the demo upstream when there is
// no account yet) and serves it in a goroutine.
func (a *App) launch(ctx context.Context) (*proxyRun, string, string, error) {
	cfg, log := a.cfg, a.cfg.Logger
	key, err := a.APIKey()
	if err != nil {
		return nil, "", "", err
	}
	dir, err := configDir(cfg.ConfigDir)
	if err != nil {
		return nil, "", "", err
	}
	a.mu.Lock()
	listen, prefs := a.listenAddr(), a.prefs
	a.mu.Unlock()
	var st *Store
	if cfg.Credentials == "" && !cfg.Demo {
		if st, err = a.Store(); err != nil {
			return nil, "", "", err
		}
	}
	pa, err := OpenProxyAccounts(AccountsConfig{
		Credentials: cfg.Credentials, Demo: cfg.Demo,
		KiroAuth: firstNonEmpty(cfg.KiroAuth, prefs.KiroAuth, DefaultKiroAuth), OIDC: firstNonEmpty(cfg.OIDC, prefs.OIDC),
		KiroAPI:   firstNonEmpty(cfg.KiroAPI, prefs.KiroAPI, DefaultKiroAPI),
		ConfigDir: dir, Keychain: cfg.Keychain, Store: st, Logger: log, OnSync: a.accountsChanged,
	})
	if err != nil {
		return nil, "", "", err
	}
	accounts, upstream, kiroAPI := pa.Accounts, pa.Upstream, pa.KiroAPI
	client := kiro.New(kiro.Config{BaseURL: kiroAPI, HTTPClient: pa.HTTPClient, Accounts: accounts, Logger: log, Version: cfg.Version})
	pa.Start(client)
	a.mu.Lock()
	a.pa = pa
	a.mu.Unlock()
	cleanup := func() {
		a.mu.Lock()
		a.pa = nil
		a.mu.Unlock()
		pa.Close() // lets refreshes finish and saves rotated tokens
		client.CloseIdleConnections()
		a.accountsChanged()
	}
	srv, err := proxy.New(proxy.Config{
		Sink:        appSink{a},
		Routes:      []proxy.Route{{Method: http.MethodGet, Path: "/ws", Handler: a.hub}},
		Addr:        listen,
		AllowRemote: cfg.AllowRemote,
		APIKey:      key,
		Backend:     Backend{Client: client},
		Window:      func(model string) int { return kiro.MapModel(model).Window },
		Logger:      log,
		Version:     cfg.Version,
		Upstream:    upstream,
	})
	if err == nil {
		err = srv.Listen()
	}
	if err != nil {
		cleanup()
		return nil, "", "", portHint(err)
	}
	baseURL := "http://" + srv.Addr()
	log.Info("proxy listening", "url", baseURL, "upstream", upstream)

	rctx, cancel := context.WithCancel(ctx)
	run := &proxyRun{cancel: cancel, done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	go func() {
		defer close(run.done)
		defer cleanup()
		select {
		case err := <-errc: // the listener failed under us
			cancel()
			log.Error("proxy stopped", "err", err)
			a.update(func(s *AppState) { s.Proxy, s.Message = Failed, userMessage(err) })
			return
		case <-rctx.Done():
		}
		log.Info("shutting down: draining streams in flight", "grace", proxy.ShutdownGrace)
		sctx, scancel := context.WithTimeout(context.Background(), proxy.ShutdownGrace)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("shutdown", "err", err)
		}
		<-errc
		a.update(func(s *AppState) { s.Proxy = Stopped })
	}()
	return run, baseURL, upstream, nil
}

// userMessage turns a start failure into one short sentence for the window.
func userMessage(err error) string {
	if errors.Is(err, errAddrInUse) {
		return "The port is in use by another program (or another kirotray). Stop it, or choose another port."
	}
	return err.Error()
}

// appSink feeds the hub and keeps the counters of AppState.
type appSink struct{ a *App }

// Publish implements activity.Sink; like the hub, it never blocks for long.
func (s appSink) Publish(ev activity.Request) {
	s.a.hub.Publish(ev)
	if ev.Kind != activity.RequestFinished {
		return
	}
	if ev.Account != "" {
		defer s.a.countsChanged()
	}
	s.a.update(func(st *AppState) {
		s.a.rollDayLocked()
		st.RequestsToday++
		if ev.Account != "" {
			s.a.perAccount[ev.Account]++
		}
		if ev.Status >= 400 || ev.Error != "" {
			msg := ev.Error
			if msg == "" {
				msg = http.StatusText(ev.Status)
			}
			st.LastError = fmt.Sprintf("%s %s: %d %s", ev.Time.Local().Format(time.TimeOnly), ev.Model, ev.Status, msg)
		}
	})
}
