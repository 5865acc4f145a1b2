package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/anthropic/anthropictest"
	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
	"github.com/kirotray/kirotray/proxy/kirofake"
)

// TestLoad is the load command of README's Performance section:
//
//	KIROTRAY_LOAD=1 go test -run TestLoad -v -timeout 10m ./app/
//
// It builds the real binary, runs `kirotray serve` as a child process
// against a simulated upstream hosted by this test, and drives it with
// Claude-Code-like streaming requests of about 100 KB. The proxy's own CPU is
// read from /proc for the child alone, so neither the client nor the upstream
// counts. It reports CPU per request, the delay between the upstream's first
// frame and the client's first content delta, peak RSS with 256 concurrent
// streams, and CPU used at idle. Figures are printed, and checked against
// budgets with a wide margin (shared machines are noisy).
//
// With KIROTRAY_LOAD_GUI=1 (and a display) it runs the tray app instead of
// `serve`, window open on the Live tab's stream, and measures that process:
// the cost of the window under 256 streams, and that it returns to rest.
func TestLoad(t *testing.T) {
	if os.Getenv("KIROTRAY_LOAD") == "" {
		t.Skip("set KIROTRAY_LOAD=1 to run the load command")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc (Linux)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kirotray")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	up := newCannedUpstream(t)
	defer up.close()

	port := freePort(t)
	const key = "load-test-key"
	gui := os.Getenv("KIROTRAY_LOAD_GUI") != ""
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--api-key", key,
		"--credentials", up.credentials, "--kiro-api", up.url, "--kiro-auth", up.url, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	if gui {
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			t.Skip("KIROTRAY_LOAD_GUI needs a display (run under xvfb-run)")
		}
		env := cmd.Env
		cmd = exec.Command(bin) // the tray app, configured through the environment
		cmd.Env = append(env, "KIROTRAY_LISTEN=127.0.0.1:"+strconv.Itoa(port), "KIROTRAY_API_KEY="+key,
			"KIROTRAY_CREDENTIALS="+up.credentials, "KIROTRAY_KIRO_API="+up.url, "KIROTRAY_KIRO_AUTH="+up.url,
			"KIROTRAY_LOG_LEVEL=warn")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // serve and the tray app both stop cleanly on it
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("proxy stderr:\n%s", stderr.String())
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitHealthy(t, base)

	body := anthropictest.ClaudeCodeRequest(9)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 300, MaxConnsPerHost: 0}}
	post := func() (firstDelta time.Time, seq int64, err error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("content-type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return time.Time{}, 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			return time.Time{}, 0, fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sawStop := false
		for sc.Scan() {
			line := sc.Bytes()
			if firstDelta.IsZero() && bytes.Contains(line, []byte(`"text_delta"`)) {
				firstDelta = time.Now()
				if i := bytes.Index(line, []byte(`seq-`)); i >= 0 {
					end := bytes.IndexByte(line[i:], ' ')
					seq, _ = strconv.ParseInt(string(line[i+4:i+end]), 10, 64)
				}
			}
			if bytes.Contains(line, []byte(`"message_stop"`)) {
				sawStop = true
			}
		}
		if !sawStop {
			return firstDelta, seq, fmt.Errorf("stream without message_stop: %v", sc.Err())
		}
		return firstDelta, seq, sc.Err()
	}

	// Warm up: connections, the token refresh, lazily built tables.
	for range 50 {
		if _, _, err := post(); err != nil {
			t.Fatal(err)
		}
	}

	// 1. CPU per request, 2000 requests over 4 connections.
	const n, par = 2000, 4
	cpu0 := procCPU(t, cmd.Process.Pid)
	wall0 := time.Now()
	var latencies []time.Duration
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for range par {
		wg.Go(func() {
			for next.Add(1) <= n {
				first, seq, err := post()
				if err != nil {
					errs <- err
					return
				}
				if sent, ok := up.firstFrame(seq); ok {
					mu.Lock()
					latencies = append(latencies, first.Sub(sent))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wall := time.Since(wall0)
	cpuPerReq := (procCPU(t, cmd.Process.Pid) - cpu0) / n
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }

	// 1b. Added latency with nothing else going on: one request at a time.
	var quiet []time.Duration
	for range 300 {
		first, seq, err := post()
		if err != nil {
			t.Fatal(err)
		}
		if sent, ok := up.firstFrame(seq); ok {
			quiet = append(quiet, first.Sub(sent))
		}
	}
	slices.Sort(quiet)

	// 2. Peak RSS with 256 concurrent streams (each lasts about a second).
	up.frameDelay.Store(int64(40 * time.Millisecond))
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			if rss := procRSS(t, cmd.Process.Pid); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	const streams = 256
	var failed atomic.Int64
	var inflightMax atomic.Int64
	var inflight atomic.Int64
	for range streams {
		wg.Go(func() {
			if v := inflight.Add(1); v > inflightMax.Load() {
				inflightMax.Store(v)
			}
			defer inflight.Add(-1)
			if _, _, err := post(); err != nil {
				failed.Add(1)
				t.Log(err)
			}
		})
	}
	wg.Wait()
	close(stopSampling)
	sampler.Wait()
	up.frameDelay.Store(0)
	if failed.Load() > 0 {
		t.Fatalf("%d of %d concurrent streams failed", failed.Load(), streams)
	}

	// 3. Idle: no polling loops, so no CPU while nothing happens.
	client.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond) // let connection teardown finish
	if gui {
		// The window drains the burst's events (ten redraws a second at
		// most) before it comes to rest: give it a few seconds, and say
		// what that took.
		c0 := procCPU(t, cmd.Process.Pid)
		time.Sleep(5 * time.Second)
		t.Logf("tray app CPU in the 5 s after the load (the window catching up): %v", procCPU(t, cmd.Process.Pid)-c0)
	}
	idle0 := procCPU(t, cmd.Process.Pid)
	time.Sleep(3 * time.Second)
	idle := procCPU(t, cmd.Process.Pid) - idle0

	t.Logf("request body: %d bytes (Claude-Code-like: 12 KB system, 16 tools, 9 tool rounds)", len(body))
	t.Logf("proxy CPU per request: %v (%d requests, %d in parallel, %.0f req/s)", cpuPerReq, n, par, float64(n)/wall.Seconds())
	t.Logf("upstream first frame -> client first text delta, one request at a time: p50 %v, p90 %v (%d samples)",
		quiet[len(quiet)/2], quiet[len(quiet)*9/10], len(quiet))
	t.Logf("the same under load (%d in parallel): p50 %v, p99 %v", par, pct(0.5), pct(0.99))
	t.Logf("peak RSS with %d concurrent streams: %.1f MB", streams, float64(peak.Load())/1e6)
	t.Logf("CPU at idle over 3 s: %v", idle)

	// Budgets of issue #4, with margin for noisy shared machines.
	if gui {
		// The window's figures are reported, not budgeted: it draws at most
		// ten batches a second, whatever the load. At rest Fyne's driver
		// still wakes 60 times a second to poll window events (about 18 ms
		// of CPU a second under Xvfb, the same for an empty Fyne window):
		// anything above that baseline would be ours.
		if idle > 150*time.Millisecond {
			t.Errorf("tray app idle CPU %v over 3 s after the load: more than Fyne's own event loop", idle)
		}
		return
	}
	if cpuPerReq > 2*time.Millisecond {
		t.Errorf("proxy CPU per request %v is over twice the 1 ms budget", cpuPerReq)
	}
	if peak.Load() > 90e6 {
		t.Errorf("peak RSS %.1f MB is far over the 60 MB budget", float64(peak.Load())/1e6)
	}
	if idle > 30*time.Millisecond {
		t.Errorf("idle CPU %v: something polls", idle)
	}
}

// cannedUpstream answers generateAssistantResponse with pre-encoded frames at
// almost no cost, so the load measures the proxy; token refresh goes to a
// kirofake server so the proxy takes its real sign-in path.
type cannedUpstream struct {
	srv         *httptest.Server
	url         string
	credentials string
	frameDelay  atomic.Int64 // time.Duration between frames

	seq   atomic.Int64
	mu    sync.Mutex
	sent  map[int64]time.Time
	tail  []byte // frames after the first
	chunk [][]byte
}

func newCannedUpstream(t *testing.T) *cannedUpstream {
	fake := kirofake.New(kirofake.Config{LaxHeaders: true, MaxRecorded: -1})
	u := &cannedUpstream{sent: map[int64]time.Time{}}
	ev := func(typ, payload string) []byte {
		return eventstream.Append(nil, eventstream.Message{Headers: []eventstream.Header{
			eventstream.String(":event-type", typ), eventstream.String(":content-type", "application/json"),
			eventstream.String(":message-type", "event")}, Payload: []byte(payload)})
	}
	for i := range 30 {
		u.chunk = append(u.chunk, ev("assistantResponseEvent", fmt.Sprintf(`{"content":"word%d and some more text "}`, i)))
	}
	for _, in := range []string{``, `{\"comm`, `and\": \"go `, `test ./...\"}`} {
		u.chunk = append(u.chunk, ev("toolUseEvent", `{"name":"Bash","toolUseId":"tooluse_load1","input":"`+in+`"}`))
	}
	u.chunk = append(u.chunk,
		ev("toolUseEvent", `{"name":"Bash","toolUseId":"tooluse_load1","stop":true}`),
		ev("meteringEvent", `{"usage":0.05,"unit":"credit"}`),
		ev("contextUsageEvent", `{"contextUsagePercentage":13.2}`))

	mux := http.NewServeMux()
	mux.Handle("/", fake)
	mux.HandleFunc("POST /generateAssistantResponse", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		seq := u.seq.Add(1)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		rc := http.NewResponseController(w)
		first := ev("assistantResponseEvent", fmt.Sprintf(`{"content":"seq-%d "}`, seq))
		u.mu.Lock()
		u.sent[seq] = time.Now()
		u.mu.Unlock()
		_, _ = w.Write(first)
		_ = rc.Flush()
		for _, f := range u.chunk {
			if d := time.Duration(u.frameDelay.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, err := w.Write(f); err != nil {
				return
			}
			_ = rc.Flush()
		}
	})
	u.srv = httptest.NewServer(mux)
	u.url = u.srv.URL
	refresh, arn := fake.AddSocialAccount("load")
	b, _ := json.Marshal([]map[string]any{{"name": "load", "authMethod": "social", "refreshToken": refresh, "profileArn": arn}})
	u.credentials = filepath.Join(t.TempDir(), "accounts.json")
	if err := os.WriteFile(u.credentials, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u *cannedUpstream) firstFrame(seq int64) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.sent[seq]
	return t, ok
}

func (u *cannedUpstream) close() { u.srv.Close() }

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitHealthy(t *testing.T, base string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("proxy never became healthy")
}

// procCPU returns user+system CPU time of a process (all its threads).
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// procRSS returns a process's resident set size in bytes.
func procRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
