package kiro

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

// maxErrorBody is how much of an error answer is read (§10).
const maxErrorBody = 64 << 10

// maxErrorMessage bounds UpstreamError.Message; the rest of a long body is
// noise for logs and clients.
const maxErrorMessage = 1024

// Reasons that mean the account's quota is spent: retrying on the same
// account is useless, another account may work (§10.1).
var quotaReasons = map[string]bool{
	ReasonMonthlyQuota:               true,
	"DAILY_REQUEST_COUNT":            true,
	"OVERAGE_REQUEST_LIMIT_EXCEEDED": true,
	"CONVERSATION_LIMIT_EXCEEDED":    true,
}

// classify turns a non-2xx answer into an *UpstreamError, once, where the
// response is read (§10.1). body is at most maxErrorBody bytes; secrets
// (the caller's access token, anything token-shaped) are scrubbed from the
// message.
func classify(status int, header http.Header, body []byte, secrets ...string) *UpstreamError {
	var p struct {
		Message string  `json:"message"` // encoding/json also matches "Message"
		Reason  *string `json:"reason"`
		Type    string  `json:"__type"`
	}
	msg := ""
	if json.Unmarshal(body, &p) == nil {
		msg = p.Message
		if msg == "" && p.Type != "" {
			msg = p.Type
		}
	} else {
		msg = strings.TrimSpace(string(body))
	}
	e := &UpstreamError{Status: status, Message: scrub(msg, secrets...)}
	if p.Reason != nil {
		e.Reason = *p.Reason
	}
	if header != nil {
		e.RetryAfter = retryAfter(header.Get("Retry-After"), time.Now())
	}
	lower := strings.ToLower(msg)
	switch {
	case status == http.StatusBadRequest:
		switch {
		case e.Reason == ReasonContentLength || strings.Contains(lower, "input is too long"):
			e.Reason = ReasonContentLength
		case e.Reason == ReasonInvalidModel || strings.Contains(lower, "invalid model"):
			e.Reason = ReasonInvalidModel
		case e.Reason == "" && strings.Contains(lower, "improperly formed request"):
			e.Reason = ReasonImproper
		}
	case status == http.StatusUnauthorized: // whatever the body says: refresh once
		e.Reason = ReasonBadToken
	case status == http.StatusForbidden:
		switch {
		case strings.Contains(strings.ToLower(e.Reason), "suspended") || strings.Contains(lower, "suspended"):
			e.Reason = ReasonSuspended
		case badTokenMessage(lower):
			e.Reason = ReasonBadToken
		}
	case status == http.StatusPaymentRequired:
		if e.Reason == "" {
			e.Reason = ReasonMonthlyQuota
		}
	}
	e.Retry = policy(e) != actFail
	return e
}

// badTokenMessage recognises "The bearer token included in the request is
// invalid" and its expired/security-token variants.
func badTokenMessage(lower string) bool {
	return strings.Contains(lower, "token") &&
		(strings.Contains(lower, "invalid") || strings.Contains(lower, "expired")) &&
		(strings.Contains(lower, "bearer") || strings.Contains(lower, "security token") || strings.Contains(lower, "access token"))
}

// action is what Send does after a failed attempt.
type action uint8

const (
	actFail    action = iota // give up: another attempt cannot succeed
	actRetry                 // back off, then again on the same account
	actRefresh               // force a token refresh, then again on the same account
	actNext                  // report and move on to the next account
)

// policy is §10.2: refresh on a bad token; next account on suspension,
// other 403s, spent quotas and INVALID_MODEL_ID (another plan may include
// the model); back off and retry on 408, 429, 5xx and network errors (never
// disabling the account for them: "high traffic" would otherwise lock every
// account); fail at once on every other 4xx (retrying the same body never
// helps).
func policy(e *UpstreamError) action {
	switch {
	case e.Reason == ReasonBadToken:
		return actRefresh
	case quotaReasons[e.Reason]:
		return actNext
	case e.Status == http.StatusBadRequest && e.Reason == ReasonInvalidModel:
		return actNext
	case e.Status == http.StatusPaymentRequired || e.Status == http.StatusForbidden:
		return actNext
	case e.Status == 0, e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return actRetry
	}
	return actFail
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 24*3600 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// exceptionStatus is the HTTP status AWS's JSON protocols use for an
// exception type; ok is false for exceptions that are part of an answer
// rather than a refusal (ContentLengthExceededException: the output was cut)
// and for unknown types.
func exceptionStatus(typ string) (status int, ok bool) {
	if i := strings.LastIndexByte(typ, '#'); i >= 0 { // com.amazon…#ThrottlingException
		typ = typ[i+1:]
	}
	switch typ {
	case "ThrottlingException", "ThrottlingError":
		return http.StatusTooManyRequests, true
	case "ValidationException", "ValidationError":
		return http.StatusBadRequest, true
	case "AccessDeniedException", "AccessDeniedError":
		return http.StatusForbidden, true
	case "ServiceQuotaExceededException", "ServiceQuotaExceededError":
		return http.StatusPaymentRequired, true
	case "InternalServerException", "InternalServerError", "error":
		return http.StatusInternalServerError, true
	case "ServiceUnavailableException":
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}

// frameError classifies an exception or error frame that arrived before any
// event, so that Send can retry it like the HTTP error it stands for. It
// returns nil for frames that are not such a refusal.
func frameError(m *eventstream.Message, secrets ...string) *UpstreamError {
	msgType, _ := m.Header(":message-type")
	switch msgType {
	case "exception":
		typ, _ := m.Header(":exception-type")
		status, ok := exceptionStatus(typ)
		if !ok {
			return nil
		}
		body := m.Payload
		if len(body) > maxErrorBody {
			body = body[:maxErrorBody]
		}
		e := classify(status, nil, body, secrets...)
		if e.Message == "" {
			e.Message = typ
		}
		return e
	case "error":
		code, _ := m.Header(":error-code")
		msg, _ := m.Header(":error-message")
		return &UpstreamError{Status: http.StatusInternalServerError, Reason: code, Message: scrub(msg, secrets...), Retry: true}
	}
	return nil
}

// tokenPattern matches token-shaped text: bearer values, JWTs, Kiro/AWS
// token prefixes, and long unbroken runs of base64/hex characters.
var tokenPattern = regexp.MustCompile(`(?i)bearer\s+\S+|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_.-]+|\b(?:aoa|aor|ksk_)[A-Za-z0-9_:.+/=-]{16,}|[A-Za-z0-9+/_=-]{40,}`)

// scrub removes secrets from text that may reach logs or clients, and cuts
// it to maxErrorMessage bytes.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 8 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = tokenPattern.ReplaceAllString(s, "[redacted]")
	if len(s) > maxErrorMessage {
		cut := maxErrorMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
