package stream

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a ResponseWriter that logs writes and flushes, and reports
// each keep-alive on a channel.
type recorder struct {
	mu    sync.Mutex
	log   []string // "w:<bytes>" and "flush"
	fail  error    // returned by Write when set
	pings chan string
	hdr   http.Header
}

func newRecorder() *recorder {
	return &recorder{pings: make(chan string, 16), hdr: http.Header{}}
}

func (r *recorder) Header() http.Header { return r.hdr }
func (r *recorder) WriteHeader(int)     {}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.log = append(r.log, "w:"+string(b))
	if string(b) == ": ping\n\n" {
		r.pings <- string(b)
	}
	return len(b), nil
}

func (r *recorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, "flush")
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *recorder) events() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, " ")
}

func ping(dst []byte) []byte { return append(dst, ": ping\n\n"...) }

func text(s string) func([]byte) []byte {
	return func(dst []byte) []byte { return append(dst, s...) }
}

// queue is an upstream with n events already waiting.
type queue struct{ n int }

func (q *queue) Ready() bool { return q.n > 0 }

func TestEmitFlushesOncePerBurst(t *testing.T) {
	rec := newRecorder()
	q := &queue{n: 2}
	sw := Start(rec, Config{Interval: time.Hour, KeepAlive: ping, Upstream: q})
	defer sw.Stop()
	steps := []struct {
		s   string
		now bool
	}{{"start ", true}, {"a ", false}, {"b ", false}, {"c ", false}, {"", false}, {"end", true}}
	for _, st := range steps {
		if err := sw.Emit(text(st.s), st.now); err != nil {
			t.Fatal(err)
		}
		if !st.now && q.n > 0 {
			q.n--
		}
	}
	// a and b arrive while more is waiting; c is the burst's last event and
	// is flushed; the empty render after it flushes though nothing is new.
	want := "w:start  flush w:a  w:b  w:c  flush w: flush w:end flush"
	if got := rec.events(); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestEmptyRenderWithoutFlushWritesNothing(t *testing.T) {
	rec := newRecorder()
	sw := Start(rec, Config{Interval: time.Hour, KeepAlive: ping, Upstream: &queue{n: 1}})
	defer sw.Stop()
	if err := sw.Emit(text(""), false); err != nil {
		t.Fatal(err)
	}
	if got := rec.events(); got != "" {
		t.Fatalf("got %q", got)
	}
}

func TestKeepAliveWhileSilent(t *testing.T) {
	rec := newRecorder()
	sw := Start(rec, Config{Interval: time.Millisecond, KeepAlive: ping})
	for range 3 { // the timer re-arms itself after each keep-alive
		<-rec.pings
	}
	sw.Stop()
	n := strings.Count(rec.events(), "w:: ping")
	if err := sw.Emit(text("x"), true); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(rec.events(), "w:: ping"); got != n {
		t.Fatalf("%d keep-alives after Stop", got-n)
	}
	if !strings.HasSuffix(rec.events(), "w:x flush") {
		t.Fatalf("log %q", rec.events())
	}
}

func TestEmptyKeepAliveStopsKeepAlives(t *testing.T) {
	rec := newRecorder()
	called := make(chan struct{}, 4)
	sw := Start(rec, Config{Interval: time.Millisecond, KeepAlive: func(dst []byte) []byte {
		called <- struct{}{}
		return dst
	}})
	<-called
	sw.Stop()
	if got := rec.events(); got != "" {
		t.Fatalf("got %q", got)
	}
	if len(called) != 0 {
		t.Fatal("the timer was re-armed after an empty keep-alive")
	}
}

func TestKeepAliveWriteFailureCancels(t *testing.T) {
	rec := newRecorder()
	gone := errors.New("broken pipe")
	rec.setFail(gone)
	canceled := make(chan struct{})
	sw := Start(rec, Config{Interval: time.Millisecond, KeepAlive: ping, Cancel: func() { close(canceled) }})
	defer sw.Stop()
	<-canceled
	err := sw.Err()
	if !errors.Is(err, ErrClientGone) || !errors.Is(err, gone) {
		t.Fatalf("Err() = %v", err)
	}
	if err := sw.Emit(text("late"), true); !errors.Is(err, ErrClientGone) {
		t.Fatalf("Emit after failure = %v", err)
	}
}

func TestEmitWriteFailure(t *testing.T) {
	rec := newRecorder()
	sw := Start(rec, Config{Interval: time.Hour, KeepAlive: ping})
	defer sw.Stop()
	if err := sw.Err(); err != nil {
		t.Fatal(err)
	}
	rec.setFail(errors.New("reset"))
	if err := sw.Emit(text("a"), false); !errors.Is(err, ErrClientGone) {
		t.Fatalf("Emit = %v", err)
	}
	rec.setFail(nil)
	if err := sw.Emit(text("b"), true); !errors.Is(err, ErrClientGone) {
		t.Fatalf("Emit after failure = %v", err)
	}
	if got := rec.events(); got != "" {
		t.Fatalf("wrote %q after a failure", got)
	}
}

// flushFailer fails its flushes the way a ResponseController reports a
// client that left.
type flushFailer struct{ *recorder }

func (f flushFailer) FlushError() error { return errors.New("flush failed") }

func TestFlushFailure(t *testing.T) {
	sw := Start(flushFailer{newRecorder()}, Config{Interval: time.Hour, KeepAlive: ping})
	defer sw.Stop()
	if err := sw.Emit(text("a"), true); !errors.Is(err, ErrClientGone) || !strings.Contains(err.Error(), "flush") {
		t.Fatalf("Emit = %v", err)
	}
}

// plain is a ResponseWriter that cannot flush: the writer does without.
type plain struct{ rec *recorder }

func (p plain) Header() http.Header         { return p.rec.Header() }
func (p plain) Write(b []byte) (int, error) { return p.rec.Write(b) }
func (p plain) WriteHeader(code int)        { p.rec.WriteHeader(code) }

func TestWriterWithoutFlush(t *testing.T) {
	rec := newRecorder()
	sw := Start(plain{rec}, Config{Interval: time.Hour, KeepAlive: ping})
	defer sw.Stop()
	if err := sw.Emit(text("a"), true); err != nil {
		t.Fatal(err)
	}
	if got := rec.events(); got != "w:a" {
		t.Fatalf("got %q", got)
	}
}
