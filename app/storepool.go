package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kirotray/kirotray/keychain"
)

// ErrNoStoredAccounts means the account store holds no enabled account.
var ErrNoStoredAccounts = errors.New("no Kiro account is set up")

// NewAccountsFromStore makes the pool of the store's enabled accounts, with
// their secrets from the keychain. Rotated refresh tokens go back to the
// keychain before the new access tokens are used. The store's settings
// (proxy, rate limit) apply unless opts sets them. It returns an error
// wrapping ErrNoStoredAccounts when there is nothing to serve, and a
// *KeychainError when the keychain cannot be read.
func NewAccountsFromStore(s *Store, opts AccountsOptions) (*Accounts, error) {
	d, err := s.Load()
	if err != nil {
		return nil, err
	}
	if opts.Proxy == "" {
		opts.Proxy = d.Settings.Proxy
	}
	if opts.RateLimit.IsZero() {
		opts.RateLimit = d.Settings.RateLimit
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	creds, err := s.credentials(d, nil, log)
	if err != nil {
		return nil, err
	}
	if len(creds) == 0 {
		if len(d.Accounts) > 0 {
			return nil, fmt.Errorf("%w: all %d accounts are disabled or need sign-in (kirotray accounts list)", ErrNoStoredAccounts, len(d.Accounts))
		}
		return nil, ErrNoStoredAccounts
	}
	opts.Persist = s.persist
	return NewAccountsFromList(creds, opts)
}

// credentials turns the store's enabled accounts into the pool's
// credentials. known returns the pool's current credential of an account
// id: its tokens are newer than the keychain's copy, so the keychain is read
// only for accounts the pool lacks or that were signed in again.
func (s *Store) credentials(d *StoreData, known func(id string) (Credential, bool), log *slog.Logger) ([]Credential, error) {
	var creds []Credential
	for _, m := range d.Accounts {
		if !m.Enabled {
			continue
		}
		c := Credential{
			Name: m.Name, ID: m.ID, AuthMethod: m.Kind.authMethod(), ClientID: m.ClientID, Region: m.Region,
			ProfileARN: m.ProfileARN, Priority: m.Priority, MachineID: m.MachineID, SignedInAt: m.signedInAt(),
			ResumedAt: m.ResumedAt, Proxy: m.Proxy, RateLimit: m.RateLimit, Email: m.Email, UserID: m.UserID, Quota: m.Quota,
		}
		switch m.State {
		case StateNeedsSignIn, StateSuspended, StateQuotaExhausted:
			c.Parked, c.ParkReason, c.ParkUntil = m.State, m.StateReason, m.StateUntil
		}
		if m.follows() {
			c.Follow, c.FollowCLI, c.KeepFresh = m.IDEFile, m.Source == SourceKiroCLI, m.KeepFresh && m.Source == SourceIDE
			creds = append(creds, c)
			continue
		}
		if known != nil {
			if k, ok := known(m.ID); ok && !c.SignedInAt.After(k.SignedInAt) {
				c.RefreshToken, c.ClientSecret, c.APIKey = k.RefreshToken, k.ClientSecret, k.APIKey
				creds = append(creds, c)
				continue
			}
		}
		sec, err := s.Secrets(m)
		var kerr *KeychainError
		switch {
		case errors.As(err, &kerr):
			return nil, err
		case errors.Is(err, keychain.ErrNotFound):
			log.Error("account's tokens are missing from the keychain: sign in again", "account", m.Name)
			continue
		case err != nil:
			return nil, fmt.Errorf("account %q: %w", m.Name, err)
		}
		c.RefreshToken, c.ClientSecret, c.APIKey = sec.RefreshToken, sec.ClientSecret, sec.APIKey
		creds = append(creds, c)
	}
	return creds, nil
}

// signedInAt is when the login was made (its creation for old records).
func (m AccountMeta) signedInAt() time.Time {
	if !m.SignedInAt.IsZero() {
		return m.SignedInAt
	}
	return m.CreatedAt
}

// persist is the pool's Persist for store accounts: the rotated refresh
// token to the keychain, then what else changed (profile) to the file.
func (s *Store) persist(c Credential) error {
	if c.ID == "" {
		return nil
	}
	if c.Follow == "" && c.RefreshToken != "" {
		if err := s.SetRefreshToken(c.ID, c.RefreshToken); err != nil {
			return err
		}
	}
	err := s.Update(func(d *StoreData) error {
		a := d.Account(c.ID)
		if a == nil || a.ID != c.ID {
			return nil // removed meanwhile
		}
		if c.ProfileARN != "" {
			a.ProfileARN = c.ProfileARN
		}
		if a.MachineID == "" {
			a.MachineID = c.MachineID
		}
		return nil
	})
	return err
}

// SyncFromStore reloads the store into the pool (Sync): accounts added,
// removed, enabled, disabled, re-prioritised or signed in again by another
// process (`kirotray accounts …`) take effect while serving.
func (as *Accounts) SyncFromStore(s *Store) error {
	d, err := s.Load()
	if err != nil {
		return err
	}
	known := func(id string) (Credential, bool) {
		for _, a := range as.accounts() {
			a.mu.Lock()
			c := a.cred
			a.mu.Unlock()
			if c.ID == id {
				return c, true
			}
		}
		return Credential{}, false
	}
	creds, err := s.credentials(d, known, as.log)
	if err != nil {
		return err
	}
	if _, err := proxyFunc(d.Settings.Proxy); err != nil {
		return err
	}
	as.mu.Lock()
	as.global.set(d.Settings.RateLimit)
	as.mu.Unlock()
	p := d.Settings.Proxy
	as.proxy.Store(&p)
	return as.Sync(creds)
}

// fileSig identifies a file's version cheaply (one stat).
type fileSig struct {
	info os.FileInfo
}

func (f *fileSig) changed(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		changed := f.info != nil
		f.info = nil
		return changed
	}
	if f.info != nil && os.SameFile(st, f.info) && st.ModTime().Equal(f.info.ModTime()) && st.Size() == f.info.Size() {
		return false
	}
	f.info = st
	return true
}

// PoolLock is held by the one process that uses the store's accounts: two
// processes refreshing the same single-use refresh tokens would log each
// other out.
type PoolLock struct {
	l    *fileLock
	once sync.Once
}

// LockPool takes the pool lock of the store's folder, failing at once (with
// the holder's pid) when another kirotray holds it.
func (s *Store) LockPool() (*PoolLock, error) {
	l := lockFor(filepath.Join(s.dir, "pool.lock"))
	if err := l.lock(true); err != nil {
		return nil, fmt.Errorf("another kirotray is already using your Kiro accounts (%w): stop it first, or give this one --credentials FILE", err)
	}
	return &PoolLock{l: l}, nil
}

// Unlock releases the pool lock.
func (p *PoolLock) Unlock() {
	if p != nil {
		p.once.Do(p.l.unlock)
	}
}
