// Package app is kirotray's core without a GUI: the Kiro accounts (the
// credentials file, the pool that picks, fails over, cools down and renews
// tokens with rotation), settings, the proxy's lifecycle and the event hub.
// The tray UI and the command line are its clients; it never imports them.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
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
)

// State is where an account stands, as shown in logs and the UI.
type State string

const (
	StateActive         State = "active"          // usable
	StateCooling        State = "cooling"         // rate limited, or its refresh failed: until Until
	StateQuotaExhausted State = "quota_exhausted" // monthly quota used up: until Until
	StateSuspended      State = "suspended"       // Kiro suspended it: user action needed
	StateNeedsSignIn    State = "needs_signin"    // refresh token dead: sign in again
)

// AccountStatus is one account as logs and the UI see it. It holds no secret.
type AccountStatus struct {
	Name      string
	Kind      AuthMethod
	Priority  int
	State     State
	Reason    string    // why it is not active, for people; empty when active
	Until     time.Time // end of cooling or quota; zero otherwise
	ExpiresAt time.Time // access token expiry; zero before the first refresh
}

// AccountsOptions configures an account pool. Zero values are defaults.
type AccountsOptions struct {
	// HTTPClient makes refresh calls; nil means one with a 30 s timeout.
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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Persist stores an account's credential after its refresh token rotated
	// (NewAccountsFromList only; NewAccountsFromFile writes its file). It runs
	// before the new access token is used. Nil keeps rotated tokens in memory.
	Persist func(Credential) error
}

// Accounts is the pool of Kiro accounts: it picks one per request (priority,
// failover, cooldown, conversation stickiness) and persists rotated refresh
// tokens. It implements kiro.Accounts and is safe for concurrent use. It
// starts no goroutine of its own; refreshes run in short-lived goroutines
// that Close waits for.
type Accounts struct {
	list  []*Account // file order
	order []*Account // pick order: priority, then file order

	hc        *http.Client
	authBase  string
	oidcBase  string
	userAgent string
	log       *slog.Logger
	now       func() time.Time

	file        *CredentialsFile        // nil: not file-backed
	persistOne  func(Credential) error  // NewAccountsFromList's Persist
	saveMu      sync.Mutex              // serialises saves
	nextSaveTry time.Time               // under saveMu
	refreshes   sync.WaitGroup          // refresh goroutines
	mu          sync.Mutex              // guards sticky
	sticky      map[string]stickyChoice // conversation id → account
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
	as, err := newAccounts(f.Credentials(), opts)
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
// keychain accounts). Rotated refresh tokens go to opts.Persist, if set.
func NewAccountsFromList(creds []Credential, opts AccountsOptions) (*Accounts, error) {
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
	as, err := newAccounts(creds, opts)
	if err != nil {
		return nil, err
	}
	_ = as.retrySave(true) // derived machine ids; a failure is logged and retried
	return as, nil
}

func newAccounts(creds []Credential, opts AccountsOptions) (*Accounts, error) {
	if len(creds) == 0 {
		return nil, errors.New("no accounts configured")
	}
	as := &Accounts{
		hc:         opts.HTTPClient,
		authBase:   opts.AuthBase,
		oidcBase:   opts.OIDCBase,
		userAgent:  opts.UserAgent,
		log:        opts.Logger,
		now:        opts.Now,
		persistOne: opts.Persist,
		sticky:     map[string]stickyChoice{},
	}
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
	for _, c := range creds {
		a := &Account{pool: as, name: c.Name, cred: c}
		if a.cred.MachineID == "" {
			// Derived once from the first refresh token and stored, so that
			// rotation never changes the fingerprint (protocol.md §2.3).
			a.cred.MachineID = kiro.MachineID(c.RefreshToken.Reveal())
			a.gen++
		}
		as.list = append(as.list, a)
	}
	as.order = slices.Clone(as.list)
	slices.SortStableFunc(as.order, func(a, b *Account) int { return a.cred.Priority - b.cred.Priority })
	return as, nil
}

// Pick implements kiro.Accounts: the conversation's account while it stays
// usable, else the first usable one by priority. The error wraps
// kiro.ErrNoAccount and is a *NoAccountError saying why none is usable.
func (as *Accounts) Pick(ctx context.Context, conversationID string, exclude []string) (kiro.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := as.now()
	as.mu.Lock()
	defer as.mu.Unlock()
	if conversationID != "" {
		if s, ok := as.sticky[conversationID]; ok && now.Before(s.expires) &&
			!slices.Contains(exclude, s.acct.Name()) && s.acct.status(now).State == StateActive {
			as.stick(conversationID, s.acct, now)
			return s.acct, nil
		}
	}
	for _, a := range as.order {
		if !slices.Contains(exclude, a.name) && a.status(now).State == StateActive {
			if conversationID != "" {
				as.stick(conversationID, a, now)
			}
			return a, nil
		}
	}
	return nil, as.noAccount(now, exclude)
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

// NoAccountError is Pick's error when no account can serve a request.
type NoAccountError struct {
	// Reason says why, for people: "all 2 accounts are cooling down until 12:03:10".
	Reason string
	// RetryAt is when the first account becomes usable again by itself; zero
	// when none will (sign-in or user action needed).
	RetryAt time.Time
}

func (e *NoAccountError) Error() string { return kiro.ErrNoAccount.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, kiro.ErrNoAccount) hold.
func (e *NoAccountError) Unwrap() error { return kiro.ErrNoAccount }

func (as *Accounts) noAccount(now time.Time, exclude []string) *NoAccountError {
	var (
		left    []AccountStatus
		cooling int
		retryAt time.Time
	)
	for _, a := range as.list {
		if slices.Contains(exclude, a.name) {
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

// Snapshot returns every account's status, in file order. No secrets.
func (as *Accounts) Snapshot() []AccountStatus {
	now := as.now()
	out := make([]AccountStatus, 0, len(as.list))
	for _, a := range as.list {
		out = append(out, a.status(now))
	}
	return out
}

// RefreshDue renews every account whose access token expires within 10
// minutes, so requests rarely wait for a refresh, and retries saving rotated
// tokens that could not be written. A background loop calls it about once a
// minute; it starts nothing itself. The error joins the accounts' failures.
func (as *Accounts) RefreshDue(ctx context.Context) error {
	as.retrySave(true)
	now := as.now()
	var errs []error
	for _, a := range as.list {
		a.mu.Lock()
		due := a.access != "" && a.expires.Sub(now) < refreshAhead && a.parked == "" && !a.retryAt.After(now)
		a.mu.Unlock()
		if !due {
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
	return as.retrySave(true)
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
	}
	var snaps []snap
	dirty := false
	for _, a := range as.list {
		a.mu.Lock()
		snaps = append(snaps, snap{a, a.cred, a.gen, a.savedGen})
		dirty = dirty || a.gen != a.savedGen
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
			if s.gen == s.saved {
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

func (as *Accounts) renew(ctx context.Context, c Credential) (*auth.Tokens, error) {
	if c.AuthMethod == AuthIdC {
		base := as.oidcBase
		if base == "" {
			base = auth.OIDCBase(c.Region)
		}
		return auth.RefreshIdC(ctx, as.hc, base, c.ClientID, c.ClientSecret, c.RefreshToken)
	}
	return auth.RefreshSocial(ctx, as.hc, as.authBase, c.RefreshToken, as.userAgent)
}

// Account is one Kiro login in the pool. It implements kiro.Account and is
// safe for concurrent use.
type Account struct {
	pool *Accounts
	name string // cred.Name, which never changes

	mu   sync.Mutex
	cred Credential // what is persisted: refresh token, profile, machine id
	gen  uint64     // bumped whenever cred changes
	// savedGen is the gen last persisted; gen != savedGen means unsaved changes.
	savedGen uint64

	access      redact.Secret
	expires     time.Time
	refreshedAt time.Time
	inflight    *flight // the refresh in progress, shared by all callers

	parked      State // StateNeedsSignIn, StateSuspended, StateQuotaExhausted or ""
	parkReason  string
	parkUntil   time.Time // StateQuotaExhausted only
	parkErr     error     // the refresh error that parked it, if any
	coolUntil   time.Time // after a 429
	coolBackoff time.Duration
	retryAt     time.Time // no refresh before this after a failed one
	retryErr    error     // that failure
	retryWait   time.Duration
	failures    int // non-transient refresh failures in a row
}

type flight struct {
	done chan struct{}
	tok  kiro.Token // set before done closes
	err  error
}

// Name implements kiro.Account.
func (a *Account) Name() string { return a.name }

// Token implements kiro.Account: the cached access token unless it expires
// within 5 minutes or force is set; else one shared refresh, whose rotated
// refresh token is persisted before the new access token is returned. A
// forced refresh within 10 s of the last one returns that one's token.
// A parked account's error wraps kiro.ErrNoAccount.
func (a *Account) Token(ctx context.Context, force bool) (kiro.Token, error) {
	return a.token(ctx, force, renewBefore)
}

// token is Token, renewing tokens that expire within renew.
func (a *Account) token(ctx context.Context, force bool, renew time.Duration) (kiro.Token, error) {
	if err := ctx.Err(); err != nil {
		return kiro.Token{}, err
	}
	p := a.pool
	now := p.now()

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
		return kiro.Token{}, fmt.Errorf("account %q: next token refresh at %s: %w", a.name, clockText(at, now), err)
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
	if !force && errors.As(f.err, &re) && re.Transient {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.access != "" && p.now().Before(a.expires) {
			return a.tokenLocked(), nil // the old one still works
		}
	}
	return kiro.Token{}, f.err
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
	toks, err := p.renew(ctx, cred)
	now := p.now()

	if err != nil {
		a.mu.Lock()
		f.err = a.refreshFailedLocked(err, now)
		a.inflight = nil
		a.mu.Unlock()
		close(f.done)
		return
	}

	// Keep the rotated token before anything else: from here on the old
	// one is spent.
	a.mu.Lock()
	changed := false
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
	a.retryAt, a.retryErr, a.retryWait, a.failures = time.Time{}, nil, 0, 0
	f.tok = a.tokenLocked()
	a.inflight = nil
	a.mu.Unlock()
	close(f.done)
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
	switch {
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
		"account", a.name, "status", status, "code", code, "retry_at", a.retryAt, "err", err)
	return fmt.Errorf("account %q: %w", a.name, err)
}

// parkLocked takes the account out of service until the user acts.
func (a *Account) parkLocked(st State, reason string, cause error, status int, code string) error {
	a.parked, a.parkReason, a.parkErr, a.parkUntil = st, reason, cause, time.Time{}
	msg := "account needs sign-in"
	if st == StateSuspended {
		msg = "account suspended"
	}
	a.pool.log.Error(msg, "account", a.name, "reason", reason, "status", status, "code", code)
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
			return fmt.Errorf("%w: account %q %s: %s (%w)", kiro.ErrNoAccount, a.name, words, a.parkReason, a.parkErr)
		}
		return fmt.Errorf("%w: account %q %s: %s", kiro.ErrNoAccount, a.name, words, a.parkReason)
	case StateQuotaExhausted:
		if a.liftQuotaLocked(now) {
			return nil
		}
		return fmt.Errorf("%w: account %q has used its monthly quota until %s", kiro.ErrNoAccount, a.name, clockText(a.parkUntil, now))
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

// Report implements kiro.Account: nil marks the account healthy; a 429 cools
// it down (30 s doubling to 5 min, or the upstream's Retry-After); a 402
// MONTHLY_REQUEST_COUNT parks it until the 1st of next month (UTC); a 403
// TEMPORARILY_SUSPENDED parks it until the user acts. Other errors are not
// the account's fault and change nothing.
func (a *Account) Report(err error) {
	now := a.pool.now()
	log := a.pool.log
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		if a.parked == StateQuotaExhausted || a.parked == StateSuspended {
			log.Info("account works again", "account", a.name, "was", a.parked)
			a.parked, a.parkReason, a.parkUntil, a.parkErr = "", "", time.Time{}, nil
		}
		a.coolUntil, a.coolBackoff = time.Time{}, 0
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
		log.Warn("account rate limited; cooling down", "account", a.name, "until", a.coolUntil, "reason", ue.Reason)
	case ue.Reason == kiro.ReasonMonthlyQuota || ue.Reason == "OVERAGE_REQUEST_LIMIT_EXCEEDED" ||
		ue.Status == http.StatusPaymentRequired:
		y, m, _ := now.UTC().Date()
		a.parked, a.parkReason, a.parkErr = StateQuotaExhausted, "monthly request quota used up", nil
		a.parkUntil = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).In(now.Location())
		log.Warn("account quota exhausted", "account", a.name, "until", a.parkUntil)
	case ue.Reason == kiro.ReasonSuspended || ue.Reason == "SUSPENDED":
		a.parked, a.parkReason, a.parkErr = StateSuspended, "Kiro suspended it ("+ue.Reason+")", nil
		log.Error("account suspended", "account", a.name, "status", ue.Status, "reason", ue.Reason)
	}
}

// status reports the account's state at now.
func (a *Account) status(now time.Time) AccountStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AccountStatus{
		Name: a.cred.Name, Kind: a.cred.AuthMethod, Priority: a.cred.Priority,
		State: StateActive, ExpiresAt: a.expires,
	}
	a.liftQuotaLocked(now)
	switch {
	case a.parked != "":
		st.State, st.Reason, st.Until = a.parked, a.parkReason, a.parkUntil
	case a.retryAt.After(now) && !(a.access != "" && now.Before(a.expires)):
		st.State, st.Reason, st.Until = StateCooling, "token refresh failed", a.retryAt
	case a.coolUntil.After(now):
		st.State, st.Reason, st.Until = StateCooling, "rate limited", a.coolUntil
	}
	return st
}
