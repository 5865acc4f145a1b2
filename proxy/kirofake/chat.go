package kirofake

import (
	"context"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// queued is an encoded Reply waiting in the queue.
type queued struct {
	frames  [][]byte
	fault   Fault
	credits float64 // sum of its Metering events
	left    int     // calls it still answers
}

// plan is what a chat call will be answered with once admitted.
type plan struct {
	frames  [][]byte
	fault   Fault
	credits float64
}

// chat serves POST /generateAssistantResponse.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	requestID := uuid.NewString()
	w.Header().Set("x-amzn-RequestId", requestID)
	p, rec, err := s.admit(r)
	if errors.Is(err, errClientGone) {
		return
	}
	var ae *apiError
	if errors.As(err, &ae) {
		rec.Status, rec.Reason, rec.Message, rec.Detail = ae.Status, ae.Reason, ae.Message, ae.Detail
	} else {
		rec.Status = http.StatusOK
	}
	s.mu.Lock()
	s.records.add(rec) // before answering, so a client that got its answer finds the record
	s.mu.Unlock()
	if ae != nil {
		s.log.Info("chat refused", "account", rec.Account, "status", rec.Status, "reason", rec.Reason, "detail", rec.Detail, "request_id", requestID)
		if !sleep(r.Context(), p.fault.FirstByteDelay) {
			return
		}
		if p.fault.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(p.fault.RetryAfter.Seconds()))))
		}
		ae.write(w)
		return
	}
	s.stream(w, r, p)
	s.log.Debug("chat streamed", "account", rec.Account, "frames", len(p.frames), "duration", s.now().Sub(start), "request_id", requestID)
}

var errClientGone = errors.New("kirofake: client went away while sending the body")

// maxRawBody bounds a chat body whatever it holds (images included).
const maxRawBody = 64 << 20

// imageBytes is the size of a body's base64 image data (nil: 0).
func imageBytes(req *Request) int {
	if req == nil || req.ConversationState == nil {
		return 0
	}
	n := 0
	eachUser(req.ConversationState, func(u *UserInputMessage) {
		for _, im := range u.Images {
			if im.Source != nil {
				n += len(im.Source.Bytes)
			}
		}
	})
	return n
}

// eachUser calls f for every user turn, history first.
func eachUser(cs *ConversationState, f func(*UserInputMessage)) {
	for _, m := range cs.History {
		if m.User != nil {
			f(m.User)
		}
	}
	if u := cs.CurrentMessage.User; u != nil {
		f(u)
	}
}

// admit runs every check on a chat call and decides its answer: an error, or
// a plan to stream. It does the accounting; rec is filled but not yet stored.
func (s *Server) admit(r *http.Request) (plan, Recorded, error) {
	rec := Recorded{Time: s.now(), Header: r.Header.Clone()}
	acct, ok := s.bearer(r)
	if rec.Header.Get("Authorization") != "" {
		name := "(refused)"
		if ok {
			name = acct.name
		}
		rec.Header.Set("Authorization", name)
	}

	tooLong := r.ContentLength > maxRawBody
	if !tooLong {
		body, err := readBody(r.Body, r.ContentLength, maxRawBody)
		if err != nil {
			return plan{}, rec, errClientGone
		}
		rec.Body, tooLong = body, len(body) > maxRawBody
	}
	if !ok {
		return plan{}, rec, errBearer
	}
	rec.Account = acct.name
	s.mu.Lock()
	acct.usage.Requests++
	s.mu.Unlock()

	if err := s.checkHeaders(r.Header); err != nil {
		return plan{}, rec, err
	}
	tooLongErr := func(detail string) *apiError {
		return &apiError{Status: http.StatusBadRequest, Type: "ValidationException",
			Reason: "CONTENT_LENGTH_EXCEEDS_THRESHOLD", Message: "Input is too long.", Detail: detail}
	}
	if tooLong {
		return plan{}, rec, tooLongErr("body over " + strconv.Itoa(maxRawBody) + " bytes")
	}
	req, err := parseRequest(rec.Body)
	if len(rec.Body) > s.cfg.MaxBodyBytes {
		// The limit is on the input text: image data does not count.
		if text := len(rec.Body) - imageBytes(req); err != nil || text > s.cfg.MaxBodyBytes {
			return plan{}, rec, tooLongErr("body text (images left out) of " + strconv.Itoa(text) + " bytes, over " + strconv.Itoa(s.cfg.MaxBodyBytes))
		}
	}
	if err != nil {
		return plan{}, rec, improper("body is not the expected JSON: %v", err)
	}
	rec.Parsed = req
	if err := s.checkProfile(acct, req.ProfileARN); err != nil {
		return plan{}, rec, err
	}
	c, verr := s.validate(req)
	if verr != nil {
		return plan{}, rec, verr
	}

	s.mu.Lock()
	fault, standing := acct.fault.take()
	if !standing {
		fault, standing = s.fault.take()
	}
	if standing && fault.Status != 0 {
		s.mu.Unlock()
		return plan{fault: fault}, rec, fault.apiError()
	}
	var p plan
	scripted := len(s.queue) > 0
	if scripted {
		q := &s.queue[0]
		p = plan{frames: q.frames, fault: q.fault, credits: q.credits}
		if q.left--; q.left == 0 {
			s.queue[0] = queued{}
			s.queue = s.queue[1:]
		}
	}
	if standing {
		p.fault = fault
	}
	if p.fault.Status != 0 {
		s.mu.Unlock()
		return p, rec, p.fault.apiError()
	}
	s.mu.Unlock()

	if !scripted {
		events, credits := s.demoReply(req, c, len(rec.Body))
		p.frames, p.credits = encodeFrames(events), credits
	}
	s.mu.Lock()
	acct.usage.Streams++
	acct.usage.Credits += p.credits
	s.mu.Unlock()
	return p, rec, nil
}

// checkHeaders insists on what the Kiro IDE sends (protocol.md §2.1).
func (s *Server) checkHeaders(h http.Header) *apiError {
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct != "application/json" && ct != "application/x-amz-json-1.0" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Type: "UnsupportedMediaTypeException",
			Message: "Unsupported Media Type", Detail: "Content-Type must be application/json or application/x-amz-json-1.0"}
	}
	if t := h.Get("X-Amz-Target"); t != "" && t != "AmazonCodeWhispererStreamingService.GenerateAssistantResponse" {
		return &apiError{Status: http.StatusBadRequest, Type: "UnknownOperationException",
			Message: "Unknown operation " + t, Detail: "X-Amz-Target names another operation"}
	}
	if s.cfg.LaxHeaders {
		return nil
	}
	if !ideUserAgent(h.Get("x-amz-user-agent")) {
		return &apiError{Status: http.StatusBadRequest, Type: "ValidationException", Message: "Improperly formed request.",
			Detail: "x-amz-user-agent must contain KiroIDE-<version>-<64 hex machine id> (kirofake check; set Config.LaxHeaders to skip)"}
	}
	if _, err := uuid.Parse(h.Get("amz-sdk-invocation-id")); err != nil {
		return &apiError{Status: http.StatusBadRequest, Type: "ValidationException", Message: "Improperly formed request.",
			Detail: "amz-sdk-invocation-id must be a UUID (kirofake check; set Config.LaxHeaders to skip)"}
	}
	return nil
}

// ideUserAgent reports whether ua carries "KiroIDE-<version>-<machineId>"
// with a 64-hex-digit machine id.
func ideUserAgent(ua string) bool {
	_, rest, ok := strings.Cut(ua, "KiroIDE-")
	if !ok {
		return false
	}
	if i := strings.IndexByte(rest, ' '); i >= 0 {
		rest = rest[:i]
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 || len(rest)-i-1 != 64 {
		return false
	}
	for _, c := range rest[i+1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// readBody reads at most limit+1 bytes, so an oversized body is seen as such
// without reading all of it.
func readBody(r io.Reader, contentLength int64, limit int) ([]byte, error) {
	size := 4096
	if contentLength >= 0 && contentLength <= int64(limit) {
		size = int(contentLength) + 1 // +1: the read that sees EOF needs no growth
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r, int64(limit)+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// stream answers 200 and writes the plan's frames, one Write and Flush each,
// damaged as its fault says.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p plan) {
	ctx := r.Context()
	if !sleep(ctx, p.fault.FirstByteDelay) {
		return
	}
	frames := p.frames
	if n := p.fault.ExceptionAfterFrames; n != 0 {
		n = min(max(n, 0), len(frames))
		frames = append(frames[:n:n], p.fault.exceptionFrame())
	}
	cut := p.fault.CutAfterFrames != 0
	if cut {
		frames = frames[:min(max(p.fault.CutAfterFrames, 0), len(frames))]
	}

	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	var timer *time.Timer
	for i, f := range frames {
		if i > 0 && s.cfg.ChunkDelay > 0 {
			if timer == nil {
				timer = time.NewTimer(s.cfg.ChunkDelay)
				defer timer.Stop()
			} else {
				timer.Reset(s.cfg.ChunkDelay)
			}
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if _, err := w.Write(f); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
	if cut {
		abort(rc)
	}
}

// abort drops the connection without ending the body: the client sees the
// chunked body stop mid-stream, as when Kiro's connection breaks.
func abort(rc *http.ResponseController) {
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: the server resets the stream instead
	}
	conn.Close()
}

// sleep waits d or until ctx ends, reporting whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
