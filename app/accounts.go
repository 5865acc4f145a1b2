// Package app is kirotray's core without a GUI: the Kiro accounts (the
// account store, the credentials file, the pool that picks, fails over,
// cools down and renews tokens with rotation), sign-in, quota, settings, the
// proxy's lifecycle and the event hub. The tray UI and the command line are
// its clients; it never imports them.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kirotray/kirotray/app/auth"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/redact"
)

// Timing of the account pool.
const (
	// renewBefore: Token renews an access token expiring within this.
	renewBefore = 5 * time.Minute
	// refreshAhead: RefreshDue renews access tokens expiring within this.
	refreshAhead = 10 * time.Minute
	// leadMin and leadMax bound how long before expiry the background
	// refresh renews a token (drawn per token, so accounts spread out).
	leadMin, leadMax = 5 * time.Minute, 15 * time.Minute
	// forceDebounce: a forced refresh this soon after another one is not
	// repeated; every request refused on the old token shares the new one.
	forceDebounce = 10 * time.Second
	// refreshTimeout bounds one refresh call. It runs detached from the
	// caller's context: abandoning a call the server may already have acted
	// on would lose the rotated refresh token.
	refreshTimeout = 30 * time.Second
	// coolFirst and coolMax bound the cooldown after a 429 (doubling).
	coolFirst, coolMax = 30 * time.Second, 5 * time.Minute
	// maxRetryAfter caps a Retry-After the upstream asks for.
	maxRetryAfter = time.Hour
	// retryFirst and retryMax bound the wait after a failed refresh (doubling).
	retryFirst, retryMax = 5 * time.Second, 5 * time.Minute
	// maxRefreshFailures: this many non-transient refresh failures in a row
	// park the account as needing sign-in.
	maxRefreshFailures = 3
	// saveRetry: after a failed save, the next attempt comes no sooner.
	saveRetry = 10 * time.Second
	// stickyTTL and maxSticky bound the conversation → account map.
	stickyTTL = time.Hour
	maxSticky = 4096
	// defaultMaxRateWait: the longest Pick waits for a rate-limit slot.
	defaultMaxRateWait = 30 * time.Second
)

// AccountState is where an account stands, as shown in logs and the UI.
type AccountState string

const (
	StateActive         AccountState = "active"          // usable
	StateCooling        AccountState = "cooling"         // rate limited, or its refresh failed: until Until
	StateQuotaExhausted AccountState = "quota_exhausted" // monthly quota used up: until Until
	StateSuspended      AccountState = "suspended"       // Kiro suspended it: user action needed
	StateNeedsSignIn    AccountState = "needs_signin"    // refresh token dead: sign in again
)

// AccountStatus is one account as logs and the UI see it. It holds no secret.
type AccountStatus struct {
	Name      string
	ID        string // the store's id; empty for credentials-file accounts
	Kind      AuthMethod
	Priority  int
	State     AccountState
	Reason    string    // why it is not active, for people; empty when active
	Until     time.Time // end of cooling or quota; zero otherwise
	ExpiresAt time.Time // access token expiry; zero before the first refresh
	// FollowsIDE marks an account that uses the Kiro IDE's login read-only.
	FollowsIDE bool
	// FollowsKiroCLI marks an account that uses kiro-cli's login read-only.
	FollowsKiroCLI bool
	ProfileARN     string
	Email          string // when known
	UserID         string
	LastError      string // the last failure seen (refresh or upstream), for people
	Quota          *Quota // the last quota seen; nil before the first check
}

// AccountsOptions configures an account pool. Zero values are defaults.
type AccountsOptions struct {
	// HTTPClient makes refresh calls; nil means one with a 30 s timeout
	// (through Proxy, or an account's own proxy, when set).
	HTTPClient *http.Client
	// AuthBase is Kiro's auth service (--kiro-auth); empty means auth.DefaultAuthBase.
	AuthBase string
	// OIDCBase is the SSO-OIDC endpoint for every IdC account (--oidc);
	// empty means https://oidc.{region}.amazonaws.com with the account's region.
	OIDCBase string
	// UserAgent is sent on social refreshes; empty means "kirotray".
	UserAgent string
	// Logger receives state changes; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. (Rate-limit waits use real
	// timers: give a pool with rate limits the real clock.)
	Now func() time.Time
	// Persist stores an account's credential after its refresh token rotated
	// (NewAccountsFromList only; NewAccountsFromFile writes its file). It runs
	// before the new access token is used. Nil keeps rotated tokens in memory.
	Persist func(Credential) error
	// Proxy is the outbound proxy of accounts without their own: a URL
	// (http, https, socks5, socks5h), "direct", or "" for the environment's
	// (HTTPS_PROXY, NO_PROXY).
	Proxy string
	// RateLimit bounds requests across all accounts; zero: no limit.
	RateLimit RateLimit
	// MaxRateWait is the longest Pick waits for a rate-limit slot before it
	// gives up; zero means 30 s.
	MaxRateWait time.Duration
}

// Accounts is the pool of Kiro accounts: it picks one per request (priority,
// failover, cooldown, conversation stickiness, rate limits) and persists
// rotated refresh tokens. It implements kiro.Accounts and is safe for
// concurrent use. It starts no goroutine of its own; refreshes run in
// short-lived goroutines that Close waits for, and the timers that renew
// tokens ahead of expiry and poll quota are a Background's.
type Accounts struct {
	hc          *http.Client
	authBase    string
	oidcBase    string
	userAgent   string
	proxy       atomic.Pointer[string] // the pool's outbound proxy setting
	log         *slog.Logger
	now         func() time.Time
	maxRateWait time.Duration
	sleep       func(ctx context.Context, d time.Duration) error
	// leadMin and leadMax bound the background refresh lead (tests shorten them).
	leadMin, leadMax time.Duration

	file        *CredentialsFile       // nil: not file-backed
	persistOne  func(Credential) error // NewAccountsFromList's Persist
	saveMu      sync.Mutex             // serialises saves
	nextSaveTry time.Time              // under saveMu
	refreshes   sync.WaitGroup         // refresh goroutines
	clients     sync.Map               // proxy setting → *http.Client for refresh calls

	mu     sync.Mutex // guards list, order, sticky, global and every account's limiter
	list   []*Account // file (or store) order
	order  []*Account // pick order: priority, then list order
	sticky map[string]stickyChoice
	global rateLimiter

	// Background hooks: wake is signalled (never blocking) when an
	// account's expiry, state or quota changed or it served a request.
	wake    chan struct{}
	changed atomic.Bool // an expiry, state or quota changed since the background last looked
	usedMu  sync.Mutex
	used    map[*Account]bool
	// watch, when set, is called from Pick at most once a second (the
	// store's change check); watchAt is the last call, in Unix nanoseconds.
	watch   atomic.Pointer[func()]
	watchAt atomic.Int64
}

type stickyChoice struct {
	acct    *Account
	expires time.Time
}

var (
	_ kiro.Accounts = (*Accounts)(nil)
	_ kiro.Account  = (*Account)(nil)
)

// NewAccountsFromFile loads a credentials file (LoadCredentials) and makes a
// pool whose rotated refresh tokens are written back to it, atomically, before
// the new access tokens are used. Machine ids derived for entries that lack
// one are written at once.
func NewAccountsFromFile(path string, opts AccountsOptions) (*Accounts, error) {
	f, err := LoadCredentials(path)
	if err != nil {
		return nil, err
	}
	opts.Persist = nil
	creds := f.Credentials()
	if len(creds) == 0 {
		return nil, fmt.Errorf("%s: no accounts configured", f.Path)
	}
	as, err := newAccounts(creds, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	as.file = f
	if st, err := os.Stat(f.Path); err == nil && st.Mode().Perm()&0o077 != 0 {
		as.log.Warn("credentials file is readable by other users; it will be rewritten with mode 0600",
			"file", f.Path, "mode", st.Mode().Perm().String())
	}
	_ = as.retrySave(true) // derived machine ids; a failure is logged and retried
	return as, nil
}

// NewAccountsFromList makes a pool from credentials held in memory (--demo,
// the account store). Rotated refresh tokens go to opts.Persist, if set.
func NewAccountsFromList(creds []Credential, opts AccountsOptions) (*Accounts, error) {
	if len(creds) == 0 {
		return nil, errors.New("no accounts configured")
	}
	creds, err := checkCredentials(creds)
	if err != nil {
		return nil, err
	}
	as, err := newAccounts(creds, opts)
	if err != nil {
		return nil, err
	}
	_ = as.retrySave(true) // derived machine ids; a failure is logged and retried
	return as, nil
}

// checkCredentials normalizes a copy of creds and checks names are unique.
func checkCredentials(creds []Credential) ([]Credential, error) {
	creds = slices.Clone(creds)
	seen := map[string]bool{}
	for i := range creds {
		if err := creds[i].normalize(); err != nil {
			return nil, fmt.Errorf("account %d (%q): %w", i+1, creds[i].Name, err)
		}
		if creds[i].Name == "" || seen[creds[i].Name] {
			return nil, fmt.Errorf("account %d: name %q is empty or used twice", i+1, creds[i].Name)
		}
		seen[creds[i].Name] = true
	}
	return creds, nil
}

func newAccounts(creds []Credential, opts AccountsOptions) (*Accounts, error) {
	for _, p := range append([]string{opts.Proxy}, credProxies(creds)...) {
		if _, err := proxyFunc(p); err != nil {
			return nil, err
		}
	}
	as := &Accounts{
		hc:          opts.HTTPClient,
		authBase:    opts.AuthBase,
		oidcBase:    opts.OIDCBase,
		userAgent:   opts.UserAgent,
		log:         opts.Logger,
		now:         opts.Now,
		maxRateWait: opts.MaxRateWait,
		sleep:       sleepCtx,
		leadMin:     leadMin,
		leadMax:     leadMax,
		persistOne:  opts.Persist,
		sticky:      map[string]stickyChoice{},
		wake:        make(chan struct{}, 1),
		used:        map[*Account]bool{},
	}
	as.proxy.Store(&opts.Proxy)
	if as.authBase == "" {
		as.authBase = auth.DefaultAuthBase
	}
	if as.userAgent == "" {
		as.userAgent = "kirotray"
	}
	if as.log == nil {
		as.log = slog.Default()
	}
	as.log = as.log.With("component", "accounts")
	if as.now == nil {
		as.now = time.Now
	}
	if as.maxRateWait <= 0 {
		as.maxRateWait = defaultMaxRateWait
	}
	as.global.set(opts.RateLimit)
	for _, c := range creds {
		as.list = append(as.list, as.newAccount(c))
	}
	as.sortLocked()
	return as, nil
}

func credProxies(creds []Credential) []string {
	var ps []string
	for _, c := range creds {
		ps = append(ps, c.Proxy)
	}
	return ps
}

// newAccount makes an Account of c, in the parked state c names.
func (as *Accounts) newAccount(c Credential) *Account {
	a := &Account{pool: as, cred: c, quota: c.Quota, email: c.Email, userID: c.UserID}
	a.name.Store(&c.Name)
	if a.cred.MachineID == "" {
		// Derived once from the first refresh token and stored, so that
		// rotation never changes the fingerprint (protocol.md §2.3).
		seed := firstNonEmpty(c.RefreshToken.Reveal(), c.APIKey.Reveal())
		if c.Follow != "" || seed == "" {
			seed = c.Name
		}
		a.cred.MachineID = kiro.MachineID(seed)
		a.gen++
	}
	if c.Follow != "" {
		a.follow = &ideFollower{path: c.Follow, cli: c.FollowCLI}
	}
	a.limiter.set(c.RateLimit)
	switch c.Parked {
	case StateNeedsSignIn, StateSuspended:
		a.parked, a.parkReason = c.Parked, c.ParkReason
	case StateQuotaExhausted:
		if as.now().Before(c.ParkUntil) {
			a.parked, a.parkReason, a.parkUntil = c.Parked, c.ParkReason, c.ParkUntil
		}
	}
	return a
}

// sortLocked rebuilds the pick order. Call with as.mu held (or before sharing).
func (as *Accounts) sortLocked() {
	as.order = slices.Clone(as.list)
	slices.SortStableFunc(as.order, func(a, b *Account) int { return a.cred.Priority - b.cred.Priority })
}

// accounts returns the current list.
func (as *Accounts) accounts() []*Account {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.list)
}

// Pick implements kiro.Accounts: the conversation's account while it stays
// usable, else the first usable one by priority. With rate limits set, it
// takes an account whose limit lets a request go now, waiting (up to
// MaxRateWait) when every usable account is at its limit or the pool is.
// The error wraps kiro.ErrNoAccount and is a *NoAccountError saying why none
// is usable.
func (as *Accounts) Pick(ctx context.Context, conversationID string, exclude []string) (kiro.Account, error) {
	as.checkWatch()
	var waited time.Duration
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, wait, err := as.pickNow(conversationID, exclude)
		if a != nil || err != nil {
			return a, err
		}
		if waited+wait > as.maxRateWait {
			now := as.now()
			return nil, &NoAccountError{Reason: "request rate limit reached; next slot at " + clockText(now.Add(wait), now), RetryAt: now.Add(wait)}
		}
		if err := as.sleep(ctx, wait); err != nil {
			return nil, err
		}
		waited += wait
	}
}

// pickNow makes one attempt: an account, or how long to wait for a rate
// limit slot, or the error that no account is usable.
func (as *Accounts) pickNow(conversationID string, exclude []string) (*Account, time.Duration, error) {
	now := as.now()
	as.mu.Lock()
	defer as.mu.Unlock()
	if at := as.global.next(now); at.After(now) {
		return nil, at.Sub(now), nil
	}
	usable := func(a *Account) bool {
		if slices.Contains(exclude, a.Name()) {
			return false
		}
		a.checkFollow(now)
		return a.status(now).State == StateActive
	}
	var limited time.Time // earliest slot among usable accounts held back by their own limit
	take := func(a *Account) bool {
		if at := a.limiter.next(now); at.After(now) {
			if limited.IsZero() || at.Before(limited) {
				limited = at
			}
			return false
		}
		a.limiter.take(now)
		as.global.take(now)
		if conversationID != "" {
			as.stick(conversationID, a, now)
		}
		return true
	}
	if conversationID != "" {
		if s, ok := as.sticky[conversationID]; ok && now.Before(s.expires) && usable(s.acct) && take(s.acct) {
			return s.acct, 0, nil
		}
	}
	for _, a := range as.order {
		if usable(a) && take(a) {
			return a, 0, nil
		}
	}
	// Every account is cooling down or parked. A 429 is transient
	// (protocol.md §10.2: never lock an account out for it), so rather than
	// refuse, try the cooling account that recovers first: the Kiro client
	// backs off on it, and with a single account refusing would lock the
	// user out for the whole cooldown. Cooldown only orders the accounts.
	var soonest *Account
	var soonestAt time.Time
	for _, a := range as.order {
		if slices.Contains(exclude, a.Name()) {
			continue
		}
		if st := a.status(now); st.State == StateCooling && st.Reason == reasonRateLimited && (soonest == nil || st.Until.Before(soonestAt)) {
			soonest, soonestAt = a, st.Until
		}
	}
	if soonest != nil && take(soonest) {
		return soonest, 0, nil
	}
	if !limited.IsZero() {
		return nil, limited.Sub(now), nil
	}
	return nil, 0, as.noAccount(now, exclude)
}

// checkWatch calls the watch hook at most once a second.
func (as *Accounts) checkWatch() {
	w := as.watch.Load()
	if w == nil {
		return
	}
	now := time.Now().UnixNano()
	last := as.watchAt.Load()
	if now-last < int64(time.Second) || !as.watchAt.CompareAndSwap(last, now) {
		return
	}
	(*w)()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stick records a conversation's account, keeping the map bounded. Call with as.mu held.
func (as *Accounts) stick(conv string, a *Account, now time.Time) {
	if _, ok := as.sticky[conv]; !ok && len(as.sticky) >= maxSticky {
		for k, s := range as.sticky {
			if !now.Before(s.expires) {
				delete(as.sticky, k)
			}
		}
		if len(as.sticky) >= maxSticky { // all live: drop the one idle longest
			oldest := ""
			for k, s := range as.sticky {
				if oldest == "" || s.expires.Before(as.sticky[oldest].expires) {
					oldest = k
				}
			}
			delete(as.sticky, oldest)
		}
	}
	as.sticky[conv] = stickyChoice{acct: a, expires: now.Add(stickyTTL)}
}

// NoAccountError is Pick's error when no account can serve a request: the
// proxy's own type, so that its handlers can tell a wait (RetryAt set: 429
// with retry-after) from a sign-in problem (401).
type NoAccountError = kiro.NoAccountError

// noAccount explains why no account is usable. Call with as.mu held.
func (as *Accounts) noAccount(now time.Time, exclude []string) *NoAccountError {
	var (
		left    []AccountStatus
		cooling int
		retryAt time.Time
	)
	for _, a := range as.list {
		if slices.Contains(exclude, a.Name()) {
			continue
		}
		st := a.status(now)
		left = append(left, st)
		if st.State == StateCooling {
			cooling++
		}
		if !st.Until.IsZero() && (retryAt.IsZero() || st.Until.Before(retryAt)) {
			retryAt = st.Until
		}
	}
	tried := len(as.list) - len(left)
	e := &NoAccountError{RetryAt: retryAt}
	switch {
	case len(as.list) == 0:
		e.Reason = "no account is enabled"
	case len(left) == 0 && tried == 1:
		e.Reason = "the only account was already tried"
	case len(left) == 0:
		e.Reason = fmt.Sprintf("all %d accounts were already tried", tried)
	case cooling == len(left) && len(left) > 1 && tried == 0:
		e.Reason = fmt.Sprintf("all %d accounts are cooling down until %s", len(left), clockText(retryAt, now))
	default:
		var parts []string
		for _, st := range left {
			parts = append(parts, fmt.Sprintf("account %q %s", st.Name, describe(st, now)))
		}
		if tried > 0 {
			parts = append(parts, fmt.Sprintf("%d already tried", tried))
		}
		e.Reason = strings.Join(parts, "; ")
	}
	return e
}

// describe words a status for NoAccountError: `needs sign-in: …`.
func describe(st AccountStatus, now time.Time) string {
	switch st.State {
	case StateCooling:
		s := "is cooling down until " + clockText(st.Until, now)
		if st.Reason != "" {
			s += " (" + st.Reason + ")"
		}
		return s
	case StateQuotaExhausted:
		return "has used its monthly quota until " + clockText(st.Until, now)
	case StateSuspended:
		return "is suspended: " + st.Reason
	case StateNeedsSignIn:
		return "needs sign-in: " + st.Reason
	}
	return "is " + string(st.State)
}

// clockText formats t for people, in now's location: the time of day when it is
// today, else the date too.
func clockText(t, now time.Time) string {
	t = t.In(now.Location())
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// Snapshot returns every account's status, in list order. No secrets.
func (as *Accounts) Snapshot() []AccountStatus {
	now := as.now()
	list := as.accounts()
	out := make([]AccountStatus, 0, len(list))
	for _, a := range list {
		out = append(out, a.status(now))
	}
	return out
}

// Account returns the pool's account named name, or nil.
func (as *Accounts) Account(name string) *Account {
	for _, a := range as.accounts() {
		if a.Name() == name {
			return a
		}
	}
	return nil
}

// RefreshDue renews every account whose access token expires within 10
// minutes, so requests rarely wait for a refresh, and retries saving rotated
// tokens that could not be written. It starts nothing itself (a Background
// renews tokens on timers instead). The error joins the accounts' failures.
func (as *Accounts) RefreshDue(ctx context.Context) error {
	as.retrySave(true)
	now := as.now()
	var errs []error
	for _, a := range as.accounts() {
		if !a.due(now, refreshAhead) {
			continue
		}
		if _, err := a.token(ctx, false, refreshAhead); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close waits for refreshes in flight (at most the refresh timeout) and makes
// a last attempt to save rotated tokens not yet written. The pool stays usable.
func (as *Accounts) Close() error {
	as.refreshes.Wait()
	err := as.retrySave(true)
	// The refresh clients' idle connections (and their goroutines) end here.
	if as.hc != nil {
		as.hc.CloseIdleConnections()
	}
	as.clients.Range(func(_, c any) bool {
		c.(*http.Client).CloseIdleConnections()
		return true
	})
	return err
}

// Sync brings the pool in line with creds (the account store after a
// change): new accounts join, missing ones leave, and priority, proxy and
// rate limit follow. An account whose credential has a newer SignedInAt
// takes its new tokens and returns to service; one with a newer ResumedAt
// leaves its parked state. Tokens the pool holds are otherwise kept: they
// are newer than any copy outside it.
func (as *Accounts) Sync(creds []Credential) error {
	creds, err := checkCredentials(creds)
	if err != nil {
		return err
	}
	for _, c := range creds {
		if _, err := proxyFunc(c.Proxy); err != nil {
			return fmt.Errorf("account %q: %w", c.Name, err)
		}
	}
	now := as.now()
	as.mu.Lock()
	key := func(id, name string) string {
		if id != "" {
			return "id:" + id
		}
		return "name:" + name
	}
	old := map[string]*Account{}
	for _, a := range as.list {
		old[key(a.cred.ID, a.Name())] = a
	}
	var list []*Account
	for _, c := range creds {
		a := old[key(c.ID, c.Name)]
		if a == nil {
			a = as.newAccount(c)
			as.log.Info("account added", "account", c.Name)
		} else {
			delete(old, key(c.ID, c.Name))
			a.update(c, now)
		}
		list = append(list, a)
	}
	for _, a := range old {
		a.mu.Lock()
		a.removed = true
		a.mu.Unlock()
		as.log.Info("account removed", "account", a.Name())
		for k, s := range as.sticky {
			if s.acct == a {
				delete(as.sticky, k)
			}
		}
	}
	as.list = list
	as.sortLocked()
	as.mu.Unlock()
	as.notify(nil)
	return nil
}

// retrySave saves accounts whose credential changed since their last save;
// unless force, not sooner than saveRetry after a failure. It logs failures.
func (as *Accounts) retrySave(force bool) error {
	as.saveMu.Lock()
	defer as.saveMu.Unlock()
	if !force && as.now().Before(as.nextSaveTry) {
		return nil
	}
	return as.saveLocked()
}

// saveLocked writes what changed: the whole file, or each changed credential
// to persistOne. Call with saveMu held.
func (as *Accounts) saveLocked() error {
	type snap struct {
		a          *Account
		c          Credential
		gen, saved uint64
		removed    bool
	}
	var snaps []snap
	dirty := false
	for _, a := range as.accounts() {
		a.mu.Lock()
		snaps = append(snaps, snap{a, a.cred, a.gen, a.savedGen, a.removed})
		dirty = dirty || (a.gen != a.savedGen && !a.removed)
		a.mu.Unlock()
	}
	if !dirty {
		return nil
	}
	var errs []error
	switch {
	case as.file != nil:
		creds := make([]Credential, len(snaps))
		for i, s := range snaps {
			creds[i] = s.c
		}
		if err := as.file.Save(creds); err != nil {
			errs = append(errs, err)
			break
		}
		for _, s := range snaps {
			s.a.markSaved(s.gen)
		}
	default:
		for _, s := range snaps {
			if s.gen == s.saved || s.removed {
				continue
			}
			if as.persistOne != nil {
				if err := as.persistOne(s.c); err != nil {
					errs = append(errs, fmt.Errorf("account %q: %w", s.c.Name, err))
					continue
				}
			}
			s.a.markSaved(s.gen)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		as.nextSaveTry = as.now().Add(saveRetry)
		as.log.Error("could not save rotated refresh tokens; keeping them in memory and retrying",
			"file", as.filePath(), "err", err)
	}
	return err
}

func (as *Accounts) filePath() string {
	if as.file == nil {
		return ""
	}
	return as.file.Path
}

// tokens is what one renewal produced: a refresh answer, or the IDE file.
func (as *Accounts) renew(ctx context.Context, a *Account, c Credential, now time.Time) (*auth.Tokens, error) {
	if a.follow != nil {
		if c.KeepFresh && !a.follow.cli {
			return as.renewIDE(ctx, a, c, now)
		}
		t, err := a.follow.read(now)
		if err != nil {
			return nil, err
		}
		return followTokens(t, now), nil
	}
	hc := as.clientFor(c.Proxy)
	if c.AuthMethod == AuthIdC {
		base := as.oidcBase
		if base == "" {
			base = auth.OIDCBase(c.Region)
		}
		return auth.RefreshIdC(ctx, hc, base, c.ClientID, c.ClientSecret, c.RefreshToken)
	}
	return auth.RefreshSocial(ctx, hc, as.authBase, c.RefreshToken, as.userAgent)
}

// clientFor returns the HTTP client for refresh calls of an account with
// that proxy setting: the configured client when neither the account nor
// the pool names a proxy.
func (as *Accounts) clientFor(accountProxy string) *http.Client {
	p := accountProxy
	if p == "" {
		p = *as.proxy.Load()
	}
	if p == "" && as.hc != nil {
		return as.hc
	}
	if c, ok := as.clients.Load(p); ok {
		return c.(*http.Client)
	}
	tr, _ := proxyTransport(p) // checked when the pool was made
	c := &http.Client{Timeout: refreshTimeout, Transport: tr}
	v, _ := as.clients.LoadOrStore(p, c)
	return v.(*http.Client)
}

// notify wakes the background (non-blocking): with nil, something changed;
// with an account, it served a request.
func (as *Accounts) notify(used *Account) {
	if used != nil {
		as.usedMu.Lock()
		as.used[used] = true
		as.usedMu.Unlock()
	} else {
		as.changed.Store(true)
	}
	select {
	case as.wake <- struct{}{}:
	default:
	}
}

// takeUsed returns and clears the accounts that served requests since the last call.
func (as *Accounts) takeUsed() []*Account {
	as.usedMu.Lock()
	defer as.usedMu.Unlock()
	out := make([]*Account, 0, len(as.used))
	for a := range as.used {
		out = append(out, a)
	}
	clear(as.used)
	return out
}

// Account is one Kiro login in the pool. It implements kiro.Account and is
// safe for concurrent use.
type Account struct {
	pool   *Accounts
	name   atomic.Pointer[string]
	follow *ideFollower // set for an account that follows the Kiro IDE's login

	limiter rateLimiter // under pool.mu

	mu   sync.Mutex
	cred Credential // what is persisted: refresh token, profile, machine id
	gen  uint64     // bumped whenever cred changes
	// savedGen is the gen last persisted; gen != savedGen means unsaved changes.
	savedGen uint64
	removed  bool // left the pool (Sync): never persisted again

	access      redact.Secret
	expires     time.Time
	refreshedAt time.Time
	lead        time.Duration // how early the background renews this token
	inflight    *flight       // the refresh in progress, shared by all callers

	parked      AccountState // StateNeedsSignIn, StateSuspended, StateQuotaExhausted or ""
	parkReason  string
	parkUntil   time.Time // StateQuotaExhausted only
	parkErr     error     // the refresh error that parked it, if any
	coolUntil   time.Time // after a 429
	coolBackoff time.Duration
	retryAt     time.Time // no refresh before this after a failed one
	retryErr    error     // that failure
	retryWait   time.Duration
	failures    int // non-transient refresh failures in a row

	quota         *Quota
	email, userID string
	lastErr       string
}

type flight struct {
	done chan struct{}
	tok  kiro.Token // set before done closes
	err  error
}

// Name implements kiro.Account.
func (a *Account) Name() string { return *a.name.Load() }

// Token implements kiro.Account: the cached access token unless it expires
// within 5 minutes or force is set; else one shared refresh, whose rotated
// refresh token is persisted before the new access token is returned. A
// forced refresh within 10 s of the last one returns that one's token.
// A parked account's error wraps kiro.ErrNoAccount.
//
// An account following the Kiro IDE never refreshes: "refreshing" reads the
// IDE's file again, which the IDE keeps fresh while it runs.
func (a *Account) Token(ctx context.Context, force bool) (kiro.Token, error) {
	return a.token(ctx, force, renewBefore)
}

// token is Token, renewing tokens that expire within renew.
func (a *Account) token(ctx context.Context, force bool, renew time.Duration) (kiro.Token, error) {
	if err := ctx.Err(); err != nil {
		return kiro.Token{}, err
	}
	a.mu.Lock()
	isKey := a.cred.AuthMethod == AuthAPIKey
	a.mu.Unlock()
	if isKey {
		return a.keyToken()
	}
	p := a.pool
	now := p.now()
	a.checkFollow(now)

	a.mu.Lock()
	if a.gen != a.savedGen && a.inflight == nil { // a rotation not written yet
		a.mu.Unlock()
		_ = p.retrySave(false)
		a.mu.Lock()
	}
	if err := a.parkedErrLocked(now); err != nil {
		a.mu.Unlock()
		return kiro.Token{}, err
	}
	valid := a.access != "" && now.Before(a.expires)
	switch {
	case !force && valid && a.expires.Sub(now) > renew,
		force && valid && now.Sub(a.refreshedAt) < forceDebounce:
		tok := a.tokenLocked()
		a.mu.Unlock()
		return tok, nil
	case a.retryAt.After(now) && a.inflight == nil:
		// A refresh failed a moment ago: do not hammer the auth service.
		// Keep using the old access token while it is still valid.
		if !force && valid {
			tok := a.tokenLocked()
			a.mu.Unlock()
			return tok, nil
		}
		err, at := a.retryErr, a.retryAt
		a.mu.Unlock()
		return kiro.Token{}, fmt.Errorf("account %q: next token refresh at %s: %w", a.Name(), clockText(at, now), err)
	}
	f := a.inflight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		a.inflight = f
		p.refreshes.Add(1)
		go a.refresh(context.WithoutCancel(ctx), f)
	}
	a.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return kiro.Token{}, ctx.Err() // the refresh goes on for the others
	}
	if f.err == nil {
		return f.tok, nil
	}
	var re *auth.RefreshError
	var stale *IDEStaleError
	if !force && (errors.As(f.err, &re) && re.Transient || errors.As(f.err, &stale)) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.access != "" && p.now().Before(a.expires) {
			return a.tokenLocked(), nil // the old one still works
		}
	}
	return kiro.Token{}, f.err
}

// checkFollow notices that the followed IDE file changed (the IDE renewed
// its token or signed in again): the next Token reads it at once.
func (a *Account) checkFollow(now time.Time) {
	if a.follow == nil || !a.follow.changed(now) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight != nil {
		return
	}
	a.expires = time.Time{} // read the file on the next Token
	a.retryAt, a.retryErr, a.retryWait, a.failures = time.Time{}, nil, 0, 0
	if a.parked == StateNeedsSignIn {
		a.parked, a.parkReason, a.parkErr = "", "", nil
		a.pool.log.Info("the Kiro IDE's login changed; trying it", "account", a.Name())
	}
}

// refresh runs one refresh for every caller waiting on f.
func (a *Account) refresh(ctx context.Context, f *flight) {
	p := a.pool
	defer p.refreshes.Done()
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()

	a.mu.Lock()
	cred := a.cred
	a.mu.Unlock()
	toks, err := p.renew(ctx, a, cred, p.now())
	now := p.now()

	if err != nil {
		a.mu.Lock()
		f.err = a.refreshFailedLocked(err, now)
		a.inflight = nil
		a.mu.Unlock()
		close(f.done)
		p.notify(nil)
		return
	}

	// Keep the rotated token before anything else: from here on the old
	// one is spent.
	a.mu.Lock()
	changed := false
	if !a.cred.SignedInAt.Equal(cred.SignedInAt) {
		// The user signed in again while this refresh ran: its tokens
		// replaced the family this answer belongs to.
		f.err = fmt.Errorf("account %q: signed in again during a refresh; retry", a.Name())
		a.inflight = nil
		a.mu.Unlock()
		close(f.done)
		return
	}
	if toks.Refresh != "" && toks.Refresh != a.cred.RefreshToken {
		a.cred.RefreshToken, changed = toks.Refresh, true
	}
	if toks.ProfileARN != "" && toks.ProfileARN != a.cred.ProfileARN {
		a.cred.ProfileARN, changed = toks.ProfileARN, true
	}
	if changed {
		a.gen++
	}
	a.mu.Unlock()

	// Persist before the new access token is used. On failure the token
	// stays in memory, marked unsaved; later calls retry the save.
	if changed {
		p.saveMu.Lock()
		_ = p.saveLocked()
		p.saveMu.Unlock()
	}

	a.mu.Lock()
	a.access, a.expires, a.refreshedAt = toks.Access, now.Add(toks.ExpiresIn), now
	a.lead = p.leadMin + rand.N(p.leadMax-p.leadMin+1)
	a.retryAt, a.retryErr, a.retryWait, a.failures = time.Time{}, nil, 0, 0
	f.tok = a.tokenLocked()
	a.inflight = nil
	a.mu.Unlock()
	close(f.done)
	p.notify(nil)
}

// refreshFailedLocked updates the state after a failed refresh and returns
// the error for the callers. Call with a.mu held.
func (a *Account) refreshFailedLocked(err error, now time.Time) error {
	log := a.pool.log
	var re *auth.RefreshError
	errors.As(err, &re)
	status, code := 0, ""
	if re != nil {
		status, code = re.Status, re.Code
	}
	a.lastErr = err.Error()
	var stale *IDEStaleError
	switch {
	case errors.As(err, &stale):
		// Not a failure of ours: wait for the IDE (or a new sign-in).
		a.retryWait = min(max(2*a.retryWait, retryFirst), retryMax)
		a.retryAt, a.retryErr = now.Add(a.retryWait), err
		log.Warn("waiting for the followed login to be renewed", "account", a.Name(), "expired_at", stale.ExpiredAt, "kiro_cli", stale.KiroCLI)
		return fmt.Errorf("account %q: %w", a.Name(), err)
	case errors.Is(err, ErrIDELoginRejected):
		return a.parkLocked(StateNeedsSignIn, "the Kiro IDE's login was rejected when kirotray renewed it (the IDE or another "+
			"program renewed it elsewhere?): sign in to Kiro again, or sign in with kirotray", err, status, code)
	case errors.Is(err, ErrIDESignedOut):
		return a.parkLocked(StateNeedsSignIn, "the Kiro IDE is signed out: sign in to Kiro again (kirotray follows its login), or sign in with kirotray", err, 0, "")
	case errors.Is(err, ErrKiroCLISignedOut):
		return a.parkLocked(StateNeedsSignIn, "kiro-cli is signed out: run `kiro-cli login` again (kirotray follows its login), or sign in with kirotray", err, 0, "")
	case errors.Is(err, ErrNoSQLite3):
		return a.parkLocked(StateNeedsSignIn, ErrNoSQLite3.Error(), nil, 0, "")
	case errors.Is(err, auth.ErrInvalidGrant):
		return a.parkLocked(StateNeedsSignIn, "refresh token was rejected", err, status, code)
	case errors.Is(err, auth.ErrInvalidClient):
		return a.parkLocked(StateNeedsSignIn, "client registration was rejected or has expired", err, status, code)
	case re != nil && (code == kiro.ReasonSuspended || code == "SUSPENDED"):
		return a.parkLocked(StateSuspended, "account is suspended ("+code+")", err, status, code)
	case re != nil && !re.Transient:
		a.failures++
		if a.failures >= maxRefreshFailures {
			return a.parkLocked(StateNeedsSignIn,
				fmt.Sprintf("token refresh failed %d times in a row (status %d)", a.failures, status), err, status, code)
		}
	}
	a.retryWait = min(max(2*a.retryWait, retryFirst), retryMax)
	a.retryAt, a.retryErr = now.Add(a.retryWait), err
	log.Warn("token refresh failed; keeping the current tokens",
		"account", a.Name(), "status", status, "code", code, "retry_at", a.retryAt, "err", err)
	return fmt.Errorf("account %q: %w", a.Name(), err)
}

// parkLocked takes the account out of service until the user acts.
func (a *Account) parkLocked(st AccountState, reason string, cause error, status int, code string) error {
	a.parked, a.parkReason, a.parkErr, a.parkUntil = st, reason, cause, time.Time{}
	msg := "account needs sign-in"
	if st == StateSuspended {
		msg = "account suspended"
	}
	a.pool.log.Error(msg, "account", a.Name(), "reason", reason, "status", status, "code", code)
	return a.parkedErrLocked(a.pool.now())
}

// parkedErrLocked returns the error Token gives for a parked account, nil if
// it is not parked (or its quota came back).
func (a *Account) parkedErrLocked(now time.Time) error {
	switch a.parked {
	case StateNeedsSignIn, StateSuspended:
		words := "needs sign-in"
		if a.parked == StateSuspended {
			words = "is suspended"
		}
		if a.parkErr != nil {
			return fmt.Errorf("%w: account %q %s: %s (%w)", kiro.ErrNoAccount, a.Name(), words, a.parkReason, a.parkErr)
		}
		return fmt.Errorf("%w: account %q %s: %s", kiro.ErrNoAccount, a.Name(), words, a.parkReason)
	case StateQuotaExhausted:
		if a.liftQuotaLocked(now) {
			return nil
		}
		return fmt.Errorf("%w: account %q has used its monthly quota until %s", kiro.ErrNoAccount, a.Name(), clockText(a.parkUntil, now))
	}
	return nil
}

// liftQuotaLocked ends a quota park whose time is up, reporting whether it did.
func (a *Account) liftQuotaLocked(now time.Time) bool {
	if a.parked != StateQuotaExhausted || now.Before(a.parkUntil) {
		return false
	}
	a.parked, a.parkReason, a.parkUntil = "", "", time.Time{}
	return true
}

func (a *Account) tokenLocked() kiro.Token {
	return kiro.Token{Access: a.access, ProfileARN: a.cred.ProfileARN, MachineID: a.cred.MachineID}
}

func (a *Account) markSaved(gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.savedGen = max(a.savedGen, gen)
}

// due reports whether the access token expires within renew and a refresh
// may run now.
func (a *Account) due(now time.Time, renew time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.access != "" && a.expires.Sub(now) < renew && a.parked == "" && !a.retryAt.After(now) && !a.removed
}

// update applies a newer credential from the store (Sync). Call with pool.mu held.
func (a *Account) update(c Credential, now time.Time) {
	a.limiter.set(c.RateLimit)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Name() != c.Name {
		a.name.Store(&c.Name)
	}
	a.cred.Name, a.cred.Priority, a.cred.Proxy, a.cred.RateLimit = c.Name, c.Priority, c.Proxy, c.RateLimit
	if c.Email != "" {
		a.email = c.Email
	}
	if c.SignedInAt.After(a.cred.SignedInAt) {
		// A new sign-in: its tokens replace ours (which are dead or of an
		// older login), whatever state we were in.
		machine := a.cred.MachineID
		a.cred = c
		a.cred.MachineID = machine
		a.savedGen = a.gen // the store holds exactly this
		a.access, a.expires = "", time.Time{}
		a.unparkLocked()
		a.pool.log.Info("account signed in again", "account", c.Name)
		return
	}
	if c.ResumedAt.After(a.cred.ResumedAt) {
		a.cred.ResumedAt = c.ResumedAt
		a.unparkLocked()
	}
}

func (a *Account) unparkLocked() {
	a.parked, a.parkReason, a.parkErr, a.parkUntil = "", "", nil, time.Time{}
	a.retryAt, a.retryErr, a.retryWait, a.failures = time.Time{}, nil, 0, 0
	a.coolUntil, a.coolBackoff = time.Time{}, 0
}

// Report implements kiro.Account: nil marks the account healthy; a 429 cools
// it down (30 s doubling to 5 min, or the upstream's Retry-After); a 402
// MONTHLY_REQUEST_COUNT parks it until the 1st of next month (UTC) or the
// reset its quota names; a 403 TEMPORARILY_SUSPENDED parks it until the user
// acts. Other errors are not the account's fault and change nothing.
func (a *Account) Report(err error) {
	now := a.pool.now()
	log := a.pool.log
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		if a.parked == StateQuotaExhausted || a.parked == StateSuspended {
			log.Info("account works again", "account", a.Name(), "was", a.parked)
			a.parked, a.parkReason, a.parkUntil, a.parkErr = "", "", time.Time{}, nil
		}
		a.coolUntil, a.coolBackoff = time.Time{}, 0
		a.pool.notify(a)
		return
	}
	var ue *kiro.UpstreamError
	if !errors.As(err, &ue) {
		return
	}
	switch {
	case ue.Status == http.StatusTooManyRequests || ue.Reason == "DAILY_REQUEST_COUNT":
		a.coolBackoff = min(max(2*a.coolBackoff, coolFirst), coolMax)
		d := a.coolBackoff
		if ue.RetryAfter > 0 {
			d = min(ue.RetryAfter, maxRetryAfter)
		}
		a.coolUntil = now.Add(d)
		log.Warn("account rate limited; cooling down", "account", a.Name(), "until", a.coolUntil, "reason", ue.Reason)
	case ue.Reason == kiro.ReasonMonthlyQuota || ue.Reason == "OVERAGE_REQUEST_LIMIT_EXCEEDED" ||
		ue.Status == http.StatusPaymentRequired:
		a.parkQuotaLocked(now, "monthly request quota used up")
		a.lastErr = ue.Error()
	case ue.Reason == kiro.ReasonSuspended || ue.Reason == "SUSPENDED":
		a.parked, a.parkReason, a.parkErr = StateSuspended, "Kiro suspended it ("+ue.Reason+")", nil
		a.lastErr = ue.Error()
		log.Error("account suspended", "account", a.Name(), "status", ue.Status, "reason", ue.Reason)
	case a.cred.AuthMethod == AuthAPIKey && keyRejected(ue):
		// Nothing to refresh: only a new key helps.
		a.lastErr = ue.Error()
		_ = a.parkLocked(StateNeedsSignIn, reasonKeyRejected(ue.Status), nil, ue.Status, ue.Reason)
	default:
		return
	}
	a.pool.notify(nil)
}

// parkQuotaLocked parks the account until its quota resets: the reset date
// of its last quota, else the 1st of next month (UTC).
func (a *Account) parkQuotaLocked(now time.Time, reason string) {
	until := time.Time{}
	if a.quota != nil && a.quota.ResetAt.After(now) {
		until = a.quota.ResetAt.In(now.Location())
	} else {
		y, m, _ := now.UTC().Date()
		until = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).In(now.Location())
	}
	a.parked, a.parkReason, a.parkErr, a.parkUntil = StateQuotaExhausted, reason, nil, until
	a.pool.log.Warn("account quota exhausted", "account", a.Name(), "until", a.parkUntil)
}

// setQuota records a quota reading: an exhausted quota parks the account
// until its reset; room again (overage turned on, a plan upgrade, the
// reset) lifts a quota park.
func (a *Account) setQuota(q *Quota, email, userID string) {
	now := a.pool.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.quota = q
	if email != "" {
		a.email = email
	}
	if userID != "" {
		a.userID = userID
	}
	switch {
	case q.Exhausted() && a.parked == "":
		a.parkQuotaLocked(now, "monthly quota used up (no overage)")
	case !q.Exhausted() && a.parked == StateQuotaExhausted:
		a.pool.log.Info("account has quota again", "account", a.Name())
		a.parked, a.parkReason, a.parkUntil = "", "", time.Time{}
	}
}

// reasonRateLimited is the Reason of a status cooling down after a 429,
// as opposed to after a failed token refresh.
const reasonRateLimited = "rate limited"

// status reports the account's state at now.
func (a *Account) status(now time.Time) AccountStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AccountStatus{
		Name: a.Name(), ID: a.cred.ID, Kind: a.cred.AuthMethod, Priority: a.cred.Priority,
		State: StateActive, ExpiresAt: a.expires, FollowsIDE: a.follow != nil && !a.follow.cli,
		FollowsKiroCLI: a.follow != nil && a.follow.cli, ProfileARN: a.cred.ProfileARN,
		Email: a.email, UserID: a.userID, LastError: a.lastErr, Quota: a.quota,
	}
	a.liftQuotaLocked(now)
	switch {
	case a.parked != "":
		st.State, st.Reason, st.Until = a.parked, a.parkReason, a.parkUntil
	case a.retryAt.After(now) && !(a.access != "" && now.Before(a.expires)):
		st.State, st.Reason, st.Until = StateCooling, "token refresh failed", a.retryAt
		if a.retryErr != nil {
			var stale *IDEStaleError
			if errors.As(a.retryErr, &stale) {
				st.Reason = stale.Error()
			}
		}
	case a.coolUntil.After(now):
		st.State, st.Reason, st.Until = StateCooling, reasonRateLimited, a.coolUntil
	}
	return st
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
