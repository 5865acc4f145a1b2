package kirofake

import "encoding/json"

// Request is a generateAssistantResponse body (protocol.md §3.1) as parsed
// by the server, kept in Recorded.Parsed for assertions. Members Kiro does not
// require are ignored, as the real backend ignores them.
type Request struct {
	ConversationState *ConversationState `json:"conversationState"`
	ProfileARN        string             `json:"profileArn,omitempty"`
	InferenceConfig   json.RawMessage    `json:"inferenceConfig,omitempty"`
}

// ConversationState is the body's conversation.
type ConversationState struct {
	ConversationID      string    `json:"conversationId,omitempty"`
	AgentContinuationID string    `json:"agentContinuationId,omitempty"`
	AgentTaskType       string    `json:"agentTaskType,omitempty"`
	ChatTriggerType     string    `json:"chatTriggerType"`
	History             []Message `json:"history,omitempty"`
	CurrentMessage      Message   `json:"currentMessage"`
}

// Message holds exactly one of its members in a valid body.
type Message struct {
	User      *UserInputMessage         `json:"userInputMessage,omitempty"`
	Assistant *AssistantResponseMessage `json:"assistantResponseMessage,omitempty"`
}

// UserInputMessage is a user turn.
type UserInputMessage struct {
	Content   string                   `json:"content"`
	ModelID   string                   `json:"modelId,omitempty"`
	Origin    string                   `json:"origin,omitempty"`
	Images    []Image                  `json:"images,omitempty"`
	Documents []Document               `json:"documents,omitempty"`
	Context   *UserInputMessageContext `json:"userInputMessageContext,omitempty"`

	hasContent bool // "content" was present (Kiro refuses a missing one)
}

// UserInputMessageContext carries tools (current message only) and tool results.
type UserInputMessageContext struct {
	ToolResults []ToolResult `json:"toolResults,omitempty"`
	Tools       []Tool       `json:"tools,omitempty"`
}

// ToolResult answers one tool use of the preceding assistant turn.
type ToolResult struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []ToolResultContent `json:"content"`
	Status    string              `json:"status,omitempty"`
}

// ToolResultContent is one block of a tool result: text or json.
type ToolResultContent struct {
	Text *string         `json:"text,omitempty"`
	JSON json.RawMessage `json:"json,omitempty"`
}

// Tool is one declared tool.
type Tool struct {
	ToolSpecification *ToolSpecification `json:"toolSpecification,omitempty"`
}

// ToolSpecification declares a tool.
type ToolSpecification struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	InputSchema InputSchema `json:"inputSchema"`
}

// InputSchema wraps a tool's JSON Schema.
type InputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// Image is an inline image.
type Image struct {
	Format string       `json:"format"`
	Source *ImageSource `json:"source"`
}

// ImageSource holds an image's base64 bytes.
type ImageSource struct {
	Bytes string `json:"bytes"`
}

// Document is an inline document.
type Document struct {
	Format string       `json:"format"`
	Name   string       `json:"name"`
	Source *ImageSource `json:"source"`
}

// AssistantResponseMessage is an assistant turn of history.
type AssistantResponseMessage struct {
	Content   string             `json:"content"`
	ToolUses  []AssistantToolUse `json:"toolUses,omitempty"`
	MessageID string             `json:"messageId,omitempty"`

	hasContent bool
}

// AssistantToolUse is a tool call made by an assistant turn of history.
type AssistantToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

// The wire* types are what the body is decoded into: the same members, but
// content as a pointer, because Kiro refuses a missing content and an
// exported *string would be clumsy in Recorded.Parsed. One decoding pass,
// then toRequest; a custom UnmarshalJSON would rescan every message.
type (
	wireRequest struct {
		ConversationState *wireState      `json:"conversationState"`
		ProfileARN        string          `json:"profileArn"`
		InferenceConfig   json.RawMessage `json:"inferenceConfig"`
	}
	wireState struct {
		ConversationID      string        `json:"conversationId"`
		AgentContinuationID string        `json:"agentContinuationId"`
		AgentTaskType       string        `json:"agentTaskType"`
		ChatTriggerType     string        `json:"chatTriggerType"`
		History             []wireMessage `json:"history"`
		CurrentMessage      wireMessage   `json:"currentMessage"`
	}
	wireMessage struct {
		User      *wireUser      `json:"userInputMessage"`
		Assistant *wireAssistant `json:"assistantResponseMessage"`
	}
	wireUser struct {
		UserInputMessage
		Content *string `json:"content"` // shadows the embedded member
	}
	wireAssistant struct {
		AssistantResponseMessage
		Content *string `json:"content"`
	}
)

// parseRequest decodes a chat body.
func parseRequest(body []byte) (*Request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	req := &Request{ProfileARN: w.ProfileARN, InferenceConfig: w.InferenceConfig}
	if ws := w.ConversationState; ws != nil {
		cs := &ConversationState{
			ConversationID: ws.ConversationID, AgentContinuationID: ws.AgentContinuationID,
			AgentTaskType: ws.AgentTaskType, ChatTriggerType: ws.ChatTriggerType,
			CurrentMessage: ws.CurrentMessage.message(),
		}
		if ws.History != nil {
			cs.History = make([]Message, len(ws.History))
			for i, m := range ws.History {
				cs.History[i] = m.message()
			}
		}
		req.ConversationState = cs
	}
	return req, nil
}

func (w wireMessage) message() Message {
	var m Message
	if u := w.User; u != nil {
		m.User = &u.UserInputMessage
		if u.Content != nil {
			m.User.Content, m.User.hasContent = *u.Content, true
		}
	}
	if a := w.Assistant; a != nil {
		m.Assistant = &a.AssistantResponseMessage
		if a.Content != nil {
			m.Assistant.Content, m.Assistant.hasContent = *a.Content, true
		}
	}
	return m
}
