package kiro

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoAccount is wrapped by errors from Accounts.Pick when no account can
// serve a request (none configured, all parked, all cooling down).
var ErrNoAccount = errors.New("kiro: no usable account")

// Reason codes Kiro sends in error bodies (`reason`) that callers act on.
const (
	ReasonContentLength = "CONTENT_LENGTH_EXCEEDS_THRESHOLD" // prompt too long
	ReasonInvalidModel  = "INVALID_MODEL_ID"
	ReasonMonthlyQuota  = "MONTHLY_REQUEST_COUNT"
	ReasonSuspended     = "TEMPORARILY_SUSPENDED"
	ReasonBadToken      = "INVALID_BEARER_TOKEN" // set by this package for 401/403 bearer-invalid answers
	ReasonImproper      = "IMPROPERLY_FORMED"    // set by this package for "Improperly formed request."
)

// UpstreamError is every non-2xx answer from Kiro, classified once where the
// response is read. Handlers and the account pool use errors.As on it; nobody
// matches error strings.
type UpstreamError struct {
	Status     int           // HTTP status Kiro returned (0: the call never got an answer; see Client.Send for exception frames)
	Reason     string        // Kiro's reason code or one of the Reason constants; may be empty
	Message    string        // Kiro's message, already scrubbed of anything secret
	Retry      bool          // a later attempt or another account may succeed
	RetryAfter time.Duration // from a Retry-After header, 0 if none
	Err        error         // for Status 0: the transport error (or ErrIdleTimeout)
}

// Unwrap returns the transport error of a call that got no answer.
func (e *UpstreamError) Unwrap() error { return e.Err }

// ErrIdleTimeout is wrapped by the error of a call or stream that received
// nothing for longer than Config.IdleTimeout.
var ErrIdleTimeout = errors.New("kiro: upstream idle timeout")

func (e *UpstreamError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("kiro: status %d: %s: %s", e.Status, e.Reason, e.Message)
	}
	return fmt.Sprintf("kiro: status %d: %s", e.Status, e.Message)
}
