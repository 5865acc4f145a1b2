package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/relay"
	"github.com/kirotray/kirotray/proxy/relay/relaytest"
)

// newServer serves a Handler over a scripted backend and returns an
// openai-go client for it.
func newServer(t *testing.T, b *relaytest.Backend) (oai.Client, string) {
	t.Helper()
	h := &Handler{Relay: &relay.Relay{Backend: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", h.ChatCompletions)
	mux.HandleFunc("POST /v1/responses", h.Responses)
	mux.HandleFunc("GET /v1/models", h.Models)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return oai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0)), srv.URL
}

var bashTool = oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "Bash",
	Description: oai.String("Run a shell command."),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"command": map[string]any{"type": "string"}},
		"required":   []string{"command"},
	},
})

func TestChatNonStreamingWithTools(t *testing.T) {
	b := relaytest.NewBackend(relaytest.Script{Events: append(relaytest.Text("Listing."),
		relaytest.ToolCall("tooluse_1", "Bash", `{"command":"ls -la"}`)...)})
	client, _ := newServer(t, b)
	png := "data:image/png;base64,iVBORw0KGgo="
	got, err := client.Chat.Completions.New(context.Background(), oai.ChatCompletionNewParams{
		Model: "claude-sonnet-4-5",
		Messages: []oai.ChatCompletionMessageParamUnion{
			oai.SystemMessage("You are terse."),
			oai.DeveloperMessage("Prefer shell tools."),
			oai.UserMessage([]oai.ChatCompletionContentPartUnionParam{
				oai.TextContentPart("what is in this picture, and list the files"),
				oai.ImageContentPart(oai.ChatCompletionContentPartImageImageURLParam{URL: png}),
			}),
		},
		Tools:      []oai.ChatCompletionToolUnionParam{bashTool},
		ToolChoice: oai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: oai.String("required")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := got.Choices[0]
	if ch.FinishReason != "tool_calls" || ch.Message.Content != "Listing." || len(ch.Message.ToolCalls) != 1 {
		t.Fatalf("choice %+v", ch)
	}
	tc := ch.Message.ToolCalls[0]
	if tc.ID != "toolu_1" || tc.Function.Name != "Bash" || tc.Function.Arguments != `{"command":"ls -la"}` {
		t.Fatalf("tool call %+v", tc)
	}
	if got.Usage.PromptTokens <= 0 || got.Usage.CompletionTokens <= 0 || got.Usage.TotalTokens != got.Usage.PromptTokens+got.Usage.CompletionTokens {
		t.Fatalf("usage %+v", got.Usage)
	}
	if !strings.HasPrefix(got.ID, "chatcmpl-") || got.Model != "claude-sonnet-4-5" {
		t.Fatalf("id %q model %q", got.ID, got.Model)
	}

	req := b.Requests()[0]
	if req.System != "You are terse.\n\nPrefer shell tools." {
		t.Errorf("system %q", req.System)
	}
	if len(req.Messages) != 1 || len(req.Messages[0].Content) != 2 {
		t.Fatalf("messages %+v", req.Messages)
	}
	if img := req.Messages[0].Content[1]; img.Type != conv.Image || img.MediaType != "image/png" || img.Data != "iVBORw0KGgo=" {
		t.Errorf("image %+v", img)
	}
	if len(req.Tools) != 1 || req.Tools[0].Name != "Bash" || req.ToolChoice.Type != conv.ToolChoiceAny {
		t.Errorf("tools %+v choice %+v", req.Tools, req.ToolChoice)
	}
}

func TestChatStreamingParallelToolsAndUsage(t *testing.T) {
	evs := relaytest.Text("<thinking>Two files to read.</thinking>\n\n", "Reading both.")
	evs = append(evs, relaytest.ToolCall("tooluse_a", "Read", `{"path":"a.go"}`)...)
	evs = append(evs, relaytest.ToolCall("tooluse_b", "Read", `{"path":"b.go"}`)...)
	b := relaytest.NewBackend(relaytest.Script{Events: evs})
	client, _ := newServer(t, b)
	stream := client.Chat.Completions.NewStreaming(context.Background(), oai.ChatCompletionNewParams{
		Model:           "claude-sonnet-4-5",
		Messages:        []oai.ChatCompletionMessageParamUnion{oai.UserMessage("read a.go and b.go")},
		Tools:           []oai.ChatCompletionToolUnionParam{bashTool},
		ReasoningEffort: shared.ReasoningEffortLow,
		StreamOptions:   oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)},
	})
	var acc oai.ChatCompletionAccumulator
	var finished []string
	reasoning := ""
	for stream.Next() {
		chunk := stream.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("the accumulator refused %s", chunk.RawJSON())
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = append(finished, tc.ID+" "+tc.Arguments)
		}
		if len(chunk.Choices) > 0 {
			var d struct {
				Reasoning string `json:"reasoning_content"`
			}
			_ = json.Unmarshal([]byte(chunk.Choices[0].Delta.RawJSON()), &d)
			reasoning += d.Reasoning
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	msg := acc.Choices[0].Message
	if acc.Choices[0].FinishReason != "tool_calls" || msg.Content != "Reading both." || len(msg.ToolCalls) != 2 {
		t.Fatalf("accumulated %+v", acc.Choices[0])
	}
	if msg.ToolCalls[1].ID != "toolu_b" || msg.ToolCalls[1].Function.Arguments != `{"path":"b.go"}` {
		t.Fatalf("second call %+v", msg.ToolCalls[1])
	}
	if len(finished) != 2 {
		t.Errorf("finished tool calls seen while streaming: %q", finished)
	}
	if reasoning != "Two files to read." {
		t.Errorf("reasoning_content %q", reasoning)
	}
	if acc.Usage.TotalTokens == 0 || acc.Usage.CompletionTokensDetails.ReasoningTokens == 0 {
		t.Errorf("usage %+v", acc.Usage)
	}
	if th := b.Requests()[0].Thinking; th.Mode != conv.ThinkingEnabled || th.Budget != budgetLow {
		t.Errorf("thinking %+v", th)
	}
}

func TestChatToolRoundTripHistory(t *testing.T) {
	b := relaytest.NewBackend(relaytest.Script{Events: relaytest.Text("Two files.")})
	client, _ := newServer(t, b)
	assistant := oai.ChatCompletionAssistantMessageParam{ToolCalls: []oai.ChatCompletionMessageToolCallUnionParam{
		{OfFunction: &oai.ChatCompletionMessageFunctionToolCallParam{ID: "call_1",
			Function: oai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "Bash", Arguments: `{"command":"ls"}`}}},
		{OfFunction: &oai.ChatCompletionMessageFunctionToolCallParam{ID: "call_2",
			Function: oai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "Bash", Arguments: ``}}},
	}}
	got, err := client.Chat.Completions.New(context.Background(), oai.ChatCompletionNewParams{
		Model: "gpt-4o",
		Messages: []oai.ChatCompletionMessageParamUnion{
			oai.UserMessage("list"),
			{OfAssistant: &assistant},
			oai.ToolMessage("a.go\nb.go", "call_1"),
			oai.ToolMessage("ok", "call_2"),
			oai.SystemMessage("Answer in one line."),
		},
		Tools: []oai.ChatCompletionToolUnionParam{bashTool},
		Stop:  oai.ChatCompletionNewParamsStopUnion{OfString: oai.String("STOP")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Choices[0].Message.Content != "Two files." || got.Choices[0].FinishReason != "stop" {
		t.Fatalf("%+v", got.Choices[0])
	}
	req := b.Requests()[0]
	if len(req.Messages) != 5 {
		t.Fatalf("%d messages: %+v", len(req.Messages), req.Messages)
	}
	uses := req.Messages[1].Content
	if req.Messages[1].Role != conv.Assistant || len(uses) != 2 || uses[0].ToolUseID != "call_1" || string(uses[1].Input) != "{}" {
		t.Errorf("assistant %+v", req.Messages[1])
	}
	res := req.Messages[2].Content[0]
	if res.Type != conv.ToolResult || res.ToolUseID != "call_1" || res.Content[0].Text != "a.go\nb.go" {
		t.Errorf("tool result %+v", res)
	}
	if last := req.Messages[4].Content[0].Text; !strings.Contains(last, "<system-reminder>\nAnswer in one line.") {
		t.Errorf("a system message after the first turn stays in place as a reminder: %q", last)
	}
	if req.Model != "gpt-4o" || len(req.StopSequences) != 1 {
		t.Errorf("model %q stop %q", req.Model, req.StopSequences)
	}
}

func TestChatErrors(t *testing.T) {
	tests := []struct {
		name       string
		script     relaytest.Script
		body       string
		status     int
		typ, code  string
		message    string
		retryAfter string
	}{
		{name: "no messages", body: `{"model":"m","messages":[]}`, status: 400, typ: "invalid_request_error", message: "messages: required"},
		{name: "bad role", body: `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, status: 400, typ: "invalid_request_error", message: `messages.0.role: unknown role "robot"`},
		{name: "wrong type", body: `{"model":"m","messages":[{"role":"user","content":5}]}`, status: 400, typ: "invalid_request_error", message: "messages.0.content"},
		{name: "n", body: `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, status: 400, typ: "invalid_request_error", message: "n: only one choice"},
		{name: "bad JSON", body: `{"model":`, status: 400, typ: "invalid_request_error", message: "invalid JSON"},
		{name: "rate limited", script: relaytest.Script{Err: &kiro.UpstreamError{Status: 429, RetryAfter: 2 * time.Second}},
			status: 429, typ: "rate_limit_error", code: "rate_limit_exceeded", message: "try again in 2s", retryAfter: "2"},
		{name: "quota", script: relaytest.Script{Err: &kiro.UpstreamError{Status: 402, Reason: kiro.ReasonMonthlyQuota}},
			status: 429, typ: "insufficient_quota", code: "insufficient_quota", message: "monthly quota"},
		{name: "prompt too long", script: relaytest.Script{Err: &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength}},
			status: 400, typ: "invalid_request_error", code: "context_length_exceeded", message: "maximum context length is 200000 tokens"},
		{name: "no account", script: relaytest.Script{Err: kiro.ErrNoAccount}, status: 401, typ: "authentication_error", message: "no usable Kiro account"},
		{name: "accounts cooling down", script: relaytest.Script{Err: &kiro.NoAccountError{Reason: "all 2 accounts are cooling down", RetryAt: time.Now().Add(90 * time.Second)}},
			status: 429, typ: "rate_limit_error", code: "rate_limit_exceeded", message: "all 2 accounts are cooling down. Please try again in 90s.", retryAfter: "90"},
		{name: "account needs sign-in", script: relaytest.Script{Err: &kiro.NoAccountError{Reason: `account "work" needs sign-in`}},
			status: 401, typ: "authentication_error", message: `no usable Kiro account: account "work" needs sign-in`},
		{name: "over the byte guard", script: relaytest.Script{Err: &kiro.TooLongError{Bytes: 2000, Limit: 1000}},
			status: 400, typ: "invalid_request_error", code: "context_length_exceeded", message: "prompt is too long"},
		{name: "upstream down", script: relaytest.Script{Err: &kiro.UpstreamError{Status: 503}}, status: 503, typ: "server_error", code: "server_is_overloaded"},
		{name: "refused", script: relaytest.Script{Err: &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonImproper, Message: "Improperly formed request."}},
			status: 400, typ: "invalid_request_error", message: "Improperly formed request."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, base := newServer(t, relaytest.NewBackend(tt.script))
			body := tt.body
			if body == "" {
				body = `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`
			}
			resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			code := ""
			if e.Error.Code != nil {
				code = *e.Error.Code
			}
			if resp.StatusCode != tt.status || e.Error.Type != tt.typ || code != tt.code || !strings.Contains(e.Error.Message, tt.message) {
				t.Fatalf("got %d %+v (code %q)", resp.StatusCode, e.Error, code)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

func TestChatSDKSeesErrors(t *testing.T) {
	t.Run("status", func(t *testing.T) {
		client, _ := newServer(t, relaytest.NewBackend(relaytest.Script{Err: &kiro.UpstreamError{Status: 429}}))
		_, err := client.Chat.Completions.New(context.Background(), oai.ChatCompletionNewParams{
			Model: "m", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}})
		var apiErr *oai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		evs := append(relaytest.Text("partial "), kiro.Exception{Type: "ThrottlingException", Message: "slow down"})
		client, _ := newServer(t, relaytest.NewBackend(relaytest.Script{Events: evs}))
		stream := client.Chat.Completions.NewStreaming(context.Background(), oai.ChatCompletionNewParams{
			Model: "m", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}})
		text := ""
		for stream.Next() {
			if ch := stream.Current(); len(ch.Choices) > 0 {
				text += ch.Choices[0].Delta.Content
			}
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "ThrottlingException") || text != "partial " {
			t.Fatalf("err = %v, text %q", err, text)
		}
	})
	t.Run("length", func(t *testing.T) {
		client, _ := newServer(t, relaytest.NewBackend(relaytest.Script{Events: relaytest.Text(strings.Repeat("word ", 100))}))
		got, err := client.Chat.Completions.New(context.Background(), oai.ChatCompletionNewParams{
			Model: "m", MaxCompletionTokens: oai.Int(5), Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}})
		if err != nil || got.Choices[0].FinishReason != "length" {
			t.Fatalf("%v %+v", err, got)
		}
	})
}

var weatherTool = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name:        "get_weather",
	Description: oai.String("Weather at a place."),
	Parameters:  map[string]any{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}},
}}

func TestResponsesNonStreamingRoundTrip(t *testing.T) {
	b := relaytest.NewBackend(
		relaytest.Script{Events: relaytest.ToolCall("tooluse_w", "get_weather", `{"location":"Paris"}`)},
		relaytest.Script{Events: relaytest.Text("Sunny in Paris.")},
	)
	client, _ := newServer(t, b)
	ctx := context.Background()
	first, err := client.Responses.New(ctx, responses.ResponseNewParams{
		Model:        "gpt-5",
		Instructions: oai.String("Be brief."),
		Input:        responses.ResponseNewParamsInputUnion{OfString: oai.String("weather in Paris?")},
		Tools:        []responses.ToolUnionParam{weatherTool},
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != "completed" || len(first.Output) != 1 || first.Output[0].Type != "function_call" {
		t.Fatalf("first %s", first.RawJSON())
	}
	call := first.Output[0].AsFunctionCall()
	if call.CallID != "toolu_w" || call.Name != "get_weather" || call.Arguments != `{"location":"Paris"}` {
		t.Fatalf("call %+v", call)
	}
	if first.Usage.InputTokens <= 0 || first.Usage.TotalTokens != first.Usage.InputTokens+first.Usage.OutputTokens {
		t.Fatalf("usage %+v", first.Usage)
	}

	// Continue with previous_response_id: the stored history comes first.
	out := responses.ResponseInputItemParamOfFunctionCallOutput("18°C, sunny")
	out.OfFunctionCallOutput.CallID = oai.String(call.CallID)
	second, err := client.Responses.New(ctx, responses.ResponseNewParams{
		Model:              "gpt-5",
		PreviousResponseID: oai.String(first.ID),
		Input:              responses.ResponseNewParamsInputUnion{OfInputItemList: []responses.ResponseInputItemUnionParam{out}},
		Tools:              []responses.ToolUnionParam{weatherTool},
	})
	if err != nil {
		t.Fatal(err)
	}
	if second.OutputText() != "Sunny in Paris." || second.PreviousResponseID != first.ID {
		t.Fatalf("second %s", second.RawJSON())
	}
	req := b.Requests()[1]
	if len(req.Messages) != 3 || req.Messages[1].Content[0].Type != conv.ToolUse || req.Messages[2].Content[0].ToolUseID != "toolu_w" {
		t.Fatalf("continued conversation %+v", req.Messages)
	}
	if req.System != "" {
		t.Errorf("instructions are not carried over by previous_response_id: %q", req.System)
	}

	_, err = client.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5", PreviousResponseID: oai.String("resp_nope"),
		Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("hi")}})
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "previous_response_not_found" {
		t.Fatalf("unknown previous response: %v", err)
	}
}

func TestResponsesStreamingAsCodex(t *testing.T) {
	evs := relaytest.Text("<thinking>Need ls.</thinking>", "Listing.")
	evs = append(evs, relaytest.ToolCall("tooluse_e", "exec_command", `{"cmd":"ls"}`)...)
	b := relaytest.NewBackend(relaytest.Script{Events: evs})
	client, _ := newServer(t, b)
	input := []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("You are Codex.", responses.EasyInputMessageRoleDeveloper),
		responses.ResponseInputItemParamOfMessage("list the files", responses.EasyInputMessageRoleUser),
	}
	stream := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model:     "claude-sonnet-4-5",
		Input:     responses.ResponseNewParamsInputUnion{OfInputItemList: input},
		Store:     oai.Bool(false),
		Reasoning: shared.ReasoningParam{Summary: shared.ReasoningSummaryAuto},
		Tools: []responses.ToolUnionParam{
			{OfFunction: &responses.FunctionToolParam{Name: "exec_command", Parameters: map[string]any{"type": "object"}}},
			{OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}},
		},
	})
	var types []string
	var final responses.Response
	text, summary, args := "", "", ""
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			text += ev.Delta
		case "response.reasoning_summary_text.delta":
			summary += ev.Delta
		case "response.function_call_arguments.delta":
			args += ev.Delta
		case "response.completed":
			final = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
		"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.done",
		"response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
		"response.output_item.done", "response.completed"}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("events:\n%v\nwant\n%v", types, want)
	}
	if text != "Listing." || summary != "Need ls." || args != `{"cmd":"ls"}` {
		t.Fatalf("text %q summary %q args %q", text, summary, args)
	}
	if final.Status != "completed" || len(final.Output) != 3 || final.Usage.OutputTokensDetails.ReasoningTokens == 0 {
		t.Fatalf("final %s", final.RawJSON())
	}
	req := b.Requests()[0]
	if req.System == "" || !strings.HasPrefix(req.System, "You are Codex.") || !strings.Contains(req.System, "web_search") {
		t.Errorf("system %q: the developer message, and a note about the dropped hosted tool", req.System)
	}
	if len(req.Tools) != 1 || req.Thinking.Mode != conv.ThinkingEnabled {
		t.Errorf("tools %+v thinking %+v", req.Tools, req.Thinking)
	}
}

func TestResponsesStreamFailures(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int    // HTTP status when not sent as response.failed
		code   string // response.failed's error code
	}{
		{name: "rate limited", err: &kiro.UpstreamError{Status: 429}, code: "rate_limit_exceeded"},
		{name: "quota", err: &kiro.UpstreamError{Status: 402, Reason: kiro.ReasonMonthlyQuota}, code: "insufficient_quota"},
		{name: "too long", err: &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength}, code: "context_length_exceeded"},
		{name: "overloaded", err: &kiro.UpstreamError{Status: 500}, code: "server_error"}, // retried by Codex
		{name: "no account", err: kiro.ErrNoAccount, status: 401},
		{name: "refused", err: &kiro.UpstreamError{Status: 400, Message: "bad"}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := newServer(t, relaytest.NewBackend(relaytest.Script{Err: tt.err}))
			stream := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
				Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("hi")}})
			var last responses.ResponseStreamEventUnion
			var types []string
			for stream.Next() {
				last = stream.Current()
				types = append(types, last.Type)
			}
			err := stream.Err()
			if tt.status != 0 {
				var apiErr *oai.Error
				if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status {
					t.Fatalf("err = %v, events %v", err, types)
				}
				return
			}
			if err != nil || strings.Join(types, " ") != "response.created response.failed" {
				t.Fatalf("err %v, events %v", err, types)
			}
			if last.Response.Status != "failed" || last.Response.Error.Code != responses.ResponseErrorCode(tt.code) || last.Response.Error.Message == "" {
				t.Fatalf("failed event %s", last.RawJSON())
			}
		})
	}
}

func TestModelsOpenAIShape(t *testing.T) {
	client, _ := newServer(t, relaytest.NewBackend())
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) == 0 || page.Data[0].Object != "model" || page.Data[0].OwnedBy != "anthropic" || page.Data[0].Created == 0 {
		t.Fatalf("%s", page.RawJSON())
	}
}
