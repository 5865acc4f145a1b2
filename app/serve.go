package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy"
	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// Defaults of the command line contract (ARCHITECTURE.md).
const (
	DefaultKiroAPI  = "https://q.us-east-1.amazonaws.com"
	DefaultKiroAuth = "https://prod.us-east-1.auth.desktop.kiro.dev"
)

// ServeConfig is what `kirotray serve` is told by its flags and environment.
type ServeConfig struct {
	Listen      string // --listen
	AllowRemote bool   // --allow-remote
	APIKey      string // --api-key; empty: the stored key, generated on first run
	Credentials string // --credentials file; empty: keychain accounts
	KiroAPI     string // --kiro-api
	KiroAuth    string // --kiro-auth
	OIDC        string // --oidc; empty: https://oidc.{region}.amazonaws.com
	Demo        bool   // --demo: the built-in simulated upstream

	Version string
	Logger  *slog.Logger
	// Keychain stores the generated API key; nil means the OS keychain.
	Keychain keychain.Store
	// ConfigDir holds kirotray's files; empty means os.UserConfigDir()/kirotray.
	ConfigDir string
	// Ready, if set, is called once the proxy listens, with its base URL.
	Ready func(baseURL string)
	// Banner receives the human-readable start-up text; nil means none.
	Banner io.Writer
}

// Serve runs the headless proxy until ctx is cancelled, then drains streams
// in flight for at most proxy.ShutdownGrace.
func Serve(ctx context.Context, cfg ServeConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	TuneGC(32 << 20)
	if cfg.KiroAPI == "" {
		cfg.KiroAPI = DefaultKiroAPI
	}
	if cfg.KiroAuth == "" {
		cfg.KiroAuth = DefaultKiroAuth
	}
	dir, err := configDir(cfg.ConfigDir)
	if err != nil {
		return err
	}
	store := cfg.Keychain
	if store == nil {
		store = keychain.NewOS()
	}

	key, keySource, err := apiKey(cfg.APIKey, store, filepath.Join(dir, "api-key"), log)
	if err != nil {
		return err
	}

	// The upstream: the user's accounts (the account store, or the
	// --credentials file), or the demo upstream when there are none.
	pa, err := OpenProxyAccounts(AccountsConfig{
		Credentials: cfg.Credentials, Demo: cfg.Demo, KiroAuth: cfg.KiroAuth, OIDC: cfg.OIDC, KiroAPI: cfg.KiroAPI,
		ConfigDir: dir, Keychain: store, Logger: log,
	})
	if err != nil {
		return err
	}
	accounts, upstream := pa.Accounts, pa.Upstream

	client := kiro.New(kiro.Config{BaseURL: pa.KiroAPI, HTTPClient: pa.HTTPClient, Accounts: accounts, Logger: log, Version: cfg.Version})
	pa.Start(client)
	defer func() {
		// Refreshes in flight finish and any rotated token whose save failed
		// earlier is written: nothing is lost on the way out. Then the
		// upstream connections (and their goroutines) end.
		pa.Close()
		client.CloseIdleConnections()
	}()
	hub := NewHub(log)
	defer hub.Close()
	srv, err := proxy.New(proxy.Config{
		Sink:        hub,
		Routes:      []proxy.Route{{Method: http.MethodGet, Path: "/ws", Handler: hub}},
		Addr:        cfg.Listen,
		AllowRemote: cfg.AllowRemote,
		APIKey:      key,
		Backend:     Backend{Client: client},
		Window:      func(model string) int { return kiro.MapModel(model).Window },
		Logger:      log,
		Version:     cfg.Version,
		Upstream:    upstream,
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return portHint(err)
	}
	baseURL := "http://" + srv.Addr()
	log.Info("proxy listening", "url", baseURL, "upstream", upstream, "api_key_from", keySource)
	if cfg.Banner != nil {
		printBanner(cfg.Banner, baseURL, upstream, cfg.APIKey != "")
	}
	if cfg.Ready != nil {
		cfg.Ready(baseURL)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining streams in flight", "grace", proxy.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), proxy.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	return <-errc
}

// TuneGC trades a little memory for much less garbage collection. Each
// request allocates a few hundred KB that die within a millisecond, and the
// live heap is small, so with the default GOGC the collector would run every
// few requests. A higher GOGC under a soft memory limit lets the heap grow to
// tens of MB between collections and no further (softLimit, in bytes; the
// tray app's is higher, for the window's images). GOGC and GOMEMLIMIT set
// in the environment win.
func TuneGC(softLimit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softLimit)
	}
}

// Backend adapts kiro.Client to the front ends' Backend interface.
type Backend struct{ Client *kiro.Client }

// Send implements anthropic.Backend.
func (b Backend) Send(ctx context.Context, req *conv.Request) (anthropic.Stream, error) {
	s, err := b.Client.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// startDemo runs the simulated upstream on a loopback port and signs in one
// demo account there, through the same refresh path a real account takes.
func startDemo(log *slog.Logger) (*Accounts, string, func(), error) {
	fake := kirofake.New(kirofake.Config{Logger: log.With("component", "demo-upstream"), ChunkDelay: 15 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, fmt.Errorf("demo upstream: %w", err)
	}
	hs := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	refresh, arn := fake.AddSocialAccount("demo")
	accounts, err := NewAccountsFromList([]Credential{{
		Name: "demo", RefreshToken: redact.Secret(refresh), AuthMethod: AuthSocial, ProfileARN: arn, Region: "us-east-1",
	}}, AccountsOptions{AuthBase: base, Logger: log})
	if err != nil {
		_ = hs.Close()
		return nil, "", nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}
	return accounts, base, stop, nil
}

func configDir(dir string) (string, error) {
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("config directory: %w", err)
		}
		dir = filepath.Join(base, "kirotray")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("config directory: %w", err)
	}
	return dir, nil
}

// portHint adds advice to a listen error a person can act on.
func portHint(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && errors.Is(err, errAddrInUse) {
		return fmt.Errorf("%w\nanother program (or another kirotray) uses that port: stop it, or pass --listen 127.0.0.1:PORT", err)
	}
	return err
}

func printBanner(w io.Writer, baseURL, upstream string, keyGiven bool) {
	fmt.Fprintf(w, "\nkirotray proxy on %s", baseURL)
	if upstream == "demo" {
		fmt.Fprint(w, " (demo upstream: simulated replies, no Kiro account used)")
	}
	fmt.Fprint(w, "\n\nUse it with Claude Code:\n")
	fmt.Fprintf(w, "  export ANTHROPIC_BASE_URL=%s\n", baseURL)
	if keyGiven {
		fmt.Fprint(w, "  export ANTHROPIC_API_KEY=<the key you passed with --api-key>\n")
	} else {
		fmt.Fprint(w, "  export ANTHROPIC_API_KEY=\"$(kirotray key)\"\n")
	}
	fmt.Fprint(w, "  claude\n\nStop with Ctrl+C.\n\n")
}
