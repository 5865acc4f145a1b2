package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// clock is kirofake's clock, advanced by the device flow's sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func deviceSetup(t *testing.T) (*kirofake.Server, *httptest.Server, *clock) {
	clk := &clock{t: time.Now()}
	fake := kirofake.New(kirofake.Config{Now: clk.Now})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv, clk
}

func TestDeviceFlowAgainstKirofake(t *testing.T) {
	t.Parallel()
	fake, srv, clk := deviceSetup(t)
	ctx := context.Background()
	reg, err := RegisterClient(ctx, nil, srv.URL, "kirotray", BuilderIDStartURL)
	if err != nil {
		t.Fatal(err)
	}
	if reg.ClientID == "" || reg.ClientSecret == "" || reg.ExpiresAt.Before(time.Now().Add(80*24*time.Hour)) {
		t.Fatalf("registration %+v", reg)
	}
	da, err := StartDeviceAuthorization(ctx, nil, srv.URL, reg, BuilderIDStartURL)
	if err != nil {
		t.Fatal(err)
	}
	if da.UserCode == "" || !strings.Contains(da.VerificationURIComplete, da.UserCode) || da.Interval != time.Second {
		t.Fatalf("authorization %+v", da)
	}
	// The person approves on the third poll; sleeps advance kirofake's clock
	// by the full interval, so it never asks to slow down.
	polls := 0
	sleep := func(ctx context.Context, d time.Duration) error {
		polls++
		if polls == 3 {
			if _, ok := fake.ApproveDevice(da.UserCode); !ok {
				t.Error("approve failed")
			}
		}
		clk.advance(d)
		return ctx.Err()
	}
	toks, err := PollDeviceToken(ctx, nil, srv.URL, reg, da, sleep)
	if err != nil {
		t.Fatal(err)
	}
	if polls != 3 || da.Interval != time.Second {
		t.Fatalf("%d polls, interval %v", polls, da.Interval)
	}
	// The login renews like any IdC one: the refresh token belongs to the client.
	if _, err := RefreshIdC(ctx, nil, srv.URL, reg.ClientID, reg.ClientSecret, toks.Refresh); err != nil {
		t.Fatalf("refresh of the new login: %v", err)
	}
}

func TestDeviceFlowSlowDownDeniedExpiredCancelled(t *testing.T) {
	t.Parallel()
	fake, srv, clk := deviceSetup(t)
	ctx := context.Background()
	reg, err := RegisterClient(ctx, nil, srv.URL, "kirotray", "")
	if err != nil {
		t.Fatal(err)
	}
	start := func() *DeviceAuthorization {
		da, err := StartDeviceAuthorization(ctx, nil, srv.URL, reg, BuilderIDStartURL)
		if err != nil {
			t.Fatal(err)
		}
		return da
	}

	t.Run("slow_down grows the interval", func(t *testing.T) {
		da := start()
		var waits []time.Duration
		sleep := func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			if len(waits) == 3 {
				fake.ApproveDevice(da.UserCode)
			}
			return nil // polls too fast: kirofake answers slow_down
		}
		if _, err := PollDeviceToken(ctx, nil, srv.URL, reg, da, sleep); err != nil {
			t.Fatal(err)
		}
		if len(waits) != 3 || waits[1] != waits[0] || waits[2] != waits[1]+5*time.Second {
			t.Fatalf("waits %v: want the interval +5 s after slow_down", waits)
		}
	})
	t.Run("denied", func(t *testing.T) {
		da := start()
		sleep := func(ctx context.Context, d time.Duration) error {
			clk.advance(d)
			fake.DenyDevice(da.UserCode)
			return nil
		}
		_, err := PollDeviceToken(ctx, nil, srv.URL, reg, da, sleep)
		if !errors.Is(err, ErrDenied) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		da := start()
		sleep := func(ctx context.Context, d time.Duration) error { clk.advance(11 * time.Minute); return nil }
		_, err := PollDeviceToken(ctx, nil, srv.URL, reg, da, sleep)
		var se *SignInError
		if !errors.Is(err, ErrExpired) || !errors.As(err, &se) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		da := start()
		ctx, cancel := context.WithCancel(ctx)
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		_, err := PollDeviceToken(ctx, nil, srv.URL, reg, da, nil) // real sleeps of 1 s
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a bad start URL", func(t *testing.T) {
		_, err := StartDeviceAuthorization(ctx, nil, srv.URL, reg, "http://not-https")
		var se *SignInError
		if !errors.As(err, &se) || se.Status != 400 || !strings.Contains(err.Error(), "invalid start url") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an unknown client", func(t *testing.T) {
		_, err := StartDeviceAuthorization(ctx, nil, srv.URL, &Registration{ClientID: "x", ClientSecret: "y"}, BuilderIDStartURL)
		if !errors.Is(err, ErrInvalidClient) {
			t.Fatalf("err = %v", err)
		}
	})
}

// portal is kirofake as Kiro's sign-in portal and auth service: /signin
// sends the browser back to the callback, /oauth/token checks the PKCE
// verifier and the redirect URI, and its tokens work for refresh afterwards.
type portal struct {
	fake *kirofake.Server
	srv  *httptest.Server
}

func newPortal(t *testing.T) *portal {
	p := &portal{fake: kirofake.New(kirofake.Config{})}
	p.srv = httptest.NewServer(p.fake)
	t.Cleanup(p.srv.Close)
	return p
}

// browser follows the portal's redirect to the callback, as a browser would.
func browse(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPortalLogin(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	pl, err := PortalLogin{Portal: p.srv.URL, AuthBase: p.srv.URL, Ports: []int{0}}.Start()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(pl.URL)
	if u.Path != "/signin" || u.Query().Get("redirect_uri") != "http://localhost:"+itoa(pl.Port()) {
		t.Fatalf("portal URL %s", pl.URL)
	}

	// A callback with another state (a stale tab, another page) is refused
	// and changes nothing.
	status, body := browse(t, "http://127.0.0.1:"+itoa(pl.Port())+"/oauth/callback?login_option=google&code=stolen&state=wrong")
	if status != 400 || !strings.Contains(body, "not the one kirotray is waiting for") {
		t.Fatalf("wrong state: %d %s", status, body)
	}

	done := make(chan struct{})
	var res *SocialResult
	var werr error
	go func() { defer close(done); res, werr = pl.Wait(context.Background()) }()
	status, body = browse(t, pl.URL)
	if status != 200 || !strings.Contains(body, "You can close this tab") {
		t.Fatalf("callback page: %d %s", status, body)
	}
	<-done
	if werr != nil {
		t.Fatal(werr)
	}
	if res.Provider != "Google" || res.Tokens.Refresh == "" || res.Tokens.ProfileARN == "" {
		t.Fatalf("result %+v", res)
	}
	if _, err := RefreshSocial(context.Background(), nil, p.srv.URL, res.Tokens.Refresh, ""); err != nil {
		t.Fatalf("refresh of the new login: %v", err)
	}
	// The listener is gone after the sign-in.
	if _, err := http.Get("http://127.0.0.1:" + itoa(pl.Port()) + "/oauth/callback"); err == nil {
		t.Fatal("callback listener still up")
	}
}

func TestPortalLoginFailures(t *testing.T) {
	t.Parallel()
	t.Run("Builder ID chosen on the portal", func(t *testing.T) {
		p := newPortal(t)
		p.fake.SetPortalChoice(kirofake.PortalChoice{Option: "builderid"})
		pl, err := PortalLogin{Portal: p.srv.URL, AuthBase: p.srv.URL, Ports: []int{0}}.Start()
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { _, err := pl.Wait(context.Background()); errc <- err }()
		if status, body := browse(t, pl.URL); status != 200 || !strings.Contains(body, "builder-id") {
			t.Fatalf("%d %s", status, body)
		}
		if err := <-errc; !errors.Is(err, ErrWrongFlow) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("nobody comes back", func(t *testing.T) {
		pl, err := PortalLogin{Portal: "https://app.kiro.dev", Ports: []int{0}}.Start()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := pl.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a page that escapes", func(t *testing.T) {
		rec := httptest.NewRecorder()
		page(rec, 200, "<script>x</script>", "a & b")
		if strings.Contains(rec.Body.String(), "<script>x") || !strings.Contains(rec.Body.String(), "a &amp; b") {
			t.Fatal(rec.Body.String())
		}
	})
}

// Kiro's social device flow against kirofake: pending, then slow_down
// (polled too fast), then success; and a code nobody approves expires.
func TestSocialDeviceFlow(t *testing.T) {
	t.Parallel()
	fake, srv, clk := deviceSetup(t)
	sd := SocialDevice{AuthBase: srv.URL}
	da, err := sd.Start(context.Background(), "github")
	if err != nil {
		t.Fatal(err)
	}
	if da.Interval != time.Second || da.UserCode == "" || !strings.Contains(da.VerificationURIComplete, "login_provider=Github") {
		t.Fatalf("%+v", da)
	}
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		switch len(waits) {
		case 1: // first poll: pending
			clk.advance(d)
		case 2: // no time passes: slow_down
		case 3:
			clk.advance(d)
			if _, ok := fake.ApproveDevice(da.UserCode); !ok {
				t.Error("approve failed")
			}
		}
		return ctx.Err()
	}
	toks, err := sd.Poll(context.Background(), da, sleep)
	if err != nil {
		t.Fatal(err)
	}
	if toks.Refresh == "" || toks.ProfileARN == "" || len(waits) != 3 || waits[2] != waits[1]+5*time.Second {
		t.Fatalf("waits %v", waits)
	}
	if _, err := RefreshSocial(context.Background(), nil, srv.URL, toks.Refresh, ""); err != nil {
		t.Fatalf("refresh of the new login: %v", err)
	}

	t.Run("expired", func(t *testing.T) {
		da, err := sd.Start(context.Background(), "google")
		if err != nil {
			t.Fatal(err)
		}
		sleep := func(ctx context.Context, d time.Duration) error { clk.advance(6 * time.Minute); return nil }
		if _, err := sd.Poll(context.Background(), da, sleep); !errors.Is(err, ErrExpired) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("declined", func(t *testing.T) {
		da, _ := sd.Start(context.Background(), "google")
		fake.DenyDevice(da.UserCode)
		sleep := func(ctx context.Context, d time.Duration) error { clk.advance(d); return nil }
		if _, err := sd.Poll(context.Background(), da, sleep); !errors.Is(err, ErrDenied) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPKCE(t *testing.T) {
	t.Parallel()
	p := NewPKCE()
	sum := sha256.Sum256([]byte(p.Verifier.Reveal()))
	if len(p.Verifier) != 43 || p.Challenge != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("%d %s", len(p.Verifier), p.Challenge)
	}
	if NewPKCE().Verifier == p.Verifier {
		t.Fatal("not random")
	}
	var _ = redact.Secret("")
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
