package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/kirotray/kirotray/proxy/redact"
)

// kiro-cli's login (auth.md §1.1): a SQLite database whose auth_kv table
// holds the token as snake_case JSON. kirotray reads it through the sqlite3
// program, read-only (no SQLite library in the build), and follows it like
// the IDE's login: it uses kiro-cli's access token and never refreshes it.

// ErrNoSQLite3 means the sqlite3 program, which reads kiro-cli's database,
// is not installed.
var ErrNoSQLite3 = errors.New("reading kiro-cli's login needs the sqlite3 program, which is not installed " +
	"(apt install sqlite3, dnf install sqlite, brew install sqlite)")

// ErrKiroCLISignedOut means kiro-cli's database is missing or holds no login.
var ErrKiroCLISignedOut = errors.New("kiro-cli is not signed in")

// kiroCLITokenKeys are auth_kv's token keys, the preferred first.
var kiroCLITokenKeys = []string{"kirocli:social:token", "kirocli:odic:token", "codewhisperer:odic:token", "kirocli:external-idp:token"}

// sqliteTimeout bounds one run of the sqlite3 program.
const sqliteTimeout = 5 * time.Second

// ReadKiroCLIToken reads kiro-cli's login from its database at path, as an
// IDEToken (Path is the database; the refresh token is read, never used).
func ReadKiroCLIToken(ctx context.Context, path string) (*IDEToken, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s does not exist)", ErrKiroCLISignedOut, path)
	}
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(kiroCLITokenKeys))
	for i, k := range kiroCLITokenKeys {
		keys[i] = "'" + k + "'"
	}
	rows, err := sqliteQuery(ctx, path, "SELECT key, value FROM auth_kv WHERE key IN ("+strings.Join(keys, ",")+")")
	if err != nil {
		return nil, err
	}
	var key, value string
	for _, k := range kiroCLITokenKeys {
		if v, ok := rows[k]; ok && key == "" {
			key, value = k, v
		}
	}
	if key == "" {
		return nil, fmt.Errorf("%w (%s holds no login)", ErrKiroCLISignedOut, path)
	}
	if key == "kirocli:external-idp:token" {
		return nil, errors.New("kiro-cli is signed in through an external identity provider (Entra ID, Okta), which kirotray does not support")
	}
	t, err := parseKiroCLIToken(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.Path, t.ModTime = path, st.ModTime()
	t.AuthMethod = "IdC"
	if strings.Contains(key, "social") {
		t.AuthMethod = "social"
	}
	if t.ProfileARN == "" {
		// Its selected profile lives in another table (absent on some versions).
		if p, err := sqliteQuery(ctx, path, "SELECT key, value FROM state WHERE key = 'api.codewhisperer.profile'"); err == nil {
			var prof struct {
				ARN string `json:"arn"`
			}
			if json.Unmarshal([]byte(p["api.codewhisperer.profile"]), &prof) == nil {
				t.ProfileARN = prof.ARN
			}
		}
	}
	return t, nil
}

// parseKiroCLIToken reads one auth_kv token value.
func parseKiroCLIToken(value string) (*IDEToken, error) {
	var v struct {
		AccessToken  string          `json:"access_token"`
		RefreshToken string          `json:"refresh_token"`
		ExpiresAt    json.RawMessage `json:"expires_at"`
		Region       string          `json:"region"`
		ProfileARN   string          `json:"profile_arn"`
		StartURL     string          `json:"start_url"`
		Provider     string          `json:"provider"`
	}
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		return nil, errors.New("kiro-cli's token is not valid JSON")
	}
	if v.AccessToken == "" && v.RefreshToken == "" {
		return nil, ErrKiroCLISignedOut
	}
	exp, _ := parseTime(v.ExpiresAt)
	t := &IDEToken{AccessToken: redact.Secret(v.AccessToken), RefreshToken: redact.Secret(v.RefreshToken), ExpiresAt: exp,
		Region: v.Region, ProfileARN: v.ProfileARN, Provider: normProvider(v.Provider)}
	if strings.Contains(v.StartURL, "view.awsapps.com") {
		t.Provider = "BuilderId"
	}
	return t, nil
}

// sqliteQuery runs a key/value query read-only through the sqlite3
// program and returns the rows by key.
func sqliteQuery(ctx context.Context, path, query string) (map[string]string, error) {
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		return nil, ErrNoSQLite3
	}
	ctx, cancel := context.WithTimeout(ctx, sqliteTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-readonly", "-json", "-cmd", ".timeout 2000", path, query)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, fmt.Errorf("%s: sqlite3 could not read it (%v: %s)", path, err, msg)
	}
	rows := map[string]string{}
	if len(bytes.TrimSpace(out)) == 0 {
		return rows, nil // no rows
	}
	var list []struct{ Key, Value string }
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("%s: sqlite3's answer was not understood (is it older than 3.33, without -json?)", path)
	}
	for _, r := range list {
		rows[r.Key] = r.Value
	}
	return rows, nil
}
