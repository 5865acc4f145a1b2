package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/kiro"
)

// ErrInvalidRequest is wrapped by every error a request body causes.
var ErrInvalidRequest = errors.New("relay: invalid request")

// RequestError says what is wrong with a request body. Its text mentions
// only what the client sent, so it is shown to the client as it is. It wraps
// ErrInvalidRequest.
type RequestError struct {
	Param string // the offending field as a dotted path ("messages.2.content"); empty for the body
	Msg   string
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return e.Param + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrInvalidRequest) hold.
func (e *RequestError) Unwrap() error { return ErrInvalidRequest }

// Invalid returns a *RequestError about param.
func Invalid(param, format string, args ...any) error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &RequestError{Param: param, Msg: msg}
}

// Codes that clients act on, in OpenAI's vocabulary (Codex compacts on
// context_length_exceeded and stops retrying on insufficient_quota).
const (
	CodeContextLength = "context_length_exceeded"
	CodeQuota         = "insufficient_quota"
	CodeRateLimit     = "rate_limit_exceeded"
	CodeModelNotFound = "model_not_found"
	CodeOverloaded    = "server_is_overloaded"
)

// Failure is how a request failed, in neutral terms each front end renders
// in its own format: an HTTP status, an error type (Anthropic's vocabulary,
// which the translator's error events use too), an optional code, and a
// message chosen here or taken from the client's own request, never a
// secret.
type Failure struct {
	Status  int
	Type    string // anthropic.InvalidRequestError, anthropic.OverloadedError …
	Code    string // one of the Code constants, or ""
	Message string
	Param   string // the request field at fault, for invalid requests
	// Tokens and Limit describe a prompt that is too long (Code
	// CodeContextLength): its size and the model's window, in tokens.
	Tokens, Limit int
	// RetryAfter is the upstream's Retry-After, 0 if none.
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

// sendError turns refusals that need the request's details into a Failure.
func sendError(err error, est, window int) error {
	if upstreamReason(err) == kiro.ReasonContentLength {
		// The upstream counted more than the window even if our estimate
		// did not, so the number shown is never below the limit.
		tokens := max(est, window+1)
		return &Failure{Status: http.StatusBadRequest, Type: anthropic.InvalidRequestError, Code: CodeContextLength,
			Message: fmt.Sprintf("prompt is too long: %d tokens > %d maximum", tokens, window),
			Tokens:  tokens, Limit: window, Err: err}
	}
	return err
}

// Classify maps any error of a call to the Failure the client sees.
func Classify(err error) *Failure {
	var (
		f      *Failure
		tooBig *http.MaxBytesError
		reqErr *RequestError
		se     *anthropic.StreamError
		up     *kiro.UpstreamError
	)
	switch {
	case errors.As(err, &f):
		return f
	case errors.As(err, &tooBig):
		return &Failure{Status: http.StatusRequestEntityTooLarge, Type: anthropic.RequestTooLarge,
			Message: fmt.Sprintf("request body too large: the limit is %d bytes", tooBig.Limit), Err: err}
	case errors.As(err, &reqErr):
		return &Failure{Status: http.StatusBadRequest, Type: anthropic.InvalidRequestError,
			Message: reqErr.Error(), Param: reqErr.Param, Err: err}
	case errors.As(err, &se):
		f := &Failure{Status: statusOf(se.Type), Type: se.Type, Message: se.Message, Err: err}
		if se.Type == anthropic.OverloadedError {
			f.Code = CodeOverloaded
		}
		return f
	case errors.As(err, &up):
		return classifyUpstream(up, err)
	case errors.Is(err, kiro.ErrNoAccount):
		return &Failure{Status: http.StatusUnauthorized, Type: anthropic.AuthenticationError,
			Message: "no usable Kiro account: sign in to an account in kirotray", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Failure{Status: http.StatusServiceUnavailable, Type: anthropic.OverloadedError, Code: CodeOverloaded,
			Message: "the upstream did not answer in time", Err: err}
	}
	return &Failure{Status: http.StatusInternalServerError, Type: anthropic.APIError, Message: "internal error", Err: err}
}

func classifyUpstream(up *kiro.UpstreamError, err error) *Failure {
	f := &Failure{Err: err, RetryAfter: up.RetryAfter}
	switch {
	case up.Reason == kiro.ReasonContentLength:
		f.Status, f.Type, f.Code, f.Message = http.StatusBadRequest, anthropic.InvalidRequestError, CodeContextLength, "prompt is too long"
	case up.Reason == kiro.ReasonInvalidModel:
		f.Status, f.Type, f.Code, f.Message = http.StatusNotFound, anthropic.NotFoundError, CodeModelNotFound, "model not available"
	case up.Reason == kiro.ReasonMonthlyQuota || up.Status == http.StatusPaymentRequired:
		f.Status, f.Type, f.Code, f.Message = http.StatusTooManyRequests, anthropic.RateLimitError, CodeQuota,
			"the Kiro account's monthly quota is used up"
	case up.Status == http.StatusTooManyRequests:
		f.Status, f.Type, f.Code, f.Message = http.StatusTooManyRequests, anthropic.RateLimitError, CodeRateLimit,
			"rate limited upstream: retry later"
	case up.Status == http.StatusBadRequest:
		f.Status, f.Type, f.Message = http.StatusBadRequest, anthropic.InvalidRequestError, "the upstream refused the request"
		if up.Message != "" {
			f.Message += ": " + up.Message
		}
	case up.Status == http.StatusUnauthorized || up.Status == http.StatusForbidden:
		f.Status, f.Type, f.Message = http.StatusUnauthorized, anthropic.AuthenticationError,
			"the Kiro account was refused: sign in again in kirotray"
	case up.Status == 0 || up.Status == http.StatusRequestTimeout || up.Status >= 500:
		f.Status, f.Type, f.Code, f.Message = http.StatusServiceUnavailable, anthropic.OverloadedError, CodeOverloaded,
			"the upstream is overloaded or unavailable: retry later"
	default:
		f.Status, f.Type, f.Message = http.StatusBadGateway, anthropic.APIError,
			fmt.Sprintf("unexpected upstream status %d", up.Status)
	}
	return f
}

// statusOf is the HTTP status that goes with an error type of a stream's
// error event.
func statusOf(kind string) int {
	switch kind {
	case anthropic.InvalidRequestError:
		return http.StatusBadRequest
	case anthropic.AuthenticationError:
		return http.StatusUnauthorized
	case anthropic.PermissionError:
		return http.StatusForbidden
	case anthropic.NotFoundError:
		return http.StatusNotFound
	case anthropic.RequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case anthropic.RateLimitError:
		return http.StatusTooManyRequests
	case anthropic.OverloadedError:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// StreamFailure is the Failure behind a translator error event: its type and
// message, with the status and code that go with them.
func StreamFailure(ev *anthropic.Event) *Failure {
	f := &Failure{Status: statusOf(ev.ErrorType), Type: ev.ErrorType, Message: ev.Text}
	switch ev.ErrorType {
	case anthropic.OverloadedError:
		f.Code = CodeOverloaded
	case anthropic.RateLimitError:
		f.Code = CodeRateLimit
	}
	return f
}
