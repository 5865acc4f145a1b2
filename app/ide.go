package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kirotray/kirotray/proxy/redact"
)

// The Kiro IDE's own login (auth.md §1). kirotray only ever reads it: it
// never refreshes the IDE's token and never writes its file, because Kiro
// refresh tokens are single-use and a second owner logs the IDE out (§2).
// An account imported from the IDE follows the file: it uses the access
// token the IDE keeps fresh while it runs, and picks up a new one (or a new
// sign-in) the next time it needs a token, by looking at the file again.

const (
	// ideTokenName is the token file's name in ~/.aws/sso/cache.
	ideTokenName = "kiro-auth-token.json"
	// maxIDEFile caps what is read of an IDE file (§1.4).
	maxIDEFile = 256 << 10
	// ideStaleMargin: an access token this close to expiry is not used
	// (the IDE itself treats it as expired then).
	ideStaleMargin = 3 * time.Minute
)

// IDETokenPath is where the Kiro IDE keeps its login, under home: the same
// relative path on macOS, Linux and Windows.
func IDETokenPath(home string) string {
	return filepath.Join(home, ".aws", "sso", "cache", ideTokenName)
}

// IDEToken is the Kiro IDE's login file, read.
type IDEToken struct {
	Path         string
	AccessToken  redact.Secret
	RefreshToken redact.Secret // present, never used by kirotray
	ExpiresAt    time.Time     // of AccessToken; zero when the file had none readable
	AuthMethod   string        // social, IdC, external_idp (as written)
	Provider     string        // Google, Github, BuilderId, Enterprise, …
	ProfileARN   string
	ClientIDHash string // IdC: names the client registration file beside it
	Region       string // IdC: OIDC region
	Email        string // some writers add it
	ModTime      time.Time
}

// Kind classifies the login.
func (t *IDEToken) Kind() AccountKind {
	switch {
	case strings.EqualFold(t.AuthMethod, "social"):
		return KindSocial
	case strings.EqualFold(t.Provider, "BuilderId"), strings.EqualFold(t.AuthMethod, "builder-id"):
		return KindBuilderID
	case t.AuthMethod == "" && (strings.EqualFold(t.Provider, "Google") || strings.EqualFold(t.Provider, "Github")):
		return KindSocial
	case t.AuthMethod == "" && t.ClientIDHash == "":
		return KindSocial
	}
	return KindIdC
}

// ErrIDESignedOut means the IDE's token file is missing or holds no token.
var ErrIDESignedOut = errors.New("the Kiro IDE is not signed in")

// ReadIDEToken reads a Kiro IDE token file the way the IDE does (§1.4): no
// symbolic link, at most 256 KiB, a UTF-8 BOM tolerated, lenient expiresAt.
func ReadIDEToken(path string) (*IDEToken, error) {
	t, _, err := readIDEFile(path)
	return t, err
}

// readIDEFile is ReadIDEToken, also returning the file's bytes as read.
func readIDEFile(path string) (*IDEToken, []byte, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w (%s does not exist)", ErrIDESignedOut, path)
	}
	if err != nil {
		return nil, nil, err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return nil, nil, fmt.Errorf("%s is a symbolic link; the Kiro IDE does not use those, and neither does kirotray", path)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := readLimited(path, maxIDEFile)
	if err != nil {
		return nil, nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var raw struct {
		AccessToken  string          `json:"accessToken"`
		RefreshToken string          `json:"refreshToken"`
		ExpiresAt    json.RawMessage `json:"expiresAt"`
		AuthMethod   string          `json:"authMethod"`
		Provider     string          `json:"provider"`
		ProfileARN   string          `json:"profileArn"`
		ClientIDHash string          `json:"clientIdHash"`
		Region       string          `json:"region"`
		Email        string          `json:"email"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("%s: not valid JSON (is the IDE writing it right now?)", path)
	}
	if raw.AccessToken == "" && raw.RefreshToken == "" {
		return nil, nil, fmt.Errorf("%w (%s holds no token)", ErrIDESignedOut, path)
	}
	exp, _ := parseTime(raw.ExpiresAt)
	return &IDEToken{
		Path: path, AccessToken: redact.Secret(raw.AccessToken), RefreshToken: redact.Secret(raw.RefreshToken),
		ExpiresAt: exp, AuthMethod: raw.AuthMethod, Provider: raw.Provider, ProfileARN: raw.ProfileARN,
		ClientIDHash: raw.ClientIDHash, Region: raw.Region, Email: raw.Email, ModTime: st.ModTime(),
	}, data, nil
}

// parseTime reads a time written as RFC 3339 / ISO 8601 (with or without
// fraction, "Z" or an offset, a space for the "T"), or as epoch seconds or
// milliseconds (a number or a numeric string).
func parseTime(raw json.RawMessage) (time.Time, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false
	}
	var s string
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
	} else {
		s = string(raw)
	}
	return parseTimeString(s)
}

func parseTimeString(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
		if f > 1e11 { // milliseconds (JavaScript's Date.now())
			f /= 1000
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
	}
	for _, layout := range []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", "2006/01/02 15:04:05",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// IDEState is what DetectIDE concludes about the IDE's login.
type IDEState string

const (
	IDENotSignedIn  IDEState = "not_signed_in"
	IDESignedIn     IDEState = "signed_in"     // access token valid for more than 3 minutes
	IDENeedsRenewal IDEState = "needs_renewal" // stale access token; the IDE renews it when it runs
	IDEIncomplete   IDEState = "incomplete"    // IdC login whose client registration is missing or expired
	IDEUnreadable   IDEState = "unreadable"
)

// IDELogin is the Kiro IDE's login as detected: state and identity, no secret.
type IDELogin struct {
	Path       string
	State      IDEState
	Detail     string // for people: why, and what to do
	Kind       AccountKind
	Provider   string
	ProfileARN string
	Region     string
	Email      string
	ExpiresAt  time.Time
	// ClientExpiresAt is when an IdC login's client registration expires.
	ClientExpiresAt time.Time
	// Running reports a Kiro IDE process (it renews its own token); false
	// also when that could not be told.
	Running bool
}

// Describe is one line for people.
func (l IDELogin) Describe(now time.Time) string {
	who := string(l.Kind)
	if l.Provider != "" {
		who = l.Provider
	}
	if l.Email != "" {
		who += " (" + l.Email + ")"
	}
	switch l.State {
	case IDESignedIn:
		return fmt.Sprintf("signed in with %s; access token valid until %s", who, clockText(l.ExpiresAt.Local(), now))
	case IDENeedsRenewal:
		return fmt.Sprintf("signed in with %s, but the access token expired at %s; the IDE renews it the next time it runs", who, clockText(l.ExpiresAt.Local(), now))
	case IDEIncomplete:
		return "signed in with " + who + ", but " + l.Detail
	case IDEUnreadable:
		return "login file unreadable: " + l.Detail
	}
	return "not signed in"
}

// IDEOptions locate the IDE's files; zero values are the user's own.
type IDEOptions struct {
	Home      string           // default os.UserHomeDir()
	ConfigDir string           // default os.UserConfigDir(): holds Kiro/User/globalStorage
	Now       func() time.Time // default time.Now
	// NoProcessCheck skips looking for a running IDE (tests).
	NoProcessCheck bool
}

func (o IDEOptions) home() string {
	if o.Home != "" {
		return o.Home
	}
	h, _ := os.UserHomeDir()
	return h
}

func (o IDEOptions) kiroDir() string {
	d := o.ConfigDir
	if d == "" {
		d, _ = os.UserConfigDir()
	}
	return filepath.Join(d, "Kiro")
}

// TokenPath is the IDE token file these options point at.
func (o IDEOptions) TokenPath() string { return IDETokenPath(o.home()) }

// DetectIDE reports whether the Kiro IDE is signed in, and as what (§1.4).
func DetectIDE(o IDEOptions) IDELogin {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	l := IDELogin{Path: o.TokenPath(), State: IDENotSignedIn}
	if !o.NoProcessCheck {
		l.Running = ideRunning()
	}
	t, err := ReadIDEToken(l.Path)
	switch {
	case errors.Is(err, ErrIDESignedOut):
		l.Detail = err.Error()
		return l
	case err != nil:
		l.State, l.Detail = IDEUnreadable, err.Error()
		return l
	}
	l.Kind, l.Provider, l.Region, l.Email, l.ExpiresAt = t.Kind(), t.Provider, t.Region, t.Email, t.ExpiresAt
	l.ProfileARN = t.ProfileARN
	if l.ProfileARN == "" {
		l.ProfileARN = readIDEProfile(o.kiroDir())
	}
	if l.Kind != KindSocial {
		exp, err := ideRegistration(filepath.Dir(l.Path), t.ClientIDHash)
		l.ClientExpiresAt = exp
		if err != nil {
			l.State, l.Detail = IDEIncomplete, err.Error()
			return l
		}
		if !exp.IsZero() && !now().Before(exp.Add(-15*time.Minute)) {
			l.State, l.Detail = IDEIncomplete, "its client registration expired on "+exp.Local().Format("2006-01-02")+": sign in to Kiro again"
			return l
		}
	}
	if t.AccessToken != "" && t.ExpiresAt.Sub(now()) > ideStaleMargin {
		l.State = IDESignedIn
	} else {
		l.State = IDENeedsRenewal
	}
	return l
}

var validHash = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ideRegistration reads the expiry of an IdC login's client registration
// ({clientIdHash}.json beside the token, §1.3).
func ideRegistration(dir, hash string) (time.Time, error) {
	if hash == "" {
		return time.Time{}, errors.New("the login names no client registration (clientIdHash)")
	}
	if !validHash.MatchString(hash) {
		return time.Time{}, errors.New("the login's clientIdHash is malformed")
	}
	data, err := readLimited(filepath.Join(dir, hash+".json"), maxIDEFile)
	if err != nil {
		return time.Time{}, errors.New("its client registration file is missing: sign in to Kiro again")
	}
	var reg struct {
		ClientID  string          `json:"clientId"`
		ExpiresAt json.RawMessage `json:"expiresAt"`
	}
	if json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &reg) != nil || reg.ClientID == "" {
		return time.Time{}, errors.New("its client registration file is unreadable")
	}
	exp, _ := parseTime(reg.ExpiresAt)
	return exp, nil
}

// readIDEProfile reads the profile selected in the IDE (IdC logins keep it
// there, not in the token file), "" if none.
func readIDEProfile(kiroDir string) string {
	data, err := readLimited(filepath.Join(kiroDir, "User", "globalStorage", "kiro.kiroagent", "profile.json"), maxIDEFile)
	if err != nil {
		return ""
	}
	var p struct {
		ARN        string `json:"arn"`
		ProfileARN string `json:"profileArn"`
	}
	_ = json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &p)
	return firstNonEmpty(p.ARN, p.ProfileARN)
}

// ideRunning looks for a Kiro IDE process, giving up after 2 s.
func ideRunning() bool {
	switch runtime.GOOS {
	case "linux":
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if e.Name()[0] < '0' || e.Name()[0] > '9' {
				continue
			}
			comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			if err == nil && strings.EqualFold(strings.TrimSpace(string(comm)), "kiro") {
				return true
			}
		}
		return false
	case "darwin":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, "pgrep", "-x", "Kiro").Run() == nil
	case "windows":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "tasklist", "/FI", "IMAGENAME eq Kiro.exe", "/NH").Output()
		return err == nil && bytes.Contains(bytes.ToLower(out), []byte("kiro.exe"))
	}
	return false
}

// KiroCLIPath is where kiro-cli keeps its login (auth.md §1.1); "" where it
// has none (Windows).
func KiroCLIPath(home string) string {
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "kiro-cli", "data.sqlite3")
	case "windows":
		return ""
	}
	dataHome := os.Getenv("XDG_DATA_HOME")
	if dataHome == "" {
		dataHome = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dataHome, "kiro-cli", "data.sqlite3")
}

// KiroCLILogin is what DetectKiroCLI found.
type KiroCLILogin struct {
	Path      string
	Found     bool   // the database exists
	SignedIn  bool   // a token key was read from it (needs the sqlite3 program)
	Key       string // which kind of token auth_kv holds: social or idc
	Kind      AccountKind
	ExpiresAt time.Time
	Detail    string
	// NoSQLite3: the database exists, but the sqlite3 program to read it does not.
	NoSQLite3  bool
	Provider   string
	ProfileARN string
	Region     string
}

// DetectKiroCLI reports kiro-cli's login. Reading its SQLite database needs
// the sqlite3 program; without it, only the database's presence is known.
// kirotray never writes it.
func DetectKiroCLI(home string) KiroCLILogin {
	l := KiroCLILogin{Path: KiroCLIPath(home)}
	if l.Path == "" {
		return l
	}
	if _, err := os.Stat(l.Path); err != nil {
		return l
	}
	l.Found = true
	t, err := ReadKiroCLIToken(context.Background(), l.Path)
	switch {
	case errors.Is(err, ErrNoSQLite3):
		l.NoSQLite3 = true
		l.Detail = "found; install the sqlite3 program to see which login it holds"
		return l
	case errors.Is(err, ErrKiroCLISignedOut):
		l.Detail = "found, not signed in"
		return l
	case err != nil:
		l.Detail = "found, but not readable (" + err.Error() + ")"
		return l
	}
	l.SignedIn, l.Kind, l.ExpiresAt = true, t.Kind(), t.ExpiresAt
	l.Provider, l.ProfileARN, l.Region = t.Provider, t.ProfileARN, t.Region
	l.Key = "social"
	if l.Kind != KindSocial {
		l.Key = "idc"
	}
	return l
}

// ideFollower reads an IDE token file for an account that follows it. It
// remembers the file's identity, so a change (the IDE renewed its token or
// signed in again) is noticed with one stat call.
type ideFollower struct {
	path string
	cli  bool // path is kiro-cli's SQLite database, not the IDE's token file

	mu      sync.Mutex
	read1   bool        // read at least once
	seen    fs.FileInfo // as of the last read; nil when it was missing
	wal     fs.FileInfo // kiro-cli: its database's -wal file, as last seen
	checked time.Time   // last stat
}

// changed reports whether the file looks different from when it was last
// read. It stats at most once per second.
func (f *ideFollower) changed(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.read1 || now.Sub(f.checked) < time.Second && now.After(f.checked) {
		return false
	}
	f.checked = now
	if f.cli && f.walChangedLocked() {
		return true
	}
	st, err := os.Stat(f.path)
	switch {
	case err != nil:
		return f.seen != nil // gone since the last read
	case f.seen == nil:
		return true // back
	}
	return !os.SameFile(st, f.seen) || !st.ModTime().Equal(f.seen.ModTime()) || st.Size() != f.seen.Size()
}

// walChangedLocked reports a change of the database's write-ahead log:
// SQLite writes there first, and the database file itself may not change
// until a checkpoint. Call with f.mu held.
func (f *ideFollower) walChangedLocked() bool {
	st, err := os.Stat(f.path + "-wal")
	if err != nil {
		st = nil
	}
	prev := f.wal
	f.wal = st
	switch {
	case st == nil:
		return false // checkpointed away: the database file changed instead
	case prev == nil:
		return true
	}
	return !st.ModTime().Equal(prev.ModTime()) || st.Size() != prev.Size()
}

// IDEStaleError is the follower's answer when the followed access token
// has (nearly) expired: the IDE (or kiro-cli) renews it when it runs;
// kirotray does not.
type IDEStaleError struct {
	ExpiredAt time.Time
	KiroCLI   bool // the login is kiro-cli's
}

func (e *IDEStaleError) Error() string {
	if e.KiroCLI {
		return "kiro-cli's access token expired at " + e.ExpiredAt.Local().Format("15:04") +
			": run kiro-cli to renew it, or sign in with kirotray (kirotray accounts login)"
	}
	return "the Kiro IDE's access token expired at " + e.ExpiredAt.Local().Format("15:04") +
		": open Kiro to renew it, or sign in with kirotray (kirotray accounts login)"
}

// read returns the file's current access token as refresh answers look.
func (f *ideFollower) read(now time.Time) (*IDEToken, error) {
	st, _ := os.Stat(f.path)
	var (
		t   *IDEToken
		err error
	)
	if f.cli {
		f.mu.Lock()
		f.walChangedLocked() // the log as of this read
		f.mu.Unlock()
		t, err = ReadKiroCLIToken(context.Background(), f.path)
	} else {
		t, err = ReadIDEToken(f.path)
	}
	f.mu.Lock()
	f.seen, f.checked, f.read1 = st, now, true
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if t.AccessToken == "" || t.ExpiresAt.Sub(now) <= ideStaleMargin {
		return nil, &IDEStaleError{ExpiredAt: t.ExpiresAt, KiroCLI: f.cli}
	}
	return t, nil
}
