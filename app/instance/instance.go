// Package instance keeps kirotray to one process per user: the first
// launch becomes the primary, and a later one asks it to show its window,
// then exits.
//
// The primary holds an exclusive OS lock on dir/instance.lock for its whole
// life (the OS drops it when the process dies, so a crash leaves nothing
// stale) and listens on 127.0.0.1 only; dir/instance.json (0600) tells a
// later launch the port and a random token to prove it is the same user.
// It has no GUI and no knowledge of the rest of kirotray.
package instance

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kirotray/kirotray/app/atomicfile"
)

// ErrAlreadyRunning is returned by [Acquire] when another process is the
// primary. When asking it to show its window failed, the error wraps this
// one and says why.
var ErrAlreadyRunning = errors.New("instance: kirotray is already running")

var errLocked = errors.New("instance: lock held by another process")

const (
	lockName = "instance.lock"
	infoName = "instance.json"
	// maxConns bounds the connections served at once; more are closed.
	maxConns = 8
)

// Timeouts; variables so tests can shorten them.
var (
	// requestTimeout is how long the primary waits for a request line.
	requestTimeout = 2 * time.Second
	// showTimeout is how long a second launch tries to reach the primary.
	showTimeout = 2 * time.Second
)

// info is instance.json.
type info struct {
	Port  int    `json:"port"`
	Token string `json:"token"`
	PID   int    `json:"pid"`
}

// Instance is the primary process's hold on dir. Close releases it.
type Instance struct {
	dir    string
	token  string
	onShow func()
	lock   *os.File
	ln     net.Listener

	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// Acquire makes this process the primary for dir (created 0700 if
// missing), or, if another process is, asks that one to show its window
// and returns [ErrAlreadyRunning]. As primary it calls onShow (may be nil)
// from a listener goroutine whenever a later launch asks; onShow should
// return quickly (hand the work to the UI thread, as fyne.Do does).
func Acquire(dir string, onShow func()) (*Instance, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("instance: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("instance: %w", err)
	}
	switch err := lockFile(f); {
	case errors.Is(err, errLocked):
		_ = f.Close()
		if err := askToShow(dir); err != nil {
			return nil, fmt.Errorf("%w (could not ask it to show its window: %v)", ErrAlreadyRunning, err)
		}
		return nil, ErrAlreadyRunning
	case err != nil:
		_ = f.Close()
		return nil, fmt.Errorf("instance: lock: %w", err)
	}
	in, err := start(dir, f, onShow)
	if err != nil {
		_ = unlockFile(f)
		_ = f.Close()
		return nil, err
	}
	return in, nil
}

func start(dir string, lock *os.File, onShow func()) (*Instance, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("instance: %w", err)
	}
	in := &Instance{dir: dir, token: hex.EncodeToString(b), onShow: onShow, lock: lock, ln: ln, conns: map[net.Conn]struct{}{}}
	data, _ := json.Marshal(info{Port: ln.Addr().(*net.TCPAddr).Port, Token: in.token, PID: os.Getpid()})
	if runtime.GOOS == "windows" {
		_ = os.Remove(filepath.Join(dir, infoName)) // a reader holding it open would make the rename fail
	}
	if err := atomicfile.Write(filepath.Join(dir, infoName), data, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("instance: %w", err)
	}
	in.wg.Add(1)
	go in.serve()
	return in, nil
}

// Addr is the loopback address the primary listens on.
func (in *Instance) Addr() net.Addr { return in.ln.Addr() }

// Close stops the listener, waits for its goroutines, removes
// instance.json and releases the lock. Further calls return the first result.
func (in *Instance) Close() error {
	in.closeOnce.Do(func() {
		in.mu.Lock()
		in.closed = true
		for c := range in.conns {
			_ = c.Close()
		}
		in.mu.Unlock()
		err := in.ln.Close()
		in.wg.Wait()
		if rmErr := os.Remove(filepath.Join(in.dir, infoName)); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = rmErr
		}
		if unErr := unlockFile(in.lock); unErr != nil && err == nil {
			err = unErr
		}
		if clErr := in.lock.Close(); clErr != nil && err == nil {
			err = clErr
		}
		if err != nil {
			in.closeErr = fmt.Errorf("instance: close: %w", err)
		}
	})
	return in.closeErr
}

func (in *Instance) serve() {
	defer in.wg.Done()
	for {
		c, err := in.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of file descriptors, say: try again shortly
			time.Sleep(50 * time.Millisecond)
			continue
		}
		in.mu.Lock()
		if in.closed || len(in.conns) >= maxConns {
			in.mu.Unlock()
			_ = c.Close()
			continue
		}
		in.conns[c] = struct{}{}
		in.wg.Add(1)
		in.mu.Unlock()
		go in.handle(c)
	}
}

// handle serves one request: "<token> show\n", answered "ok\n" after
// onShow returns. Anything else, or silence past requestTimeout, closes
// the connection unanswered.
func (in *Instance) handle(c net.Conn) {
	defer in.wg.Done()
	defer func() {
		in.mu.Lock()
		delete(in.conns, c)
		in.mu.Unlock()
		_ = c.Close()
	}()
	_ = c.SetDeadline(time.Now().Add(requestTimeout))
	line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	if err != nil {
		return
	}
	token, cmd, _ := strings.Cut(strings.TrimSpace(line), " ")
	if subtle.ConstantTimeCompare([]byte(token), []byte(in.token)) != 1 || cmd != "show" {
		return
	}
	if in.onShow != nil {
		in.onShow()
	}
	_, _ = io.WriteString(c, "ok\n")
}

// askToShow asks the primary to show its window, retrying until
// showTimeout while it is still starting (instance.json not yet written,
// or left over from a crashed run).
func askToShow(dir string) error {
	deadline := time.Now().Add(showTimeout)
	for {
		err := sendShow(dir, deadline)
		if err == nil || time.Now().Add(50*time.Millisecond).After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sendShow(dir string, deadline time.Time) error {
	data, err := os.ReadFile(filepath.Join(dir, infoName))
	if err != nil {
		return err
	}
	var inf info
	if err := json.Unmarshal(data, &inf); err != nil || inf.Port <= 0 || inf.Port > 65535 || inf.Token == "" {
		return fmt.Errorf("%s is damaged", infoName)
	}
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(inf.Port)))
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if _, err := io.WriteString(c, inf.Token+" show\n"); err != nil {
		return err
	}
	ack, err := bufio.NewReader(io.LimitReader(c, 16)).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	if ack != "ok\n" {
		return errors.New("unexpected answer")
	}
	return nil
}
