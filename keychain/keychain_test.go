package keychain

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// godbus keeps one session-bus connection per process, by design
		// (only the keyring_integration test opens it).
		goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.(*Conn).inWorker"),
		goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.newConn.func1"),
	)
}

// fakeKeyring is a Backend that enforces Windows' 2560-byte limit, can fail
// the n-th Set, and can block every call until released.
type fakeKeyring struct {
	mu       sync.Mutex
	items    map[string]string // service + "\x00" + user → secret
	failSet  int               // fail the failSet-th Set from now (1-based); 0: never
	err      error             // returned by every call when set
	block    chan struct{}     // when non-nil, calls wait for it to close
	entered  chan struct{}     // when non-nil, receives once per call that blocks
	maxBytes int
}

func newFake() *fakeKeyring { return &fakeKeyring{items: map[string]string{}, maxBytes: 2560} }

func (f *fakeKeyring) wait() error {
	f.mu.Lock()
	block, entered, err := f.block, f.entered, f.err
	f.mu.Unlock()
	if block != nil {
		if entered != nil {
			entered <- struct{}{}
		}
		<-block
	}
	return err
}

func (f *fakeKeyring) Get(service, user string) (string, error) {
	if err := f.wait(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.items[service+"\x00"+user]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (f *fakeKeyring) Set(service, user, secret string) error {
	if err := f.wait(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSet > 0 {
		f.failSet--
		if f.failSet == 0 {
			return errors.New("fake: write failed")
		}
	}
	if len(secret) > f.maxBytes {
		return keyring.ErrSetDataTooBig
	}
	f.items[service+"\x00"+user] = secret
	return nil
}

func (f *fakeKeyring) Delete(service, user string) error {
	if err := f.wait(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := service + "\x00" + user
	if _, ok := f.items[k]; !ok {
		return keyring.ErrNotFound
	}
	delete(f.items, k)
	return nil
}

func (f *fakeKeyring) users() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var us []string
	for k := range f.items {
		us = append(us, k[strings.IndexByte(k, 0)+1:])
	}
	return us
}

func (f *fakeKeyring) raw(user string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.items[DefaultService+"\x00"+user]
}

func (f *fakeKeyring) put(user, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[DefaultService+"\x00"+user] = v
}

// testStoreContract runs the behaviour every Store must have.
func testStoreContract(t *testing.T, s Store) {
	t.Helper()
	if _, err := s.Get("acct/refresh"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of missing id: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete("acct/refresh"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete of missing id: err = %v, want ErrNotFound", err)
	}
	for _, v := range []string{"aor-small", strings.Repeat("x", 10_000), ""} {
		if err := s.Set("acct/refresh", v); err != nil {
			t.Fatalf("Set(%d bytes): %v", len(v), err)
		}
		got, err := s.Get("acct/refresh")
		if err != nil || got != v {
			t.Fatalf("Get after Set(%d bytes) = %d bytes, %v", len(v), len(got), err)
		}
	}
	if err := s.Delete("acct/refresh"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get("acct/refresh"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
}

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	testStoreContract(t, &Memory{})
}

func TestOSContractWithFake(t *testing.T) {
	t.Parallel()
	f := newFake()
	testStoreContract(t, &OS{Backend: f})
	if us := f.users(); len(us) != 0 {
		t.Fatalf("items left after Delete: %v", us)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	t.Parallel()
	var s Memory
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := fmt.Sprint("id", i%4)
			_ = s.Set(id, "v")
			_, _ = s.Get(id)
			_ = s.Delete(id)
		})
	}
	wg.Wait()
}

func TestOSChunking(t *testing.T) {
	t.Parallel()
	f := newFake()
	s := &OS{Backend: f}
	big := strings.Repeat("0123456789", 1000) // 10 KB, over every OS limit

	if err := s.Set("a/client", big); err != nil {
		t.Fatalf("Set 10 KB: %v", err)
	}
	if us := f.users(); len(us) != 6 { // manifest + 5 chunks of ≤ 2000 bytes
		t.Fatalf("items = %v, want manifest + 5 chunks", us)
	}
	if m := f.raw("a/client"); !strings.HasPrefix(m, manifestPrefix) || len(m) > 200 {
		t.Fatalf("item under id = %q, want a small manifest", m)
	}
	if got, err := s.Get("a/client"); err != nil || got != big {
		t.Fatalf("Get = %d bytes, %v", len(got), err)
	}

	// A new chunked value replaces the old generation's chunks.
	big2 := strings.Repeat("z", 4500)
	if err := s.Set("a/client", big2); err != nil {
		t.Fatal(err)
	}
	if us := f.users(); len(us) != 4 {
		t.Fatalf("after second Set items = %v, want manifest + 3 chunks", us)
	}
	if got, _ := s.Get("a/client"); got != big2 {
		t.Fatal("Get did not return the second value")
	}

	// A small value replaces the manifest and the chunks go.
	if err := s.Set("a/client", "small"); err != nil {
		t.Fatal(err)
	}
	if us := f.users(); len(us) != 1 || f.raw("a/client") != "small" {
		t.Fatalf("after small Set items = %v", us)
	}

	// Delete removes manifest and chunks.
	if err := s.Set("a/client", big); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("a/client"); err != nil {
		t.Fatal(err)
	}
	if us := f.users(); len(us) != 0 {
		t.Fatalf("after Delete items = %v", us)
	}
}

func TestOSChunkEdgeCases(t *testing.T) {
	t.Parallel()
	for name, v := range map[string]string{
		"looks like a manifest": manifestPrefix + "1:1:abc",
		"multi-byte runes":      strings.Repeat("é€😀", 700),
		"exactly the limit":     strings.Repeat("a", MaxItemSize),
		"one over the limit":    strings.Repeat("a", MaxItemSize+1),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			s := &OS{Backend: f}
			if err := s.Set("id", v); err != nil {
				t.Fatal(err)
			}
			for _, u := range f.users() {
				if !strings.Contains(u, "#") {
					continue
				}
				if c := f.raw(u); !utfValid(c) {
					t.Errorf("chunk %s cuts a UTF-8 sequence", u)
				}
			}
			if got, err := s.Get("id"); err != nil || got != v {
				t.Fatalf("Get = %q, %v", got, err)
			}
		})
	}
}

func utfValid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestOSDamagedChunks(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("k", 5000)
	for name, damage := range map[string]func(f *fakeKeyring){
		"missing chunk":   func(f *fakeKeyring) { _ = f.Delete(DefaultService, "id#1.2") },
		"altered chunk":   func(f *fakeKeyring) { f.put("id#1.2", strings.Repeat("x", 2000)) },
		"broken manifest": func(f *fakeKeyring) { f.put("id", manifestPrefix+"garbage") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			s := &OS{Backend: f}
			if err := s.Set("id", big); err != nil {
				t.Fatal(err)
			}
			damage(f)
			if _, err := s.Get("id"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get: err = %v, want ErrNotFound", err)
			}
			// Writing again repairs it.
			if err := s.Set("id", big); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get("id"); err != nil || got != big {
				t.Fatalf("Get after repair: %d bytes, %v", len(got), err)
			}
		})
	}
}

// An interrupted chunked Set must leave the previous value readable: the
// manifest is the commit point.
func TestOSInterruptedSetKeepsOldValue(t *testing.T) {
	t.Parallel()
	old := strings.Repeat("o", 4100)
	for fail := 1; fail <= 4; fail++ { // 3 chunks + manifest
		t.Run(fmt.Sprint("fail set ", fail), func(t *testing.T) {
			t.Parallel()
			f := newFake()
			s := &OS{Backend: f}
			if err := s.Set("id", old); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			f.failSet = fail
			f.mu.Unlock()
			err := s.Set("id", strings.Repeat("n", 4100))
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Set: err = %v, want ErrUnavailable", err)
			}
			if got, err := s.Get("id"); err != nil || got != old {
				t.Fatalf("Get after failed Set = %.10q…, %v; want the old value", got, err)
			}
		})
	}
}

func TestOSErrorMapping(t *testing.T) {
	t.Parallel()
	cause := errors.New(`The name org.freedesktop.secrets was not provided by any .service files`)
	f := newFake()
	f.err = cause
	s := &OS{Backend: f}
	_, err := s.Get("id")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, cause) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get: err = %v, want ErrUnavailable wrapping the cause", err)
	}
	if err := s.Set("id", "v"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Set: err = %v", err)
	}
	if err := s.Delete("id"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Delete: err = %v", err)
	}
	if !strings.Contains(err.Error(), `keychain: get "id"`) {
		t.Fatalf("error %q does not name the call", err)
	}
}

func TestOSTimeout(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.block = make(chan struct{})
	f.entered = make(chan struct{}, 1)
	s := &OS{Backend: f, Timeout: 50 * time.Millisecond}

	start := time.Now()
	_, err := s.Get("id")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get on a blocked keyring: err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Get took %v", d)
	}
	<-f.entered // the backend call is really stuck

	// The next call cannot start while the first is stuck: it times out too,
	// without starting a second stuck goroutine.
	if err := s.Set("id", "v"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Set while stuck: err = %v", err)
	}

	// Once the OS answers, the store works again.
	f.mu.Lock()
	block := f.block
	f.block, f.entered = nil, nil
	f.mu.Unlock()
	close(block)
	s.Timeout = 5 * time.Second
	if err := s.Set("id", "v"); err != nil {
		t.Fatalf("Set after unblock: %v", err)
	}
	if got, err := s.Get("id"); err != nil || got != "v" {
		t.Fatalf("Get after unblock = %q, %v", got, err)
	}
}
