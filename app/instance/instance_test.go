package instance

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const childEnv = "KIROTRAY_INSTANCE_TEST_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(child(dir))
	}
	goleak.VerifyTestMain(m)
}

// child is the re-executed test binary: a second launch. It exits 3 on
// ErrAlreadyRunning; as primary it prints "primary" and holds on until
// its stdin closes or it is killed.
func child(dir string) int {
	in, err := Acquire(dir, nil)
	switch {
	case err == ErrAlreadyRunning: // not wrapped: the primary was told
		return 3
	case err != nil:
		fmt.Println(err)
		return 1
	}
	fmt.Println("primary")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = in.Close()
	return 0
}

func childCmd(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	return cmd
}

func TestSecondAcquireInProcess(t *testing.T) {
	dir := t.TempDir()
	var shown atomic.Int32
	first, err := Acquire(dir, func() { shown.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if a := first.Addr().(*net.TCPAddr); !a.IP.IsLoopback() {
		t.Errorf("listening on %v", a)
	}
	second, err := Acquire(dir, func() { t.Error("second instance's onShow ran") })
	if err != ErrAlreadyRunning || second != nil {
		t.Fatalf("second Acquire: %v, %v", second, err)
	}
	if shown.Load() != 1 {
		t.Errorf("onShow ran %d times, want 1", shown.Load())
	}
	if st, err := os.Stat(filepath.Join(dir, infoName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("instance.json: %v %v", st, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, infoName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance.json left: %v", err)
	}
	// With the first gone, the next launch is the primary.
	third, err := Acquire(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	third.Close()
}

func TestSecondProcess(t *testing.T) {
	dir := t.TempDir()
	shown := make(chan struct{}, 1)
	first, err := Acquire(dir, func() { shown <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	err = childCmd(t, dir).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("child: %v, want exit 3 (already running)", err)
	}
	select {
	case <-shown:
	default:
		t.Fatal("onShow did not run")
	}
}

func TestStaleTakeover(t *testing.T) {
	t.Run("left-over file", func(t *testing.T) {
		dir := t.TempDir()
		stale, _ := json.Marshal(info{Port: 1, Token: "old", PID: 1})
		if err := os.WriteFile(filepath.Join(dir, infoName), stale, 0o600); err != nil {
			t.Fatal(err)
		}
		in, err := Acquire(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		var got info
		data, _ := os.ReadFile(filepath.Join(dir, infoName))
		if json.Unmarshal(data, &got) != nil || got.Token == "old" || got.Port != in.Addr().(*net.TCPAddr).Port {
			t.Errorf("instance.json not taken over: %s", data)
		}
	})
	t.Run("killed primary", func(t *testing.T) {
		dir := t.TempDir()
		cmd := childCmd(t, dir)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if line != "primary\n" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child said %q", line)
		}
		if _, err := Acquire(dir, nil); err != ErrAlreadyRunning {
			t.Fatalf("while the child runs: %v", err)
		}
		_ = cmd.Process.Kill() // a crash: instance.json stays behind
		_ = cmd.Wait()
		if _, err := os.Stat(filepath.Join(dir, infoName)); err != nil {
			t.Fatalf("want the crashed primary's file left: %v", err)
		}
		in, err := Acquire(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		in.Close()
	})
}

func dialPrimary(t *testing.T, in *Instance) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", in.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWrongTokenIgnored(t *testing.T) {
	var shown atomic.Int32
	in, err := Acquire(t.TempDir(), func() { shown.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for _, req := range []string{"wrong show\n", in.token + " quit\n", in.token[:10] + " show\n", " show\n"} {
		c := dialPrimary(t, in)
		_, _ = io.WriteString(c, req)
		got, _ := io.ReadAll(c) // closed without an answer
		c.Close()
		if len(got) != 0 {
			t.Errorf("%q answered %q", req, got)
		}
	}
	if shown.Load() != 0 {
		t.Errorf("onShow ran %d times", shown.Load())
	}
}

func TestSilentClientDoesNotBlock(t *testing.T) {
	defer func(d time.Duration) { requestTimeout = d }(requestTimeout)
	requestTimeout = 300 * time.Millisecond
	shown := make(chan struct{}, 1)
	in, err := Acquire(t.TempDir(), func() { shown <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	silent := dialPrimary(t, in)
	defer silent.Close()

	c := dialPrimary(t, in)
	_, _ = io.WriteString(c, in.token+" show\n")
	ack, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || ack != "ok\n" {
		t.Fatalf("ack %q, %v", ack, err)
	}
	<-shown

	// The silent one is dropped at the deadline.
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if n, err := silent.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent connection: %d, %v", n, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dropped after %v", d)
	}
}

func TestCloseWithOpenConnection(t *testing.T) {
	in, err := Acquire(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dialPrimary(t, in)
	defer c.Close()
	_, _ = io.WriteString(c, "half a line")
	done := make(chan error, 1)
	go func() { done <- in.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(requestTimeout / 2):
		t.Fatal("Close waited for a silent client")
	}
}

func TestAlreadyRunningUnreachable(t *testing.T) {
	defer func(d time.Duration) { showTimeout = d }(showTimeout)
	showTimeout = 200 * time.Millisecond
	dir := t.TempDir()
	in, err := Acquire(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := os.WriteFile(filepath.Join(dir, infoName), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, nil)
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), "could not ask it") {
		t.Errorf("err = %v", err)
	}
}
