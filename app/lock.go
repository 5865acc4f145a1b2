package app

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// errLocked is lockFile's answer, with nowait, when another process holds the lock.
var errLocked = errors.New("locked by another process")

// fileLock is an exclusive lock between processes (flock on Unix,
// LockFileEx on Windows) on a small file next to what it protects. Within
// one process it also serialises goroutines.
type fileLock struct {
	path string
	mu   sync.Mutex // held while the process holds the lock
	f    *os.File
}

// processLocks gives every path one *fileLock per process: two flocks on the
// same file from one process do not exclude each other on every OS.
var processLocks sync.Map // path → *fileLock

func lockFor(path string) *fileLock {
	l, _ := processLocks.LoadOrStore(path, &fileLock{path: path})
	return l.(*fileLock)
}

// lock waits for the lock; unless nowait, in which case it fails with an
// error wrapping errLocked when another process holds it. The lock file
// records the holder's pid, for messages.
func (l *fileLock) lock(nowait bool) error {
	if nowait {
		if !l.mu.TryLock() {
			return fmt.Errorf("%s: %w (this process)", l.path, errLocked)
		}
	} else {
		l.mu.Lock()
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		l.mu.Unlock()
		return err
	}
	if err := lockFile(f, nowait); err != nil {
		f.Close()
		l.mu.Unlock()
		if errors.Is(err, errLocked) {
			return fmt.Errorf("%w (pid %s)", errLocked, lockHolder(l.path))
		}
		return fmt.Errorf("lock %s: %w", l.path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	l.f = f
	return nil
}

func (l *fileLock) unlock() {
	_ = unlockFile(l.f)
	_ = l.f.Close()
	l.f = nil
	l.mu.Unlock()
}

// lockHolder reads the pid a lock file names, "?" if none.
func lockHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
