// Package conv is the neutral conversation that every front end (Anthropic,
// OpenAI, Gemini) translates into and that proxy/kiro turns into a Kiro
// conversationState. It holds data only: no I/O, no wire format of its own.
package conv

import "encoding/json"

// Role is who wrote a message. Front ends map every other role onto these two
// (system text goes to Request.System, developer/tool roles to User).
type Role string

const (
	User      Role = "user"
	Assistant Role = "assistant"
)

// BlockType says which fields of a Block are meaningful.
type BlockType uint8

const (
	Text       BlockType = iota + 1 // Text
	Image                           // MediaType, Data
	ToolUse                         // ToolUseID, ToolName, Input
	ToolResult                      // ToolUseID, Content (Text and Image blocks), IsError
	Reasoning                       // Text (the reasoning), Signature; a thinking block
)

// Block is one piece of a message's content.
type Block struct {
	Type BlockType

	// Text is the text of a Text block or the reasoning of a Reasoning block.
	Text string
	// Signature is the thinking signature the client sent back, if any.
	Signature string

	// MediaType is "image/png", "image/jpeg", "image/gif" or "image/webp".
	MediaType string
	// Data is the image, base64-encoded (standard alphabet), without a data: prefix.
	Data string

	// ToolUseID links a ToolUse to its ToolResult.
	ToolUseID string
	// ToolName is the client's (original, unshortened) tool name.
	ToolName string
	// Input is the tool call's input, a JSON object ({} when empty).
	Input json.RawMessage

	// Content is a tool result's content: Text and Image blocks.
	Content []Block
	// IsError marks a tool result that reports a failure.
	IsError bool
}

// Message is one turn of the conversation.
type Message struct {
	Role    Role
	Content []Block
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Schema is the JSON Schema of the input, as the client sent it.
	Schema json.RawMessage
}

// ToolChoiceType says how the model may use tools.
type ToolChoiceType string

const (
	ToolChoiceAuto ToolChoiceType = ""     // the model decides (also the zero value)
	ToolChoiceAny  ToolChoiceType = "any"  // the model must call some tool
	ToolChoiceTool ToolChoiceType = "tool" // the model must call ToolChoice.Name
	ToolChoiceNone ToolChoiceType = "none" // the model must not call tools
)

// ToolChoice constrains tool use. Kiro has no field for it; proxy/kiro turns
// anything but auto into an instruction in the prompt.
type ToolChoice struct {
	Type ToolChoiceType
	Name string // for ToolChoiceTool
}

// ThinkingMode asks for extended reasoning.
type ThinkingMode uint8

const (
	ThinkingOff      ThinkingMode = iota // the zero value: no thinking
	ThinkingEnabled                      // fixed budget (Thinking.Budget)
	ThinkingAdaptive                     // the model decides; Thinking.Effort
)

// Thinking is the client's request for reasoning.
type Thinking struct {
	Mode   ThinkingMode
	Budget int    // tokens, for ThinkingEnabled
	Effort string // "low", "medium", "high" or "max", for ThinkingAdaptive
}

// Request is one model call in neutral form.
type Request struct {
	// Model is the model name exactly as the client sent it; responses echo it.
	Model string
	// System is the system prompt, blocks joined with "\n". Empty when none.
	System string
	// Messages is the conversation, oldest first, as the client sent it
	// (proxy/kiro repairs ordering, pairing and emptiness).
	Messages   []Message
	Tools      []Tool
	ToolChoice ToolChoice
	Thinking   Thinking
	// MaxTokens is the client's output limit; 0 means none given.
	MaxTokens int
	// StopSequences end the answer early when the model writes one of them.
	StopSequences []string
	// ConversationID identifies the client's session when it names one
	// (Claude Code's metadata.user_id); empty otherwise.
	ConversationID string
	// OutputSchema, when set, is a JSON Schema the answer must be a JSON
	// value of (structured outputs); proxy/kiro turns it into an instruction.
	OutputSchema json.RawMessage
	// WebSearch, when set, asks for a web search instead of a model call:
	// the backend runs the query and answers with the results (see
	// kiro.WebSearchResults). Messages still hold the conversation, so a
	// caller can fall back to a model call without the search.
	WebSearch *WebSearch
}

// WebSearch is a web search the client asked the proxy to run (Anthropic's
// web_search server tool).
type WebSearch struct {
	Query string
	// AllowedDomains, when not empty, keeps only results from these domains
	// (and their subdomains); BlockedDomains drops results from those.
	AllowedDomains []string
	BlockedDomains []string
}
