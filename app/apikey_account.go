package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/redact"
)

// Kiro API keys (auth.md §9): a `ksk_…` bearer sent with `tokentype:
// API_KEY`, never with a profileArn, and nothing to refresh. The key lives
// in the keychain like a refresh token; the pool hands it out as it is.

// apiKeyPrefix starts every Kiro API key.
const apiKeyPrefix = "ksk_"

// checkAPIKey accepts what looks like a Kiro API key. The pattern one
// client uses (^ksk_[A-Za-z0-9_-]{16,}$) is a hint, not a spec: a few more
// URL-safe characters are let through. The error never quotes the key.
func checkAPIKey(k string) error {
	switch {
	case !strings.HasPrefix(k, apiKeyPrefix):
		return errors.New("a Kiro API key starts with ksk_")
	case len(k) < len(apiKeyPrefix)+16:
		return fmt.Errorf("a %d-character API key looks truncated", len(k))
	case len(k) > 512:
		return errors.New("that API key is too long to be one")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.~+/=", c) >= 0) {
			return errors.New("the API key holds characters a Kiro key never has (a space, a quote?)")
		}
	}
	return nil
}

// MaskAPIKey shows a key the way people recognise it: ksk_…1a2b.
func MaskAPIKey(k redact.Secret) string {
	s := k.Reveal()
	if len(s) < 24 || !strings.HasPrefix(s, apiKeyPrefix) {
		return apiKeyPrefix + "…"
	}
	return apiKeyPrefix + "…" + s[len(s)-4:]
}

// keyToken is Token for an API-key account: the key itself, unless the
// account is parked (the key was rejected).
func (a *Account) keyToken() (kiro.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.parkedErrLocked(a.pool.now()); err != nil {
		return kiro.Token{}, err
	}
	return kiro.Token{Access: a.cred.APIKey, MachineID: a.cred.MachineID, APIKey: true}, nil
}

// keyRejected reports an answer that refuses the API key itself (§9: a
// rejected key answers 400, 401 or 403). A 400 counts only when it names
// the credential: most 400s are about the request, and parking an account
// for a malformed body would be wrong.
func keyRejected(ue *kiro.UpstreamError) bool {
	switch ue.Status {
	case http.StatusUnauthorized:
		return true
	case http.StatusForbidden:
		return ue.Reason != kiro.ReasonSuspended && ue.Reason != "SUSPENDED"
	case http.StatusBadRequest:
		if ue.Reason == kiro.ReasonBadToken {
			return true
		}
		m := strings.ToLower(ue.Message)
		return strings.Contains(m, "api key") || strings.Contains(m, "apikey") || strings.Contains(m, "bearer") ||
			strings.Contains(m, "token") && (strings.Contains(m, "invalid") || strings.Contains(m, "expired"))
	}
	return false
}

// reasonKeyRejected is the parked reason of a refused key, for people.
func reasonKeyRejected(status int) string {
	return fmt.Sprintf("the API key was rejected (status %d): it may have been revoked or expired, or API keys are off for "+
		"your organisation; create a new key in the Kiro portal and import it (kirotray accounts import -)", status)
}

// ErrAPIKeyRejected is VerifyAPIKey's answer for a key Kiro refuses.
var ErrAPIKeyRejected = errors.New("the API key was rejected")

// KeyCheck is what VerifyAPIKey learned about a key's account.
type KeyCheck struct {
	Email, UserID string
	Quota         *Quota
}

// VerifyAPIKey asks getUsageLimits (with tokentype API_KEY, no profileArn,
// auth.md §9) whether Kiro takes key. A refusal wraps ErrAPIKeyRejected;
// other failures (network, 5xx) say nothing about the key. A nil hc means
// a client with a 30 s timeout; base empty means DefaultKiroAPI.
func VerifyAPIKey(ctx context.Context, hc *http.Client, base string, key redact.Secret) (*KeyCheck, error) {
	if err := checkAPIKey(key.Reveal()); err != nil {
		return nil, err
	}
	if base == "" {
		base = DefaultKiroAPI
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	client := kiro.New(kiro.Config{BaseURL: base, HTTPClient: hc})
	defer client.CloseIdleConnections()
	u, err := client.UsageLimits(ctx, staticAccount{tok: kiro.Token{Access: key, APIKey: true, MachineID: kiro.MachineID(key.Reveal())}})
	var ue *kiro.UpstreamError
	switch {
	case errors.As(err, &ue) && keyRejected(ue):
		return nil, fmt.Errorf("%w (status %d)", ErrAPIKeyRejected, ue.Status)
	case err != nil:
		return nil, err
	}
	return &KeyCheck{Email: u.Email, UserID: u.UserID, Quota: QuotaFromUsage(u, time.Now())}, nil
}
