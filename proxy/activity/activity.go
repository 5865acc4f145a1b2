// Package activity defines the request and usage events the proxy publishes
// while it works, and the one-method Sink it publishes them to. The app's
// event hub implements Sink and fans events out to /ws subscribers. Events
// never carry secrets or message content: metadata only.
package activity

import "time"

// Kind names an event.
type Kind string

const (
	RequestStarted  Kind = "request_started"
	RequestProgress Kind = "request_progress"
	RequestFinished Kind = "request_finished"
)

// Request describes one client request as it moves through the proxy.
type Request struct {
	Kind         Kind          `json:"kind"`
	ID           string        `json:"id"`                // request id (also the msg_… id)
	Time         time.Time     `json:"time"`              // when this event happened
	Client       string        `json:"client,omitempty"`  // e.g. "claude-code", from the user agent
	API          string        `json:"api"`               // "anthropic", "openai-chat", "openai-responses"
	Model        string        `json:"model"`             // as the client asked
	Account      string        `json:"account,omitempty"` // account name, never a token
	Stream       bool          `json:"stream"`
	Status       int           `json:"status,omitempty"` // HTTP status sent to the client
	InputTokens  int           `json:"input_tokens,omitempty"`
	OutputTokens int           `json:"output_tokens,omitempty"`
	Latency      time.Duration `json:"latency_ns,omitempty"` // since the request arrived
	StopReason   string        `json:"stop_reason,omitempty"`
	Error        string        `json:"error,omitempty"` // the message the client saw
}

// Sink receives events. Publish must not block: a slow subscriber is the
// sink's problem, never the proxy's.
type Sink interface {
	Publish(Request)
}

// Discard is a Sink that drops every event.
type Discard struct{}

// Publish implements Sink.
func (Discard) Publish(Request) {}
