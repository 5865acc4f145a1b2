// Package relay runs one model call for the front ends that answer in a wire
// format of their own (OpenAI Chat Completions and Responses, Gemini): it
// admits the request, sends the neutral conversation through the Backend,
// feeds the decoded Kiro events to an [anthropic.Translator] (so that tag
// splitting, tool-call assembly, local limits and usage are worked out once,
// for every format), and hands the translator's events to the front end's
// [Encoder]: streamed with one flush per burst of upstream frames and
// keep-alives while the upstream is silent ([stream.Writer]), or collected
// for one JSON body. It also reports failures (classified by
// [apierr.Classify]) and publishes activity.
//
// It knows no wire format: parsing requests and rendering events and errors
// is the front ends' job.
package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/stream"
)

// Defaults for Relay's zero fields.
const (
	DefaultKeepAlive = 25 * time.Second
	DefaultWindow    = anthropic.DefaultWindow
)

// Relay holds what every call needs. Fill in Backend; every other field has
// a working zero value. Its methods are safe for concurrent use.
type Relay struct {
	Backend anthropic.Backend
	// Sink receives request_started and request_finished; nil drops them.
	Sink activity.Sink
	// Logger receives one line per failed request; nil means slog.Default().
	Logger *slog.Logger
	// Window returns a model's context window in tokens; nil or ≤ 0 means
	// DefaultWindow.
	Window func(model string) int
	// KeepAlive is how long a stream may stay silent before the encoder's
	// keep-alive is written; 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Admit bounds how many bodies are read and translated at once (see
	// anthropic.Handler.Admit); nil admits every request at once.
	Admit func(ctx context.Context) (release func(), err error)
}

// Encoder renders the events of one answer in a client's format. The relay
// calls it from one goroutine at a time; it does no I/O.
type Encoder interface {
	// Begin appends what a stream starts with, before any upstream event
	// (Responses' response.created, a JSON array's "["); it may append nothing.
	Begin(dst []byte) []byte
	// Encode appends the rendering of the translator's events. The last
	// events of an answer are message_delta and message_stop, or an error
	// event; Encode appends the format's ending then.
	Encode(dst []byte, evs []anthropic.Event) []byte
	// KeepAlive appends what keeps an idle stream open without meaning
	// anything to the client (an SSE comment); nothing disables keep-alives.
	KeepAlive(dst []byte) []byte
}

func (rl *Relay) logger() *slog.Logger {
	if rl.Logger != nil {
		return rl.Logger
	}
	return slog.Default()
}

func (rl *Relay) now() time.Time {
	if rl.Now != nil {
		return rl.Now()
	}
	return time.Now()
}

// WindowOf returns the context window of model in tokens.
func (rl *Relay) WindowOf(model string) int {
	if rl.Window != nil {
		if w := rl.Window(model); w > 0 {
			return w
		}
	}
	return DefaultWindow
}

func (rl *Relay) keepAlive() time.Duration {
	if rl.KeepAlive > 0 {
		return rl.KeepAlive
	}
	return DefaultKeepAlive
}

func (rl *Relay) publish(ev activity.Request) {
	if rl.Sink != nil {
		rl.Sink.Publish(ev)
	}
}

// Call is one request on its way through a front end. Create it with
// [Relay.NewCall]; the front end fills Model and Stream once it has parsed
// the body.
type Call struct {
	ID     string    // request id, also the base of the answer's ids
	API    string    // activity API name: "openai-chat", "openai-responses", "gemini"
	Start  time.Time // when the request arrived
	Client string    // from the user agent
	Model  string    // as the client named it (a copy: never aliases the body)
	Stream bool

	account   string
	committed bool // the status line went out: errors go in the body
	status    int
	t         *anthropic.Translator
	s         anthropic.Stream
	ctx       context.Context
	cancel    context.CancelFunc
}

// NewCall starts the bookkeeping of a request; prefix starts its random id
// ("chatcmpl-", "resp_").
func (rl *Relay) NewCall(r *http.Request, api, prefix string) *Call {
	return &Call{ID: prefix + rand.Text(), API: api, Start: rl.now(), Client: ClientName(r.UserAgent())}
}

// Commit records that the front end sent status itself.
func (c *Call) Commit(status int) { c.committed, c.status = true, status }

// Acquire waits for an admission slot (see Admit); release it once Send
// has returned.
func (rl *Relay) Acquire(ctx context.Context) (release func(), err error) {
	if rl.Admit == nil {
		return func() {}, nil
	}
	return rl.Admit(ctx)
}

// Send publishes request_started and sends req upstream. On success the call
// holds the open stream and a translator made from opts (MessageID,
// InputTokens and Window are filled in here); the front end must then call
// Stream or Collect, which close it. A refusal that needs the request's
// details (the prompt is too long) comes back as an *apierr.Failure.
func (rl *Relay) Send(ctx context.Context, c *Call, req *conv.Request, opts anthropic.TranslatorOptions) error {
	est := conv.EstimateTokens(req)
	window := rl.WindowOf(req.Model)
	rl.publish(activity.Request{Kind: activity.RequestStarted, ID: c.ID, Time: c.Start, Client: c.Client,
		API: c.API, Model: c.Model, Stream: c.Stream, InputTokens: est})
	sctx, cancel := context.WithCancel(ctx)
	s, err := rl.Backend.Send(sctx, req)
	if err != nil {
		cancel()
		return sendError(err, est, window)
	}
	c.s, c.ctx, c.cancel = s, sctx, cancel
	c.account = s.Account()
	opts.MessageID, opts.InputTokens, opts.Window = c.ID, est, window
	c.t = anthropic.NewTranslator(opts)
	return nil
}

// close ends the upstream call: its context first, then the stream, as
// anthropic.Stream asks.
func (c *Call) close() {
	c.cancel()
	_ = c.s.Close()
}

// Stream answers with the encoder's stream: headers (contentType, status
// 200) at once, then Begin, then the rendering of each upstream event,
// flushed as soon as no further upstream event is already waiting, with a
// keep-alive whenever the client has seen nothing for KeepAlive (see
// [stream.Writer]). An upstream failure becomes the translator's error
// event, which the encoder renders; the returned error then wraps it (see
// [Streamed]).
func (rl *Relay) Stream(w http.ResponseWriter, c *Call, contentType string, enc Encoder) error {
	defer c.close()
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	c.Commit(http.StatusOK)
	buffered, _ := c.s.(stream.Buffered)
	sw := stream.Start(w, stream.Config{Interval: rl.keepAlive(), KeepAlive: enc.KeepAlive, Cancel: c.cancel, Upstream: buffered})
	defer sw.Stop()

	out := make([]anthropic.Event, 0, 8)
	if err := sw.Emit(func(b []byte) []byte { return enc.Encode(enc.Begin(b), c.t.Start(out[:0])) }, true); err != nil {
		return err
	}
	for {
		evs, upErr, err := rl.next(c, out[:0])
		if err != nil {
			if we := sw.Err(); we != nil {
				return we
			}
			return err
		}
		out = evs
		if len(out) > 0 {
			if err := sw.Emit(func(b []byte) []byte { return enc.Encode(b, out) }, c.t.Done()); err != nil {
				return err
			}
		}
		if c.t.Done() {
			return streamEnd(c, upErr)
		}
	}
}

// next reads one upstream event and returns the translator's events for it.
// upErr is an upstream failure already turned into an error event; err means
// the call's context ended (the client left).
func (rl *Relay) next(c *Call, out []anthropic.Event) (evs []anthropic.Event, upErr, err error) {
	ev, err := c.s.Next()
	switch {
	case err == nil:
		return c.t.Next(out, ev), nil, nil
	case errors.Is(err, io.EOF):
		return c.t.Finish(out), nil, nil
	case c.ctx.Err() != nil:
		return nil, nil, c.ctx.Err()
	}
	f := apierr.Classify(err)
	return c.t.Abort(out, f.Type, f.Message), err, nil
}

// streamEnd is the outcome of an answer that ran to its end.
func streamEnd(c *Call, upErr error) error {
	if upErr != nil {
		return &streamedError{err: upErr}
	}
	if err := c.t.Err(); err != nil {
		return &streamedError{err: err}
	}
	return nil
}

// Collect runs the answer to its end without writing anything, passing the
// translator's events to add as they come. An upstream failure, before or
// after some events, is returned (add never sees an error event), so that
// the front end answers with its error JSON and status.
func (rl *Relay) Collect(c *Call, add func(evs []anthropic.Event)) error {
	defer c.close()
	out := make([]anthropic.Event, 0, 8)
	for !c.t.Done() {
		evs, upErr, err := rl.next(c, out[:0])
		switch {
		case err != nil:
			return err
		case upErr != nil:
			return upErr
		case c.t.Err() != nil: // an exception frame ended the answer
			return c.t.Err()
		}
		out = evs
		add(out)
	}
	return nil
}

// streamedError is an error already reported to the client inside a stream.
type streamedError struct{ err error }

func (e *streamedError) Error() string { return e.err.Error() }
func (e *streamedError) Unwrap() error { return e.err }

// MarkStreamed wraps err, which the front end has reported to the client
// inside a stream it started itself, so that Finish only logs it.
func MarkStreamed(err error) error { return &streamedError{err: err} }

// Streamed reports whether err was already reported to the client inside
// the stream.
func Streamed(err error) bool {
	var s *streamedError
	return errors.As(err, &s)
}

// ErrorWriter writes f as the front end's error response (status and body).
type ErrorWriter func(w http.ResponseWriter, f *apierr.Failure)

// Finish reports the outcome of a call: the error response if nothing was
// sent yet (through writeErr), one log line, and request_finished.
func (rl *Relay) Finish(w http.ResponseWriter, r *http.Request, c *Call, err error, writeErr ErrorWriter) {
	log := rl.logger()
	ev := activity.Request{Kind: activity.RequestFinished, ID: c.ID, Client: c.Client, API: c.API,
		Model: c.Model, Account: c.account, Stream: c.Stream, Status: c.status}
	if c.t != nil {
		u := c.t.Usage()
		ev.InputTokens, ev.OutputTokens, ev.StopReason = u.InputTokens, u.OutputTokens, c.t.StopReason()
	}
	switch {
	case err == nil:
	case errors.Is(err, stream.ErrClientGone) || r.Context().Err() != nil:
		ev.Error = "client closed the request"
		log.DebugContext(r.Context(), "client left", "request_id", c.ID, "model", c.Model, "account", c.account)
	case Streamed(err):
		ev.Error = apierr.Classify(err).Message
		log.WarnContext(r.Context(), "stream failed", "request_id", c.ID, "api", c.API, "model", c.Model,
			"account", c.account, "err", err)
	default:
		f := apierr.Classify(err)
		ev.Error = f.Message
		if !c.committed {
			ev.Status = f.Status
			c.Commit(f.Status)
			writeErr(w, f)
		}
		level := slog.LevelWarn
		if f.Status < 500 && f.Status != http.StatusTooManyRequests {
			level = slog.LevelInfo
		}
		log.Log(r.Context(), level, "request failed", "request_id", c.ID, "api", c.API, "status", f.Status,
			"model", c.Model, "account", c.account, "err", err)
	}
	now := rl.now()
	ev.Time, ev.Latency = now, now.Sub(c.Start)
	if err == nil {
		log.DebugContext(r.Context(), "request done", "request_id", c.ID, "api", c.API, "model", c.Model,
			"account", c.account, "stop_reason", ev.StopReason, "input_tokens", ev.InputTokens,
			"output_tokens", ev.OutputTokens, "duration", ev.Latency)
	}
	rl.publish(ev)
}

// ReadBody reads a request body in one allocation when its length is known.
func ReadBody(r *http.Request) ([]byte, error) { return anthropic.ReadBody(r) }

// ClientName names well-known clients from their user agent.
func ClientName(ua string) string { return anthropic.ClientName(ua) }

// upstreamReason reports the Kiro reason of err, if it is an upstream error.
func upstreamReason(err error) string {
	var up *kiro.UpstreamError
	if errors.As(err, &up) {
		return up.Reason
	}
	return ""
}
