package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/redact"
)

// apiKeyID is the keychain entry holding the proxy's generated API key.
const apiKeyID = "proxy/api-key"

// apiKey returns the key clients must present: the one given, else the
// stored one, else a new one stored for next time (keychain first; a 0600
// file in the config directory where no keychain works).
func apiKey(given string, store keychain.Store, fallbackFile string, log *slog.Logger) (redact.Secret, string, error) {
	if given != "" {
		return redact.Secret(given), "flag", nil
	}
	return LoadOrCreateAPIKey(store, fallbackFile, log)
}

// LoadOrCreateAPIKey returns the stored API key, creating one on first use,
// and says where it lives ("keychain" or "file").
func LoadOrCreateAPIKey(store keychain.Store, fallbackFile string, log *slog.Logger) (redact.Secret, string, error) {
	k, err := store.Get(apiKeyID)
	switch {
	case err == nil && k != "":
		return redact.Secret(k), "keychain", nil
	case err == nil, errors.Is(err, keychain.ErrNotFound):
		if k, ok := readKeyFile(fallbackFile); ok { // stored while the keychain was away
			return k, "file", nil
		}
		k := newAPIKey()
		if err := store.Set(apiKeyID, k.Reveal()); err == nil {
			return k, "keychain", nil
		} else if log != nil {
			log.Warn("keychain unavailable: keeping the API key in a 0600 file instead", "file", fallbackFile, "err", err)
		}
		return k, "file", writeKeyFile(fallbackFile, k)
	default:
		if log != nil {
			log.Warn("keychain unavailable: using the API key file", "file", fallbackFile, "err", err)
		}
		if k, ok := readKeyFile(fallbackFile); ok {
			return k, "file", nil
		}
		k := newAPIKey()
		return k, "file", writeKeyFile(fallbackFile, k)
	}
}

func newAPIKey() redact.Secret {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return redact.Secret("kt-" + base64.RawURLEncoding.EncodeToString(b))
}

func readKeyFile(path string) (redact.Secret, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	k := strings.TrimSpace(string(b))
	return redact.Secret(k), k != ""
}

func writeKeyFile(path string, k redact.Secret) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("api key file: %w", err)
	}
	if err := WriteFileAtomic(path, []byte(k.Reveal()+"\n"), 0o600); err != nil {
		return fmt.Errorf("api key file: %w", err)
	}
	return nil
}
