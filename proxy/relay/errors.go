package relay

import (
	"fmt"
	"net/http"

	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/kiro"
)

// ErrInvalidRequest is wrapped by every error a request body causes. It
// wraps apierr.ErrInvalidRequest.
var ErrInvalidRequest = fmt.Errorf("relay: %w", apierr.ErrInvalidRequest)

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

// Describe makes e a 400 invalid_request_error carrying its own text and
// the field at fault.
func (e *RequestError) Describe() *apierr.Failure {
	return &apierr.Failure{Status: http.StatusBadRequest, Type: apierr.InvalidRequest, Message: e.Error(), Param: e.Param}
}

// Invalid returns a *RequestError about param.
func Invalid(param, format string, args ...any) error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &RequestError{Param: param, Msg: msg}
}

// sendError turns refusals that need the request's details into a Failure.
func sendError(err error, est, window int) error {
	if upstreamReason(err) == kiro.ReasonContentLength {
		// The upstream counted more than the window even if our estimate
		// did not, so the number shown is never below the limit.
		tokens := max(est, window+1)
		return &apierr.Failure{Status: http.StatusBadRequest, Type: apierr.InvalidRequest, Code: apierr.CodeContextLength,
			Message: fmt.Sprintf("prompt is too long: %d tokens > %d maximum", tokens, window),
			Tokens:  tokens, Limit: window, Err: err}
	}
	return err
}
