// Package proxy is kirotray's HTTP server: httprouter routes for the
// Anthropic, OpenAI and Gemini front ends, the middleware every request
// passes (API key, Host and Origin checks, body limit, panic recovery),
// /healthz, /metrics, and a Shutdown that drains streams in flight. It
// knows nothing about the app or the GUI: what it needs from them (a
// backend, a place to publish activity, extra routes such as /ws) comes in
// through Config.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/gemini"
	"github.com/kirotray/kirotray/proxy/openai"
	"github.com/kirotray/kirotray/proxy/redact"
	"github.com/kirotray/kirotray/proxy/relay"
)

// Defaults for Config's zero values.
const (
	DefaultAddr         = "127.0.0.1:8317"
	DefaultMaxBodyBytes = 32 << 20 // Claude Code bodies with images reach a few MiB
	// ShutdownGrace is how long Shutdown lets streams in flight finish.
	ShutdownGrace = 5 * time.Second
)

// Route is an extra endpoint mounted next to the proxy's own (e.g. /ws).
type Route struct {
	Method  string
	Path    string
	Handler http.Handler
	// Public routes skip the API key check (Host and Origin are still checked).
	Public bool
}

// Config configures a Server. Backend and APIKey are required.
type Config struct {
	// Addr is the listen address; zero means DefaultAddr. A non-loopback
	// address is refused unless AllowRemote is set.
	Addr        string
	AllowRemote bool
	// APIKey is what clients must send as x-api-key or Authorization: Bearer.
	APIKey redact.Secret
	// MaxBodyBytes bounds request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Backend serves model calls (kiro.Client behind a small adapter).
	Backend anthropic.Backend
	// Window returns a model's context window in tokens, for usage estimates
	// and "prompt is too long" messages.
	Window func(model string) int
	// Sink receives request activity; nil drops it.
	Sink activity.Sink
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Routes are mounted besides the built-in ones.
	Routes []Route
	// Version is reported by /healthz.
	Version string
	// Upstream names the upstream in /healthz ("kiro" or "demo").
	Upstream string
}

// Server is the proxy's HTTP server. Create it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	http    *http.Server
	started time.Time

	mu sync.Mutex
	ln net.Listener
}

// New checks cfg and builds the server; it does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("proxy: Config.Backend is required")
	}
	if cfg.APIKey.IsZero() {
		return nil, errors.New("proxy: Config.APIKey is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Sink == nil {
		cfg.Sink = activity.Discard{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := checkListenAddr(cfg.Addr, cfg.AllowRemote); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "proxy"), started: time.Now()}
	h, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = h
	s.http = &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second, // a slow client cannot hold a connection open for free
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		// No WriteTimeout: streams last as long as the model writes.
	}
	return s, nil
}

// Handler returns the full middleware and routing stack, for tests that run
// it under httptest.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns the address the server listens on, once Listen has run.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Listen opens the listening socket, so that errors such as a port in use are
// reported before Serve runs.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("proxy: listen on %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Serve answers requests until Shutdown. It calls Listen first if needed and
// returns nil after a clean shutdown.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
		s.mu.Lock()
		ln = s.ln
		s.mu.Unlock()
	}
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting requests and lets those in flight finish until ctx
// ends (use ShutdownGrace); then it closes whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.log.Warn("shutdown grace period over: closing streams still in flight")
		return s.http.Close()
	}
	return err
}

func (s *Server) routes() (http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg)

	admit := newAdmission(max(4, 2*runtime.GOMAXPROCS(0))) // shared by every front end
	ah := &anthropic.Handler{
		Backend: s.cfg.Backend,
		Sink:    s.cfg.Sink,
		Logger:  s.cfg.Logger,
		Window:  s.cfg.Window,
		Admit:   admit,
	}
	rl := &relay.Relay{
		Backend: s.cfg.Backend,
		Sink:    s.cfg.Sink,
		Logger:  s.cfg.Logger,
		Window:  s.cfg.Window,
		Admit:   admit,
	}
	oh := &openai.Handler{Relay: rl}
	gh := &gemini.Handler{Relay: rl}
	r := httprouter.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, http.StatusNotFound, "not_found_error", fmt.Sprintf("no route for %s %s", req.Method, req.URL.Path))
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, http.StatusMethodNotAllowed, "invalid_request_error", fmt.Sprintf("method %s is not allowed on %s", req.Method, req.URL.Path))
	})
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		if v == http.ErrAbortHandler { //nolint:errorlint // sentinel value passed to panic
			panic(v)
		}
		s.log.Error("handler panic", "path", req.URL.Path, "panic", fmt.Sprint(v))
		writeError(w, req, http.StatusInternalServerError, "api_error", "internal error")
	}

	mount := func(method, path string, h http.Handler, public bool) {
		h = m.instrument(path, h)
		if !public {
			h = s.requireKey(h)
		}
		r.Handler(method, path, h)
	}
	mount(http.MethodPost, "/v1/messages", http.HandlerFunc(ah.Messages), false)
	mount(http.MethodPost, "/v1/messages/count_tokens", http.HandlerFunc(ah.CountTokens), false)
	mount(http.MethodGet, "/v1/models", modelList(http.HandlerFunc(ah.Models), http.HandlerFunc(oh.Models)), false)
	mount(http.MethodPost, "/v1/chat/completions", http.HandlerFunc(oh.ChatCompletions), false)
	mount(http.MethodPost, "/v1/responses", http.HandlerFunc(oh.Responses), false)
	// Gemini: the model and the method share the last segment
	// ("gemini-2.5-pro:generateContent"), so one parameter takes both.
	mount(http.MethodPost, "/v1beta/models/:action", http.HandlerFunc(gh.ModelAction), false)
	mount(http.MethodGet, "/v1beta/models", http.HandlerFunc(gh.Models), false)
	mount(http.MethodGet, "/v1beta/models/:model", http.HandlerFunc(gh.Model), false)
	mount(http.MethodGet, "/healthz", http.HandlerFunc(s.healthz), true)
	mount(http.MethodGet, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), false)
	for _, rt := range s.cfg.Routes {
		mount(rt.Method, rt.Path, rt.Handler, rt.Public)
	}
	// Outermost first: panic recovery, then Host/Origin, then the body limit.
	return s.recoverPanics(s.checkHostOrigin(s.limitBody(r))), nil
}

// modelList answers GET /v1/models in the shape the caller expects: the
// OpenAI list for OpenAI clients, the Anthropic list for everyone else.
func modelList(anthropicList, openaiList http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wantsOpenAIList(r) {
			openaiList.ServeHTTP(w, r)
			return
		}
		anthropicList.ServeHTTP(w, r)
	})
}

// wantsOpenAIList tells OpenAI clients from Anthropic ones. Anthropic SDKs
// and Claude Code send anthropic-version on every request (with the key in
// x-api-key, or as a bearer token with ANTHROPIC_AUTH_TOKEN); OpenAI SDKs and
// Codex send the key as a bearer token and no anthropic-version.
func wantsOpenAIList(r *http.Request) bool {
	if r.Header.Get("Anthropic-Version") != "" || r.Header.Get("X-Api-Key") != "" {
		return false
	}
	scheme, _, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer")
}

// newAdmission bounds how many requests are read, translated and sent
// upstream at once. Streams themselves are not limited: a request leaves
// its slot as soon as its upstream call is out, so a burst of hundreds of
// ~100 KB requests never holds hundreds of bodies in memory together (the
// CPU could not work on more than a few at a time anyway).
func newAdmission(slots int) func(ctx context.Context) (func(), error) {
	sem := make(chan struct{}, slots)
	release := func() { <-sem }
	return func(ctx context.Context) (func(), error) {
		select {
		case sem <- struct{}{}:
			return release, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":   "ok",
		"version":  s.cfg.Version,
		"upstream": s.cfg.Upstream,
		"uptime_s": int(time.Since(s.started).Seconds()),
	})
}
