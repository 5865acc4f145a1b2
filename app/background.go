package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
)

// Defaults of BackgroundOptions.
const (
	DefaultQuotaEvery    = 5 * time.Minute // quota poll of every account while running
	DefaultQuotaAfterUse = time.Minute     // at most this often after requests
	// bgMinGap: the background tries one account's refresh at most this
	// often, whatever the outcome (an IDE follower's file may not have
	// changed yet; a failing refresh backs off in the pool anyway).
	bgMinGap = time.Minute
	// storeSyncDelay gathers state changes into one write of the store.
	storeSyncDelay = time.Second
	// quotaTimeout bounds one getUsageLimits call.
	quotaTimeout = 30 * time.Second
)

// BackgroundOptions configures StartBackground. Zero values are defaults.
type BackgroundOptions struct {
	// Client reads quota (getUsageLimits); nil: no quota polling.
	Client *kiro.Client
	// Store receives account states and quota, and is watched for changes
	// made by other processes (kirotray accounts …); nil: neither.
	Store *Store
	// QuotaEvery is how often each account's quota is read; 0 means 5 min.
	QuotaEvery time.Duration
	// QuotaAfterUse: an account that served requests has its quota read
	// again this long after the last read, no sooner; 0 means 1 min.
	QuotaAfterUse time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// OnSync is called after account states were written to Store.
	OnSync func()

	minGap time.Duration // tests: bgMinGap when zero
}

// Background runs the pool's timers: each access token is renewed 5–15
// minutes (drawn per token) before it expires, so requests never wait for
// a refresh; each account's quota is read at start, every QuotaEvery, and
// QuotaAfterUse after it served requests; state changes are written to
// the store; the store is reloaded when another process changed it. One
// goroutine sleeps on a single timer until the next of these is due, or
// until the pool signals a change: there is no polling loop.
type Background struct {
	pool   *Accounts
	o      BackgroundOptions
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	jobs   sync.WaitGroup
	reload chan struct{} // capacity 1: the store file changed
	minGap time.Duration // bgMinGap; tests shorten it

	mu         sync.Mutex // guards the maps below
	tried      map[*Account]time.Time
	quotaAt    map[*Account]time.Time // next quota read
	polledAt   map[*Account]time.Time // last quota read started
	quotaBusy  map[*Account]bool
	refreshing map[*Account]bool
	storeSig   fileSig
}

// StartBackground starts the pool's background work; Stop ends it.
func StartBackground(pool *Accounts, o BackgroundOptions) *Background {
	if o.QuotaEvery <= 0 {
		o.QuotaEvery = DefaultQuotaEvery
	}
	if o.QuotaAfterUse <= 0 {
		o.QuotaAfterUse = DefaultQuotaAfterUse
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.minGap <= 0 {
		o.minGap = bgMinGap
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Background{
		pool: pool, o: o, log: o.Logger.With("component", "background"), cancel: cancel,
		done: make(chan struct{}), reload: make(chan struct{}, 1), minGap: o.minGap,
		tried: map[*Account]time.Time{}, quotaAt: map[*Account]time.Time{}, polledAt: map[*Account]time.Time{},
		quotaBusy: map[*Account]bool{}, refreshing: map[*Account]bool{},
	}
	if o.Store != nil {
		b.storeSig.changed(o.Store.Path()) // the version the pool was built from
		check := b.checkStore
		pool.watch.Store(&check)
	}
	go b.run(ctx)
	return b
}

// Stop ends the background work and waits for calls in flight.
func (b *Background) Stop() {
	b.pool.watch.Store(nil)
	b.cancel()
	<-b.done
	b.jobs.Wait()
	if b.o.Store != nil {
		b.syncStore() // the last states
	}
}

// checkStore runs on requests (at most once a second): one stat of the
// store file, and a reload when another process changed it.
func (b *Background) checkStore() {
	b.mu.Lock()
	changed := b.storeSig.changed(b.o.Store.Path())
	b.mu.Unlock()
	if changed {
		select {
		case b.reload <- struct{}{}:
		default:
		}
	}
}

func (b *Background) run(ctx context.Context) {
	defer close(b.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var syncAt time.Time // a store write is pending for then; zero: none
	for {
		now := b.pool.now()
		next := b.dispatch(ctx, now)
		if !syncAt.IsZero() && !syncAt.After(time.Now()) {
			b.syncStore()
			syncAt = time.Time{}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), 0)
		}
		if !syncAt.IsZero() {
			wait = min(wait, time.Until(syncAt))
		}
		timer.Reset(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-b.pool.wake:
			if b.pool.changed.Swap(false) && b.o.Store != nil && syncAt.IsZero() {
				syncAt = time.Now().Add(storeSyncDelay)
			}
			b.noteUsed(b.pool.now())
		case <-b.reload:
			b.mu.Lock()
			b.storeSig.changed(b.o.Store.Path()) // the version about to be read
			b.mu.Unlock()
			if err := b.pool.SyncFromStore(b.o.Store); err != nil {
				b.log.Error("could not reload the account store", "err", err)
			}
		}
	}
}

// noteUsed schedules a quota read for accounts that served requests:
// QuotaAfterUse after their last read, no sooner.
func (b *Background) noteUsed(now time.Time) {
	if b.o.Client == nil {
		b.pool.takeUsed()
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.pool.takeUsed() {
		at := b.polledAt[a].Add(b.o.QuotaAfterUse)
		if at.Before(now) {
			at = now
		}
		if cur, ok := b.quotaAt[a]; !ok || at.Before(cur) {
			b.quotaAt[a] = at
		}
	}
}

// dispatch starts what is due at now and returns when the next thing is
// (zero: nothing scheduled).
func (b *Background) dispatch(ctx context.Context, now time.Time) time.Time {
	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	list := b.pool.accounts()
	b.mu.Lock()
	defer b.mu.Unlock()
	live := map[*Account]bool{}
	for _, a := range list {
		live[a] = true
		if at := b.refreshAt(a); !at.IsZero() && !b.refreshing[a] {
			if last, ok := b.tried[a]; ok && at.Before(last.Add(b.minGap)) {
				at = last.Add(b.minGap)
			}
			if !at.After(now) {
				b.tried[a] = now
				b.refreshing[a] = true
				b.jobs.Go(func() { b.refresh(ctx, a) })
				at = now.Add(b.minGap)
			}
			soonest(at)
		}
		if b.o.Client == nil {
			continue
		}
		at, ok := b.quotaAt[a]
		if !ok {
			at = now // a new account (or the start): read its quota at once
			b.quotaAt[a] = at
		}
		if !at.After(now) && !b.quotaBusy[a] {
			b.quotaBusy[a] = true
			b.quotaAt[a], b.polledAt[a] = now.Add(b.o.QuotaEvery), now
			b.jobs.Go(func() { b.pollQuota(ctx, a) })
			at = b.quotaAt[a]
		}
		soonest(at)
	}
	for _, m := range []map[*Account]time.Time{b.tried, b.quotaAt, b.polledAt} {
		for a := range m {
			if !live[a] {
				delete(m, a)
			}
		}
	}
	return next
}

// refreshAt is when the background should renew a's token: lead before it
// expires, or when a failed refresh may be retried; zero when a has no
// token yet (its first request or quota read gets one) or is parked.
func (b *Background) refreshAt(a *Account) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.access == "" || a.parked != "" || a.removed || a.inflight != nil {
		return time.Time{}
	}
	at := a.expires.Add(-a.lead)
	if a.retryAt.After(at) {
		at = a.retryAt
	}
	return at
}

func (b *Background) refresh(ctx context.Context, a *Account) {
	defer func() {
		b.mu.Lock()
		delete(b.refreshing, a)
		b.mu.Unlock()
		b.pool.notify(nil) // reschedule from the new expiry
	}()
	a.mu.Lock()
	lead := max(a.lead, time.Minute)
	a.mu.Unlock()
	if _, err := a.token(ctx, false, lead); err != nil && ctx.Err() == nil {
		b.log.Debug("background refresh failed", "account", a.Name(), "err", err)
	}
}

func (b *Background) pollQuota(ctx context.Context, a *Account) {
	defer func() {
		b.mu.Lock()
		delete(b.quotaBusy, a)
		b.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, quotaTimeout)
	defer cancel()
	a.mu.Lock()
	parkedForGood := a.parked == StateNeedsSignIn || a.parked == StateSuspended
	a.mu.Unlock()
	if parkedForGood {
		return
	}
	u, err := b.o.Client.UsageLimits(ctx, a)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Info("could not read the account's quota", "account", a.Name(), "err", err)
		}
		return
	}
	a.setQuota(QuotaFromUsage(u, b.pool.now()), u.Email, u.UserID)
	b.pool.notify(nil)
}

// syncStore writes the pool's states and quota to the store.
func (b *Background) syncStore() {
	path := b.o.Store.Path()
	b.mu.Lock()
	foreign := b.storeSig.changed(path) // changed by someone else since we last looked
	b.mu.Unlock()
	if err := b.o.Store.SyncStatus(b.pool.Snapshot()); err != nil {
		b.log.Warn("could not record account states", "err", err)
	} else if b.o.OnSync != nil {
		b.o.OnSync()
	}
	b.mu.Lock()
	b.storeSig.changed(path) // our own write is no news…
	b.mu.Unlock()
	if foreign { // …but what came before it is
		select {
		case b.reload <- struct{}{}:
		default:
		}
	}
}

// QuotaNow reads every account's quota at once (the UI's "refresh" button,
// `kirotray accounts list --refresh` in a running process).
func (b *Background) QuotaNow() {
	b.mu.Lock()
	now := b.pool.now()
	for a := range b.quotaAt {
		b.quotaAt[a] = now
	}
	b.mu.Unlock()
	b.pool.notify(nil)
}
