package jirafake_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

func basic(user, pass string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestAuthAndVisibilityFollowJira(t *testing.T) {
	t.Parallel()
	opts := func(d connector.Deployment) jirafake.Options {
		return jirafake.Options{
			Deployment: d,
			Users: []jirafake.User{
				{AccountID: "acc-1", Name: "mia", Email: "mia@example.com", DisplayName: "Mia", APIToken: "tok", Password: "pw"},
				{AccountID: "acc-2", Name: "old", Email: "old@example.com", APIToken: "old-tok", Inactive: true},
			},
			Projects: []jirafake.Project{
				{ID: "10000", Key: "ABC", Name: "Alpha"},
				{ID: "10001", Key: "PUB", Name: "Public", Public: true},
				{ID: "10002", Key: "SEC", Name: "Secret", Viewers: []string{"acc-9", "bob"}},
			},
		}
	}
	tests := []struct {
		name     string
		dep      connector.Deployment
		path     string
		header   http.Header
		status   int
		contains string
	}{
		{"cloud takes email and API token", connector.Cloud, "/rest/api/3/myself", basic("mia@example.com", "tok"), 200, `"accountId":"acc-1"`},
		{"cloud also serves v2", connector.Cloud, "/rest/api/2/myself", basic("mia@example.com", "tok"), 200, `"emailAddress":"mia@example.com"`},
		{"cloud refuses a bearer token", connector.Cloud, "/rest/api/3/myself", bearer("tok"), 401, "must be authenticated"},
		{"cloud refuses a wrong token", connector.Cloud, "/rest/api/3/myself", basic("mia@example.com", "nope"), 401, ""},
		{"cloud refuses a deactivated account", connector.Cloud, "/rest/api/3/myself", basic("old@example.com", "old-tok"), 401, ""},
		{"myself needs a login", connector.Cloud, "/rest/api/3/myself", nil, 401, ""},
		{"data center takes a PAT", connector.SelfHosted, "/rest/api/2/myself", bearer("tok"), 200, `"name":"mia"`},
		{"data center takes username and password", connector.SelfHosted, "/rest/api/2/myself", basic("mia", "pw"), 200, `"deleted":false`},
		{"data center has no v3", connector.SelfHosted, "/rest/api/3/myself", bearer("tok"), 404, ""},
		{"project by key", connector.Cloud, "/rest/api/3/project/ABC", basic("mia@example.com", "tok"), 200, `"key":"ABC"`},
		{"project by id", connector.Cloud, "/rest/api/3/project/10000", basic("mia@example.com", "tok"), 200, `"key":"ABC"`},
		{"unknown project", connector.Cloud, "/rest/api/3/project/NOPE", basic("mia@example.com", "tok"), 404, "No project could be found with key 'NOPE'."},
		{"project hidden from the user", connector.Cloud, "/rest/api/3/project/SEC", basic("mia@example.com", "tok"), 404, ""},
		{"server info answers anonymous callers", connector.SelfHosted, "/rest/api/2/serverInfo", nil, 200, `"deploymentType":"Server"`},
		{"server info refuses rejected credentials", connector.Cloud, "/rest/api/3/serverInfo", basic("mia@example.com", "nope"), 401, ""},
		{"anonymous sees a public project", connector.Cloud, "/rest/api/3/project/PUB", nil, 200, `"key":"PUB"`},
		{"anonymous does not see a private project", connector.Cloud, "/rest/api/3/project/ABC", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, hdr, body := fakehttp.Call(jirafake.New(opts(tt.dep)), http.MethodGet, tt.path, tt.header)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("GET %s = %d %s, want %d containing %q", tt.path, status, body, tt.status, tt.contains)
			}
			if status == 401 && tt.dep == connector.SelfHosted && hdr.Get("X-Seraph-LoginReason") == "" {
				t.Fatal("data center 401 without X-Seraph-LoginReason")
			}
		})
	}
}

// The frame (fakehttp.Base) counts and logs every request, faults
// included, and FailNext answers with Jira's error collection.
func TestFaultsAreCountedLoggedAndInJirasShape(t *testing.T) {
	t.Parallel()
	fake := jirafake.NewSandbox(connector.Cloud)
	fake.FailNext(1, http.StatusServiceUnavailable)
	h := basic(jirafake.SandboxEmail, jirafake.SandboxToken)
	code, _, body := fakehttp.Call(fake, http.MethodGet, "/rest/api/3/myself", h)
	if code != http.StatusServiceUnavailable || body != `{"errorMessages":["Service Unavailable"],"errors":{}}` {
		t.Fatalf("fault: %d %s", code, body)
	}
	if code, _, body = fakehttp.Call(fake, http.MethodGet, "/rest/api/3/myself", h); code != http.StatusOK {
		t.Fatalf("after the fault: %d %s", code, body)
	}
	if fake.Requests() != 2 || len(fake.Calls()) != 2 {
		t.Fatalf("Requests %d, calls %v, want 2 and 2", fake.Requests(), fake.Calls())
	}
}
