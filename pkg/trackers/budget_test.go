package trackers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

func TestReadBudget(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 26, 16, 24, 52, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want trackers.Budget
		ok   bool
	}{
		{"Jira points-based quota with its policy", http.Header{
			"Beta-Ratelimit-Policy":      {`"tenant-app-quota";q=100100;w=3600`},
			"Beta-Ratelimit":             {`"tenant-app-quota";r=17842;t=2107`},
			"X-Beta-Ratelimit-Nearlimit": {"true"},
			"X-Ratelimit-Limit":          {"350"}, "X-Ratelimit-Remaining": {"349"},
		}, trackers.Budget{Remaining: 17842, Limit: 100100, Reset: now.Add(2107 * time.Second), NearLimit: true, Policy: "tenant-app-quota"}, true},
		{"Jira quota spent, no policy header", http.Header{"Beta-Ratelimit": {`"tenant-app-quota";r=0;t=2788`}},
			trackers.Budget{Remaining: 0, Reset: now.Add(2788 * time.Second), Policy: "tenant-app-quota"}, true},
		{"several quotas: the one with the fewest points left", http.Header{
			"Beta-Ratelimit-Policy": {`"global-app-quota";q=65000;w=3600, "tenant-app-quota";q=10000;w=3600`},
			"Beta-Ratelimit":        {`"global-app-quota";r=60000;t=100, "tenant-app-quota";r=900;t=100`},
		}, trackers.Budget{Remaining: 900, Limit: 10000, Reset: now.Add(100 * time.Second), Policy: "tenant-app-quota"}, true},
		{"Jira burst headers alone are no budget", http.Header{"X-Ratelimit-Limit": {"350"}, "X-Ratelimit-Remaining": {"3"}, "X-Ratelimit-Nearlimit": {"true"}}, trackers.Budget{}, false},
		{"Jira ISO reset is not read as a window", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"2026-03-26T16:00Z"}}, trackers.Budget{}, false},
		{"GitHub core", http.Header{"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"42"}, "X-Ratelimit-Reset": {"1774542292"}, "X-Ratelimit-Resource": {"core"}},
			trackers.Budget{Remaining: 42, Limit: 5000, Reset: time.Unix(1774542292, 0), Policy: "core"}, true},
		{"GitHub search has a budget of its own", http.Header{"X-Ratelimit-Limit": {"30"}, "X-Ratelimit-Remaining": {"1"}, "X-Ratelimit-Reset": {"1774542292"}, "X-Ratelimit-Resource": {"search"}}, trackers.Budget{}, false},
		{"GitLab", http.Header{"Ratelimit-Name": {"throttle_authenticated_api"}, "Ratelimit-Limit": {"2000"}, "Ratelimit-Remaining": {"1999"}, "Ratelimit-Reset": {"1774542292"}},
			trackers.Budget{Remaining: 1999, Limit: 2000, Reset: time.Unix(1774542292, 0), Policy: "throttle_authenticated_api"}, true},
		{"a malformed quota falls back to the other headers", http.Header{"Beta-Ratelimit": {`"q";r=x`}}, trackers.Budget{}, false},
		{"nothing", http.Header{}, trackers.Budget{}, false},
	}
	for _, tt := range tests {
		got, ok := trackers.ReadBudget(tt.h, now)
		if ok != tt.ok || !got.Reset.Equal(tt.want.Reset) || got.Remaining != tt.want.Remaining || got.Limit != tt.want.Limit ||
			got.NearLimit != tt.want.NearLimit || got.Policy != tt.want.Policy {
			t.Errorf("%s: %+v %v, want %+v %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
