package kiro

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// maxInfoBody bounds the answer of getUsageLimits and ListAvailableModels.
const maxInfoBody = 1 << 20

// UsageLimits is the answer of getUsageLimits (§11.2). Amounts prefer the
// "…WithPrecision" values when Kiro sends them.
type UsageLimits struct {
	NextDateReset  time.Time // zero when not sent
	DaysUntilReset int
	Subscription   Subscription
	Email          string // only with isEmailRequired (always asked)
	UserID         string
	OverageStatus  string // ENABLED or DISABLED
	Breakdowns     []UsageBreakdown
}

// Subscription describes the account's plan.
type Subscription struct {
	Title             string // display name, e.g. "KIRO PRO"
	Type              string // e.g. Q_DEVELOPER_STANDALONE_PRO
	OverageCapability string
	UpgradeCapability string
	ManagementTarget  string
}

// UsageBreakdown is the usage of one resource type (CREDIT, …).
type UsageBreakdown struct {
	ResourceType      string
	Unit              string
	Currency          string
	DisplayName       string
	DisplayNamePlural string
	CurrentUsage      float64
	UsageLimit        float64
	NextDateReset     time.Time
	OverageRate       float64
	OverageCap        float64
	FreeTrial         *FreeTrial // nil when not sent
	Bonuses           []Bonus
}

// FreeTrial is a breakdown's trial allowance.
type FreeTrial struct {
	Status       string // ACTIVE or EXPIRED
	Expiry       time.Time
	CurrentUsage float64
	UsageLimit   float64
}

// Bonus is an extra allowance (Kiro-only).
type Bonus struct {
	Code         string
	DisplayName  string
	Status       string // ACTIVE counts
	CurrentUsage float64
	UsageLimit   float64
	ExpiresAt    time.Time
}

// Remaining computes §11.3 over the CREDIT breakdown (the first one when
// there is no CREDIT one): limit and used include an ACTIVE free trial and
// ACTIVE bonuses; remaining is max(0, limit − used) and percent is
// 100 × remaining / limit (0 when limit is 0). All zero without breakdowns.
func (u *UsageLimits) Remaining() (remaining, limit, percent float64) {
	b := u.primary()
	if b == nil {
		return 0, 0, 0
	}
	limit, used := b.UsageLimit, b.CurrentUsage
	if t := b.FreeTrial; t != nil && t.Status == "ACTIVE" {
		limit += t.UsageLimit
		used += t.CurrentUsage
	}
	for _, bo := range b.Bonuses {
		if bo.Status == "ACTIVE" {
			limit += bo.UsageLimit
			used += bo.CurrentUsage
		}
	}
	remaining = math.Max(0, limit-used)
	if limit > 0 {
		percent = 100 * remaining / limit
	}
	return remaining, limit, percent
}

func (u *UsageLimits) primary() *UsageBreakdown {
	for i := range u.Breakdowns {
		if u.Breakdowns[i].ResourceType == "CREDIT" {
			return &u.Breakdowns[i]
		}
	}
	if len(u.Breakdowns) > 0 {
		return &u.Breakdowns[0]
	}
	return nil
}

// epoch is a time in epoch seconds, integer or fractional (§11.2).
type epoch struct{ time.Time }

func (e *epoch) UnmarshalJSON(b []byte) error {
	var f *float64
	if err := json.Unmarshal(b, &f); err != nil || f == nil || *f <= 0 {
		return nil // a malformed timestamp is not worth failing the call
	}
	sec, frac := math.Modf(*f)
	e.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// precise returns the …WithPrecision value when sent, else the plain one.
func precise(withPrecision *float64, plain float64) float64 {
	if withPrecision != nil {
		return *withPrecision
	}
	return plain
}

type wireUsage struct {
	NextDateReset    epoch `json:"nextDateReset"`
	DaysUntilReset   int   `json:"daysUntilReset"`
	SubscriptionInfo struct {
		SubscriptionTitle            string `json:"subscriptionTitle"`
		Type                         string `json:"type"`
		OverageCapability            string `json:"overageCapability"`
		UpgradeCapability            string `json:"upgradeCapability"`
		SubscriptionManagementTarget string `json:"subscriptionManagementTarget"`
	} `json:"subscriptionInfo"`
	UserInfo struct {
		Email  string `json:"email"`
		UserID string `json:"userId"`
	} `json:"userInfo"`
	OverageConfiguration struct {
		OverageStatus string `json:"overageStatus"`
	} `json:"overageConfiguration"`
	UsageBreakdownList []struct {
		ResourceType              string   `json:"resourceType"`
		Unit                      string   `json:"unit"`
		Currency                  string   `json:"currency"`
		DisplayName               string   `json:"displayName"`
		DisplayNamePlural         string   `json:"displayNamePlural"`
		CurrentUsage              float64  `json:"currentUsage"`
		CurrentUsageWithPrecision *float64 `json:"currentUsageWithPrecision"`
		UsageLimit                float64  `json:"usageLimit"`
		UsageLimitWithPrecision   *float64 `json:"usageLimitWithPrecision"`
		NextDateReset             epoch    `json:"nextDateReset"`
		OverageRate               float64  `json:"overageRate"`
		OverageCap                float64  `json:"overageCap"`
		FreeTrialInfo             *struct {
			FreeTrialStatus           string   `json:"freeTrialStatus"`
			FreeTrialExpiry           epoch    `json:"freeTrialExpiry"`
			CurrentUsage              float64  `json:"currentUsage"`
			CurrentUsageWithPrecision *float64 `json:"currentUsageWithPrecision"`
			UsageLimit                float64  `json:"usageLimit"`
			UsageLimitWithPrecision   *float64 `json:"usageLimitWithPrecision"`
		} `json:"freeTrialInfo"`
		Bonuses []struct {
			BonusCode    string  `json:"bonusCode"`
			DisplayName  string  `json:"displayName"`
			Status       string  `json:"status"`
			CurrentUsage float64 `json:"currentUsage"`
			UsageLimit   float64 `json:"usageLimit"`
			ExpiresAt    epoch   `json:"expiresAt"`
		} `json:"bonuses"`
	} `json:"usageBreakdownList"`
}

// UsageLimits reads an account's quota: GET /getUsageLimits (§11). A bad
// token is refreshed once. Failures are returned as *UpstreamError and not
// reported to the account (the caller polls and decides).
func (c *Client) UsageLimits(ctx context.Context, acct Account) (*UsageLimits, error) {
	body, err := c.getJSON(ctx, acct, "/getUsageLimits", func(tok Token) url.Values {
		q := url.Values{"origin": {"AI_EDITOR"}, "resourceType": {"AGENTIC_REQUEST"}, "isEmailRequired": {"true"}}
		if tok.ProfileARN != "" && !tok.APIKey {
			q.Set("profileArn", tok.ProfileARN)
		}
		return q
	})
	if err != nil {
		return nil, err
	}
	var w wireUsage
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("kiro: getUsageLimits: %w", err)
	}
	u := &UsageLimits{
		NextDateReset:  w.NextDateReset.Time,
		DaysUntilReset: w.DaysUntilReset,
		Subscription: Subscription{
			Title:             w.SubscriptionInfo.SubscriptionTitle,
			Type:              w.SubscriptionInfo.Type,
			OverageCapability: w.SubscriptionInfo.OverageCapability,
			UpgradeCapability: w.SubscriptionInfo.UpgradeCapability,
			ManagementTarget:  w.SubscriptionInfo.SubscriptionManagementTarget,
		},
		Email:         w.UserInfo.Email,
		UserID:        w.UserInfo.UserID,
		OverageStatus: w.OverageConfiguration.OverageStatus,
	}
	for _, b := range w.UsageBreakdownList {
		ub := UsageBreakdown{
			ResourceType:      b.ResourceType,
			Unit:              b.Unit,
			Currency:          b.Currency,
			DisplayName:       b.DisplayName,
			DisplayNamePlural: b.DisplayNamePlural,
			CurrentUsage:      precise(b.CurrentUsageWithPrecision, b.CurrentUsage),
			UsageLimit:        precise(b.UsageLimitWithPrecision, b.UsageLimit),
			NextDateReset:     b.NextDateReset.Time,
			OverageRate:       b.OverageRate,
			OverageCap:        b.OverageCap,
		}
		if t := b.FreeTrialInfo; t != nil {
			ub.FreeTrial = &FreeTrial{
				Status:       t.FreeTrialStatus,
				Expiry:       t.FreeTrialExpiry.Time,
				CurrentUsage: precise(t.CurrentUsageWithPrecision, t.CurrentUsage),
				UsageLimit:   precise(t.UsageLimitWithPrecision, t.UsageLimit),
			}
		}
		for _, bo := range b.Bonuses {
			ub.Bonuses = append(ub.Bonuses, Bonus{Code: bo.BonusCode, DisplayName: bo.DisplayName, Status: bo.Status,
				CurrentUsage: bo.CurrentUsage, UsageLimit: bo.UsageLimit, ExpiresAt: bo.ExpiresAt.Time})
		}
		u.Breakdowns = append(u.Breakdowns, ub)
	}
	return u, nil
}

// ModelInfo is one model of the account's catalogue.
type ModelInfo struct {
	ID              string
	Name            string
	Description     string
	RateMultiplier  float64
	RateUnit        string
	MaxInputTokens  int // 0 when not sent
	MaxOutputTokens int
	InputTypes      []string // TEXT, IMAGE
	PromptCache     bool
}

// ModelList is the account's catalogue.
type ModelList struct {
	Models  []ModelInfo
	Default string // id of the default model, if sent
}

type wireModel struct {
	ModelID        string  `json:"modelId"`
	ModelName      string  `json:"modelName"`
	Description    string  `json:"description"`
	RateMultiplier float64 `json:"rateMultiplier"`
	RateUnit       string  `json:"rateUnit"`
	TokenLimits    *struct {
		MaxInputTokens  int `json:"maxInputTokens"`
		MaxOutputTokens int `json:"maxOutputTokens"`
	} `json:"tokenLimits"`
	SupportedInputTypes []string `json:"supportedInputTypes"`
	SupportsPromptCache bool     `json:"supportsPromptCache"`
}

func (w *wireModel) info() ModelInfo {
	m := ModelInfo{ID: w.ModelID, Name: w.ModelName, Description: w.Description, RateMultiplier: w.RateMultiplier,
		RateUnit: w.RateUnit, InputTypes: w.SupportedInputTypes, PromptCache: w.SupportsPromptCache}
	if w.TokenLimits != nil {
		m.MaxInputTokens, m.MaxOutputTokens = w.TokenLimits.MaxInputTokens, w.TokenLimits.MaxOutputTokens
	}
	return m
}

// maxModelPages bounds the pagination of ListModels.
const maxModelPages = 10

// ListModels reads an account's model catalogue: GET /ListAvailableModels
// (§1.2), following nextToken. Failures are returned as *UpstreamError and
// not reported to the account.
func (c *Client) ListModels(ctx context.Context, acct Account) (*ModelList, error) {
	out := &ModelList{}
	next := ""
	for range maxModelPages {
		body, err := c.getJSON(ctx, acct, "/ListAvailableModels", func(tok Token) url.Values {
			q := url.Values{"origin": {"AI_EDITOR"}, "maxResults": {"50"}}
			if tok.ProfileARN != "" && !tok.APIKey {
				q.Set("profileArn", tok.ProfileARN)
			}
			if next != "" {
				q.Set("nextToken", next)
			}
			return q
		})
		if err != nil {
			return nil, err
		}
		var page struct {
			Models       []wireModel `json:"models"`
			DefaultModel *wireModel  `json:"defaultModel"`
			NextToken    string      `json:"nextToken"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("kiro: ListAvailableModels: %w", err)
		}
		for i := range page.Models {
			out.Models = append(out.Models, page.Models[i].info())
		}
		if page.DefaultModel != nil && out.Default == "" {
			out.Default = page.DefaultModel.ModelID
		}
		if page.NextToken == "" || page.NextToken == next {
			break
		}
		next = page.NextToken
	}
	return out, nil
}

// getJSON makes a GET call of the runtime API with the account's token,
// refreshing it once if Kiro refuses it, and returns the 2xx body.
func (c *Client) getJSON(ctx context.Context, acct Account, path string, query func(Token) url.Values) ([]byte, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	ctx, cancel := context.WithTimeout(ctx, otherCallTimeout)
	defer cancel()
	invocation := uuid.NewString()
	force := false
	for {
		tok, err := acct.Token(ctx, force)
		if err != nil {
			return nil, fmt.Errorf("kiro: token of %s: %w", acct.Name(), err)
		}
		u := c.base + path + "?" + query(tok).Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("kiro: %s: %w", path, err)
		}
		c.setHeaders(req.Header, tok, acct, invocation, 1, 1, "api/codewhispererruntime#1.0.0 m/N,E")
		delete(req.Header, "Content-Type")
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &UpstreamError{Message: scrub(err.Error(), tok.Access.Reveal()), Retry: true, Err: err}
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
			e := classify(resp.StatusCode, resp.Header, body, tok.Access.Reveal())
			if e.Reason == ReasonBadToken && !force {
				force = true
				continue
			}
			return nil, e
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxInfoBody))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("kiro: %s: %w", path, err)
		}
		return body, nil
	}
}
