// Package redact keeps secrets out of logs, errors and events: a Secret type
// that prints as [redacted], and a slog attribute filter as a backstop.
package redact

import (
	"log/slog"
	"strings"
)

// Secret holds a token or key. Every way of printing it gives "[redacted]";
// only Reveal returns the value, at the upstream call or the credential writer.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value. Call it only where the value leaves the
// process for its owner: an Authorization header, a keychain or credentials write.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps encoding/json and friends from writing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// IsZero reports whether no secret is set.
func (s Secret) IsZero() bool { return s == "" }

// sensitiveKeys are attribute names whose values are never logged, whatever
// their type. Compared case-insensitively, ignoring '-' and '_'.
var sensitiveKeys = []string{
	"authorization", "apikey", "xapikey", "accesstoken", "refreshtoken", "token",
	"clientsecret", "secret", "password", "cookie", "tokentype", "code", "codeverifier",
}

func normalize(key string) string {
	key = strings.ToLower(key)
	return strings.NewReplacer("-", "", "_", "").Replace(key)
}

// IsSensitiveKey reports whether an attribute or header named key carries a secret.
func IsSensitiveKey(key string) bool {
	k := normalize(key)
	for _, s := range sensitiveKeys {
		if k == s {
			return true
		}
	}
	return false
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that masks attributes with
// sensitive names. It is a backstop: code should log Secret values, never raw strings.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if IsSensitiveKey(a.Key) {
		return slog.String(a.Key, redacted)
	}
	return a
}
