package trackers

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Budget is a rate-limit budget as a tracker reported it on one answer.
type Budget struct {
	// Remaining is what is left in the window: points (Jira's quota) or
	// requests (GitHub, GitLab).
	Remaining int64
	// Limit is the window's whole budget; 0 when the answer does not say.
	Limit int64
	// Reset is when the window ends and the budget is whole again.
	Reset time.Time
	// NearLimit: the tracker says less than a fifth of a budget is left
	// (Jira's X-RateLimit-NearLimit / X-Beta-RateLimit-NearLimit).
	NearLimit bool
	// Policy names the budget: "tenant-app-quota" (Jira), "core" (GitHub),
	// "throttle_authenticated_api" (GitLab); may be empty.
	Policy string
}

// ReadBudget reads the budget an answer reports, in the forms the trackers
// send on ordinary answers (not only on a 429):
//
//   - Jira Cloud's points-based quota (OAuth 2.0, Forge and Connect apps):
//     Beta-RateLimit: "tenant-app-quota";r=17842;t=2107 (points left,
//     seconds to the window's end; several comma-separated policies: the
//     one with the fewest points left), Beta-RateLimit-Policy:
//     "tenant-app-quota";q=100100;w=3600 (the quota), and
//     X-Beta-RateLimit-NearLimit / X-RateLimit-NearLimit: true.
//   - GitHub: X-RateLimit-Remaining, -Limit and -Reset (epoch seconds);
//     only the "core" resource (X-RateLimit-Resource) is read, the one
//     discovery and writeback spend: search and GraphQL have budgets of
//     their own.
//   - GitLab: RateLimit-Remaining, -Limit and -Reset (epoch seconds), RateLimit-Name.
//     A reset under 1e8 is read as the IETF draft's seconds from now.
//
// Jira's X-RateLimit-Limit and -Remaining on an ordinary answer are the
// per-second burst limit and come with no reset: they are not a budget to
// pace on, and neither is a Jira X-RateLimit-Reset in ISO form (sent with
// a 429, which the clients already honour). ok is false when the answer
// reports no budget with a reset time.
//
// The header names are written in their canonical form (X-Ratelimit-…), so
// that reading them allocates nothing: it runs on every answer.
func ReadBudget(h http.Header, now time.Time) (b Budget, ok bool) {
	near := strings.EqualFold(strings.TrimSpace(h.Get("X-Ratelimit-Nearlimit")), "true") ||
		strings.EqualFold(strings.TrimSpace(h.Get("X-Beta-Ratelimit-Nearlimit")), "true")
	if v := h.Get("Beta-Ratelimit"); v != "" {
		if b, ok := readQuota(v, h.Get("Beta-Ratelimit-Policy"), now); ok {
			b.NearLimit = near
			return b, true
		}
	}
	if res := strings.TrimSpace(h.Get("X-Ratelimit-Resource")); res != "" && res != "core" {
		return Budget{}, false
	}
	rem, ok := headerInt64(h, "X-Ratelimit-Remaining", "Ratelimit-Remaining")
	if !ok || rem < 0 {
		return Budget{}, false
	}
	reset, ok := headerInt64(h, "X-Ratelimit-Reset", "Ratelimit-Reset")
	if !ok || reset <= 0 {
		return Budget{}, false
	}
	at := time.Unix(reset, 0) // epoch seconds (GitHub, GitLab)
	if reset < 1e8 {
		// Small enough to be the IETF draft's delta seconds, not a date.
		at = now.Add(time.Duration(reset) * time.Second)
	}
	b = Budget{Remaining: rem, Reset: at, NearLimit: near}
	b.Limit, _ = headerInt64(h, "X-Ratelimit-Limit", "Ratelimit-Limit")
	b.Policy = strings.TrimSpace(h.Get("X-Ratelimit-Resource"))
	if b.Policy == "" {
		b.Policy = strings.TrimSpace(h.Get("Ratelimit-Name"))
	}
	return b, true
}

// readQuota reads Beta-RateLimit (r, t per policy) with its
// Beta-RateLimit-Policy (q per policy), keeping the policy with the fewest
// points left. It is the IETF draft's structured-field form, read by hand:
// no maintained Go library parses it (httpsfv parses the syntax but not
// these semantics, and would be a dependency for three keys).
func readQuota(v, policy string, now time.Time) (Budget, bool) {
	quota := map[string]int64{}
	for _, item := range strings.Split(policy, ",") {
		name, params := quotaItem(item)
		if q, ok := params["q"]; ok {
			quota[name] = q
		}
	}
	best, found := Budget{}, false
	for _, item := range strings.Split(v, ",") {
		name, params := quotaItem(item)
		r, okR := params["r"]
		t, okT := params["t"]
		if !okR || !okT || r < 0 || t < 0 || t > 24*3600 {
			continue
		}
		if found && r >= best.Remaining {
			continue
		}
		best = Budget{Remaining: r, Limit: quota[name], Reset: now.Add(time.Duration(t) * time.Second), Policy: name}
		found = true
	}
	return best, found
}

// quotaItem splits `"name";k=1;j=2` into the name and its integer parameters.
func quotaItem(item string) (string, map[string]int64) {
	parts := strings.Split(item, ";")
	name := strings.Trim(strings.TrimSpace(parts[0]), `"`)
	params := map[string]int64{}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err == nil {
			params[strings.TrimSpace(k)] = n
		}
	}
	return name, params
}
