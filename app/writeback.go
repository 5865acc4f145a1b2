package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kirotray/kirotray/app/auth"
	"github.com/kirotray/kirotray/proxy/redact"
)

// Keeping the Kiro IDE's login fresh (auth.md §2.4 point 3, strategy B,
// opt-in): when the IDE has not renewed its token in time (it is closed),
// kirotray renews it and writes both tokens back to the IDE's file, so the
// IDE finds a live login when it opens. Refresh tokens are single-use, so
// every renewal happens under a lock of kirotray's own, right after
// re-reading the file, and the write-back is in the same critical section.
// The IDE's refresh token never goes to the keychain: the file stays its
// only home.

// keepFreshMargin: an IDE token with more than this left is the IDE's to
// renew (it renews with 10 min left); with less, the IDE is not doing it
// and kirotray does.
const keepFreshMargin = 8 * time.Minute

// ErrIDELoginRejected means the IDE's refresh token was refused even after
// re-reading the file: the IDE's login is dead.
var ErrIDELoginRejected = errors.New("the Kiro IDE's login was rejected")

// testHookWriteback, set by tests only, runs at the steps of renewIDE:
// "locked" (file re-read next), "refresh" (the refresh call next),
// "write" (the write-back next).
var testHookWriteback func(step, path string)

func writebackHook(step, path string) {
	if testHookWriteback != nil {
		testHookWriteback(step, path)
	}
}

// ideLockPath is the lock every kirotray takes before renewing the IDE
// login at path. The IDE does not know it; it only keeps kirotrays apart.
func ideLockPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".kirotray-lock")
}

// renewIDE is renew for an IDE account with KeepFresh.
func (as *Accounts) renewIDE(ctx context.Context, a *Account, c Credential, now time.Time) (*auth.Tokens, error) {
	path := a.follow.path
	t, err := a.follow.read(now)
	var stale *IDEStaleError
	switch {
	case err == nil && t.ExpiresAt.Sub(now) > keepFreshMargin:
		return followTokens(t, now), nil // the IDE keeps it fresh itself
	case err != nil && !errors.As(err, &stale):
		return nil, err
	}

	lock := lockFor(ideLockPath(path))
	if err := lock.lock(false); err != nil {
		return nil, fmt.Errorf("kiro IDE login: %w", err)
	}
	defer lock.unlock()
	writebackHook("locked", path)

	// Another kirotray, or the IDE, may have renewed it meanwhile: adopt that.
	t, data, err := readIDEFile(path)
	if err != nil {
		return nil, err
	}
	a.follow.noteRead(now)
	if t.AccessToken != "" && t.ExpiresAt.Sub(now) > keepFreshMargin {
		return followTokens(t, now), nil
	}
	toks, err := as.refreshIDE(ctx, t, path)
	if errors.Is(err, auth.ErrInvalidGrant) {
		// Re-read once: the IDE may have renewed with the same token a
		// moment before us, in which case the file holds the live one.
		t2, data2, rerr := readIDEFile(path)
		switch {
		case rerr != nil:
			return nil, rerr
		case bytes.Equal(data2, data):
			return nil, fmt.Errorf("%w: %w", ErrIDELoginRejected, err)
		case t2.AccessToken != "" && t2.ExpiresAt.Sub(now) > ideStaleMargin:
			a.follow.noteRead(now)
			return followTokens(t2, now), nil
		}
		t, data = t2, data2
		toks, err = as.refreshIDE(ctx, t, path)
		if errors.Is(err, auth.ErrInvalidGrant) {
			return nil, fmt.Errorf("%w: %w", ErrIDELoginRejected, err)
		}
	}
	if err != nil {
		return nil, err
	}

	writebackHook("write", path)
	// The IDE does not take our lock: if it wrote the file while we
	// refreshed, its version wins and ours is used only by us.
	if _, cur, err := readIDEFile(path); err != nil || !bytes.Equal(cur, data) {
		as.log.Warn("the Kiro IDE changed its login while kirotray renewed it; keeping the IDE's", "account", a.Name())
		return ideTokens(toks), nil
	}
	out, err := rewriteIDEFile(data, toks)
	if err == nil {
		err = WriteFileAtomic(path, out, 0o600)
		if err != nil {
			err = WriteFileAtomic(path, out, 0o600) // once more: the old token is already spent
		}
	}
	if err != nil {
		as.log.Error("could not write the renewed login back to the Kiro IDE's file: the IDE will have to sign in again",
			"account", a.Name(), "file", path, "err", err)
	} else {
		a.follow.noteRead(now)
		as.log.Info("renewed the Kiro IDE's login and wrote it back", "account", a.Name())
	}
	return ideTokens(toks), nil
}

// refreshIDE renews the login in t at its service: Kiro's auth service for
// social logins, SSO-OIDC with the client registration beside the file
// for IdC ones.
func (as *Accounts) refreshIDE(ctx context.Context, t *IDEToken, path string) (*auth.Tokens, error) {
	writebackHook("refresh", path)
	if t.RefreshToken == "" {
		return nil, ErrIDESignedOut
	}
	hc := as.clientFor("")
	if t.Kind() == KindSocial {
		return auth.RefreshSocial(ctx, hc, as.authBase, t.RefreshToken, as.userAgent)
	}
	id, secret, err := ideClient(filepath.Dir(path), t.ClientIDHash)
	if err != nil {
		return nil, err
	}
	base := as.oidcBase
	if base == "" {
		base = auth.OIDCBase(t.Region)
	}
	return auth.RefreshIdC(ctx, hc, base, id, secret, t.RefreshToken)
}

// ideClient reads an IdC login's client registration ({clientIdHash}.json).
func ideClient(dir, hash string) (string, redact.Secret, error) {
	if !validHash.MatchString(hash) {
		return "", "", errors.New("the IDE's IdC login names no valid client registration (clientIdHash)")
	}
	data, err := readLimited(filepath.Join(dir, hash+".json"), maxIDEFile)
	if err != nil {
		return "", "", errors.New("the IDE's client registration file is missing: sign in to Kiro again")
	}
	var reg struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &reg) != nil || reg.ClientID == "" || reg.ClientSecret == "" {
		return "", "", errors.New("the IDE's client registration file is unreadable")
	}
	return reg.ClientID, redact.Secret(reg.ClientSecret), nil
}

// followTokens is the pool's view of the IDE's token: used until 3 minutes
// before it expires; never a refresh token.
func followTokens(t *IDEToken, now time.Time) *auth.Tokens {
	return &auth.Tokens{Access: t.AccessToken, ExpiresAt: t.ExpiresAt.Add(-ideStaleMargin),
		ExpiresIn: t.ExpiresAt.Add(-ideStaleMargin).Sub(now), ProfileARN: t.ProfileARN}
}

// ideTokens is a refresh answer without its refresh token: that one
// belongs in the IDE's file, never in the pool (or the keychain).
func ideTokens(toks *auth.Tokens) *auth.Tokens {
	return &auth.Tokens{Access: toks.Access, ExpiresAt: toks.ExpiresAt.Add(-ideStaleMargin),
		ExpiresIn: toks.ExpiresIn - ideStaleMargin, ProfileARN: toks.ProfileARN}
}

// rewriteIDEFile puts a refresh answer into the IDE file's JSON: the
// tokens, the expiry (JavaScript style, as the IDE writes it) and a new
// profile; every other key kept, in its place.
func rewriteIDEFile(data []byte, toks *auth.Tokens) ([]byte, error) {
	fields, err := objectFields(data)
	if err != nil {
		return nil, err
	}
	set := map[string][]byte{
		"accessToken": jsonValue(toks.Access.Reveal()),
		"expiresAt":   jsonValue(toks.ExpiresAt.UTC().Format("2006-01-02T15:04:05.000Z")),
	}
	order := []string{"accessToken", "refreshToken", "expiresAt"}
	if toks.Refresh != "" {
		set["refreshToken"] = jsonValue(toks.Refresh.Reveal())
	}
	if toks.ProfileARN != "" {
		set["profileArn"] = jsonValue(toks.ProfileARN)
		order = append(order, "profileArn")
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	put := func(k string, v []byte) {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.Write(jsonValue(k))
		buf.WriteByte(':')
		buf.Write(v)
	}
	for _, f := range fields {
		if v, ok := set[f.key]; ok {
			put(f.key, v)
			delete(set, f.key)
			continue
		}
		put(f.key, f.val)
	}
	for _, k := range order { // keys the file lacked
		if v, ok := set[k]; ok {
			put(k, v)
		}
	}
	buf.WriteByte('}')
	if !json.Valid(buf.Bytes()) {
		return nil, errors.New("kiro IDE login: rewritten file is not JSON")
	}
	return buf.Bytes(), nil
}

// noteRead records the file as just read or written, so that the
// follower's change check does not re-read it for nothing.
func (f *ideFollower) noteRead(now time.Time) {
	st, err := os.Stat(f.path)
	if err != nil {
		st = nil
	}
	f.mu.Lock()
	f.seen, f.checked, f.read1 = st, now, true
	f.mu.Unlock()
}

// KeepFreshWarning is what `import-ide --keep-fresh` shows before it is done.
const KeepFreshWarning = `WARNING: with --keep-fresh, kirotray RENEWS the Kiro IDE's login itself when the IDE
has not (about 8 minutes before it expires, i.e. while the IDE is closed), and writes the
new tokens back into the IDE's file (~/.aws/sso/cache/kiro-auth-token.json).
  • Kiro refresh tokens are single-use. If the IDE renews at the same moment, one of the two
    loses: the IDE may ask you to sign in again.
  • If kirotray stops between the renewal and the write (a crash, a power cut), the IDE's
    login is lost and you sign in to Kiro again.
  • kirotray renews under a lock of its own, re-reads the file first and adopts what the IDE
    wrote; it never keeps the IDE's refresh token anywhere else.
The safer choices: import-ide without --keep-fresh (read-only), or a login of kirotray's own
(kirotray accounts login google|github|builder-id).
`
