package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RateLimit bounds how often requests go out, per account or for the whole
// pool. The zero value means no limit (the default).
type RateLimit struct {
	// MinInterval is the least time between two requests; zero: none.
	MinInterval Duration `json:"minInterval,omitzero"`
	// PerMinute is the most requests in any 60 s; zero: no limit.
	PerMinute int `json:"perMinute,omitempty"`
}

// IsZero reports no limit.
func (r RateLimit) IsZero() bool { return r.MinInterval <= 0 && r.PerMinute <= 0 }

func (r RateLimit) String() string {
	var parts []string
	if r.MinInterval > 0 {
		parts = append(parts, "at least "+time.Duration(r.MinInterval).String()+" apart")
	}
	if r.PerMinute > 0 {
		parts = append(parts, fmt.Sprintf("at most %d a minute", r.PerMinute))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ParseRateLimit reads "off", "30/min", "2s" (minimum interval) or both
// separated by a comma ("30/min,1s").
func ParseRateLimit(s string) (RateLimit, error) {
	var r RateLimit
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "off" || s == "none" || s == "0" {
		return r, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if n, ok := strings.CutSuffix(part, "/min"); ok {
			var v int
			if _, err := fmt.Sscanf(n, "%d", &v); err != nil || v <= 0 || v > 100000 {
				return RateLimit{}, fmt.Errorf("rate limit %q: want N/min with N ≥ 1", part)
			}
			r.PerMinute = v
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d <= 0 || d > time.Hour {
			return RateLimit{}, fmt.Errorf("rate limit %q: want N/min or a minimum interval like 2s", part)
		}
		r.MinInterval = Duration(d)
	}
	return r, nil
}

// Duration is a time.Duration written in JSON as text ("1.5s").
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON also takes a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err == nil {
		*d = Duration(ms * float64(time.Millisecond))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("duration: want text like \"1.5s\" or milliseconds")
	}
	return d.UnmarshalText([]byte(s))
}

// rateLimiter enforces one RateLimit. Not safe for concurrent use: the pool
// calls it under its lock.
type rateLimiter struct {
	lim  RateLimit
	last time.Time
	// sent holds the times of the last PerMinute requests, oldest first.
	sent []time.Time
}

func (r *rateLimiter) set(lim RateLimit) {
	r.lim = lim
	if lim.PerMinute <= 0 {
		r.sent = nil
	} else if len(r.sent) > lim.PerMinute {
		r.sent = r.sent[len(r.sent)-lim.PerMinute:]
	}
}

// next returns when the next request may go (at or before now: at once).
func (r *rateLimiter) next(now time.Time) time.Time {
	t := now
	if r.lim.MinInterval > 0 && !r.last.IsZero() {
		if at := r.last.Add(time.Duration(r.lim.MinInterval)); at.After(t) {
			t = at
		}
	}
	if n := r.lim.PerMinute; n > 0 && len(r.sent) >= n {
		if at := r.sent[len(r.sent)-n].Add(time.Minute); at.After(t) {
			t = at
		}
	}
	return t
}

// take records a request sent at now.
func (r *rateLimiter) take(now time.Time) {
	if r.lim.IsZero() {
		return
	}
	r.last = now
	if n := r.lim.PerMinute; n > 0 {
		r.sent = append(r.sent, now)
		if len(r.sent) > n {
			r.sent = r.sent[len(r.sent)-n:]
		}
	}
}
