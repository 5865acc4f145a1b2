package kirofake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// mcpCall posts a JSON-RPC body to /mcp the way the Kiro IDE does and
// decodes the JSON answer.
func (f *fake) mcpCall(t *testing.T, token, arn, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.ts.URL+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-amz-user-agent", "aws-sdk-js/1.0.34 KiroIDE-0.11.107-"+machineID)
	if arn != "" {
		req.Header.Set("x-amzn-kiro-profile-arn", arn)
	}
	resp := f.do(t, req)
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	return resp.StatusCode, out
}

const searchCall = `{"id":"web_search_tooluse_abc_1767225600000_xyz","jsonrpc":"2.0","method":"tools/call","params":{"name":"web_search","arguments":{"query":"golang generics"}}}`

func TestMCPWebSearch(t *testing.T) {
	f := newFake(t, Config{Seed: 3})
	token := f.socialToken("work")
	arn := f.ProfileARN("work")

	status, out := f.mcpCall(t, token, arn, searchCall)
	if status != http.StatusOK || out["jsonrpc"] != "2.0" || out["id"] != "web_search_tooluse_abc_1767225600000_xyz" {
		t.Fatalf("%d %v", status, out)
	}
	result := out["result"].(map[string]any)
	content := result["content"].([]any)[0].(map[string]any)
	if content["type"] != "text" || result["isError"] != false {
		t.Fatalf("result %v", result)
	}
	var answer searchAnswer
	if err := json.Unmarshal([]byte(content["text"].(string)), &answer); err != nil {
		t.Fatal(err)
	}
	if answer.Query != "golang generics" || len(answer.Results) != webSearchResults || answer.TotalResults != webSearchResults {
		t.Fatalf("answer %+v", answer)
	}
	for _, r := range answer.Results {
		if !strings.HasPrefix(r.URL, "https://") || !strings.Contains(r.URL, "/golang-generics/") ||
			!strings.Contains(r.Title, "golang generics") || r.Snippet == "" || r.PublishedDate <= 0 || r.Domain == "" {
			t.Errorf("result %+v", r)
		}
	}
	// The same query gives the same results.
	_, again := f.mcpCall(t, token, arn, searchCall)
	if again["result"].(map[string]any)["content"].([]any)[0].(map[string]any)["text"] != content["text"] {
		t.Error("results differ for the same query")
	}
	if u := f.Usage("work"); u.WebSearches != 2 {
		t.Errorf("usage %+v", u)
	}
}

func TestMCPErrors(t *testing.T) {
	f := newFake(t, Config{})
	token := f.socialToken("work")
	arn := f.ProfileARN("work")
	key := f.AddAPIKeyAccount("keyed")

	rpcCode := func(out map[string]any) float64 {
		e, _ := out["error"].(map[string]any)
		code, _ := e["code"].(float64)
		return code
	}
	for _, tt := range []struct {
		name, body string
		code       float64
	}{
		{"not JSON", `{`, rpcParseError},
		{"not JSON-RPC", `{"id":1,"method":"tools/call"}`, rpcInvalidRequest},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"resources/list"}`, rpcNoMethod},
		{"unknown tool", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fetch","arguments":{}}}`, rpcInvalidParams},
		{"no query", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"web_search","arguments":{}}}`, rpcInvalidParams},
	} {
		status, out := f.mcpCall(t, token, arn, tt.body)
		if status != http.StatusOK || rpcCode(out) != tt.code {
			t.Errorf("%s: %d %v, want JSON-RPC error %v", tt.name, status, out, tt.code)
		}
	}
	long := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"` + strings.Repeat("q", maxQueryRunes+1) + `"}}}`
	if _, out := f.mcpCall(t, token, arn, long); out["result"].(map[string]any)["isError"] != true {
		t.Errorf("long query: %v", out)
	}
	if _, out := f.mcpCall(t, token, arn, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); out["result"] == nil {
		t.Errorf("tools/list: %v", out)
	}

	// HTTP-level refusals.
	if status, _ := f.mcpCall(t, "nope", arn, searchCall); status != http.StatusForbidden {
		t.Errorf("bad token: %d", status)
	}
	if status, _ := f.mcpCall(t, token, "", searchCall); status != http.StatusBadRequest {
		t.Errorf("no profile ARN: %d", status)
	}
	if status, _ := f.mcpCall(t, token, "arn:aws:codewhisperer:us-east-1:000000000000:profile/OTHER", searchCall); status != http.StatusForbidden {
		t.Errorf("someone else's ARN: %d", status)
	}
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/mcp", strings.NewReader(searchCall))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("tokentype", "API_KEY")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-amz-user-agent", "aws-sdk-js/1.0.34 KiroIDE-0.11.107-"+machineID)
	if resp := f.do(t, req); resp.StatusCode != http.StatusOK {
		t.Errorf("API key without ARN: %d", resp.StatusCode)
	}

	f.SetMCPFault(Fault{Status: http.StatusServiceUnavailable, Times: 1})
	if status, _ := f.mcpCall(t, token, arn, searchCall); status != http.StatusServiceUnavailable {
		t.Errorf("fault: %d", status)
	}
	if status, _ := f.mcpCall(t, token, arn, searchCall); status != http.StatusOK {
		t.Errorf("after the fault: %d", status)
	}
}

func TestBodyLimitLeavesImagesOut(t *testing.T) {
	f := newFake(t, Config{MaxBodyBytes: 20_000})
	token := f.socialToken("work")
	img := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 50_000)) // 200 KB of base64
	withImage := simpleBody("what is this?").set(cur+".images", []any{map[string]any{"format": "png", "source": map[string]any{"bytes": img}}})
	mustOK(t, f.chat(t, token, withImage.bytes()))

	resp := f.chat(t, token, simpleBody(strings.Repeat("x", 20_001)).bytes())
	if e := readError(t, resp); resp.StatusCode != http.StatusBadRequest || e.Reason == nil || *e.Reason != "CONTENT_LENGTH_EXCEEDS_THRESHOLD" {
		t.Errorf("long text: %d %+v", resp.StatusCode, e)
	}
}

func TestTooManyImages(t *testing.T) {
	f := newFake(t, Config{MaxBodyBytes: 1 << 20})
	token := f.socialToken("work")
	images := func(n int) []any {
		var out []any
		for range n {
			out = append(out, map[string]any{"format": "png", "source": map[string]any{"bytes": "iVBORw0KGgo="}})
		}
		return out
	}
	mustOK(t, f.chat(t, token, simpleBody("look").set(cur+".images", images(maxImages)).bytes()))
	resp := f.chat(t, token, simpleBody("look").set(cur+".images", images(maxImages+1)).bytes())
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("%d images: status %d", maxImages+1, resp.StatusCode)
	}
	if d := lastDetail(f); !strings.Contains(d, "at most 20") {
		t.Errorf("detail %q", d)
	}
}

func TestDemoJSONAnswer(t *testing.T) {
	prompt := "<session>\nlist the files in this directory\n</session>\n\nWrite the title in the language the user wrote in.\n\n" +
		"Answer with only a JSON value that conforms to the JSON Schema below: no code fences, no other text.\n" +
		`{"type":"object","properties":{"title":{"type":"string"},"words":{"type":"integer"}},"required":["title","words"],"additionalProperties":false}`
	d, _ := demo(t, 1, simpleBody(prompt))
	var got struct {
		Title string
		Words int
	}
	if err := json.Unmarshal([]byte(d.text()), &got); err != nil {
		t.Fatalf("answer %q: %v", d.text(), err)
	}
	if got.Title != "List the files in this directory" || got.Words != 1 {
		t.Errorf("got %+v", got)
	}
}
