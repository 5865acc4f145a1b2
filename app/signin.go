package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/kirotray/kirotray/app/auth"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/redact"
)

// Sign-in: kirotray's own logins (auth.md §2.4 strategy C, the recommended
// one). Their tokens form a family of their own, kept in the keychain; the
// Kiro IDE's login is never touched.

// SignInOptions configure a sign-in. Zero values are the real services.
type SignInOptions struct {
	KiroAuth string // Kiro's auth service (social exchange, social device flow); empty: auth.DefaultAuthBase
	Portal   string // Kiro's sign-in portal; empty: auth.DefaultPortal
	OIDC     string // SSO-OIDC base; empty: https://oidc.{Region}.amazonaws.com
	KiroAPI  string // data plane, to look up the profile and e-mail; empty: DefaultKiroAPI
	// Region is the IAM Identity Center's region (Builder ID: us-east-1).
	Region string
	// StartURL is the organisation's start URL; empty means AWS Builder ID.
	StartURL string
	// Remote finishes the sign-in on another device: nothing is opened
	// here; the link and code are shown instead.
	Remote bool
	// HTTPClient makes every call (an outbound proxy goes here); nil: a
	// client with a 30 s timeout.
	HTTPClient *http.Client
	// Open opens a URL in the browser; nil opens nothing (the link is shown).
	Open func(url string) error
	// Prompt is told what the person must do: the link, the code.
	Prompt func(SignInPrompt)
	// Timeout bounds the whole sign-in; zero means 10 minutes.
	Timeout time.Duration
	// Sleep, Ports: for tests (poll waits; callback ports).
	Sleep auth.Sleep
	Ports []int
}

// SignInPrompt is what to show while a sign-in waits for the person.
type SignInPrompt struct {
	URL      string    // the page to visit
	UserCode string    // device flows: the code the page shows, to compare
	Expires  time.Time // when the code or the wait ends
	Opened   bool      // the URL was opened in the browser here
	// OpenErr says why it was not opened (no browser, or an unexpected host).
	OpenErr error
}

// NewLogin is a finished sign-in, ready for Store.Add (or a credentials file).
type NewLogin struct {
	Meta    AccountMeta
	Secrets Secrets
	// Identity is what the lookup after sign-in learned, or why it failed.
	IdentityErr error
}

// Credential is the login as a credentials-file entry.
func (n *NewLogin) Credential() Credential {
	m := n.Meta
	return Credential{Name: m.Name, RefreshToken: n.Secrets.RefreshToken, AuthMethod: m.Kind.authMethod(),
		ClientID: m.ClientID, ClientSecret: n.Secrets.ClientSecret, Region: m.Region, ProfileARN: m.ProfileARN}
}

func (o *SignInOptions) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = auth.DefaultSignInTimeout
	}
	if o.KiroAuth == "" {
		o.KiroAuth = auth.DefaultAuthBase
	}
	if o.Portal == "" {
		o.Portal = auth.DefaultPortal
	}
	if o.KiroAPI == "" {
		o.KiroAPI = DefaultKiroAPI
	}
	if o.Prompt == nil {
		o.Prompt = func(SignInPrompt) {}
	}
}

// SignInBuilderID signs in with AWS Builder ID, or with an organisation's
// IAM Identity Center when StartURL is set, through the SSO-OIDC device
// flow: register a client, show the code, open the page, poll.
func SignInBuilderID(ctx context.Context, o SignInOptions) (*NewLogin, error) {
	o.defaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	kind, provider, start := KindBuilderID, "BuilderId", auth.BuilderIDStartURL
	if o.StartURL != "" {
		u, err := url.Parse(o.StartURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("start URL %q: want https://<your-id>.awsapps.com/start", o.StartURL)
		}
		kind, provider, start = KindIdC, "Enterprise", o.StartURL
	}
	region := o.Region
	if region == "" {
		region = auth.DefaultRegion
	}
	if !validRegion(region) {
		return nil, fmt.Errorf("region %q is not an AWS region name", region)
	}
	base := o.OIDC
	if base == "" {
		base = auth.OIDCBase(region)
	}
	reg, err := auth.RegisterClient(ctx, o.HTTPClient, base, "kirotray", start)
	if err != nil {
		return nil, err
	}
	da, err := auth.StartDeviceAuthorization(ctx, o.HTTPClient, base, reg, start)
	if err != nil {
		return nil, err
	}
	o.show(da, base)
	toks, err := auth.PollDeviceToken(ctx, o.HTTPClient, base, reg, da, o.Sleep)
	if err != nil {
		return nil, timeoutWords(ctx, err)
	}
	n := &NewLogin{
		Meta: AccountMeta{Kind: kind, Provider: provider, Region: region, StartURL: start, ClientID: reg.ClientID,
			ClientExpiresAt: reg.ExpiresAt, Source: SourceSignIn},
		Secrets: Secrets{RefreshToken: toks.Refresh, ClientSecret: reg.ClientSecret},
	}
	if n.Secrets.RefreshToken == "" {
		return nil, errors.New("sign-in finished without a refresh token: try again")
	}
	n.IdentityErr = o.lookup(ctx, n, toks)
	return n, nil
}

// SignInSocial signs in with Google or GitHub: in the browser through Kiro's
// portal with a callback on 127.0.0.1, or with Remote, through Kiro's social
// device flow on another device.
func SignInSocial(ctx context.Context, provider string, o SignInOptions) (*NewLogin, error) {
	o.defaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	provider = normProvider(provider)
	if provider != "Google" && provider != "Github" {
		return nil, fmt.Errorf("provider %q: want google or github", provider)
	}
	var (
		toks   *auth.Tokens
		chosen = provider
	)
	if o.Remote {
		sd := auth.SocialDevice{AuthBase: o.KiroAuth, HTTPClient: o.HTTPClient}
		da, err := sd.Start(ctx, provider)
		if err != nil {
			return nil, err
		}
		o.show(da, o.KiroAuth)
		if toks, err = sd.Poll(ctx, da, o.Sleep); err != nil {
			return nil, timeoutWords(ctx, err)
		}
	} else {
		pl, err := auth.PortalLogin{Portal: o.Portal, AuthBase: o.KiroAuth, Ports: o.Ports, HTTPClient: o.HTTPClient,
			UserAgent: "kirotray"}.Start()
		if err != nil {
			return nil, err
		}
		defer pl.Close()
		p := SignInPrompt{URL: pl.URL, Expires: time.Now().Add(o.Timeout)}
		p.Opened, p.OpenErr = o.open(pl.URL, o.Portal)
		o.Prompt(p)
		res, err := pl.Wait(ctx)
		if err != nil {
			return nil, timeoutWords(ctx, err)
		}
		toks, chosen = res.Tokens, res.Provider
	}
	n := &NewLogin{
		Meta:    AccountMeta{Kind: KindSocial, Provider: chosen, ProfileARN: toks.ProfileARN, Source: SourceSignIn},
		Secrets: Secrets{RefreshToken: toks.Refresh},
	}
	n.IdentityErr = o.lookup(ctx, n, toks)
	return n, nil
}

// show prompts for a device flow, opening its page unless Remote.
func (o *SignInOptions) show(da *auth.DeviceAuthorization, endpoint string) {
	u := da.VerificationURIComplete
	if u == "" {
		u = da.VerificationURI
	}
	p := SignInPrompt{URL: u, UserCode: da.UserCode, Expires: da.ExpiresAt}
	if !o.Remote {
		p.Opened, p.OpenErr = o.open(u, endpoint)
	}
	o.Prompt(p)
}

// open opens u in the browser when it is on a host a Kiro or AWS sign-in
// page lives on (or the configured endpoint's, for a local simulation).
func (o *SignInOptions) open(u, endpoint string) (bool, error) {
	if o.Open == nil {
		return false, nil
	}
	if err := CheckSignInURL(u, endpoint); err != nil {
		return false, err
	}
	if err := o.Open(u); err != nil {
		return false, err
	}
	return true, nil
}

// CheckSignInURL accepts a page to open for a sign-in: https on app.kiro.dev,
// *.kiro.dev, *.amazonaws.com, *.awsapps.com or *.amazoncognito.com, or any
// page on the host of an endpoint kirotray was pointed at (a simulation).
func CheckSignInURL(u string, endpoints ...string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return fmt.Errorf("the sign-in page %q is not a URL", u)
	}
	for _, e := range endpoints {
		if ep, err := url.Parse(e); err == nil && ep.Host != "" && strings.EqualFold(ep.Host, p.Host) {
			return nil
		}
	}
	host := strings.ToLower(p.Hostname())
	if p.Scheme == "https" {
		for _, suffix := range []string{".kiro.dev", ".amazonaws.com", ".awsapps.com", ".amazoncognito.com"} {
			if host == suffix[1:] || strings.HasSuffix(host, suffix) {
				return nil
			}
		}
	}
	return fmt.Errorf("not opening the sign-in page: %s is not a Kiro or AWS site", p.Host)
}

// timeoutWords turns a context deadline into words a person understands.
func timeoutWords(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.New("sign-in timed out: nobody finished it in the browser in time; start again")
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("sign-in cancelled")
	}
	return err
}

// lookup fills in the profile ARN (IdC logins get none with their tokens)
// and the e-mail of a new login. Failures are not fatal: the pool learns
// both on first use.
func (o *SignInOptions) lookup(ctx context.Context, n *NewLogin, toks *auth.Tokens) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var errs []error
	if n.Meta.ProfileARN == "" {
		arn, err := listProfile(ctx, o.HTTPClient, o.KiroAPI, toks.Access)
		if err != nil {
			errs = append(errs, err)
		}
		n.Meta.ProfileARN = arn
	}
	client := kiro.New(kiro.Config{BaseURL: o.KiroAPI, HTTPClient: o.HTTPClient})
	u, err := client.UsageLimits(ctx, staticAccount{tok: kiro.Token{Access: toks.Access, ProfileARN: n.Meta.ProfileARN,
		MachineID: kiro.MachineID(toks.Refresh.Reveal())}})
	if err != nil {
		errs = append(errs, err)
	} else {
		n.Meta.Email, n.Meta.UserID = u.Email, u.UserID
		n.Meta.Quota = QuotaFromUsage(u, time.Now())
	}
	return errors.Join(errs...)
}

// staticAccount is a kiro.Account with a fixed token, for calls made right
// after sign-in.
type staticAccount struct{ tok kiro.Token }

func (staticAccount) Name() string                                      { return "new sign-in" }
func (s staticAccount) Token(context.Context, bool) (kiro.Token, error) { return s.tok, nil }
func (staticAccount) Report(error)                                      {}

// listProfile asks ListAvailableProfiles for the login's profile ARN (auth.md §6).
func listProfile(ctx context.Context, hc *http.Client, base string, access redact.Secret) (string, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/ListAvailableProfiles", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+access.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("profile lookup: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("profile lookup: status %d", resp.StatusCode)
	}
	var ans struct {
		Profiles []struct {
			ARN string `json:"arn"`
		} `json:"profiles"`
	}
	if err := json.Unmarshal(data, &ans); err != nil || len(ans.Profiles) == 0 {
		return "", errors.New("profile lookup: no profile in the answer")
	}
	return ans.Profiles[0].ARN, nil
}

// OpenBrowser opens u in the default browser.
func OpenBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("no browser could be opened (%w)", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
