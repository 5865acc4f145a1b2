package kirofake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// post sends a JSON body and decodes the JSON answer into a map.
func (f *fake) post(t *testing.T, path string, in any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	resp := f.do(t, mustRequest(t, http.MethodPost, f.ts.URL+path, string(raw)))
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: answer: %v", path, err)
	}
	return resp.StatusCode, out
}

func wantOAuthError(t *testing.T, status int, out map[string]any, code string) {
	t.Helper()
	if status != http.StatusBadRequest || out["error"] != code {
		t.Errorf("got %d %v, want 400 %s", status, out, code)
	}
}

func TestSocialRefreshRotates(t *testing.T) {
	f := newFake(t, Config{AccessTTL: 30 * time.Minute})
	rt, arn := f.AddSocialAccount("work")

	status, out := f.post(t, "/refreshToken", map[string]string{"refreshToken": rt})
	if status != 200 || out["profileArn"] != arn || out["expiresIn"] != 1800.0 {
		t.Fatalf("refresh: %d %v", status, out)
	}
	access, next := out["accessToken"].(string), out["refreshToken"].(string)
	if !strings.HasPrefix(access, "aoa") || !strings.HasPrefix(next, "aor") || next == rt {
		t.Errorf("tokens %q %q", access, next)
	}
	mustOK(t, f.chat(t, access, simpleBody("hi").bytes()))

	// The spent token is dead for good; the rotated one works once.
	status, out = f.post(t, "/refreshToken", map[string]string{"refreshToken": rt})
	wantOAuthError(t, status, out, "invalid_grant")
	if out["error_description"] != "Invalid refresh token provided" {
		t.Errorf("description %v", out)
	}
	if status, _ := f.post(t, "/refreshToken", map[string]string{"refreshToken": next}); status != 200 {
		t.Errorf("rotated token: %d", status)
	}
	if u := f.Usage("work"); u.Refreshes != 2 {
		t.Errorf("refreshes %d", u.Refreshes)
	}
	// The first access token lives on until it expires.
	mustOK(t, f.chat(t, access, simpleBody("hi").bytes()))

	status, out = f.post(t, "/refreshToken", map[string]string{"refreshToken": "aorAAAAAunknown"})
	wantOAuthError(t, status, out, "invalid_grant")
	status, out = f.post(t, "/refreshToken", map[string]string{})
	wantOAuthError(t, status, out, "invalid_request")

	rt2, _ := f.AddSocialAccount("revoked")
	f.RevokeRefreshTokens("revoked")
	status, out = f.post(t, "/refreshToken", map[string]string{"refreshToken": rt2})
	wantOAuthError(t, status, out, "invalid_grant")
}

func TestSocialEndpointRefusesIdCToken(t *testing.T) {
	f := newFake(t, Config{})
	rt, _, _ := f.AddIdCAccount("org")
	status, out := f.post(t, "/refreshToken", map[string]string{"refreshToken": rt})
	if status != 400 || out["message"] != "Bad credentials" {
		t.Errorf("got %d %v", status, out)
	}
	// Still usable where it belongs.
	if f.Usage("org").Refreshes != 0 {
		t.Error("a refused refresh was counted")
	}
}

func TestOIDCRefresh(t *testing.T) {
	clock := newClock()
	f := newFake(t, Config{Now: clock.Now})
	rt, id, secret := f.AddIdCAccount("org")
	socialRT, _ := f.AddSocialAccount("social")
	_, otherID, otherSecret := f.AddIdCAccount("other")
	grant := func(clientID, clientSecret, token string) map[string]string {
		return map[string]string{"clientId": clientID, "clientSecret": clientSecret, "grantType": "refresh_token", "refreshToken": token}
	}

	status, out := f.post(t, "/token", grant(id, "wrong", rt))
	wantOAuthError(t, status, out, "invalid_client")
	status, out = f.post(t, "/token", grant(otherID, otherSecret, rt))
	wantOAuthError(t, status, out, "invalid_grant")
	status, out = f.post(t, "/token", grant(id, secret, socialRT))
	wantOAuthError(t, status, out, "invalid_grant")
	status, out = f.post(t, "/token", map[string]string{"client_id": id, "client_secret": secret, "grant_type": "refresh_token", "refresh_token": rt})
	wantOAuthError(t, status, out, "invalid_request") // snake_case is not the wire format

	status, out = f.post(t, "/token", grant(id, secret, rt))
	if status != 200 || out["tokenType"] != "Bearer" || out["expiresIn"] != 3600.0 || out["profileArn"] != nil {
		t.Fatalf("refresh: %d %v", status, out)
	}
	access, next := out["accessToken"].(string), out["refreshToken"].(string)
	mustOK(t, f.chat(t, access, simpleBody("hi").bytes()))
	status, out = f.post(t, "/token", grant(id, secret, rt))
	wantOAuthError(t, status, out, "invalid_grant")

	clock.Advance(time.Hour)
	if resp := f.chat(t, access, simpleBody("hi").bytes()); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired token: %d", resp.StatusCode)
	}
	status, out = f.post(t, "/token", grant(id, secret, next))
	if status != 200 {
		t.Fatalf("second refresh: %d %v", status, out)
	}
	mustOK(t, f.chat(t, out["accessToken"].(string), simpleBody("hi").bytes()))
	last := out["refreshToken"].(string)

	status, out = f.post(t, "/token", map[string]string{"clientId": id, "clientSecret": secret, "grantType": "password"})
	wantOAuthError(t, status, out, "unsupported_grant_type")

	clock.Advance(91 * 24 * time.Hour) // the registration expired
	status, out = f.post(t, "/token", grant(id, secret, last))
	wantOAuthError(t, status, out, "invalid_client")
}

func TestDeviceFlow(t *testing.T) {
	clock := newClock()
	f := newFake(t, Config{Now: clock.Now})
	status, reg := f.post(t, "/client/register", map[string]any{
		"clientName": "kirotray", "clientType": "public",
		"scopes":     []string{"codewhisperer:completions", "codewhisperer:analysis", "codewhisperer:conversations"},
		"grantTypes": []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"},
	})
	if status != 200 || reg["clientSecretExpiresAt"].(float64) <= reg["clientIdIssuedAt"].(float64) {
		t.Fatalf("register: %d %v", status, reg)
	}
	id, secret := reg["clientId"].(string), reg["clientSecret"].(string)

	status, out := f.post(t, "/device_authorization", map[string]string{"clientId": id, "clientSecret": secret, "startUrl": "ftp://x"})
	wantOAuthError(t, status, out, "invalid_request")
	status, da := f.post(t, "/device_authorization", map[string]string{"clientId": id, "clientSecret": secret, "startUrl": "https://view.awsapps.com/start"})
	if status != 200 || da["interval"] != 1.0 || da["expiresIn"] != 600.0 {
		t.Fatalf("device authorization: %d %v", status, da)
	}
	code, userCode := da["deviceCode"].(string), da["userCode"].(string)
	if !strings.HasPrefix(da["verificationUriComplete"].(string), f.ts.URL+"/device?user_code=") {
		t.Errorf("verification URI %v", da["verificationUriComplete"])
	}
	poll := func() (int, map[string]any) {
		return f.post(t, "/token", map[string]string{"clientId": id, "clientSecret": secret,
			"grantType": "urn:ietf:params:oauth:grant-type:device_code", "deviceCode": code})
	}
	status, out = poll()
	wantOAuthError(t, status, out, "authorization_pending")
	status, out = poll() // no time passed
	wantOAuthError(t, status, out, "slow_down")
	clock.Advance(2 * time.Second) // the interval grew to 6 s
	status, out = poll()
	wantOAuthError(t, status, out, "slow_down") // and now to 11 s
	clock.Advance(11 * time.Second)
	status, out = poll()
	wantOAuthError(t, status, out, "authorization_pending")

	account, ok := f.ApproveDevice(strings.ToLower(userCode))
	if !ok || account == "" {
		t.Fatal("ApproveDevice failed")
	}
	if _, again := f.ApproveDevice(userCode); again {
		t.Error("a code was approved twice")
	}
	clock.Advance(11 * time.Second)
	status, out = poll()
	if status != 200 {
		t.Fatalf("poll after approval: %d %v", status, out)
	}
	mustOK(t, f.chat(t, out["accessToken"].(string), simpleBody("hi").bytes()))
	if u := f.Usage(account); u.Requests != 1 || u.Refreshes != 0 {
		t.Errorf("usage of the signed-in account: %+v", u)
	}
	status, refreshed := f.post(t, "/token", map[string]string{"clientId": id, "clientSecret": secret,
		"grantType": "refresh_token", "refreshToken": out["refreshToken"].(string)})
	if status != 200 {
		t.Errorf("refresh of a device-flow token: %d %v", status, refreshed)
	}
	status, out = poll()
	wantOAuthError(t, status, out, "invalid_grant") // the code is spent
}

func TestDeviceFlowEnds(t *testing.T) {
	clock := newClock()
	f := newFake(t, Config{Now: clock.Now})
	_, reg := f.post(t, "/client/register", map[string]any{"clientName": "kirotray", "clientType": "public"})
	id, secret := reg["clientId"].(string), reg["clientSecret"].(string)
	start := func() (string, string) {
		_, da := f.post(t, "/device_authorization", map[string]string{"clientId": id, "clientSecret": secret, "startUrl": "https://view.awsapps.com/start"})
		return da["deviceCode"].(string), da["userCode"].(string)
	}
	poll := func(code string) (int, map[string]any) {
		return f.post(t, "/token", map[string]string{"clientId": id, "clientSecret": secret,
			"grantType": "urn:ietf:params:oauth:grant-type:device_code", "deviceCode": code})
	}

	code, user := start()
	if !f.DenyDevice(user) {
		t.Fatal("DenyDevice failed")
	}
	status, out := poll(code)
	wantOAuthError(t, status, out, "access_denied")

	code, _ = start()
	clock.Advance(11 * time.Minute)
	status, out = poll(code)
	wantOAuthError(t, status, out, "expired_token")

	status, out = f.post(t, "/device_authorization", map[string]string{"clientId": id, "clientSecret": "nope", "startUrl": "https://x"})
	wantOAuthError(t, status, out, "invalid_client")
}

func TestDevicePage(t *testing.T) {
	f := newFake(t, Config{})
	_, reg := f.post(t, "/client/register", map[string]any{"clientName": "kirotray", "clientType": "public"})
	_, da := f.post(t, "/device_authorization", map[string]string{
		"clientId": reg["clientId"].(string), "clientSecret": reg["clientSecret"].(string), "startUrl": "https://view.awsapps.com/start"})
	page := f.do(t, mustRequest(t, http.MethodGet, da["verificationUriComplete"].(string), ""))
	html, _ := io.ReadAll(page.Body)
	if !strings.Contains(string(html), da["userCode"].(string)) {
		t.Errorf("page does not show the code: %s", html)
	}
	form := url.Values{"user_code": {da["userCode"].(string)}, "action": {"approve"}}
	req := mustRequest(t, http.MethodPost, f.ts.URL+"/device", form.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp := f.do(t, req); resp.StatusCode != 200 {
		t.Errorf("approve: %d", resp.StatusCode)
	}
	if _, ok := f.ApproveDevice(da["userCode"].(string)); ok {
		t.Error("the page did not settle the code")
	}
}
