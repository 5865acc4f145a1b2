package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kirotray/kirotray/proxy/kiro"
)

// TestFrontEndRoutes builds the real router (httprouter panics at build
// time on conflicting patterns) and reaches every OpenAI and Gemini route
// through the whole middleware stack.
func TestFrontEndRoutes(t *testing.T) {
	h := newTestServer(t, &scripted{events: []kiro.Event{kiro.Text{Content: "hello"}}}, nil).Handler()
	bearer := map[string]string{"Authorization": "Bearer " + testKey}
	goog := map[string]string{"X-Goog-Api-Key": testKey}
	tests := []struct {
		method, target, body string
		hdr                  map[string]string
		want                 string
	}{
		{"POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, bearer, `"object":"chat.completion"`},
		{"POST", "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, bearer, "data: [DONE]"},
		{"POST", "/v1/responses", `{"model":"m","input":"hi"}`, bearer, `"object":"response"`},
		{"POST", "/v1/responses", `{"model":"m","input":"hi","stream":true}`, bearer, "event: response.completed"},
		{"POST", "/v1beta/models/gemini-2.5-pro:generateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`, goog, `"finishReason":"STOP"`},
		{"POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", `{"contents":[{"parts":[{"text":"hi"}]}]}`, goog, `data: {"candidates"`},
		{"POST", "/v1beta/models/gemini-2.5-pro:countTokens", `{"contents":[{"parts":[{"text":"hi"}]}]}`, goog, `"totalTokens"`},
		{"GET", "/v1beta/models", "", goog, `"models/gemini-2.5-pro"`},
		{"GET", "/v1beta/models/gemini-2.5-flash", "", goog, `"name":"models/gemini-2.5-flash"`},
		{"POST", "/v1/messages", helloBody, map[string]string{"X-Api-Key": testKey}, `"type":"message"`},
	}
	for _, tt := range tests {
		rec := do(t, h, tt.method, tt.target, tt.body, tt.hdr)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s %s: %d %s", tt.method, tt.target, rec.Code, rec.Body.String())
		}
	}
}

func TestModelListShapeByClient(t *testing.T) {
	h := newTestServer(t, &scripted{}, nil).Handler()
	tests := []struct {
		name   string
		hdr    map[string]string
		openai bool
	}{
		{"OpenAI SDK, Codex", map[string]string{"Authorization": "Bearer " + testKey}, true},
		{"Anthropic SDK", map[string]string{"X-Api-Key": testKey, "Anthropic-Version": "2023-06-01"}, false},
		{"Claude Code with ANTHROPIC_AUTH_TOKEN", map[string]string{"Authorization": "Bearer " + testKey, "Anthropic-Version": "2023-06-01"}, false},
		{"x-api-key alone", map[string]string{"X-Api-Key": testKey}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, "/v1/models", "", tt.hdr)
			var body struct {
				Object string `json:"object"`
				Data   []struct {
					ID      string `json:"id"`
					Object  string `json:"object"`
					Type    string `json:"type"`
					OwnedBy string `json:"owned_by"`
					Created int64  `json:"created"`
				} `json:"data"`
				HasMore *bool `json:"has_more"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 || len(body.Data) == 0 {
				t.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
			m := body.Data[0]
			gotOpenAI := body.Object == "list" && m.Object == "model" && m.OwnedBy != "" && m.Created > 0 && body.HasMore == nil
			gotAnthropic := body.Object == "" && m.Type == "model" && body.HasMore != nil
			if tt.openai && !gotOpenAI || !tt.openai && !gotAnthropic {
				t.Fatalf("wrong shape: %s", rec.Body.String())
			}
		})
	}
}

func TestWantsOpenAIList(t *testing.T) {
	tests := []struct {
		hdr  map[string]string
		want bool
	}{
		{map[string]string{"Authorization": "Bearer k"}, true},
		{map[string]string{"Authorization": "bearer k"}, true},
		{map[string]string{"Authorization": "Bearer k", "Anthropic-Version": "2023-06-01"}, false},
		{map[string]string{"Authorization": "Bearer k", "X-Api-Key": "k"}, false},
		{map[string]string{"X-Api-Key": "k"}, false},
		{map[string]string{"X-Goog-Api-Key": "k"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		for k, v := range tt.hdr {
			r.Header.Set(k, v)
		}
		if got := wantsOpenAIList(r); got != tt.want {
			t.Errorf("%v: %v", tt.hdr, got)
		}
	}
}

func TestGeminiKeyPlaces(t *testing.T) {
	h := newTestServer(t, &scripted{events: []kiro.Event{kiro.Text{Content: "hello"}}}, nil).Handler()
	body := `{"contents":[{"parts":[{"text":"hi"}]}]}`
	path := "/v1beta/models/gemini-2.5-pro:generateContent"
	tests := []struct {
		name   string
		target string
		hdr    map[string]string
		status int
	}{
		{"x-goog-api-key", path, map[string]string{"X-Goog-Api-Key": testKey}, 200},
		{"?key=", path + "?key=" + testKey, nil, 200},
		{"wrong header key", path, map[string]string{"X-Goog-Api-Key": "nope"}, 401},
		{"wrong query key", path + "?key=nope", nil, 401},
		{"none", path, nil, 401},
	}
	for _, tt := range tests {
		if rec := do(t, h, http.MethodPost, tt.target, body, tt.hdr); rec.Code != tt.status {
			t.Errorf("%s: %d %s", tt.name, rec.Code, rec.Body.String())
		}
	}
}

func TestOpenAIPathsGetOpenAIErrors(t *testing.T) {
	h := newTestServer(t, &scripted{}, nil).Handler()
	for _, path := range []string{"/v1/chat/completions", "/v1/responses"} {
		rec := do(t, h, http.MethodPost, path, `{}`, nil)
		var e struct {
			Error struct {
				Message, Type string
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != 401 || e.Error.Type != "authentication_error" {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
}
