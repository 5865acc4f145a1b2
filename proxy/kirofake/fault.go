package kirofake

import (
	"net/http"
	"time"
)

// Fault makes chat calls fail the ways Kiro fails (protocol.md §10.1). A
// Status answers an error instead of a stream; the other fields damage a
// stream that is otherwise answered normally. Fault is comparable; the zero
// value is no fault.
type Fault struct {
	// Status, when non-zero, is answered with {"message","reason"} instead of
	// a stream, e.g. 429, 402, 403, 500, 503. A status fault does not consume
	// a queued Reply (unless it is that Reply's own fault).
	Status int
	// Reason is the body's reason code ("" is sent as null), e.g.
	// MONTHLY_REQUEST_COUNT, TEMPORARILY_SUSPENDED.
	Reason string
	// Message is the body's message; "" gives a standard one for the status.
	Message string
	// RetryAfter, when positive, is sent as a Retry-After header (whole seconds, rounded up).
	RetryAfter time.Duration

	// FirstByteDelay holds back the response, status line included.
	FirstByteDelay time.Duration
	// CutAfterFrames > 0 drops the connection after that many frames (or
	// after the last, if fewer), without ending the chunked body; < 0 drops it
	// right after the response headers.
	CutAfterFrames int
	// ExceptionAfterFrames > 0 ends the stream with an exception frame after
	// that many frames (or after the last); < 0 sends it as the first frame.
	ExceptionAfterFrames int
	// Exception is that frame; a zero Type means InternalServerException.
	Exception Exception

	// Times is how many calls the fault applies to. For SetFault and
	// SetAccountFault 0 means every call until cleared; for a Reply, 0 and 1
	// both mean its one call, and n > 1 answers n calls with the same reply
	// (e.g. three 429s in a row).
	Times int
}

// Throttled is Kiro's 429 ThrottlingException.
func Throttled() Fault {
	return Fault{Status: http.StatusTooManyRequests, Message: "Rate exceeded", RetryAfter: time.Second}
}

// MonthlyQuota is the 402 of an account whose monthly credits are used up.
func MonthlyQuota() Fault {
	return Fault{Status: http.StatusPaymentRequired, Reason: "MONTHLY_REQUEST_COUNT",
		Message: "You have reached the limit for requests for this month. Upgrade your plan or wait for the monthly reset."}
}

// Suspended is the 403 of a suspended account.
func Suspended() Fault {
	return Fault{Status: http.StatusForbidden, Reason: "TEMPORARILY_SUSPENDED",
		Message: "Your User ID temporarily is suspended. We detected unusual activity on your account."}
}

// InternalError is a 500 InternalServerException.
func InternalError() Fault { return Fault{Status: http.StatusInternalServerError} }

// Unavailable is a 503 ServiceUnavailableException ("high load").
func Unavailable() Fault { return Fault{Status: http.StatusServiceUnavailable} }

// apiError returns the answer of a status fault.
func (f Fault) apiError() *apiError {
	e := &apiError{Status: f.Status, Reason: f.Reason, Message: f.Message, Detail: "scripted fault"}
	switch {
	case f.Status == http.StatusTooManyRequests:
		e.Type = "ThrottlingException"
	case f.Status == http.StatusPaymentRequired:
		e.Type = "ServiceQuotaExceededException"
	case f.Status == http.StatusForbidden:
		e.Type = "AccessDeniedException"
	case f.Status == http.StatusServiceUnavailable:
		e.Type = "ServiceUnavailableException"
	case f.Status >= 500:
		e.Type = "InternalServerException"
	case f.Status >= 400:
		e.Type = "ValidationException"
	}
	if e.Message == "" {
		switch {
		case f.Status == http.StatusServiceUnavailable:
			e.Message = "Service is temporarily unavailable due to unexpectedly high load. Please try again later."
		case f.Status >= 500:
			e.Message = "Encountered an unexpected error when processing the request, please try again."
		default:
			e.Message = http.StatusText(f.Status)
		}
	}
	return e
}

func (f Fault) exceptionFrame() []byte {
	x := f.Exception
	if x.Type == "" {
		x = Exception{Type: "InternalServerException", Message: "Encountered an unexpected error when processing the request, please try again."}
	}
	return x.appendFrame(nil)
}

// faultSlot is a standing fault with its remaining count.
type faultSlot struct {
	f    Fault
	left int // < 0: until cleared
}

func (s *faultSlot) set(f Fault) {
	s.f = f
	switch {
	case f == Fault{}:
		s.left = 0
	case f.Times > 0:
		s.left = f.Times
	default:
		s.left = -1
	}
}

// take returns the fault for one call, counting it.
func (s *faultSlot) take() (Fault, bool) {
	if s.left == 0 {
		return Fault{}, false
	}
	f := s.f
	if s.left > 0 {
		if s.left--; s.left == 0 {
			s.f = Fault{}
		}
	}
	return f, true
}
