package kirofake

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/kiro/eventstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// machineID is a well-formed 64-hex-digit machine id.
var machineID = strings.Repeat("3f0c", 16)

// fake is a Server on a loopback listener with a client that is cleaned up.
type fake struct {
	*Server
	ts     *httptest.Server
	client *http.Client
}

func newFake(t testing.TB, cfg Config) *fake {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ts.Close()
	})
	return &fake{Server: s, ts: ts, client: &http.Client{Transport: tr}}
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// chatRequest builds a chat call the way the Kiro IDE sends it.
func (f *fake) chatRequest(t testing.TB, token string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.ts.URL+"/generateAssistantResponse", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-amz-user-agent", "aws-sdk-js/1.0.34 KiroIDE-0.11.107-"+machineID)
	req.Header.Set("user-agent", "aws-sdk-js/1.0.34 ua/2.1 os/darwin#24.6.0 lang/js md/nodejs#22.22.0 api/codewhispererstreaming#1.0.34 m/E KiroIDE-0.11.107-"+machineID)
	req.Header.Set("amz-sdk-invocation-id", uuid.NewString())
	req.Header.Set("amz-sdk-request", "attempt=1; max=3")
	req.Header.Set("x-amzn-kiro-agent-mode", "vibe")
	return req
}

func (f *fake) do(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// chat sends body and returns the response; the body is read by the caller.
func (f *fake) chat(t testing.TB, token string, body []byte) *http.Response {
	t.Helper()
	return f.do(t, f.chatRequest(t, token, body))
}

// socialToken adds a social account and returns a live access token for it.
func (f *fake) socialToken(name string) string {
	f.AddSocialAccount(name)
	return f.IssueAccessToken(name)
}

// kiroError is a data-plane error body.
type kiroError struct {
	Message string  `json:"message"`
	Reason  *string `json:"reason"`
}

func readError(t testing.TB, resp *http.Response) kiroError {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e kiroError
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	if !bytes.Contains(raw, []byte(`"reason":`)) {
		t.Errorf("error body %s has no reason member", raw)
	}
	return e
}

// decoded is a chat stream decoded the way the proxy decodes it.
type decoded struct {
	events []kiro.Event
	err    error // what ended the stream, nil for a clean end
}

// It is safe to call from any goroutine.
func decodeStream(_ testing.TB, r io.Reader) decoded {
	var d decoded
	dec := eventstream.NewDecoder(r)
	for {
		m, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return d
		}
		if err != nil {
			d.err = err
			return d
		}
		ev, err := kiro.ParseEvent(&m)
		if err != nil {
			d.err = err
			return d
		}
		d.events = append(d.events, ev)
	}
}

// text joins the stream's assistant text.
func (d decoded) text() string {
	var b strings.Builder
	for _, e := range d.events {
		if e, ok := e.(kiro.Text); ok {
			b.WriteString(e.Content)
		}
	}
	return b.String()
}

// toolCalls joins tool fragments by id, in order of appearance.
func (d decoded) toolCalls() []kiro.ToolUse {
	var out []kiro.ToolUse
	index := map[string]int{}
	for _, e := range d.events {
		tu, ok := e.(kiro.ToolUse)
		if !ok {
			continue
		}
		i, seen := index[tu.ID]
		if !seen {
			i = len(out)
			index[tu.ID] = i
			out = append(out, kiro.ToolUse{ID: tu.ID, Name: tu.Name})
		}
		out[i].Input += tu.Input
		out[i].Stop = out[i].Stop || tu.Stop
	}
	return out
}

func mustOK(t testing.TB, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("Content-Type = %q", ct)
	}
}

// body is a generateAssistantResponse body as a JSON tree that tests edit
// with set and del before marshalling.
type body map[string]any

func parseBody(s string) body {
	var b body
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		panic(err)
	}
	return b
}

func (b body) bytes() []byte {
	raw, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	return raw
}

// walk returns the parent of the last path element and that element.
func (b body) walk(path string) (any, string) {
	parts := strings.Split(path, ".")
	var cur any = map[string]any(b)
	for _, p := range parts[:len(parts)-1] {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i, _ := strconv.Atoi(p)
			cur = c[i]
		}
	}
	return cur, parts[len(parts)-1]
}

func (b body) set(path string, v any) body {
	parent, last := b.walk(path)
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
	case []any:
		i, _ := strconv.Atoi(last)
		p[i] = v
	default:
		panic("set: no parent for " + path)
	}
	return b
}

func (b body) del(path string) body {
	parent, last := b.walk(path)
	delete(parent.(map[string]any), last)
	return b
}

func (b body) get(path string) any {
	parent, last := b.walk(path)
	switch p := parent.(type) {
	case map[string]any:
		return p[last]
	case []any:
		i, _ := strconv.Atoi(last)
		return p[i]
	}
	return nil
}

// validBody is protocol.md §3.1's example: a system pair, a tool round in
// history, and a current message answering it with Bash and Read declared.
const validBody = `{
  "conversationState": {
    "conversationId": "5b0e6c4a-8d2f-4f0e-a8a1-0c9d7e6b5a43",
    "agentContinuationId": "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
    "agentTaskType": "vibe",
    "chatTriggerType": "MANUAL",
    "history": [
      {"userInputMessage": {"content": "You are a coding agent.", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}},
      {"assistantResponseMessage": {"content": "I will follow these instructions."}},
      {"userInputMessage": {"content": "List the Go files", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}},
      {"assistantResponseMessage": {"content": "I'll list them.",
        "toolUses": [{"toolUseId": "toolu_01AbC", "name": "Bash", "input": {"command": "ls *.go"}}]}}
    ],
    "currentMessage": {"userInputMessage": {
      "content": "", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR",
      "userInputMessageContext": {
        "toolResults": [{"toolUseId": "toolu_01AbC", "content": [{"text": "main.go\nproxy.go"}], "status": "success"}],
        "tools": [
          {"toolSpecification": {"name": "Bash", "description": "Run a shell command.",
            "inputSchema": {"json": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}},
          {"toolSpecification": {"name": "Read", "description": "Read a file.",
            "inputSchema": {"json": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}}}
        ]}}}
  }
}`

// simpleBody is a first turn with no history and no tools.
func simpleBody(prompt string) body {
	return body{"conversationState": map[string]any{
		"chatTriggerType": "MANUAL",
		"conversationId":  uuid.NewString(),
		"currentMessage": map[string]any{"userInputMessage": map[string]any{
			"content": prompt, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}},
	}}
}

// toolSpec declares a tool for a body.
func toolSpec(name string, schema string) map[string]any {
	var s any
	if err := json.Unmarshal([]byte(schema), &s); err != nil {
		panic(err)
	}
	return map[string]any{"toolSpecification": map[string]any{
		"name": name, "description": "The " + name + " tool.", "inputSchema": map[string]any{"json": s}}}
}

// withTools puts tools on the current message of b.
func (b body) withTools(tools ...map[string]any) body {
	list := make([]any, len(tools))
	for i, t := range tools {
		list[i] = t
	}
	return b.set("conversationState.currentMessage.userInputMessage.userInputMessageContext", map[string]any{"tools": list})
}
