package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
)

// described is a front end's error that knows its failure.
type described struct{}

func (described) Error() string { return "described" }
func (described) Describe() *Failure {
	return &Failure{Status: http.StatusBadRequest, Type: InvalidRequest, Message: "bad field", Param: "a.b"}
}

func TestClassify(t *testing.T) {
	soon := time.Now().Add(29*time.Second + 500*time.Millisecond)
	given := &Failure{Status: 404, Type: InvalidRequest, Message: "not found here"}
	tests := []struct {
		err        error
		status     int
		typ, code  string
		msgHas     string
		retryAfter time.Duration
	}{
		{&http.MaxBytesError{Limit: 10}, 413, RequestTooLarge, "", "limit is 10 bytes", 0},
		{fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 10}), 413, RequestTooLarge, "", "limit is 10 bytes", 0},
		{fmt.Errorf("x: %w", given), 404, InvalidRequest, "", "not found here", 0},
		{fmt.Errorf("parse: %w", described{}), 400, InvalidRequest, "", "bad field", 0},
		{fmt.Errorf("front: %w", ErrInvalidRequest), 400, InvalidRequest, "", "invalid request", 0},
		{&kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength}, 400, InvalidRequest, CodeContextLength, "too long", 0},
		{&kiro.TooLongError{Err: &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength}}, 400, InvalidRequest, CodeContextLength, "too long", 0},
		{fmt.Errorf("send: %w", &kiro.TooLongError{Bytes: 2000, Limit: 1000}), 400, InvalidRequest, CodeContextLength, "too long", 0},
		{&kiro.UpstreamError{Status: 400, Reason: kiro.ReasonInvalidModel}, 404, NotFound, CodeModelNotFound, "model", 0},
		{&kiro.UpstreamError{Status: 402}, 429, RateLimit, CodeQuota, "quota", 0},
		{&kiro.UpstreamError{Status: 403, Reason: kiro.ReasonMonthlyQuota}, 429, RateLimit, CodeQuota, "quota", 0},
		{&kiro.UpstreamError{Status: 429, RetryAfter: 1500 * time.Millisecond}, 429, RateLimit, CodeRateLimit, "rate limited", 1500 * time.Millisecond},
		{&kiro.UpstreamError{Status: 400, Message: "Improperly formed request."}, 400, InvalidRequest, "", "refused the request: Improperly formed", 0},
		{&kiro.UpstreamError{Status: 400}, 400, InvalidRequest, "", "refused the request", 0},
		{&kiro.UpstreamError{Status: 401}, 401, Authentication, "", "sign in again", 0},
		{&kiro.UpstreamError{Status: 403}, 401, Authentication, "", "sign in again", 0},
		{&kiro.UpstreamError{Status: 0, Err: kiro.ErrIdleTimeout}, 503, Overloaded, CodeOverloaded, "overloaded", 0},
		{&kiro.UpstreamError{Status: 408}, 503, Overloaded, CodeOverloaded, "overloaded", 0},
		{&kiro.UpstreamError{Status: 503}, 503, Overloaded, CodeOverloaded, "overloaded", 0},
		{&kiro.UpstreamError{Status: 418}, 502, API, "", "unexpected upstream status 418", 0},
		{&kiro.NoAccountError{Reason: "all 2 accounts are cooling down", RetryAt: soon}, 429, RateLimit, CodeRateLimit, "can serve this now: all 2 accounts are cooling down", 30 * time.Second},
		{&kiro.NoAccountError{Reason: "cooling down", RetryAt: time.Now().Add(-time.Minute)}, 429, RateLimit, CodeRateLimit, "cooling down", time.Second},
		{&kiro.NoAccountError{Reason: `account "work" needs sign-in`}, 401, Authentication, "", `no usable Kiro account: account "work" needs sign-in`, 0},
		{fmt.Errorf("send: %w", kiro.ErrNoAccount), 401, Authentication, "", "no usable Kiro account: sign in", 0},
		{context.DeadlineExceeded, 503, Overloaded, CodeOverloaded, "in time", 0},
		{errors.New("boom"), 500, API, "", "internal error", 0},
	}
	for _, tt := range tests {
		f := Classify(tt.err)
		if f.Status != tt.status || f.Type != tt.typ || f.Code != tt.code || !strings.Contains(f.Message, tt.msgHas) || f.RetryAfter != tt.retryAfter {
			t.Errorf("%v: %+v", tt.err, f)
		}
		if f != given && !errors.Is(f, tt.err) {
			t.Errorf("%v: the failure does not wrap its cause", tt.err)
		}
	}
	if f := Classify(described{}); f.Param != "a.b" {
		t.Errorf("describer's param lost: %+v", f)
	}
}

func TestOfType(t *testing.T) {
	tests := []struct {
		kind   string
		status int
		code   string
	}{
		{InvalidRequest, 400, ""},
		{Authentication, 401, ""},
		{Permission, 403, ""},
		{NotFound, 404, ""},
		{RequestTooLarge, 413, ""},
		{RateLimit, 429, CodeRateLimit},
		{Overloaded, 503, CodeOverloaded},
		{API, 502, ""},
		{"something_else", 502, ""},
	}
	for _, tt := range tests {
		f := OfType(tt.kind, "msg")
		if f.Status != tt.status || f.Code != tt.code || f.Type != tt.kind || f.Message != "msg" {
			t.Errorf("OfType(%q) = %+v", tt.kind, f)
		}
	}
}

func TestFailureError(t *testing.T) {
	if got := (&Failure{Message: "m"}).Error(); got != "m" {
		t.Errorf("got %q", got)
	}
	cause := errors.New("cause")
	f := &Failure{Message: "m", Err: cause}
	if f.Error() != "m: cause" || !errors.Is(f, cause) {
		t.Errorf("got %q", f.Error())
	}
}
