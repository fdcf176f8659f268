package confluencefake_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

func mustSpec(t *testing.T, name string) *contract.Spec {
	t.Helper()
	s, err := contract.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func session(t *testing.T, d connector.Deployment, base string) *trackers.Session {
	t.Helper()
	c := connector.Connector{ID: "wiki", System: connector.Confluence, Deployment: d, BaseURL: base, AuthMode: connector.AuthBearer, SpaceKeys: []string{"ENG", "OPS"}}
	if d == connector.Cloud {
		c.AuthMode, c.Username = connector.AuthBasic, "mia@example.com"
	}
	s, err := trackers.NewSession(confluence.New(), c, connector.NewSecret("tok"), trackers.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func confluenceClient(t *testing.T) (trackers.Searcher, trackers.PageReader) {
	t.Helper()
	tr, ok := trackers.Tracker(confluence.New()), true
	if !ok {
		t.Fatal("confluence is not registered")
	}
	s, ok1 := tr.(trackers.Searcher)
	r, ok2 := tr.(trackers.PageReader)
	if !ok1 || !ok2 {
		t.Fatal("confluence tracker does not search or read pages")
	}
	return s, r
}

// TestClientAndFakeFollowTheShapes drives the real client against the fake
// behind the vendor-shape validators: the client's requests and the fake's
// responses (search pages, next links, page bodies) must all conform.
func TestClientAndFakeFollowTheShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		dep         connector.Deployment
		checked     []string // by the v1 search shape
		checkedV2   []string // by the v2 pages shape (Cloud only)
		unspecified []string // by the v1 shape, besides v2 calls
	}{
		{name: "cloud", dep: connector.Cloud, checked: []string{"GET /wiki/rest/api/search"}, checkedV2: []string{"GET /pages/{id}"}},
		{name: "data center", dep: connector.SelfHosted, checked: []string{"GET /wiki/rest/api/search"}, unspecified: []string{"GET /wiki/rest/api/content/101"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := wiki(tt.dep, 1) // one result per page: the client must follow next links
			var opts contract.Options
			if tt.dep != connector.Cloud {
				opts.Rewrite = contract.ConfluenceDCToCloud
			}
			v1 := contract.NewValidator(mustSpec(t, contract.ConfluenceV1Search), opts)
			v2 := contract.NewValidator(mustSpec(t, contract.ConfluenceV2Pages), contract.Options{})
			s := session(t, tt.dep, fake.Start(t, v1.Middleware, v2.Middleware))
			searcher, reader := confluenceClient(t)
			ctx := context.Background()

			hits, err := searcher.Search(ctx, s, trackers.SearchQuery{Terms: []string{"payment gateway", "timeouts"}, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 2 || hits[0].ID != "101" || hits[1].ID != "103" {
				t.Fatalf("hits = %+v, want pages 101 then 103", hits)
			}
			h := hits[0]
			if h.Title != "Payment gateway runbook" || h.SpaceKey != "ENG" || !strings.HasPrefix(h.URL, "http://127.0.0.1") ||
				strings.Contains(h.Excerpt, "@@@") || !strings.Contains(h.Excerpt, "restart the worker & check") || h.Updated.IsZero() {
				t.Errorf("hit = %+v", h)
			}
			if fake.Searches() != 2 {
				t.Errorf("search requests = %d, want 2 (one per result page)", fake.Searches())
			}
			text, err := reader.PageText(ctx, s, "101", 1000)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, "systemctl restart pgw") || strings.Contains(text, "bash") || strings.Contains(text, "<") {
				t.Errorf("page text = %q", text)
			}

			for _, v := range []*contract.Validator{v1, v2} {
				for _, viol := range v.Violations() {
					t.Errorf("contract violation: %s", viol)
				}
			}
			if got := v1.Checked(); !slices.Equal(got, tt.checked) {
				t.Errorf("v1 validated %v, want %v", got, tt.checked)
			}
			if got := v2.Checked(); !slices.Equal(got, tt.checkedV2) {
				t.Errorf("v2 validated %v, want %v", got, tt.checkedV2)
			}
			var unspec []string
			for _, op := range v1.Unspecified() {
				if !strings.Contains(op, "/api/v2/") {
					unspec = append(unspec, op)
				}
			}
			if !slices.Equal(unspec, tt.unspecified) {
				t.Errorf("outside the v1 shape: %v, want %v", unspec, tt.unspecified)
			}
		})
	}
}

// TestShapeValidationBites proves the search test above can fail: a search
// page missing required fields is reported.
func TestShapeValidationBites(t *testing.T) {
	t.Parallel()
	fake := wiki(connector.Cloud, 0)
	fake.Faults.Add(faults.Fault{Status: http.StatusOK, Body: `{"results":[{"title":"x","content":{"id":"1"}}],"size":1}`})
	v := contract.NewValidator(mustSpec(t, contract.ConfluenceV1Search), contract.Options{})
	s := session(t, connector.Cloud, fake.Start(t, v.Middleware))
	searcher, _ := confluenceClient(t)
	_, _ = searcher.Search(context.Background(), s, trackers.SearchQuery{Terms: []string{"x"}})
	if len(v.Violations()) == 0 {
		t.Fatal("a search page without cqlQuery, limit, start, … passed the shape")
	}
}
