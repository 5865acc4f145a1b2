package keychain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/zalando/go-keyring"
)

// Defaults of [OS].
const (
	// DefaultService is the service name every kirotray item is stored under.
	DefaultService = "kirotray"
	// DefaultTimeout bounds one Get, Set or Delete, chunks included.
	DefaultTimeout = 5 * time.Second
	// MaxItemSize is the largest secret, in bytes, stored as one item. Larger
	// ones are split: Windows refuses blobs over 2560 bytes, and go-keyring's
	// macOS path fails at about 3000 bytes of secret.
	MaxItemSize = 2000
)

// Backend is the raw keyring OS drives. go-keyring's functions are the
// production one; tests pass fakes. A missing item must be reported as
// keyring.ErrNotFound or ErrNotFound.
type Backend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// OS is the Store backed by the operating system's keychain through
// go-keyring. Its zero value is ready (use it by pointer); it is safe for
// concurrent use, and calls run one at a time.
//
// Every call is bounded by Timeout: a locked keyring can wait forever for an
// unlock prompt, so the backend runs in a goroutine and the call returns an
// error wrapping ErrUnavailable when time is up. That goroutine stays blocked
// until the OS answers, and later calls time out too until it does.
//
// Secrets larger than MaxItemSize are stored as chunks "id#<gen>.1",
// "id#<gen>.2", … and then a small manifest under id naming the generation,
// the chunk count and a SHA-256 of the whole. The manifest is written last,
// so an interrupted Set leaves the previous value readable; Get checks the
// hash, and Delete removes the chunks, then the manifest.
type OS struct {
	// Service is the keychain service name; empty means DefaultService.
	Service string
	// Timeout bounds each call; zero means DefaultTimeout.
	Timeout time.Duration
	// Backend is the keyring to drive; nil means the OS one (go-keyring).
	Backend Backend

	chunkSize int // 0: MaxItemSize; tests set it smaller

	once sync.Once
	sem  chan struct{} // capacity 1: held while a backend call runs
}

// NewOS returns the OS keychain store with the defaults.
func NewOS() *OS { return &OS{} }

// manifestPrefix starts the value stored under id when the secret is chunked.
// A secret that itself starts with it is chunked too, so reads are unambiguous.
const manifestPrefix = "kirotray-chunked:v1:"

// maxChunks bounds what a (possibly corrupted) manifest can make Get read.
const maxChunks = 1024

var errTimeout = errors.New("no answer in time (is the keyring locked, waiting for an unlock prompt?)")

// Get implements Store.
func (o *OS) Get(id string) (string, error) {
	return o.do("get", id, func(b Backend, svc string) (string, error) {
		v, err := get(b, svc, id)
		if err != nil {
			return "", err
		}
		m, ok, err := parseManifest(v)
		if err != nil || !ok {
			return v, err
		}
		var sb strings.Builder
		for i := 1; i <= m.n; i++ {
			part, err := get(b, svc, chunkID(id, m.gen, i))
			if errors.Is(err, ErrNotFound) {
				return "", fmt.Errorf("chunk %d of %d missing: %w", i, m.n, ErrNotFound)
			}
			if err != nil {
				return "", err
			}
			sb.WriteString(part)
		}
		v = sb.String()
		if sum := sha256.Sum256([]byte(v)); hex.EncodeToString(sum[:]) != m.sum {
			return "", fmt.Errorf("chunks do not match their manifest: %w", ErrNotFound)
		}
		return v, nil
	})
}

// Set implements Store.
func (o *OS) Set(id, secret string) error {
	_, err := o.do("set", id, func(b Backend, svc string) (string, error) {
		old, err := readManifest(b, svc, id)
		if err != nil {
			return "", err
		}
		size := o.chunkSize
		if size <= 0 {
			size = MaxItemSize
		}
		if len(secret) <= size && !strings.HasPrefix(secret, manifestPrefix) {
			if err := set(b, svc, id, secret); err != nil {
				return "", err
			}
		} else {
			parts := split(secret, size)
			if len(parts) > maxChunks {
				return "", fmt.Errorf("secret of %d bytes is too large", len(secret))
			}
			gen := old.gen + 1
			for i, p := range parts {
				if err := set(b, svc, chunkID(id, gen, i+1), p); err != nil {
					return "", err
				}
			}
			sum := sha256.Sum256([]byte(secret))
			m := manifest{gen: gen, n: len(parts), sum: hex.EncodeToString(sum[:])}
			if err := set(b, svc, id, m.String()); err != nil { // the commit point
				return "", err
			}
		}
		// The new value is committed; the old chunks are garbage. A failure
		// here leaves unreachable items behind, not a wrong value.
		for i := 1; i <= old.n; i++ {
			_ = del(b, svc, chunkID(id, old.gen, i))
		}
		return "", nil
	})
	return err
}

// Delete implements Store.
func (o *OS) Delete(id string) error {
	_, err := o.do("delete", id, func(b Backend, svc string) (string, error) {
		m, err := readManifest(b, svc, id)
		if err != nil {
			return "", err
		}
		// Chunks first: if this is interrupted, the manifest still names them
		// and a second Delete finishes the job.
		for i := 1; i <= m.n; i++ {
			if err := del(b, svc, chunkID(id, m.gen, i)); err != nil && !errors.Is(err, ErrNotFound) {
				return "", err
			}
		}
		return "", del(b, svc, id)
	})
	return err
}

// do runs f against the backend in a goroutine, one call at a time, and gives
// up after the timeout. Errors come back prefixed with op and id.
func (o *OS) do(op, id string, f func(b Backend, service string) (string, error)) (string, error) {
	o.once.Do(func() { o.sem = make(chan struct{}, 1) })
	b, svc, timeout := o.Backend, o.Service, o.Timeout
	if b == nil {
		b = goKeyring{}
	}
	if svc == "" {
		svc = DefaultService
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	wrap := func(err error) error { return fmt.Errorf("keychain: %s %q: %w", op, id, err) }
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case o.sem <- struct{}{}:
	case <-timer.C: // an earlier call is still stuck in the OS
		return "", wrap(fmt.Errorf("%w: %w", ErrUnavailable, errTimeout))
	}
	type result struct {
		v   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-o.sem }()
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%w: backend panicked: %v", ErrUnavailable, p)}
			}
		}()
		v, err := f(b, svc)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", wrap(r.err)
		}
		return r.v, nil
	case <-timer.C:
		return "", wrap(fmt.Errorf("%w: %w", ErrUnavailable, errTimeout))
	}
}

// classify maps a backend error to ErrNotFound or ErrUnavailable (wrapping the cause).
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound), errors.Is(err, ErrNotFound):
		return ErrNotFound
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

func get(b Backend, svc, user string) (string, error) {
	v, err := b.Get(svc, user)
	return v, classify(err)
}

func set(b Backend, svc, user, secret string) error { return classify(b.Set(svc, user, secret)) }

func del(b Backend, svc, user string) error { return classify(b.Delete(svc, user)) }

type manifest struct {
	gen, n int
	sum    string // hex SHA-256 of the whole secret
}

func (m manifest) String() string {
	return fmt.Sprintf("%s%d:%d:%s", manifestPrefix, m.gen, m.n, m.sum)
}

// parseManifest reports whether v is a manifest, and fails if it looks like
// one but is damaged.
func parseManifest(v string) (manifest, bool, error) {
	rest, ok := strings.CutPrefix(v, manifestPrefix)
	if !ok {
		return manifest{}, false, nil
	}
	f := strings.Split(rest, ":")
	if len(f) == 3 {
		gen, err1 := strconv.Atoi(f[0])
		n, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && gen > 0 && n > 0 && n <= maxChunks && len(f[2]) == 2*sha256.Size {
			return manifest{gen: gen, n: n, sum: f[2]}, true, nil
		}
	}
	return manifest{}, false, fmt.Errorf("damaged chunk manifest: %w", ErrNotFound)
}

// readManifest returns the manifest stored under id, or a zero manifest when
// id holds a plain value or nothing.
func readManifest(b Backend, svc, id string) (manifest, error) {
	v, err := get(b, svc, id)
	if errors.Is(err, ErrNotFound) {
		return manifest{}, nil
	}
	if err != nil {
		return manifest{}, err
	}
	m, _, err := parseManifest(v)
	if err != nil { // a damaged manifest: overwrite it, its chunks are lost anyway
		return manifest{}, nil
	}
	return m, nil
}

func chunkID(id string, gen, i int) string {
	return id + "#" + strconv.Itoa(gen) + "." + strconv.Itoa(i)
}

// split cuts s into pieces of at most size bytes, never inside a UTF-8 sequence.
func split(s string, size int) []string {
	var parts []string
	for len(s) > 0 {
		n := min(size, len(s))
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		if n == 0 { // size smaller than one rune: cut anyway
			n = min(size, len(s))
		}
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return parts
}

// goKeyring is the OS keychain through go-keyring's package functions.
type goKeyring struct{}

func (goKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (goKeyring) Set(service, user, password string) error {
	return keyring.Set(service, user, password)
}
func (goKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }
