package kiro

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		body   string
		reason string
		act    action
	}{
		{400, `{"message":"Improperly formed request.","reason":null}`, ReasonImproper, actFail},
		{400, `{"message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"}`, ReasonContentLength, actFail},
		{400, `{"message":"Input is too long."}`, ReasonContentLength, actFail},
		{400, `{"message":"Invalid model. Please select a different model to continue.","reason":"INVALID_MODEL_ID"}`, ReasonInvalidModel, actNext},
		{400, `{"message":"profileArn is required for this request"}`, "", actFail},
		{400, `not json at all`, "", actFail},
		{401, ``, ReasonBadToken, actRefresh},
		{401, `{"message":"Unauthorized","reason":"WHATEVER"}`, ReasonBadToken, actRefresh},
		{403, `{"message":"The bearer token included in the request is invalid."}`, ReasonBadToken, actRefresh},
		{403, `{"message":"The security token included in the request is expired"}`, ReasonBadToken, actRefresh},
		{403, `{"message":"Your User ID (d-123) is temporarily suspended.","reason":"TEMPORARILY_SUSPENDED"}`, ReasonSuspended, actNext},
		{403, `{"message":"account SUSPENDED"}`, ReasonSuspended, actNext},
		{403, `{"message":"User is not authorized to make this call."}`, "", actNext},
		{402, `{"message":"You have reached the limit.","reason":"MONTHLY_REQUEST_COUNT"}`, ReasonMonthlyQuota, actNext},
		{402, ``, ReasonMonthlyQuota, actNext},
		{429, `{"message":"Too many requests"}`, "", actRetry},
		{429, `{"message":"x","reason":"INSUFFICIENT_MODEL_CAPACITY"}`, "INSUFFICIENT_MODEL_CAPACITY", actRetry},
		{429, `{"message":"x","reason":"DAILY_REQUEST_COUNT"}`, "DAILY_REQUEST_COUNT", actNext},
		{400, `{"message":"x","reason":"CONVERSATION_LIMIT_EXCEEDED"}`, "CONVERSATION_LIMIT_EXCEEDED", actNext},
		{408, ``, "", actRetry},
		{500, `{"__type":"InternalServerException"}`, "", actRetry},
		{502, `<html>bad gateway</html>`, "", actRetry},
		{503, `{"message":"MODEL_TEMPORARILY_UNAVAILABLE"}`, "", actRetry},
		{404, `{"message":"not found"}`, "", actFail},
	}
	for _, tt := range tests {
		e := classify(tt.status, nil, []byte(tt.body))
		if e.Status != tt.status || e.Reason != tt.reason || policy(e) != tt.act || e.Retry != (tt.act != actFail) {
			t.Errorf("classify(%d, %s) = %+v, action %d; want reason %q action %d", tt.status, tt.body, e, policy(e), tt.reason, tt.act)
		}
	}
	if e := classify(500, nil, []byte(`{"__type":"com.amazon#InternalServerException"}`)); e.Message != "com.amazon#InternalServerException" {
		t.Errorf("message from __type: %q", e.Message)
	}
	if e := classify(400, nil, []byte(`{"Message":"Capitalised"}`)); e.Message != "Capitalised" {
		t.Errorf("Message key: %q", e.Message)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"-1":                            0,
		"999999":                        0,
		"Fri, 27 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Fri, 27 Nov 2026 11:00:00 GMT": 0,
		"soon":                          0,
	}
	for in, want := range tests {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
	h := http.Header{}
	h.Set("Retry-After", "7")
	if e := classify(429, h, nil); e.RetryAfter != 7*time.Second {
		t.Errorf("RetryAfter %v", e.RetryAfter)
	}
}

func TestScrub(t *testing.T) {
	secret := "aoaAAAAAGlx-very-secret-access-token"
	tests := []struct{ in, mustNot string }{
		{"token " + secret + " is invalid", secret},
		{"Authorization: Bearer abc.def-ghi", "abc.def-ghi"},
		{"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"},
		{"refresh aorAAAAAGlxZmFrZXJlZnJlc2h0b2tlbg", "aorAAAAAGlxZmFrZXJlZnJlc2h0b2tlbg"},
		{"key ksk_0123456789abcdefghijkl", "ksk_0123456789abcdefghijkl"},
		{"blob " + strings.Repeat("Zm9v", 12), strings.Repeat("Zm9v", 12)},
	}
	for _, tt := range tests {
		got := scrub(tt.in, secret)
		if strings.Contains(got, tt.mustNot) || !strings.Contains(got, "[redacted]") {
			t.Errorf("scrub(%q) = %q", tt.in, got)
		}
	}
	// Ordinary messages survive, long ones are cut on a rune boundary.
	if got := scrub("Improperly formed request.", secret); got != "Improperly formed request." {
		t.Errorf("scrub changed a plain message: %q", got)
	}
	long := scrub(strings.Repeat("é ", 2000))
	if len(long) > maxErrorMessage+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("long message: %d bytes", len(long))
	}
	// A token echoed in an error body never reaches the UpstreamError.
	e := classify(403, nil, []byte(`{"message":"bad token `+secret+`"}`), secret)
	if strings.Contains(e.Error(), secret) {
		t.Errorf("secret in %v", e)
	}
}

func TestFrameError(t *testing.T) {
	msg := func(headers ...eventstream.Header) *eventstream.Message {
		return &eventstream.Message{Headers: headers, Payload: []byte(`{"message":"Rate exceeded"}`)}
	}
	tests := []struct {
		m      *eventstream.Message
		status int // 0: not a refusal
	}{
		{msg(eventstream.String(":message-type", "exception"), eventstream.String(":exception-type", "ThrottlingException")), 429},
		{msg(eventstream.String(":message-type", "exception"), eventstream.String(":exception-type", "InternalServerException")), 500},
		{msg(eventstream.String(":message-type", "exception"), eventstream.String(":exception-type", "ServiceQuotaExceededException")), 402},
		{msg(eventstream.String(":message-type", "exception"), eventstream.String(":exception-type", "AccessDeniedException")), 403},
		{msg(eventstream.String(":message-type", "exception"), eventstream.String(":exception-type", "ContentLengthExceededException")), 0},
		{msg(eventstream.String(":message-type", "exception"), eventstream.String(":exception-type", "SomethingNew")), 0},
		{msg(eventstream.String(":message-type", "error"), eventstream.String(":error-code", "InternalError")), 500},
		{msg(eventstream.String(":message-type", "event"), eventstream.String(":event-type", "assistantResponseEvent")), 0},
	}
	for i, tt := range tests {
		e := frameError(tt.m)
		switch {
		case tt.status == 0 && e != nil:
			t.Errorf("case %d: %v, want nil", i, e)
		case tt.status != 0 && (e == nil || e.Status != tt.status):
			t.Errorf("case %d: %v, want status %d", i, e, tt.status)
		}
	}
}
