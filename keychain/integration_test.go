//go:build keyring_integration

package keychain

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestOSIntegration round-trips secrets through the real OS keychain. Run it
// where one is usable, e.g. on Linux under dbus-run-session with an unlocked
// gnome-keyring (see .ci/run):
//
//	go test -tags keyring_integration ./keychain
func TestOSIntegration(t *testing.T) {
	s := &OS{Service: "kirotray-test"}
	id := fmt.Sprintf("integration/%d", os.Getpid())
	t.Cleanup(func() { _ = s.Delete(id) })

	if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Set: err = %v, want ErrNotFound", err)
	}
	big := strings.Repeat("0123456789abcdef", 640) // 10 KB: chunked
	for _, v := range []string{"aor-small-refresh-token", big, "small again"} {
		if err := s.Set(id, v); err != nil {
			t.Fatalf("Set(%d bytes): %v", len(v), err)
		}
		got, err := s.Get(id)
		if err != nil || got != v {
			t.Fatalf("Get after Set(%d bytes) = %d bytes, %v", len(v), len(got), err)
		}
	}
	if err := s.Set(id, big); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	for gen := 1; gen <= 2; gen++ { // no chunk of any generation is left behind
		for i := 1; i <= 6; i++ {
			if _, err := s.Get(chunkID(id, gen, i)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("chunk %d.%d still stored after Delete (err %v)", gen, i, err)
			}
		}
	}
}
