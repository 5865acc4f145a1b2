package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/redact"

	"github.com/kirotray/kirotray/app/atomicfile"
)

// AuthMethod says how an account renews its access token.
type AuthMethod string

const (
	// AuthSocial is a Google or GitHub login, renewed at Kiro's auth service.
	AuthSocial AuthMethod = "social"
	// AuthIdC is a Builder ID or IAM Identity Center login, renewed at AWS SSO-OIDC
	// with the client registration (ClientID, ClientSecret) it was issued to.
	AuthIdC AuthMethod = "idc"
	// AuthAPIKey is a Kiro API key (ksk_…): sent as the bearer token with
	// tokentype API_KEY, never renewed (auth.md §9).
	AuthAPIKey AuthMethod = "api_key"
)

// Credential is one account of a credentials file (ARCHITECTURE.md): what it
// takes to renew its tokens. Secrets are redact.Secret so they never print.
type Credential struct {
	Name         string        // shown in logs and the UI; unique
	RefreshToken redact.Secret // single-use: every refresh rotates it
	AuthMethod   AuthMethod    // AuthSocial or AuthIdC
	ClientID     string        // IdC only
	ClientSecret redact.Secret // IdC only
	APIKey       redact.Secret // AuthAPIKey only; RefreshToken is then empty
	Region       string        // OIDC region of an IdC login; empty means us-east-1
	ProfileARN   string        // the profile requests bill against; may be empty
	Priority     int           // lower is tried first; ties keep file order
	MachineID    string        // 64 lower-case hex chars; empty: derived once, then stored

	// The fields below come from the account store (app.Store); a
	// credentials file leaves them zero.

	// ID is the store's account id; Persist gets it back with every rotation.
	ID string
	// Follow is a Kiro IDE token file this account follows read-only: its
	// access token is read from there and never refreshed by kirotray
	// (RefreshToken stays empty).
	Follow string
	// FollowCLI marks Follow as kiro-cli's SQLite database (read through the
	// sqlite3 program) rather than the IDE's token file.
	FollowCLI bool
	// KeepFresh lets kirotray renew the followed IDE login itself, writing
	// the rotated tokens back to the IDE's file (strategy B, opt-in).
	KeepFresh bool
	// SignedInAt is when this login was made. Sync adopts the tokens of a
	// credential with a newer SignedInAt (the user signed in again).
	SignedInAt time.Time
	// ResumedAt is when the user last asked to put the account back in
	// service (enabled it); Sync lifts a parked state older than that.
	ResumedAt time.Time
	// Proxy is the outbound proxy for this account: a URL, "direct" for
	// none, or "" for the pool's.
	Proxy string
	// RateLimit bounds this account's requests; zero: no limit.
	RateLimit RateLimit
	// Parked, ParkReason and ParkUntil are the state to start in, as the
	// store remembered it: StateNeedsSignIn, StateSuspended or
	// StateQuotaExhausted (until ParkUntil); empty means active.
	Parked     AccountState
	ParkReason string
	ParkUntil  time.Time
	// Email and UserID identify the login, when known (from getUsageLimits).
	Email, UserID string
	// Quota is the last quota seen, when known.
	Quota *Quota

	src *entrySource // the entry as read, for writing it back; nil for in-memory ones
}

// entrySource remembers a file entry: its keys in order (unknown ones are
// written back untouched) and the values as read, so unchanged fields keep
// their original spelling.
type entrySource struct {
	fields []rawField
	orig   Credential
}

type rawField struct {
	key string
	val json.RawMessage
}

// maxCredentialsSize caps the credentials file read (an IdC entry is ~5 KB).
const maxCredentialsSize = 4 << 20

// CredentialsFile is a credentials file as loaded: where it is and what it
// holds. Save writes it back atomically; it is safe for concurrent use.
type CredentialsFile struct {
	// Path is the file's absolute path, symbolic links resolved.
	Path string

	mu     sync.Mutex // serialises Save
	creds  []Credential
	single bool // the file held one object, not an array
}

// Credentials returns the entries as last loaded or saved.
func (f *CredentialsFile) Credentials() []Credential {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.creds)
}

// LoadCredentials reads a credentials file: a JSON array of accounts, or a
// single account object. Keys it does not know are kept for writing back.
// Errors name the entry at fault.
//
// A complete temporary file left by an interrupted save (kirotray killed
// between writing it and renaming it into place) holds the newest tokens; if
// it is not older than the file, it is adopted. Incomplete ones are removed.
func LoadCredentials(path string) (*CredentialsFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // write through the link, not over it
	}
	recoverInterruptedSave(abs)
	data, err := readLimited(abs, maxCredentialsSize)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	creds, single, err := parseCredentials(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	return &CredentialsFile{Path: abs, creds: creds, single: single}, nil
}

// Save writes creds (entries of this file, in its order) to the file
// atomically: a temporary file in the same folder, fsync, rename, fsync of
// the folder. The file is left mode 0600. At every moment the path holds
// either the old or the new complete content.
func (f *CredentialsFile) Save(creds []Credential) error {
	data, err := marshalCredentials(creds, f.single && len(creds) == 1)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := WriteFileAtomic(f.Path, data, 0o600); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	f.creds = slices.Clone(creds)
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// parseCredentials decodes a file's content; single reports a lone object.
func parseCredentials(data []byte) (creds []Credential, single bool, err error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM some editors add
	data = bytes.TrimSpace(data)
	var entries []json.RawMessage
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &entries); err != nil {
			return nil, false, fmt.Errorf("credentials: not valid JSON: %w", err)
		}
	case len(data) > 0 && data[0] == '{':
		single = true
		entries = []json.RawMessage{data}
	default:
		return nil, false, errors.New(`credentials: want a JSON array of accounts ([{"name": …, "refreshToken": …}])`)
	}
	seen := map[string]int{}
	for i, raw := range entries {
		c, err := parseEntry(raw)
		if err == nil {
			err = c.normalize()
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", entryLabel(i, c.Name), err)
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("account%d", i+1)
		}
		if j, dup := seen[c.Name]; dup {
			return nil, false, fmt.Errorf("%s: name %q is used by entry %d too", entryLabel(i, c.Name), c.Name, j+1)
		}
		seen[c.Name] = i
		c.src.orig = c
		c.src.orig.src = nil
		creds = append(creds, c)
	}
	return creds, single, nil
}

func entryLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("credentials entry %d", i+1)
	}
	return fmt.Sprintf("credentials entry %d (%q)", i+1, name)
}

// parseEntry decodes one object, keeping its keys in order.
func parseEntry(raw json.RawMessage) (Credential, error) {
	var c Credential
	fields, err := objectFields(raw)
	if err != nil {
		return c, err
	}
	c.src = &entrySource{fields: fields}
	for _, f := range fields { // the name first, so later errors can cite it
		if f.key == "name" {
			if err := decodeField(f, &c.Name); err != nil {
				return c, err
			}
		}
	}
	for _, f := range fields {
		var err error
		switch f.key {
		case "refreshToken":
			err = decodeField(f, (*string)(&c.RefreshToken))
		case "apiKey":
			err = decodeField(f, (*string)(&c.APIKey))
		case "authMethod":
			err = decodeField(f, (*string)(&c.AuthMethod))
		case "clientId":
			err = decodeField(f, &c.ClientID)
		case "clientSecret":
			err = decodeField(f, (*string)(&c.ClientSecret))
		case "region":
			err = decodeField(f, &c.Region)
		case "profileArn":
			err = decodeField(f, &c.ProfileARN)
		case "priority":
			err = decodeField(f, &c.Priority)
		case "machineId":
			err = decodeField(f, &c.MachineID)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// objectFields splits a JSON object into its members, in order.
func objectFields(raw json.RawMessage) ([]rawField, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var fields []rawField
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		key := tok.(string) // object keys are always strings
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("%s: not valid JSON: %w", key, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		fields = append(fields, rawField{key, val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: data after the object")
	}
	return fields, nil
}

func decodeField(f rawField, v any) error {
	if string(f.val) == "null" {
		return nil
	}
	if err := json.Unmarshal(f.val, v); err != nil {
		var want string
		switch v.(type) {
		case *int:
			want = "a whole number"
		default:
			want = "a string"
		}
		return fmt.Errorf("%s must be %s", f.key, want)
	}
	return nil
}

// normalize checks c and brings AuthMethod and MachineID to canonical form.
func (c *Credential) normalize() error {
	if c.Follow != "" { // the IDE's tokens: nothing of ours to check
		if c.AuthMethod == "" {
			c.AuthMethod = AuthSocial
		}
		return nil
	}
	if c.APIKey != "" || strings.EqualFold(string(c.AuthMethod), string(AuthAPIKey)) {
		if c.APIKey == "" {
			return fmt.Errorf("authMethod %q needs an apiKey (ksk_…)", AuthAPIKey)
		}
		if err := checkAPIKey(c.APIKey.Reveal()); err != nil {
			return fmt.Errorf("apiKey: %w", err)
		}
		if c.RefreshToken != "" {
			return errors.New("an entry holds an apiKey or a refreshToken, not both")
		}
		c.AuthMethod = AuthAPIKey
		return c.normalizeMachineID()
	}
	if c.RefreshToken == "" {
		return errors.New("refreshToken is missing")
	}
	switch strings.ToLower(string(c.AuthMethod)) {
	case "":
		// The rule the Kiro clients follow: client credentials mean OIDC.
		c.AuthMethod = AuthSocial
		if c.ClientID != "" && c.ClientSecret != "" {
			c.AuthMethod = AuthIdC
		}
	case "social":
		c.AuthMethod = AuthSocial
	case "idc", "builder-id", "builderid":
		c.AuthMethod = AuthIdC
	default:
		return fmt.Errorf("authMethod %q is not supported (use %q or %q)", c.AuthMethod, AuthSocial, AuthIdC)
	}
	if c.AuthMethod == AuthIdC && (c.ClientID == "" || c.ClientSecret == "") {
		return fmt.Errorf("authMethod %q needs clientId and clientSecret", AuthIdC)
	}
	if c.Region != "" && !validRegion(c.Region) {
		return fmt.Errorf("region %q is not an AWS region name", c.Region)
	}
	return c.normalizeMachineID()
}

func (c *Credential) normalizeMachineID() error {
	if c.MachineID != "" {
		id, ok := kiro.NormalizeMachineID(c.MachineID)
		if !ok {
			return fmt.Errorf("machineId %q must be 64 hex characters (or a UUID)", c.MachineID)
		}
		c.MachineID = id
	}
	return nil
}

// validRegion accepts names like "us-east-1"; the region goes into a host name.
func validRegion(r string) bool {
	for _, ch := range r {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return len(r) <= 32
}

type credentialKey struct {
	key string
	val func(c *Credential) any // a string or an int
}

// credentialKeys lists the known keys in the order new entries get them.
var credentialKeys = []credentialKey{
	{"name", func(c *Credential) any { return c.Name }},
	{"authMethod", func(c *Credential) any { return string(c.AuthMethod) }},
	{"refreshToken", func(c *Credential) any { return c.RefreshToken.Reveal() }},
	{"apiKey", func(c *Credential) any { return c.APIKey.Reveal() }},
	{"clientId", func(c *Credential) any { return c.ClientID }},
	{"clientSecret", func(c *Credential) any { return c.ClientSecret.Reveal() }},
	{"region", func(c *Credential) any { return c.Region }},
	{"profileArn", func(c *Credential) any { return c.ProfileARN }},
	{"priority", func(c *Credential) any { return c.Priority }},
	{"machineId", func(c *Credential) any { return c.MachineID }},
}

// marshalCredentials writes entries back: each entry's keys in their original
// order, unchanged values in their original spelling, unknown keys as read,
// and known keys new to the entry at its end. Indented, no BOM.
func marshalCredentials(creds []Credential, single bool) ([]byte, error) {
	var buf bytes.Buffer
	if !single {
		buf.WriteByte('[')
	}
	for i := range creds {
		if i > 0 {
			buf.WriteByte(',')
		}
		marshalEntry(&buf, &creds[i])
	}
	if !single {
		buf.WriteByte(']')
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err // only if an unknown raw value was not JSON: cannot happen
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func marshalEntry(buf *bytes.Buffer, c *Credential) {
	var (
		fields  []rawField
		orig    *Credential
		written = map[string]bool{}
		n       int
	)
	if c.src != nil {
		fields, orig = c.src.fields, &c.src.orig
	}
	put := func(key string, val []byte) {
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		buf.Write(jsonValue(key))
		buf.WriteByte(':')
		buf.Write(val)
	}
	buf.WriteByte('{')
	for _, f := range fields {
		written[f.key] = true
		i := slices.IndexFunc(credentialKeys, func(k credentialKey) bool { return k.key == f.key })
		if i < 0 || credentialKeys[i].val(c) == credentialKeys[i].val(orig) {
			put(f.key, f.val) // unknown, or unchanged: as it was
			continue
		}
		put(f.key, jsonValue(credentialKeys[i].val(c)))
	}
	for _, k := range credentialKeys {
		v := k.val(c)
		if written[k.key] || v == "" || v == 0 || (orig != nil && v == k.val(orig)) {
			continue // absent and still empty, or a default applied at load
		}
		put(k.key, jsonValue(v))
	}
	buf.WriteByte('}')
}

// jsonValue encodes a string or an int, leaving <, > and & as they are.
func jsonValue(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings and ints always encode
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// WriteFileAtomic replaces path with data so that path holds either its old
// or its new complete content at every moment, even across a crash or power
// loss (see atomicfile). The file gets mode perm.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return atomicfile.WriteStepped(path, data, perm, hook)
}

// testHookWrite, set by tests only, runs at steps of WriteFileAtomic so a
// test can kill the process there.
var testHookWrite func(step string)

func hook(step string) {
	if testHookWrite != nil {
		testHookWrite(step)
	}
}

// recoverInterruptedSave deals with temporary files an interrupted Save left
// next to path. The server had already rotated the refresh token when Save
// began, so a complete temporary file newer than path holds the only live
// token: it replaces path unless path was written after it. Anything else is removed.
func recoverInterruptedSave(path string) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, _ := os.ReadDir(dir)
	var temps []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), atomicfile.TempPrefix(base)) {
			temps = append(temps, filepath.Join(dir, e.Name()))
		}
	}
	if len(temps) == 0 {
		return
	}
	var cur fs.FileInfo
	if st, err := os.Stat(path); err == nil {
		cur = st
	}
	best, bestInfo := "", fs.FileInfo(nil)
	for _, t := range temps {
		st, err := os.Lstat(t)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		data, err := readLimited(t, maxCredentialsSize)
		if err != nil {
			continue
		}
		if _, _, err := parseCredentials(data); err != nil {
			_ = os.Remove(t) // cut short by the crash
			continue
		}
		if cur != nil && st.ModTime().Before(cur.ModTime()) {
			_ = os.Remove(t) // the file was written after it (a person edited it?)
			continue
		}
		if bestInfo == nil || st.ModTime().After(bestInfo.ModTime()) {
			if best != "" {
				_ = os.Remove(best)
			}
			best, bestInfo = t, st
		} else {
			_ = os.Remove(t)
		}
	}
	if best != "" && os.Rename(best, path) == nil {
		_ = atomicfile.SyncDir(dir)
	}
}

// AppendCredentials adds accounts to a credentials file, creating it (mode
// 0600) if needed: the explicit file store for machines without a usable
// keychain. A name already in the file gets a number added. It returns the
// names used.
func AppendCredentials(path string, add []Credential) ([]string, error) {
	var (
		f     *CredentialsFile
		creds []Credential
	)
	if _, err := os.Stat(path); err == nil {
		if f, err = LoadCredentials(path); err != nil {
			return nil, err
		}
		creds = f.Credentials()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	taken := map[string]bool{}
	for _, c := range creds {
		taken[c.Name] = true
	}
	var names []string
	for _, c := range add {
		if err := c.normalize(); err != nil {
			return nil, fmt.Errorf("account %q: %w", c.Name, err)
		}
		base := c.Name
		if base == "" {
			base = "account"
		}
		c.Name = base
		for i := 2; taken[c.Name]; i++ {
			c.Name = fmt.Sprintf("%s-%d", base, i)
		}
		taken[c.Name] = true
		if c.MachineID == "" {
			c.MachineID = kiro.MachineID(firstNonEmpty(c.RefreshToken.Reveal(), c.APIKey.Reveal()))
		}
		creds = append(creds, c)
		names = append(names, c.Name)
	}
	if f != nil {
		return names, f.Save(creds)
	}
	data, err := marshalCredentials(creds, false)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
	}
	if err := WriteFileAtomic(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return names, nil
}
