package app

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

const testKey = "ksk_AbCdEfGhIjKlMnOpQrStUvWx1234"

func TestParseImportAPIKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, format string
		skip             string // a word of the skip reason; "" means imported
		want             AccountMeta
	}{
		{"pasted", testKey + "\n", FormatAPIKey, "", AccountMeta{Kind: KindAPIKey}},
		{"env line", "KIRO_API_KEY=" + testKey, FormatAPIKey, "", AccountMeta{Kind: KindAPIKey}},
		{"export with quotes", "# my key\nexport KIRO_API_KEY='" + testKey + "'\n", FormatAPIKey, "", AccountMeta{Kind: KindAPIKey}},
		{"JSON apiKey", `{"apiKey":"` + testKey + `","name":"ci","priority":3}`, FormatJSON, "", AccountMeta{Kind: KindAPIKey, Name: "ci", Priority: 3}},
		{"kiro.rs entry", `[{"kiroApiKey":"` + testKey + `","authMethod":"api_key"}]`, FormatJSON, "", AccountMeta{Kind: KindAPIKey}},
		{"method without key", `{"authMethod":"api_key"}`, FormatJSON, "without its key", AccountMeta{}},
		{"truncated", "ksk_short", FormatAPIKey, "truncated", AccountMeta{}},
		{"bad characters", `{"apiKey":"ksk_AbCdEfGhIjKl MnOpQrStUv"}`, FormatJSON, "characters", AccountMeta{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ims, format, err := ParseImport([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if format != tc.format || len(ims) != 1 {
				t.Fatalf("format %q, %d entries", format, len(ims))
			}
			im := ims[0]
			if tc.skip != "" {
				if !strings.Contains(im.Skip, tc.skip) {
					t.Fatalf("skip = %q, want %q", im.Skip, tc.skip)
				}
				return
			}
			if im.Skip != "" {
				t.Fatalf("skipped: %s", im.Skip)
			}
			if im.Secrets.APIKey.Reveal() != testKey || im.Secrets.RefreshToken != "" {
				t.Fatalf("secrets %v", im.Secrets)
			}
			if im.Meta.Kind != tc.want.Kind || im.Meta.Name != tc.want.Name || im.Meta.Priority != tc.want.Priority {
				t.Fatalf("meta %+v", im.Meta)
			}
		})
	}
	if got := MaskAPIKey(testKey); got != "ksk_…1234" {
		t.Fatalf("mask %q", got)
	}
}

// FuzzParseImport: no input panics the import parser, every imported API
// key passes the key check, and no secret leaks into what is shown (entry
// names, skip reasons).
func FuzzParseImport(f *testing.F) {
	for _, s := range []string{
		testKey, "KIRO_API_KEY=" + testKey, "export KIRO_API_KEY=\"" + testKey + "\"",
		`{"apiKey":"` + testKey + `"}`, `[{"kiroApiKey":"` + testKey + `","authMethod":"api_key"}]`,
		`{"refreshToken":"aor` + strings.Repeat("x", 60) + `"}`, "aor" + strings.Repeat("y", 80),
		`{"kirotray":"accounts","accounts":[{"kind":"api-key","apiKey":"` + testKey + `"}]}`,
		"KIRO_AUTH_TOKEN='[]'", "ksk_", "{", "[1,2]", `{"credentials":{"apiKey":"ksk_x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ims, _, err := ParseImport(data)
		if err != nil {
			return
		}
		for _, im := range ims {
			secrets := []string{im.Secrets.APIKey.Reveal(), im.Secrets.RefreshToken.Reveal(), im.Secrets.ClientSecret.Reveal()}
			for _, s := range secrets {
				if len(s) >= 8 && (strings.Contains(im.Skip, s) || strings.Contains(im.Entry, s)) {
					t.Fatalf("a secret in %q / %q", im.Entry, im.Skip)
				}
			}
			if im.Skip == "" && im.Meta.Kind == KindAPIKey && im.Secrets.APIKey != "" {
				if err := checkAPIKey(im.Secrets.APIKey.Reveal()); err != nil {
					t.Fatalf("imported a bad key: %v", err)
				}
				if im.Secrets.RefreshToken != "" {
					t.Fatal("an API key entry with a refresh token")
				}
			}
		}
	})
}

func TestAPIKeyInTheStore(t *testing.T) {
	t.Parallel()
	s, kc := newStore(t)
	res, err := s.Add(AccountMeta{Name: "ci", Kind: KindAPIKey, Source: SourceImport}, Secrets{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(AccountMeta{Kind: KindAPIKey}, Secrets{RefreshToken: "aor"}); err == nil {
		t.Fatal("an API-key account without a key was added")
	}
	b, _ := os.ReadFile(s.Path())
	if strings.Contains(string(b), testKey) || !strings.Contains(string(b), `"kind": "api-key"`) {
		t.Fatalf("accounts.json:\n%s", b)
	}
	if v, err := kc.Get(secretID(res.Meta.ID, secretAPIKey)); err != nil || v != testKey {
		t.Fatalf("keychain: %q %v", v, err)
	}
	if _, err := kc.Get(secretID(res.Meta.ID, secretRefresh)); err == nil {
		t.Fatal("a refresh-token item for an API key")
	}
	sec, err := s.Secrets(res.Meta)
	if err != nil || sec.APIKey.Reveal() != testKey {
		t.Fatalf("secrets: %v", err)
	}
	// The pool gets it as an API-key credential.
	d, _ := s.Load()
	creds, err := s.credentials(d, nil, quietLog())
	if err != nil || len(creds) != 1 || creds[0].AuthMethod != AuthAPIKey || creds[0].APIKey.Reveal() != testKey || creds[0].RefreshToken != "" {
		t.Fatalf("credentials %+v %v", creds, err)
	}
	// Exported with secrets and imported elsewhere, it is the same key.
	exp, err := s.Export(ExportOptions{WithSecrets: true})
	if err != nil || !strings.Contains(string(exp), testKey) {
		t.Fatalf("export: %v", err)
	}
	ims, _, err := ParseImport(exp)
	if err != nil || len(ims) != 1 || ims[0].Skip != "" || ims[0].Secrets.APIKey.Reveal() != testKey || ims[0].Meta.Kind != KindAPIKey {
		t.Fatalf("re-import %+v %v", ims, err)
	}
	asCreds, err := s.Export(ExportOptions{AsCredentials: true})
	if err != nil || !strings.Contains(string(asCreds), `"authMethod": "api_key"`) {
		t.Fatalf("as credentials: %s %v", asCreds, err)
	}
	if cf, err := parseCredentialsForTest(asCreds); err != nil || cf[0].APIKey.Reveal() != testKey {
		t.Fatalf("credentials file: %v", err)
	}
	// Removing it deletes the key.
	if _, err := s.Remove("ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Get(secretID(res.Meta.ID, secretAPIKey)); err == nil {
		t.Fatal("key left in the keychain")
	}
}

func parseCredentialsForTest(b []byte) ([]Credential, error) {
	c, _, err := parseCredentials(b)
	return c, err
}

// The pool hands a key out as it is (nothing to refresh), parks the account
// when Kiro rejects the key, and leaves it alone for errors about the request.
func TestAPIKeyAccountInThePool(t *testing.T) {
	t.Parallel()
	as, err := NewAccountsFromList([]Credential{{Name: "ci", APIKey: testKey}}, AccountsOptions{Logger: quietLog(), AuthBase: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	a := as.Account("ci")
	for _, force := range []bool{false, true} {
		tok, err := a.Token(context.Background(), force)
		if err != nil || !tok.APIKey || tok.Access.Reveal() != testKey || tok.ProfileARN != "" || tok.MachineID == "" {
			t.Fatalf("force=%v: %+v %v", force, tok, err)
		}
	}
	a.Report(&kiro.UpstreamError{Status: http.StatusBadRequest, Reason: kiro.ReasonImproper, Message: "Improperly formed request."})
	a.Report(&kiro.UpstreamError{Status: http.StatusBadRequest, Reason: kiro.ReasonContentLength, Message: "Input is too long."})
	if st := a.status(as.now()); st.State != StateActive {
		t.Fatalf("parked for a bad request: %+v", st)
	}
	a.Report(&kiro.UpstreamError{Status: http.StatusForbidden, Reason: kiro.ReasonBadToken, Message: "The bearer token included in the request is invalid."})
	st := a.status(as.now())
	if st.State != StateNeedsSignIn || !strings.Contains(st.Reason, "the API key was rejected") || strings.Contains(st.Reason, testKey) {
		t.Fatalf("after a rejection: %+v", st)
	}
	if _, err := a.Token(context.Background(), false); !errors.Is(err, kiro.ErrNoAccount) {
		t.Fatalf("token of a parked key: %v", err)
	}
	// A new key, imported under the same name, puts it back in service.
	c := Credential{Name: "ci", APIKey: "ksk_ZyXwVuTsRqPoNmLkJiHg0000", SignedInAt: as.now().Add(1)}
	if err := as.Sync([]Credential{c}); err != nil {
		t.Fatal(err)
	}
	if tok, err := a.Token(context.Background(), false); err != nil || !strings.HasSuffix(tok.Access.Reveal(), "0000") {
		t.Fatalf("after a new key: %v", err)
	}
	a.Report(&kiro.UpstreamError{Status: http.StatusForbidden, Reason: kiro.ReasonSuspended})
	if st := a.status(as.now()); st.State != StateSuspended {
		t.Fatalf("suspension: %+v", st)
	}
}

// End to end: `serve` on a store holding an API-key account sends the key
// with tokentype API_KEY and no profileArn through the real proxy and
// client, reads its quota, and parks the account with a clear reason once
// Kiro stops taking the key. The key never reaches the log.
func TestAPIKeyThroughTheProxy(t *testing.T) {
	fake, srv := fakeUpstream(t, kirofake.Config{LaxHeaders: true, RequireProfileARN: true})
	key := fake.AddAPIKeyAccount("headless")
	dir := t.TempDir()
	kc := &testKeychain{}
	s, err := OpenStore(dir, kc)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := VerifyAPIKey(context.Background(), nil, srv.URL, redact.Secret(key))
	if err != nil || chk.Email != "headless@example.com" || chk.Quota == nil {
		t.Fatalf("verify: %+v %v", chk, err)
	}
	if _, err := VerifyAPIKey(context.Background(), nil, srv.URL, testKey); !errors.Is(err, ErrAPIKeyRejected) {
		t.Fatalf("verify an unknown key: %v", err)
	}
	if _, err := s.Add(AccountMeta{Name: "ci", Kind: KindAPIKey, Source: SourceImport}, Secrets{APIKey: redact.Secret(key)}); err != nil {
		t.Fatal(err)
	}
	base, logs := serveStore(t, dir, kc, srv.URL)
	if status, body := ask(t, base); status != 200 || lastAccount(fake) != "headless" {
		t.Fatalf("%d %s\n%s", status, body, logs)
	}
	rs := fake.Requests()
	r := rs[len(rs)-1]
	if r.Header.Get("tokentype") != "API_KEY" || strings.Contains(string(r.Body), "profileArn") {
		t.Fatalf("headers %v, body %s", r.Header, r.Body)
	}
	untilTrue(t, "the key's quota in the store", func() bool {
		d, _ := s.Load()
		a := d.Account("ci")
		return a != nil && a.Quota != nil && a.Email == "headless@example.com"
	})
	if fake.Usage("headless").Refreshes != 0 {
		t.Fatal("an API key was refreshed")
	}

	fake.RevokeAPIKeys("headless")
	if status, _ := ask(t, base); status == 200 {
		t.Fatal("a revoked key still served")
	}
	untilTrue(t, "the account parked in the store", func() bool {
		d, _ := s.Load()
		a := d.Account("ci")
		return a != nil && a.State == StateNeedsSignIn && strings.Contains(a.StateReason, "API key was rejected")
	})
	if strings.Contains(logs.String(), key) {
		t.Fatal("the API key reached the log")
	}
}
