//go:build keyring_integration

package app

import (
	"errors"
	"strings"
	"testing"

	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/redact"
)

// TestStoreWithTheOSKeychain keeps an IdC login (its ≈5 KB client secret is
// chunked) in the real OS keychain and removes it again. Run it where one
// is usable, e.g. on Linux under dbus-run-session with an unlocked
// gnome-keyring (see .ci/run):
//
//	go test -tags keyring_integration -run OSKeychain ./app
func TestStoreWithTheOSKeychain(t *testing.T) {
	kc := &keychain.OS{Service: "kirotray-test"}
	s, err := OpenStore(t.TempDir(), kc)
	if err != nil {
		t.Fatal(err)
	}
	big := redact.Secret(strings.Repeat("eyJraWQiOi", 500))
	res, err := s.Add(AccountMeta{Name: "org", Kind: KindIdC, ClientID: "cid", Region: "eu-west-1"},
		Secrets{RefreshToken: "aor-integration", ClientSecret: big})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.Remove("org") })
	sec, err := s.Secrets(res.Meta)
	if err != nil || sec.RefreshToken != "aor-integration" || sec.ClientSecret != big {
		t.Fatalf("secrets read back: %v", err)
	}
	if err := s.SetRefreshToken(res.Meta.ID, "aor-rotated"); err != nil {
		t.Fatal(err)
	}
	if sec, _ := s.Secrets(res.Meta); sec.RefreshToken != "aor-rotated" {
		t.Fatal("rotation not stored")
	}
	if _, err := s.Remove("org"); err != nil {
		t.Fatal(err)
	}
	for _, item := range []string{secretRefresh, secretClient} {
		if _, err := kc.Get(secretID(res.Meta.ID, item)); !errors.Is(err, keychain.ErrNotFound) {
			t.Fatalf("%s still in the keychain: %v", item, err)
		}
	}
}
