package kirofake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

func (f *fake) get(t *testing.T, path, token string, header ...string) (int, map[string]any) {
	t.Helper()
	req := mustRequest(t, http.MethodGet, f.ts.URL+path, "")
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp := f.do(t, req)
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode, out
}

func TestUsageLimits(t *testing.T) {
	clock := newClock()
	f := newFake(t, Config{Now: clock.Now})
	_, arn := f.AddSocialAccount("work")
	token := f.IssueAccessToken("work")
	const q = "/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST"

	for _, bad := range []string{"/getUsageLimits", "/getUsageLimits?origin=AI_EDITOR", "/getUsageLimits?origin=CLI&resourceType=AGENTIC_REQUEST"} {
		if status, _ := f.get(t, bad, token); status != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, status)
		}
	}
	if status, out := f.get(t, q, "nope"); status != http.StatusForbidden || out["message"] != "The bearer token included in the request is invalid." {
		t.Errorf("bad token: %d %v", status, out)
	}
	f.AddSocialAccount("other")
	if status, _ := f.get(t, q+"&profileArn="+url.QueryEscape(f.ProfileARN("other")), token); status != http.StatusForbidden {
		t.Errorf("another account's ARN: %d", status)
	}

	used := func() float64 {
		t.Helper()
		status, out := f.get(t, q+"&isEmailRequired=true&profileArn="+url.QueryEscape(arn), token)
		if status != 200 {
			t.Fatalf("usage: %d %v", status, out)
		}
		if out["userInfo"].(map[string]any)["email"] != "work@example.com" || out["nextDateReset"] != 1775001600.0 {
			t.Errorf("answer %v", out)
		}
		b := out["usageBreakdownList"].([]any)[0].(map[string]any)
		if b["resourceType"] != "CREDIT" || b["usageLimitWithPrecision"] != 1000.0 {
			t.Errorf("breakdown %v", b)
		}
		return b["currentUsageWithPrecision"].(float64)
	}
	before := used()
	for range 2 {
		resp := f.chat(t, token, simpleBody("hi").bytes())
		io.Copy(io.Discard, resp.Body)
	}
	after := used()
	if before != 0 || after <= before || after != round(f.Usage("work").Credits, 4) {
		t.Errorf("usage went %v → %v; account metered %v", before, after, f.Usage("work").Credits)
	}
	if u := f.Usage("work"); u.UsageQueries != 2 {
		t.Errorf("usage queries %d", u.UsageQueries)
	}

	key := f.AddAPIKeyAccount("headless")
	if status, _ := f.get(t, q, key, "tokentype", "API_KEY"); status != 200 {
		t.Errorf("API key: %d", status)
	}
	if status, _ := f.get(t, q+"&profileArn="+url.QueryEscape(arn), key, "tokentype", "API_KEY"); status != http.StatusForbidden {
		t.Errorf("API key with profileArn: %d", status)
	}
}

func TestListAvailableModels(t *testing.T) {
	f := newFake(t, Config{})
	token := f.socialToken("work")
	if status, _ := f.get(t, "/ListAvailableModels", token); status != http.StatusBadRequest {
		t.Errorf("no origin: %d", status)
	}
	status, out := f.get(t, "/ListAvailableModels?origin=AI_EDITOR", token)
	if status != 200 {
		t.Fatalf("%d %v", status, out)
	}
	models := map[string]map[string]any{}
	for _, m := range out["models"].([]any) {
		m := m.(map[string]any)
		models[m["modelId"].(string)] = m
	}
	for _, id := range []string{"auto", "claude-sonnet-4", "claude-sonnet-4.5", "claude-sonnet-4.6", "claude-haiku-4.5",
		"claude-opus-4.5", "claude-opus-4.6", "claude-opus-4.7", "claude-opus-4.8"} {
		if models[id] == nil {
			t.Errorf("catalogue lacks %s", id)
		}
	}
	if lim := models["claude-sonnet-4.5"]["tokenLimits"].(map[string]any); lim["maxInputTokens"] != 200000.0 {
		t.Errorf("sonnet 4.5 limits %v", lim)
	}
	if out["defaultModel"].(map[string]any)["modelId"] != "auto" || out["nextToken"] != nil {
		t.Errorf("default %v, nextToken %v", out["defaultModel"], out["nextToken"])
	}

	var paged []string
	next := ""
	for pages := 0; ; pages++ {
		path := "/ListAvailableModels?origin=AI_EDITOR&maxResults=5"
		if next != "" {
			path += "&nextToken=" + next
		}
		_, out := f.get(t, path, token)
		for _, m := range out["models"].([]any) {
			paged = append(paged, m.(map[string]any)["modelId"].(string))
		}
		next, _ = out["nextToken"].(string)
		if next == "" || pages > 10 {
			break
		}
	}
	if len(paged) != len(DefaultModels()) {
		t.Errorf("pages gave %d models, want %d", len(paged), len(DefaultModels()))
	}
}

func TestCustomCatalogue(t *testing.T) {
	f := newFake(t, Config{Models: []Model{{ID: "claude-opus-5", MaxInputTokens: 1_000_000}}})
	token := f.socialToken("work")
	mustOK(t, f.chat(t, token, simpleBody("hi").set(cur+".modelId", "claude-opus-5").bytes()))
	if resp := f.chat(t, token, simpleBody("hi").bytes()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a model outside the catalogue: %d", resp.StatusCode)
	}
}

func TestListAvailableProfiles(t *testing.T) {
	f := newFake(t, Config{})
	_, arn := f.AddSocialAccount("work")
	req := mustRequest(t, http.MethodPost, f.ts.URL+"/ListAvailableProfiles", "{}")
	req.Header.Set("Authorization", "Bearer "+f.IssueAccessToken("work"))
	var out struct {
		Profiles []struct{ Arn string } `json:"profiles"`
	}
	if err := json.NewDecoder(f.do(t, req).Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Profiles) != 1 || out.Profiles[0].Arn != arn {
		t.Errorf("profiles %+v, want %s", out.Profiles, arn)
	}
}
