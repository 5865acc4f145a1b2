package kirofake

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
)

// The pages a person sees in a browser: the device flow's verification
// page (/device for SSO-OIDC, /account/device for Kiro's social device
// flow) and, with Config.PortalPage, the portal's sign-in page. They are
// plain HTML with inline style: no script, no external asset, so they work
// on a machine with no internet.

// pageStyle is the pages' inline CSS.
const pageStyle = `body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f5f5f7;color:#222;margin:0}
main{max-width:30em;margin:3em auto;padding:1.5em 2em;background:#fff;border-radius:10px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4em;margin:.2em 0 .6em}.tag{font-size:.8em;color:#7a4d00;background:#fff3d6;display:inline-block;padding:.1em .6em;border-radius:4px}
.code{font:600 2em ui-monospace,Menlo,Consolas,monospace;letter-spacing:.1em;text-align:center;margin:.4em 0}
label{display:block;margin:.8em 0}input{font:inherit;padding:.35em .5em;width:100%;box-sizing:border-box;border:1px solid #bbb;border-radius:6px}
.row{display:flex;gap:.6em;margin-top:1.2em}button{font:inherit;padding:.5em 1.2em;border-radius:6px;border:1px solid #bbb;background:#fff;cursor:pointer}
button.primary{background:#6a3df5;border-color:#6a3df5;color:#fff}small{color:#666}`

// writePage writes a whole page; body is HTML the caller escaped.
func writePage(w http.ResponseWriter, status int, title, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// No form-action: the portal form's answer redirects to the loopback
	// callback, which browsers check against form-action too.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>%s · kirotray demo</title>
<style>%s</style></head><body><main>
<span class="tag">Simulated Kiro: nothing leaves this computer</span>
<h1>%s</h1>
%s
</main></body></html>
`, html.EscapeString(title), pageStyle, html.EscapeString(title), body)
}

// resultPage is a page with a title and one paragraph of text.
func resultPage(w http.ResponseWriter, status int, title, text string) {
	writePage(w, status, title, "<p>"+html.EscapeString(text)+"</p>")
}

// devicePage serves GET /device and GET /account/device: the verification
// page of the device flows, where a person compares the code with the one
// the app shows and approves it (or denies it). Without ?user_code the
// person types the code.
func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	code := strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("user_code")))
	what := "AWS Builder ID"
	if strings.HasPrefix(r.URL.Path, "/account/") {
		what = "Kiro"
	}
	s.mu.Lock()
	if d := s.userCode[code]; d != nil && d.social {
		what = "Kiro with " + providerName(d.provider)
	}
	s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "<p>An app on this computer (kirotray) asks to sign in to %s. ", html.EscapeString(what))
	if code != "" {
		b.WriteString("Check that this code is the one the app shows:</p>\n")
		fmt.Fprintf(&b, "<p class=\"code\" id=\"user-code\">%s</p>\n", html.EscapeString(code))
	} else {
		b.WriteString("Type the code the app shows.</p>\n")
	}
	fmt.Fprintf(&b, `<form method="post" action="%s">
<label>Code <input name="user_code" value="%s" required autocomplete="off" spellcheck="false" autocapitalize="characters"></label>
<div class="row"><button class="primary" type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button></div>
</form>
<p><small>Approving signs a simulated account in. It has made-up e-mail, quota and replies.</small></p>`,
		html.EscapeString(r.URL.Path), html.EscapeString(code))
	writePage(w, http.StatusOK, "Approve the sign-in", b.String())
}

// deviceSubmit serves POST /device and POST /account/device: the page's form.
func (s *Server) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	code, approve := r.PostFormValue("user_code"), r.PostFormValue("action") == "approve"
	s.mu.Lock()
	name, ok := s.settleDeviceLocked(code, approve)
	s.mu.Unlock()
	switch {
	case !ok:
		resultPage(w, http.StatusBadRequest, "Unknown or expired code",
			"This code is not waiting for approval: it was mistyped, already used, or it expired. Start the sign-in again in kirotray.")
	case approve:
		resultPage(w, http.StatusOK, "Signed in", "Signed in as "+name+"@example.com. You can close this tab and go back to kirotray.")
	default:
		resultPage(w, http.StatusOK, "Sign-in declined", "Nobody was signed in. You can close this tab.")
	}
}

// portalPage is the portal's sign-in page (Config.PortalPage): the
// request's parameters carried in hidden fields, a choice of Google or
// GitHub, and an optional account name.
func portalPage(w http.ResponseWriter, q url.Values) {
	var b strings.Builder
	b.WriteString(`<p>An app on this computer (kirotray) asks you to sign in to Kiro. Pick how:</p>
<form method="post" action="/signin">
`)
	for _, k := range []string{"state", "code_challenge", "code_challenge_method", "redirect_uri", "redirect_from"} {
		if v := q.Get(k); v != "" {
			fmt.Fprintf(&b, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n", k, html.EscapeString(v))
		}
	}
	b.WriteString(`<label>Account name <small>(optional: the same name signs the same account in again; empty makes a new one)</small>
<input name="account" maxlength="40" autocomplete="off" spellcheck="false" placeholder="e.g. alice"></label>
<div class="row"><button class="primary" type="submit" name="login_option" value="google">Continue with Google</button>
<button class="primary" type="submit" name="login_option" value="github">Continue with GitHub</button></div>
</form>
<p><small>The account is simulated: its e-mail is the name at example.com.</small></p>`)
	writePage(w, http.StatusOK, "Sign in to Kiro", b.String())
}

// validAccountName accepts "" or up to 40 letters, digits, '.', '-', '_'.
func validAccountName(s string) bool {
	if len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// providerName is how a person writes a social provider.
func providerName(p string) string {
	if strings.EqualFold(p, "github") {
		return "GitHub"
	}
	return "Google"
}
