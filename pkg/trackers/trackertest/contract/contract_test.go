package contract_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contract"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// starter is a fake that can be served behind middleware.
type starter interface {
	Start(testing.TB, ...func(http.Handler) http.Handler) string
}

func jiraFake(d connector.Deployment) *jirafake.Server {
	return jirafake.New(jirafake.Options{
		Deployment: d,
		Users:      []jirafake.User{{AccountID: "5b10a2844c20165700ede21g", Name: "mia", Email: "mia@example.com", DisplayName: "Mia", APIToken: "jira-token", Password: "pw"}},
		Projects:   []jirafake.Project{{ID: "10000", Key: "ABC", Name: "Alpha", Public: true}},
	})
}

func githubFake() *githubfake.Server {
	return githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat", Name: "The Octocat", Email: "octocat@example.com"}},
		Tokens: []githubfake.Token{
			{Value: "ghp_classic", Login: "octocat", Scopes: []string{"repo"}, ExpiresAt: time.Now().Add(48 * time.Hour)},
			{Value: "github_pat_fine", Login: "octocat", FineGrained: true},
		},
		Repos: []githubfake.Repo{{ID: 7, Owner: "acme", Name: "widgets", Private: true, Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write}}},
	})
}

func gitlabFake() *gitlabfake.Server {
	return gitlabfake.New(gitlabfake.Options{
		Users:    []gitlabfake.User{{ID: 1, Username: "jdoe", Name: "Jane Doe", Email: "jdoe@example.com"}},
		Tokens:   []gitlabfake.Token{{ID: 1, Name: "hub", Value: "glpat-x", Username: "jdoe", Scopes: []string{"api"}, ExpiresAt: time.Now().AddDate(1, 0, 0)}},
		Projects: []gitlabfake.Project{{ID: 42, Path: "acme/platform/widgets", Name: "Widgets", Members: map[string]int{"jdoe": gitlabfake.Developer}}},
	})
}

func confluenceFake(d connector.Deployment) *confluencefake.Server {
	return confluencefake.New(confluencefake.Options{
		Deployment: d,
		Users:      []confluencefake.User{{AccountID: "557058:f0e1", Username: "mia", Email: "mia@example.com", DisplayName: "Mia", APIToken: "cf-token"}},
		Spaces:     []confluencefake.Space{{ID: 1, Key: "ENG", Name: "Engineering"}},
	})
}

func load(t *testing.T, name string) *contract.Spec {
	t.Helper()
	s, err := contract.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTrackersMatchTheVendorShapes runs each tracker's connection test against
// its fake behind a validator: the requests the clients send and the
// responses the fakes return must both match the vendor shapes.
func TestTrackersMatchTheVendorShapes(t *testing.T) {
	t.Parallel()
	jiraDC, err := contract.LoadJiraDataCenter()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		fake        starter
		spec        *contract.Spec
		opts        contract.Options
		conn        connector.Connector
		urlSuffix   string
		secret      string
		wantOK      bool
		checked     []string
		unspecified []string
	}{
		{
			name: "jira cloud", fake: jiraFake(connector.Cloud), spec: load(t, contract.JiraV3),
			conn:   connector.Connector{System: connector.Jira, Deployment: connector.Cloud, AuthMode: connector.AuthBasic, Username: "mia@example.com", Project: "ABC"},
			secret: "jira-token", wantOK: true,
			checked: []string{"GET /rest/api/3/myself", "GET /rest/api/3/project/{projectIdOrKey}"},
		},
		{
			name: "jira cloud with a rejected token (401 shape)", fake: jiraFake(connector.Cloud), spec: load(t, contract.JiraV3),
			conn:    connector.Connector{System: connector.Jira, Deployment: connector.Cloud, AuthMode: connector.AuthBasic, Username: "mia@example.com", Project: "ABC"},
			secret:  "wrong",
			checked: []string{"GET /rest/api/3/myself"},
		},
		{
			name: "jira cloud anonymous", fake: jiraFake(connector.Cloud), spec: load(t, contract.JiraV3),
			conn:        connector.Connector{System: connector.Jira, Deployment: connector.Cloud, AuthMode: connector.AuthAnonymous, Project: "ABC"},
			wantOK:      true,
			checked:     []string{"GET /rest/api/3/project/{projectIdOrKey}"},
			unspecified: []string{"GET /rest/api/3/serverInfo"},
		},
		{
			// Data Center has no shape: its v2 paths are checked against v3's
			// (see contract.LoadJiraDataCenter).
			name: "jira data center", fake: jiraFake(connector.SelfHosted), spec: jiraDC, opts: contract.Options{Rewrite: contract.JiraV2ToV3},
			conn:   connector.Connector{System: connector.Jira, Deployment: connector.SelfHosted, AuthMode: connector.AuthBearer, Project: "ABC"},
			secret: "jira-token", wantOK: true,
			checked: []string{"GET /rest/api/3/myself", "GET /rest/api/3/project/{projectIdOrKey}"},
		},
		{
			name: "github cloud classic token", fake: githubFake(), spec: load(t, contract.GitHub),
			conn:   connector.Connector{System: connector.GitHub, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: "acme/widgets"},
			secret: "ghp_classic", wantOK: true,
			checked: []string{"GET /repos/{owner}/{repo}", "GET /user"},
		},
		{
			name: "github enterprise server fine-grained token", fake: githubFake(), spec: load(t, contract.GitHub), opts: contract.Options{Rewrite: contract.StripGHESPrefix},
			conn:   connector.Connector{System: connector.GitHub, Deployment: connector.SelfHosted, AuthMode: connector.AuthBearer, Project: "acme/widgets"},
			secret: "github_pat_fine", wantOK: true,
			checked: []string{"GET /repos/{owner}/{repo}", "GET /user"},
		},
		{
			name: "github unknown repository (404 shape)", fake: githubFake(), spec: load(t, contract.GitHub),
			conn:    connector.Connector{System: connector.GitHub, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: "acme/nope"},
			secret:  "ghp_classic",
			checked: []string{"GET /repos/{owner}/{repo}", "GET /user"},
		},
		{
			name: "github rejected token (401 shape)", fake: githubFake(), spec: load(t, contract.GitHub),
			conn:    connector.Connector{System: connector.GitHub, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: "acme/widgets"},
			secret:  "ghp_wrong",
			checked: []string{"GET /user"},
		},
		{
			name: "gitlab by project path", fake: gitlabFake(), spec: load(t, contract.GitLabV4),
			conn:   connector.Connector{System: connector.GitLab, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: "acme/platform/widgets"},
			secret: "glpat-x", wantOK: true,
			checked:     []string{"GET /api/v4/projects/{id}", "GET /api/v4/user"},
			unspecified: []string{"GET /api/v4/personal_access_tokens/self"},
		},
		{
			name: "gitlab rejected token (401 shape)", fake: gitlabFake(), spec: load(t, contract.GitLabV4),
			conn:    connector.Connector{System: connector.GitLab, Deployment: connector.SelfHosted, AuthMode: connector.AuthBearer, Project: "42"},
			secret:  "glpat-wrong",
			checked: []string{"GET /api/v4/user"},
		},
		{
			name: "confluence cloud", fake: confluenceFake(connector.Cloud), spec: load(t, contract.ConfluenceV1Search),
			conn:        connector.Connector{System: connector.Confluence, Deployment: connector.Cloud, AuthMode: connector.AuthBasic, Username: "mia@example.com", SpaceKeys: []string{"ENG", "NOPE"}},
			secret:      "cf-token",
			checked:     []string{"GET /wiki/rest/api/search"},
			unspecified: []string{"GET /wiki/rest/api/user/current"},
		},
		{
			name: "confluence data center", fake: confluenceFake(connector.SelfHosted), spec: load(t, contract.ConfluenceV1Search), opts: contract.Options{Rewrite: contract.ConfluenceDCToCloud},
			conn:   connector.Connector{System: connector.Confluence, Deployment: connector.SelfHosted, AuthMode: connector.AuthBearer, SpaceKeys: []string{"ENG"}},
			secret: "cf-token", wantOK: true,
			checked:     []string{"GET /wiki/rest/api/search"},
			unspecified: []string{"GET /wiki/rest/api/user/current"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := contract.NewValidator(tt.spec, tt.opts)
			c := tt.conn
			c.BaseURL = tt.fake.Start(t, v.Middleware) + tt.urlSuffix
			res, err := all.Registry().Test(context.Background(), c, connector.NewSecret(tt.secret), trackers.Options{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tt.wantOK {
				t.Errorf("OK = %v, want %v: %+v", res.OK, tt.wantOK, res.Checks)
			}
			for _, viol := range v.Violations() {
				t.Errorf("contract violation: %s", viol)
			}
			if got := v.Checked(); !slices.Equal(got, tt.checked) {
				t.Errorf("validated operations = %v, want %v", got, tt.checked)
			}
			if got := v.Unspecified(); !slices.Equal(got, tt.unspecified) {
				t.Errorf("operations outside the shape = %v, want %v", got, tt.unspecified)
			}
			if len(tt.unspecified) > 0 {
				t.Logf("not in the vendor shape, so not validated: %v", tt.unspecified)
			}
		})
	}
}

// TestValidatorCatchesBrokenTraffic proves the validator can fail: broken
// responses and requests must be reported.
func TestValidatorCatchesBrokenTraffic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    string
		fake    func() (starter, *faults.Injector)
		send    func(base string) (*http.Request, error)
		phase   string
		errPart string
	}{
		{
			name: "malformed JSON from jira myself",
			spec: contract.JiraV3,
			fake: func() (starter, *faults.Injector) {
				f := jiraFake(connector.Cloud)
				f.Faults.Add(faults.Fault{Status: 200, Body: `{"accountId": "5b10`})
				return f, &f.Faults
			},
			send: func(base string) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodGet, base+"/rest/api/3/myself", nil)
				if err == nil {
					r.SetBasicAuth("mia@example.com", "jira-token")
				}
				return r, err
			},
			phase: "response",
		},
		{
			name: "wrong type in a github user",
			spec: contract.GitHub,
			fake: func() (starter, *faults.Injector) {
				f := githubFake()
				f.Faults.Add(faults.Fault{Status: 200, Body: `{"login": "octocat", "id": "not-a-number"}`})
				return f, &f.Faults
			},
			send: func(base string) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodGet, base+"/user", nil)
				if err == nil {
					r.Header.Set("Authorization", "Bearer ghp_classic")
				}
				return r, err
			},
			phase:   "response",
			errPart: "id",
		},
		{
			name: "unknown property in a jira project",
			spec: contract.JiraV3,
			fake: func() (starter, *faults.Injector) {
				f := jiraFake(connector.Cloud)
				f.Faults.Add(faults.Fault{Status: 200, Body: `{"id": "10000", "key": "ABC", "colour": "red"}`})
				return f, &f.Faults
			},
			send: func(base string) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodGet, base+"/rest/api/3/project/ABC", nil)
				if err == nil {
					r.SetBasicAuth("mia@example.com", "jira-token")
				}
				return r, err
			},
			phase:   "response",
			errPart: "colour",
		},
		{
			name: "CQL search without its required cql parameter",
			spec: contract.ConfluenceV1Search,
			fake: func() (starter, *faults.Injector) {
				f := confluenceFake(connector.Cloud)
				return f, &f.Faults
			},
			send: func(base string) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodGet, base+"/wiki/rest/api/search?limit=1", nil)
				if err == nil {
					r.SetBasicAuth("mia@example.com", "cf-token")
				}
				return r, err
			},
			phase:   "request",
			errPart: "cql",
		},
		{
			name: "jira request without any credential",
			spec: contract.JiraV3,
			fake: func() (starter, *faults.Injector) {
				f := jiraFake(connector.Cloud)
				return f, &f.Faults
			},
			send: func(base string) (*http.Request, error) {
				// myself, unlike project, does not list anonymous access.
				return http.NewRequest(http.MethodGet, base+"/rest/api/3/myself", nil)
			},
			phase: "request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := contract.NewValidator(load(t, tt.spec), contract.Options{})
			fake, _ := tt.fake()
			base := fake.Start(t, v.Middleware)
			req, err := tt.send(base)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			viols := v.Violations()
			if len(viols) == 0 {
				t.Fatal("no violation recorded, want one")
			}
			found := false
			for _, viol := range viols {
				found = found || (viol.Phase == tt.phase && strings.Contains(viol.Err, tt.errPart))
			}
			if !found {
				t.Fatalf("violations = %v, want a %s violation mentioning %q", viols, tt.phase, tt.errPart)
			}
		})
	}
}

func TestLoadEveryShape(t *testing.T) {
	t.Parallel()
	for _, name := range []string{contract.JiraV3, contract.GitHub, contract.GitLabV4, contract.ConfluenceV1Search, contract.ConfluenceV2Pages} {
		if _, err := contract.Load(name); err != nil {
			t.Errorf("Load(%s): %v", name, err)
		}
	}
	if _, err := contract.Load("jira-full"); err == nil {
		t.Error("Load of an unknown shape succeeded")
	}
}

func TestConfluenceV2PagesRouteUnderWiki(t *testing.T) {
	t.Parallel()
	// The v2 shape's server is https://{domain}/wiki/api/v2: its paths must
	// be matched under that base, so later page fakes can be validated.
	v := contract.NewValidator(load(t, contract.ConfluenceV2Pages), contract.Options{})
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	base := startHandler(t, h)
	req, _ := http.NewRequest(http.MethodGet, base+"/wiki/api/v2/pages/123?body-format=storage", nil)
	req.SetBasicAuth("mia@example.com", "cf-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := v.Checked(); !slices.Equal(got, []string{"GET /pages/{id}"}) {
		t.Fatalf("validated = %v (unspecified %v), want GET /pages/{id}", got, v.Unspecified())
	}
}

func startHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
