package app

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/kiro"
)

// AccountsConfig says where a proxy run's accounts come from.
type AccountsConfig struct {
	Credentials string // a credentials file (--credentials); empty: the account store
	Demo        bool   // the built-in simulated upstream
	KiroAuth    string // --kiro-auth
	OIDC        string // --oidc
	KiroAPI     string // --kiro-api
	ConfigDir   string // holds the account store; empty means os.UserConfigDir()/kirotray
	// Keychain holds the store's secrets; nil means the OS keychain.
	Keychain keychain.Store
	// Store is the account store to use; nil opens the one in ConfigDir.
	Store  *Store
	Logger *slog.Logger
	// OnSync is called after the background wrote account states or quota
	// to the store (the window reloads its list); nil: nobody is told.
	OnSync func()
}

// ProxyAccounts is the account side of one proxy run: the pool, where it
// lives, and its background work. Close ends it.
type ProxyAccounts struct {
	Accounts *Accounts
	// Store is the account store the accounts come from; nil for a
	// credentials file or the demo.
	Store *Store
	// KiroAPI is the data plane to call: the configured one, or the demo
	// upstream's address.
	KiroAPI string
	// Upstream is "kiro" or "demo".
	Upstream string
	// HTTPClient is for kiro.Config.HTTPClient: it sends each account's
	// calls through its outbound proxy. Nil: kiro.Client's own.
	HTTPClient *http.Client

	log      *slog.Logger
	onSync   func()
	lock     *PoolLock
	bg       *Background
	stopDemo func()
}

// OpenProxyAccounts loads the accounts of a proxy run: the demo account
// (Demo), a credentials file (Credentials), else the account store, whose
// accounts this process then holds exclusively (PoolLock). With an empty
// store it falls back to the demo upstream, saying so in the log.
func OpenProxyAccounts(c AccountsConfig) (*ProxyAccounts, error) {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &ProxyAccounts{KiroAPI: c.KiroAPI, Upstream: "kiro", log: log, stopDemo: func() {}, onSync: c.OnSync}
	opts := AccountsOptions{AuthBase: c.KiroAuth, OIDCBase: c.OIDC, Logger: log}
	var err error
	switch {
	case c.Demo:
		p.Accounts, p.KiroAPI, p.stopDemo, err = startDemo(log)
		p.Upstream = "demo"
		return p, err
	case c.Credentials != "":
		p.Accounts, err = NewAccountsFromFile(c.Credentials, opts)
		return p, err
	}
	dir, err := configDir(c.ConfigDir)
	if err != nil {
		return nil, err
	}
	st := c.Store
	if st == nil {
		kc := c.Keychain
		if kc == nil {
			kc = keychain.NewOS()
		}
		if st, err = OpenStore(dir, kc); err != nil {
			return nil, err
		}
	}
	p.lock, err = st.LockPool()
	if err != nil {
		return nil, err
	}
	p.Accounts, err = NewAccountsFromStore(st, opts)
	if errors.Is(err, ErrNoStoredAccounts) {
		p.lock.Unlock()
		p.lock = nil
		log.Warn("no Kiro account configured: serving the built-in demo upstream", "why", err.Error(),
			"hint", "sign in with `kirotray accounts login google|github|builder-id`, use the Kiro IDE's login with `kirotray accounts import-ide`, or pass --credentials FILE")
		p.Accounts, p.KiroAPI, p.stopDemo, err = startDemo(log)
		p.Upstream = "demo"
		return p, err
	}
	if err != nil {
		p.lock.Unlock()
		return nil, err
	}
	p.Store = st
	p.HTTPClient = &http.Client{Transport: p.Accounts.UpstreamTransport()}
	n := len(p.Accounts.Snapshot())
	log.Info("using the Kiro accounts of the account store", "accounts", n, "store", st.Path())
	return p, nil
}

// Start begins the background work (tokens renewed ahead of expiry, quota
// polling, the store kept in step) with the client made for these accounts.
func (p *ProxyAccounts) Start(client *kiro.Client) {
	if p.bg == nil {
		p.bg = StartBackground(p.Accounts, BackgroundOptions{Client: client, Store: p.Store, Logger: p.log, OnSync: p.onSync})
	}
}

// Background is the running background work, nil before Start.
func (p *ProxyAccounts) Background() *Background { return p.bg }

// Close stops the background work, lets refreshes in flight finish and
// writes any rotated token whose save failed earlier (nothing is lost on
// the way out), then releases the store and the demo upstream.
func (p *ProxyAccounts) Close() {
	if p.bg != nil {
		p.bg.Stop()
	}
	if p.Accounts != nil {
		if err := p.Accounts.Close(); err != nil {
			p.log.Error("saving accounts on exit", "err", err)
		}
	}
	if p.HTTPClient != nil {
		p.HTTPClient.CloseIdleConnections()
	}
	p.lock.Unlock()
	p.stopDemo()
}
