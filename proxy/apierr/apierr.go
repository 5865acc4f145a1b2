// Package apierr classifies the errors of a model call, once, into a neutral
// [Failure]: an HTTP status, an error type, a code clients act on, a message
// and a retry delay. Each front end renders a Failure in its own error JSON
// (Anthropic, OpenAI, Gemini) and may pick its own status for a type
// (Anthropic answers overloaded_error with 529).
//
// It knows the kiro package's typed errors and the standard library's; an
// error of a front end (a request error, a stream's error event) says what
// it is by implementing [Describer]. It writes nothing.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
)

// Error types, in Anthropic's vocabulary: the translator's error events use
// it, and the other front ends map it to theirs.
const (
	InvalidRequest  = "invalid_request_error"
	Authentication  = "authentication_error"
	Permission      = "permission_error"
	NotFound        = "not_found_error"
	RequestTooLarge = "request_too_large"
	RateLimit       = "rate_limit_error"
	API             = "api_error"
	Overloaded      = "overloaded_error"
)

// Codes that clients act on, in OpenAI's vocabulary (Codex compacts on
// context_length_exceeded and stops retrying on insufficient_quota).
const (
	CodeContextLength = "context_length_exceeded"
	CodeQuota         = "insufficient_quota"
	CodeRateLimit     = "rate_limit_exceeded"
	CodeModelNotFound = "model_not_found"
	CodeOverloaded    = "server_is_overloaded"
)

// ErrInvalidRequest is wrapped by the front ends' own ErrInvalidRequest
// sentinels, so that an invalid request is recognised whichever front end
// parsed it.
var ErrInvalidRequest = errors.New("invalid request")

// Failure is how a request failed, in neutral terms: an HTTP status, an
// error type (one of the type constants), an optional code, and a message
// chosen here or taken from the client's own request, or from an upstream
// message the kiro package already scrubbed: never a secret.
type Failure struct {
	Status  int
	Type    string // InvalidRequest, Overloaded …
	Code    string // one of the Code constants, or ""
	Message string
	Param   string // the request field at fault, for invalid requests
	// Tokens and Limit describe a prompt that is too long (Code
	// CodeContextLength): its size and the model's window, in tokens.
	Tokens, Limit int
	// RetryAfter is how long the client should wait before retrying: the
	// upstream's Retry-After, or until an account is usable again, in whole
	// seconds; 0 if unknown.
	RetryAfter time.Duration
	Err        error // the cause, for the log
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return f.Message + ": " + f.Err.Error()
	}
	return f.Message
}

func (f *Failure) Unwrap() error { return f.Err }

// Describer is implemented by errors that know the Failure they are: a
// front end's request errors, the translator's stream errors. Classify sets
// the returned Failure's Err.
type Describer interface {
	Describe() *Failure
}

// Classify maps any error of a call to the Failure the client sees. A
// *Failure in err's chain is returned as it is.
func Classify(err error) *Failure {
	var (
		f      *Failure
		d      Describer
		tooBig *http.MaxBytesError
		up     *kiro.UpstreamError
		long   *kiro.TooLongError
		none   *kiro.NoAccountError
	)
	switch {
	case errors.As(err, &f):
		return f
	case errors.As(err, &d):
		f = d.Describe()
		f.Err = err
		return f
	case errors.As(err, &tooBig):
		return &Failure{Status: http.StatusRequestEntityTooLarge, Type: RequestTooLarge,
			Message: fmt.Sprintf("request body too large: the limit is %d bytes", tooBig.Limit), Err: err}
	case errors.Is(err, ErrInvalidRequest):
		return &Failure{Status: http.StatusBadRequest, Type: InvalidRequest, Message: "invalid request", Err: err}
	case errors.As(err, &up):
		return classifyUpstream(up, err)
	case errors.As(err, &long):
		// Over the byte guard, never sent. A front end that knows the
		// request's size in tokens says more (see anthropic's and relay's
		// sendError).
		return &Failure{Status: http.StatusBadRequest, Type: InvalidRequest, Code: CodeContextLength,
			Message: "prompt is too long", Err: err}
	case errors.As(err, &none) && !none.RetryAt.IsZero():
		// Cooling down or out of quota until a known time: a rate limit the
		// client can wait out, not a sign-in problem.
		return &Failure{Status: http.StatusTooManyRequests, Type: RateLimit, Code: CodeRateLimit,
			Message:    "no Kiro account can serve this now: " + none.Reason,
			RetryAfter: wholeSeconds(max(time.Until(none.RetryAt), time.Second)), Err: err}
	case errors.As(err, &none):
		return &Failure{Status: http.StatusUnauthorized, Type: Authentication,
			Message: "no usable Kiro account: " + none.Reason, Err: err}
	case errors.Is(err, kiro.ErrNoAccount):
		return &Failure{Status: http.StatusUnauthorized, Type: Authentication,
			Message: "no usable Kiro account: sign in to an account in kirotray", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Failure{Status: http.StatusServiceUnavailable, Type: Overloaded, Code: CodeOverloaded,
			Message: "the upstream did not answer in time", Err: err}
	}
	return &Failure{Status: http.StatusInternalServerError, Type: API, Message: "internal error", Err: err}
}

func classifyUpstream(up *kiro.UpstreamError, err error) *Failure {
	f := &Failure{Err: err, RetryAfter: up.RetryAfter}
	switch {
	case up.Reason == kiro.ReasonContentLength:
		f.Status, f.Type, f.Code, f.Message = http.StatusBadRequest, InvalidRequest, CodeContextLength, "prompt is too long"
	case up.Reason == kiro.ReasonInvalidModel:
		f.Status, f.Type, f.Code, f.Message = http.StatusNotFound, NotFound, CodeModelNotFound, "model not available"
	case up.Reason == kiro.ReasonMonthlyQuota || up.Status == http.StatusPaymentRequired:
		f.Status, f.Type, f.Code, f.Message = http.StatusTooManyRequests, RateLimit, CodeQuota,
			"the Kiro account's monthly quota is used up"
	case up.Status == http.StatusTooManyRequests:
		f.Status, f.Type, f.Code, f.Message = http.StatusTooManyRequests, RateLimit, CodeRateLimit,
			"rate limited upstream: retry later"
	case up.Status == http.StatusBadRequest:
		f.Status, f.Type, f.Message = http.StatusBadRequest, InvalidRequest, "the upstream refused the request"
		if up.Message != "" {
			f.Message += ": " + up.Message
		}
	case up.Status == http.StatusUnauthorized || up.Status == http.StatusForbidden:
		f.Status, f.Type, f.Message = http.StatusUnauthorized, Authentication,
			"the Kiro account was refused: sign in again in kirotray"
	case up.Status == 0 || up.Status == http.StatusRequestTimeout || up.Status >= 500:
		f.Status, f.Type, f.Code, f.Message = http.StatusServiceUnavailable, Overloaded, CodeOverloaded,
			"the upstream is overloaded or unavailable: retry later"
	default:
		f.Status, f.Type, f.Message = http.StatusBadGateway, API,
			fmt.Sprintf("unexpected upstream status %d", up.Status)
	}
	return f
}

// wholeSeconds rounds d up to whole seconds.
func wholeSeconds(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

// OfType is the Failure behind an error event a stream ended with: its type
// and message, with the status and code that go with them.
func OfType(kind, msg string) *Failure {
	f := &Failure{Status: StatusOf(kind), Type: kind, Message: msg}
	switch kind {
	case Overloaded:
		f.Code = CodeOverloaded
	case RateLimit:
		f.Code = CodeRateLimit
	}
	return f
}

// StatusOf is the neutral HTTP status of an error type: 503 for overloaded,
// 502 for an upstream failure of no other type.
func StatusOf(kind string) int {
	switch kind {
	case InvalidRequest:
		return http.StatusBadRequest
	case Authentication:
		return http.StatusUnauthorized
	case Permission:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case RequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case RateLimit:
		return http.StatusTooManyRequests
	case Overloaded:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}
