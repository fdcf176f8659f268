package confluencefake_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

func basic(user, pass string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
}

func search(prefix, cql string) string {
	return prefix + "/rest/api/search?limit=10&cql=" + url.QueryEscape(cql)
}

func TestAuthAndSearchFollowConfluence(t *testing.T) {
	t.Parallel()
	opts := func(d connector.Deployment) confluencefake.Options {
		return confluencefake.Options{
			Deployment: d,
			Users:      []confluencefake.User{{AccountID: "acc-1", Username: "mia", Email: "mia@example.com", DisplayName: "Mia", APIToken: "tok", Password: "pw"}},
			Spaces: []confluencefake.Space{
				{ID: 1, Key: "ENG", Name: "Engineering"},
				{ID: 2, Key: "OPS", Name: "Operations"},
				{ID: 3, Key: "HR", Name: "People", Viewers: []string{"someone"}},
			},
		}
	}
	cloud := basic("mia@example.com", "tok")
	pat := http.Header{"Authorization": {"Bearer tok"}}
	tests := []struct {
		name     string
		dep      connector.Deployment
		target   string
		header   http.Header
		status   int
		contains []string
	}{
		{"cloud current user under /wiki", connector.Cloud, "/wiki/rest/api/user/current", cloud, 200, []string{`"accountId":"acc-1"`, `"type":"known"`}},
		{"cloud refuses a bearer token", connector.Cloud, "/wiki/rest/api/user/current", pat, 401, nil},
		{"cloud has nothing outside /wiki", connector.Cloud, "/rest/api/user/current", cloud, 404, nil},
		{"data center PAT", connector.SelfHosted, "/rest/api/user/current", pat, 200, []string{`"username":"mia"`}},
		{"data center password", connector.SelfHosted, "/rest/api/user/current", basic("mia", "pw"), 200, []string{`"username":"mia"`}},
		{"no credential", connector.SelfHosted, "/rest/api/user/current", nil, 401, nil},
		{"one space by key", connector.Cloud, search("/wiki", `type = space AND space = "ENG"`), cloud, 200, []string{`"key":"ENG"`, `"totalSize":1`, `"entityType":"space"`}},
		{"all visible spaces", connector.Cloud, search("/wiki", `type=space`), cloud, 200, []string{`"key":"ENG"`, `"key":"OPS"`, `"totalSize":2`}},
		{"hidden space has no result", connector.SelfHosted, search("", `type = space and space.key = HR`), pat, 200, []string{`"results":[]`, `"totalSize":0`}},
		{"unknown space has no result", connector.Cloud, search("/wiki", `space = "NOPE" AND type = space`), cloud, 200, []string{`"size":0`}},
		{"no pages are served yet", connector.Cloud, search("/wiki", `type = page`), cloud, 200, []string{`"size":0`}},
		{"cql it cannot parse", connector.Cloud, search("/wiki", `text ~ "x" OR title = y`), cloud, 400, []string{"Could not parse cql"}},
		{"missing cql", connector.Cloud, "/wiki/rest/api/search", cloud, 400, []string{"cql"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, _, body := fakehttp.Call(confluencefake.New(opts(tt.dep)), http.MethodGet, tt.target, tt.header)
			if status != tt.status {
				t.Fatalf("GET %s = %d %s, want %d", tt.target, status, body, tt.status)
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("body %s does not contain %s", body, c)
				}
			}
		})
	}
}
