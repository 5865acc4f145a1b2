package kirofake

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postForm submits a browser form without following the redirect.
func (f *fake) postForm(t *testing.T, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req := mustRequest(t, http.MethodPost, f.ts.URL+path, form.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := *f.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *fake) page(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp := f.do(t, mustRequest(t, http.MethodGet, f.ts.URL+path, ""))
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// selfContained fails when a page could load anything from elsewhere.
func selfContained(t *testing.T, resp *http.Response, page string) {
	t.Helper()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("headers %v", resp.Header)
	}
	for _, s := range []string{"<script", "src=", "<link", "href=", "url(", "@import"} {
		if strings.Contains(page, s) {
			t.Errorf("the page has %q: %s", s, page)
		}
	}
}

func TestPortalPage(t *testing.T) {
	f := newFake(t, Config{PortalPage: true})
	f.AddIdCAccount("builder")
	verifier := strings.Repeat("w", 43)
	q := url.Values{"state": {"st<&>"}, "code_challenge": {pkce(verifier)}, "code_challenge_method": {"S256"},
		"redirect_uri": {"http://localhost:4649"}, "redirect_from": {"KiroIDE"}}

	resp, page := f.page(t, "/signin?"+q.Encode())
	selfContained(t, resp, page)
	for _, want := range []string{`<form method="post" action="/signin">`, `name="state" value="st&lt;&amp;&gt;"`,
		`name="login_option" value="google"`, `name="login_option" value="github"`, `name="account"`} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("%d: no %s in %s", resp.StatusCode, want, page)
		}
	}
	if resp, _ := f.page(t, "/signin?state=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad request shows the page: %d", resp.StatusCode)
	}

	form := func(option, account string) url.Values {
		v := url.Values{"login_option": {option}, "account": {account}}
		for k := range q {
			v.Set(k, q.Get(k))
		}
		return v
	}
	for _, bad := range []url.Values{form("builderid", ""), form("github", "no spaces"), form("github", "builder"),
		func() url.Values { v := form("github", ""); v.Set("redirect_uri", "http://evil.example:80"); return v }()} {
		if resp, _ := f.postForm(t, "/signin", bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %d", bad, resp.StatusCode)
		}
	}

	resp, _ = f.postForm(t, "/signin", form("github", "bob"))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Host != "localhost:4649" || loc.Path != "/oauth/callback" ||
		loc.Query().Get("state") != "st<&>" || loc.Query().Get("login_option") != "github" || loc.Query().Get("code") == "" {
		t.Fatalf("%d %v", resp.StatusCode, loc)
	}
	status, out := f.postJSON(t, "/oauth/token", map[string]string{"code": loc.Query().Get("code"), "code_verifier": verifier,
		"redirect_uri": "http://localhost:4649/oauth/callback?login_option=github"})
	if status != http.StatusOK || out["profileArn"] != f.ProfileARN("bob") || f.ProfileARN("bob") == "" {
		t.Fatalf("exchange: %d %v", status, out)
	}
}

func TestDevicePages(t *testing.T) {
	f := newFake(t, Config{})
	_, da := f.postJSON(t, "/oauth/device/authorization", map[string]string{"clientId": "Kiro-CLI", "loginProvider": "Github"})
	u, _ := url.Parse(da["verificationUriComplete"].(string))
	resp, page := f.page(t, u.RequestURI())
	selfContained(t, resp, page)
	code := da["userCode"].(string)
	for _, want := range []string{"Kiro with GitHub", `<p class="code" id="user-code">` + code, `<form method="post" action="/account/device">`,
		`name="user_code" value="` + code + `"`, `name="action" value="approve">Approve</button>`, `value="deny">Deny`} {
		if !strings.Contains(page, want) {
			t.Errorf("no %s in %s", want, page)
		}
	}
	resp, page = f.page(t, "/device")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Type the code") || !strings.Contains(page, "AWS Builder ID") {
		t.Errorf("page without a code: %s", page)
	}
	if resp, page := f.postForm(t, "/account/device", url.Values{"user_code": {"NOPE-NOPE"}, "action": {"approve"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Unknown or expired code") {
		t.Errorf("unknown code: %d %s", resp.StatusCode, page)
	}
	resp, page = f.postForm(t, "/account/device", url.Values{"user_code": {strings.ToLower(code)}, "action": {"approve"}})
	selfContained(t, resp, page)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Signed in as device-1@example.com") {
		t.Errorf("approve: %d %s", resp.StatusCode, page)
	}
}

func TestPriorUsage(t *testing.T) {
	const q = "/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST"
	used := func(f *fake, name string) float64 {
		t.Helper()
		status, out := f.get(t, q, f.IssueAccessToken(name))
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, out)
		}
		return out["usageBreakdownList"].([]any)[0].(map[string]any)["currentUsageWithPrecision"].(float64)
	}
	plain, prior, again := newFake(t, Config{}), newFake(t, Config{PriorUsage: true}), newFake(t, Config{PriorUsage: true})
	seen := map[float64]bool{}
	for _, name := range []string{"a", "b", "c", "alice", "device-1"} {
		plain.AddSocialAccount(name)
		prior.AddSocialAccount(name)
		again.AddSocialAccount(name)
		u := used(prior, name)
		if used(plain, name) != 0 || u < 50 || u > 450 || used(again, name) != u {
			t.Errorf("%s: used %v (without PriorUsage %v, another server %v)", name, u, used(plain, name), used(again, name))
		}
		seen[u] = true
	}
	if len(seen) < 3 {
		t.Errorf("every account has the same usage: %v", seen)
	}
}
