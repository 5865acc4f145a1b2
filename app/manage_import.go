package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The window's other ways to add an account: kiro-cli's login (followed
// read-only, like the IDE's), and what a person pastes or picks as a file:
// a Kiro API key, a refresh token, or another Kiro tool's accounts. They
// do what `kirotray accounts import-cli` and `accounts import` do, and
// like the rest of the window's API they may touch the disk, the keychain
// and the network: call them off the UI goroutine.

// MaxImportText is the most ImportText reads: account files are a few KiB.
const MaxImportText = 1 << 20

// KiroCLI reports kiro-cli's login, read afresh (it runs the sqlite3
// program, for up to a few seconds).
func (a *App) KiroCLI() KiroCLILogin { return DetectKiroCLI(a.cfg.IDE.home()) }

// ImportKiroCLI adds an account that follows kiro-cli's login read-only:
// kirotray uses the access token kiro-cli keeps and never renews it, so
// kiro-cli stays signed in. name may be empty (then "kiro-cli"). Importing
// again updates the account that already follows it.
func (a *App) ImportKiroCLI(name string) (AccountMeta, error) {
	l := a.KiroCLI()
	switch {
	case l.Path == "":
		return AccountMeta{}, errors.New("kiro-cli keeps no login kirotray can read on this system")
	case !l.Found:
		return AccountMeta{}, fmt.Errorf("kiro-cli is not signed in here (no %s): run `kiro-cli login` first, or sign in with kirotray", l.Path)
	case l.NoSQLite3:
		return AccountMeta{}, fmt.Errorf("found kiro-cli's login in %s, but %w", l.Path, ErrNoSQLite3)
	case !l.SignedIn:
		return AccountMeta{}, fmt.Errorf("kiro-cli's login in %s cannot be used: %s", l.Path, l.Detail)
	}
	s, err := a.Store()
	if err != nil {
		return AccountMeta{}, err
	}
	res, err := s.Add(AccountMeta{Name: name, Kind: l.Kind, Provider: l.Provider, Region: l.Region,
		ProfileARN: l.ProfileARN, Source: SourceKiroCLI, IDEFile: l.Path}, Secrets{})
	if err != nil {
		return AccountMeta{}, err
	}
	a.accountsUpdated()
	return res.Meta, nil
}

// ImportSummary is what ImportText did.
type ImportSummary struct {
	// Format is what the text was, as ParseImport names it (FormatAPIKey, …).
	Format string
	// Results has one entry per account read, in order.
	Results []ImportResult
	// Unchecked are the API keys added without a check, because Kiro
	// could not be reached.
	Unchecked []UncheckedKey
	// RefreshTokens: refresh tokens were imported, and are kirotray's now.
	// They are single-use: the login should be used in one place only.
	RefreshTokens bool
	// NameUnused: a name was given, but it can name one account and more
	// were imported, so each got its own.
	NameUnused bool
}

// UncheckedKey is an API key ImportText added without Kiro's word on it.
type UncheckedKey struct {
	Key    string // masked: ksk_…1a2b
	Reason string // why it could not be checked
}

// Added names the accounts that are new in the store (restored ones too).
func (s ImportSummary) Added() []string {
	var out []string
	for _, r := range s.Results {
		if r.Added || r.Restored {
			out = append(out, r.Name)
		}
	}
	return out
}

// Updated names the existing accounts that got the imported tokens.
func (s ImportSummary) Updated() []string {
	var out []string
	for _, r := range s.Results {
		if r.Replaced {
			out = append(out, r.Name)
		}
	}
	return out
}

// Skipped lists the entries not imported; each Skipped field says why.
func (s ImportSummary) Skipped() []ImportResult {
	var out []ImportResult
	for _, r := range s.Results {
		if !r.Added && !r.Replaced && !r.Restored {
			out = append(out, r)
		}
	}
	return out
}

// String is the summary for people: "Added 2 accounts: work, home.
// Skipped 1: key 2 (…)." then what else the person should know.
func (s ImportSummary) String() string {
	var parts []string
	if n := s.Added(); len(n) > 0 {
		parts = append(parts, fmt.Sprintf("Added %s: %s.", plural(len(n), "account"), strings.Join(n, ", ")))
	}
	if n := s.Updated(); len(n) > 0 {
		parts = append(parts, fmt.Sprintf("Updated %s with the new tokens: %s.", plural(len(n), "account"), strings.Join(n, ", ")))
	}
	if sk := s.Skipped(); len(sk) > 0 {
		why := make([]string, len(sk))
		for i, r := range sk {
			why[i] = r.Entry + " (" + r.Skipped + ")"
		}
		parts = append(parts, fmt.Sprintf("Skipped %d: %s.", len(sk), strings.Join(why, "; ")))
	}
	if len(parts) == 0 {
		parts = append(parts, "Nothing was imported.")
	}
	for _, u := range s.Unchecked {
		parts = append(parts, fmt.Sprintf("Could not check the API key %s with Kiro (%s); added it unchecked.", u.Key, u.Reason))
	}
	if s.RefreshTokens {
		parts = append(parts, "These tokens are kirotray's now: if another program still uses the same login, "+
			"refreshing it in both places signs one of them out. Use each login in one place only.")
	}
	if s.NameUnused {
		parts = append(parts, "The name was not used: it can name one account only.")
	}
	return strings.Join(parts, " ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// ImportText adds the accounts in text, which is what a person pasted or
// the content of a file they picked: a Kiro API key (ksk_…, or the line
// KIRO_API_KEY=…), a refresh token, or another Kiro tool's accounts
// (kiro2api, kiro.rs, Kiro Account Manager, a kirotray export). Each API
// key is first checked with Kiro: a key Kiro refuses is skipped, saying
// why; when Kiro cannot be reached it is added unchecked, with a note.
// name names the account when exactly one is imported; it may be empty.
//
// An error means nothing could be read, or the store failed part way (the
// summary then holds what was done before). Entries that cannot be
// imported are not errors: the summary lists them as skipped.
func (a *App) ImportText(ctx context.Context, text string, name string) (ImportSummary, error) {
	if len(text) > MaxImportText {
		return ImportSummary{}, fmt.Errorf("that is %d KiB: Kiro account files are much smaller (at most %d KiB is read)", len(text)>>10, MaxImportText>>10)
	}
	if strings.HasPrefix(text, "SQLite format 3\x00") {
		return ImportSummary{}, errors.New("that is a SQLite database, not an account file: for kiro-cli's login, use kiro-cli's login instead of importing its file")
	}
	if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
		return ImportSummary{}, errors.New("that is not a text file: import a JSON file of accounts, or paste an API key or refresh token")
	}
	name = strings.TrimSpace(name)
	if name != "" {
		if err := validName(name); err != nil {
			return ImportSummary{}, err
		}
	}
	ims, format, err := ParseImport([]byte(text))
	if err != nil {
		return ImportSummary{}, err
	}
	if format == FormatIDEFile && a.isIDELogin(ims) {
		return ImportSummary{}, errors.New("that is the Kiro IDE's own login: importing its refresh token would sign the IDE out at the next refresh. " +
			"Use the Kiro IDE's login (read-only) instead, or sign in with kirotray")
	}
	sum := ImportSummary{Format: format}
	if sum.Unchecked, err = a.verifyKeys(ctx, ims); err != nil {
		return ImportSummary{}, err
	}
	s, err := a.Store()
	if err != nil {
		return ImportSummary{}, err
	}
	importable, tokens := 0, false
	for _, im := range ims {
		if im.Skip == "" {
			importable++
			tokens = tokens || im.Secrets.RefreshToken != ""
		}
	}
	res, err := s.Import(ims, name)
	sum.Results = res
	if slices.ContainsFunc(res, func(r ImportResult) bool { return r.Name != "" }) {
		a.accountsUpdated() // added, updated, or listed as needing sign-in
	}
	if err != nil {
		return sum, err
	}
	sum.RefreshTokens = tokens
	sum.NameUnused = name != "" && importable > 1
	return sum, nil
}

// isIDELogin reports whether ims is the Kiro IDE's live login: the same
// refresh token as the IDE's token file holds now.
func (a *App) isIDELogin(ims []Imported) bool {
	t, err := ReadIDEToken(a.cfg.IDE.TokenPath())
	if err != nil || t.RefreshToken == "" {
		return false
	}
	for _, im := range ims {
		if im.Secrets.RefreshToken == t.RefreshToken {
			return true
		}
	}
	return false
}

// verifyKeys checks the API keys among ims with the Kiro API the proxy
// uses (getUsageLimits), as `accounts import` does: a refused key gets a
// Skip reason, a key that works its e-mail and quota. A key that could not
// be checked stays in and is returned. Only a cancelled ctx is an error.
func (a *App) verifyKeys(ctx context.Context, ims []Imported) ([]UncheckedKey, error) {
	var unchecked []UncheckedKey
	var hc *http.Client
	checked := false
	base := firstNonEmpty(a.cfg.KiroAPI, a.Preferences().KiroAPI, DefaultKiroAPI)
	for i := range ims {
		im := &ims[i]
		if im.Skip != "" || im.Meta.Kind != KindAPIKey || im.Secrets.APIKey == "" {
			continue
		}
		if !checked {
			checked = true
			s, err := a.Store()
			if err != nil {
				return nil, err
			}
			if hc, err = s.OutboundClient(); err != nil {
				return nil, err
			}
		}
		vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		chk, err := VerifyAPIKey(vctx, hc, base, im.Secrets.APIKey)
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("import cancelled: %w", ctx.Err())
		}
		mask := MaskAPIKey(im.Secrets.APIKey)
		switch {
		case errors.Is(err, ErrAPIKeyRejected):
			im.Skip = fmt.Sprintf("Kiro rejected the API key %s (%v): check it in the Kiro portal, or create a new one", mask, err)
		case err != nil:
			a.log.Warn("could not check an API key with Kiro", "key", mask, "err", err)
			unchecked = append(unchecked, UncheckedKey{Key: mask, Reason: err.Error()})
		default:
			im.Meta.Email, im.Meta.UserID, im.Meta.Quota = chk.Email, chk.UserID, chk.Quota
		}
	}
	return unchecked, nil
}
