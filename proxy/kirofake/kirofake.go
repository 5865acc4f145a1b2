// Package kirofake is a simulated Kiro backend: the chat call
// (generateAssistantResponse, answered with real AWS event-stream frames),
// quota and model catalogue, web search (the MCP endpoint, with made-up
// results), social and SSO-OIDC token refresh with rotation, and the OIDC
// device flow, with the pages a person approves a sign-in on in a browser
// (pages.go). It is what `kirotray serve --demo` talks to, what
// `kirotray demo-upstream` serves alone (to try sign-in offline), and
// what every end-to-end test and benchmark runs against.
//
// It is deliberately as strict as the real backend, and stricter where the
// real one is known to be picky but silent: a body that breaks any rule of
// protocol.md §3 is refused with the status and body Kiro would send, so a
// test that passes here is not passing by accident. The reason for every
// refusal is in [Recorded.Detail] and the log, which Kiro never tells.
//
// Replies come from a FIFO of scripted [Reply] values ([Server.Enqueue]) or,
// when it is empty, from a small deterministic "demo brain" that streams text,
// thinking and tool calls built from the offered tools' schemas. Faults
// (status errors, slow first byte, exception frames, cut connections) are
// scripted with [Fault]. It is not a model and not a security boundary.
package kirofake

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Config configures a Server. The zero value is ready to use.
type Config struct {
	// Logger receives one line per call; nil discards. Tokens are never logged.
	Logger *slog.Logger
	// Now is the clock tokens and device codes expire by; nil means time.Now.
	Now func() time.Time
	// AccessTTL is an access token's lifetime; 0 means one hour.
	AccessTTL time.Duration
	// MaxBodyBytes bounds a chat body's text, its base64 image data left
	// out; a larger one gets 400 CONTENT_LENGTH_EXCEEDS_THRESHOLD "Input is
	// too long.". 0 means 600 000. Images have limits of their own (at most
	// 20 per request, 3.75 MB each), and no body may exceed 64 MiB.
	MaxBodyBytes int
	// ChunkDelay is the pause between streamed frames; 0 sends them back to
	// back. The demo uses a few milliseconds so streaming is visible.
	ChunkDelay time.Duration
	// RequireProfileARN makes an OAuth token without a body profileArn fail
	// with 400 "profileArn is required for this request", as runtime.*.kiro.dev does.
	RequireProfileARN bool
	// Seed makes the demo brain's choices (chunk boundaries, tool ids)
	// reproducible: the same seed and conversation give the same frames.
	Seed int64
	// Models is the catalogue: the model ids accepted and what
	// ListAvailableModels answers. nil means DefaultModels().
	Models []Model
	// LaxHeaders accepts chat calls without the Kiro IDE's headers
	// (x-amz-user-agent naming KiroIDE-<version>-<machineId>, a UUID
	// amz-sdk-invocation-id). The real backend is lenient here; the fake is
	// strict by default so that a client that stops sending them is noticed.
	LaxHeaders bool
	// MaxRecorded is how many chat calls Requests keeps (the most recent);
	// 0 means 1000, negative keeps none (benchmarks).
	MaxRecorded int
	// PortalPage makes GET /signin show the portal's sign-in page, where a
	// person in a browser picks Google or GitHub (and may name the account);
	// false sends the browser straight back, as SetPortalChoice says.
	PortalPage bool
	// PriorUsage makes every account start the month with credits already
	// used, a stable 5–45 % of its 1000 derived from its name, so that a new
	// login shows a plausible quota; metered credits add to it. False starts
	// every account at 0 (Usage().Credits is metered credits either way).
	PriorUsage bool
}

const (
	defaultAccessTTL   = time.Hour
	defaultMaxBody     = 600_000
	defaultMaxRecorded = 1000
)

// Usage counts what an account did, for test assertions.
type Usage struct {
	Requests     int     // chat calls carrying this account's valid token, whatever the outcome
	Streams      int     // chat calls answered 200 with an event stream
	Refreshes    int     // successful token refreshes (social or OIDC)
	Credits      float64 // credits metered (sum of meteringEvent usage sent); what getUsageLimits reports
	UsageQueries int     // getUsageLimits calls
	WebSearches  int     // web searches answered through /mcp
}

// Recorded is one generateAssistantResponse call as the server saw it.
type Recorded struct {
	Time    time.Time
	Account string      // the token's account; "" when the token was refused
	Header  http.Header // as received, except Authorization, which holds the account name
	Body    []byte      // raw body; nil when it was refused for its Content-Length unread
	Parsed  *Request    // nil when the body was not valid JSON of the right shape
	Status  int         // the status answered
	Reason  string      // the error body's reason, if any
	Message string      // the error body's message, if any
	// Detail says which rule a refused request broke, in words Kiro never
	// sends; empty for a 200.
	Detail string
}

// Server is the simulated backend. It implements http.Handler with paths
// relative to its root; mount it on httptest.NewServer and point the API,
// social auth and OIDC base URLs at it. All methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	models []Model
	model  map[string]*Model
	schema schemaCache

	mu       sync.Mutex
	accounts map[string]*account
	tokens   map[string]*token
	clients  map[string]*oidcClient
	devices  map[string]*deviceAuth // by device code
	userCode map[string]*deviceAuth // by user code
	queue    []queued
	fault    faultSlot
	mcpFault faultSlot
	records  ring
	nDevice  int
	codes    map[string]*authCode // portal sign-in codes

	portal           PortalChoice
	refreshFault     RefreshFault
	refreshFaultLeft int
}

type authKind uint8

const (
	social authKind = iota
	idc
	apiKey
)

type account struct {
	name       string
	kind       authKind
	profileARN string
	clientID   string // idc: the OIDC client its refresh tokens belong to
	usage      Usage
	fault      faultSlot
	script     *UsageScript // getUsageLimits' answer when set
}

type tokenKind uint8

const (
	kindAccess tokenKind = iota
	kindRefresh
	kindAPIKey
)

type token struct {
	acct    *account
	kind    tokenKind
	expires time.Time // access tokens only
}

// New returns a Server with no accounts.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = defaultAccessTTL
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = defaultMaxBody
	}
	if cfg.MaxRecorded == 0 {
		cfg.MaxRecorded = defaultMaxRecorded
	}
	if cfg.Models == nil {
		cfg.Models = DefaultModels()
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "kirofake"),
		models:   slices.Clone(cfg.Models), // the caller keeps theirs
		model:    make(map[string]*Model, len(cfg.Models)),
		accounts: make(map[string]*account),
		tokens:   make(map[string]*token),
		clients:  make(map[string]*oidcClient),
		devices:  make(map[string]*deviceAuth),
		userCode: make(map[string]*deviceAuth),
		codes:    make(map[string]*authCode),
		records:  ring{max: max(cfg.MaxRecorded, 0)},
	}
	for i := range s.models {
		s.model[s.models[i].ID] = &s.models[i]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /generateAssistantResponse", s.chat)
	mux.Handle("GET /getUsageLimits", handler(s.usageLimits))
	mux.Handle("GET /ListAvailableModels", handler(s.listModels))
	mux.Handle("POST /mcp", handler(s.mcp))
	mux.Handle("POST /ListAvailableProfiles", handler(s.listProfiles))
	mux.Handle("POST /refreshToken", handler(s.socialRefresh))
	mux.Handle("POST /token", handler(s.oidcToken))
	mux.Handle("POST /client/register", handler(s.registerClient))
	mux.Handle("POST /device_authorization", handler(s.deviceAuthorization))
	mux.HandleFunc("GET /device", s.devicePage)
	mux.HandleFunc("POST /device", s.deviceSubmit)
	mux.HandleFunc("GET /signin", s.signinPage)
	mux.HandleFunc("POST /signin", s.signinSubmit)
	mux.Handle("POST /oauth/token", handler(s.oauthToken))
	mux.Handle("POST /oauth/device/authorization", handler(s.socialDeviceAuthorization))
	mux.Handle("POST /oauth/device/poll", handler(s.socialDevicePoll))
	mux.HandleFunc("GET /account/device", s.devicePage)
	mux.HandleFunc("POST /account/device", s.deviceSubmit)
	mux.Handle("/", handler(func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{Status: http.StatusNotFound, Type: "UnknownOperationException",
			Message: "Unknown operation " + r.Method + " " + r.URL.Path, Detail: "no such route"}
	}))
	s.mux = mux
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// AddSocialAccount adds a Google/GitHub account and returns its first refresh
// token (exchange it at POST /refreshToken) and its profile ARN. It panics if
// the name is taken.
func (s *Server) AddSocialAccount(name string) (refreshToken string, profileARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.addAccountLocked(name, social)
	return s.issueLocked(a, kindRefresh), a.profileARN
}

// AddIdCAccount adds a Builder ID / IAM Identity Center account with its own
// registered OIDC client and returns its first refresh token and the client's
// credentials (exchange them at POST /token). It panics if the name is taken.
func (s *Server) AddIdCAccount(name string) (refreshToken, clientID, clientSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.addAccountLocked(name, idc)
	c := s.registerLocked(name)
	a.clientID = c.id
	return s.issueLocked(a, kindRefresh), c.id, c.secret
}

// AddAPIKeyAccount adds an account used through a Kiro API key and returns
// the key (ksk_…), to be sent as a bearer token with `tokentype: API_KEY`.
// It panics if the name is taken.
func (s *Server) AddAPIKeyAccount(name string) (key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(s.addAccountLocked(name, apiKey), kindAPIKey)
}

// IssueAccessToken returns a fresh access token for an OAuth account, as a
// refresh would, without rotating its refresh token. It panics if there is no
// such account or it is an API-key account.
func (s *Server) IssueAccessToken(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustAccountLocked(name)
	if a.kind == apiKey {
		panic("kirofake: IssueAccessToken on API-key account " + name)
	}
	return s.issueLocked(a, kindAccess)
}

// ProfileARN returns an account's profile ARN ("" for an unknown name).
func (s *Server) ProfileARN(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[name]; a != nil {
		return a.profileARN
	}
	return ""
}

// RevokeAccessTokens invalidates every access token of an account, so that
// its next chat call gets the 403 bearer-token answer while its refresh token
// still works.
func (s *Server) RevokeAccessTokens(name string) { s.revoke(name, kindAccess) }

// RevokeRefreshTokens invalidates an account's refresh token(s): the next
// refresh gets invalid_grant, as after a sign-out or a rotation elsewhere.
func (s *Server) RevokeRefreshTokens(name string) { s.revoke(name, kindRefresh) }

// RevokeAPIKeys invalidates an account's API keys, as deleting them in the
// portal does: the next call with one gets the 403 bearer-token answer.
func (s *Server) RevokeAPIKeys(name string) { s.revoke(name, kindAPIKey) }

func (s *Server) revoke(name string, kind tokenKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v, t := range s.tokens {
		if t.acct.name == name && t.kind == kind {
			delete(s.tokens, v)
		}
	}
}

// Usage returns an account's counters (zero for an unknown name).
func (s *Server) Usage(account string) Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[account]; a != nil {
		return a.usage
	}
	return Usage{}
}

// Requests returns the chat calls received, oldest first (at most
// Config.MaxRecorded of them). The values are shared: do not modify them.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records.all()
}

// Enqueue appends a scripted reply. Each chat call that passes validation and
// is not failed by a standing fault with a Status consumes the head of the
// queue; with the queue empty the demo brain answers. Events are encoded here,
// once, so replaying them costs nothing.
func (s *Server) Enqueue(r Reply) {
	q := queued{frames: encodeFrames(r.Events), fault: r.Fault, left: max(r.Fault.Times, 1)}
	for _, e := range r.Events {
		if m, ok := e.(Metering); ok {
			q.credits += float64(m)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, q)
}

// SetFault sets a standing fault applied to every valid chat call until
// cleared with SetFault(Fault{}); with Times > 0 it clears itself after that
// many calls. An account fault (SetAccountFault) takes precedence.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault.set(f)
}

// SetAccountFault is SetFault for the chat calls of one account only, e.g. a
// throttled or suspended account among healthy ones. It panics for an unknown name.
func (s *Server) SetAccountFault(name string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustAccountLocked(name).fault.set(f)
}

func (s *Server) now() time.Time { return s.cfg.Now() }

func (s *Server) addAccountLocked(name string, kind authKind) *account {
	if _, ok := s.accounts[name]; ok {
		panic("kirofake: duplicate account " + name)
	}
	a := &account{name: name, kind: kind}
	if kind != apiKey {
		a.profileARN = profileARNFor(name)
	}
	s.accounts[name] = a
	return a
}

func (s *Server) mustAccountLocked(name string) *account {
	a := s.accounts[name]
	if a == nil {
		panic("kirofake: no account " + name)
	}
	return a
}

// issueLocked mints a token. The prefixes are the real ones (aoa… access,
// aor… refresh, ksk_… API key) so that code sniffing them behaves.
func (s *Server) issueLocked(a *account, kind tokenKind) string {
	var v string
	t := &token{acct: a, kind: kind}
	switch kind {
	case kindAccess:
		v = "aoaAAAAA" + rand.Text() + rand.Text()
		t.expires = s.now().Add(s.cfg.AccessTTL)
	case kindRefresh:
		v = "aorAAAAA" + rand.Text() + rand.Text()
	case kindAPIKey:
		v = "ksk_" + rand.Text() + rand.Text()
	}
	s.tokens[v] = t
	return v
}

// profileARNFor derives a stable, well-formed profile ARN from an account name.
func profileARNFor(name string) string {
	h := fnv.New64a()
	io.WriteString(h, name)
	sum := h.Sum64()
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	id := make([]byte, 12)
	for i, x := 0, sum; i < len(id); i, x = i+1, x/36 {
		id[i] = alnum[x%36]
	}
	return fmt.Sprintf("arn:aws:codewhisperer:us-east-1:%012d:profile/%s", sum%1_000_000_000_000, id)
}

// bearer looks up the credential of a request: an unexpired access token, or
// an API key sent with tokentype API_KEY. Anything else, including an API key
// without that header (Kiro then treats it as an OAuth token), is refused.
func (s *Server) bearer(r *http.Request) (*account, bool) {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
		return nil, false
	}
	v = v[7:]
	isKey := strings.EqualFold(r.Header.Get("tokentype"), "API_KEY")
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[v]
	switch {
	case t == nil:
		return nil, false
	case t.kind == kindAccess && !isKey && s.now().Before(t.expires):
		return t.acct, true
	case t.kind == kindAPIKey && isKey:
		return t.acct, true
	}
	return nil, false
}

var errBearer = &apiError{Status: http.StatusForbidden, Type: "AccessDeniedException",
	Message: "The bearer token included in the request is invalid.", Detail: "unknown, expired or wrong-kind bearer token"}

// checkProfile applies the profileArn rules of protocol.md §3.8.
func (s *Server) checkProfile(a *account, arn string) *apiError {
	switch {
	case a.kind == apiKey && arn != "":
		return &apiError{Status: http.StatusForbidden, Type: "AccessDeniedException",
			Message: "User is not authorized to make this call.", Detail: "an API key must not send profileArn"}
	case arn != "" && arn != a.profileARN:
		return &apiError{Status: http.StatusForbidden, Type: "AccessDeniedException",
			Message: "User is not authorized to make this call.", Detail: "profileArn belongs to another account"}
	case arn == "" && a.kind != apiKey && s.cfg.RequireProfileARN:
		return &apiError{Status: http.StatusBadRequest, Type: "ValidationException",
			Message: "profileArn is required for this request", Detail: "no profileArn for an OAuth token"}
	}
	return nil
}

// apiError is a data-plane error answer: {"message": …, "reason": … | null}.
type apiError struct {
	Status  int
	Type    string // x-amzn-ErrorType
	Message string
	Reason  string // "" is sent as null
	Detail  string // for Recorded and the log only
}

func (e *apiError) Error() string {
	return fmt.Sprintf("kirofake: %d %s: %s", e.Status, e.Message, e.Detail)
}

func (e *apiError) write(w http.ResponseWriter) {
	body := struct {
		Message string  `json:"message"`
		Reason  *string `json:"reason"`
	}{Message: e.Message}
	if e.Reason != "" {
		body.Reason = &e.Reason
	}
	if e.Type != "" {
		w.Header().Set("x-amzn-ErrorType", e.Type)
	}
	writeJSON(w, e.Status, body)
}

// oauthError is an auth-service error answer: {"error": …, "error_description": …}.
// The social service also puts the description in "message", which some
// clients read instead.
type oauthError struct {
	Status      int
	Code        string
	Description string
}

func (e *oauthError) Error() string {
	return fmt.Sprintf("kirofake: %d %s: %s", e.Status, e.Code, e.Description)
}

func (e *oauthError) write(w http.ResponseWriter) {
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description, "message": e.Description})
}

// handler adapts a route that returns an error; *apiError and *oauthError
// become their JSON answers.
type handler func(w http.ResponseWriter, r *http.Request) error

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	err := h(w, r)
	switch e := err.(type) {
	case nil:
	case interface{ write(http.ResponseWriter) }:
		e.write(w)
	default:
		(&apiError{Status: http.StatusInternalServerError, Type: "InternalServerException",
			Message: "Encountered an unexpected error when processing the request, please try again.", Detail: err.Error()}).write(w)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("kirofake: " + err.Error()) // only our own types get here
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// decodeJSON reads a small JSON body into v.
func decodeJSON(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v)
}

// ring keeps the last max records.
type ring struct {
	max  int
	buf  []Recorded
	next int // where the next record goes once buf is full
}

func (g *ring) add(r Recorded) {
	switch {
	case g.max <= 0:
	case len(g.buf) < g.max:
		g.buf = append(g.buf, r)
	default:
		g.buf[g.next] = r
		g.next = (g.next + 1) % g.max
	}
}

func (g *ring) all() []Recorded {
	out := make([]Recorded, 0, len(g.buf))
	out = append(out, g.buf[g.next:]...)
	return append(out, g.buf[:g.next]...)
}
