package pagerduty

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// newRequest builds plain paths itself; the URL and the User-Agent must be
// those s.NewRequest makes, on every form of base URL.
func TestNewRequestMatchesSessionNewRequest(t *testing.T) {
	t.Parallel()
	q := listQuery("PAGENT1", 100, PageSize)
	for _, base := range []string{
		"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "https://api.eu.pagerduty.com", "http://127.0.0.1:8080/api",
		"http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api/v2?x=1", "http://127.0.0.1:8080/a%20b/", "http://127.0.0.1:8080/api/../v2",
	} {
		c := connector.Connector{ID: "pd", System: connector.PagerDuty, Deployment: connector.Cloud, BaseURL: base, AuthMode: connector.AuthBearer}
		s, err := trackers.NewSession(New(), c, connector.NewSecret("k"), trackers.Options{Timeout: time.Second, UserAgent: "connectorhub-test"})
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		for _, path := range []string{"incidents", "incidents/PABC123", "users/me", "incidents/PABC123/notes", "incidents/../users/me", "incidents/a b", "incidents//x", "/incidents"} {
			for _, query := range []url.Values{nil, q} {
				got, err := newRequest(context.Background(), s, "GET", path, query, nil)
				if err != nil {
					t.Fatalf("%s %s: %v", base, path, err)
				}
				want, err := s.NewRequest(context.Background(), "GET", path, query, nil)
				if err != nil {
					t.Fatalf("%s %s: %v", base, path, err)
				}
				if got.URL.String() != want.URL.String() || got.Host != want.Host || got.Header.Get("User-Agent") != want.Header.Get("User-Agent") {
					t.Errorf("base %s path %s: %s (Host %s, UA %q), want %s (Host %s, UA %q)", base, path,
						got.URL, got.Host, got.Header.Get("User-Agent"), want.URL, want.Host, want.Header.Get("User-Agent"))
				}
			}
		}
	}
}

func TestPlainPath(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"incidents": true, "incidents/PABC123": true, "users/me": true, "incidents/PABC123/notes": true, "a_b": true,
		"": false, "/incidents": false, "incidents/": false, "incidents//x": false, "incidents/../x": false, "incidents/a b": false, "incidents/%2F": false,
	} {
		if got := plainPath(p); got != want {
			t.Errorf("plainPath(%q) = %v, want %v", p, got, want)
		}
	}
}
