package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/proxy/kirofake"
)

// End to end with the official OpenAI SDK (and Gemini's REST shape) against
// `kirotray serve`, the real Kiro client and the simulated upstream.

func openaiSDK(baseURL, key string) oai.Client {
	return oai.NewClient(option.WithBaseURL(baseURL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

var shellTool = oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "Bash",
	Description: oai.String("Run a shell command."),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"command": map[string]any{"type": "string"}},
		"required":   []string{"command"},
	},
})

func TestServeDemoWithTheOpenAISDKChat(t *testing.T) {
	base, _ := startServe(t, app.ServeConfig{Demo: true, APIKey: "test-key"})
	client := openaiSDK(base, "test-key")
	ctx := context.Background()
	params := oai.ChatCompletionNewParams{
		Model: "gpt-4o", // any name works; the demo maps it to a Claude model
		Messages: []oai.ChatCompletionMessageParamUnion{
			oai.SystemMessage("You are a coding agent."),
			oai.UserMessage("list the files in this directory"),
		},
		Tools: []oai.ChatCompletionToolUnionParam{shellTool},
	}

	t.Run("non-streaming tool round trip", func(t *testing.T) {
		first, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		ch := first.Choices[0]
		if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
			t.Fatalf("first answer %s", first.RawJSON())
		}
		tc := ch.Message.ToolCalls[0]
		var in struct{ Command string }
		if err := json.Unmarshal([]byte(tc.Function.Arguments), &in); err != nil || tc.Function.Name != "Bash" || in.Command == "" {
			t.Fatalf("tool call %+v: %v", tc, err)
		}
		next := params
		next.Messages = append(append([]oai.ChatCompletionMessageParamUnion(nil), params.Messages...),
			ch.Message.ToParam(), oai.ToolMessage("main.go\ngo.mod", tc.ID))
		second, err := client.Chat.Completions.New(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		if second.Choices[0].FinishReason != "stop" || second.Choices[0].Message.Content == "" || second.Usage.TotalTokens == 0 {
			t.Fatalf("second answer %s", second.RawJSON())
		}
	})

	t.Run("streaming with usage", func(t *testing.T) {
		p := params
		p.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
		stream := client.Chat.Completions.NewStreaming(ctx, p)
		var acc oai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			chunks++
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("refused chunk %s", stream.Current().RawJSON())
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if chunks < 4 || acc.Choices[0].FinishReason != "tool_calls" || len(acc.Choices[0].Message.ToolCalls) != 1 || acc.Usage.TotalTokens == 0 {
			t.Fatalf("%d chunks, accumulated %+v", chunks, acc.ChatCompletion)
		}
	})

	t.Run("models in the OpenAI shape", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil || len(page.Data) == 0 || page.Data[0].Object != "model" {
			t.Fatalf("%v %+v", err, page)
		}
	})
}

func TestServeDemoWithTheOpenAISDKResponses(t *testing.T) {
	base, _ := startServe(t, app.ServeConfig{Demo: true, APIKey: "test-key"})
	client := openaiSDK(base, "test-key")
	ctx := context.Background()
	tools := []responses.ToolUnionParam{
		{OfFunction: &responses.FunctionToolParam{Name: "exec_command", Description: oai.String("Runs a command."),
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"cmd": map[string]any{"type": "string"}}, "required": []string{"cmd"}}}},
		{OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}},
	}

	t.Run("streaming, store false, full history as Codex sends it", func(t *testing.T) {
		input := []responses.ResponseInputItemUnionParam{
			responses.ResponseInputItemParamOfMessage("You are a coding agent.", responses.EasyInputMessageRoleDeveloper),
			responses.ResponseInputItemParamOfMessage("list the files in this directory", responses.EasyInputMessageRoleUser),
		}
		var calls int
		for turn := range 2 {
			stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
				Model: "claude-sonnet-4-5", Store: oai.Bool(false), Tools: tools,
				Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
			})
			var final responses.Response
			var deltas int
			for stream.Next() {
				ev := stream.Current()
				switch ev.Type {
				case "response.output_text.delta", "response.function_call_arguments.delta":
					deltas++
				case "response.completed":
					final = ev.Response
				case "response.failed":
					t.Fatalf("turn %d failed: %s", turn, ev.RawJSON())
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("turn %d: %v", turn, err)
			}
			if final.Status != "completed" || final.Usage.TotalTokens == 0 || deltas == 0 {
				t.Fatalf("turn %d: %s", turn, final.RawJSON())
			}
			var outputs []responses.ResponseInputItemUnionParam
			for _, item := range final.Output {
				switch item.Type {
				case "message":
					input = append(input, responses.ResponseInputItemParamOfMessage(item.AsMessage().Content[0].Text, responses.EasyInputMessageRoleAssistant))
				case "function_call":
					calls++
					call := item.AsFunctionCall()
					fc := call.ToParam() // the raw item, as Codex resends it
					input = append(input, responses.ResponseInputItemUnionParam{OfFunctionCall: &fc})
					out := responses.ResponseInputItemParamOfFunctionCallOutput("main.go\ngo.mod")
					out.OfFunctionCallOutput.CallID = oai.String(call.CallID)
					outputs = append(outputs, out)
				}
			}
			if turn == 0 && len(outputs) == 0 {
				t.Fatalf("no function call: %s", final.RawJSON())
			}
			input = append(input, outputs...)
		}
		if calls != 1 {
			t.Fatalf("%d function calls over two turns, want 1 then an answer", calls)
		}
	})

	t.Run("non-streaming with previous_response_id", func(t *testing.T) {
		first, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "claude-sonnet-4-5", Tools: tools, Instructions: oai.String("You are a coding agent."),
			Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("list the files in this directory")},
		})
		if err != nil {
			t.Fatal(err)
		}
		var call responses.ResponseFunctionToolCall
		for _, item := range first.Output {
			if item.Type == "function_call" {
				call = item.AsFunctionCall()
			}
		}
		if call.CallID == "" || call.Name != "exec_command" {
			t.Fatalf("first %s", first.RawJSON())
		}
		out := responses.ResponseInputItemParamOfFunctionCallOutput("main.go\ngo.mod")
		out.OfFunctionCallOutput.CallID = oai.String(call.CallID)
		second, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "claude-sonnet-4-5", Tools: tools, PreviousResponseID: oai.String(first.ID),
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: []responses.ResponseInputItemUnionParam{out}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if second.Status != "completed" || second.OutputText() == "" {
			t.Fatalf("second %s", second.RawJSON())
		}
	})
}

func TestServeDemoGemini(t *testing.T) {
	base, _ := startServe(t, app.ServeConfig{Demo: true, APIKey: "test-key"})
	body := `{"contents":[{"role":"user","parts":[{"text":"list the files in this directory"}]}],
	 "systemInstruction":{"role":"user","parts":[{"text":"You are Gemini CLI."}]},
	 "tools":[{"functionDeclarations":[{"name":"run_shell_command","description":"Runs a shell command.",
	   "parametersJsonSchema":{"type":"object","properties":{"command":{"type":"string"},"description":{"type":"string"}},"required":["command"]}}]}],
	 "generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024}}}`
	req, _ := http.NewRequest(http.MethodPost, base+"/v1beta/models/gemini-3.1-pro-preview:streamGenerateContent?alt=sse", strings.NewReader(body))
	req.Header.Set("X-Goog-Api-Key", "test-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var call json.RawMessage
	var finish string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var chunk struct {
			Candidates []struct {
				Content struct {
					Parts []struct {
						FunctionCall json.RawMessage `json:"functionCall"`
					} `json:"parts"`
				} `json:"content"`
				FinishReason string `json:"finishReason"`
			} `json:"candidates"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		for _, p := range chunk.Candidates[0].Content.Parts {
			if p.FunctionCall != nil {
				call = p.FunctionCall
			}
		}
		finish = chunk.Candidates[0].FinishReason
	}
	if resp.StatusCode != 200 || finish != "STOP" || !strings.Contains(string(call), `"name":"run_shell_command"`) {
		t.Fatalf("%d finish %q call %s", resp.StatusCode, finish, call)
	}
	var fc struct{ ID, Name string }
	_ = json.Unmarshal(call, &fc)

	next := `{"contents":[{"role":"user","parts":[{"text":"list the files in this directory"}]},
	 {"role":"model","parts":[{"functionCall":` + string(call) + `}]},
	 {"role":"user","parts":[{"functionResponse":{"id":"` + fc.ID + `","name":"run_shell_command","response":{"output":"main.go"}}}]}],
	 "tools":[{"functionDeclarations":[{"name":"run_shell_command","parametersJsonSchema":{"type":"object","properties":{"command":{"type":"string"}}}}]}]}`
	resp2, err := http.Post(base+"/v1beta/models/gemini-2.5-flash:generateContent?key=test-key", "application/json", strings.NewReader(next))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var answer struct {
		Candidates []struct {
			Content struct {
				Parts []struct{ Text string } `json:"parts"`
			} `json:"content"`
			FinishReason string `json:"finishReason"`
		} `json:"candidates"`
	}
	if err := json.NewDecoder(resp2.Body).Decode(&answer); err != nil || resp2.StatusCode != 200 ||
		answer.Candidates[0].FinishReason != "STOP" || answer.Candidates[0].Content.Parts[0].Text == "" {
		t.Fatalf("%d %+v %v", resp2.StatusCode, answer, err)
	}
}

// TestOpenAIErrorsEndToEnd scripts upstream failures in a simulated Kiro and
// checks what OpenAI clients get.
func TestOpenAIErrorsEndToEnd(t *testing.T) {
	fake := kirofake.New(kirofake.Config{Seed: 1})
	upstream := httptest.NewServer(fake)
	defer upstream.Close()
	refresh, arn := fake.AddSocialAccount("alice")
	credPath := filepath.Join(t.TempDir(), "accounts.json")
	b, _ := json.Marshal([]map[string]any{{"name": "alice", "authMethod": "social", "refreshToken": refresh, "profileArn": arn}})
	if err := os.WriteFile(credPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startServe(t, app.ServeConfig{APIKey: "k", Credentials: credPath, KiroAPI: upstream.URL, KiroAuth: upstream.URL, OIDC: upstream.URL})
	client := openaiSDK(base, "k")
	ctx := context.Background()
	chat := oai.ChatCompletionNewParams{Model: "claude-sonnet-4-5", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}}

	t.Run("prompt too long", func(t *testing.T) {
		fake.Enqueue(kirofake.Reply{Fault: kirofake.Fault{Status: 400, Reason: "CONTENT_LENGTH_EXCEEDS_THRESHOLD", Message: "Input is too long."}})
		_, err := client.Chat.Completions.New(ctx, chat)
		var apiErr *oai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "context_length_exceeded" {
			t.Fatalf("chat: %v", err)
		}
		// Codex compacts on this code in response.failed.
		fake.Enqueue(kirofake.Reply{Fault: kirofake.Fault{Status: 400, Reason: "CONTENT_LENGTH_EXCEEDS_THRESHOLD", Message: "Input is too long."}})
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "claude-sonnet-4-5",
			Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("hi")}})
		var last responses.ResponseStreamEventUnion
		for stream.Next() {
			last = stream.Current()
		}
		if stream.Err() != nil || last.Type != "response.failed" || last.Response.Error.Code != "context_length_exceeded" {
			t.Fatalf("responses: %v %s", stream.Err(), last.RawJSON())
		}
	})

	t.Run("exception mid-stream", func(t *testing.T) {
		fake.Enqueue(kirofake.Reply{Events: []kirofake.Event{kirofake.Text("partial answer "),
			kirofake.Exception{Type: "InternalServerException", Message: "boom"}}})
		stream := client.Chat.Completions.NewStreaming(ctx, chat)
		text := ""
		for stream.Next() {
			if ch := stream.Current(); len(ch.Choices) > 0 {
				text += ch.Choices[0].Delta.Content
			}
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "InternalServerException") || text != "partial answer " {
			t.Fatalf("err %v text %q", err, text)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		bad := openaiSDK(base, "nope")
		_, err := bad.Chat.Completions.New(ctx, chat)
		var apiErr *oai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Type != "authentication_error" {
			t.Fatalf("%v", err)
		}
	})
}
