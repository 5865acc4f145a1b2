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

// AWS SSO-OIDC device authorization (auth.md §5.5): how AWS Builder ID and
// IAM Identity Center logins are made without a local listener. The person
// opens a verification page (on any device), checks the code, approves;
// meanwhile the app polls the token endpoint.

// BuilderIDStartURL is AWS Builder ID's start URL.
const BuilderIDStartURL = "https://view.awsapps.com/start"

// Scopes asked for a Kiro login (auth.md §5.5).
var Scopes = []string{
	"codewhisperer:completions", "codewhisperer:analysis", "codewhisperer:conversations",
	"codewhisperer:transformations", "codewhisperer:taskassist",
}

// Device flow errors. They are *SignInError values too (errors.Is works on both).
var (
	// ErrExpired: the code was not approved in time; start over.
	ErrExpired = errors.New("auth: the sign-in code expired before it was approved")
	// ErrDenied: the person declined on the verification page.
	ErrDenied = errors.New("auth: sign-in was declined")
)

// SignInError is a failed sign-in call: what the server said, scrubbed of
// secrets. Err is ErrExpired, ErrDenied, ErrInvalidClient, a transport
// error, or nil.
type SignInError struct {
	Op      string // "register", "device authorization", "token", "code exchange", …
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *SignInError) Error() string {
	var b strings.Builder
	b.WriteString("auth: sign-in failed at " + e.Op)
	switch {
	case e.Status != 0 && e.Code != "":
		fmt.Fprintf(&b, " (status %d, %s)", e.Status, e.Code)
	case e.Status != 0:
		fmt.Fprintf(&b, " (status %d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil && e.Err != ErrExpired && e.Err != ErrDenied && e.Err != ErrInvalidClient {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *SignInError) Unwrap() error { return e.Err }

// Registration is an OIDC client registered for the device flow. Its
// secret (several KB) renews the login's tokens until ExpiresAt (~90 days).
type Registration struct {
	ClientID     string
	ClientSecret redact.Secret
	ExpiresAt    time.Time // zero when the server did not say
}

// RegisterClient registers a public OIDC client at oidcBase (POST
// /client/register) for the device and refresh grants. issuerURL is the
// start URL (Builder ID's or the organisation's); empty omits it.
func RegisterClient(ctx context.Context, hc *http.Client, oidcBase, clientName, issuerURL string) (*Registration, error) {
	body := map[string]any{
		"clientName": clientName, "clientType": "public", "scopes": Scopes,
		"grantTypes": []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"},
	}
	if issuerURL != "" {
		body["issuerUrl"] = issuerURL
	}
	var ans struct {
		ClientID              string  `json:"clientId"`
		ClientSecret          string  `json:"clientSecret"`
		ClientSecretExpiresAt float64 `json:"clientSecretExpiresAt"`
	}
	if err := postJSON(ctx, hc, oidcBase, "/client/register", "register", body, &ans); err != nil {
		return nil, err
	}
	if ans.ClientID == "" || ans.ClientSecret == "" {
		return nil, &SignInError{Op: "register", Code: "invalid_response", Message: "answer has no client"}
	}
	r := &Registration{ClientID: ans.ClientID, ClientSecret: redact.Secret(ans.ClientSecret)}
	if ans.ClientSecretExpiresAt > 0 {
		r.ExpiresAt = time.Unix(int64(ans.ClientSecretExpiresAt), 0).UTC()
	}
	return r, nil
}

// DeviceAuthorization is a started device flow: show UserCode, open
// VerificationURIComplete, poll with the device code.
type DeviceAuthorization struct {
	DeviceCode              redact.Secret
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string // the page with the code filled in; may be empty
	ExpiresAt               time.Time
	Interval                time.Duration // between polls; grows on slow_down
}

// StartDeviceAuthorization starts the flow for startURL (POST /device_authorization).
func StartDeviceAuthorization(ctx context.Context, hc *http.Client, oidcBase string, reg *Registration, startURL string) (*DeviceAuthorization, error) {
	body := map[string]any{"clientId": reg.ClientID, "clientSecret": reg.ClientSecret.Reveal(), "startUrl": startURL}
	var ans struct {
		DeviceCode              string  `json:"deviceCode"`
		UserCode                string  `json:"userCode"`
		VerificationURI         string  `json:"verificationUri"`
		VerificationURIComplete string  `json:"verificationUriComplete"`
		ExpiresIn               float64 `json:"expiresIn"`
		Interval                float64 `json:"interval"`
	}
	if err := postJSON(ctx, hc, oidcBase, "/device_authorization", "device authorization", body, &ans, reg.ClientSecret); err != nil {
		return nil, err
	}
	if ans.DeviceCode == "" || ans.UserCode == "" || ans.VerificationURI == "" {
		return nil, &SignInError{Op: "device authorization", Code: "invalid_response", Message: "answer has no code"}
	}
	return &DeviceAuthorization{
		DeviceCode: redact.Secret(ans.DeviceCode), UserCode: ans.UserCode,
		VerificationURI: ans.VerificationURI, VerificationURIComplete: ans.VerificationURIComplete,
		ExpiresAt: time.Now().Add(seconds(ans.ExpiresIn, 600*time.Second)),
		Interval:  max(seconds(ans.Interval, 5*time.Second), time.Second),
	}, nil
}

// seconds converts a count of seconds, or def when absent or silly.
func seconds(s float64, def time.Duration) time.Duration {
	if s <= 0 || s > 24*3600 {
		return def
	}
	return time.Duration(s * float64(time.Second))
}

// Sleep waits d or until ctx ends (returning its error). PollDeviceToken
// takes one so tests can skip the waiting.
type Sleep func(ctx context.Context, d time.Duration) error

// SleepCtx is the real Sleep.
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PollDeviceToken polls POST /token with the device code until the person
// approves (tokens), declines (ErrDenied), the code expires (ErrExpired), or
// ctx ends. authorization_pending waits the interval; slow_down adds 5 s to
// it (RFC 8628 §3.5). A nil sleep means SleepCtx.
func PollDeviceToken(ctx context.Context, hc *http.Client, oidcBase string, reg *Registration, da *DeviceAuthorization, sleep Sleep) (*Tokens, error) {
	if sleep == nil {
		sleep = SleepCtx
	}
	body := map[string]string{
		"clientId": reg.ClientID, "clientSecret": reg.ClientSecret.Reveal(),
		"grantType": "urn:ietf:params:oauth:grant-type:device_code", "deviceCode": da.DeviceCode.Reveal(),
	}
	transient := 0
	for {
		if err := sleep(ctx, da.Interval); err != nil {
			return nil, err
		}
		if !da.ExpiresAt.IsZero() && time.Now().After(da.ExpiresAt) {
			return nil, &SignInError{Op: "token", Code: "expired_token", Err: ErrExpired}
		}
		toks, err := refresh(ctx, hc, strings.TrimRight(oidcBase, "/")+"/token", body, nil, oidc, reg.ClientSecret, da.DeviceCode)
		if err == nil {
			return toks, nil
		}
		var re *RefreshError
		if !errors.As(err, &re) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		code := strings.ToLower(re.Code)
		switch {
		case code == "authorization_pending" || strings.Contains(code, "authorizationpending"):
			transient = 0
		case code == "slow_down" || strings.Contains(code, "slowdown"):
			da.Interval += 5 * time.Second
		case code == "expired_token" || strings.Contains(code, "expiredtoken"):
			return nil, &SignInError{Op: "token", Status: re.Status, Code: re.Code, Err: ErrExpired}
		case code == "access_denied" || strings.Contains(code, "accessdenied"):
			return nil, &SignInError{Op: "token", Status: re.Status, Code: re.Code, Err: ErrDenied}
		case re.Transient && transient < 3: // a hiccup on the network or the server: keep going
			transient++
		default:
			return nil, &SignInError{Op: "token", Status: re.Status, Code: re.Code, Message: re.Message, Err: re.Err}
		}
	}
}

// postJSON posts body to base+path and decodes a 200 answer into out;
// anything else becomes a *SignInError with secrets scrubbed.
func postJSON(ctx context.Context, hc *http.Client, base, path, op string, body, out any, secrets ...redact.Secret) error {
	if hc == nil {
		hc = defaultClient
	}
	c := *hc
	c.CheckRedirect = noRedirect
	b, err := json.Marshal(body)
	if err != nil {
		return &SignInError{Op: op, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+path, bytes.NewReader(b))
	if err != nil {
		return &SignInError{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &SignInError{Op: op, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &SignInError{Op: op, Status: resp.StatusCode, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		re := classify(resp.StatusCode, data, oidc, secrets)
		e := &SignInError{Op: op, Status: re.Status, Code: re.Code, Message: re.Message}
		if errors.Is(re, ErrInvalidClient) {
			e.Err = ErrInvalidClient
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &SignInError{Op: op, Status: resp.StatusCode, Code: "invalid_response", Message: "answer is not JSON"}
	}
	return nil
}
