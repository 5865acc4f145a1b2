package app

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/redact"
)

// The account store: what kirotray knows about each Kiro login, in
// accounts.json in the config folder, and the login's secrets in the OS
// keychain. The file never holds a secret; the keychain holds nothing else.

// AccountKind is the kind of login an account is.
type AccountKind string

const (
	KindSocial    AccountKind = "social"     // Google or GitHub, renewed at Kiro's auth service
	KindIdC       AccountKind = "idc"        // IAM Identity Center (an organisation), renewed at AWS SSO-OIDC
	KindBuilderID AccountKind = "builder-id" // AWS Builder ID, renewed at AWS SSO-OIDC in us-east-1
	KindAPIKey    AccountKind = "api-key"    // a Kiro API key (ksk_…): nothing to renew (auth.md §9)
)

// authMethod maps a kind to how its tokens are renewed.
func (k AccountKind) authMethod() AuthMethod {
	switch k {
	case KindSocial:
		return AuthSocial
	case KindAPIKey:
		return AuthAPIKey
	}
	return AuthIdC
}

// Where an account came from (AccountMeta.Source).
const (
	SourceSignIn = "signin" // kirotray's own sign-in: its tokens belong to kirotray alone
	SourceImport = "import" // imported from a file or pasted
	SourceIDE    = "ide"    // follows the Kiro IDE's login, read-only (auth.md §2.4)
	// SourceKiroCLI follows kiro-cli's login, read-only, like SourceIDE;
	// IDEFile then names kiro-cli's SQLite database.
	SourceKiroCLI = "kiro-cli"
)

// follows reports an account that uses another program's login and keeps
// no token of its own.
func (m AccountMeta) follows() bool { return m.Source == SourceIDE || m.Source == SourceKiroCLI }

// AccountMeta is one account as accounts.json keeps it: everything but its
// secrets. Names are unique; ID never changes and keys the keychain items.
type AccountMeta struct {
	ID       string      `json:"id"`
	Name     string      `json:"name"`
	Kind     AccountKind `json:"kind"`
	Provider string      `json:"provider,omitempty"` // Google, Github, BuilderId, Enterprise
	Source   string      `json:"source,omitempty"`   // SourceSignIn, SourceImport or SourceIDE
	// IDEFile is the Kiro IDE token file an IDE account follows (kiro-cli's
	// database for SourceKiroCLI).
	IDEFile string `json:"ideFile,omitempty"`
	// KeepFresh: kirotray renews the followed IDE login itself when the IDE
	// has not, writing the new tokens back to its file (auth.md §2.4
	// strategy B, opt-in). IDE accounts only.
	KeepFresh bool `json:"keepFresh,omitempty"`
	// Region is the OIDC region of an IdC / Builder ID login.
	Region   string `json:"region,omitempty"`
	StartURL string `json:"startUrl,omitempty"`
	// ClientID is the OIDC client the refresh token was issued to (IdC);
	// its secret is in the keychain. ClientExpiresAt is when that client
	// registration expires (a new sign-in is needed then).
	ClientID        string    `json:"clientId,omitempty"`
	ClientExpiresAt time.Time `json:"clientExpiresAt,omitzero"`
	ProfileARN      string    `json:"profileArn,omitempty"`
	Email           string    `json:"email,omitempty"`
	UserID          string    `json:"userId,omitempty"`
	// MachineID is the 64-hex id of the user agents, fixed when the account
	// is added so that rotation never changes it.
	MachineID string `json:"machineId"`
	Priority  int    `json:"priority"` // lower is tried first
	Enabled   bool   `json:"enabled"`
	// State, StateReason and StateUntil are the pool's last word on the
	// account (empty when active); LastError is the last failure seen.
	State       AccountState `json:"state,omitempty"`
	StateReason string       `json:"stateReason,omitempty"`
	StateUntil  time.Time    `json:"stateUntil,omitzero"`
	LastError   string       `json:"lastError,omitempty"`
	Quota       *Quota       `json:"quota,omitempty"`
	// Proxy is the account's outbound proxy (http://, https://, socks5://),
	// "direct" for none; empty means the store's global setting.
	Proxy     string    `json:"proxy,omitempty"`
	RateLimit RateLimit `json:"rateLimit,omitzero"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// SignedInAt is when the tokens in the keychain were obtained (sign-in
	// or import); a running pool adopts tokens newer than its own.
	SignedInAt time.Time `json:"signedInAt,omitzero"`
	// ResumedAt is when the user last enabled the account: a running pool
	// lifts a parked state older than that.
	ResumedAt time.Time `json:"resumedAt,omitzero"`
}

// Settings apply to the whole pool.
type Settings struct {
	// Proxy is the outbound proxy for every account without its own; empty
	// means the environment's (HTTPS_PROXY, NO_PROXY), "direct" none.
	Proxy string `json:"proxy,omitempty"`
	// RateLimit bounds requests across all accounts; zero means no limit.
	RateLimit RateLimit `json:"rateLimit,omitzero"`
}

// StoreData is the content of accounts.json.
type StoreData struct {
	Version  int           `json:"version"`
	Settings Settings      `json:"settings,omitzero"`
	Accounts []AccountMeta `json:"accounts"`
}

// Account returns the account named name (or with that id), if any.
func (d *StoreData) Account(name string) *AccountMeta {
	for i := range d.Accounts {
		if d.Accounts[i].Name == name {
			return &d.Accounts[i]
		}
	}
	for i := range d.Accounts {
		if d.Accounts[i].ID == name {
			return &d.Accounts[i]
		}
	}
	return nil
}

const (
	storeVersion   = 1
	storeFile      = "accounts.json"
	maxStoreSize   = 8 << 20
	secretRefresh  = "refresh" // keychain item: the refresh token
	secretClient   = "client"  // keychain item: the OIDC client secret (large: chunked)
	secretAPIKey   = "apikey"  // keychain item: a Kiro API key
	backupSuffix   = ".bak"
	corruptSuffix  = ".corrupt-"
	lockFileSuffix = ".lock"
)

// ErrNoSuchAccount is returned for a name no account has.
var ErrNoSuchAccount = errors.New("no such account")

// KeychainError says that the OS keychain cannot be used, and what to do.
type KeychainError struct{ Err error }

func (e *KeychainError) Error() string {
	return "the OS keychain is not available (" + e.Err.Error() + ").\n" +
		"kirotray keeps Kiro tokens only in the OS keychain. On Linux that needs a Secret Service on the\n" +
		"session D-Bus (GNOME Keyring, KeePassXC, KWallet) with an unlocked collection; a headless box\n" +
		"usually has none. Either start one and unlock it, or keep the account in a file you name:\n" +
		"  kirotray accounts login … --credentials FILE   (or: kirotray accounts import SRC --credentials FILE)\n" +
		"  kirotray serve --credentials FILE\n" +
		"That file holds the tokens in plain text (mode 0600): keep it private."
}

func (e *KeychainError) Unwrap() error { return e.Err }

// CheckKeychain makes sure kc can hold secrets before a person spends time
// on a sign-in: an unusable keychain is a *KeychainError.
func CheckKeychain(kc keychain.Store) error {
	_, err := kc.Get("kirotray/probe")
	if err == nil || errors.Is(err, keychain.ErrNotFound) {
		return nil
	}
	return &KeychainError{Err: err}
}

func keychainErr(err error) error {
	if errors.Is(err, keychain.ErrUnavailable) {
		return &KeychainError{Err: err}
	}
	return err
}

// Store is the account store in a config folder. It is safe for concurrent
// use, and between processes: every change is a read-modify-write under a
// lock file, so `kirotray accounts …` can run while the proxy serves.
//
// Every change first copies the current file to accounts.json.bak, then
// replaces accounts.json atomically (WriteFileAtomic): a crash or a bad
// write never loses the list, and a damaged file is recovered from the copy.
type Store struct {
	dir  string
	path string
	kc   keychain.Store
	lock *fileLock
	now  func() time.Time
}

// OpenStore opens (creating the folder, mode 0700) the account store in dir,
// with secrets in kc.
func OpenStore(dir string, kc keychain.Store) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("account store: %w", err)
	}
	abs, err := filepath.Abs(filepath.Join(dir, storeFile))
	if err != nil {
		return nil, fmt.Errorf("account store: %w", err)
	}
	return &Store{dir: filepath.Dir(abs), path: abs, kc: kc, lock: lockFor(abs + lockFileSuffix), now: time.Now}, nil
}

// Path is accounts.json's path.
func (s *Store) Path() string { return s.path }

// Load returns the store's content (empty when there is no file yet).
func (s *Store) Load() (*StoreData, error) {
	if err := s.lock.lock(false); err != nil {
		return nil, fmt.Errorf("account store: %w", err)
	}
	defer s.lock.unlock()
	d, _, err := s.readLocked()
	return d, err
}

// readLocked reads accounts.json, falling back to the backup when it is
// missing or damaged; recovered reports that fallback.
func (s *Store) readLocked() (d *StoreData, recovered bool, err error) {
	d, err = readStore(s.path)
	if err == nil {
		return d, false, nil
	}
	bak, berr := readStore(s.path + backupSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist) && errors.Is(berr, fs.ErrNotExist):
		return &StoreData{Version: storeVersion}, false, nil
	case berr == nil:
		return bak, true, nil
	}
	return nil, false, fmt.Errorf("account store %s: %w (and its backup: %v)", s.path, err, berr)
}

func readStore(path string) (*StoreData, error) {
	data, err := readLimited(path, maxStoreSize)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var d StoreData
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if d.Version > storeVersion {
		return nil, fmt.Errorf("written by a newer kirotray (version %d)", d.Version)
	}
	return &d, nil
}

// Update changes the store: fn gets the current content and edits it in
// place; if it returns nil, the result is written (after a backup of the
// previous file). An error from fn leaves the store as it was.
func (s *Store) Update(fn func(d *StoreData) error) error {
	if err := s.lock.lock(false); err != nil {
		return fmt.Errorf("account store: %w", err)
	}
	defer s.lock.unlock()
	d, recovered, err := s.readLocked()
	if err != nil {
		return err
	}
	before, _ := json.Marshal(d)
	if err := fn(d); err != nil {
		return err
	}
	if err := checkNames(d.Accounts); err != nil {
		return err
	}
	after, _ := json.Marshal(d)
	if bytes.Equal(before, after) && !recovered {
		return nil
	}
	return s.writeLocked(d, recovered)
}

func checkNames(as []AccountMeta) error {
	seen := map[string]bool{}
	for _, a := range as {
		if err := validName(a.Name); err != nil {
			return err
		}
		if seen[a.Name] {
			return fmt.Errorf("two accounts are named %q", a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// validName accepts names people can type as one shell word.
func validName(n string) error {
	if n == "" || len(n) > 64 {
		return fmt.Errorf("account name %q: want 1 to 64 characters", n)
	}
	for _, r := range n {
		if r <= ' ' || r == '/' || r == '\\' || r == '"' || r == '\'' || r == 0x7f {
			return fmt.Errorf("account name %q: no spaces, quotes or slashes", n)
		}
	}
	return nil
}

func (s *Store) writeLocked(d *StoreData, recovered bool) error {
	d.Version = storeVersion
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("account store: %w", err)
	}
	data = append(data, '\n')
	// Keep the previous good copy: the current file, unless it is the
	// damaged one we recovered from (then the backup already is that copy,
	// and the damaged file is kept aside for a person to look at).
	if recovered {
		if _, err := os.Stat(s.path); err == nil {
			_ = os.Rename(s.path, s.path+corruptSuffix+s.now().UTC().Format("20060102T150405Z"))
		}
	} else if prev, err := readLimited(s.path, maxStoreSize); err == nil {
		if err := WriteFileAtomic(s.path+backupSuffix, prev, 0o600); err != nil {
			return fmt.Errorf("account store: backup: %w", err)
		}
	}
	if err := WriteFileAtomic(s.path, data, 0o600); err != nil {
		return fmt.Errorf("account store: %w", err)
	}
	return nil
}

// Secrets of an account, as kept in the keychain.
type Secrets struct {
	RefreshToken redact.Secret
	ClientSecret redact.Secret // IdC only
	APIKey       redact.Secret // API-key accounts only (then RefreshToken is empty)
}

func secretID(accountID, item string) string { return "account/" + accountID + "/" + item }

// Secrets reads an account's secrets from the keychain. A missing refresh
// token is an error wrapping keychain.ErrNotFound; an unusable keychain a
// *KeychainError.
func (s *Store) Secrets(m AccountMeta) (Secrets, error) {
	var out Secrets
	if m.follows() {
		return out, nil // follows the IDE's file: kirotray keeps no token of it
	}
	if m.Kind == KindAPIKey {
		k, err := s.kc.Get(secretID(m.ID, secretAPIKey))
		out.APIKey = redact.Secret(k)
		return out, keychainErr(err)
	}
	rt, err := s.kc.Get(secretID(m.ID, secretRefresh))
	if err != nil {
		return out, keychainErr(err)
	}
	out.RefreshToken = redact.Secret(rt)
	if m.Kind.authMethod() == AuthIdC {
		cs, err := s.kc.Get(secretID(m.ID, secretClient))
		if err != nil {
			return out, keychainErr(err)
		}
		out.ClientSecret = redact.Secret(cs)
	}
	return out, nil
}

// SetRefreshToken stores an account's rotated refresh token. It is what the
// pool calls after every refresh, before the new access token is used.
func (s *Store) SetRefreshToken(accountID string, rt redact.Secret) error {
	return keychainErr(s.kc.Set(secretID(accountID, secretRefresh), rt.Reveal()))
}

func (s *Store) setSecrets(accountID string, sec Secrets) error {
	if sec.APIKey != "" {
		if err := s.kc.Set(secretID(accountID, secretAPIKey), sec.APIKey.Reveal()); err != nil {
			return keychainErr(err)
		}
	}
	if sec.ClientSecret != "" {
		if err := s.kc.Set(secretID(accountID, secretClient), sec.ClientSecret.Reveal()); err != nil {
			return keychainErr(err)
		}
	}
	if sec.RefreshToken != "" {
		if err := s.kc.Set(secretID(accountID, secretRefresh), sec.RefreshToken.Reveal()); err != nil {
			return keychainErr(err)
		}
	}
	return nil
}

// deleteSecrets removes an account's keychain items; missing ones are fine.
func (s *Store) deleteSecrets(accountID string) error {
	var errs []error
	for _, item := range []string{secretRefresh, secretClient, secretAPIKey} {
		if err := s.kc.Delete(secretID(accountID, item)); err != nil && !errors.Is(err, keychain.ErrNotFound) {
			errs = append(errs, keychainErr(err))
		}
	}
	return errors.Join(errs...)
}

// dropUnused deletes the keychain items an account of m's kind does not use
// (a login that became an API key, or now follows the IDE).
func (s *Store) dropUnused(m AccountMeta) {
	keep := map[string]bool{}
	switch {
	case m.follows():
	case m.Kind == KindAPIKey:
		keep[secretAPIKey] = true
	default:
		keep[secretRefresh] = true
		keep[secretClient] = m.Kind.authMethod() == AuthIdC
	}
	for _, item := range []string{secretRefresh, secretClient, secretAPIKey} {
		if !keep[item] {
			_ = s.kc.Delete(secretID(m.ID, item))
		}
	}
}

// AddResult says what Add did.
type AddResult struct {
	Meta     AccountMeta
	Replaced bool // an existing account (same name or same login) got the new tokens
}

// Add stores a login: its secrets in the keychain first, then its metadata.
// An account with the same name, or the same e-mail and kind, is the same
// login signed in again: it keeps its id, name, priority and settings, gets
// the new tokens, and returns to service. Otherwise a new account is made,
// named m.Name or, when empty, after its e-mail or kind.
func (s *Store) Add(m AccountMeta, sec Secrets) (AddResult, error) {
	if m.Kind == "" {
		m.Kind = KindSocial
	}
	switch {
	case m.Kind == KindAPIKey && (m.follows() || sec.APIKey == ""):
		return AddResult{}, errors.New("no API key to store")
	case m.Kind != KindAPIKey && !m.follows() && sec.RefreshToken == "":
		return AddResult{}, errors.New("no refresh token to store")
	}
	if m.Kind.authMethod() == AuthIdC && !m.follows() && (m.ClientID == "" || sec.ClientSecret == "") {
		return AddResult{}, fmt.Errorf("a %s login needs its OIDC client id and secret", m.Kind)
	}
	if m.Name != "" {
		if err := validName(m.Name); err != nil {
			return AddResult{}, err
		}
	}
	// Store the secrets before the record that points at them, and outside
	// the store lock: keychain calls may wait for an unlock prompt.
	d, err := s.Load()
	if err != nil {
		return AddResult{}, err
	}
	id, existed := newAccountID(), false
	if old := sameLogin(d, m); old != nil {
		id, existed = old.ID, true
	}
	if err := s.setSecrets(id, sec); err != nil {
		return AddResult{}, err
	}
	now := s.now().UTC()
	var res AddResult
	err = s.Update(func(d *StoreData) error {
		if old := sameLogin(d, m); old != nil {
			res.Replaced = true
			res.Meta = mergeLogin(*old, m, now)
			*old = res.Meta
			return nil
		}
		res.Replaced = false
		m.ID = id
		if d.Account(id) != nil {
			m.ID = newAccountID() // never share an id
		}
		m.Name = uniqueName(d, m)
		if m.MachineID == "" {
			seed := firstNonEmpty(sec.RefreshToken.Reveal(), sec.APIKey.Reveal())
			if seed == "" {
				seed = m.ID
			}
			m.MachineID = kiro.MachineID(seed)
		}
		m.Enabled = true
		m.State, m.StateReason, m.StateUntil, m.LastError = "", "", time.Time{}, ""
		m.CreatedAt, m.UpdatedAt, m.SignedInAt = now, now, now
		if m.Priority == 0 && len(d.Accounts) > 0 {
			m.Priority = maxPriority(d) + 1 // new accounts go last
		}
		d.Accounts = append(d.Accounts, m)
		res.Meta = m
		return nil
	})
	if err != nil {
		if !existed {
			_ = s.deleteSecrets(id)
		}
		return AddResult{}, err
	}
	if res.Replaced {
		s.dropUnused(res.Meta)
	}
	if res.Meta.ID != id { // the store changed between Load and Update
		if err := s.setSecrets(res.Meta.ID, sec); err != nil {
			return AddResult{}, err
		}
		if !existed {
			_ = s.deleteSecrets(id)
		}
	}
	return res, nil
}

// sameLogin finds the account m signs in again: same name, or same e-mail
// and kind, or (for the IDE) the IDE account.
func sameLogin(d *StoreData, m AccountMeta) *AccountMeta {
	for i := range d.Accounts {
		a := &d.Accounts[i]
		switch {
		case m.Name != "" && a.Name == m.Name:
			return a
		case m.follows() && a.Source == m.Source && a.IDEFile == m.IDEFile:
			return a
		case m.Email != "" && strings.EqualFold(a.Email, m.Email) && a.Kind == m.Kind && !a.follows() && !m.follows():
			return a
		}
	}
	return nil
}

// mergeLogin puts a new sign-in's facts into an existing account, keeping
// what the user chose (name, priority, enabled, proxy, limits).
func mergeLogin(old, m AccountMeta, now time.Time) AccountMeta {
	n := old
	n.Kind, n.Source = m.Kind, m.Source
	if !m.follows() {
		n.IDEFile = "" // a login of its own now
	}
	n.KeepFresh = m.KeepFresh
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&n.Provider, m.Provider)
	set(&n.IDEFile, m.IDEFile)
	set(&n.Region, m.Region)
	set(&n.StartURL, m.StartURL)
	set(&n.ClientID, m.ClientID)
	set(&n.ProfileARN, m.ProfileARN)
	set(&n.Email, m.Email)
	set(&n.UserID, m.UserID)
	if !m.ClientExpiresAt.IsZero() {
		n.ClientExpiresAt = m.ClientExpiresAt
	}
	if m.Quota != nil {
		n.Quota = m.Quota
	}
	n.State, n.StateReason, n.StateUntil, n.LastError = "", "", time.Time{}, ""
	n.UpdatedAt, n.SignedInAt = now, now
	return n
}

func maxPriority(d *StoreData) int {
	p := 0
	for _, a := range d.Accounts {
		p = max(p, a.Priority)
	}
	return p
}

// uniqueName picks m's name: as given, else from its e-mail (the local
// part), provider or kind, with a number added when taken.
func uniqueName(d *StoreData, m AccountMeta) string {
	base := m.Name
	if base == "" {
		switch {
		case m.Source == SourceIDE:
			base = "kiro-ide"
		case m.Source == SourceKiroCLI:
			base = "kiro-cli"
		case m.Email != "":
			// The part before the @: names go into every log line, and
			// e-mail addresses are personal data (auth.md §10.1).
			base, _, _ = strings.Cut(m.Email, "@")
		case m.Provider != "":
			base = strings.ToLower(m.Provider)
		default:
			base = string(m.Kind)
		}
		base = strings.Map(func(r rune) rune {
			if r <= ' ' || r == '/' || r == '\\' || r == '"' || r == '\'' {
				return '-'
			}
			return r
		}, base)
		if len(base) > 56 {
			base = base[:56]
		}
	}
	name := base
	for i := 2; d.Account(name) != nil; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	return name
}

func newAccountID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Remove deletes an account: its metadata, then its keychain items. The
// error reports an unknown name, or items that could not be deleted (the
// account is gone from the list all the same).
func (s *Store) Remove(name string) (AccountMeta, error) {
	var gone AccountMeta
	err := s.Update(func(d *StoreData) error {
		a := d.Account(name)
		if a == nil {
			return fmt.Errorf("%w %q", ErrNoSuchAccount, name)
		}
		gone = *a
		d.Accounts = slices.DeleteFunc(d.Accounts, func(x AccountMeta) bool { return x.ID == gone.ID })
		return nil
	})
	if err != nil {
		return gone, err
	}
	if err := s.deleteSecrets(gone.ID); err != nil {
		return gone, fmt.Errorf("account %q removed from the list, but its tokens could not be deleted from the keychain: %w", gone.Name, err)
	}
	return gone, nil
}

// Edit applies fn to one account and saves it.
func (s *Store) Edit(name string, fn func(a *AccountMeta) error) (AccountMeta, error) {
	var out AccountMeta
	err := s.Update(func(d *StoreData) error {
		a := d.Account(name)
		if a == nil {
			return fmt.Errorf("%w %q", ErrNoSuchAccount, name)
		}
		if err := fn(a); err != nil {
			return err
		}
		a.UpdatedAt = s.now().UTC()
		out = *a
		return nil
	})
	return out, err
}

// SetEnabled enables or disables an account. Enabling also clears a parked
// state, so an account can be tried again by hand.
func (s *Store) SetEnabled(name string, on bool) (AccountMeta, error) {
	return s.Edit(name, func(a *AccountMeta) error {
		a.Enabled = on
		if on {
			a.State, a.StateReason, a.StateUntil = "", "", time.Time{}
			a.ResumedAt = s.now().UTC()
		}
		return nil
	})
}

// SetPriority sets an account's priority (lower is tried first).
func (s *Store) SetPriority(name string, p int) (AccountMeta, error) {
	return s.Edit(name, func(a *AccountMeta) error { a.Priority = p; return nil })
}

// Rename gives an account a new name.
func (s *Store) Rename(name, newName string) (AccountMeta, error) {
	if err := validName(newName); err != nil {
		return AccountMeta{}, err
	}
	return s.Edit(name, func(a *AccountMeta) error { a.Name = newName; return nil })
}

// SyncStatus records the pool's view of accounts (state, reason, quota,
// identity and profile learned at run time) in the store, writing only when
// something changed. Accounts not in the store are ignored.
func (s *Store) SyncStatus(sts []AccountStatus) error {
	return s.Update(func(d *StoreData) error {
		for _, st := range sts {
			if st.ID == "" {
				continue
			}
			a := d.Account(st.ID)
			if a == nil || a.ID != st.ID {
				continue
			}
			state := st.State
			if state == StateActive || state == StateCooling {
				state = "" // transient: not worth remembering
			}
			a.State, a.StateReason = state, ""
			a.StateUntil = time.Time{}
			if state != "" {
				a.StateReason, a.StateUntil = st.Reason, st.Until
			}
			if st.LastError != "" {
				a.LastError = st.LastError
			}
			if st.Quota != nil && (a.Quota == nil || !st.Quota.CheckedAt.Before(a.Quota.CheckedAt)) {
				q := *st.Quota
				a.Quota = &q
			}
			if st.Email != "" && a.Email == "" {
				a.Email = st.Email
			}
			if st.UserID != "" {
				a.UserID = st.UserID
			}
			if st.ProfileARN != "" {
				a.ProfileARN = st.ProfileARN
			}
		}
		return nil
	})
}
