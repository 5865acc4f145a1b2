package kirofake

import (
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Model is one entry of the catalogue.
type Model struct {
	ID              string
	Name            string
	Description     string
	RateMultiplier  float64 // credits relative to Sonnet
	MaxInputTokens  int     // the context window contextUsageEvent is relative to
	MaxOutputTokens int
}

// DefaultModels returns the catalogue of protocol.md §4.2, with the 1M
// windows of §4.4 for Opus 4.6+ and Sonnet 4.6.
func DefaultModels() []Model {
	m := func(id, name string, rate float64, in int) Model {
		return Model{ID: id, Name: name, Description: name + " (kirofake)", RateMultiplier: rate,
			MaxInputTokens: in, MaxOutputTokens: 64_000}
	}
	return []Model{
		m("auto", "Auto", 1.0, 200_000),
		m("claude-sonnet-4", "Claude Sonnet 4", 1.3, 200_000),
		m("claude-sonnet-4.5", "Claude Sonnet 4.5", 1.3, 200_000),
		m("claude-sonnet-4.6", "Claude Sonnet 4.6", 1.3, 1_000_000),
		m("claude-haiku-4.5", "Claude Haiku 4.5", 0.4, 200_000),
		m("claude-opus-4.5", "Claude Opus 4.5", 2.2, 200_000),
		m("claude-opus-4.6", "Claude Opus 4.6", 2.2, 1_000_000),
		m("claude-opus-4.7", "Claude Opus 4.7", 2.2, 1_000_000),
		m("claude-opus-4.8", "Claude Opus 4.8", 2.2, 1_000_000),
		m("deepseek-3.2", "DeepSeek 3.2", 0.25, 128_000),
		m("glm-5", "GLM 5", 0.25, 200_000),
		m("minimax-m2.1", "MiniMax M2.1", 0.25, 200_000),
		m("minimax-m2.5", "MiniMax M2.5", 0.25, 200_000),
		m("qwen3-coder-next", "Qwen3 Coder Next", 0.25, 256_000),
	}
}

// creditLimit is every account's monthly allowance (KIRO PRO).
const creditLimit = 1000.0

// priorUsage is the credits an account had used before this server started
// (Config.PriorUsage): 5–45 % of creditLimit, stable per name, in tenths.
func (s *Server) priorUsage(name string) float64 {
	if !s.cfg.PriorUsage {
		return 0
	}
	h := fnv.New32a()
	io.WriteString(h, name)
	return float64(50+h.Sum32()%401) * creditLimit / 1000
}

func badQuery(param, value, want string) *apiError {
	return constraint(param, value, "Member must satisfy enum value set: ["+want+"]")
}

// usageLimits serves GET /getUsageLimits (protocol.md §11).
func (s *Server) usageLimits(w http.ResponseWriter, r *http.Request) error {
	acct, ok := s.bearer(r)
	if !ok {
		return errBearer
	}
	q := r.URL.Query()
	if v := q.Get("origin"); v != "AI_EDITOR" {
		return badQuery("origin", v, "AI_EDITOR")
	}
	if v := q.Get("resourceType"); v != "AGENTIC_REQUEST" {
		return badQuery("resourceType", v, "AGENTIC_REQUEST")
	}
	if err := s.checkProfile(acct, q.Get("profileArn")); err != nil && err.Status == http.StatusForbidden {
		return err
	}
	s.mu.Lock()
	acct.usage.UsageQueries++
	name := acct.name
	used := acct.usage.Credits + s.priorUsage(name)
	script := acct.script
	s.mu.Unlock()
	if script != nil && script.Status != 0 {
		return Fault{Status: script.Status}.apiError()
	}

	now := s.now().UTC()
	reset := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	resetAt := float64(reset.Unix())
	used = round(used, 4)
	type trial struct {
		Status         string  `json:"freeTrialStatus"`
		Expiry         float64 `json:"freeTrialExpiry"`
		Usage          int     `json:"currentUsage"`
		UsagePrecision float64 `json:"currentUsageWithPrecision"`
		Limit          int     `json:"usageLimit"`
		LimitPrecision float64 `json:"usageLimitWithPrecision"`
	}
	type breakdown struct {
		ResourceType      string  `json:"resourceType"`
		Unit              string  `json:"unit"`
		Currency          string  `json:"currency"`
		DisplayName       string  `json:"displayName"`
		DisplayNamePlural string  `json:"displayNamePlural"`
		Usage             int     `json:"currentUsage"`
		UsagePrecision    float64 `json:"currentUsageWithPrecision"`
		Overages          int     `json:"currentOverages"`
		OveragesPrecision float64 `json:"currentOveragesWithPrecision"`
		Limit             int     `json:"usageLimit"`
		LimitPrecision    float64 `json:"usageLimitWithPrecision"`
		NextDateReset     float64 `json:"nextDateReset"`
		OverageRate       float64 `json:"overageRate"`
		OverageCap        int     `json:"overageCap"`
		FreeTrial         trial   `json:"freeTrialInfo"`
		Bonuses           []any   `json:"bonuses"`
	}
	body := map[string]any{
		"nextDateReset":  resetAt,
		"daysUntilReset": int(math.Ceil(reset.Sub(now).Hours() / 24)),
		"subscriptionInfo": map[string]string{
			"subscriptionTitle": "KIRO PRO", "type": "Q_DEVELOPER_STANDALONE_PRO",
			"overageCapability": "OVERAGE_CAPABLE", "upgradeCapability": "UPGRADE_CAPABLE",
			"subscriptionManagementTarget": "MANAGE",
		},
		"overageConfiguration": map[string]string{"overageStatus": "DISABLED"},
		"usageBreakdownList": []breakdown{{
			ResourceType: "CREDIT", Unit: "INVOCATIONS", Currency: "USD", DisplayName: "Credit", DisplayNamePlural: "Credits",
			Usage: int(used), UsagePrecision: used, Limit: int(creditLimit), LimitPrecision: creditLimit,
			NextDateReset: resetAt, OverageRate: 0.04, OverageCap: 10000,
			FreeTrial: trial{Status: "EXPIRED", Expiry: float64(reset.AddDate(0, -2, 0).Unix()), Limit: 500, LimitPrecision: 500},
			Bonuses:   []any{},
		}},
	}
	if script != nil {
		script.apply(body, now)
	}
	if q.Get("isEmailRequired") == "true" {
		body["userInfo"] = map[string]string{"email": name + "@example.com", "userId": "d-9067" + strconv.Itoa(len(name)) + "." + name}
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// listModels serves GET /ListAvailableModels, paginated by maxResults/nextToken.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	acct, ok := s.bearer(r)
	if !ok {
		return errBearer
	}
	q := r.URL.Query()
	if v := q.Get("origin"); v != "AI_EDITOR" {
		return badQuery("origin", v, "AI_EDITOR")
	}
	if err := s.checkProfile(acct, q.Get("profileArn")); err != nil && err.Status == http.StatusForbidden {
		return err
	}
	start, limit := 0, len(s.models)
	if v := q.Get("nextToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(s.models) {
			return constraint("nextToken", v, "Member must be a token this operation returned")
		}
		start = n
	}
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return constraint("maxResults", v, "Member must have value between 1 and 100")
		}
		limit = n
	}
	end := min(start+limit, len(s.models))
	type limits struct {
		In  int `json:"maxInputTokens"`
		Out int `json:"maxOutputTokens"`
	}
	type model struct {
		ID             string   `json:"modelId"`
		Name           string   `json:"modelName"`
		Description    string   `json:"description"`
		RateMultiplier float64  `json:"rateMultiplier"`
		RateUnit       string   `json:"rateUnit"`
		TokenLimits    limits   `json:"tokenLimits"`
		InputTypes     []string `json:"supportedInputTypes"`
		PromptCache    bool     `json:"supportsPromptCache"`
	}
	conv := func(m Model) model {
		return model{ID: m.ID, Name: m.Name, Description: m.Description, RateMultiplier: m.RateMultiplier, RateUnit: "credit",
			TokenLimits: limits{m.MaxInputTokens, m.MaxOutputTokens}, InputTypes: []string{"TEXT", "IMAGE"}, PromptCache: true}
	}
	out := struct {
		Models       []model `json:"models"`
		DefaultModel *model  `json:"defaultModel,omitempty"`
		NextToken    string  `json:"nextToken,omitempty"`
	}{Models: []model{}}
	for _, m := range s.models[start:end] {
		out.Models = append(out.Models, conv(m))
	}
	if len(s.models) > 0 {
		d := conv(s.models[0])
		out.DefaultModel = &d
	}
	if end < len(s.models) {
		out.NextToken = strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listProfiles serves POST /ListAvailableProfiles: the caller's one profile.
func (s *Server) listProfiles(w http.ResponseWriter, r *http.Request) error {
	acct, ok := s.bearer(r)
	if !ok {
		return errBearer
	}
	profiles := []map[string]string{}
	if acct.profileARN != "" {
		profiles = append(profiles, map[string]string{"arn": acct.profileARN, "profileName": acct.name})
	}
	writeJSON(w, http.StatusOK, map[string]any{"profiles": profiles})
	return nil
}

// UsageScript is a scripted getUsageLimits answer for one account, in
// place of the default KIRO PRO plan with metered credits.
type UsageScript struct {
	// Status, when non-zero, is answered as an error instead (e.g. 403, 500).
	Status         int
	Plan           string  // subscriptionTitle; "" means KIRO PRO
	PlanType       string  // subscription type; "" means Q_DEVELOPER_STANDALONE_PRO
	Used, Limit    float64 // the plan's credits this period
	ResetAt        time.Time
	FreeTrial      *UsageGrant
	Bonuses        []UsageBonus
	OverageEnabled bool
	Overages       float64
}

// UsageGrant is a free trial.
type UsageGrant struct {
	Status      string // ACTIVE, EXPIRED
	Used, Limit float64
	Expires     time.Time
}

// UsageBonus is one bonus grant.
type UsageBonus struct {
	Code, Name, Status string
	Used, Limit        float64
	Expires            time.Time
}

// ExhaustedUsage is the answer of an account with no credit left and
// overage off: quota exhausted until reset.
func ExhaustedUsage(reset time.Time) *UsageScript {
	return &UsageScript{Plan: "KIRO FREE", PlanType: "Q_DEVELOPER_STANDALONE_FREE", Used: 50, Limit: 50, ResetAt: reset}
}

// SetUsage scripts an account's getUsageLimits answers; nil goes back to
// the default. It panics for an unknown name.
func (s *Server) SetUsage(name string, u *UsageScript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u != nil {
		c := *u
		u = &c
	}
	s.mustAccountLocked(name).script = u
}

// apply replaces the plan part of body with the script's.
func (u *UsageScript) apply(body map[string]any, now time.Time) {
	reset := u.ResetAt
	if reset.IsZero() {
		reset = time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	}
	plan, planType := u.Plan, u.PlanType
	if plan == "" {
		plan, planType = "KIRO PRO", "Q_DEVELOPER_STANDALONE_PRO"
	}
	overage := "DISABLED"
	if u.OverageEnabled {
		overage = "ENABLED"
	}
	b := map[string]any{
		"resourceType": "CREDIT", "unit": "INVOCATIONS", "currency": "USD", "displayName": "Credit", "displayNamePlural": "Credits",
		"currentUsage": int(u.Used), "currentUsageWithPrecision": u.Used, "usageLimit": int(u.Limit), "usageLimitWithPrecision": u.Limit,
		"currentOverages": int(u.Overages), "currentOveragesWithPrecision": u.Overages,
		"nextDateReset": float64(reset.Unix()), "overageRate": 0.04, "overageCap": 10000, "bonuses": []any{},
	}
	if t := u.FreeTrial; t != nil {
		b["freeTrialInfo"] = map[string]any{"freeTrialStatus": t.Status, "freeTrialExpiry": float64(t.Expires.Unix()),
			"currentUsage": int(t.Used), "currentUsageWithPrecision": t.Used, "usageLimit": int(t.Limit), "usageLimitWithPrecision": t.Limit}
	}
	var bonuses []any
	for _, x := range u.Bonuses {
		bonuses = append(bonuses, map[string]any{"bonusCode": x.Code, "displayName": x.Name, "status": x.Status,
			"currentUsage": x.Used, "usageLimit": x.Limit, "expiresAt": float64(x.Expires.Unix())})
	}
	if bonuses != nil {
		b["bonuses"] = bonuses
	}
	body["nextDateReset"] = float64(reset.Unix())
	body["daysUntilReset"] = int(math.Ceil(reset.Sub(now).Hours() / 24))
	body["subscriptionInfo"] = map[string]string{"subscriptionTitle": plan, "type": planType,
		"overageCapability": "OVERAGE_CAPABLE", "upgradeCapability": "UPGRADE_CAPABLE", "subscriptionManagementTarget": "MANAGE"}
	body["overageConfiguration"] = map[string]string{"overageStatus": overage}
	body["usageBreakdownList"] = []any{b}
}
