package kirofake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Kiro's portal sign-in with PKCE (auth.md §5.2), the social device flow
// (§5.4), and scripted refresh failures. The portal page signs in at once,
// as if the person picked PortalChoice; the device page is /account/device.

const (
	authCodeTTL           = 10 * time.Minute
	socialDeviceTTL       = 5 * time.Minute
	socialDeviceClientID  = "Kiro-CLI"
	portalCallbackPath    = "/oauth/callback"
	verifierChallengeSize = 43 // base64url of a SHA-256
)

// PortalChoice is what the person picks on the portal's sign-in page.
type PortalChoice struct {
	// Option is the login_option sent back: "google" (the default),
	// "github", or "builderid" / "awsidc" / "internal", which the portal
	// hands off with issuer_url and idc_region instead of a code.
	Option string
	// Account is the social account signed in to, created when new; ""
	// makes a new one (portal-1, portal-2, …).
	Account string
}

type authCode struct {
	challenge string
	origin    string // the redirect_uri of /signin: a bare origin
	option    string
	account   string
	expires   time.Time
}

// SetPortalChoice sets what the next sign-ins on the portal pick.
func (s *Server) SetPortalChoice(c PortalChoice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.portal = c
}

// signinPage serves GET /signin: checks the request as the portal does,
// then either shows the portal's page (Config.PortalPage), where a person
// picks Google or GitHub, or sends the browser straight back to the
// loopback callback with a code and the state, as if the person had picked
// what SetPortalChoice says.
func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ru, msg := checkSignin(q)
	if msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	if s.cfg.PortalPage {
		portalPage(w, q)
		return
	}
	s.mu.Lock()
	choice := s.portal
	s.mu.Unlock()
	s.signinRedirect(w, r, q, ru, choice, http.StatusFound)
}

// signinSubmit serves POST /signin: the portal page's form, with the
// person's pick. It checks the request again and sends the browser back.
func (s *Server) signinSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	q := r.PostForm
	ru, msg := checkSignin(q)
	if msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	choice := PortalChoice{Option: strings.ToLower(q.Get("login_option")), Account: strings.TrimSpace(q.Get("account"))}
	if choice.Option != "google" && choice.Option != "github" {
		http.Error(w, "pick Google or GitHub", http.StatusBadRequest)
		return
	}
	if !validAccountName(choice.Account) {
		resultPage(w, http.StatusBadRequest, "Not a usable name",
			"An account name is up to 40 letters, digits, dots, dashes or underscores. Go back and try another, or leave it empty.")
		return
	}
	s.mu.Lock()
	taken := choice.Account != "" && s.accounts[choice.Account] != nil && s.accounts[choice.Account].kind != social
	s.mu.Unlock()
	if taken {
		resultPage(w, http.StatusBadRequest, "Name taken", "That name belongs to an AWS Builder ID or API-key account. Go back and pick another.")
		return
	}
	s.signinRedirect(w, r, q, ru, choice, http.StatusSeeOther)
}

// checkSignin applies the portal's rules to a sign-in request and returns
// its loopback origin, or why it is refused.
func checkSignin(q url.Values) (*url.URL, string) {
	ru, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("state") == "":
		return nil, "missing state"
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != verifierChallengeSize:
		return nil, "code_challenge must be an S256 challenge"
	case err != nil || ru.Scheme != "http" || (ru.Hostname() != "localhost" && ru.Hostname() != "127.0.0.1") ||
		ru.Port() == "" || ru.Path != "" || ru.RawQuery != "":
		// The portal takes only a loopback origin; the callback path is the client's.
		return nil, "Invalid redirect URI"
	}
	return ru, ""
}

// signinRedirect sends the browser back to the loopback callback with the
// outcome of choice: a code for a social login, the IdC hand-off otherwise.
func (s *Server) signinRedirect(w http.ResponseWriter, r *http.Request, q url.Values, ru *url.URL, choice PortalChoice, status int) {
	if choice.Option == "" {
		choice.Option = "google"
	}
	back := url.Values{"login_option": {choice.Option}, "state": {q.Get("state")}}
	switch strings.ToLower(choice.Option) {
	case "builderid", "awsidc", "internal":
		back.Set("issuer_url", "https://identitycenter.amazonaws.com/ssoins-kirofake")
		back.Set("idc_region", "us-east-1")
	default:
		code := rand.Text() + rand.Text()
		s.mu.Lock()
		s.codes[code] = &authCode{challenge: q.Get("code_challenge"), origin: ru.String(), option: choice.Option,
			account: choice.Account, expires: s.now().Add(authCodeTTL)}
		s.mu.Unlock()
		back.Set("code", code)
	}
	http.Redirect(w, r, ru.String()+portalCallbackPath+"?"+back.Encode(), status)
}

// oauthToken serves POST /oauth/token: the code exchange, with the PKCE
// verifier checked (S256) and the redirect_uri the client must rebuild:
// origin + callback path + ?login_option=… (§5.2 step 6).
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code         string `json:"code"`
		CodeVerifier string `json:"code_verifier"`
		RedirectURI  string `json:"redirect_uri"`
	}
	if decodeJSON(r, &in) != nil || in.Code == "" || in.CodeVerifier == "" || in.RedirectURI == "" {
		return errBadRequest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.codes[in.Code]
	delete(s.codes, in.Code) // single-use, even when the exchange fails
	sum := sha256.Sum256([]byte(in.CodeVerifier))
	switch {
	case c == nil || !s.now().Before(c.expires):
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "Invalid or expired authorization code"}
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "PKCE verification failed"}
	case in.RedirectURI != c.origin+portalCallbackPath+"?login_option="+url.QueryEscape(c.option):
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "redirect_uri does not match"}
	}
	a := s.socialAccountLocked(c.account, "portal")
	access, refresh := s.signInLocked(a)
	writeJSON(w, http.StatusOK, map[string]any{"accessToken": access, "refreshToken": refresh,
		"profileArn": a.profileARN, "expiresIn": int(s.cfg.AccessTTL.Seconds())})
	return nil
}

// socialAccountLocked returns the social account name, made when new; ""
// makes prefix-N.
func (s *Server) socialAccountLocked(name, prefix string) *account {
	if name == "" {
		s.nDevice++
		name = fmt.Sprintf("%s-%d", prefix, s.nDevice)
		for s.accounts[name] != nil {
			name += "x"
		}
	}
	if a := s.accounts[name]; a != nil {
		return a
	}
	return s.addAccountLocked(name, social)
}

// socialDeviceAuthorization serves POST /oauth/device/authorization (§5.4):
// times in milliseconds, the verification page on this server.
func (s *Server) socialDeviceAuthorization(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ClientID      string `json:"clientId"`
		LoginProvider string `json:"loginProvider"`
	}
	if decodeJSON(r, &in) != nil {
		return errBadRequest
	}
	if !strings.EqualFold(in.ClientID, socialDeviceClientID) {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_client", Description: "Invalid client provided"}
	}
	if in.LoginProvider != "Google" && in.LoginProvider != "Github" {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "loginProvider must be Google or Github"}
	}
	s.mu.Lock()
	d := &deviceAuth{social: true, provider: in.LoginProvider, code: rand.Text() + rand.Text(), userCode: userCode(),
		expires: s.now().Add(socialDeviceTTL), interval: deviceInterval}
	s.devices[d.code] = d
	s.userCode[d.userCode] = d
	s.mu.Unlock()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	uri := scheme + "://" + r.Host + "/account/device"
	writeJSON(w, http.StatusOK, map[string]any{
		"deviceCode": d.code, "userCode": d.userCode, "verificationUri": uri,
		"verificationUriComplete": uri + "?" + url.Values{"user_code": {d.userCode}, "login_provider": {in.LoginProvider}}.Encode(),
		"expiresInMilliseconds":   socialDeviceTTL.Milliseconds(), "intervalInMilliseconds": deviceInterval.Milliseconds(),
	})
	return nil
}

// socialDevicePoll serves POST /oauth/device/poll: HTTP 200 with a status,
// token fields null until success; slow_down when polled faster than the
// interval (which then grows by 5 s).
func (s *Server) socialDevicePoll(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ClientID   string `json:"clientId"`
		DeviceCode string `json:"deviceCode"`
	}
	if decodeJSON(r, &in) != nil || !strings.EqualFold(in.ClientID, socialDeviceClientID) {
		return errBadRequest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[in.DeviceCode]
	if d == nil || !d.social {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Invalid device code provided"}
	}
	status := func(st string) error {
		writeJSON(w, http.StatusOK, map[string]any{"status": st, "accessToken": nil, "refreshToken": nil, "profileArn": nil, "expiresIn": nil})
		return nil
	}
	now := s.now()
	switch {
	case !now.Before(d.expires):
		s.dropDeviceLocked(d)
		return status("expired_token")
	case d.state == deviceDenied:
		s.dropDeviceLocked(d)
		return status("access_denied")
	case d.state == deviceApproved:
		s.dropDeviceLocked(d)
		access, refresh := s.signInLocked(d.acct)
		writeJSON(w, http.StatusOK, map[string]any{"status": "success", "accessToken": access, "refreshToken": refresh,
			"profileArn": d.acct.profileARN, "expiresIn": int(s.cfg.AccessTTL.Seconds()), "identityProvider": d.provider})
		return nil
	}
	early := !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < d.interval
	d.lastPoll = now
	if early {
		d.interval += 5 * time.Second
		return status("slow_down")
	}
	return status("authorization_pending")
}

// RefreshFault makes token refreshes fail (social /refreshToken and the
// OIDC refresh_token grant); sign-ins and device polls are not affected.
type RefreshFault uint8

const (
	RefreshOK           RefreshFault = iota
	RefreshInvalidGrant              // 400 invalid_grant, the token left alive
	RefreshServerError               // 500, the token left alive
	RefreshHang                      // no answer until the caller gives up
)

// FailRefreshes makes the next n refreshes fail with f (n ≤ 0 clears).
func (s *Server) FailRefreshes(f RefreshFault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshFault, s.refreshFaultLeft = f, max(n, 0)
}

// takeRefreshFaultLocked returns the fault for one refresh, counting it.
func (s *Server) takeRefreshFaultLocked() RefreshFault {
	if s.refreshFaultLeft == 0 {
		return RefreshOK
	}
	s.refreshFaultLeft--
	return s.refreshFault
}

// refreshFaultError is the answer of a scripted refresh failure, nil when
// there is none. Call without s.mu held: a hang waits for the client.
func refreshFaultError(ctx context.Context, f RefreshFault) error {
	switch f {
	case RefreshInvalidGrant:
		return errInvalidGrant
	case RefreshServerError:
		return &apiError{Status: http.StatusInternalServerError, Type: "InternalServerException",
			Message: "Encountered an unexpected error when processing the request, please try again.", Detail: "scripted refresh fault"}
	case RefreshHang:
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}
