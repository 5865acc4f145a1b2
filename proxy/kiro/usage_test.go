package kiro

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// usageExample is the answer of §11.2.
const usageExample = `{
  "nextDateReset": 1767225600.0,
  "daysUntilReset": 9,
  "subscriptionInfo": { "subscriptionTitle": "KIRO PRO", "type": "Q_DEVELOPER_STANDALONE_PRO",
    "overageCapability": "OVERAGE_CAPABLE", "upgradeCapability": "UPGRADE_CAPABLE",
    "subscriptionManagementTarget": "MANAGE" },
  "userInfo": { "email": "dev@example.com", "userId": "d-9067" },
  "overageConfiguration": { "overageStatus": "DISABLED" },
  "usageBreakdownList": [ {
    "resourceType": "CREDIT", "unit": "INVOCATIONS", "currency": "USD",
    "displayName": "Credit", "displayNamePlural": "Credits",
    "currentUsage": 412, "currentUsageWithPrecision": 412.37,
    "usageLimit": 1000, "usageLimitWithPrecision": 1000.0,
    "nextDateReset": 1767225600, "overageRate": 0.04, "overageCap": 10000,
    "freeTrialInfo": { "freeTrialStatus": "ACTIVE", "freeTrialExpiry": 1766000000.5,
      "currentUsage": 20, "currentUsageWithPrecision": 20.5,
      "usageLimit": 500, "usageLimitWithPrecision": 500.0 },
    "bonuses": [ { "bonusCode": "WELCOME", "displayName": "Welcome bonus", "status": "ACTIVE",
      "currentUsage": 3.0, "usageLimit": 50.0, "expiresAt": 1768000000.0 },
      { "bonusCode": "OLD", "status": "EXPIRED", "currentUsage": 10, "usageLimit": 10 } ]
  } ]
}`

func TestUsageLimits(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			writeError(w, 403, "", "The bearer token included in the request is invalid.")
			return
		}
		w.Write([]byte(usageExample))
	})
	acct := newAccount("a", "tok-a-first-0123456789", "tok-a-second-0123456789")
	c, _ := up.client(t, &fakePool{}, Config{})
	u, err := c.UsageLimits(t.Context(), acct)
	if err != nil {
		t.Fatal(err)
	}
	reqs := up.requests()
	if len(reqs) != 2 || reqs[1].Header.Get("Authorization") != "Bearer tok-a-second-0123456789" {
		t.Fatalf("requests %d; second with %q: want a refresh after the refused token", len(reqs), reqs[len(reqs)-1].Header.Get("Authorization"))
	}
	r := reqs[1]
	q, _ := url.ParseQuery(r.Query)
	if r.Method != http.MethodGet || r.Path != "/getUsageLimits" || q.Get("origin") != "AI_EDITOR" || q.Get("resourceType") != "AGENTIC_REQUEST" ||
		q.Get("isEmailRequired") != "true" || q.Get("profileArn") != acct.arn {
		t.Errorf("%s %s?%s", r.Method, r.Path, r.Query)
	}
	if ua := r.Header.Get("X-Amz-User-Agent"); ua != "aws-sdk-js/1.0.0 KiroIDE-0.11.107-"+MachineID("a") {
		t.Errorf("x-amz-user-agent %q", ua)
	}
	if got := r.Header.Get("Amz-Sdk-Request"); got != "attempt=1; max=1" {
		t.Errorf("amz-sdk-request %q", got)
	}
	if len(acct.reports) != 0 {
		t.Errorf("UsageLimits reported %v", acct.reports)
	}

	if u.Subscription.Title != "KIRO PRO" || u.Email != "dev@example.com" || u.DaysUntilReset != 9 || u.OverageStatus != "DISABLED" {
		t.Errorf("%+v", u)
	}
	if want := time.Unix(1767225600, 0).UTC(); !u.NextDateReset.Equal(want) || !u.Breakdowns[0].NextDateReset.Equal(want) {
		t.Errorf("NextDateReset %v", u.NextDateReset)
	}
	b := u.Breakdowns[0]
	if b.CurrentUsage != 412.37 || b.UsageLimit != 1000 || b.FreeTrial.CurrentUsage != 20.5 || b.FreeTrial.Expiry.Nanosecond() != 5e8 || len(b.Bonuses) != 2 {
		t.Errorf("breakdown %+v", b)
	}
	remaining, limit, pct := u.Remaining()
	if limit != 1550 || math.Abs(remaining-1114.13) > 1e-9 || math.Abs(pct-71.879) > 0.001 {
		t.Errorf("Remaining() = %v, %v, %v; want 1114.13, 1550, 71.88", remaining, limit, pct)
	}
}

func TestRemaining(t *testing.T) {
	tests := []struct {
		name                      string
		u                         UsageLimits
		remaining, limit, percent float64
	}{
		{"no breakdowns", UsageLimits{}, 0, 0, 0},
		{"first when no CREDIT", UsageLimits{Breakdowns: []UsageBreakdown{{ResourceType: "VIBE", UsageLimit: 100, CurrentUsage: 25}, {ResourceType: "SPEC", UsageLimit: 10}}}, 75, 100, 75},
		{"CREDIT preferred", UsageLimits{Breakdowns: []UsageBreakdown{{ResourceType: "VIBE", UsageLimit: 100}, {ResourceType: "CREDIT", UsageLimit: 50, CurrentUsage: 50}}}, 0, 50, 0},
		{"over the limit", UsageLimits{Breakdowns: []UsageBreakdown{{UsageLimit: 50, CurrentUsage: 70}}}, 0, 50, 0},
		{"expired trial ignored", UsageLimits{Breakdowns: []UsageBreakdown{{UsageLimit: 100, FreeTrial: &FreeTrial{Status: "EXPIRED", UsageLimit: 500}}}}, 100, 100, 100},
		{"zero limit", UsageLimits{Breakdowns: []UsageBreakdown{{}}}, 0, 0, 0},
	}
	for _, tt := range tests {
		r, l, p := tt.u.Remaining()
		if r != tt.remaining || l != tt.limit || p != tt.percent {
			t.Errorf("%s: Remaining() = %v, %v, %v; want %v, %v, %v", tt.name, r, l, p, tt.remaining, tt.limit, tt.percent)
		}
	}
}

func TestUsageLimitsError(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeError(w, 403, "TEMPORARILY_SUSPENDED", "Your User ID is temporarily suspended")
	})
	acct := newAccount("a")
	acct.apiKey = true
	c, _ := up.client(t, &fakePool{}, Config{})
	_, err := c.UsageLimits(t.Context(), acct)
	var ue *UpstreamError
	if !errors.As(err, &ue) || ue.Reason != ReasonSuspended {
		t.Fatalf("error %v, want suspended", err)
	}
	r := up.requests()[0]
	if r.Header.Get("Tokentype") != "API_KEY" {
		t.Error("tokentype missing for an API key")
	}
	if q, _ := url.ParseQuery(r.Query); q.Has("profileArn") {
		t.Error("profileArn sent for an API key")
	}
}

func TestListModels(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Query().Get("nextToken") {
		case "":
			w.Write([]byte(`{"models":[{"modelId":"claude-sonnet-4.5","modelName":"Claude Sonnet 4.5","rateMultiplier":1.3,"rateUnit":"credit",
				"tokenLimits":{"maxInputTokens":200000,"maxOutputTokens":64000},"supportedInputTypes":["TEXT","IMAGE"],"supportsPromptCache":true}],
				"defaultModel":{"modelId":"auto"},"nextToken":"p2"}`))
		case "p2":
			w.Write([]byte(`{"models":[{"modelId":"claude-opus-4.8"}]}`))
		}
	})
	c, _ := up.client(t, &fakePool{}, Config{})
	list, err := c.ListModels(t.Context(), newAccount("a"))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Models) != 2 || list.Default != "auto" {
		t.Fatalf("%+v", list)
	}
	m := list.Models[0]
	if m.ID != "claude-sonnet-4.5" || m.MaxInputTokens != 200_000 || m.MaxOutputTokens != 64_000 || !m.PromptCache || len(m.InputTypes) != 2 || m.RateMultiplier != 1.3 {
		t.Errorf("%+v", m)
	}
	q, _ := url.ParseQuery(up.requests()[0].Query)
	if up.requests()[0].Path != "/ListAvailableModels" || q.Get("origin") != "AI_EDITOR" {
		t.Errorf("request %s?%s", up.requests()[0].Path, up.requests()[0].Query)
	}
}
