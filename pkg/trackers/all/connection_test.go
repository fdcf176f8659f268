package all_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// Credentials of the fakes' users. Tests assert none of them ever appears in
// a result or a log line.
const (
	jiraCloudToken = "jira-cloud-token-5ecret"
	jiraDCToken    = "jira-dc-pat-5ecret"
	jiraDCPassword = "jira-dc-password-5ecret"
	ghClassic      = "ghp_classic5ecret"
	ghPublicOnly   = "ghp_publiconly5ecret"
	ghFineGrained  = "github_pat_fine5ecret"
	ghReader       = "ghp_reader5ecret"
	glToken        = "glpat-api5ecret"
	glReadAPI      = "glpat-readapi5ecret"
	glReadUser     = "glpat-readuser5ecret"
	glReporter     = "glpat-reporter5ecret"
	cfCloudToken   = "confluence-cloud-5ecret"
	cfDCToken      = "confluence-dc-pat-5ecret"
)

var allSecrets = []string{jiraCloudToken, jiraDCToken, jiraDCPassword, ghClassic, ghPublicOnly, ghFineGrained, ghReader, glToken, glReadAPI, glReadUser, glReporter, cfCloudToken, cfDCToken}

// ghExpiry is always in the future (the fake refuses expired tokens), whole
// seconds as the expiration header carries them.
var ghExpiry = time.Now().UTC().AddDate(0, 3, 0).Truncate(time.Second)

func newJira(d connector.Deployment) *jirafake.Server {
	return jirafake.New(jirafake.Options{
		Deployment: d,
		Users: []jirafake.User{
			{AccountID: "5b10a2844c20165700ede21g", Name: "mia", Email: "mia@example.com", DisplayName: "Mia Krystof", APIToken: tokenFor(d), Password: jiraDCPassword},
		},
		Projects: []jirafake.Project{
			{ID: "10000", Key: "ABC", Name: "Alpha"},
			{ID: "10001", Key: "PUB", Name: "Public", Public: true},
			{ID: "10002", Key: "SEC", Name: "Secret", Viewers: []string{"someone-else"}},
		},
	})
}

func tokenFor(d connector.Deployment) string {
	if d == connector.Cloud {
		return jiraCloudToken
	}
	return jiraDCToken
}

func newGitHub() *githubfake.Server {
	return githubfake.New(githubfake.Options{
		Users: []githubfake.User{{ID: 1, Login: "octocat", Name: "The Octocat"}},
		Tokens: []githubfake.Token{
			{Value: ghClassic, Login: "octocat", Scopes: []string{"repo", "read:org"}, ExpiresAt: ghExpiry},
			{Value: ghPublicOnly, Login: "octocat", Scopes: []string{"public_repo"}},
			{Value: ghFineGrained, Login: "octocat", FineGrained: true},
			{Value: ghReader, Login: "hubot", Scopes: []string{"repo"}},
		},
		Repos: []githubfake.Repo{
			{ID: 100, Owner: "acme", Name: "widgets", Private: true, Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write, "hubot": githubfake.Read}},
			{ID: 101, Owner: "acme", Name: "docs", Collaborators: map[string]githubfake.Role{"octocat": githubfake.Write}},
			{ID: 102, Owner: "acme", Name: "old", Archived: true, Collaborators: map[string]githubfake.Role{"octocat": githubfake.Admin}},
		},
	})
}

func addHubot(s *githubfake.Server) { s.AddUser(githubfake.User{ID: 2, Login: "hubot"}) }

// glExpiry is a date (GitLab's expires_at), always in the future.
var glExpiry = time.Now().UTC().AddDate(1, 0, 0).Truncate(24 * time.Hour)

func newGitLab() *gitlabfake.Server {
	return gitlabfake.New(gitlabfake.Options{
		Users: []gitlabfake.User{{ID: 1, Username: "jdoe", Name: "Jane Doe"}, {ID: 2, Username: "rep", Name: "Rep Orter"}},
		Tokens: []gitlabfake.Token{
			{ID: 1, Name: "hub", Value: glToken, Username: "jdoe", Scopes: []string{"api"}, ExpiresAt: glExpiry},
			{ID: 2, Name: "ro", Value: glReadAPI, Username: "jdoe", Scopes: []string{"read_api"}},
			{ID: 3, Name: "user", Value: glReadUser, Username: "jdoe", Scopes: []string{"read_user"}},
			{ID: 4, Name: "rep", Value: glReporter, Username: "rep", Scopes: []string{"api"}},
		},
		Projects: []gitlabfake.Project{
			{ID: 42, Path: "acme/platform/widgets", Name: "Widgets", Members: map[string]int{"jdoe": gitlabfake.Developer, "rep": gitlabfake.Reporter}},
			{ID: 43, Path: "acme/archive", Name: "Archive", Archived: true, Members: map[string]int{"jdoe": gitlabfake.Maintainer}},
		},
	})
}

func newConfluence(d connector.Deployment) *confluencefake.Server {
	return confluencefake.New(confluencefake.Options{
		Deployment: d,
		Users: []confluencefake.User{
			{AccountID: "557058:f0e1", Username: "mia", Email: "mia@example.com", DisplayName: "Mia Krystof", APIToken: map[bool]string{true: cfCloudToken, false: cfDCToken}[d == connector.Cloud]},
		},
		Spaces: []confluencefake.Space{
			{ID: 1, Key: "ENG", Name: "Engineering"},
			{ID: 2, Key: "OPS", Name: "Operations"},
			{ID: 3, Key: "HR", Name: "People", Viewers: []string{"nobody"}},
		},
	})
}

// run tests c against the fake served at url and checks invariants every
// result must hold: endpoint first, OK iff every check passed, no secret in
// the result or the logs.
func run(t *testing.T, c connector.Connector, secret string, opts trackers.Options) trackers.TestResult {
	t.Helper()
	logs := &testenv.LogBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	res, err := all.Registry().Test(context.Background(), c, connector.NewSecret(secret), opts)
	if err != nil {
		t.Fatalf("Test() error = %v, want tracker failures as checks", err)
	}
	if len(res.Checks) == 0 || res.Checks[0].Name != trackers.CheckEndpoint {
		t.Fatalf("checks = %+v, want the endpoint check first", res.Checks)
	}
	all := true
	for _, ch := range res.Checks {
		all = all && ch.OK
	}
	if res.OK != all {
		t.Fatalf("OK = %v but checks = %+v", res.OK, res.Checks)
	}
	dump := fmt.Sprintf("%+v %#v", res, res) + logs.String()
	for _, s := range allSecrets {
		if strings.Contains(dump, s) {
			t.Fatalf("a credential leaked into the result or logs: %s", dump)
		}
	}
	return res
}

func check(t *testing.T, res trackers.TestResult, name string) trackers.Check {
	t.Helper()
	for _, ch := range res.Checks {
		if ch.Name == name {
			return ch
		}
	}
	t.Fatalf("no %q check in %+v", name, res.Checks)
	return trackers.Check{}
}

func hasCheck(res trackers.TestResult, name string) bool {
	for _, ch := range res.Checks {
		if ch.Name == name {
			return true
		}
	}
	return false
}

// want describes the expected outcome of one scenario.
type want struct {
	ok       bool
	identity string
	passed   []string          // checks that must pass
	failed   map[string]string // check → part of its message
	absent   []string          // checks that must not run
}

func (w want) assert(t *testing.T, res trackers.TestResult) {
	t.Helper()
	if res.OK != w.ok {
		t.Errorf("OK = %v, want %v; checks %+v", res.OK, w.ok, res.Checks)
	}
	if res.Identity != w.identity {
		t.Errorf("Identity = %q, want %q", res.Identity, w.identity)
	}
	// A check name may repeat (one "space" check per space key): every
	// check of a passed name must pass, and some check of a failed name must
	// fail with the message.
	for _, name := range w.passed {
		check(t, res, name)
		for _, ch := range res.Checks {
			if ch.Name == name && !ch.OK {
				t.Errorf("check %s failed (%s), want passed", name, ch.Message)
			}
		}
	}
	for name, msg := range w.failed {
		check(t, res, name)
		found := false
		for _, ch := range res.Checks {
			found = found || (ch.Name == name && !ch.OK && strings.Contains(ch.Message, msg))
		}
		if !found {
			t.Errorf("no failed %s check with message containing %q in %+v", name, msg, res.Checks)
		}
	}
	for _, name := range w.absent {
		if hasCheck(res, name) {
			t.Errorf("check %s ran, want it skipped: %+v", name, res.Checks)
		}
	}
}

func TestJira(t *testing.T) {
	t.Parallel()
	malformed := faults.Fault{Status: 200, Body: `{"accountId": "5b10`}
	tests := []struct {
		name   string
		dep    connector.Deployment
		auth   connector.AuthMode
		user   string
		secret string
		proj   string
		fault  *faults.Fault
		want   want
	}{
		{
			name: "cloud basic auth sees its project", dep: connector.Cloud, auth: connector.AuthBasic,
			user: "mia@example.com", secret: jiraCloudToken, proj: "ABC",
			want: want{ok: true, identity: "mia@example.com", passed: []string{"endpoint", "identity", "project"}},
		},
		{
			name: "data center PAT sees its project", dep: connector.SelfHosted, auth: connector.AuthBearer,
			secret: jiraDCToken, proj: "ABC",
			want: want{ok: true, identity: "mia@example.com", passed: []string{"endpoint", "identity", "project"}},
		},
		{
			name: "data center username and password", dep: connector.SelfHosted, auth: connector.AuthBasic,
			user: "mia", secret: jiraDCPassword, proj: "ABC",
			want: want{ok: true, identity: "mia@example.com", passed: []string{"identity", "project"}},
		},
		{
			name: "anonymous skips identity and sees a public project", dep: connector.Cloud, auth: connector.AuthAnonymous, proj: "PUB",
			want: want{ok: true, passed: []string{"identity", "project"}},
		},
		{
			name: "anonymous without a project still reaches the instance", dep: connector.SelfHosted, auth: connector.AuthAnonymous,
			want: want{ok: true, passed: []string{"endpoint", "identity", "project"}},
		},
		{
			name: "anonymous cannot see a private project", dep: connector.Cloud, auth: connector.AuthAnonymous, proj: "ABC",
			want: want{failed: map[string]string{"project": "project ABC not found or not visible to you"}},
		},
		{
			name: "wrong token is rejected and the project is not tried", dep: connector.Cloud, auth: connector.AuthBasic,
			user: "mia@example.com", secret: "wrong", proj: "ABC",
			want: want{failed: map[string]string{"identity": "token rejected"}, absent: []string{"project"}},
		},
		{
			name: "a cloud API token is not a bearer token on data center", dep: connector.SelfHosted, auth: connector.AuthBearer,
			secret: jiraCloudToken, proj: "ABC",
			want: want{failed: map[string]string{"identity": "token rejected"}},
		},
		{
			name: "unknown project", dep: connector.Cloud, auth: connector.AuthBasic,
			user: "mia@example.com", secret: jiraCloudToken, proj: "NOPE",
			want: want{identity: "mia@example.com", passed: []string{"identity"}, failed: map[string]string{"project": "project NOPE not found or not visible to you"}},
		},
		{
			name: "project hidden from the account", dep: connector.Cloud, auth: connector.AuthBasic,
			user: "mia@example.com", secret: jiraCloudToken, proj: "SEC",
			want: want{identity: "mia@example.com", failed: map[string]string{"project": "not visible"}},
		},
		{
			name: "no project configured passes", dep: connector.Cloud, auth: connector.AuthBasic,
			user: "mia@example.com", secret: jiraCloudToken,
			want: want{ok: true, identity: "mia@example.com", passed: []string{"project"}},
		},
		{
			name: "server error is a failed check", dep: connector.Cloud, auth: connector.AuthBasic,
			user: "mia@example.com", secret: jiraCloudToken, proj: "ABC",
			fault: &faults.Fault{Status: 503, Body: `{"errorMessages":["down"]}`},
			want:  want{passed: []string{"endpoint"}, failed: map[string]string{"identity": "HTTP 503"}},
		},
		{
			name: "malformed JSON is a failed check", dep: connector.Cloud, auth: connector.AuthBasic,
			user: "mia@example.com", secret: jiraCloudToken, proj: "ABC", fault: &malformed,
			want: want{passed: []string{"endpoint"}, failed: map[string]string{"identity": "malformed"}},
		},
		{
			name: "CAPTCHA lockout is explained", dep: connector.SelfHosted, auth: connector.AuthBasic,
			user: "mia", secret: jiraDCPassword, proj: "ABC",
			fault: &faults.Fault{Status: 403, Header: http.Header{"X-Seraph-Loginreason": {"AUTHENTICATION_DENIED"}}},
			want:  want{failed: map[string]string{"identity": "CAPTCHA"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newJira(tt.dep)
			if tt.fault != nil {
				fake.Faults.Add(*tt.fault)
			}
			url := fake.Start(t)
			c := connector.Connector{ID: "c1", System: connector.Jira, Deployment: tt.dep, BaseURL: url, AuthMode: tt.auth, Username: tt.user, Project: tt.proj}
			tt.want.assert(t, run(t, c, tt.secret, trackers.Options{}))
		})
	}
}

func TestGitHub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		dep         connector.Deployment
		path        string // appended to the fake's URL
		token       string
		repo        string
		fault       *faults.Fault
		want        want
		granted     []string
		missing     []string
		wantExpires time.Time
	}{
		{
			name: "classic token with repo scope and push access", dep: connector.Cloud, token: ghClassic, repo: "acme/widgets",
			want:    want{ok: true, identity: "octocat", passed: []string{"endpoint", "identity", "scopes", "project", "write_access"}},
			granted: []string{"repo", "read:org"}, wantExpires: ghExpiry,
		},
		{
			name: "enterprise server under /api/v3/", dep: connector.SelfHosted, path: "/api/v3/", token: ghClassic, repo: "acme/widgets",
			want:    want{ok: true, identity: "octocat", passed: []string{"identity", "scopes", "project", "write_access"}},
			granted: []string{"repo", "read:org"}, wantExpires: ghExpiry,
		},
		{
			name: "enterprise server given by host only", dep: connector.SelfHosted, token: ghClassic, repo: "acme/widgets",
			want:    want{ok: true, identity: "octocat", passed: []string{"identity", "project"}},
			granted: []string{"repo", "read:org"}, wantExpires: ghExpiry,
		},
		{
			name: "classic token without repo scope reports it missing", dep: connector.Cloud, token: ghPublicOnly, repo: "acme/docs",
			want:    want{identity: "octocat", passed: []string{"identity", "project", "write_access"}, failed: map[string]string{"scopes": "lacks scope repo"}},
			granted: []string{"public_repo"}, missing: []string{"repo"},
		},
		{
			name: "classic token without repo scope cannot see a private repository", dep: connector.Cloud, token: ghPublicOnly, repo: "acme/widgets",
			want:    want{identity: "octocat", failed: map[string]string{"scopes": "lacks scope repo", "project": "repository acme/widgets not found or not visible"}},
			granted: []string{"public_repo"}, missing: []string{"repo"},
		},
		{
			name: "fine-grained token skips the scope check", dep: connector.Cloud, token: ghFineGrained, repo: "acme/widgets",
			want: want{ok: true, identity: "octocat", passed: []string{"scopes", "project", "write_access"}},
		},
		{
			name: "read-only collaborator lacks push access", dep: connector.Cloud, token: ghReader, repo: "acme/widgets",
			want:    want{identity: "hubot", passed: []string{"scopes", "project"}, failed: map[string]string{"write_access": "no push access"}},
			granted: []string{"repo"},
		},
		{
			name: "archived repository is read-only", dep: connector.Cloud, token: ghClassic, repo: "acme/old",
			want:    want{identity: "octocat", failed: map[string]string{"write_access": "archived"}},
			granted: []string{"repo", "read:org"}, wantExpires: ghExpiry,
		},
		{
			name: "unknown repository", dep: connector.Cloud, token: ghClassic, repo: "acme/nope",
			want:    want{identity: "octocat", failed: map[string]string{"project": "repository acme/nope not found or not visible to you"}, absent: []string{"write_access"}},
			granted: []string{"repo", "read:org"}, wantExpires: ghExpiry,
		},
		{
			name: "bad token", dep: connector.Cloud, token: "ghp_wrong", repo: "acme/widgets",
			want: want{failed: map[string]string{"identity": "token rejected"}, absent: []string{"scopes", "project"}},
		},
		{
			name: "server error", dep: connector.Cloud, token: ghClassic, repo: "acme/widgets",
			fault: &faults.Fault{Status: 502, Body: `{"message":"Server Error"}`},
			want:  want{passed: []string{"endpoint"}, failed: map[string]string{"identity": "HTTP 502"}},
		},
		{
			name: "malformed JSON", dep: connector.Cloud, token: ghClassic, repo: "acme/widgets",
			fault: &faults.Fault{Status: 200, Body: `{"login": "octo`},
			want:  want{passed: []string{"endpoint"}, failed: map[string]string{"identity": "malformed"}},
		},
		{
			name: "rate limited", dep: connector.Cloud, token: ghClassic, repo: "acme/widgets",
			fault: &faults.Fault{Status: 403, Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1893456000"}}, Body: `{"message":"API rate limit exceeded"}`},
			want:  want{failed: map[string]string{"identity": "rate limited"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newGitHub()
			addHubot(fake)
			if tt.fault != nil {
				fake.Faults.Add(*tt.fault)
			}
			url := fake.Start(t) + tt.path
			c := connector.Connector{ID: "c1", System: connector.GitHub, Deployment: tt.dep, BaseURL: url, AuthMode: connector.AuthBearer, Project: tt.repo}
			res := run(t, c, tt.token, trackers.Options{})
			tt.want.assert(t, res)
			if fmt.Sprint(res.GrantedScopes) != fmt.Sprint(tt.granted) || fmt.Sprint(res.MissingScopes) != fmt.Sprint(tt.missing) {
				t.Errorf("scopes granted=%v missing=%v, want %v and %v", res.GrantedScopes, res.MissingScopes, tt.granted, tt.missing)
			}
			if !res.ExpireTime.Equal(tt.wantExpires) {
				t.Errorf("ExpireTime = %v, want %v", res.ExpireTime, tt.wantExpires)
			}
		})
	}
}

func TestGitLab(t *testing.T) {
	t.Parallel()
	selfPath := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/personal_access_tokens/self") }
	projectPath := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/projects/") }
	tests := []struct {
		name        string
		dep         connector.Deployment
		token       string
		project     string
		fault       *faults.Fault
		want        want
		missing     []string
		wantExpires time.Time
	}{
		{
			name: "api token on a project path with developer access", dep: connector.Cloud, token: glToken, project: "acme/platform/widgets",
			want:        want{ok: true, identity: "jdoe", passed: []string{"endpoint", "identity", "scopes", "project", "write_access"}},
			wantExpires: glExpiry,
		},
		{
			name: "self-managed by numeric project id", dep: connector.SelfHosted, token: glToken, project: "42",
			want:        want{ok: true, identity: "jdoe", passed: []string{"identity", "scopes", "project", "write_access"}},
			wantExpires: glExpiry,
		},
		{
			name: "read_api token lacks api", dep: connector.Cloud, token: glReadAPI, project: "acme/platform/widgets",
			want:    want{identity: "jdoe", passed: []string{"identity", "project"}, failed: map[string]string{"scopes": "lacks scope api"}},
			missing: []string{"api"},
		},
		{
			name: "read_user token cannot read the project", dep: connector.Cloud, token: glReadUser, project: "acme/platform/widgets",
			want:    want{identity: "jdoe", failed: map[string]string{"scopes": "lacks scope api", "project": "scopes do not allow"}},
			missing: []string{"api"},
		},
		{
			name: "reporter cannot open merge requests", dep: connector.Cloud, token: glReporter, project: "acme/platform/widgets",
			want: want{identity: "rep", passed: []string{"scopes", "project"}, failed: map[string]string{"write_access": "need Developer"}},
		},
		{
			name: "archived project is read-only", dep: connector.Cloud, token: glToken, project: "acme/archive",
			want:        want{identity: "jdoe", failed: map[string]string{"write_access": "archived"}},
			wantExpires: glExpiry,
		},
		{
			name: "unknown project", dep: connector.Cloud, token: glToken, project: "acme/nope",
			want:        want{identity: "jdoe", failed: map[string]string{"project": "project acme/nope not found or not visible to you"}},
			wantExpires: glExpiry,
		},
		{
			name: "bad token stops after identity", dep: connector.Cloud, token: "glpat-wrong", project: "acme/platform/widgets",
			want: want{failed: map[string]string{"identity": "token rejected"}, absent: []string{"scopes", "project"}},
		},
		{
			name: "GitLab without token introspection relies on the project check", dep: connector.SelfHosted, token: glToken, project: "42",
			fault: &faults.Fault{Match: selfPath, Status: 404, Body: `{"error":"404 Not Found"}`},
			want:  want{ok: true, identity: "jdoe", passed: []string{"scopes", "project", "write_access"}},
		},
		{
			name: "server error", dep: connector.Cloud, token: glToken, project: "42",
			fault:       &faults.Fault{Status: 500, Body: `{"message":"500 Internal Server Error"}`},
			want:        want{failed: map[string]string{"identity": "HTTP 500"}, passed: []string{"endpoint", "scopes", "project"}},
			wantExpires: glExpiry,
		},
		{
			name: "malformed project JSON", dep: connector.Cloud, token: glToken, project: "42",
			fault:       &faults.Fault{Match: projectPath, Status: 200, Body: `{"id": 42, "path_with_namespace": `},
			want:        want{identity: "jdoe", failed: map[string]string{"project": "malformed"}},
			wantExpires: glExpiry,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newGitLab()
			if tt.fault != nil {
				fake.Faults.Add(*tt.fault)
			}
			c := connector.Connector{ID: "c1", System: connector.GitLab, Deployment: tt.dep, BaseURL: fake.Start(t), AuthMode: connector.AuthBearer, Project: tt.project}
			res := run(t, c, tt.token, trackers.Options{})
			tt.want.assert(t, res)
			if fmt.Sprint(res.MissingScopes) != fmt.Sprint(tt.missing) {
				t.Errorf("MissingScopes = %v, want %v", res.MissingScopes, tt.missing)
			}
			if !res.ExpireTime.Equal(tt.wantExpires) {
				t.Errorf("ExpireTime = %v, want %v", res.ExpireTime, tt.wantExpires)
			}
		})
	}
}

func TestConfluence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		dep    connector.Deployment
		auth   connector.AuthMode
		user   string
		secret string
		path   string
		spaces []string
		fault  *faults.Fault
		want   want
	}{
		{
			name: "cloud sees its spaces", dep: connector.Cloud, auth: connector.AuthBasic, user: "mia@example.com", secret: cfCloudToken,
			spaces: []string{"ENG", "OPS"},
			want:   want{ok: true, identity: "mia@example.com", passed: []string{"endpoint", "identity", "space"}},
		},
		{
			name: "cloud base URL given with /wiki", dep: connector.Cloud, auth: connector.AuthBasic, user: "mia@example.com", secret: cfCloudToken,
			path: "/wiki", spaces: []string{"ENG"},
			want: want{ok: true, identity: "mia@example.com", passed: []string{"identity", "space"}},
		},
		{
			name: "data center PAT", dep: connector.SelfHosted, auth: connector.AuthBearer, secret: cfDCToken, spaces: []string{"ENG"},
			want: want{ok: true, identity: "mia", passed: []string{"identity", "space"}},
		},
		{
			name: "unknown space", dep: connector.Cloud, auth: connector.AuthBasic, user: "mia@example.com", secret: cfCloudToken,
			spaces: []string{"ENG", "NOPE"},
			want:   want{identity: "mia@example.com", failed: map[string]string{"space": "space NOPE not found or not visible to you"}},
		},
		{
			name: "space hidden from the account", dep: connector.SelfHosted, auth: connector.AuthBearer, secret: cfDCToken, spaces: []string{"HR"},
			want: want{identity: "mia", failed: map[string]string{"space": "space HR not found or not visible"}},
		},
		{
			name: "wrong token", dep: connector.Cloud, auth: connector.AuthBasic, user: "mia@example.com", secret: "wrong", spaces: []string{"ENG"},
			want: want{failed: map[string]string{"identity": "token rejected"}, absent: []string{"space"}},
		},
		{
			name: "a request that ran as anonymous is not an identity", dep: connector.SelfHosted, auth: connector.AuthBearer, secret: cfDCToken,
			fault: &faults.Fault{Status: 200, Body: `{"type":"anonymous","displayName":"Anonymous"}`},
			want:  want{failed: map[string]string{"identity": "anonymous"}},
		},
		{
			name: "malformed search", dep: connector.Cloud, auth: connector.AuthBasic, user: "mia@example.com", secret: cfCloudToken, spaces: []string{"ENG"},
			fault: &faults.Fault{Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/search") }, Status: 200, Body: `{"results": [`},
			want:  want{identity: "mia@example.com", failed: map[string]string{"space": "malformed"}},
		},
		{
			name: "server error", dep: connector.Cloud, auth: connector.AuthBasic, user: "mia@example.com", secret: cfCloudToken, spaces: []string{"ENG"},
			fault: &faults.Fault{Status: 500},
			want:  want{passed: []string{"endpoint"}, failed: map[string]string{"identity": "HTTP 500"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newConfluence(tt.dep)
			if tt.fault != nil {
				fake.Faults.Add(*tt.fault)
			}
			c := connector.Connector{ID: "c1", System: connector.Confluence, Deployment: tt.dep, BaseURL: fake.Start(t) + tt.path, AuthMode: tt.auth, Username: tt.user, SpaceKeys: tt.spaces}
			tt.want.assert(t, run(t, c, tt.secret, trackers.Options{}))
		})
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close() // nothing listens there any more

	for _, c := range []connector.Connector{
		{System: connector.Jira, Deployment: connector.Cloud, AuthMode: connector.AuthBasic, Username: "mia@example.com", Project: "ABC"},
		{System: connector.GitHub, Deployment: connector.SelfHosted, AuthMode: connector.AuthBearer, Project: "acme/widgets"},
		{System: connector.GitLab, Deployment: connector.SelfHosted, AuthMode: connector.AuthBearer, Project: "acme/widgets"},
		{System: connector.Confluence, Deployment: connector.SelfHosted, AuthMode: connector.AuthBearer, SpaceKeys: []string{"ENG"}},
	} {
		t.Run(string(c.System), func(t *testing.T) {
			t.Parallel()
			c.BaseURL = dead
			res := run(t, c, ghClassic, trackers.Options{})
			if res.OK || len(res.Checks) != 1 {
				t.Fatalf("checks = %+v, want only a failed endpoint check", res.Checks)
			}
			if msg := res.Checks[0].Message; !strings.Contains(msg, "cannot reach") || !strings.Contains(msg, "refused") {
				t.Fatalf("endpoint message = %q, want it to say the connection was refused", msg)
			}
		})
	}
}

func TestSlowTrackerTimesOut(t *testing.T) {
	t.Parallel()
	fake := newJira(connector.Cloud)
	fake.Faults.Add(faults.Fault{Delay: 2 * time.Second})
	c := connector.Connector{System: connector.Jira, Deployment: connector.Cloud, BaseURL: fake.Start(t), AuthMode: connector.AuthBasic, Username: "mia@example.com"}
	res := run(t, c, jiraCloudToken, trackers.Options{Timeout: 200 * time.Millisecond})
	if ch := check(t, res, trackers.CheckEndpoint); ch.OK || !strings.Contains(ch.Message, "timed out") {
		t.Fatalf("endpoint check = %+v, want a time-out", ch)
	}
}

func TestRefusedEndpointIsNeverContacted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
	}{
		{"metadata IP", "http://169.254.169.254/"},
		{"metadata host", "http://metadata.google.internal/"},
		{"user info in URL", "https://mia:" + jiraCloudToken + "@jira.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := connector.Connector{System: connector.Jira, Deployment: connector.Cloud, BaseURL: tt.url, AuthMode: connector.AuthBasic, Username: "mia@example.com"}
			res := run(t, c, jiraCloudToken, trackers.Options{})
			if res.OK || len(res.Checks) != 1 || !strings.Contains(res.Checks[0].Message, "endpoint refused") {
				t.Fatalf("checks = %+v, want one refused endpoint check", res.Checks)
			}
		})
	}
}

func TestDialTimeRefusalIsAFailedEndpointCheck(t *testing.T) {
	t.Parallel()
	fake := newJira(connector.Cloud)
	url := strings.Replace(fake.Start(t), "127.0.0.1", "localhost", 1)
	policy := trackers.EndpointPolicy{Deny: mustPrefixes("127.0.0.0/8", "::1/128")}
	c := connector.Connector{System: connector.Jira, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBasic, Username: "mia@example.com", Project: "ABC"}
	res := run(t, c, jiraCloudToken, trackers.Options{Policy: policy})
	if ch := check(t, res, trackers.CheckEndpoint); ch.OK || !strings.Contains(ch.Message, "denied range") {
		t.Fatalf("endpoint check = %+v, want a dial-time refusal", ch)
	}
	if fake.Requests() != 0 {
		t.Fatalf("fake received %d requests, want none", fake.Requests())
	}
}

func TestInvalidConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		c      connector.Connector
		secret string
		want   error
	}{
		{"unknown system", connector.Connector{System: "trello", Deployment: connector.Cloud, AuthMode: connector.AuthBearer}, "x", trackers.ErrUnknownSystem},
		{"unsupported deployment", connector.Connector{System: connector.GitHub, Deployment: "on_moon", AuthMode: connector.AuthBearer, Project: "a/b"}, "x", trackers.ErrInvalidConfig},
		{"bearer on Jira Cloud", connector.Connector{System: connector.Jira, Deployment: connector.Cloud, BaseURL: "https://x.atlassian.net", AuthMode: connector.AuthBearer}, "x", trackers.ErrInvalidConfig},
		{"anonymous GitHub", connector.Connector{System: connector.GitHub, Deployment: connector.Cloud, AuthMode: connector.AuthAnonymous, Project: "a/b"}, "", trackers.ErrInvalidConfig},
		{"missing credential", connector.Connector{System: connector.GitLab, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: "a/b"}, "", trackers.ErrInvalidConfig},
		{"basic auth without username", connector.Connector{System: connector.Confluence, Deployment: connector.Cloud, BaseURL: "https://x.atlassian.net", AuthMode: connector.AuthBasic}, "x", trackers.ErrInvalidConfig},
		{"GitHub project not owner/repo", connector.Connector{System: connector.GitHub, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: "widgets"}, "x", trackers.ErrInvalidConfig},
		{"GitLab project missing", connector.Connector{System: connector.GitLab, Deployment: connector.Cloud, AuthMode: connector.AuthBearer}, "x", trackers.ErrInvalidConfig},
		{"Jira key with a path", connector.Connector{System: connector.Jira, Deployment: connector.Cloud, BaseURL: "https://x.atlassian.net", AuthMode: connector.AuthAnonymous, Project: "../admin"}, "", trackers.ErrInvalidConfig},
		{"CQL in a space key", connector.Connector{System: connector.Confluence, Deployment: connector.SelfHosted, BaseURL: "https://wiki.example.com", AuthMode: connector.AuthBearer, SpaceKeys: []string{`ENG" OR type = page`}}, "x", trackers.ErrInvalidConfig},
		{"Jira without base URL", connector.Connector{System: connector.Jira, Deployment: connector.Cloud, AuthMode: connector.AuthAnonymous}, "", trackers.ErrInvalidConfig},
		{"self-hosted GitHub without base URL", connector.Connector{System: connector.GitHub, Deployment: connector.SelfHosted, AuthMode: connector.AuthBearer, Project: "a/b"}, "x", trackers.ErrInvalidConfig},
		{"CA bundle without certificates", connector.Connector{System: connector.GitHub, Deployment: connector.Cloud, AuthMode: connector.AuthBearer, Project: "a/b", CABundlePEM: "nope"}, "x", trackers.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := all.Registry().Test(context.Background(), tt.c, connector.NewSecret(tt.secret), trackers.Options{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Test() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}
