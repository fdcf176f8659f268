package jira

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

func TestJiraRateLimitHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
		reason string
	}{
		{"seconds", http.Header{"Retry-After": {"7"}, "Ratelimit-Reason": {"jira-burst-based"}}, 7 * time.Second, "jira-burst-based"},
		{"HTTP date", http.Header{"Retry-After": {"Tue, 20 Jan 2026 10:02:00 GMT"}}, 2 * time.Minute, ""},
		{"Retry-After wins over the reset time", http.Header{"Retry-After": {"3"}, "X-Ratelimit-Reset": {"2026-01-20T11:00Z"}}, 3 * time.Second, ""},
		{"reset time alone", http.Header{"X-Ratelimit-Reset": {"2026-01-20T10:15Z"}}, 15 * time.Minute, ""},
		{"reset time in the past", http.Header{"X-Ratelimit-Reset": {"2026-01-20T09:15Z"}}, 0, ""},
		{"unreadable headers fall back to the default wait", http.Header{"Retry-After": {"soon"}, "X-Ratelimit-Reset": {"later"}}, jiraDefaultRateLimitWait, ""},
		{"no header at all", http.Header{}, jiraDefaultRateLimitWait, ""},
		{"points-based quota spent: the window's end", http.Header{"Beta-Ratelimit": {`"tenant-app-quota";r=0;t=2107`}, "X-Beta-Ratelimit-Reason": {"jira-quota-tenant-based"},
			"X-Ratelimit-Reset": {"2026-01-20T10:01Z"}}, 2107 * time.Second, "jira-quota-tenant-based"},
		{"points left: the quota is not what was hit", http.Header{"Beta-Ratelimit": {`"tenant-app-quota";r=12;t=2107`}, "X-Ratelimit-Reset": {"2026-01-20T10:01Z"}}, time.Minute, ""},
		{"points-based reset time", http.Header{"X-Beta-Ratelimit-Reset": {"2026-01-20T11:00Z"}, "Ratelimit-Reason": {"jira-quota-global-based"}}, time.Hour, "jira-quota-global-based"},
		{"Retry-After wins over the quota", http.Header{"Retry-After": {"5"}, "Beta-Ratelimit": {`"tenant-app-quota";r=0;t=2107`}}, 5 * time.Second, ""},
	}
	for _, tt := range tests {
		rl := jiraRateLimit(tt.header, now)
		if rl.RetryAfter != tt.want || rl.Reason != tt.reason {
			t.Errorf("%s: %v %q, want %v %q", tt.name, rl.RetryAfter, rl.Reason, tt.want, tt.reason)
		}
	}
}

func TestCheckIssueKey(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"ABC-1", "A_B2-10", "10023"} {
		if err := checkIssueKey(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ABC", "ABC-0", "ABC-1/comment", "../myself", "ABC-1?x=1", "1-ABC", "ABC-01"} {
		if checkIssueKey(bad) == nil {
			t.Errorf("%q accepted as an issue key", bad)
		}
	}
}

// What Jira answered decides the retry, through the one rule.
func TestJiraStatusesFollowTheRetryRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want trackers.Retry
	}{
		{http.StatusBadRequest, trackers.RetryNever},          // e.g. "is itself a sub-task"
		{http.StatusUnprocessableEntity, trackers.RetryNever}, // a field Jira does not accept
		{http.StatusUnauthorized, trackers.RetryNever},
		{http.StatusNotFound, trackers.RetryNever},
		{http.StatusRequestTimeout, trackers.RetryBackoff},
		{http.StatusConflict, trackers.RetryBackoff}, // an edit racing ours
		{http.StatusBadGateway, trackers.RetryBackoff},
		{http.StatusTooManyRequests, trackers.RetryAfterWait},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.code, Header: http.Header{}}
		if got, _ := trackers.RetryOf(jiraStatusError("POST /rest/api/3/issue", resp, nil)); got != tt.want {
			t.Errorf("HTTP %d: RetryOf = %v, want %v", tt.code, got, tt.want)
		}
	}
}

// A page's links, made by concatenation, are what JoinPath makes.
func TestBrowsePrefixMatchesJoinPath(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"https://acme.atlassian.net", "https://acme.atlassian.net/", "https://jira.acme.example/jira", "https://jira.acme.example/jira/",
		"http://127.0.0.1:8080/a%20b/", "https://jira.acme.example/x?y=1", "https://jira.acme.example/#frag", "https://jira.acme.example/a/../b"} {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		s := &trackers.Session{BaseURL: u}
		c := jiraClient{s: s, browse: browsePrefix(s)}
		for _, key := range []string{"ABC-1", "A_B2-10", "10023", "", "a b", "../x", "é-1", "ABC-1?x", "."} {
			if got, want := c.browseURL(key), browseURL(s, key); got != want {
				t.Errorf("%s + %q: %q, JoinPath makes %q", base, key, got, want)
			}
		}
	}
}

func TestWikiStringIsJSONDecoding(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`"plain *wiki*"`, ` "spaced" `, `"esc \" \\ \n \u00e9"`, `"é ü"`, "\"raw \x01 control\"", "\"bad \xff\"", `""`, `"`, `5`, `"a" "b"`, `"tab	in"`} {
		var want string
		wantErr := json.Unmarshal([]byte(raw), &want)
		got, err := wikiString(json.RawMessage(raw))
		if (err != nil) != (wantErr != nil) || got != want {
			t.Errorf("%q: %q, %v; encoding/json: %q, %v", raw, got, err, want, wantErr)
		}
	}
}

// TestMyselfKeepsItsActiveFlag: /myself's user still carries "active"
// (the connection test refuses a deactivated account), issue fields' users
// no longer decode it.
func TestMyselfKeepsItsActiveFlag(t *testing.T) {
	t.Parallel()
	var me jiraMyself
	if err := json.Unmarshal([]byte(`{"accountId":"a-1","displayName":"A","emailAddress":"a@example.com","active":false}`), &me); err != nil {
		t.Fatal(err)
	}
	if me.Active == nil || *me.Active || me.AccountID != "a-1" || jiraIdentity(me.jiraUser) == "" {
		t.Fatalf("decoded %+v (active %v)", me, me.Active)
	}
}
