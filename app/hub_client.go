package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kirotray/kirotray/proxy/activity"
	"github.com/kirotray/kirotray/proxy/redact"
)

// The websocket client of the proxy's /ws: the window (and anything else in
// process that wants to behave like an outside tool) follows the live events
// through StreamEvents. The wire format is documented in docs/events.md.

// DefaultEventsBuffer is how many envelopes StreamEvents holds for a reader
// that is behind, when EventsOptions.Buffer is zero.
const DefaultEventsBuffer = 1024

const (
	defaultEventsMinBackoff = 250 * time.Millisecond
	defaultEventsMaxBackoff = 30 * time.Second
	// A connection that stayed up this long was a good one: the next
	// reconnection starts again from MinBackoff.
	eventsStableAfter = 10 * time.Second
	// The hub pings every pingPeriod; a connection silent for two of them
	// (no event, no ping) has lost its peer.
	eventsReadTimeout = 2 * pingPeriod
	// Envelopes are small; the largest is an "accounts" list.
	eventsReadLimit        = 4 << 20
	eventsHandshakeTimeout = 10 * time.Second

	// EventConnection is the type of the envelopes StreamEvents adds to the
	// stream: the hub never sends one. Data is a ConnectionStatus as JSON.
	EventConnection = "connection"

	keyRefusedText = "the proxy refused the key"
)

// ConnectionStatus is the Data of a "connection" envelope, as JSON
// (json.RawMessage): decode it with json.Unmarshal.
type ConnectionStatus struct {
	Connected bool `json:"connected"`
	// Error says, in words for people, why the proxy would not take the
	// connection ("the proxy refused the key"). It is empty while the proxy
	// is simply not running: that is a normal state, not an error.
	Error string `json:"error,omitempty"`
}

// EventsOptions configures StreamEvents. BaseURL and Key are required.
type EventsOptions struct {
	// BaseURL returns the proxy's base URL ("http://127.0.0.1:8317", as in
	// AppState.BaseURL). It is called before every dial, so a proxy that
	// comes back on another port is followed. An unspecified host
	// (0.0.0.0, ::) is dialled on loopback.
	BaseURL func() string
	// Key returns the proxy's API key (App.APIKey); it is called before
	// every dial and sent in the x-api-key header, never in the URL.
	Key func() (redact.Secret, error)
	// Wake ends a wait between two attempts at once: the App's state
	// watcher sends on it when the proxy becomes Running, so the stream
	// resumes without waiting out the backoff. Sends should not block
	// (capacity 1, drop when full). A value sent while connected is kept by
	// the channel and only shortens the next wait. Nil: backoff only.
	Wake <-chan struct{}
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles after each failure (with jitter: a wait is between half and
	// all of the current step). Zero means 250 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Buffer bounds the envelopes held for a slow reader; zero means
	// DefaultEventsBuffer. See StreamEvents for what happens when it fills.
	Buffer int
	// Dialer dials the websocket; nil means one with a 10 s handshake
	// timeout and no HTTP proxy (the key must not travel through one).
	Dialer *websocket.Dialer
	// Logger receives the client's logs; nil means slog.Default().
	Logger *slog.Logger

	hooks *eventsHooks // tests only
}

// eventsHooks lets tests drive the clock and watch the queue.
type eventsHooks struct {
	after  func(time.Duration) (<-chan time.Time, func()) // nil: time.NewTimer
	now    func() time.Time                               // nil: time.Now
	queued func(eventsQueueStats)                         // called by the pump after each envelope it takes in
}

type eventsQueueStats struct {
	Received int // envelopes taken in since the start, including those dropped
	Queued   int // envelopes held now
	Dropped  int // "request_progress" envelopes dropped since the start
}

// StreamEvents follows the proxy's live events (GET /ws) and returns them on
// a channel, decoded like Hub.Subscribe's: Data is an activity.Request for
// type "request" and a json.RawMessage for every other type. The channel is
// closed when ctx ends, once every goroutine of the client has returned.
//
// The client reconnects on its own. After a failed dial or a dropped
// connection it waits MinBackoff, doubling up to MaxBackoff while attempts
// keep failing, or less when a value arrives on Wake; a connection that
// lasted resets the wait to MinBackoff. A 401 (the proxy refused the key)
// goes straight to MaxBackoff: retrying fast would not help. Every wait is
// jittered between half and all of its step. It never polls: while the
// proxy is stopped it sleeps on one timer.
//
// It adds "connection" envelopes (Data: ConnectionStatus as JSON) when the
// state of the connection changes: {"connected":true} once connected,
// {"connected":false} when the connection dropped or could not be made
// (with "error" when the proxy refused it), so a window can show
// "reconnecting…". Events published while disconnected are lost: after
// {"connected":true}, re-read whatever state the window shows.
//
// A slow reader never makes the hub drop this client for a burst of
// progress, and memory stays bounded: the client keeps reading the socket
// into a queue of Buffer envelopes. While the queue is full it drops the
// oldest "request_progress" envelope (each one is superseded by the next of
// its request, and by request_finished). At any fill level, a newer "state"
// or "accounts" envelope replaces a queued one of the same type (they are
// snapshots) and takes its place at the back.
// request_started, request_finished, "connection" and other types are never
// dropped by the client: when the queue holds only those, the client stops
// reading the socket, so backpressure goes to the hub, which drops this
// subscriber once 256 messages are waiting for it (it never blocks the
// proxy); the client then reconnects and reports {"connected":false} and
// {"connected":true} in order, so the reader knows events may be missing.
func StreamEvents(ctx context.Context, o EventsOptions) <-chan Envelope {
	if o.BaseURL == nil || o.Key == nil {
		panic("app: StreamEvents needs EventsOptions.BaseURL and Key")
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = defaultEventsMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = defaultEventsMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Buffer <= 0 {
		o.Buffer = DefaultEventsBuffer
	}
	if o.Dialer == nil {
		o.Dialer = &websocket.Dialer{HandshakeTimeout: eventsHandshakeTimeout} // Proxy nil: direct
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := eventsHooks{}
	if o.hooks != nil {
		h = *o.hooks
	}
	if h.after == nil {
		h.after = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTimer(d)
			return t.C, func() { t.Stop() }
		}
	}
	if h.now == nil {
		h.now = time.Now
	}
	c := &eventsClient{
		o: o, hooks: h, wake: o.Wake,
		log: o.Logger.With("component", "events"),
		in:  make(chan Envelope),
		bo:  backoff{min: o.MinBackoff, max: o.MaxBackoff},
	}
	out := make(chan Envelope)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		c.run(ctx)
	}()
	go func() {
		defer close(out)
		pumpEvents(ctx, c.in, out, newEventQueue(o.Buffer), h.queued)
		<-runDone // run leaves as soon as ctx ends: it never waits on the pump alone
	}()
	return out
}

// eventsClient is the connection side of StreamEvents: one goroutine that
// dials, reads and waits, and hands envelopes to the pump through in.
type eventsClient struct {
	o     EventsOptions
	hooks eventsHooks
	log   *slog.Logger
	wake  <-chan struct{}
	in    chan Envelope
	bo    backoff

	reported *ConnectionStatus // the last "connection" envelope sent
}

func (c *eventsClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			st := ConnectionStatus{}
			var refused *refusedError
			switch {
			case errors.As(err, &refused) && refused.status == http.StatusUnauthorized:
				st.Error = keyRefusedText
				c.bo.giveUp()
			case errors.As(err, &refused):
				st.Error = fmt.Sprintf("the proxy refused the connection (%d %s)", refused.status, http.StatusText(refused.status))
				c.bo.fail()
			case errors.Is(err, errNoKey):
				st.Error = "the API key could not be read"
				c.bo.fail()
			case errors.Is(err, errBadURL):
				st.Error = "the proxy address is not a valid URL"
				c.bo.giveUp()
			default: // not listening (yet): the normal state of a stopped proxy
				c.bo.fail()
			}
			c.logDialFailure(st, err)
			if !c.report(ctx, st) || !c.wait(ctx, c.bo.delay()) {
				return
			}
			continue
		}
		start := c.hooks.now()
		c.log.Debug("connected")
		if !c.report(ctx, ConnectionStatus{Connected: true}) {
			_ = conn.Close()
			return
		}
		err = c.read(ctx, conn)
		if ctx.Err() != nil {
			return
		}
		c.log.Debug("disconnected", "err", err)
		if c.hooks.now().Sub(start) >= eventsStableAfter {
			c.bo.reset()
		}
		c.bo.fail()
		if !c.report(ctx, ConnectionStatus{}) || !c.wait(ctx, c.bo.delay()) {
			return
		}
	}
}

func (c *eventsClient) logDialFailure(st ConnectionStatus, err error) {
	switch {
	case st.Error == "":
		c.log.Debug("proxy not reachable", "err", err)
	case c.reported == nil || c.reported.Error != st.Error: // once per change, not per attempt
		c.log.Warn("live events: "+st.Error, "err", err)
	}
}

// report sends a "connection" envelope if the status changed; false when
// ctx ended first.
func (c *eventsClient) report(ctx context.Context, st ConnectionStatus) bool {
	if c.reported != nil && *c.reported == st {
		return true
	}
	c.reported = &st
	data, _ := json.Marshal(st) // a struct of a bool and a string: cannot fail
	return c.send(ctx, Envelope{Type: EventConnection, Data: json.RawMessage(data)})
}

func (c *eventsClient) send(ctx context.Context, env Envelope) bool {
	select {
	case c.in <- env:
		return true
	case <-ctx.Done():
		return false
	}
}

// wait sleeps d, or until a value arrives on Wake; false when ctx ended.
func (c *eventsClient) wait(ctx context.Context, d time.Duration) bool {
	tc, stop := c.hooks.after(d)
	defer stop()
	for {
		select {
		case <-tc:
			return true
		case _, ok := <-c.wake:
			if ok {
				return true
			}
			c.wake = nil // closed: never wakes again, must not spin
		case <-ctx.Done():
			return false
		}
	}
}

var (
	errNoKey  = errors.New("no API key")
	errBadURL = errors.New("bad proxy URL")
)

// refusedError is an HTTP answer other than 101 to the upgrade request.
type refusedError struct{ status int }

func (e *refusedError) Error() string {
	return fmt.Sprintf("websocket upgrade refused: %d %s", e.status, http.StatusText(e.status))
}

func (c *eventsClient) dial(ctx context.Context) (*websocket.Conn, error) {
	u, err := eventsURL(c.o.BaseURL())
	if err != nil {
		return nil, err
	}
	key, err := c.o.Key()
	if err != nil || key.IsZero() {
		// The key's own error may name the keychain but never holds the key.
		return nil, errors.Join(errNoKey, err)
	}
	hdr := http.Header{"X-Api-Key": {key.Reveal()}}
	conn, resp, err := c.o.Dialer.DialContext(ctx, u, hdr)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &refusedError{status: resp.StatusCode}
		}
		return nil, err
	}
	return conn, nil
}

// eventsURL turns the proxy's base URL into its /ws URL.
func eventsURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w %q", errBadURL, base)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("%w %q", errBadURL, base)
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		loop := "127.0.0.1"
		if ip.To4() == nil {
			loop = "::1"
		}
		if p := u.Port(); p != "" {
			u.Host = net.JoinHostPort(loop, p)
		} else if ip.To4() == nil {
			u.Host = "[" + loop + "]"
		} else {
			u.Host = loop
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", nil
	return u.String(), nil
}

// read hands the connection's envelopes to the pump until the connection
// ends or ctx does; it returns once the connection is closed.
func (c *eventsClient) read(ctx context.Context, conn *websocket.Conn) error {
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { // ends a blocked read when ctx ends
		defer close(watched)
		select {
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = conn.Close()
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		<-watched
		_ = conn.Close()
	}()

	conn.SetReadLimit(eventsReadLimit)
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(eventsReadTimeout))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil // like gorilla's default handler
		}
		return err
	})
	for {
		// Set before every read, not once: a read that follows a long
		// wait on a full queue must not inherit an old deadline.
		_ = conn.SetReadDeadline(time.Now().Add(eventsReadTimeout))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		env, ok := decodeEvent(msg)
		if !ok {
			c.log.Debug("skipped an undecodable event", "bytes", len(msg))
			continue
		}
		if !c.send(ctx, env) {
			return ctx.Err()
		}
	}
}

// requestPrefix starts every "request" envelope the hub sends (encoding/json
// writes Envelope's fields in order).
var requestPrefix = []byte(`{"type":"request","data":`)

// decodeEvent is decodeEnvelope with a shortcut for the hub's "request"
// envelopes, most of the stream under load: their data is decoded in one
// pass instead of two. Anything else, or anything the shortcut cannot
// read, takes decodeEnvelope.
func decodeEvent(msg []byte) (Envelope, bool) {
	if data, ok := bytes.CutPrefix(msg, requestPrefix); ok && len(data) > 0 && data[len(data)-1] == '}' {
		var ev activity.Request
		if json.Unmarshal(data[:len(data)-1], &ev) == nil {
			return Envelope{Type: "request", Data: ev}, true
		}
	}
	return decodeEnvelope(msg)
}

// backoff is the wait between attempts: cur doubles from min to max.
type backoff struct{ min, max, cur time.Duration }

func (b *backoff) reset()  { b.cur = 0 }
func (b *backoff) giveUp() { b.cur = b.max }
func (b *backoff) fail() {
	switch {
	case b.cur < b.min:
		b.cur = b.min
	case b.cur > b.max/2:
		b.cur = b.max
	default:
		b.cur *= 2
	}
}

// delay is the current step with jitter: between half of it and all of it.
func (b *backoff) delay() time.Duration {
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

// pumpEvents moves envelopes from in to out through q, which absorbs a
// reader that is behind. It returns when ctx ends.
func pumpEvents(ctx context.Context, in <-chan Envelope, out chan<- Envelope, q *eventQueue, hook func(eventsQueueStats)) {
	received := 0
	for {
		var inc <-chan Envelope
		if q.acceptsMore() {
			inc = in // else: backpressure to the socket (see StreamEvents)
		}
		var outc chan<- Envelope
		var head Envelope
		if q.len() > 0 {
			outc, head = out, q.front()
		}
		select {
		case env := <-inc:
			q.add(env)
			received++
			if hook != nil {
				hook(eventsQueueStats{Received: received, Queued: q.len(), Dropped: q.dropped})
			}
		case outc <- head:
			q.pop()
		case <-ctx.Done():
			return
		}
	}
}

// eventQueue is a ring of at most cap envelopes that drops the oldest
// request_progress when full and keeps one "state" and one "accounts".
type eventQueue struct {
	buf      []Envelope
	head, n  int
	progress int            // request_progress envelopes held
	snaps    map[string]int // snapshot envelopes held, by type
	dropped  int
}

func newEventQueue(size int) *eventQueue {
	return &eventQueue{buf: make([]Envelope, max(size, 1)), snaps: map[string]int{}}
}

func (q *eventQueue) len() int          { return q.n }
func (q *eventQueue) at(i int) Envelope { return q.buf[(q.head+i)%len(q.buf)] }
func (q *eventQueue) front() Envelope   { return q.at(0) }

// acceptsMore reports whether add can take any envelope without growing
// past cap: there is room, or a progress envelope to drop.
func (q *eventQueue) acceptsMore() bool { return q.n < len(q.buf) || q.progress > 0 }

func isProgress(env Envelope) bool {
	ev, ok := env.Data.(activity.Request)
	return ok && env.Type == "request" && ev.Kind == activity.RequestProgress
}

// isSnapshot: an envelope that supersedes any earlier one of its type.
func isSnapshot(typ string) bool { return typ == "state" || typ == "accounts" }

// add appends env; call it only when acceptsMore.
func (q *eventQueue) add(env Envelope) {
	if isSnapshot(env.Type) && q.snaps[env.Type] > 0 {
		for i := range q.n {
			if q.at(i).Type == env.Type {
				q.removeAt(i)
				break
			}
		}
	}
	if q.n == len(q.buf) {
		for i := range q.n {
			if isProgress(q.at(i)) {
				q.removeAt(i)
				q.dropped++
				break
			}
		}
	}
	if q.n == len(q.buf) {
		panic("app: eventQueue.add on a full queue") // acceptsMore was not checked
	}
	q.buf[(q.head+q.n)%len(q.buf)] = env
	q.n++
	q.count(env, 1)
}

func (q *eventQueue) pop() {
	q.count(q.front(), -1)
	q.buf[q.head] = Envelope{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
}

// removeAt removes the i-th envelope from the front, moving the ones before
// it back by one: the oldest are near the front, so this is short.
func (q *eventQueue) removeAt(i int) {
	size := len(q.buf)
	q.count(q.at(i), -1)
	for j := i; j > 0; j-- {
		q.buf[(q.head+j)%size] = q.buf[(q.head+j-1)%size]
	}
	q.buf[q.head] = Envelope{}
	q.head = (q.head + 1) % size
	q.n--
}

func (q *eventQueue) count(env Envelope, d int) {
	if isProgress(env) {
		q.progress += d
	}
	if isSnapshot(env.Type) {
		q.snaps[env.Type] += d
	}
}
