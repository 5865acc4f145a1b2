package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kirotray/kirotray/proxy/redact"
)

// Importing accounts from the files people already have: kirotray's own
// export, kiro2api's KIRO_AUTH_TOKEN JSON, kiro.rs's credentials.json (one
// object or an array), Kiro Account Manager's export, a credentials file,
// and a pasted refresh token. Field names and shapes were read from those
// projects' documentation; nothing is run or refreshed on import: the
// tokens are first used (and rotated) by the pool.

// Import formats, as ParseImport names them.
const (
	FormatKirotray    = "kirotray export"
	FormatKiroAM      = "Kiro Account Manager export"
	FormatJSON        = "JSON accounts (kiro2api, kiro.rs, credentials file)"
	FormatIDEFile     = "Kiro IDE token file"
	FormatPastedToken = "pasted refresh token"
	FormatAPIKey      = "Kiro API key"
)

// Imported is one account read for import.
type Imported struct {
	Meta    AccountMeta // Name may be empty (one is chosen); ID set only by kirotray exports
	Secrets Secrets     // empty for a metadata-only kirotray export
	// Skip says why the entry cannot be imported; empty when it can.
	Skip string
	// Entry names the entry for messages ("entry 2", or its name/e-mail).
	Entry string
}

// ParseImport reads the accounts of data, whatever format it is in, and
// names the format. Entries that cannot be imported come back with Skip set.
func ParseImport(data []byte) ([]Imported, string, error) {
	data = bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if len(data) == 0 {
		return nil, "", errors.New("nothing to import: the input is empty")
	}
	// kiro2api is configured with KIRO_AUTH_TOKEN='[…]': accept the line as pasted.
	if rest, ok := bytes.CutPrefix(data, []byte("KIRO_AUTH_TOKEN=")); ok {
		data = bytes.Trim(bytes.TrimSpace(rest), `'"`)
		if len(data) == 0 {
			return nil, "", errors.New("nothing to import: KIRO_AUTH_TOKEN is empty")
		}
	}
	switch data[0] {
	case '[':
		var entries []json.RawMessage
		if err := json.Unmarshal(data, &entries); err != nil {
			return nil, "", fmt.Errorf("not valid JSON: %w", err)
		}
		out := make([]Imported, 0, len(entries))
		for i, e := range entries {
			out = append(out, parseEntryJSON(e, i))
		}
		return out, FormatJSON, nil
	case '{':
		var top struct {
			Kirotray string            `json:"kirotray"`
			Accounts []json.RawMessage `json:"accounts"`
			Settings *Settings         `json:"settings"`
		}
		if err := json.Unmarshal(data, &top); err != nil {
			return nil, "", fmt.Errorf("not valid JSON: %w", err)
		}
		if top.Accounts != nil {
			format := FormatKiroAM
			if top.Kirotray != "" {
				format = FormatKirotray
			}
			out := make([]Imported, 0, len(top.Accounts))
			for i, e := range top.Accounts {
				im := parseEntryJSON(e, i)
				if format == FormatKirotray {
					im = parseKirotrayEntry(e, i)
				}
				out = append(out, im)
			}
			return out, format, nil
		}
		im := parseEntryJSON(data, 0)
		format := FormatJSON
		if isIDEFile(data) {
			format = FormatIDEFile
		}
		return []Imported{im}, format, nil
	}
	return parsePasted(data)
}

// parsePasted reads refresh tokens or Kiro API keys, one a line (blank
// lines and # comments skipped). A key may come as the shell line that sets
// it: KIRO_API_KEY=ksk_… (with export, quotes).
func parsePasted(data []byte) ([]Imported, string, error) {
	var out []Imported
	keys := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		if rest, ok := strings.CutPrefix(line, "KIRO_API_KEY="); ok {
			line = strings.TrimSpace(rest)
		}
		tok := strings.Trim(line, `'"`)
		im := Imported{Entry: fmt.Sprintf("token %d", len(out)+1), Meta: AccountMeta{Kind: KindSocial}}
		switch {
		case strings.HasPrefix(tok, apiKeyPrefix):
			im = apiKeyImport(fmt.Sprintf("key %d", len(out)+1), tok, AccountMeta{})
			keys++
		case strings.ContainsAny(tok, " \t{}[],"):
			return nil, "", errors.New("not JSON and not a refresh token: paste the token alone, or a JSON file of accounts")
		case len(tok) < 40:
			im.Skip = fmt.Sprintf("a %d-character token looks truncated (Kiro refresh tokens are about 230)", len(tok))
		default:
			im.Secrets.RefreshToken = redact.Secret(tok)
		}
		out = append(out, im)
	}
	if len(out) == 0 {
		return nil, "", errors.New("nothing to import: no token found")
	}
	if keys == len(out) {
		return out, FormatAPIKey, nil
	}
	return out, FormatPastedToken, nil
}

// apiKeyImport makes the import of an API key, with what else the entry
// said about the account (name, priority, …) in m.
func apiKeyImport(entry, key string, m AccountMeta) Imported {
	im := Imported{Entry: entry}
	if err := checkAPIKey(key); err != nil {
		im.Skip = err.Error()
		return im
	}
	m.Kind, m.Provider, m.Region, m.StartURL, m.ClientID, m.ProfileARN = KindAPIKey, "", "", "", "", ""
	if m.Source == "" {
		m.Source = SourceImport
	}
	im.Meta, im.Secrets = m, Secrets{APIKey: redact.Secret(key)}
	return im
}

// isIDEFile tells the Kiro IDE's own token file (auth.md §1.2) by its keys.
func isIDEFile(data []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	_, hash := m["clientIdHash"]
	_, provider := m["provider"]
	_, method := m["authMethod"]
	_, name := m["name"]
	_, prio := m["priority"]
	return (hash || provider && method) && !name && !prio && len(m) <= 10
}

// entryJSON is the union of the account fields of the formats we read.
type entryJSON struct {
	Name     string `json:"name"`
	Nickname string `json:"nickname"`
	Label    string `json:"label"`

	RefreshToken  string `json:"refreshToken"`
	RefreshToken2 string `json:"refresh_token"`
	AccessToken   string `json:"accessToken"`
	AccessToken2  string `json:"access_token"`

	AuthMethod  string `json:"authMethod"`
	AuthMethod2 string `json:"auth_method"`
	Auth        string `json:"auth"` // kiro2api: "Social" or "IdC"
	Provider    string `json:"provider"`
	Idp         string `json:"idp"`

	ClientID      string `json:"clientId"`
	ClientID2     string `json:"client_id"`
	ClientSecret  string `json:"clientSecret"`
	ClientSecret2 string `json:"client_secret"`
	ClientIDHash  string `json:"clientIdHash"`

	Region     string `json:"region"`
	AuthRegion string `json:"authRegion"` // kiro.rs: the OIDC region when it differs
	StartURL   string `json:"startUrl"`

	ProfileARN  string `json:"profileArn"`
	ProfileARN2 string `json:"profile_arn"`

	Email        string `json:"email"`
	AccountEmail string `json:"accountEmail"`
	UserID       string `json:"userId"`

	Priority  *int   `json:"priority"`
	Disabled  *bool  `json:"disabled"`
	Enabled   *bool  `json:"enabled"`
	MachineID string `json:"machineId"`

	KiroAPIKey string          `json:"kiroApiKey"`
	APIKey     string          `json:"apiKey"`
	APIKey2    string          `json:"api_key"`
	ExpiresAt  json.RawMessage `json:"expiresAt"` // a string or a number: read, not needed

	// Kiro Account Manager nests the tokens.
	Credentials *entryJSON `json:"credentials"`
}

func parseEntryJSON(raw json.RawMessage, i int) Imported {
	im := Imported{Entry: fmt.Sprintf("entry %d", i+1)}
	var e entryJSON
	if err := json.Unmarshal(raw, &e); err != nil {
		im.Skip = "not an account object: " + err.Error()
		return im
	}
	if c := e.Credentials; c != nil { // Kiro Account Manager: identity outside, tokens inside
		inner := *c
		inner.Name = firstNonEmpty(e.Nickname, e.Name)
		inner.Email = firstNonEmpty(e.Email, c.Email)
		inner.UserID = firstNonEmpty(e.UserID, c.UserID)
		inner.Provider = firstNonEmpty(c.Provider, e.Idp, e.Provider)
		e = inner
	}
	m := AccountMeta{
		Name:       firstNonEmpty(e.Name, e.Nickname, e.Label),
		Provider:   normProvider(firstNonEmpty(e.Provider, e.Idp)),
		ClientID:   firstNonEmpty(e.ClientID, e.ClientID2),
		Region:     firstNonEmpty(e.AuthRegion, e.Region),
		StartURL:   e.StartURL,
		ProfileARN: firstNonEmpty(e.ProfileARN, e.ProfileARN2),
		Email:      firstNonEmpty(e.Email, e.AccountEmail),
		UserID:     e.UserID,
		MachineID:  e.MachineID,
		Source:     SourceImport,
		Enabled:    true,
	}
	if e.Priority != nil {
		m.Priority = *e.Priority
	}
	if e.Disabled != nil && *e.Disabled || e.Enabled != nil && !*e.Enabled {
		m.Enabled = false
	}
	if m.Name != "" && validName(m.Name) != nil {
		m.Name = "" // a label with spaces: choose one instead
	}
	im.Entry = entryName(i, m)
	sec := Secrets{
		RefreshToken: redact.Secret(strings.TrimSpace(firstNonEmpty(e.RefreshToken, e.RefreshToken2))),
		ClientSecret: redact.Secret(firstNonEmpty(e.ClientSecret, e.ClientSecret2)),
	}
	method := strings.ToLower(firstNonEmpty(e.AuthMethod, e.AuthMethod2, e.Auth))
	switch {
	case e.KiroAPIKey != "" || e.APIKey != "" || e.APIKey2 != "" || method == "api_key" || method == "apikey" || method == "api-key":
		key := strings.TrimSpace(firstNonEmpty(e.KiroAPIKey, e.APIKey, e.APIKey2))
		if key == "" {
			im.Skip = "an API-key entry without its key"
			return im
		}
		return apiKeyImport(im.Entry, key, m)
	case sec.RefreshToken == "":
		im.Skip = "no refresh token"
		return im
	}
	kind, err := kindOf(method, m.Provider, m.ClientID != "" && sec.ClientSecret != "")
	if err != nil {
		im.Skip = err.Error()
		return im
	}
	m.Kind = kind
	if kind != KindSocial && (m.ClientID == "" || sec.ClientSecret == "") {
		if e.ClientIDHash != "" {
			im.Skip = "an IdC login from a Kiro IDE token file: its client registration is in another file; use `kirotray accounts import-ide` on that machine"
		} else {
			im.Skip = "an IdC / Builder ID login needs its clientId and clientSecret"
		}
		return im
	}
	if kind == KindBuilderID && m.Region == "" {
		m.Region = "us-east-1"
	}
	if m.Region != "" && !validRegion(m.Region) {
		im.Skip = fmt.Sprintf("region %q is not an AWS region name", m.Region)
		return im
	}
	if m.MachineID != "" {
		// Keep a tool's machine id only when it is well-formed.
		if id, ok := normalizeMachineID(m.MachineID); ok {
			m.MachineID = id
		} else {
			m.MachineID = ""
		}
	}
	im.Meta, im.Secrets = m, sec
	return im
}

// parseKirotrayEntry reads an entry of kirotray's own export: the metadata
// as kept, with the secrets beside it when exported --with-secrets.
func parseKirotrayEntry(raw json.RawMessage, i int) Imported {
	var e struct {
		AccountMeta
		RefreshToken string `json:"refreshToken"`
		ClientSecret string `json:"clientSecret"`
		APIKey       string `json:"apiKey"`
	}
	im := Imported{Entry: fmt.Sprintf("entry %d", i+1)}
	if err := json.Unmarshal(raw, &e); err != nil {
		im.Skip = "not an account object: " + err.Error()
		return im
	}
	im.Meta = e.AccountMeta
	im.Entry = entryName(i, im.Meta)
	im.Secrets = Secrets{RefreshToken: redact.Secret(e.RefreshToken), ClientSecret: redact.Secret(e.ClientSecret), APIKey: redact.Secret(e.APIKey)}
	if im.Meta.Kind == "" {
		im.Meta.Kind = KindSocial
	}
	switch im.Meta.Kind {
	case KindAPIKey:
		if e.APIKey != "" {
			if err := checkAPIKey(e.APIKey); err != nil {
				im.Skip = err.Error()
			}
		}
	case KindSocial, KindIdC, KindBuilderID:
	default:
		im.Skip = fmt.Sprintf("kind %q is not known", im.Meta.Kind)
	}
	return im
}

func entryName(i int, m AccountMeta) string {
	switch {
	case m.Name != "":
		return fmt.Sprintf("entry %d (%s)", i+1, m.Name)
	case m.Email != "":
		return fmt.Sprintf("entry %d (%s)", i+1, m.Email)
	}
	return fmt.Sprintf("entry %d", i+1)
}

// kindOf reads the kind from an auth method and provider as the tools
// write them (case-insensitively), or from the presence of client
// credentials when neither says (the Kiro clients' rule).
func kindOf(method, provider string, hasClient bool) (AccountKind, error) {
	p := strings.ToLower(provider)
	switch method {
	case "social":
		return KindSocial, nil
	case "idc", "iam", "iam_sso", "enterprise":
		if p == "builderid" {
			return KindBuilderID, nil
		}
		return KindIdC, nil
	case "builder-id", "builderid", "builder_id":
		return KindBuilderID, nil
	case "":
		switch {
		case p == "builderid":
			return KindBuilderID, nil
		case p == "google" || p == "github":
			return KindSocial, nil
		case hasClient:
			return KindIdC, nil
		}
		return KindSocial, nil
	case "external_idp":
		return "", errors.New("logins through an external identity provider (Entra ID, Okta) are not supported")
	}
	return "", fmt.Errorf("authMethod %q is not known", method)
}

// normProvider spells a provider as the Kiro IDE does.
func normProvider(p string) string {
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "":
		return ""
	case "google":
		return "Google"
	case "github":
		return "Github"
	case "builderid", "builder-id", "builder_id":
		return "BuilderId"
	case "enterprise", "awsidc", "iam_sso":
		return "Enterprise"
	}
	return p
}

func normalizeMachineID(s string) (string, bool) {
	c := Credential{MachineID: s, RefreshToken: "x"}
	if err := c.normalize(); err != nil {
		return "", false
	}
	return c.MachineID, true
}

// ExportOptions choose what Export writes.
type ExportOptions struct {
	// WithSecrets adds each account's refresh token and client secret.
	// Whoever holds the file can use the accounts; and refresh tokens are
	// single-use, so two copies used at once log each other out.
	WithSecrets bool
	// AsCredentials writes a credentials file (a JSON array for `serve
	// --credentials`) instead of kirotray's export; implies WithSecrets.
	AsCredentials bool
}

// ExportNote is the warning to show before exporting secrets.
const ExportNote = "The export holds your Kiro refresh tokens: anyone with the file can use your accounts.\n" +
	"Refresh tokens are single-use: use the copy in ONE place only. If another program (or\n" +
	"another kirotray) refreshes them while this one does too, one of them is signed out.\n" +
	"Keep the file private (it is written with mode 0600) and delete it when done."

// Export writes the store's accounts: metadata only unless asked for the
// secrets. IDE-following accounts carry no secret (the IDE keeps its own).
func (s *Store) Export(o ExportOptions) ([]byte, error) {
	d, err := s.Load()
	if err != nil {
		return nil, err
	}
	if o.AsCredentials {
		var creds []Credential
		for _, m := range d.Accounts {
			if m.follows() {
				continue
			}
			sec, err := s.Secrets(m)
			if err != nil {
				return nil, fmt.Errorf("account %q: %w", m.Name, err)
			}
			creds = append(creds, Credential{Name: m.Name, RefreshToken: sec.RefreshToken, APIKey: sec.APIKey, AuthMethod: m.Kind.authMethod(),
				ClientID: m.ClientID, ClientSecret: sec.ClientSecret, Region: m.Region, ProfileARN: m.ProfileARN,
				Priority: m.Priority, MachineID: m.MachineID})
		}
		return marshalCredentials(creds, false)
	}
	type entry struct {
		AccountMeta
		RefreshToken string `json:"refreshToken,omitempty"`
		ClientSecret string `json:"clientSecret,omitempty"`
		APIKey       string `json:"apiKey,omitempty"`
	}
	out := struct {
		Kirotray    string    `json:"kirotray"`
		Version     int       `json:"version"`
		ExportedAt  time.Time `json:"exportedAt"`
		WithSecrets bool      `json:"withSecrets"`
		Settings    Settings  `json:"settings,omitzero"`
		Accounts    []entry   `json:"accounts"`
	}{Kirotray: "accounts", Version: storeVersion, ExportedAt: s.now().UTC(), WithSecrets: o.WithSecrets, Settings: d.Settings}
	for _, m := range d.Accounts {
		e := entry{AccountMeta: m}
		if o.WithSecrets && !m.follows() {
			sec, err := s.Secrets(m)
			if err != nil {
				return nil, fmt.Errorf("account %q: %w", m.Name, err)
			}
			e.RefreshToken, e.ClientSecret, e.APIKey = sec.RefreshToken.Reveal(), sec.ClientSecret.Reveal(), sec.APIKey.Reveal()
		}
		out.Accounts = append(out.Accounts, e)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ImportResult is what Import did with one entry.
type ImportResult struct {
	Entry    string
	Name     string // the account's name in the store
	Added    bool
	Replaced bool   // an existing account got these tokens
	Restored bool   // metadata restored for tokens already in the keychain
	Skipped  string // why not imported
}

// Import adds imported accounts to the store. An entry of a metadata-only
// kirotray export is restored when the keychain still holds its tokens
// (after a reinstall, say); otherwise it is listed as needing sign-in.
// nameOverride names the account when exactly one is imported.
func (s *Store) Import(ims []Imported, nameOverride string) ([]ImportResult, error) {
	var out []ImportResult
	importable := 0
	for _, im := range ims {
		if im.Skip == "" {
			importable++
		}
	}
	for _, im := range ims {
		r := ImportResult{Entry: im.Entry}
		if im.Skip != "" {
			r.Skipped = im.Skip
			out = append(out, r)
			continue
		}
		m := im.Meta
		if nameOverride != "" && importable == 1 {
			m.Name = nameOverride
		}
		if im.Secrets.RefreshToken == "" && im.Secrets.APIKey == "" && !m.follows() {
			meta, restored, err := s.restore(m)
			if err != nil {
				return out, fmt.Errorf("%s: %w", im.Entry, err)
			}
			r.Name, r.Restored = meta.Name, restored
			if !restored {
				r.Skipped = "no tokens in the export or the keychain: listed as needing sign-in"
			}
			out = append(out, r)
			continue
		}
		m.ID, m.State, m.StateReason, m.StateUntil, m.LastError = "", "", "", time.Time{}, ""
		if m.Source == "" {
			m.Source = SourceImport
		}
		enabled := m.Enabled
		res, err := s.Add(m, im.Secrets)
		if err != nil {
			return out, fmt.Errorf("%s: %w", im.Entry, err)
		}
		if !enabled && !res.Replaced {
			if _, err := s.SetEnabled(res.Meta.Name, false); err != nil {
				return out, err
			}
		}
		r.Name, r.Added, r.Replaced = res.Meta.Name, !res.Replaced, res.Replaced
		out = append(out, r)
	}
	return out, nil
}

// restore puts back the record of an account exported without secrets.
func (s *Store) restore(m AccountMeta) (AccountMeta, bool, error) {
	if m.ID == "" {
		return m, false, errors.New("no refresh token")
	}
	_, err := s.Secrets(m)
	var kerr *KeychainError
	if errors.As(err, &kerr) {
		return m, false, err
	}
	have := err == nil
	var out AccountMeta
	err = s.Update(func(d *StoreData) error {
		if a := d.Account(m.ID); a != nil && a.ID == m.ID {
			out = *a // already there
			return nil
		}
		m.Name = uniqueName(d, m)
		if !have {
			m.State, m.StateReason = StateNeedsSignIn, "its tokens are not in this keychain: sign in again"
		}
		d.Accounts = append(d.Accounts, m)
		out = m
		return nil
	})
	return out, have, err
}
