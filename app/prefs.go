package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/kirotray/kirotray/proxy"
)

// Preferences are the tray app's own settings, kept in settings.json in
// the config folder (no secrets: the key is in the keychain, accounts in
// accounts.json). Command-line flags and KIROTRAY_* variables override
// them for one run without changing the file.
type Preferences struct {
	// Listen is the proxy's address. It is fixed the first time the proxy
	// starts, so the base URL Claude Code was given keeps working.
	Listen string `json:"listen,omitempty"`
	// StartProxy starts the proxy when the app launches (default on).
	StartProxy bool `json:"startProxy"`
	// LaunchAtLogin mirrors the OS's autostart entry.
	LaunchAtLogin bool `json:"launchAtLogin"`
	// Language of the window: "" follows the system, "en" or "zh".
	Language string `json:"language,omitempty"`
	// KiroAPI, KiroAuth and OIDC override the upstream services; empty
	// means the defaults (DefaultKiroAPI, DefaultKiroAuth, the region's OIDC).
	KiroAPI  string `json:"kiroApi,omitempty"`
	KiroAuth string `json:"kiroAuth,omitempty"`
	OIDC     string `json:"oidc,omitempty"`
}

const prefsFile = "settings.json"

// DefaultConfigDir is kirotray's folder in the user's config dir
// (~/.config/kirotray on Linux), created 0700 if missing.
func DefaultConfigDir() (string, error) { return configDir("") }

// DefaultPreferences are the preferences of a first start.
func DefaultPreferences() Preferences { return Preferences{StartProxy: true} }

// Languages the window offers, by code.
var Languages = []string{"", "en", "zh"}

// LoadPreferences reads settings.json in dir; a missing file gives the
// defaults. A damaged file is an error naming it (the caller shows it and
// goes on with the defaults; it is replaced on the next save).
func LoadPreferences(dir string) (Preferences, error) {
	p := DefaultPreferences()
	data, err := readLimited(filepath.Join(dir, prefsFile), 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("settings: %w", err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return DefaultPreferences(), fmt.Errorf("settings: %s is damaged (%v); using the defaults", filepath.Join(dir, prefsFile), err)
	}
	return p, p.Check()
}

// SavePreferences writes settings.json atomically (mode 0600).
func SavePreferences(dir string, p Preferences) error {
	if err := p.Check(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return WriteFileAtomic(filepath.Join(dir, prefsFile), append(data, '\n'), 0o600)
}

// Check reports a preference a person must correct, in their words.
func (p Preferences) Check() error {
	if p.Listen != "" {
		host, port, err := net.SplitHostPort(p.Listen)
		if err != nil {
			return fmt.Errorf("settings: address %q: want 127.0.0.1:PORT", p.Listen)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("settings: port %q: want a number from 1 to 65535", port)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("settings: address %q: the tray app listens on this computer only (127.0.0.1)", p.Listen)
		}
	}
	switch p.Language {
	case "", "en", "zh":
	default:
		return fmt.Errorf("settings: language %q: want en or zh", p.Language)
	}
	for _, u := range []string{p.KiroAPI, p.KiroAuth, p.OIDC} {
		if u != "" {
			if err := checkServiceURL(u); err != nil {
				return err
			}
		}
	}
	return nil
}

// PortOf returns the port of a listen address, 0 if it has none.
func PortOf(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// NextFreeAddr finds the first address after addr (same host, the next
// ports up to 50 further) that can be listened on now, or "" if none.
func NextFreeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "127.0.0.1", strconv.Itoa(PortOf(proxy.DefaultAddr))
	}
	start, _ := strconv.Atoi(port)
	for p := start + 1; p <= start+50 && p <= 65535; p++ {
		a := net.JoinHostPort(host, strconv.Itoa(p))
		ln, err := net.Listen("tcp", a)
		if err != nil {
			continue
		}
		ln.Close()
		return a
	}
	return ""
}

// portUnavailable tells a port in use, or one the system keeps for itself
// (Windows reserves ranges for Hyper-V: "access permissions"; a port
// below 1024 elsewhere), from other listen errors.
func portUnavailable(err error) bool {
	return errors.Is(err, errAddrInUse) || errors.Is(err, errPortReserved) || errors.Is(err, fs.ErrPermission)
}

// checkServiceURL accepts an absolute http(s) URL with a host.
func checkServiceURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fmt.Errorf("settings: %q is not a service URL (want https://host[/path])", u)
	}
	return nil
}
