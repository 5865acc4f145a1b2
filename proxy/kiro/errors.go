package kiro

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoAccount is wrapped by errors from Accounts.Pick when no account can
// serve a request (none configured, all parked, all cooling down).
var ErrNoAccount = errors.New("kiro: no usable account")

// NoAccountError is what Accounts.Pick returns when no account can serve a
// request; it wraps ErrNoAccount. Reason is for people ("all 2 accounts are
// cooling down until 12:03:10", "account \"work\" needs sign-in"), never
// carries a secret. RetryAt is when an account becomes usable again by
// itself (a cooldown or a quota reset ends); zero when only the user can help.
type NoAccountError struct {
	Reason  string
	RetryAt time.Time
}

func (e *NoAccountError) Error() string { return ErrNoAccount.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrNoAccount) hold.
func (e *NoAccountError) Unwrap() error { return ErrNoAccount }

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

// TooLongError is Send's error for a prompt over the upstream's input limit
// (§3.10): either the body's text was over Config.MaxInputBytes and was
// never sent (Err is nil), or Kiro refused it with
// CONTENT_LENGTH_EXCEEDS_THRESHOLD (Err is that *UpstreamError). Retrying
// the same prompt never helps; the client has to shorten it.
type TooLongError struct {
	Bytes int            // size of the body without image data, in bytes
	Limit int            // the byte guard in force, 0 when none
	Err   *UpstreamError // Kiro's refusal; nil when the guard refused
}

func (e *TooLongError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("kiro: input of %d bytes refused upstream: %v", e.Bytes, e.Err)
	}
	return fmt.Sprintf("kiro: input of %d bytes is over the limit of %d bytes (not sent)", e.Bytes, e.Limit)
}

// Unwrap returns Kiro's refusal, so errors.As finds the *UpstreamError.
func (e *TooLongError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// ErrWebSearch is wrapped by every error of a web search (a conv.Request
// with WebSearch set) that the search itself caused: the MCP endpoint
// missing or refusing, a JSON-RPC error, an unreadable answer. A caller can
// fall back to a model call without the search.
var ErrWebSearch = errors.New("kiro: web search failed")
