package gemini

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/relay"
	"github.com/kirotray/kirotray/proxy/relay/relaytest"
)

func newServer(t *testing.T, b *relaytest.Backend) string {
	t.Helper()
	h := &Handler{Relay: &relay.Relay{Backend: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1beta/models/{action}", h.ModelAction)
	mux.HandleFunc("GET /v1beta/models", h.Models)
	mux.HandleFunc("GET /v1beta/models/{model}", h.Model)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// response is the part of a GenerateContentResponse the tests read.
type response struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []struct {
				Text         *string `json:"text"`
				Thought      bool    `json:"thought"`
				FunctionCall *struct {
					ID   string          `json:"id"`
					Name string          `json:"name"`
					Args json.RawMessage `json:"args"`
				} `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *struct {
		Prompt     int `json:"promptTokenCount"`
		Candidates int `json:"candidatesTokenCount"`
		Thoughts   int `json:"thoughtsTokenCount"`
		Total      int `json:"totalTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	Error        *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readSSE(t *testing.T, resp *http.Response) []response {
	t.Helper()
	var out []response
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q", line)
		}
		var r response
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		out = append(out, r)
	}
	return out
}

const userTurn = `{"contents":[{"role":"user","parts":[{"text":"list the files"}]}],
 "tools":[{"functionDeclarations":[{"name":"run_shell_command","parametersJsonSchema":{"type":"object","properties":{"command":{"type":"string"}}}}]}],
 "generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingLevel":"HIGH"}}}`

func TestStreamGenerateContentToolRoundTrip(t *testing.T) {
	evs := relaytest.Text("<thinking>Use the shell.</thinking>", "Listing.")
	evs = append(evs, relaytest.ToolCall("tooluse_1", "run_shell_command", `{"command":"ls"}`)...)
	b := relaytest.NewBackend(relaytest.Script{Events: evs}, relaytest.Script{Events: relaytest.Text("Two files.")})
	base := newServer(t, b)

	resp := post(t, base+"/v1beta/models/gemini-3.1-pro-preview:streamGenerateContent?alt=sse", userTurn)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	chunks := readSSE(t, resp)
	var thought, text, callID string
	for _, ch := range chunks[:len(chunks)-1] {
		if ch.Candidates[0].FinishReason != "" || ch.UsageMetadata != nil {
			t.Fatalf("finishReason before the last chunk")
		}
		for _, p := range ch.Candidates[0].Content.Parts {
			switch {
			case p.FunctionCall != nil:
				callID = p.FunctionCall.ID
				if p.FunctionCall.Name != "run_shell_command" || string(p.FunctionCall.Args) != `{"command":"ls"}` {
					t.Fatalf("call %+v", p.FunctionCall)
				}
			case p.Thought:
				thought += *p.Text
			default:
				text += *p.Text
			}
		}
	}
	last := chunks[len(chunks)-1]
	if last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata == nil || last.UsageMetadata.Thoughts == 0 ||
		last.UsageMetadata.Total != last.UsageMetadata.Prompt+last.UsageMetadata.Candidates+last.UsageMetadata.Thoughts {
		t.Fatalf("last chunk %+v", last)
	}
	if thought != "Use the shell." || text != "Listing." || callID != "toolu_1" || last.ModelVersion != "gemini-3.1-pro-preview" {
		t.Fatalf("thought %q text %q call %q model %q", thought, text, callID, last.ModelVersion)
	}
	first := b.Requests()[0]
	if first.Model != DefaultModel || first.Thinking.Mode != conv.ThinkingAdaptive || len(first.Tools) != 1 {
		t.Fatalf("request %+v", first)
	}

	// Gemini CLI sends the call back with its id and the result.
	next := `{"contents":[{"role":"user","parts":[{"text":"list the files"}]},
	 {"role":"model","parts":[{"text":"Listing."},{"functionCall":{"id":"` + callID + `","name":"run_shell_command","args":{"command":"ls"}}}]},
	 {"role":"user","parts":[{"functionResponse":{"id":"` + callID + `","name":"run_shell_command","response":{"output":"a.go\nb.go"}}}]}]}`
	resp = post(t, base+"/v1beta/models/gemini-3.1-pro-preview:generateContent", next)
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if *r.Candidates[0].Content.Parts[0].Text != "Two files." || r.Candidates[0].FinishReason != "STOP" || r.Candidates[0].Content.Role != "model" {
		t.Fatalf("%+v", r)
	}
	second := b.Requests()[1]
	if res := second.Messages[2].Content[0]; res.Type != conv.ToolResult || res.ToolUseID != "toolu_1" || res.Content[0].Text != "a.go\nb.go" {
		t.Fatalf("result %+v", res)
	}
}

func TestStreamAsJSONArray(t *testing.T) {
	base := newServer(t, relaytest.NewBackend(relaytest.Script{Events: relaytest.Text("Hel", "lo")}))
	resp := post(t, base+"/v1beta/models/gemini-2.5-flash:streamGenerateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	var chunks []response
	if err := json.NewDecoder(resp.Body).Decode(&chunks); err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 3 || chunks[2].Candidates[0].FinishReason != "STOP" {
		t.Fatalf("%+v", chunks)
	}
}

func TestGenerateContentJSONMode(t *testing.T) {
	b := relaytest.NewBackend(relaytest.Script{Events: relaytest.Text("Here you go:\n```json\n{\"model_choice\":\"flash\"}\n```")})
	base := newServer(t, b)
	resp := post(t, base+"/v1beta/models/gemini-3.5-flash-lite:generateContent", `{"contents":[{"role":"user","parts":[{"text":"route"}]}],
	 "generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"OBJECT","properties":{"model_choice":{"type":"STRING"}}}}}`)
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if got := *r.Candidates[0].Content.Parts[0].Text; got != `{"model_choice":"flash"}` {
		t.Fatalf("text %q", got)
	}
	if req := b.Requests()[0]; req.Model != FastModel || !strings.Contains(req.System, `"type":"string"`) {
		t.Fatalf("model %q system %q", req.Model, req.System)
	}
}

func TestCountTokensAndModels(t *testing.T) {
	base := newServer(t, relaytest.NewBackend())
	for _, body := range []string{
		`{"contents":[{"parts":[{"text":"hello there"}]}]}`,
		`{"generateContentRequest":{"model":"models/gemini-2.5-pro","contents":[{"parts":[{"text":"hello there"}]}]}}`,
	} {
		var n struct{ TotalTokens int }
		if err := json.NewDecoder(post(t, base+"/v1beta/models/gemini-2.5-pro:countTokens", body).Body).Decode(&n); err != nil || n.TotalTokens <= 0 {
			t.Fatalf("%s: %+v %v", body, n, err)
		}
	}
	resp, err := http.Get(base + "/v1beta/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Models []struct {
			Name        string   `json:"name"`
			Description string   `json:"description"`
			InputLimit  int      `json:"inputTokenLimit"`
			Methods     []string `json:"supportedGenerationMethods"`
		} `json:"models"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Models) != len(DefaultModels) {
		t.Fatalf("%+v %v", list, err)
	}
	if m := list.Models[0]; !strings.HasPrefix(m.Name, "models/gemini-") || !strings.Contains(m.Description, DefaultModel) || m.InputLimit != 200_000 || len(m.Methods) != 3 {
		t.Fatalf("%+v", m)
	}
	resp2, err := http.Get(base + "/v1beta/models/gemini-9-flash")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var one struct{ Name, Description string }
	if err := json.NewDecoder(resp2.Body).Decode(&one); err != nil || one.Name != "models/gemini-9-flash" || !strings.Contains(one.Description, FastModel) {
		t.Fatalf("%+v %v", one, err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, path, body string
		script           relaytest.Script
		code             int
		status, msg      string
	}{
		{"rate limited", ":generateContent", "", relaytest.Script{Err: &kiro.UpstreamError{Status: 429}}, 429, "RESOURCE_EXHAUSTED", "rate limited"},
		{"too long", ":streamGenerateContent?alt=sse", "", relaytest.Script{Err: &kiro.UpstreamError{Status: 400, Reason: kiro.ReasonContentLength}},
			400, "INVALID_ARGUMENT", "exceeds the maximum number of tokens allowed (200000)"},
		{"no account", ":generateContent", "", relaytest.Script{Err: kiro.ErrNoAccount}, 401, "UNAUTHENTICATED", "Kiro account"},
		{"accounts cooling down", ":generateContent", "", relaytest.Script{Err: &kiro.NoAccountError{Reason: "cooling down", RetryAt: time.Now().Add(time.Minute)}},
			429, "RESOURCE_EXHAUSTED", "can serve this now: cooling down"},
		{"bad body", ":generateContent", `{"contents":[]}`, relaytest.Script{}, 400, "INVALID_ARGUMENT", "contents: required"},
		{"unknown method", ":embedContent", "", relaytest.Script{}, 404, "NOT_FOUND", "embedContent"},
		{"no method", "", "", relaytest.Script{}, 404, "NOT_FOUND", "models/{model}:{method}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := newServer(t, relaytest.NewBackend(tt.script))
			body := tt.body
			if body == "" {
				body = `{"contents":[{"parts":[{"text":"hi"}]}]}`
			}
			resp := post(t, base+"/v1beta/models/gemini-2.5-pro"+tt.path, body)
			var r response
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.code || r.Error == nil || r.Error.Code != tt.code || r.Error.Status != tt.status || !strings.Contains(r.Error.Message, tt.msg) {
				t.Fatalf("%d %+v", resp.StatusCode, r.Error)
			}
		})
	}
	t.Run("mid-stream", func(t *testing.T) {
		evs := append(relaytest.Text("partial"), kiro.Exception{Type: "InternalServerException"})
		base := newServer(t, relaytest.NewBackend(relaytest.Script{Events: evs}))
		chunks := readSSE(t, post(t, base+"/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", `{"contents":[{"parts":[{"text":"hi"}]}]}`))
		if len(chunks) != 2 || chunks[1].Error == nil || chunks[1].Error.Status != "UNAVAILABLE" {
			t.Fatalf("%+v", chunks)
		}
	})
}
