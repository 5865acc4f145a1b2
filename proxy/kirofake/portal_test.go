package kirofake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func (f *fake) postJSON(t *testing.T, path string, in any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp := f.do(t, req)
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// signin asks the portal's /signin page and returns where it redirects.
func (f *fake) signin(t *testing.T, q url.Values) (int, *url.URL) {
	t.Helper()
	c := *f.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(f.ts.URL + "/signin?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return resp.StatusCode, loc
}

func pkce(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestPortalSignIn(t *testing.T) {
	f := newFake(t, Config{})
	verifier := strings.Repeat("v", 43)
	q := url.Values{"state": {"st"}, "code_challenge": {pkce(verifier)}, "code_challenge_method": {"S256"},
		"redirect_uri": {"http://localhost:3128"}, "redirect_from": {"KiroIDE"}}
	start := func() string {
		t.Helper()
		status, loc := f.signin(t, q)
		if status != http.StatusFound || loc.Host != "localhost:3128" || loc.Path != "/oauth/callback" ||
			loc.Query().Get("state") != "st" || loc.Query().Get("login_option") != "google" || loc.Query().Get("code") == "" {
			t.Fatalf("%d %v", status, loc)
		}
		return loc.Query().Get("code")
	}
	redirect := "http://localhost:3128/oauth/callback?login_option=google"
	exchange := func(code, verifier, redirect string) (int, map[string]any) {
		return f.postJSON(t, "/oauth/token", map[string]string{"code": code, "code_verifier": verifier, "redirect_uri": redirect})
	}

	code := start()
	if status, out := exchange(code, verifier, redirect); status != 200 || out["refreshToken"] == nil || out["profileArn"] == nil {
		t.Fatalf("%d %v", status, out)
	} else if _, ok := f.tokens[out["refreshToken"].(string)]; !ok {
		t.Fatal("the sign-in's refresh token is not live")
	}
	if status, out := exchange(code, verifier, redirect); status != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("a code used twice: %d %v", status, out)
	}
	if status, out := exchange(start(), strings.Repeat("w", 43), redirect); status != 400 || out["error_description"] != "PKCE verification failed" {
		t.Fatalf("wrong verifier: %d %v", status, out)
	}
	if status, out := exchange(start(), verifier, "http://localhost:3128"); status != 400 || out["error"] != "invalid_request" {
		t.Fatalf("the bare origin as exchange redirect_uri: %d %v", status, out)
	}

	for _, bad := range []url.Values{
		{"state": {"st"}, "code_challenge": {pkce(verifier)}, "code_challenge_method": {"plain"}, "redirect_uri": {"http://localhost:3128"}},
		{"state": {"st"}, "code_challenge": {pkce(verifier)}, "code_challenge_method": {"S256"}, "redirect_uri": {"http://evil.example:3128"}},
		{"state": {"st"}, "code_challenge": {pkce(verifier)}, "code_challenge_method": {"S256"}, "redirect_uri": {"http://localhost:3128/oauth/callback"}},
		{"code_challenge": {pkce(verifier)}, "code_challenge_method": {"S256"}, "redirect_uri": {"http://localhost:3128"}},
	} {
		if status, _ := f.signin(t, bad); status != http.StatusBadRequest {
			t.Errorf("%v: %d", bad, status)
		}
	}
	// Builder ID is handed off: no code, an issuer instead.
	f.SetPortalChoice(PortalChoice{Option: "builderid"})
	if _, loc := f.signin(t, q); loc.Query().Get("code") != "" || loc.Query().Get("issuer_url") == "" || loc.Query().Get("idc_region") == "" {
		t.Fatalf("hand-off %v", loc)
	}
	// A chosen account signs in to that account.
	f.SetPortalChoice(PortalChoice{Option: "github", Account: "gh"})
	_, loc := f.signin(t, q)
	if status, out := exchange(loc.Query().Get("code"), verifier, "http://localhost:3128/oauth/callback?login_option=github"); status != 200 ||
		out["profileArn"] != f.ProfileARN("gh") {
		t.Fatalf("%d %v", status, out)
	}
}

func TestSocialDeviceFlow(t *testing.T) {
	clock := newClock()
	f := newFake(t, Config{Now: clock.Now})
	if status, out := f.postJSON(t, "/oauth/device/authorization", map[string]string{"clientId": "other", "loginProvider": "Google"}); status != 400 || out["error"] != "invalid_client" {
		t.Fatalf("%d %v", status, out)
	}
	start := func() map[string]any {
		t.Helper()
		status, out := f.postJSON(t, "/oauth/device/authorization", map[string]string{"clientId": "Kiro-CLI", "loginProvider": "Github"})
		if status != 200 || out["intervalInMilliseconds"] != 1000.0 || out["expiresInMilliseconds"] != 300000.0 ||
			!strings.Contains(out["verificationUriComplete"].(string), "/account/device?") {
			t.Fatalf("%d %v", status, out)
		}
		return out
	}
	poll := func(da map[string]any) map[string]any {
		t.Helper()
		status, out := f.postJSON(t, "/oauth/device/poll", map[string]any{"clientId": "Kiro-CLI", "deviceCode": da["deviceCode"]})
		if status != 200 {
			t.Fatalf("poll: %d %v", status, out)
		}
		return out
	}
	da := start()
	if out := poll(da); out["status"] != "authorization_pending" || out["accessToken"] != nil {
		t.Fatalf("%v", out)
	}
	if out := poll(da); out["status"] != "slow_down" { // no time passed
		t.Fatalf("%v", out)
	}
	clock.Advance(7 * time.Second) // past the interval, grown by 5 s
	name, ok := f.ApproveDevice(da["userCode"].(string))
	if !ok {
		t.Fatal("approve")
	}
	if out := poll(da); out["status"] != "success" || out["refreshToken"] == nil || out["identityProvider"] != "Github" || out["profileArn"] != f.ProfileARN(name) {
		t.Fatalf("%v", out)
	}
	// The OIDC token endpoint does not take a social device code.
	if status, _ := f.postJSON(t, "/token", map[string]any{"clientId": "x", "grantType": "urn:ietf:params:oauth:grant-type:device_code", "deviceCode": da["deviceCode"]}); status != 400 {
		t.Fatalf("OIDC poll of a social code: %d", status)
	}

	da = start()
	f.DenyDevice(da["userCode"].(string))
	if out := poll(da); out["status"] != "access_denied" {
		t.Fatalf("%v", out)
	}
	da = start()
	clock.Advance(6 * time.Minute)
	if out := poll(da); out["status"] != "expired_token" {
		t.Fatalf("%v", out)
	}
}

func TestScriptedUsage(t *testing.T) {
	clock := newClock()
	f := newFake(t, Config{Now: clock.Now})
	_, arn := f.AddSocialAccount("work")
	token := f.IssueAccessToken("work")
	q := "/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST&profileArn=" + url.QueryEscape(arn)
	reset := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	f.SetUsage("work", &UsageScript{Plan: "KIRO PRO+", PlanType: "Q_DEVELOPER_STANDALONE_PRO_PLUS", Used: 120.5, Limit: 2000, ResetAt: reset,
		FreeTrial: &UsageGrant{Status: "ACTIVE", Used: 10, Limit: 500, Expires: reset},
		Bonuses:   []UsageBonus{{Code: "B1", Name: "Welcome", Status: "ACTIVE", Used: 1, Limit: 100, Expires: reset}}})
	status, out := f.get(t, q, token)
	b := out["usageBreakdownList"].([]any)[0].(map[string]any)
	if status != 200 || out["subscriptionInfo"].(map[string]any)["subscriptionTitle"] != "KIRO PRO+" || b["currentUsageWithPrecision"] != 120.5 ||
		b["usageLimitWithPrecision"] != 2000.0 || b["freeTrialInfo"].(map[string]any)["freeTrialStatus"] != "ACTIVE" ||
		len(b["bonuses"].([]any)) != 1 || out["nextDateReset"] != float64(reset.Unix()) {
		t.Fatalf("%d %v", status, out)
	}
	f.SetUsage("work", ExhaustedUsage(reset))
	_, out = f.get(t, q, token)
	b = out["usageBreakdownList"].([]any)[0].(map[string]any)
	if b["currentUsageWithPrecision"] != b["usageLimitWithPrecision"] || out["overageConfiguration"].(map[string]any)["overageStatus"] != "DISABLED" {
		t.Fatalf("%v", out)
	}
	f.SetUsage("work", &UsageScript{Status: 500})
	if status, _ := f.get(t, q, token); status != 500 {
		t.Fatalf("status %d", status)
	}
	f.SetUsage("work", nil)
	if status, out := f.get(t, q, token); status != 200 || out["subscriptionInfo"].(map[string]any)["subscriptionTitle"] != "KIRO PRO" {
		t.Fatalf("%d %v", status, out)
	}
}

func TestRefreshFaults(t *testing.T) {
	f := newFake(t, Config{})
	rt, _ := f.AddSocialAccount("work")
	refresh := func(ctx context.Context) (int, map[string]any) {
		b, _ := json.Marshal(map[string]string{"refreshToken": rt})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.ts.URL+"/refreshToken", bytes.NewReader(b))
		resp, err := f.client.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	f.FailRefreshes(RefreshInvalidGrant, 1)
	if status, out := refresh(context.Background()); status != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("%d %v", status, out)
	}
	f.FailRefreshes(RefreshServerError, 1)
	if status, _ := refresh(context.Background()); status != 500 {
		t.Fatalf("%d", status)
	}
	f.FailRefreshes(RefreshHang, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if status, _ := refresh(ctx); status != 0 || ctx.Err() == nil {
		t.Fatalf("hang answered %d", status)
	}
	// The faults spent, the token still works (and rotates).
	if status, out := refresh(context.Background()); status != 200 || out["refreshToken"] == rt || f.Usage("work").Refreshes != 1 {
		t.Fatalf("%d %v", status, out)
	}
	// OIDC refreshes are faulted too.
	irt, id, secret := f.AddIdCAccount("org")
	f.FailRefreshes(RefreshServerError, 1)
	if status, _ := f.postJSON(t, "/token", map[string]string{"clientId": id, "clientSecret": secret, "grantType": "refresh_token", "refreshToken": irt}); status != 500 {
		t.Fatalf("OIDC: %d", status)
	}
}
