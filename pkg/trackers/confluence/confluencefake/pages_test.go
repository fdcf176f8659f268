package confluencefake_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

func wiki(d connector.Deployment, maxLimit int) *confluencefake.Server {
	return confluencefake.New(confluencefake.Options{
		Deployment: d,
		MaxLimit:   maxLimit,
		Users:      []confluencefake.User{{AccountID: "acc-1", Username: "mia", Email: "mia@example.com", DisplayName: "Mia", APIToken: "tok", Password: "pw"}},
		Spaces: []confluencefake.Space{
			{ID: 1, Key: "ENG", Name: "Engineering"},
			{ID: 2, Key: "OPS", Name: "Operations"},
			{ID: 3, Key: "HR", Name: "People", Viewers: []string{"someone"}},
		},
		Pages: []confluencefake.Page{
			{ID: 101, SpaceKey: "ENG", Title: "Payment gateway runbook", Body: `<p>When the <strong>payment gateway</strong> times out, restart the worker &amp; check the queue.</p><ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter><ac:plain-text-body><![CDATA[systemctl restart pgw]]></ac:plain-text-body></ac:structured-macro>`, Updated: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
			{ID: 102, SpaceKey: "ENG", Title: "Release checklist", Body: `<p>Tag, build, deploy. Check the gateway dashboards.</p>`, Updated: time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)},
			{ID: 103, SpaceKey: "OPS", Title: "On-call", Body: `<p>Escalate timeouts to the payments team.</p>`},
			{ID: 104, SpaceKey: "HR", Title: "Payment of salaries", Body: `<p>Private gateway notes.</p>`},
		},
	})
}

type searchPage struct {
	Results []struct {
		Content *struct {
			ID string `json:"id"`
		} `json:"content"`
		Title   string  `json:"title"`
		Excerpt string  `json:"excerpt"`
		URL     string  `json:"url"`
		Score   float64 `json:"score"`
	} `json:"results"`
	Size      int `json:"size"`
	TotalSize int `json:"totalSize"`
	Links     struct {
		Next string `json:"next"`
	} `json:"_links"`
}

func get(t *testing.T, s *confluencefake.Server, target string, h http.Header, want int) string {
	t.Helper()
	status, _, body := fakehttp.Call(s, http.MethodGet, target, h)
	if status != want {
		t.Fatalf("GET %s = %d %s, want %d", target, status, body, want)
	}
	return body
}

func decodeSearch(t *testing.T, body string) searchPage {
	t.Helper()
	var p searchPage
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return p
}

func ids(p searchPage) []string {
	var out []string
	for _, r := range p.Results {
		if r.Content != nil {
			out = append(out, r.Content.ID)
		}
	}
	return out
}

func TestPageSearchRanksMatchesInVisibleSpaces(t *testing.T) {
	t.Parallel()
	s := wiki(connector.Cloud, 0)
	cql := `siteSearch ~ "\"payment gateway\" OR \"timeouts\"" AND space in ("ENG","OPS","HR") AND type = page`
	p := decodeSearch(t, get(t, s, search("/wiki", cql), basic("mia@example.com", "tok"), 200))
	// 101: phrase in title (2); 103: "timeouts" in body (1); 104 is in a hidden space;
	// 102 has "gateway" but not the phrase "payment gateway".
	if got := strings.Join(ids(p), ","); got != "101,103" {
		t.Fatalf("ids = %s, want 101,103", got)
	}
	r := p.Results[0]
	if !strings.Contains(r.Title, "@@@hl@@@Payment@@@endhl@@@") || !strings.Contains(r.Excerpt, "&amp;") {
		t.Errorf("title %q / excerpt %q: want highlight markers and HTML escaping", r.Title, r.Excerpt)
	}
	if strings.Contains(r.Excerpt, "language") || strings.Contains(r.Excerpt, "bash") {
		t.Errorf("excerpt %q holds a macro parameter", r.Excerpt)
	}
	if r.URL != "/spaces/ENG/pages/101/Payment+gateway+runbook" || r.Score <= p.Results[1].Score {
		t.Errorf("url %q score %v (next %v)", r.URL, r.Score, p.Results[1].Score)
	}
}

func TestPageSearchPaginatesThroughNextLinks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		dep    connector.Deployment
		prefix string
		auth   http.Header
		param  string
	}{
		{"cloud cursor", connector.Cloud, "/wiki", basic("mia@example.com", "tok"), "cursor"},
		{"data center start", connector.SelfHosted, "", http.Header{"Authorization": {"Bearer tok"}}, "start"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := wiki(tt.dep, 1) // one result per page at most
			target := search(tt.prefix, `type = page AND space in (ENG, OPS)`)
			var seen []string
			for range 10 {
				p := decodeSearch(t, get(t, s, target, tt.auth, 200))
				seen = append(seen, ids(p)...)
				if p.Links.Next == "" {
					break
				}
				u, err := url.Parse(p.Links.Next)
				if err != nil || u.Query().Get(tt.param) == "" {
					t.Fatalf("next link %q has no %s", p.Links.Next, tt.param)
				}
				target = tt.prefix + p.Links.Next
			}
			if len(seen) != 3 {
				t.Fatalf("pages seen over the listing = %v, want 3 distinct", seen)
			}
			if seen[0] == seen[1] || seen[1] == seen[2] || seen[0] == seen[2] {
				t.Fatalf("pagination repeated a page: %v", seen)
			}
		})
	}
}

func TestPageBodies(t *testing.T) {
	t.Parallel()
	cloud := basic("mia@example.com", "tok")
	dc := http.Header{"Authorization": {"Bearer tok"}}
	tests := []struct {
		name     string
		dep      connector.Deployment
		target   string
		header   http.Header
		status   int
		contains []string
		absent   []string
	}{
		{"v2 storage body", connector.Cloud, "/wiki/api/v2/pages/101?body-format=storage", cloud, 200, []string{`"representation":"storage"`, `CDATA[systemctl restart pgw]`, `"spaceId":"1"`, `"number":1`}, nil},
		{"v2 without body format", connector.Cloud, "/wiki/api/v2/pages/101", cloud, 200, []string{`"body":{}`}, []string{"storage"}},
		{"v2 hidden space is not found", connector.Cloud, "/wiki/api/v2/pages/104?body-format=storage", cloud, 404, []string{"NOT_FOUND"}, nil},
		{"v2 unknown page", connector.Cloud, "/wiki/api/v2/pages/999", cloud, 404, nil, nil},
		{"v2 id must be numeric", connector.Cloud, "/wiki/api/v2/pages/abc", cloud, 400, nil, nil},
		{"v2 needs a credential", connector.Cloud, "/wiki/api/v2/pages/101", nil, 401, nil, nil},
		{"data center content with body", connector.SelfHosted, "/rest/api/content/102?expand=body.storage", dc, 200, []string{`"storage":{`, "Tag, build, deploy"}, nil},
		{"data center content without expand", connector.SelfHosted, "/rest/api/content/102", dc, 200, []string{`"title":"Release checklist"`}, []string{"Tag, build"}},
		{"data center has no v2", connector.SelfHosted, "/wiki/api/v2/pages/101", dc, 404, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := wiki(tt.dep, 0)
			body := get(t, s, tt.target, tt.header, tt.status)
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("body %s does not contain %s", body, c)
				}
			}
			for _, c := range tt.absent {
				if strings.Contains(body, c) {
					t.Errorf("body %s contains %s", body, c)
				}
			}
			if tt.status == 200 && s.PageReads() != 1 {
				t.Errorf("PageReads = %d, want 1", s.PageReads())
			}
		})
	}
}

func TestCQLTheFakeRefuses(t *testing.T) {
	t.Parallel()
	for _, cql := range []string{
		`siteSearch ~ "a" OR type = page`,
		`siteSearch = "a"`,
		`type ~ page`,
		`siteSearch ~ "unterminated`,
		`siteSearch ~ "a AND b"`,
		`creator = me`,
		`space in ("A"`,
		`space != ENG`,
	} {
		body := get(t, wiki(connector.Cloud, 0), search("/wiki", cql), basic("mia@example.com", "tok"), 400)
		if !strings.Contains(body, "cql") && !strings.Contains(body, "field") {
			t.Errorf("%s: body %s does not say why", cql, body)
		}
	}
}

func TestSearchCountsOnlyAnsweredRequests(t *testing.T) {
	t.Parallel()
	s := wiki(connector.Cloud, 0)
	s.Faults.Fail(1, http.StatusServiceUnavailable, `{"message":"down"}`)
	get(t, s, search("/wiki", "type = page"), basic("mia@example.com", "tok"), 503)
	get(t, s, search("/wiki", "type = page"), basic("mia@example.com", "tok"), 200)
	if s.Searches() != 1 || s.Requests() != 2 {
		t.Fatalf("Searches = %d, Requests = %d; want 1 and 2", s.Searches(), s.Requests())
	}
}
