package openai

import (
	"net/http"
	"strconv"
	"time"

	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/relay"
)

// errorType is the OpenAI error type of a failure.
func errorType(f *apierr.Failure) string {
	switch {
	case f.Code == apierr.CodeQuota:
		return "insufficient_quota"
	case f.Type == apierr.NotFound, f.Type == apierr.RequestTooLarge:
		return "invalid_request_error"
	case f.Type == apierr.API, f.Type == apierr.Overloaded:
		return "server_error"
	}
	return f.Type // invalid_request_error, authentication_error, permission_error, rate_limit_error
}

// appendError appends OpenAI's error JSON:
// {"error":{"message":…,"type":…,"param":…,"code":…}}.
func appendError(dst []byte, f *apierr.Failure) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendErrorObject(dst, f)
	return append(dst, '}')
}

// appendErrorObject appends {"message":…,"type":…,"param":…,"code":…}.
func appendErrorObject(dst []byte, f *apierr.Failure) []byte {
	dst = append(dst, `{"message":`...)
	dst = relay.AppendString(dst, errorMessage(f))
	dst = append(dst, `,"type":`...)
	dst = relay.AppendString(dst, errorType(f))
	dst = append(dst, `,"param":`...)
	dst = relay.AppendNullable(dst, f.Param)
	dst = append(dst, `,"code":`...)
	dst = relay.AppendNullable(dst, f.Code)
	return append(dst, '}')
}

// errorMessage is the message OpenAI clients get. A prompt that is too long
// is described in OpenAI's words, which tools search for; a rate limit with
// a known delay says when to retry the way Codex parses it.
func errorMessage(f *apierr.Failure) string {
	switch {
	case f.Code == apierr.CodeContextLength && f.Limit > 0:
		return "This model's maximum context length is " + strconv.Itoa(f.Limit) + " tokens. However, your messages resulted in " +
			strconv.Itoa(f.Tokens) + " tokens. Please reduce the length of the messages."
	case f.Code == apierr.CodeRateLimit && f.RetryAfter > 0:
		return f.Message + ". Please try again in " + strconv.FormatFloat(f.RetryAfter.Seconds(), 'f', -1, 64) + "s."
	}
	return f.Message
}

// WriteError writes f as OpenAI's error JSON with f's status.
func WriteError(w http.ResponseWriter, f *apierr.Failure) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, f.Status, appendError(make([]byte, 0, 256), f))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
