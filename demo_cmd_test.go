package main

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/kirofake"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8318", "[::1]:8318", "localhost:0", "LOCALHOST:1", "127.0.0.2:9"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:8318", ":8318", "[::]:8318", "192.168.1.10:8318", "example.com:80", "127.0.0.1", "127.0.0.1:"} {
		if err := checkLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestDemoUpstreamCommandLine(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"demo-upstream", "--listen", "0.0.0.0:8318"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "only listens on loopback") {
		t.Fatalf("non-loopback: exit %d, %q", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"demo-upstream", "--env", "--listen", "127.0.0.1:9999"}, &out, &errOut); code != 0 {
		t.Fatalf("--env: exit %d, %q", code, errOut.String())
	}
	const want = "export KIROTRAY_KIRO_API=http://127.0.0.1:9999 KIROTRAY_KIRO_AUTH=http://127.0.0.1:9999 KIROTRAY_OIDC=http://127.0.0.1:9999 KIROTRAY_PORTAL=http://127.0.0.1:9999\n"
	if out.String() != want {
		t.Fatalf("--env printed %q", out.String())
	}
	out.Reset()
	if code := run([]string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "kirotray demo-upstream   run the simulated Kiro backend alone") {
		t.Fatalf("usage: %s", out.String())
	}
	errOut.Reset()
	if code := run([]string{"demo-upstream", "-h"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "-listen") {
		t.Fatalf("-h: exit %d, %q", code, errOut.String())
	}
}

// startDemoUpstream runs the command as `kirotray demo-upstream --listen
// 127.0.0.1:0` would and returns its base URL; it must stop cleanly when
// the test ends.
func startDemoUpstream(t *testing.T) (base string, stdout, logs *buf) {
	t.Helper()
	stdout, logs = &buf{}, &buf{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- demoUpstream(ctx, []string{"--listen", "127.0.0.1:0", "--chunk-delay", "0"}, stdout, logs, func(b string) { ready <- b })
	}()
	select {
	case base = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("demo-upstream: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo-upstream did not stop cleanly: %v", err)
		}
		if !strings.Contains(logs.String(), "demo upstream stopped") {
			t.Errorf("no goodbye in the log:\n%s", logs)
		}
	})
	return base, stdout, logs
}

// TestDemoUpstream runs the command and signs in against it with
// `kirotray accounts login`, pointed at it only by the environment it
// prints, as a tester would: Builder ID through the device page, Google
// through the portal page and the loopback callback.
func TestDemoUpstream(t *testing.T) {
	base, stdout, logs := startDemoUpstream(t)
	exports := ""
	for line := range strings.Lines(stdout.String()) {
		if strings.HasPrefix(line, "export ") {
			exports = line
		}
	}
	for _, v := range []string{"KIROTRAY_KIRO_API", "KIROTRAY_KIRO_AUTH", "KIROTRAY_OIDC", "KIROTRAY_PORTAL"} {
		if !strings.Contains(exports, v+"="+base) {
			t.Fatalf("%s not exported in:\n%s", v, stdout)
		}
		t.Setenv(v, base)
	}

	home := t.TempDir()
	kc := &keychain.Memory{}
	env := accountsEnv{stdin: strings.NewReader(""), stdout: &buf{}, stderr: &buf{}, keychain: kc,
		configDir: filepath.Join(home, "kirotray"), ctx: context.Background(),
		ide: app.IDEOptions{Home: home, ConfigDir: filepath.Join(home, "config"), NoProcessCheck: true}}
	env.signIn.Ports = []int{0}
	env.signIn.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() } // approved before the first poll

	device := kirofake.NewPerson("action", "approve")
	env.open = device.Open
	if err := env.run([]string{"login", "builder-id"}); err != nil {
		t.Fatalf("login builder-id: %v\n%s", err, env.stderr)
	}
	if device.Pages() != 1 || !strings.Contains(device.LastPage(), "Signed in as device-1@example.com") {
		t.Fatalf("device page answer: %q", device.LastPage())
	}

	portal := kirofake.NewPerson("login_option", "google")
	portal.Press("login_option", "google", map[string]string{"account": "alice"})
	env.open = portal.Open
	if err := env.run([]string{"login", "google"}); err != nil {
		t.Fatalf("login google: %v\n%s", err, env.stderr)
	}
	if !strings.Contains(portal.LastPage(), "You are signed in to kirotray") {
		t.Fatalf("callback page: %q", portal.LastPage())
	}

	s, err := app.OpenStore(env.configDir, kc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]app.AccountKind{"device-1@example.com": app.KindBuilderID, "alice@example.com": app.KindSocial}
	for _, m := range d.Accounts {
		if kind, ok := want[m.Email]; !ok || m.Kind != kind || m.Quota == nil || m.Quota.Plan != "KIRO PRO" ||
			m.Quota.Limit != 1000 || m.Quota.Used <= 0 || m.Quota.Used >= 500 || m.Quota.ResetAt.Day() != 1 {
			t.Errorf("stored %+v quota %+v", m, m.Quota)
		}
		delete(want, m.Email)
	}
	if len(want) != 0 {
		t.Fatalf("not stored: %v (have %d accounts)", want, len(d.Accounts))
	}

	// Only requests for a loopback name are answered (DNS rebinding).
	req, _ := http.NewRequest(http.MethodGet, base+"/device", nil)
	req.Host = "attacker.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d", resp.StatusCode)
	}

	log := logs.String()
	for _, line := range []string{
		"method=POST path=/client/register status=200", "method=POST path=/device_authorization status=200",
		"method=GET path=/device status=200", "method=POST path=/device status=200", "method=POST path=/token status=200",
		"method=GET path=/signin status=200", "method=POST path=/signin status=303", "method=POST path=/oauth/token status=200",
		"method=GET path=/getUsageLimits status=200",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("no %q in the log:\n%s", line, log)
		}
	}
	for _, secret := range []string{"aoaAAAAA", "aorAAAAA", "kirofake-secret-", "code_challenge", "user_code="} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows %q:\n%s", secret, log)
		}
	}
}

func TestDemoUpstreamPortInUse(t *testing.T) {
	base, _, _ := startDemoUpstream(t)
	u, _ := url.Parse(base)
	var out, errOut buf
	err := demoUpstream(context.Background(), []string{"--listen", u.Host}, &out, &errOut, nil)
	if err == nil || (runtime.GOOS != "windows" && !strings.Contains(err.Error(), "uses that port")) {
		t.Fatalf("second demo-upstream on %s: %v", u.Host, err)
	}
}
