// Package stream writes a streamed answer to a client for every front end:
// bytes the front end renders, written as they come and flushed once per
// burst of upstream events that arrived together, with a keep-alive whenever
// the client has seen nothing for a while. The keep-alive is a timer
// callback, not a goroutine, and shares a mutex with the writes.
//
// It knows no wire format and no upstream: rendering is the front end's job,
// reading the upstream the caller's; a [Writer] only writes, flushes and
// keeps the stream alive.
package stream

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// ErrClientGone is wrapped by errors writing to a client that left.
var ErrClientGone = errors.New("stream: client went away")

// Buffered is implemented by upstream streams that can tell whether another
// event is already waiting (kiro.Stream): a burst of frames that arrived
// together is then written with one flush instead of one each.
type Buffered interface{ Ready() bool }

// Config describes a Writer.
type Config struct {
	// Interval is how long the client may see nothing before a keep-alive
	// is written; it must be positive.
	Interval time.Duration
	// KeepAlive appends what keeps an idle stream open (an SSE ping event
	// or comment). When it appends nothing, keep-alives stop.
	KeepAlive func(dst []byte) []byte
	// Cancel is called, once, when a keep-alive cannot be written: the
	// client is gone, and the caller's upstream read should end. Nil means
	// nothing to cancel.
	Cancel func()
	// Upstream, if set, is asked after each burst whether more events are
	// already waiting; nil means every write is flushed at once.
	Upstream Buffered
}

// Writer writes one streamed response whose status line the caller has
// already sent. Emit is called from one goroutine; the keep-alive timer
// runs on another, and a mutex keeps their writes apart. Call Stop when the
// answer ends.
type Writer struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	cfg      Config
	mu       sync.Mutex // guards everything below, and writes to w
	buf      []byte
	finished bool
	err      error // the first write error; every later Emit returns it
	timer    *time.Timer
}

// Start returns a Writer for w and arms its keep-alive timer.
func Start(w http.ResponseWriter, cfg Config) *Writer {
	sw := &Writer{w: w, rc: http.NewResponseController(w), cfg: cfg}
	// Held so that a callback firing at once finds the timer it re-arms.
	sw.mu.Lock()
	sw.timer = time.AfterFunc(cfg.Interval, sw.keepAlive)
	sw.mu.Unlock()
	return sw
}

// keepAlive writes a keep-alive and re-arms the timer, unless the stream has
// ended or failed.
func (sw *Writer) keepAlive() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.finished || sw.err != nil {
		return
	}
	sw.buf = sw.cfg.KeepAlive(sw.buf[:0])
	if len(sw.buf) == 0 {
		return
	}
	if sw.err = sw.write(sw.buf, true); sw.err != nil {
		if sw.cfg.Cancel != nil {
			sw.cfg.Cancel() // the client is gone: unblock the upstream read
		}
		return
	}
	sw.timer.Reset(sw.cfg.Interval)
}

// Emit writes what render appends to its argument. It flushes when now is
// set or when the upstream has no further event waiting; otherwise the
// bytes wait in the ResponseWriter's buffer for the rest of the burst. Only
// a flush counts as activity for the keep-alive. After a failed write, Emit
// writes nothing and returns that write's error, which wraps ErrClientGone.
func (sw *Writer) Emit(render func(dst []byte) []byte, now bool) error {
	flush := now || sw.cfg.Upstream == nil || !sw.cfg.Upstream.Ready()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.err != nil {
		return sw.err
	}
	sw.buf = render(sw.buf[:0])
	if len(sw.buf) == 0 && !flush {
		return nil
	}
	if sw.err = sw.write(sw.buf, flush); sw.err != nil {
		return sw.err
	}
	if flush {
		sw.timer.Reset(sw.cfg.Interval)
	}
	return nil
}

// Err returns the error of the first failed write, or nil.
func (sw *Writer) Err() error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.err
}

// Stop ends the keep-alives. A keep-alive callback already running finishes
// first; none writes after Stop returns.
func (sw *Writer) Stop() {
	sw.mu.Lock()
	sw.finished = true
	sw.mu.Unlock()
	sw.timer.Stop()
}

func (sw *Writer) write(b []byte, flush bool) error {
	if _, err := sw.w.Write(b); err != nil {
		return fmt.Errorf("%w: write: %w", ErrClientGone, err)
	}
	if !flush {
		return nil
	}
	if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("%w: flush: %w", ErrClientGone, err)
	}
	return nil
}
