package kiro

import "time"

// Event is one decoded upstream event of a generateAssistantResponse stream.
// The concrete types below are all there is; anything else arrives as Unknown
// so that a new upstream event never breaks a stream.
type Event interface{ isEvent() }

// Text is a chunk of the answer (assistantResponseEvent).
type Text struct {
	Content string
}

// Reasoning is native reasoning (reasoningContentEvent); every field is optional.
type Reasoning struct {
	Text      string
	Signature string
	Redacted  string // base64 redacted content: its own redacted_thinking block
}

// ToolUse is one fragment of a tool call (toolUseEvent). Fragments of one call
// share ID; Input fragments concatenate to the call's JSON input; Stop marks the
// last fragment. Name is the client's original tool name (shortened names are
// mapped back by the client before the event is returned).
type ToolUse struct {
	ID    string
	Name  string
	Input string
	Stop  bool
}

// ContextUsage reports how full the model's context window is (contextUsageEvent).
type ContextUsage struct {
	Percent float64 // 0–100; ≥ 100 means the window is full
}

// Metering reports the credits this call used (meteringEvent).
type Metering struct {
	Usage float64
	Unit  string
}

// Metadata carries real token counts when the upstream reports them (metadataEvent).
type Metadata struct {
	InputTokens      int // uncached input tokens
	OutputTokens     int
	CacheReadTokens  int
	CacheWriteTokens int
}

// Exception ends the useful part of a stream: an exception or error frame, or
// an invalidStateEvent. Type is the exception type (e.g. ThrottlingException,
// ContentLengthExceededException) or the error code.
type Exception struct {
	Type    string
	Message string
}

// Unknown is an event this package does not model; callers ignore it.
type Unknown struct {
	Type string
}

// WebSearchResults is the answer to a conv.Request with WebSearch set: the
// results of Kiro's web search (its MCP web_search tool), already filtered
// by the request's allowed and blocked domains. It is the only event of such
// a stream; it never comes from generateAssistantResponse.
type WebSearchResults struct {
	Query   string
	Results []WebResult
}

// WebResult is one search hit.
type WebResult struct {
	Title     string
	URL       string
	Snippet   string
	Published time.Time // zero when unknown
}

func (Text) isEvent()             {}
func (Reasoning) isEvent()        {}
func (ToolUse) isEvent()          {}
func (ContextUsage) isEvent()     {}
func (Metering) isEvent()         {}
func (Metadata) isEvent()         {}
func (Exception) isEvent()        {}
func (Unknown) isEvent()          {}
func (WebSearchResults) isEvent() {}
