package kiro

import (
	"context"

	"github.com/kirotray/kirotray/proxy/redact"
)

// Token is what one upstream call needs from an account.
type Token struct {
	// Access is the bearer token (an OAuth access token or a Kiro API key).
	Access redact.Secret
	// ProfileARN is sent as the body's profileArn; empty for API keys.
	ProfileARN string
	// MachineID is the 64-hex-char id in the user agents, stable per account.
	MachineID string
	// APIKey marks a Kiro API key (ksk_…): tokentype: API_KEY, no profileArn.
	APIKey bool
}

// Account is one Kiro login as the client sees it. Implementations live in
// app/ (the pool) and in tests; they must be safe for concurrent use.
type Account interface {
	// Name identifies the account in logs and events; never a secret.
	Name() string
	// Token returns a usable access token, refreshing it first when it is
	// expired or about to expire, or when force is set (the upstream refused
	// the current one). Concurrent calls share one refresh.
	Token(ctx context.Context, force bool) (Token, error)
	// Report tells the account how a call went: nil for success, else the
	// error (usually *UpstreamError) so it can cool down or park itself.
	Report(err error)
}

// Accounts chooses which account serves a request.
type Accounts interface {
	// Pick returns the best usable account for a conversation (conversationID
	// may be empty), skipping the names in exclude. It returns an error
	// wrapping ErrNoAccount when none is usable.
	Pick(ctx context.Context, conversationID string, exclude []string) (Account, error)
}
