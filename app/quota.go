package app

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
)

// Quota is an account's usage as getUsageLimits last reported it (auth.md
// §7): for the UI, `accounts list` and the pool's quota parking.
type Quota struct {
	Plan     string `json:"plan,omitempty"`     // e.g. "KIRO PRO"
	PlanType string `json:"planType,omitempty"` // e.g. Q_DEVELOPER_STANDALONE_PRO
	Unit     string `json:"unit,omitempty"`     // "Credits", "Invocations", …
	// Used and Limit include an active free trial and active bonuses.
	Used      float64 `json:"used"`
	Limit     float64 `json:"limit"`
	Remaining float64 `json:"remaining"`
	// RemainingPercent is 100 × Remaining / Limit (0 without a limit).
	RemainingPercent float64     `json:"remainingPercent"`
	ResetAt          time.Time   `json:"resetAt,omitzero"` // next monthly reset
	FreeTrial        *QuotaGrant `json:"freeTrial,omitempty"`
	// Bonus sums the active bonuses; its ExpiresAt is the earliest expiry.
	Bonus          *QuotaGrant `json:"bonus,omitempty"`
	OverageEnabled bool        `json:"overageEnabled,omitempty"`
	Overages       float64     `json:"overages,omitempty"` // use past the allowance this period
	CheckedAt      time.Time   `json:"checkedAt"`
}

// QuotaGrant is an allowance beside the plan's: a free trial or bonuses.
type QuotaGrant struct {
	Status    string    `json:"status,omitempty"` // ACTIVE, EXPIRED, …
	Used      float64   `json:"used"`
	Limit     float64   `json:"limit"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// Exhausted reports that nothing is left and overage is off: requests will
// fail until ResetAt (auth.md §7.3 step 7).
func (q *Quota) Exhausted() bool {
	return q != nil && q.Limit > 0 && q.Remaining <= 0 && !q.OverageEnabled
}

// Low reports less than 20 % left.
func (q *Quota) Low() bool { return q != nil && q.Limit > 0 && q.RemainingPercent < 20 }

// Summary is one line for people: "812.5 of 1000 credits left (81%), KIRO PRO, resets 2026-06-01".
func (q *Quota) Summary(now time.Time) string {
	if q == nil {
		return "quota not checked yet"
	}
	unit := strings.ToLower(q.Unit)
	if unit == "" {
		unit = "credits"
	}
	s := fmt.Sprintf("%s of %s %s left (%.0f%%)", num(q.Remaining), num(q.Limit), unit, math.Floor(q.RemainingPercent))
	if q.Plan != "" {
		s += ", " + q.Plan
	}
	if q.FreeTrial != nil && q.FreeTrial.Status == "ACTIVE" {
		s += fmt.Sprintf(", free trial %s/%s", num(q.FreeTrial.Used), num(q.FreeTrial.Limit))
		if !q.FreeTrial.ExpiresAt.IsZero() {
			s += " until " + q.FreeTrial.ExpiresAt.Local().Format("2006-01-02")
		}
	}
	if q.Bonus != nil {
		s += fmt.Sprintf(", bonus %s/%s", num(q.Bonus.Used), num(q.Bonus.Limit))
	}
	if q.OverageEnabled {
		s += fmt.Sprintf(", overage on (%s used)", num(q.Overages))
	}
	if !q.ResetAt.IsZero() {
		days := int(math.Ceil(q.ResetAt.Sub(now).Hours() / 24))
		s += fmt.Sprintf(", resets %s", q.ResetAt.Local().Format("2006-01-02"))
		if days >= 0 {
			s += fmt.Sprintf(" (in %d days)", days)
		}
	}
	if q.Exhausted() {
		s += " — EXHAUSTED"
	} else if q.Low() {
		s += " — low"
	}
	return s
}

func num(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

// QuotaFromUsage condenses a getUsageLimits answer (auth.md §7.3).
func QuotaFromUsage(u *kiro.UsageLimits, now time.Time) *Quota {
	q := &Quota{
		Plan: u.Subscription.Title, PlanType: u.Subscription.Type, ResetAt: u.NextDateReset,
		OverageEnabled: strings.EqualFold(u.OverageStatus, "ENABLED"), CheckedAt: now.UTC(),
	}
	q.Remaining, q.Limit, q.RemainingPercent = u.Remaining()
	q.Used = math.Max(0, q.Limit-q.Remaining)
	var b *kiro.UsageBreakdown
	for i := range u.Breakdowns {
		if u.Breakdowns[i].ResourceType == "CREDIT" {
			b = &u.Breakdowns[i]
			break
		}
	}
	if b == nil && len(u.Breakdowns) > 0 {
		b = &u.Breakdowns[0]
	}
	if b == nil {
		return q
	}
	q.Unit = firstNonEmpty(b.DisplayNamePlural, b.DisplayName)
	// Remaining() caps at zero; the raw use tells overage apart.
	used := b.CurrentUsage
	if q.ResetAt.IsZero() {
		q.ResetAt = b.NextDateReset
	}
	if t := b.FreeTrial; t != nil {
		q.FreeTrial = &QuotaGrant{Status: t.Status, Used: t.CurrentUsage, Limit: t.UsageLimit, ExpiresAt: t.Expiry}
		if t.Status == "ACTIVE" {
			used += t.CurrentUsage
		}
	}
	for _, bo := range b.Bonuses {
		if bo.Status != "ACTIVE" {
			continue
		}
		if q.Bonus == nil {
			q.Bonus = &QuotaGrant{Status: "ACTIVE"}
		}
		q.Bonus.Used += bo.CurrentUsage
		q.Bonus.Limit += bo.UsageLimit
		used += bo.CurrentUsage
		if !bo.ExpiresAt.IsZero() && (q.Bonus.ExpiresAt.IsZero() || bo.ExpiresAt.Before(q.Bonus.ExpiresAt)) {
			q.Bonus.ExpiresAt = bo.ExpiresAt
		}
	}
	q.Used = used
	q.Overages = math.Max(0, used-q.Limit)
	return q
}
