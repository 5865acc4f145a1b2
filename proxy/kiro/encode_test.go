package kiro

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kirotray/kirotray/proxy/conv"
)

// TestEncodeMatchesEncodingJSON: the hand-written encoder writes exactly what
// encoding/json writes for the wire structs (tool inputs compacted, as
// encoding/json does with a RawMessage).
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		req := genRequest(randChooser{r})
		p := buildParts(req)
		got, _ := encodeBody(p)
		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil {
			t.Fatalf("case %d: invalid JSON: %v\n%s", i, err, got)
		}
		want, err := referenceBody(p)
		if err != nil {
			t.Fatalf("case %d: reference: %v", i, err)
		}
		if !bytes.Equal(compact.Bytes(), want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, compact.Bytes(), want)
		}
	}
}

// buildParts runs BuildRequest's pipeline up to the encoder.
func buildParts(req *conv.Request) bodyParts {
	var names toolNames
	specs := buildTools(req.Tools, &names)
	turns := frameTurns(mergeRuns(dropPrefill(toTurns(req.Messages, len(specs) == 0, &names))))
	repairPairing(turns)
	limitImages(turns, 2)
	if len(specs) > 0 {
		specs = declareHistoryTools(specs, turns)
	}
	fillPlaceholders(turns)
	model := MapModel(req.Model)
	return bodyParts{conversationID: "c\u2028", continuationID: "k", profileARN: req.System, modelID: model.ID,
		thinking: thinkingPrefix(req, model), system: req.System, turns: turns, tools: specs}
}

func TestAppendString(t *testing.T) {
	cases := []string{"", "plain", "quote\" back\\slash", "\b\f\n\r\t\x00\x1f\x7f", "<html> & co",
		"é✓😀", "bad \xff\xfe utf8", "\u2028\u2029", "trunc \xe2\x82", strings.Repeat("ab\n", 100)}
	for b := range 256 {
		cases = append(cases, string([]byte{'a', byte(b), 'z'}))
	}
	for _, s := range cases {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		if got := string(appendString(nil, s)); got+"\n" != want.String() {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want.String())
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("hello \u2028 \xff \x01")
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip %q → %q", s, back)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		if string(got)+"\n" != want.String() {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want.String())
		}
	})
}

// Wire types of the body (§3.1, §3.2), for the reference encoder.
type (
	wireBody struct {
		ConversationState wireState `json:"conversationState"`
		ProfileARN        string    `json:"profileArn,omitempty"`
	}
	wireState struct {
		ConversationID      string        `json:"conversationId"`
		AgentContinuationID string        `json:"agentContinuationId"`
		AgentTaskType       string        `json:"agentTaskType"`
		ChatTriggerType     string        `json:"chatTriggerType"`
		History             []wireHistory `json:"history,omitempty"`
		CurrentMessage      wireCurrent   `json:"currentMessage"`
	}
	wireCurrent struct {
		UserInputMessage *wireUser `json:"userInputMessage"`
	}
	wireHistory struct {
		User      *wireUser      `json:"userInputMessage,omitempty"`
		Assistant *wireAssistant `json:"assistantResponseMessage,omitempty"`
	}
	wireUser struct {
		Content string       `json:"content"`
		ModelID string       `json:"modelId"`
		Origin  string       `json:"origin"`
		Images  []wireImage  `json:"images,omitempty"`
		Context *wireContext `json:"userInputMessageContext,omitempty"`
	}
	wireContext struct {
		ToolResults []wireToolResult `json:"toolResults,omitempty"`
		Tools       []wireTool       `json:"tools,omitempty"`
	}
	wireToolResult struct {
		ToolUseID string     `json:"toolUseId"`
		Content   []wireText `json:"content"`
		Status    string     `json:"status"`
	}
	wireText struct {
		Text string `json:"text"`
	}
	wireTool struct {
		ToolSpecification wireToolSpec `json:"toolSpecification"`
	}
	wireToolSpec struct {
		Name        string     `json:"name"`
		Description string     `json:"description"`
		InputSchema wireSchema `json:"inputSchema"`
	}
	wireSchema struct {
		JSON json.RawMessage `json:"json"`
	}
	wireAssistant struct {
		Content  string        `json:"content"`
		ToolUses []wireToolUse `json:"toolUses,omitempty"`
	}
	wireToolUse struct {
		ToolUseID string          `json:"toolUseId"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
	}
	wireImage struct {
		Format string          `json:"format"`
		Source wireImageSource `json:"source"`
	}
	wireImageSource struct {
		Bytes string `json:"bytes"`
	}
)

// referenceBody is the obvious encoding of the body: wire structs and
// encoding/json. encodeBody must write the same bytes.
func referenceBody(p bodyParts) ([]byte, error) {
	turns := p.turns
	nHist := len(turns) - 1
	if p.thinking+p.system != "" {
		nHist += 2
	}
	nUsers, nAssistants := 1, 0
	for i := range turns {
		if turns[i].assistant {
			nAssistants++
		} else {
			nUsers++
		}
	}
	users := make([]wireUser, 0, nUsers)
	assistants := make([]wireAssistant, 0, nAssistants+1)
	user := func(content string) *wireUser {
		users = append(users, wireUser{Content: content, ModelID: p.modelID, Origin: origin})
		return &users[len(users)-1]
	}
	assistant := func(content string) *wireAssistant {
		assistants = append(assistants, wireAssistant{Content: content})
		return &assistants[len(assistants)-1]
	}

	var history []wireHistory
	if nHist > 0 {
		history = make([]wireHistory, 0, nHist)
	}
	if p.thinking+p.system != "" {
		history = append(history, wireHistory{User: user(p.thinking + p.system)}, wireHistory{Assistant: assistant(systemAck)})
	}
	for i := range turns[:len(turns)-1] {
		t := &turns[i]
		if t.assistant {
			a := assistant(t.text)
			a.ToolUses = wireUses(t.uses)
			history = append(history, wireHistory{Assistant: a})
			continue
		}
		u := user(t.text)
		u.Images = wireImages(t.images)
		if len(t.results) > 0 {
			u.Context = &wireContext{ToolResults: wireResults(t.results)}
		}
		history = append(history, wireHistory{User: u})
	}

	last := &turns[len(turns)-1]
	cur := user(last.text)
	cur.Images = wireImages(last.images)
	if len(last.results) > 0 || len(p.tools) > 0 {
		cur.Context = &wireContext{ToolResults: wireResults(last.results), Tools: wireTools(p.tools)}
	}

	body := wireBody{
		ConversationState: wireState{
			ConversationID:      p.conversationID,
			AgentContinuationID: p.continuationID,
			AgentTaskType:       agentTaskType,
			ChatTriggerType:     chatTriggerType,
			History:             history,
			CurrentMessage:      wireCurrent{UserInputMessage: cur},
		},
		ProfileARN: p.profileARN,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&body); err != nil {
		return nil, errors.New("reference encode: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func wireUses(uses []toolUse) []wireToolUse {
	if len(uses) == 0 {
		return nil
	}
	out := make([]wireToolUse, len(uses))
	for i, u := range uses {
		out[i] = wireToolUse{ToolUseID: u.id, Name: u.name, Input: u.input}
	}
	return out
}

func wireResults(results []toolResult) []wireToolResult {
	if len(results) == 0 {
		return nil
	}
	out := make([]wireToolResult, len(results))
	texts := make([]wireText, len(results))
	for i, r := range results {
		status := "success"
		if r.isError {
			status = "error"
		}
		texts[i] = wireText{Text: r.text}
		out[i] = wireToolResult{ToolUseID: r.id, Content: texts[i : i+1 : i+1], Status: status}
	}
	return out
}

func wireImages(images []image) []wireImage {
	if len(images) == 0 {
		return nil
	}
	out := make([]wireImage, len(images))
	for i, im := range images {
		out[i] = wireImage{Format: im.format, Source: wireImageSource{Bytes: im.data}}
	}
	return out
}

func wireTools(specs []spec) []wireTool {
	if len(specs) == 0 {
		return nil
	}
	out := make([]wireTool, len(specs))
	for i, s := range specs {
		out[i] = wireTool{ToolSpecification: wireToolSpec{Name: s.name, Description: s.desc, InputSchema: wireSchema{JSON: s.schema}}}
	}
	return out
}
