package kirofake

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The auth service (social refresh, auth.md §3) and SSO-OIDC (IdC refresh
// and the device flow, auth.md §4 and §5.5). Refresh tokens are single-use:
// every successful refresh returns a new one and kills the old, so a client
// that loses a rotated token is locked out exactly as with the real services.

const (
	clientSecretTTL = 90 * 24 * time.Hour
	deviceCodeTTL   = 10 * time.Minute
	deviceInterval  = time.Second // the poll interval first announced
)

type oidcClient struct {
	id, secret, name string
	expires          time.Time
}

type deviceAuth struct {
	client   *oidcClient // nil for the social device flow
	social   bool        // Kiro's social device flow (§5.4), not SSO-OIDC's
	provider string      // social: Google or Github
	code     string      // device code
	userCode string
	expires  time.Time
	interval time.Duration
	lastPoll time.Time
	state    deviceState
	acct     *account // set on approval
}

type deviceState uint8

const (
	devicePending deviceState = iota
	deviceApproved
	deviceDenied
)

var (
	errInvalidGrant = &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "Invalid refresh token provided"}
	errBadRequest   = &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Invalid request"}
)

// socialRefresh serves POST /refreshToken.
func (s *Server) socialRefresh(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		RefreshToken string `json:"refreshToken"`
	}
	if decodeJSON(r, &in) != nil || in.RefreshToken == "" {
		return errBadRequest
	}
	s.mu.Lock()
	f := s.takeRefreshFaultLocked()
	s.mu.Unlock()
	if err := refreshFaultError(r.Context(), f); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[in.RefreshToken]
	switch {
	case t == nil || t.kind != kindRefresh:
		return errInvalidGrant
	case t.acct.kind != social:
		// What the social service says to an IdC token.
		return &apiError{Status: http.StatusBadRequest, Message: "Bad credentials", Detail: "an IdC refresh token sent to the social endpoint"}
	}
	access, refresh := s.rotateLocked(in.RefreshToken, t.acct)
	writeJSON(w, http.StatusOK, map[string]any{
		"accessToken": access, "refreshToken": refresh,
		"expiresIn": int(s.cfg.AccessTTL.Seconds()), "profileArn": t.acct.profileARN,
	})
	return nil
}

// rotateLocked spends a refresh token and issues a new pair.
func (s *Server) rotateLocked(old string, a *account) (access, refresh string) {
	delete(s.tokens, old)
	a.usage.Refreshes++
	return s.issueLocked(a, kindAccess), s.issueLocked(a, kindRefresh)
}

// signInLocked issues an account's first token pair (not a refresh).
func (s *Server) signInLocked(a *account) (access, refresh string) {
	return s.issueLocked(a, kindAccess), s.issueLocked(a, kindRefresh)
}

// oidcToken serves POST /token: refresh_token and device_code grants.
func (s *Server) oidcToken(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		GrantType    string `json:"grantType"`
		RefreshToken string `json:"refreshToken"`
		DeviceCode   string `json:"deviceCode"`
	}
	if decodeJSON(r, &in) != nil || in.GrantType == "" || in.ClientID == "" {
		return errBadRequest
	}
	if in.GrantType == "refresh_token" {
		s.mu.Lock()
		f := s.takeRefreshFaultLocked()
		s.mu.Unlock()
		if err := refreshFaultError(r.Context(), f); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clientLocked(in.ClientID, in.ClientSecret)
	if c == nil {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_client", Description: "Invalid client provided"}
	}
	switch in.GrantType {
	case "refresh_token":
		t := s.tokens[in.RefreshToken]
		if t == nil || t.kind != kindRefresh || t.acct.kind != idc || t.acct.clientID != c.id {
			return errInvalidGrant
		}
		access, refresh := s.rotateLocked(in.RefreshToken, t.acct)
		s.writeTokenLocked(w, access, refresh)
		return nil
	case "urn:ietf:params:oauth:grant-type:device_code":
		return s.pollDeviceLocked(w, c, in.DeviceCode)
	}
	return &oauthError{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "Unsupported grant type: " + in.GrantType}
}

func (s *Server) writeTokenLocked(w http.ResponseWriter, access, refresh string) {
	writeJSON(w, http.StatusOK, map[string]any{
		"accessToken": access, "tokenType": "Bearer", "expiresIn": int(s.cfg.AccessTTL.Seconds()),
		"refreshToken": refresh, "idToken": nil,
	})
}

// clientLocked returns the registered client with that secret, if unexpired.
func (s *Server) clientLocked(id, secret string) *oidcClient {
	c := s.clients[id]
	if c == nil || c.secret != secret || !s.now().Before(c.expires) {
		return nil
	}
	return c
}

func (s *Server) registerLocked(name string) *oidcClient {
	c := &oidcClient{id: "kirofake-client-" + rand.Text(), secret: "kirofake-secret-" + rand.Text() + rand.Text(),
		name: name, expires: s.now().Add(clientSecretTTL)}
	s.clients[c.id] = c
	return c
}

// registerClient serves POST /client/register.
func (s *Server) registerClient(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ClientName string   `json:"clientName"`
		ClientType string   `json:"clientType"`
		Scopes     []string `json:"scopes"`
	}
	if decodeJSON(r, &in) != nil || in.ClientName == "" || in.ClientType != "public" {
		return errBadRequest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.registerLocked(in.ClientName)
	now := s.now()
	writeJSON(w, http.StatusOK, map[string]any{
		"clientId": c.id, "clientSecret": c.secret,
		"clientIdIssuedAt": now.Unix(), "clientSecretExpiresAt": c.expires.Unix(),
	})
	return nil
}

// deviceAuthorization serves POST /device_authorization. The verification
// URI points at this server's own /device page, where a person (or a test
// with ApproveDevice) approves the code.
func (s *Server) deviceAuthorization(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		StartURL     string `json:"startUrl"`
	}
	if decodeJSON(r, &in) != nil {
		return errBadRequest
	}
	if !strings.HasPrefix(in.StartURL, "https://") {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "invalid start url provided"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clientLocked(in.ClientID, in.ClientSecret)
	if c == nil {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_client", Description: "Invalid client provided"}
	}
	d := &deviceAuth{client: c, code: rand.Text() + rand.Text(), userCode: userCode(),
		expires: s.now().Add(deviceCodeTTL), interval: deviceInterval}
	s.devices[d.code] = d
	s.userCode[d.userCode] = d
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	uri := scheme + "://" + r.Host + "/device"
	writeJSON(w, http.StatusOK, map[string]any{
		"deviceCode": d.code, "userCode": d.userCode,
		"verificationUri": uri, "verificationUriComplete": uri + "?user_code=" + d.userCode,
		"expiresIn": int(deviceCodeTTL.Seconds()), "interval": int(deviceInterval.Seconds()),
	})
	return nil
}

// userCode returns a code like "WDJB-MJHT" (no vowels, no look-alikes).
func userCode() string {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	b := []byte(rand.Text()[:8])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// pollDeviceLocked answers a device_code grant: authorization_pending until
// approved, slow_down when polled faster than the interval (which then grows
// by 5 s, RFC 8628), tokens once, then invalid_grant.
func (s *Server) pollDeviceLocked(w http.ResponseWriter, c *oidcClient, code string) error {
	d := s.devices[code]
	if d == nil || d.client != c {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "Invalid device code provided"}
	}
	now := s.now()
	if !now.Before(d.expires) {
		s.dropDeviceLocked(d)
		return &oauthError{Status: http.StatusBadRequest, Code: "expired_token", Description: "Device code has expired"}
	}
	switch d.state {
	case deviceDenied:
		s.dropDeviceLocked(d)
		return &oauthError{Status: http.StatusBadRequest, Code: "access_denied", Description: "The user denied the authorization request"}
	case deviceApproved:
		s.dropDeviceLocked(d)
		access, refresh := s.signInLocked(d.acct)
		s.writeTokenLocked(w, access, refresh)
		return nil
	}
	early := !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < d.interval
	d.lastPoll = now
	if early {
		d.interval += 5 * time.Second
		return &oauthError{Status: http.StatusBadRequest, Code: "slow_down", Description: "Client is polling too quickly"}
	}
	return &oauthError{Status: http.StatusBadRequest, Code: "authorization_pending", Description: "Authorization is still pending"}
}

func (s *Server) dropDeviceLocked(d *deviceAuth) {
	delete(s.devices, d.code)
	delete(s.userCode, d.userCode)
}

// ApproveDevice approves a pending device authorization, as the person at
// the verification page would. It creates the account the flow signs in to
// (IdC for the SSO-OIDC flow, social for Kiro's social device flow) and
// returns its name; ok is false for an unknown or settled code.
func (s *Server) ApproveDevice(userCode string) (account string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settleDeviceLocked(userCode, true)
}

// DenyDevice declines a pending device authorization: the next poll gets access_denied.
func (s *Server) DenyDevice(userCode string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.settleDeviceLocked(userCode, false)
	return ok
}

func (s *Server) settleDeviceLocked(code string, approve bool) (string, bool) {
	d := s.userCode[strings.ToUpper(strings.TrimSpace(code))]
	if d == nil || d.state != devicePending || !s.now().Before(d.expires) {
		return "", false
	}
	if !approve {
		d.state = deviceDenied
		return "", true
	}
	if d.social {
		d.acct = s.socialAccountLocked("", "device")
		d.state = deviceApproved
		return d.acct.name, true
	}
	s.nDevice++
	name := fmt.Sprintf("device-%d", s.nDevice)
	for s.accounts[name] != nil {
		name += "x"
	}
	d.acct = s.addAccountLocked(name, idc)
	d.acct.clientID = d.client.id
	d.state = deviceApproved
	return name, true
}
