package kiro

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

// Stream is the answer of one generateAssistantResponse call. Next returns
// each event as soon as its frame is complete: the body is decoded as it
// arrives, nothing is buffered ahead. Next is not safe for concurrent use;
// Close may be called from another goroutine to abort a blocked Next.
type Stream struct {
	// ctx is the caller's context, kept to tell a client hang-up from an
	// upstream failure; the stream lives exactly as long as the request.
	ctx     context.Context
	body    io.ReadCloser
	dec     *eventstream.Decoder
	wd      *watchdog
	cancel  context.CancelFunc // cancels this attempt's request
	names   map[string]string  // shortened tool name → original
	account string
	model   Model
	convID  string
	trimmed int // messages of the client's conversation left out (TrimHistory)

	pending Event // the first event, read by Send
	err     error // sticky: io.EOF at the clean end
	once    sync.Once
}

func newStream(ctx context.Context, body io.ReadCloser, wd *watchdog, cancel context.CancelFunc, p *Payload, account string) *Stream {
	return &Stream{
		ctx:     ctx,
		body:    body,
		dec:     eventstream.NewDecoder(idleReader{r: body, wd: wd}),
		wd:      wd,
		cancel:  cancel,
		names:   p.ToolNames,
		account: account,
		model:   p.Model,
		convID:  p.ConversationID,
	}
}

// Next returns the next event. It returns io.EOF at the clean end of the
// stream; the caller's context error when the caller's context ended; an
// error wrapping ErrIdleTimeout when Kiro sent nothing for IdleTimeout; any
// other error when the stream broke (a truncated or corrupt frame, an
// unreadable payload). Errors are sticky. Tool names are the client's
// originals; Exception events are returned like the others (the stream's
// useful part ends with them).
func (s *Stream) Next() (Event, error) {
	if ev := s.pending; ev != nil {
		s.pending = nil
		return ev, nil
	}
	if s.err != nil {
		return nil, s.err
	}
	m, err := s.dec.Next()
	if err != nil {
		s.err = s.readError(err)
		if s.err == io.EOF {
			s.wd.stop()
		}
		return nil, s.err
	}
	ev, err := s.event(&m)
	if err != nil {
		s.err = err
		return nil, err
	}
	return ev, nil
}

// event parses a frame and maps a shortened tool name back.
func (s *Stream) event(m *eventstream.Message) (Event, error) {
	ev, err := ParseEvent(m)
	if err != nil {
		return nil, err
	}
	if tu, ok := ev.(ToolUse); ok && s.names != nil {
		if orig, ok := s.names[tu.Name]; ok {
			tu.Name = orig
			return tu, nil
		}
	}
	return ev, nil
}

func (s *Stream) readError(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return io.EOF
	case s.ctx.Err() != nil:
		return s.ctx.Err()
	case s.wd.expired():
		return fmt.Errorf("kiro: stream: %w", ErrIdleTimeout)
	}
	return fmt.Errorf("kiro: stream: %w", err)
}

// Close ends the stream and releases the connection. It is idempotent and
// always returns nil.
func (s *Stream) Close() error {
	s.once.Do(func() {
		s.wd.stop()
		s.cancel()
		s.body.Close()
	})
	return nil
}

// Ready reports whether Next will return without waiting for the network:
// an event is already buffered. A handler that flushes its client after each
// event can use it to flush a burst of events once.
func (s *Stream) Ready() bool {
	return s.pending != nil || s.err != nil || s.dec.Ready()
}

// newEventStream returns a stream of one event, for answers that are not a
// generateAssistantResponse stream (a web search).
func newEventStream(ev Event, account string, model Model, convID string) *Stream {
	return &Stream{
		ctx:     context.Background(),
		body:    http.NoBody,
		cancel:  func() {},
		account: account,
		model:   model,
		convID:  convID,
		pending: ev,
		err:     io.EOF,
	}
}

// Trimmed is how many of the client's messages were left out to fit the
// upstream's input limit (Config.TrimHistory); 0 when none were.
func (s *Stream) Trimmed() int { return s.trimmed }

// Account is the name of the account that serves the stream.
func (s *Stream) Account() string { return s.account }

// Model is the Kiro model the request asked for.
func (s *Stream) Model() Model { return s.model }

// ConversationID is the conversationId the request carried.
func (s *Stream) ConversationID() string { return s.convID }

// watchdog cancels a call when no bytes arrive for d: one timer, pushed back
// on every read, instead of a goroutine per stream.
type watchdog struct {
	d     time.Duration
	timer *time.Timer
	fired atomic.Bool
}

func newWatchdog(d time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{d: d}
	w.timer = time.AfterFunc(d, func() {
		w.fired.Store(true)
		cancel()
	})
	return w
}

// A nil watchdog (a stream with nothing to read) does nothing.
func (w *watchdog) touch() {
	if w != nil {
		w.timer.Reset(w.d)
	}
}

func (w *watchdog) stop() {
	if w != nil {
		w.timer.Stop()
	}
}

func (w *watchdog) expired() bool { return w != nil && w.fired.Load() }

// idleReader pushes the watchdog back whenever bytes arrive.
type idleReader struct {
	r  io.Reader
	wd *watchdog
}

func (r idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 && !r.wd.expired() {
		r.wd.touch()
	}
	return n, err
}
