package anthropic

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/stream"
)

// Backend sends a conversation upstream: kiro.Client behind a small adapter,
// or a fake in tests.
type Backend interface {
	// Send starts one model call. It returns once the upstream has accepted
	// it; the call ends when ctx does. Errors are typically a
	// *kiro.UpstreamError or wrap kiro.ErrNoAccount.
	Send(ctx context.Context, req *conv.Request) (Stream, error)
}

// Stream is an answer being received.
type Stream interface {
	// Next returns the next event, io.EOF after the last one.
	Next() (kiro.Event, error)
	// Close releases the stream. The handler calls it once, after cancelling
	// the context given to Send, possibly while Next blocks in another
	// goroutine.
	Close() error
	// Account names the account serving the call, for logs and activity;
	// never a secret.
	Account() string
}

// Defaults for Handler's zero fields.
const (
	DefaultPingInterval  = 25 * time.Second
	DefaultWindow        = 200_000   // tokens, when Window is nil or does not know a model
	DefaultMaxImageBytes = 3_750_000 // Bedrock's documented per-image ceiling
)

// Handler serves the Messages API. Fill in Backend; every other field has a
// working zero value. Its methods are safe for concurrent use.
type Handler struct {
	Backend Backend
	// Sink receives request_started and request_finished events; nil drops
	// them. A request refused before its model is known (a bad body) gets
	// only request_finished.
	Sink activity.Sink
	// Logger receives one line per failed request (full error, never a
	// secret) and debug lines per request; nil means slog.Default().
	Logger *slog.Logger
	// Window returns a model's context window in tokens (for usage and the
	// "prompt is too long" message); nil or a result ≤ 0 means DefaultWindow.
	Window func(model string) int
	// MaxImageBytes refuses larger images (decoded size); 0 means
	// DefaultMaxImageBytes, negative means no limit.
	MaxImageBytes int
	// PingInterval is how long a stream may stay silent before a ping event
	// is sent; 0 means DefaultPingInterval.
	PingInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewID returns message ids (also the request ids); nil means a random
	// "msg_" id.
	NewID func() string
	// ModelList is what /v1/models lists; nil means DefaultModels.
	ModelList []ModelInfo
	// Admit, if set, is called before a request body is read; the request
	// holds what it returns until its upstream call has been sent (not for
	// the whole stream). The server uses it to bound how many ~100 KB bodies
	// are read and translated at once, so a burst of hundreds of streams
	// does not hold hundreds of bodies in memory together.
	Admit func(ctx context.Context) (release func(), err error)
}

// admit waits for a slot of h.Admit; without one it returns at once.
func (h *Handler) admit(ctx context.Context) (func(), error) {
	if h.Admit == nil {
		return func() {}, nil
	}
	return h.Admit(ctx)
}

// ModelInfo is one entry of /v1/models.
type ModelInfo struct {
	ID          string
	DisplayName string
	CreatedAt   time.Time
}

// DefaultModels lists the Claude models every Kiro plan has had, with their
// release dates. Unknown names are accepted anyway: /v1/messages never
// refuses a model for not being listed here.
var DefaultModels = []ModelInfo{
	{ID: "claude-opus-4-5-20251101", DisplayName: "Claude Opus 4.5", CreatedAt: time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)},
	{ID: "claude-haiku-4-5-20251001", DisplayName: "Claude Haiku 4.5", CreatedAt: time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)},
	{ID: "claude-sonnet-4-5-20250929", DisplayName: "Claude Sonnet 4.5", CreatedAt: time.Date(2025, 9, 29, 0, 0, 0, 0, time.UTC)},
	{ID: "claude-sonnet-4-20250514", DisplayName: "Claude Sonnet 4", CreatedAt: time.Date(2025, 5, 14, 0, 0, 0, 0, time.UTC)},
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) newID() string {
	if h.NewID != nil {
		return h.NewID()
	}
	return "msg_" + rand.Text()
}

func (h *Handler) window(model string) int {
	if h.Window != nil {
		if w := h.Window(model); w > 0 {
			return w
		}
	}
	return DefaultWindow
}

func (h *Handler) pingInterval() time.Duration {
	if h.PingInterval > 0 {
		return h.PingInterval
	}
	return DefaultPingInterval
}

func (h *Handler) maxImageBytes() int {
	if h.MaxImageBytes == 0 {
		return DefaultMaxImageBytes
	}
	return h.MaxImageBytes
}

func (h *Handler) publish(ev activity.Request) {
	if h.Sink != nil {
		h.Sink.Publish(ev)
	}
}

// call is one /v1/messages request on its way through the handler.
type call struct {
	id        string
	start     time.Time
	client    string
	model     string
	stream    bool
	account   string
	committed bool // the status line went out: errors go in the body
	status    int
	trimmed   int // messages the backend left out (x-kirotray-trimmed)
	t         *Translator
}

// Messages serves POST /v1/messages (with or without ?beta=true).
func (h *Handler) Messages(w http.ResponseWriter, r *http.Request) {
	c := &call{id: h.newID(), start: h.now(), client: ClientName(r.UserAgent())}
	w.Header().Set("request-id", c.id)
	err := h.messages(w, r, c)
	h.finish(w, r, c, err)
}

func (h *Handler) messages(w http.ResponseWriter, r *http.Request, c *call) error {
	release, err := h.admit(r.Context())
	if err != nil {
		return err
	}
	s, req, est, err := h.prepare(r, c)
	release() // body and request are no longer needed: the next one may start
	if err != nil {
		return err
	}
	defer s.cancel()
	c.account = s.Account()
	if tr, ok := s.Stream.(trimmer); ok {
		if c.trimmed = tr.Trimmed(); c.trimmed > 0 {
			// Said before the status line, for every kind of answer.
			w.Header().Set(TrimmedHeader, strconv.Itoa(c.trimmed))
		}
	}
	c.t = NewTranslator(TranslatorOptions{
		MessageID:     c.id,
		Model:         c.model,
		InputTokens:   est,
		Window:        h.window(c.model),
		Thinking:      req.thinking,
		MaxTokens:     req.maxTokens,
		StopSequences: req.stopSequences,
		JSONOutput:    req.jsonOutput,
		Notice:        req.notice,
	})
	if c.stream {
		return h.stream(s.ctx, s.cancel, w, c, s.Stream)
	}
	defer s.Close()
	return h.collect(s.ctx, w, c, s.Stream)
}

// prepared is what outlives the body of a request: copies of the few
// fields the translator needs, so that the ~100 KB body (which the parsed
// request's strings alias) is garbage once the upstream call is sent.
type prepared struct {
	thinking      bool
	maxTokens     int
	stopSequences []string
	jsonOutput    bool
	notice        string
}

// TrimmedHeader is the response header that says how many of the
// conversation's oldest messages the backend left out to fit the upstream's
// input limit (kiro.Config.TrimHistory); absent when none were.
const TrimmedHeader = "x-kirotray-trimmed"

// trimmer is implemented by streams of a backend that may trim history
// (kiro.Stream).
type trimmer interface{ Trimmed() int }

// openStream is an upstream stream with the context that bounds it.
type openStream struct {
	Stream
	ctx    context.Context
	cancel context.CancelFunc
}

// prepare reads and parses the body and sends the upstream call.
func (h *Handler) prepare(r *http.Request, c *call) (*openStream, prepared, int, error) {
	body, err := ReadBody(r)
	if err != nil {
		return nil, prepared{}, 0, err
	}
	req, err := ParseRequest(body)
	if err != nil {
		return nil, prepared{}, 0, err
	}
	// The request's strings alias the body; what outlives the request (the
	// activity event, the translator) gets its own copy.
	c.model, c.stream = strings.Clone(req.Model), req.Stream
	if err := req.checkImages(h.maxImageBytes()); err != nil {
		return nil, prepared{}, 0, err
	}
	cr := req.ToConv()
	est := conv.EstimateTokens(cr)
	h.publish(activity.Request{Kind: activity.RequestStarted, ID: c.id, Time: c.start, Client: c.client,
		API: "anthropic", Model: c.model, Stream: c.stream, InputTokens: est})
	window := h.window(c.model)
	if est > window {
		// No model takes this: say so at once, in the words that make
		// Claude Code compact, instead of spending a round trip.
		return nil, prepared{}, 0, &apierr.Failure{Status: http.StatusBadRequest, Type: InvalidRequestError,
			Message: promptTooLong(est, window), Err: fmt.Errorf("anthropic: estimated %d input tokens, window %d", est, window)}
	}
	p := prepared{thinking: req.ThinkingRequested(), maxTokens: req.MaxTokens, stopSequences: cloneStrings(req.StopSequences),
		jsonOutput: len(req.OutputSchema) > 0}

	ctx, cancel := context.WithCancel(r.Context())
	s, err := h.Backend.Send(ctx, cr)
	if err != nil && cr.WebSearch != nil && ctx.Err() == nil {
		// The search could not be run: answer without it, and say so.
		h.logger().InfoContext(ctx, "web search unavailable: answering without it", "request_id", c.id, "err", err)
		cr.WebSearch = nil
		cr.System = joinSystem(cr.System, WebSearchUnavailable)
		p.notice = "Web search is not available right now (" + searchFailure(err) + "), so no search was made; this answer comes from the model alone."
		s, err = h.Backend.Send(ctx, cr)
	}
	if err != nil {
		cancel()
		return nil, prepared{}, 0, sendError(err, c.model, est, window)
	}
	return &openStream{Stream: s, ctx: ctx, cancel: cancel}, p, est, nil
}

// searchFailure says in a few words why a web search failed.
func searchFailure(err error) string {
	var up *kiro.UpstreamError
	switch {
	case errors.As(err, &up) && up.Status == http.StatusNotFound:
		return "the upstream has no search service"
	case errors.As(err, &up) && (up.Status == http.StatusUnauthorized || up.Status == http.StatusForbidden):
		return "the account may not use the search service"
	case errors.As(err, &up) && (up.Status == http.StatusTooManyRequests || up.Status >= 500 || up.Status == 0):
		return "the search service is busy or unreachable"
	}
	return "the search service failed"
}

// stream answers with server-sent events: message_start at once, then what
// each upstream event translates to, flushed as soon as no further upstream
// event is already waiting, with a ping whenever the client has seen nothing
// for PingInterval (see [stream.Writer]). Events are read on the request's
// own goroutine.
func (h *Handler) stream(ctx context.Context, cancel context.CancelFunc, w http.ResponseWriter, c *call, s Stream) error {
	defer s.Close()
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	c.committed, c.status = true, http.StatusOK
	buffered, _ := s.(stream.Buffered)
	sw := stream.Start(w, stream.Config{Interval: h.pingInterval(), KeepAlive: appendPing, Cancel: cancel, Upstream: buffered})
	defer sw.Stop()

	out := make([]Event, 0, 8)
	// Anthropic's streams follow message_start with a ping at once.
	out = append(c.t.Start(out), Event{Type: Ping})
	if err := sw.Emit(func(b []byte) []byte { return appendSSEs(b, out) }, true); err != nil {
		return err
	}
	for {
		ev, err := s.Next()
		var upErr error
		switch {
		case err == nil:
			out = c.t.Next(out[:0], ev)
		case errors.Is(err, io.EOF):
			out = c.t.Finish(out[:0])
		case ctx.Err() != nil:
			if err := sw.Err(); err != nil {
				return err
			}
			return ctx.Err()
		default:
			upErr = err
			_, kind, msg := classify(err)
			out = c.t.Abort(out[:0], kind, msg)
		}
		if len(out) > 0 {
			if err := sw.Emit(func(b []byte) []byte { return appendSSEs(b, out) }, c.t.Done()); err != nil {
				return err
			}
		}
		if c.t.Done() {
			if upErr != nil {
				return &streamedError{err: upErr}
			}
			if err := c.t.Err(); err != nil {
				return &streamedError{err: err}
			}
			return nil
		}
	}
}

// appendSSEs appends evs as server-sent events.
func appendSSEs(dst []byte, evs []Event) []byte {
	for i := range evs {
		dst = AppendSSE(dst, &evs[i])
	}
	return dst
}

// appendPing appends a ping event, Anthropic's keep-alive.
func appendPing(dst []byte) []byte { return AppendSSE(dst, &Event{Type: Ping}) }

// collect answers a non-streaming request: the same translation, folded into
// one Message.
func (h *Handler) collect(ctx context.Context, w http.ResponseWriter, c *call, s Stream) error {
	var acc Accumulator
	out := make([]Event, 0, 8)
	for !c.t.Done() {
		ev, err := s.Next()
		switch {
		case err == nil:
			out = c.t.Next(out[:0], ev)
		case errors.Is(err, io.EOF):
			out = c.t.Finish(out[:0])
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return err
		}
		for i := range out {
			acc.Add(&out[i])
		}
	}
	if err := c.t.Err(); err != nil {
		return err // the accumulator has the same error, without its cause
	}
	body := acc.Message().AppendJSON(make([]byte, 0, 1024))
	w.Header().Set("Content-Type", "application/json")
	c.committed, c.status = true, http.StatusOK
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("%w: write: %w", stream.ErrClientGone, err)
	}
	return nil
}

// streamedError is an error already reported to the client inside the stream.
type streamedError struct{ err error }

func (e *streamedError) Error() string { return e.err.Error() }
func (e *streamedError) Unwrap() error { return e.err }

// finish reports the outcome: the error JSON if nothing was sent yet, a log
// line, and request_finished.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, c *call, err error) {
	log := h.logger()
	ev := activity.Request{Kind: activity.RequestFinished, ID: c.id, Client: c.client, API: "anthropic",
		Model: c.model, Account: c.account, Stream: c.stream, Status: c.status}
	if c.t != nil {
		u := c.t.Usage()
		ev.InputTokens, ev.OutputTokens, ev.StopReason = u.InputTokens, u.OutputTokens, c.t.StopReason()
	}
	var streamed *streamedError
	switch {
	case err == nil:
	case errors.Is(err, stream.ErrClientGone) || r.Context().Err() != nil:
		ev.Error = "client closed the request"
		log.DebugContext(r.Context(), "client left", "request_id", c.id, "model", c.model, "account", c.account)
	case errors.As(err, &streamed):
		_, _, msg := classify(streamed.err)
		ev.Error = msg
		log.WarnContext(r.Context(), "stream failed", "request_id", c.id, "model", c.model, "account", c.account, "err", err)
	default:
		f := apierr.Classify(err)
		status := statusOf(f.Type)
		ev.Error = f.Message
		if !c.committed {
			ev.Status = status
			setRetryAfter(w, f)
			WriteError(w, status, f.Type, f.Message)
		}
		level := slog.LevelWarn
		if status < 500 && status != http.StatusTooManyRequests {
			level = slog.LevelInfo
		}
		log.Log(r.Context(), level, "request failed", "request_id", c.id, "status", status, "model", c.model,
			"account", c.account, "err", err)
	}
	now := h.now()
	ev.Time, ev.Latency = now, now.Sub(c.start)
	if err == nil {
		log.DebugContext(r.Context(), "request done", "request_id", c.id, "model", c.model, "account", c.account,
			"stop_reason", ev.StopReason, "input_tokens", ev.InputTokens, "output_tokens", ev.OutputTokens, "duration", ev.Latency,
			"trimmed_messages", c.trimmed)
	}
	h.publish(ev)
}

// CountTokens serves POST /v1/messages/count_tokens with the estimate that
// message_start of the same request would carry.
func (h *Handler) CountTokens(w http.ResponseWriter, r *http.Request) {
	if err := h.countTokens(w, r); err != nil {
		status, kind, msg := classify(err)
		h.logger().InfoContext(r.Context(), "count_tokens failed", "status", status, "err", err)
		WriteError(w, status, kind, msg)
	}
}

func (h *Handler) countTokens(w http.ResponseWriter, r *http.Request) error {
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	req, err := ParseCountTokensRequest(body)
	if err != nil {
		return err
	}
	n := conv.EstimateTokens(req.ToConv())
	b := append([]byte(`{"input_tokens":`), strconv.Itoa(n)...)
	writeJSON(w, http.StatusOK, append(b, '}'))
	return nil
}

// Models serves GET /v1/models in the Anthropic shape, all on one page.
func (h *Handler) Models(w http.ResponseWriter, _ *http.Request) {
	models := h.ModelList
	if models == nil {
		models = DefaultModels
	}
	b := []byte(`{"data":[`)
	for i, m := range models {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"model","id":`...)
		b = appendString(b, m.ID)
		b = append(b, `,"display_name":`...)
		b = appendString(b, m.DisplayName)
		b = append(b, `,"created_at":`...)
		b = appendString(b, m.CreatedAt.UTC().Format(time.RFC3339))
		b = append(b, '}')
	}
	b = append(b, `],"has_more":false,"first_id":`...)
	if len(models) > 0 {
		b = appendString(b, models[0].ID)
		b = append(b, `,"last_id":`...)
		b = appendString(b, models[len(models)-1].ID)
	} else {
		b = append(b, `null,"last_id":null`...)
	}
	writeJSON(w, http.StatusOK, append(b, '}'))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError writes the Anthropic error JSON,
// {"type":"error","error":{"type":kind,"message":msg}}, with status.
func WriteError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, appendErrorJSON(nil, kind, msg))
}

// ReadBody reads a request body in one allocation when its length is
// known. The other front ends (proxy/relay) use it too.
func ReadBody(r *http.Request) ([]byte, error) {
	size := 64 << 10
	if n := r.ContentLength; n > 0 && n < 64<<20 {
		size = int(n) + 1 // +1: reach EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
	}
}

// ClientName names well-known clients from their user agent, for the live
// view: every front end uses it.
func ClientName(ua string) string {
	switch {
	case ua == "":
		return ""
	case strings.HasPrefix(ua, "claude-cli/"):
		return "claude-code"
	case strings.HasPrefix(ua, "codex_") || strings.HasPrefix(ua, "codex/"):
		return "codex"
	case strings.HasPrefix(ua, "GeminiCLI"): // GeminiCLI/…, GeminiCLI-tui/…
		return "gemini-cli"
	}
	name, _, _ := strings.Cut(ua, "/")
	name, _, _ = strings.Cut(name, " ")
	return strings.ToLower(name)
}

// sendError turns the upstream refusals that need the request's details
// into their exact client errors.
func sendError(err error, model string, est, window int) error {
	var tooLong *kiro.TooLongError
	var up *kiro.UpstreamError
	switch {
	case errors.As(err, &tooLong):
		return refusal(err, InvalidRequestError, promptTooLong(est, inputLimit(est, tooLong)))
	case errors.As(err, &up) && up.Reason == kiro.ReasonContentLength:
		return refusal(err, InvalidRequestError, promptTooLong(est, inputLimit(est, &kiro.TooLongError{Err: up})))
	case errors.As(err, &up) && up.Reason == kiro.ReasonInvalidModel:
		return refusal(err, NotFoundError, "model: "+model)
	}
	return err
}

// refusal is the Failure of a refused upstream call, with the upstream's
// Retry-After, if any, passed on.
func refusal(err error, kind, msg string) *apierr.Failure {
	f := &apierr.Failure{Status: statusOf(kind), Type: kind, Message: msg, Err: err}
	var up *kiro.UpstreamError
	if errors.As(err, &up) {
		f.RetryAfter = up.RetryAfter
	}
	return f
}

// promptTooLong is Anthropic's own message for an over-long prompt, word for
// word: Claude Code compacts the conversation when it sees it, and reads the
// two numbers to know how much to drop. tokens is always above limit.
func promptTooLong(tokens, limit int) string {
	limit = max(1, limit)
	return fmt.Sprintf("prompt is too long: %d tokens > %d maximum", max(tokens, limit+1), limit)
}

// inputLimit turns an input refused for its size into a limit in tokens, in
// the scale of est (the estimate of the refused prompt), so that the gap
// between the two tells a client how much to drop. Kiro's limit is in bytes
// and unknown: over the byte guard, the limit is the guard's share of the
// prompt; refused upstream below it, the limit is taken as 85% of the
// prompt, which one compaction round always clears.
func inputLimit(est int, e *kiro.TooLongError) int {
	if e.Err == nil && e.Limit > 0 && e.Bytes > e.Limit {
		return int(int64(est) * int64(e.Limit) / int64(e.Bytes))
	}
	return est * 85 / 100
}

// classify maps an error to the status, error type and message the client
// sees (see [apierr.Classify]), with Anthropic's status for the type.
func classify(err error) (status int, kind, msg string) {
	f := apierr.Classify(err)
	return statusOf(f.Type), f.Type, f.Message
}

// statusOf is the HTTP status that goes with an Anthropic error type: 529
// for overloaded_error, 500 for api_error and types it does not know.
func statusOf(kind string) int {
	switch kind {
	case InvalidRequestError:
		return http.StatusBadRequest
	case AuthenticationError:
		return http.StatusUnauthorized
	case PermissionError:
		return http.StatusForbidden
	case NotFoundError:
		return http.StatusNotFound
	case RequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case RateLimitError:
		return http.StatusTooManyRequests
	case OverloadedError:
		return 529
	}
	return http.StatusInternalServerError
}

// setRetryAfter sets retry-after to f's delay in whole seconds, if it has one.
func setRetryAfter(w http.ResponseWriter, f *apierr.Failure) {
	if f.RetryAfter > 0 {
		w.Header().Set("retry-after", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
}

func cloneStrings(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}
