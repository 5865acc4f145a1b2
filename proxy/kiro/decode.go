package kiro

import (
	"encoding/json"
	"fmt"

	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

// ParseEvent turns one event-stream frame into an Event. Exception and error
// frames become Exception; an event type this package does not model becomes
// Unknown. Tool names are returned as Kiro sent them (Stream maps them back).
// An error means the frame's JSON payload could not be read.
func ParseEvent(m *eventstream.Message) (Event, error) {
	msgType, _ := m.Header(":message-type")
	switch msgType {
	case "exception":
		typ, _ := m.Header(":exception-type")
		var p struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(m.Payload, &p) // the type alone is enough
		return Exception{Type: typ, Message: p.Message}, nil
	case "error":
		code, _ := m.Header(":error-code")
		msg, _ := m.Header(":error-message")
		return Exception{Type: code, Message: msg}, nil
	}
	typ, _ := m.Header(":event-type")
	switch typ {
	case "assistantResponseEvent":
		var p struct {
			Content string `json:"content"`
		}
		if err := unmarshalPayload(typ, m.Payload, &p); err != nil {
			return nil, err
		}
		return Text{Content: p.Content}, nil
	case "toolUseEvent":
		var p struct {
			Name      string          `json:"name"`
			ToolUseID string          `json:"toolUseId"`
			Input     json.RawMessage `json:"input"`
			Stop      bool            `json:"stop"`
		}
		if err := unmarshalPayload(typ, m.Payload, &p); err != nil {
			return nil, err
		}
		return ToolUse{ID: p.ToolUseID, Name: p.Name, Input: toolInput(p.Input), Stop: p.Stop}, nil
	case "reasoningContentEvent":
		var p struct {
			Text            string `json:"text"`
			Signature       string `json:"signature"`
			RedactedContent string `json:"redactedContent"`
		}
		if err := unmarshalPayload(typ, m.Payload, &p); err != nil {
			return nil, err
		}
		return Reasoning{Text: p.Text, Signature: p.Signature, Redacted: p.RedactedContent}, nil
	case "contextUsageEvent":
		var p struct {
			Percent float64 `json:"contextUsagePercentage"`
		}
		if err := unmarshalPayload(typ, m.Payload, &p); err != nil {
			return nil, err
		}
		return ContextUsage{Percent: p.Percent}, nil
	case "meteringEvent":
		var p struct {
			Usage float64 `json:"usage"`
			Unit  string  `json:"unit"`
		}
		if err := unmarshalPayload(typ, m.Payload, &p); err != nil {
			return nil, err
		}
		return Metering{Usage: p.Usage, Unit: p.Unit}, nil
	case "metadataEvent", "messageMetadataEvent":
		var p struct {
			TokenUsage *struct {
				Uncached   int `json:"uncachedInputTokens"`
				Output     int `json:"outputTokens"`
				CacheRead  int `json:"cacheReadInputTokens"`
				CacheWrite int `json:"cacheWriteInputTokens"`
			} `json:"tokenUsage"`
		}
		if err := unmarshalPayload(typ, m.Payload, &p); err != nil {
			return nil, err
		}
		if p.TokenUsage == nil { // bookkeeping only (conversationId, utteranceId)
			return Unknown{Type: typ}, nil
		}
		u := p.TokenUsage
		return Metadata{InputTokens: u.Uncached, OutputTokens: u.Output, CacheReadTokens: u.CacheRead, CacheWriteTokens: u.CacheWrite}, nil
	case "invalidStateEvent":
		var p struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(m.Payload, &p)
		return Exception{Type: "invalidStateEvent: " + p.Reason, Message: p.Message}, nil
	}
	return Unknown{Type: typ}, nil
}

func unmarshalPayload(typ string, payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("kiro: %s payload: %w", typ, err)
	}
	return nil
}

// toolInput returns a toolUseEvent's input as a JSON text fragment. Kiro sends
// a string fragment; some streams send an object instead, which is the whole
// input (an empty object means "fragments follow").
func toolInput(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if raw[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil && len(obj) == 0 {
			return ""
		}
		return string(raw)
	}
	return ""
}
