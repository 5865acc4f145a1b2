// Package auth renews Kiro access tokens: the social refresh on Kiro's auth
// service and the AWS SSO-OIDC refresh for Builder ID and IAM Identity Center
// logins. It holds no state; rotation, storage and retries belong to the
// caller (package app).
package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kirotray/kirotray/proxy/redact"
)

// DefaultAuthBase is Kiro's auth service, where social logins refresh.
const DefaultAuthBase = "https://prod.us-east-1.auth.desktop.kiro.dev"

// DefaultRegion is the OIDC region when a login names none (Builder ID's).
const DefaultRegion = "us-east-1"

// maxBody caps what is read from a token endpoint.
const maxBody = 1 << 20

// defaultExpiresIn is assumed when an answer carries no usable expiresIn.
const defaultExpiresIn = time.Hour

// OIDCBase returns the AWS SSO-OIDC endpoint of region ("" means DefaultRegion).
func OIDCBase(region string) string {
	if region == "" {
		region = DefaultRegion
	}
	return "https://oidc." + region + ".amazonaws.com"
}

// Tokens is a successful refresh answer.
type Tokens struct {
	Access redact.Secret
	// Refresh is the rotated refresh token; empty when the answer carried
	// none, in which case the old one stays valid and must be kept.
	Refresh redact.Secret
	// ExpiresAt is when Access expires, by the local clock at receipt.
	ExpiresAt time.Time
	// ExpiresIn is the lifetime the server gave Access (an hour by default);
	// callers with their own clock add it to their "now".
	ExpiresIn time.Duration
	// ProfileARN is the profile the answer named; empty when it named none
	// (always for IdC): keep the old one.
	ProfileARN string
}

// ErrInvalidGrant means the refresh token is dead (rotated away, revoked, or
// the sign-in expired): the account needs a new sign-in. Never retry it.
var ErrInvalidGrant = errors.New("auth: refresh token was rejected")

// ErrInvalidClient means the OIDC client registration is wrong or expired
// (about 90 days after sign-in): the account needs a new sign-in.
var ErrInvalidClient = errors.New("auth: client registration was rejected")

// RefreshError is every failed refresh. Errors wrapping ErrInvalidGrant or
// ErrInvalidClient are RefreshErrors too. Its text never holds a token: the
// server's message is kept only with known secrets masked, and short.
type RefreshError struct {
	Status    int    // HTTP status; 0 when no answer came
	Code      string // OAuth "error", Kiro "reason" or AWS "__type" from the body; may be empty
	Message   string // the server's description, scrubbed and shortened; may be empty
	Transient bool   // 429, 5xx, network: the same refresh token may be tried again later
	Err       error  // ErrInvalidGrant, ErrInvalidClient, a transport error, or nil
}

func (e *RefreshError) Error() string {
	var b strings.Builder
	b.WriteString("auth: refresh failed")
	switch {
	case e.Status != 0 && e.Code != "":
		fmt.Fprintf(&b, " (status %d, %s)", e.Status, e.Code)
	case e.Status != 0:
		fmt.Fprintf(&b, " (status %d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	// The sentinels say nothing the status and code do not; a transport error does.
	if e.Err != nil && e.Err != ErrInvalidGrant && e.Err != ErrInvalidClient {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *RefreshError) Unwrap() error { return e.Err }

// RefreshSocial renews a Google/GitHub login at Kiro's auth service:
// POST {authBase}/refreshToken with {"refreshToken": …}. userAgent may be
// empty. A nil hc means a client with a 30 s timeout.
func RefreshSocial(ctx context.Context, hc *http.Client, authBase string, refreshToken redact.Secret, userAgent string) (*Tokens, error) {
	if authBase == "" {
		authBase = DefaultAuthBase
	}
	body := map[string]string{"refreshToken": refreshToken.Reveal()}
	hdr := http.Header{}
	if userAgent != "" {
		hdr.Set("User-Agent", userAgent)
	}
	return refresh(ctx, hc, strings.TrimRight(authBase, "/")+"/refreshToken", body, hdr, social, refreshToken)
}

// RefreshIdC renews a Builder ID / IAM Identity Center login at AWS SSO-OIDC:
// POST {oidcBase}/token with camelCase JSON and grantType refresh_token.
// oidcBase is usually OIDCBase(region of the login). A nil hc means a client
// with a 30 s timeout.
func RefreshIdC(ctx context.Context, hc *http.Client, oidcBase string, clientID string, clientSecret, refreshToken redact.Secret) (*Tokens, error) {
	if oidcBase == "" {
		oidcBase = OIDCBase("")
	}
	body := map[string]string{
		"clientId":     clientID,
		"clientSecret": clientSecret.Reveal(),
		"grantType":    "refresh_token",
		"refreshToken": refreshToken.Reveal(),
	}
	return refresh(ctx, hc, strings.TrimRight(oidcBase, "/")+"/token", body, nil, oidc, refreshToken, clientSecret)
}

type flavour int

const (
	social flavour = iota
	oidc
)

var defaultClient = &http.Client{Timeout: 30 * time.Second}

// noRedirect keeps a refresh token from following a redirect to another host.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func refresh(ctx context.Context, hc *http.Client, url string, body map[string]string, hdr http.Header, fl flavour, secrets ...redact.Secret) (*Tokens, error) {
	if hc == nil {
		hc = defaultClient
	}
	c := *hc // a token endpoint has no business redirecting: never resend the body elsewhere
	c.CheckRedirect = noRedirect

	b, err := json.Marshal(body)
	if err != nil {
		return nil, &RefreshError{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil { // a bad base URL; the error names the URL, which holds no secret
		return nil, &RefreshError{Err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &RefreshError{Transient: true, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, &RefreshError{Status: resp.StatusCode, Transient: true, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, classify(resp.StatusCode, data, fl, secrets)
	}

	var ans struct {
		AccessToken  string          `json:"accessToken"`
		RefreshToken string          `json:"refreshToken"`
		ExpiresIn    json.RawMessage `json:"expiresIn"`
		ProfileARN   string          `json:"profileArn"`
	}
	if err := json.Unmarshal(data, &ans); err != nil || ans.AccessToken == "" {
		// The server may have rotated the token all the same; nothing to keep.
		return nil, &RefreshError{Status: resp.StatusCode, Code: "invalid_response", Message: "answer has no access token"}
	}
	exp := parseExpiresIn(ans.ExpiresIn)
	return &Tokens{
		Access:     redact.Secret(ans.AccessToken),
		Refresh:    redact.Secret(ans.RefreshToken),
		ExpiresAt:  time.Now().Add(exp),
		ExpiresIn:  exp,
		ProfileARN: ans.ProfileARN,
	}, nil
}

// parseExpiresIn reads seconds given as a number or a numeric string.
func parseExpiresIn(raw json.RawMessage) time.Duration {
	var n json.Number
	if err := json.Unmarshal(bytes.Trim(raw, `"`), &n); err != nil {
		return defaultExpiresIn
	}
	s, err := n.Float64()
	if err != nil || s <= 0 || s > 30*24*3600 {
		return defaultExpiresIn
	}
	return time.Duration(s * float64(time.Second))
}

// classify turns a non-200 answer into a *RefreshError.
func classify(status int, data []byte, fl flavour, secrets []redact.Secret) *RefreshError {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Message     string `json:"message"`
		MessageCap  string `json:"Message"`
		Reason      string `json:"reason"`
		Type        string `json:"__type"`
	}
	_ = json.Unmarshal(data, &body) // not JSON: status alone decides
	msg := firstNonEmpty(body.Description, body.Message, body.MessageCap)
	e := &RefreshError{
		Status:  status,
		Code:    firstNonEmpty(body.Error, body.Reason, awsType(body.Type)),
		Message: scrub(msg, secrets),
	}
	code := strings.ToLower(e.Code)
	switch {
	case code == "invalid_grant" || strings.Contains(code, "invalidgrant") ||
		strings.Contains(strings.ToLower(msg), "invalid refresh token"):
		e.Err = ErrInvalidGrant
	case code == "invalid_client" || strings.Contains(code, "invalidclient"):
		e.Err = ErrInvalidClient
	case status == http.StatusUnauthorized && fl == social:
		// Kiro's auth service answers 401 once another client rotated the token.
		e.Err = ErrInvalidGrant
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		e.Transient = true
	}
	return e
}

// awsType strips the namespace from an AWS "__type" such as
// "com.amazonaws.ssooidc#InvalidGrantException".
func awsType(t string) string {
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	return t
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// scrub masks the secrets that were sent (a server may echo them) and keeps
// the message short and on one line.
func scrub(msg string, secrets []redact.Secret) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s.Reveal(), "[redacted]")
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	const max = 200
	if len(msg) > max {
		cut := max
		for cut > 0 && msg[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
