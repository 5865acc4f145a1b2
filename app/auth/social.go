package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kirotray/kirotray/proxy/redact"

	"golang.org/x/oauth2"
)

// Google and GitHub sign-in through Kiro's portal with PKCE and a callback
// on 127.0.0.1 (auth.md §5.2), and, for a machine without a browser, Kiro's
// social device flow (§5.4).

// DefaultPortal is Kiro's sign-in portal.
const DefaultPortal = "https://app.kiro.dev"

// PortalPorts are the callback ports Kiro's portal accepts (auth.md §5.2).
var PortalPorts = []int{3128, 4649, 6588, 8008, 9091, 49153, 50153, 51153, 52153, 53153}

// DefaultSignInTimeout bounds a whole browser or device sign-in.
const DefaultSignInTimeout = 10 * time.Minute

// ErrWrongFlow means the person chose, on the portal, a sign-in this flow
// does not finish (Builder ID or an organisation): use the device flow.
var ErrWrongFlow = errors.New("auth: that sign-in method is not finished in the browser flow")

// PKCE is a proof key pair (RFC 7636, S256).
type PKCE struct {
	Verifier  redact.Secret // 43 characters, base64url of 32 random bytes
	Challenge string
}

// NewPKCE makes a fresh pair.
func NewPKCE() PKCE {
	v := oauth2.GenerateVerifier()
	return PKCE{Verifier: redact.Secret(v), Challenge: oauth2.S256ChallengeFromVerifier(v)}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// SocialResult is a finished social sign-in.
type SocialResult struct {
	Tokens *Tokens
	// Provider is "Google" or "Github", as the person chose on the portal
	// (or asked for in the device flow).
	Provider string
}

// PortalLogin configures a browser sign-in through Kiro's portal.
type PortalLogin struct {
	// Portal is the sign-in site; empty means DefaultPortal.
	Portal string
	// AuthBase is Kiro's auth service, where the code is exchanged; empty
	// means DefaultAuthBase.
	AuthBase string
	// Ports are tried in order for the callback listener; nil means
	// PortalPorts (the portal accepts no other). 0 means any free port.
	Ports []int
	// HTTPClient makes the exchange; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// UserAgent for the exchange; may be empty.
	UserAgent string
}

// PendingLogin is a browser sign-in waiting for its callback. Open URL in
// the browser, then Wait. Close (also after Wait) stops the listener.
type PendingLogin struct {
	// URL is the page to open.
	URL string

	cfg      PortalLogin
	port     int
	state    string
	pkce     PKCE
	servers  []*http.Server
	result   chan callbackResult // capacity 1: the one callback
	once     sync.Once
	closeErr error
}

type callbackResult struct {
	code, option, path string
	err                error
}

// Start listens for the callback on 127.0.0.1 (and [::1] when free: some
// browsers resolve localhost there first) on the first free port, and
// builds the portal URL.
func (p PortalLogin) Start() (*PendingLogin, error) {
	if p.Portal == "" {
		p.Portal = DefaultPortal
	}
	if p.AuthBase == "" {
		p.AuthBase = DefaultAuthBase
	}
	ports := p.Ports
	if ports == nil {
		ports = PortalPorts
	}
	l := &PendingLogin{cfg: p, state: randomString(24), pkce: NewPKCE(), result: make(chan callbackResult, 1)}
	var ln net.Listener
	var err error
	for _, port := range ports {
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			break
		}
	}
	if ln == nil {
		return nil, fmt.Errorf("auth: no free port for the sign-in callback (tried %v): close what uses them, or sign in with --remote: %w", ports, err)
	}
	l.port = ln.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{ln}
	if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(l.port))); err == nil {
		lns = append(lns, ln6)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/callback", l.callback)
	mux.HandleFunc("GET /signin/callback", l.callback)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	for _, ln := range lns {
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		l.servers = append(l.servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}
	q := url.Values{
		"state": {l.state}, "code_challenge": {l.pkce.Challenge}, "code_challenge_method": {"S256"},
		"redirect_uri": {l.origin()}, "redirect_from": {"KiroIDE"},
	}
	l.URL = strings.TrimRight(p.Portal, "/") + "/signin?" + q.Encode()
	return l, nil
}

// origin is the redirect_uri the portal gets: the bare origin (§5.2 step 3).
func (l *PendingLogin) origin() string { return "http://localhost:" + strconv.Itoa(l.port) }

// Port is the callback listener's port.
func (l *PendingLogin) Port() int { return l.port }

func (l *PendingLogin) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// The state first, in constant time: anything else is not our callback
	// (a stale tab, or another page trying its luck) and changes nothing.
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(l.state)) != 1 {
		page(w, http.StatusBadRequest, "This sign-in link is not the one kirotray is waiting for",
			"Start the sign-in again from kirotray, and use the browser tab it opens.")
		return
	}
	res := callbackResult{code: q.Get("code"), option: strings.ToLower(q.Get("login_option")), path: r.URL.Path}
	switch {
	case q.Get("error") != "":
		res.err = fmt.Errorf("auth: the sign-in page reported %q: %s", q.Get("error"), q.Get("error_description"))
	case res.option == "builderid" || res.option == "awsidc" || res.option == "internal" || res.option == "external_idp":
		res.err = fmt.Errorf("%w: you chose %q; for AWS Builder ID or an organisation use `kirotray accounts login builder-id` (with --start-url for an organisation)", ErrWrongFlow, res.option)
	case res.code == "":
		res.err = errors.New("auth: the sign-in page sent no code")
	}
	select {
	case l.result <- res:
	default: // a second callback: the first one counts
		page(w, http.StatusConflict, "Already handled", "kirotray already received a sign-in from this tab. You can close it.")
		return
	}
	if res.err != nil {
		page(w, http.StatusOK, "Sign-in did not complete", res.err.Error()+"\n\nYou can close this tab and try again in kirotray.")
		return
	}
	page(w, http.StatusOK, "You are signed in to kirotray", "You can close this tab and go back to kirotray.")
}

// page writes a small self-contained HTML page; text is escaped.
func page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>%s</title>
<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}</style></head>
<body><h1>%s</h1><p>%s</p></body></html>
`, html.EscapeString(title), html.EscapeString(title), strings.ReplaceAll(html.EscapeString(text), "\n", "<br>"))
}

// Wait waits for the browser to come back (or ctx to end), checks it, and
// exchanges the code for tokens. It then stops listening.
func (l *PendingLogin) Wait(ctx context.Context) (*SocialResult, error) {
	defer l.Close()
	var res callbackResult
	select {
	case res = <-l.result:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.err != nil {
		return nil, res.err
	}
	// The exchange's redirect_uri is origin + the path hit + login_option (§5.2 step 6).
	redirect := l.origin() + res.path + "?login_option=" + url.QueryEscape(res.option)
	body := map[string]string{"code": res.code, "code_verifier": l.pkce.Verifier.Reveal(), "redirect_uri": redirect}
	hdr := http.Header{}
	if l.cfg.UserAgent != "" {
		hdr.Set("User-Agent", l.cfg.UserAgent)
	}
	toks, err := refresh(ctx, l.cfg.HTTPClient, strings.TrimRight(l.cfg.AuthBase, "/")+"/oauth/token", body, hdr, social,
		redact.Secret(res.code), l.pkce.Verifier)
	if err != nil {
		return nil, asSignIn("code exchange", err)
	}
	if toks.Refresh == "" {
		return nil, &SignInError{Op: "code exchange", Code: "invalid_response", Message: "answer has no refresh token"}
	}
	return &SocialResult{Tokens: toks, Provider: providerOf(res.option)}, nil
}

// Close stops listening; safe to call more than once.
func (l *PendingLogin) Close() error {
	l.once.Do(func() {
		for _, s := range l.servers {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			// Let the browser receive its page, then go.
			if err := s.Shutdown(ctx); err != nil {
				l.closeErr = s.Close()
			}
			cancel()
		}
	})
	return l.closeErr
}

func providerOf(option string) string {
	switch strings.ToLower(option) {
	case "google":
		return "Google"
	case "github":
		return "Github"
	}
	return option
}

func asSignIn(op string, err error) error {
	var re *RefreshError
	if errors.As(err, &re) {
		return &SignInError{Op: op, Status: re.Status, Code: re.Code, Message: re.Message, Err: re.Err}
	}
	return err
}

// SocialDevice is Kiro's social device flow (auth.md §5.4): Google or
// GitHub on another device, no local listener.
type SocialDevice struct {
	AuthBase   string       // empty means DefaultAuthBase
	HTTPClient *http.Client // nil means a client with a 30 s timeout
	// ClientID is sent as clientId; empty means "Kiro-CLI" (⚠ unverified).
	ClientID string
}

// Start asks for a code for provider ("Google" or "Github").
func (s SocialDevice) Start(ctx context.Context, provider string) (*DeviceAuthorization, error) {
	if s.AuthBase == "" {
		s.AuthBase = DefaultAuthBase
	}
	if s.ClientID == "" {
		s.ClientID = "Kiro-CLI"
	}
	var ans struct {
		DeviceCode              string  `json:"deviceCode"`
		UserCode                string  `json:"userCode"`
		VerificationURI         string  `json:"verificationUri"`
		VerificationURIComplete string  `json:"verificationUriComplete"`
		ExpiresInMilliseconds   float64 `json:"expiresInMilliseconds"`
		IntervalInMilliseconds  float64 `json:"intervalInMilliseconds"`
	}
	body := map[string]string{"clientId": s.ClientID, "loginProvider": providerOf(provider)}
	if err := postJSON(ctx, s.HTTPClient, s.AuthBase, "/oauth/device/authorization", "device authorization", body, &ans); err != nil {
		return nil, err
	}
	if ans.DeviceCode == "" || ans.UserCode == "" || ans.VerificationURI == "" {
		return nil, &SignInError{Op: "device authorization", Code: "invalid_response", Message: "answer has no code"}
	}
	return &DeviceAuthorization{
		DeviceCode: redact.Secret(ans.DeviceCode), UserCode: ans.UserCode,
		VerificationURI: ans.VerificationURI, VerificationURIComplete: ans.VerificationURIComplete,
		ExpiresAt: time.Now().Add(seconds(ans.ExpiresInMilliseconds/1000, 5*time.Minute)),
		Interval:  max(seconds(ans.IntervalInMilliseconds/1000, 5*time.Second), time.Second),
	}, nil
}

// Poll waits for the person to approve (POST /oauth/device/poll answers 200
// with a status), handling authorization_pending and slow_down like the
// OIDC device flow. A nil sleep means SleepCtx.
func (s SocialDevice) Poll(ctx context.Context, da *DeviceAuthorization, sleep Sleep) (*Tokens, error) {
	if s.AuthBase == "" {
		s.AuthBase = DefaultAuthBase
	}
	if s.ClientID == "" {
		s.ClientID = "Kiro-CLI"
	}
	if sleep == nil {
		sleep = SleepCtx
	}
	body := map[string]string{"clientId": s.ClientID, "deviceCode": da.DeviceCode.Reveal()}
	transient := 0
	for {
		if err := sleep(ctx, da.Interval); err != nil {
			return nil, err
		}
		if !da.ExpiresAt.IsZero() && time.Now().After(da.ExpiresAt) {
			return nil, &SignInError{Op: "poll", Code: "expired_token", Err: ErrExpired}
		}
		var ans struct {
			Status       string  `json:"status"`
			AccessToken  string  `json:"accessToken"`
			RefreshToken string  `json:"refreshToken"`
			ProfileARN   string  `json:"profileArn"`
			ExpiresIn    float64 `json:"expiresIn"`
		}
		err := postJSON(ctx, s.HTTPClient, s.AuthBase, "/oauth/device/poll", "poll", body, &ans, da.DeviceCode)
		var se *SignInError
		switch {
		case err == nil:
		case errors.As(err, &se) && se.Status != 0 && se.Code != "":
			ans.Status = se.Code // some servers answer the OAuth way, with an error status
		case errors.As(err, &se) && transient < 3:
			transient++
			continue
		default:
			return nil, err
		}
		switch strings.ToLower(ans.Status) {
		case "authorization_pending", "pending":
		case "slow_down":
			da.Interval += 5 * time.Second
		case "success", "authorized", "complete", "completed":
			if ans.AccessToken == "" || ans.RefreshToken == "" {
				return nil, &SignInError{Op: "poll", Code: "invalid_response", Message: "approved, but the answer has no tokens"}
			}
			exp := seconds(ans.ExpiresIn, defaultExpiresIn)
			return &Tokens{Access: redact.Secret(ans.AccessToken), Refresh: redact.Secret(ans.RefreshToken),
				ExpiresAt: time.Now().Add(exp), ExpiresIn: exp, ProfileARN: ans.ProfileARN}, nil
		case "expired_token", "expired":
			return nil, &SignInError{Op: "poll", Code: ans.Status, Err: ErrExpired}
		case "access_denied", "denied", "invalid_token":
			return nil, &SignInError{Op: "poll", Code: ans.Status, Err: ErrDenied}
		default:
			if se != nil {
				return nil, se
			}
			return nil, &SignInError{Op: "poll", Code: ans.Status, Message: "unexpected status"}
		}
	}
}
