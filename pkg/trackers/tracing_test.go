package trackers_test

import (
	"net/url"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

func TestRedactURL(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"nothing to hide": {"https://example.atlassian.net/rest/api/3/search/jql?jql=assignee&maxResults=50", "https://example.atlassian.net/rest/api/3/search/jql?jql=assignee&maxResults=50"},
		"user info":       {"https://bot:s3cret@gitlab.example.com/api/v4/issues", "https://gitlab.example.com/api/v4/issues"},
		"token in query":  {"https://gitlab.example.com/api/v4/issues?private_token=glpat-abc&state=opened", "https://gitlab.example.com/api/v4/issues?private_token=REDACTED&state=opened"},
		"several secrets": {"https://h/p?access_token=a&api_key=b&Signature=c&client_secret=d&password=e&page=2", "https://h/p?Signature=REDACTED&access_token=REDACTED&api_key=REDACTED&client_secret=REDACTED&page=2&password=REDACTED"},
		"repeated values": {"https://h/p?token=a&token=b", "https://h/p?token=REDACTED&token=REDACTED"},
		"auth code":       {"https://h/cb?code=xyz&state=1", "https://h/cb?code=REDACTED&state=1"},
	} {
		u, _ := url.Parse(tc.in)
		if got := trackers.RedactURL(u).String(); got != tc.want {
			t.Errorf("%s: RedactURL(%s) = %s, want %s", name, tc.in, got, tc.want)
		}
		if u.String() != tc.in {
			t.Errorf("%s: RedactURL changed its argument to %s", name, u)
		}
	}
}
