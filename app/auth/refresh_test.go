package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	oldRefresh = "aorOLD-refresh-token-0123456789"
	newRefresh = "aorNEW-refresh-token-9876543210"
	newAccess  = "aoaNEW-access-token-abcdef"
	secret     = "client-secret-eyJraWQiOi"
)

// server answers every request with status and body, after checking it with check.
func server(t *testing.T, status int, body string, check func(r *http.Request, got map[string]any)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got map[string]any
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("request body: %v", err)
		}
		if check != nil {
			check(r, got)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRefreshSocial(t *testing.T) {
	t.Parallel()
	srv := server(t, 200, `{"accessToken":"`+newAccess+`","refreshToken":"`+newRefresh+`","expiresIn":1800,
		"profileArn":"arn:aws:codewhisperer:us-east-1:1:profile/P"}`,
		func(r *http.Request, got map[string]any) {
			if r.Method != http.MethodPost || r.URL.Path != "/refreshToken" {
				t.Errorf("request %s %s, want POST /refreshToken", r.Method, r.URL.Path)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if ua := r.Header.Get("User-Agent"); ua != "kirotray/test" {
				t.Errorf("User-Agent = %q", ua)
			}
			if len(got) != 1 || got["refreshToken"] != oldRefresh {
				t.Errorf("body = %v, want only refreshToken", got)
			}
		})
	before := time.Now()
	tok, err := RefreshSocial(context.Background(), srv.Client(), srv.URL+"/", oldRefresh, "kirotray/test")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Access.Reveal() != newAccess || tok.Refresh.Reveal() != newRefresh ||
		tok.ProfileARN != "arn:aws:codewhisperer:us-east-1:1:profile/P" || tok.ExpiresIn != 30*time.Minute {
		t.Fatalf("tokens = %+v", tok)
	}
	if tok.ExpiresAt.Before(before.Add(29*time.Minute)) || tok.ExpiresAt.After(time.Now().Add(31*time.Minute)) {
		t.Fatalf("ExpiresAt = %v", tok.ExpiresAt)
	}
}

func TestRefreshSocialNoRotationDefaults(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"no expiresIn":      `{"accessToken":"a"}`,
		"string expiresIn":  `{"accessToken":"a","expiresIn":"3600"}`,
		"absurd expiresIn":  `{"accessToken":"a","expiresIn":-5}`,
		"null refreshToken": `{"accessToken":"a","refreshToken":null,"expiresIn":3600}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := server(t, 200, body, nil)
			tok, err := RefreshSocial(context.Background(), srv.Client(), srv.URL, oldRefresh, "")
			if err != nil {
				t.Fatal(err)
			}
			if tok.Refresh != "" || tok.ExpiresIn != time.Hour || tok.ProfileARN != "" {
				t.Fatalf("tokens = %+v, want no refresh token, 1 h, no profile", tok)
			}
		})
	}
}

func TestRefreshIdC(t *testing.T) {
	t.Parallel()
	srv := server(t, 200, `{"accessToken":"`+newAccess+`","tokenType":"Bearer","expiresIn":3600,"refreshToken":"`+newRefresh+`","idToken":null}`,
		func(r *http.Request, got map[string]any) {
			if r.URL.Path != "/token" {
				t.Errorf("path = %s", r.URL.Path)
			}
			want := map[string]any{"clientId": "cid", "clientSecret": secret, "grantType": "refresh_token", "refreshToken": oldRefresh}
			if len(got) != len(want) {
				t.Errorf("body = %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("body[%s] = %v, want %v", k, got[k], v)
				}
			}
		})
	tok, err := RefreshIdC(context.Background(), srv.Client(), srv.URL, "cid", secret, oldRefresh)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Access.Reveal() != newAccess || tok.Refresh.Reveal() != newRefresh || tok.ExpiresIn != time.Hour {
		t.Fatalf("tokens = %+v", tok)
	}
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	type want struct {
		sentinel  error
		transient bool
		code      string
	}
	cases := []struct {
		name   string
		idc    bool
		status int
		body   string
		want   want
	}{
		{"oidc invalid_grant", true, 400, `{"error":"invalid_grant","error_description":"Invalid refresh token provided"}`, want{ErrInvalidGrant, false, "invalid_grant"}},
		{"oidc aws type", true, 400, `{"__type":"com.amazonaws.ssooidc#InvalidGrantException","message":"x"}`, want{ErrInvalidGrant, false, "InvalidGrantException"}},
		{"social invalid refresh token text", false, 400, `{"message":"Invalid refresh token provided"}`, want{ErrInvalidGrant, false, ""}},
		{"social 401", false, 401, `{"message":"Unauthorized"}`, want{ErrInvalidGrant, false, ""}},
		{"social 401 not json", false, 401, `nope`, want{ErrInvalidGrant, false, ""}},
		{"oidc invalid_client", true, 400, `{"error":"invalid_client","error_description":"Client is expired"}`, want{ErrInvalidClient, false, "invalid_client"}},
		{"oidc invalid_request", true, 400, `{"error":"invalid_request"}`, want{nil, false, "invalid_request"}},
		{"social bad credentials", false, 400, `{"message":"Bad credentials"}`, want{nil, false, ""}},
		{"forbidden", false, 403, `{"message":"forbidden","reason":"TEMPORARILY_SUSPENDED"}`, want{nil, false, "TEMPORARILY_SUSPENDED"}},
		{"throttled", true, 429, `{"error":"slow_down"}`, want{nil, true, "slow_down"}},
		{"server error", false, 500, `<html>oops</html>`, want{nil, true, ""}},
		{"unavailable", true, 503, ``, want{nil, true, ""}},
		{"redirect not followed", false, 307, ``, want{nil, false, ""}},
		{"200 without token", false, 200, `{"message":"hi"}`, want{nil, false, "invalid_response"}},
		{"200 not json", false, 200, `<html>`, want{nil, false, "invalid_response"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var redirected atomic.Bool
			target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirected.Store(true) }))
			defer target.Close()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == 307 {
					w.Header().Set("Location", target.URL+"/steal")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			var err error
			if tc.idc {
				_, err = RefreshIdC(context.Background(), srv.Client(), srv.URL, "cid", secret, oldRefresh)
			} else {
				_, err = RefreshSocial(context.Background(), srv.Client(), srv.URL, oldRefresh, "")
			}
			var re *RefreshError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RefreshError", err)
			}
			if re.Status != tc.status || re.Transient != tc.want.transient || re.Code != tc.want.code {
				t.Fatalf("err = %+v, want status %d transient %v code %q", re, tc.status, tc.want.transient, tc.want.code)
			}
			for _, s := range []error{ErrInvalidGrant, ErrInvalidClient} {
				if errors.Is(err, s) != (s == tc.want.sentinel) {
					t.Fatalf("errors.Is(err, %v) = %v", s, !(s == tc.want.sentinel))
				}
			}
			if redirected.Load() {
				t.Fatal("the refresh token followed a redirect")
			}
		})
	}
}

// A server that echoes the secrets it was sent must not get them into an
// error string.
func TestRefreshErrorNeverHoldsSecrets(t *testing.T) {
	t.Parallel()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "bad body: " + string(b)})
	}))
	defer echo.Close()
	_, err := RefreshIdC(context.Background(), echo.Client(), echo.URL, "cid", secret, oldRefresh)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{oldRefresh, secret} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q contains a secret", err)
		}
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error %q: want the echoed secrets masked", err)
	}
}

func TestRefreshNetworkAndContext(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now

	_, err := RefreshSocial(context.Background(), nil, url, oldRefresh, "")
	var re *RefreshError
	if !errors.As(err, &re) || !re.Transient || re.Status != 0 {
		t.Fatalf("network failure: err = %v, want a transient RefreshError", err)
	}
	if strings.Contains(err.Error(), oldRefresh) {
		t.Fatal("token in error")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = RefreshSocial(ctx, nil, url, oldRefresh, "")
	if !errors.Is(err, context.Canceled) || !errors.As(err, &re) || !re.Transient {
		t.Fatalf("cancelled: err = %v", err)
	}
}

func TestRefreshBodyLimit(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		chunk := strings.Repeat("x", 64<<10)
		for range 200 { // 12.5 MiB, far past the limit
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	_, err := RefreshSocial(context.Background(), srv.Client(), srv.URL, oldRefresh, "")
	var re *RefreshError
	if !errors.As(err, &re) || re.Status != 500 || len(err.Error()) > 400 {
		t.Fatalf("err = %.100v", err)
	}
}

func TestOIDCBase(t *testing.T) {
	t.Parallel()
	if got := OIDCBase(""); got != "https://oidc.us-east-1.amazonaws.com" {
		t.Fatalf("OIDCBase(\"\") = %s", got)
	}
	if got := OIDCBase("eu-west-1"); got != "https://oidc.eu-west-1.amazonaws.com" {
		t.Fatalf("OIDCBase(eu-west-1) = %s", got)
	}
}
