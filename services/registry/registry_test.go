package registry_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// recordingTester passes or fails every test and remembers the secrets it saw.
type recordingTester struct {
	mu     sync.Mutex
	seen   []string
	fail   map[string]bool // secrets that fail the identity check
	expire time.Time       // token expiry the tracker reports, if any
}

func (r *recordingTester) Test(_ context.Context, c connector.Connector, s connector.Secret) (trackers.TestResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, s.Reveal())
	if r.fail[s.Reveal()] {
		return trackers.TestResult{Checks: []trackers.Check{{Name: "identity", Message: "token rejected (401)"}}}, nil
	}
	return trackers.TestResult{OK: true, Identity: "tester@" + string(c.System), Checks: []trackers.Check{{Name: "identity", OK: true}}, ExpireTime: r.expire}, nil
}

func (r *recordingTester) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return ""
	}
	return r.seen[len(r.seen)-1]
}

func githubConnector() *chv1.Connector {
	return &chv1.Connector{
		System: chv1.System_SYSTEM_GITHUB, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD,
		DisplayName: "Acme widgets", Project: "acme/widgets", Enabled: true,
		PollInterval: durationpb.New(30 * time.Second),
		Scope:        &chv1.Scope{Labels: []string{"agent"}},
	}
}

func jiraConnector() *chv1.Connector {
	return &chv1.Connector{
		System: chv1.System_SYSTEM_JIRA, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD,
		BaseUrl: "https://acme.atlassian.net", AuthMode: chv1.AuthMode_AUTH_MODE_BASIC,
		Username: "bot@acme.example", Project: "ACME", Enabled: true,
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConnectorLifecycle(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)

	created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-widgets", Credential: "ghp_lifecycleSecretValue0001"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	c := created.GetConnector()
	if c.GetId() != "gh-widgets" || !c.GetCredential().GetSet() || c.GetCredential().GetFingerprint() == "" || c.GetEtag() == "" {
		t.Fatalf("created connector = %v", c)
	}
	if got := c.GetCredential().GetCipher(); got != "local" {
		t.Errorf("cipher = %q, want local", got)
	}
	if c.GetStatusLabels().GetDone() != "Done" || c.GetConflictPolicy() != chv1.ConflictPolicy_CONFLICT_POLICY_TRACKER_WINS {
		t.Errorf("defaults not applied: %v", c)
	}

	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-widgets", Credential: "ghp_other000000000000000001"}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate create: %v, want AlreadyExists", err)
	}
	gen, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: jiraConnector(), Credential: "atl-token-0000000000000002"})
	if err != nil {
		t.Fatalf("create with generated id: %v", err)
	}
	if id := gen.GetConnector().GetId(); !strings.HasPrefix(id, "jira-") {
		t.Errorf("generated id %q, want jira-…", id)
	}

	got, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "gh-widgets"})
	if err != nil || !proto.Equal(got.GetConnector(), c) {
		t.Fatalf("get = %v, %v; want %v", got.GetConnector(), err, c)
	}
	if _, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "nope-nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("get missing: %v, want NotFound", err)
	}

	// Update changes exactly the masked fields.
	upd := &chv1.Connector{Id: "gh-widgets", Enabled: false, DisplayName: "ignored, not in mask", Scope: &chv1.Scope{Labels: []string{"bot", "ai"}}, Zone: "plant-2", Etag: c.GetEtag()}
	u, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled", "scope.labels", "zone"}}})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	uc := u.GetConnector()
	if uc.GetEnabled() || uc.GetDisplayName() != "Acme widgets" || strings.Join(uc.GetScope().GetLabels(), ",") != "bot,ai" || uc.GetZone() != "plant-2" {
		t.Errorf("update changed the wrong fields: %v", uc)
	}
	if uc.GetEtag() == c.GetEtag() || uc.GetCredential().GetFingerprint() != c.GetCredential().GetFingerprint() {
		t.Errorf("etag must change and credential stay: before %v after %v", c, uc)
	}
	// A stale etag is refused.
	_, err = admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: "gh-widgets", Enabled: true, Etag: c.GetEtag()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled"}}})
	if status.Code(err) != codes.Aborted {
		t.Errorf("stale etag update: %v, want Aborted", err)
	}

	// Paging with a system filter.
	for i := range 5 {
		req := &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: fmt.Sprintf("gh-page-%d", i), Credential: fmt.Sprintf("ghp_page%020d", i)}
		if _, err := admin.CreateConnector(ctx, req); err != nil {
			t.Fatalf("create page %d: %v", i, err)
		}
	}
	var ids []string
	token := ""
	for pages := 0; ; pages++ {
		resp, err := admin.ListConnectors(ctx, &chv1.ListConnectorsRequest{System: chv1.System_SYSTEM_GITHUB, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, c := range resp.GetConnectors() {
			ids = append(ids, c.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if want := "gh-page-0,gh-page-1,gh-page-2,gh-page-3,gh-page-4,gh-widgets"; strings.Join(ids, ",") != want {
		t.Errorf("listed %v, want %s", ids, want)
	}

	// Delete with a stale etag is refused; with none it works.
	if _, err := admin.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: "gh-widgets", Etag: c.GetEtag()}); status.Code(err) != codes.Aborted {
		t.Errorf("delete stale etag: %v, want Aborted", err)
	}
	if _, err := admin.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: "gh-widgets"}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "gh-widgets"}); status.Code(err) != codes.NotFound {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
}

func TestAuthRolesAndOpenEndpoints(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	ctx := ctxT(t)
	create := &chv1.CreateConnectorRequest{Connector: githubConnector(), Credential: "ghp_authSecret00000000000001"}

	tests := []struct {
		name  string
		token string
		call  func(chv1.RegistryServiceClient) error
		want  codes.Code
	}{
		{"no token is unauthenticated", "", func(c chv1.RegistryServiceClient) error {
			_, err := c.ListConnectors(ctx, &chv1.ListConnectorsRequest{})
			return err
		}, codes.Unauthenticated},
		{"unknown token is unauthenticated", "not-a-real-token-0000", func(c chv1.RegistryServiceClient) error {
			_, err := c.ListConnectors(ctx, &chv1.ListConnectorsRequest{})
			return err
		}, codes.Unauthenticated},
		{"viewer may list", srv.ViewerToken, func(c chv1.RegistryServiceClient) error {
			_, err := c.ListConnectors(ctx, &chv1.ListConnectorsRequest{})
			return err
		}, codes.OK},
		{"viewer may read capabilities", srv.ViewerToken, func(c chv1.RegistryServiceClient) error {
			_, err := c.GetCapabilities(ctx, &chv1.GetCapabilitiesRequest{})
			return err
		}, codes.OK},
		{"viewer may not create", srv.ViewerToken, func(c chv1.RegistryServiceClient) error {
			_, err := c.CreateConnector(ctx, create)
			return err
		}, codes.PermissionDenied},
		{"viewer may not delete", srv.ViewerToken, func(c chv1.RegistryServiceClient) error {
			_, err := c.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: "x-anything"})
			return err
		}, codes.PermissionDenied},
		{"viewer may not rotate", srv.ViewerToken, func(c chv1.RegistryServiceClient) error {
			_, err := c.RotateCredential(ctx, &chv1.RotateCredentialRequest{Id: "x-anything", Credential: "ghp_x"})
			return err
		}, codes.PermissionDenied},
		{"viewer may not test (it sends credentials)", srv.ViewerToken, func(c chv1.RegistryServiceClient) error {
			_, err := c.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: "x-anything"}})
			return err
		}, codes.PermissionDenied},
		{"unauthenticated may not create", "", func(c chv1.RegistryServiceClient) error {
			_, err := c.CreateConnector(ctx, create)
			return err
		}, codes.Unauthenticated},
		{"admin may create", srv.AdminToken, func(c chv1.RegistryServiceClient) error {
			_, err := c.CreateConnector(ctx, create)
			return err
		}, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(srv.Dial(t, tc.token))
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && status.Convert(err).Message() == "" {
				t.Error("error has no message")
			}
		})
	}

	// Health and reflection answer without a token, so probes and grpcurl work.
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: chv1.RegistryService_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v", h, err)
	}
	rc, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := rc.Recv()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	found := false
	for _, s := range rr.GetListServicesResponse().GetService() {
		found = found || s.GetName() == chv1.RegistryService_ServiceDesc.ServiceName
	}
	if !found {
		t.Errorf("reflection does not list the registry: %v", rr)
	}
}

// fieldViolations returns the fields an InvalidArgument status names.
func fieldViolations(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

func TestBadInputIsRefusedWithFieldErrors(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	with := func(base func() *chv1.Connector, edit func(*chv1.Connector)) *chv1.Connector {
		c := base()
		edit(c)
		return c
	}
	const tok = "valid-token-000000000000001"
	tests := []struct {
		name       string
		req        *chv1.CreateConnectorRequest
		wantField  string
		wantInText string
	}{
		{"missing connector", &chv1.CreateConnectorRequest{}, "connector", "required"},
		{"unknown system", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.System = 42 }), Credential: tok}, "system", "unknown system"},
		{"unspecified system", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.System = 0 }), Credential: tok}, "system", "required"},
		{"malformed base url", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.BaseUrl = "ht!tp://::not a url" }), Credential: tok}, "base_url", "URL"},
		{"ftp base url", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.BaseUrl = "ftp://jira.example" }), Credential: tok}, "base_url", "http"},
		{"credentials in base url", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.BaseUrl = "https://u:p@jira.example" }), Credential: tok}, "base_url", "credentials"},
		{"cloud metadata address", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.BaseUrl = "http://169.254.169.254/latest" }), Credential: tok}, "base_url", ""},
		{"link-local IPv6", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.BaseUrl = "http://[fe80::1]/" }), Credential: tok}, "base_url", ""},
		{"metadata host name", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.BaseUrl = "http://metadata.google.internal/" }), Credential: tok}, "base_url", ""},
		{"metadata proxy", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.HttpProxyUrl = "http://169.254.169.254:80" }), Credential: tok}, "http_proxy_url", ""},
		{"jira without base url", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.BaseUrl = "" }), Credential: tok}, "base_url", "required"},
		{"jira basic auth without email", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.Username = "" }), Credential: tok}, "username", "required"},
		{"jira cloud user not an email", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.Username = "bot" }), Credential: tok}, "username", "email"},
		{"jira lowercase project key", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.Project = "acme" }), Credential: tok}, "project", "key"},
		{"jira cloud with bearer", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.AuthMode = chv1.AuthMode_AUTH_MODE_BEARER }), Credential: tok}, "auth_mode", "not accepted"},
		{"github without repo", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.Project = "" }), Credential: tok}, "project", "owner/repo"},
		{"github repo not owner/repo", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.Project = "just-a-name" }), Credential: tok}, "project", "owner/repo"},
		{"github enterprise without url", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.Deployment = chv1.Deployment_DEPLOYMENT_SELF_HOSTED }), Credential: tok}, "base_url", "required"},
		{"gitlab bad project path", &chv1.CreateConnectorRequest{Connector: &chv1.Connector{System: chv1.System_SYSTEM_GITLAB, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, Project: "no spaces allowed"}, Credential: tok}, "project", "path"},
		{"confluence without spaces", &chv1.CreateConnectorRequest{Connector: &chv1.Connector{System: chv1.System_SYSTEM_CONFLUENCE, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: "https://acme.atlassian.net", Username: "bot@acme.example"}, Credential: tok}, "space_keys", "space key"},
		{"missing credential", &chv1.CreateConnectorRequest{Connector: githubConnector()}, "credential", "required"},
		{"anonymous with credential", &chv1.CreateConnectorRequest{Connector: with(jiraConnector, func(c *chv1.Connector) { c.AuthMode = chv1.AuthMode_AUTH_MODE_ANONYMOUS; c.Assignee = "someone" }), Credential: tok}, "credential", "empty"},
		{"oversized display name", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.DisplayName = strings.Repeat("x", 10_000) }), Credential: tok}, "display_name", "longer"},
		{"oversized credential", &chv1.CreateConnectorRequest{Connector: githubConnector(), Credential: strings.Repeat("t", 9000)}, "credential", "longer"},
		{"too many labels", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.Scope.Labels = make([]string, 51) }), Credential: tok}, "scope.labels", "at most"},
		{"poll interval too short", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.PollInterval = durationpb.New(time.Second) }), Credential: tok}, "poll_interval", "between"},
		{"bad CA bundle", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.CaBundlePem = "not pem" }), Credential: tok}, "ca_bundle_pem", "PEM"},
		{"bad connector id", &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "Bad.ID", Credential: tok}, "id", "lowercase"},
		{"jenkins without endpoint", &chv1.CreateConnectorRequest{Connector: &chv1.Connector{System: chv1.System_SYSTEM_JENKINS, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, Username: "alice", Watch: []string{"team/app"}}, Credential: tok}, "base_url", "required"},
		{"circleci without watch", &chv1.CreateConnectorRequest{Connector: &chv1.Connector{System: chv1.System_SYSTEM_CIRCLECI, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD}, Credential: tok}, "watch", "project slug"},
		{"sonarqube bad project key", &chv1.CreateConnectorRequest{Connector: &chv1.Connector{System: chv1.System_SYSTEM_SONARQUBE, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: "https://sonar.example", Watch: []string{"no spaces"}}, Credential: tok}, "watch[0]", "project key"},
		{"watch on a tracker", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.Watch = []string{"gh/acme/widgets"} }), Credential: tok}, "watch", "context sources"},
		{"full text on a tracker", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.FullText = true }), Credential: tok}, "full_text", "confluence"},
		{"zone not a key token", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.Zone = "plant.a" }), Credential: tok}, "zone", "lowercase"},
		{"control characters", &chv1.CreateConnectorRequest{Connector: with(githubConnector, func(c *chv1.Connector) { c.DisplayName = "a\x00b" }), Credential: tok}, "display_name", "control"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admin.CreateConnector(ctx, tc.req)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
			fields := fieldViolations(err)
			found := false
			for _, f := range fields {
				found = found || f == tc.wantField || strings.HasPrefix(f, tc.wantField+"[")
			}
			if !found {
				t.Errorf("field violations %v do not name %q (message %q)", fields, tc.wantField, status.Convert(err).Message())
			}
			if !strings.Contains(status.Convert(err).Message(), tc.wantInText) {
				t.Errorf("message %q does not say %q", status.Convert(err).Message(), tc.wantInText)
			}
		})
	}
	list, err := admin.ListConnectors(ctx, &chv1.ListConnectorsRequest{})
	if err != nil || len(list.GetConnectors()) != 0 {
		t.Errorf("bad input stored something: %v, %v", list.GetConnectors(), err)
	}

	// Update masks are checked too.
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-mask", Credential: tok}); err != nil {
		t.Fatal(err)
	}
	for name, mask := range map[string][]string{"empty mask": nil, "unknown path": {"nonsense"}, "immutable id": {"id"}, "output only": {"credential"}} {
		_, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: "gh-mask"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: mask}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

func TestChangingWhereTheCredentialGoesNeedsTheCredential(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: jiraConnector(), ConnectorId: "jira-redirect", Credential: "atl-original-00000000000001"}); err != nil {
		t.Fatal(err)
	}
	moved := &chv1.Connector{Id: "jira-redirect", BaseUrl: "https://attacker.example"}
	mask := &fieldmaskpb.FieldMask{Paths: []string{"base_url"}}
	_, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: moved, UpdateMask: mask})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "credential") {
		t.Fatalf("moving base_url without the credential: %v, want FailedPrecondition naming the credential", err)
	}
	got, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: moved, UpdateMask: mask, Credential: "atl-new-000000000000000002"})
	if err != nil {
		t.Fatalf("moving base_url with a credential: %v", err)
	}
	if got.GetConnector().GetBaseUrl() != "https://attacker.example" {
		t.Errorf("base_url not changed: %v", got.GetConnector())
	}
}

func TestTestConnection(t *testing.T) {
	t.Parallel()
	tester := &recordingTester{fail: map[string]bool{"bad-token-000000000000000001": true}}
	srv := registrytest.Start(t, registrytest.WithTester(tester))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)

	res, err := admin.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_Config{Config: githubConnector()}, Credential: "bad-token-000000000000000001"})
	if err != nil {
		t.Fatalf("unsaved test: %v", err)
	}
	if res.GetOk() || len(res.GetChecks()) == 0 || res.GetChecks()[0].GetOk() {
		t.Errorf("a failing check must come back as a structured result: %v", res)
	}

	// A saved connector is tested by a worker that decrypts its credential.
	const secret = "ghp_savedConnectorSecret00001"
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-saved", Credential: secret}); err != nil {
		t.Fatal(err)
	}
	res, err = admin.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: "gh-saved"}})
	if err != nil || !res.GetOk() {
		t.Fatalf("saved test = %v, %v", res, err)
	}
	if got := tester.last(); got != secret {
		t.Errorf("worker tested with a credential that is not the stored one (len %d)", len(got))
	}
	if _, err := admin.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: "missing-one"}}); err == nil {
		t.Error("testing a missing connector succeeded")
	}
	if _, err := admin.TestConnection(ctx, &chv1.TestConnectionRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no target: %v, want InvalidArgument", err)
	}
}

func TestRotateCheckAndRewrapCredentials(t *testing.T) {
	t.Parallel()
	tester := &recordingTester{fail: map[string]bool{"ghp_rejected00000000000000001": true}}
	srv := registrytest.Start(t, registrytest.WithTester(tester))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-rotate", Credential: "ghp_first0000000000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	before := created.GetConnector().GetCredential()

	_, err = admin.RotateCredential(ctx, &chv1.RotateCredentialRequest{Id: "gh-rotate", Credential: "ghp_rejected00000000000000001"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "old one stays") {
		t.Fatalf("rotating to a failing token: %v, want FailedPrecondition", err)
	}
	still, _ := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "gh-rotate"})
	if still.GetConnector().GetCredential().GetFingerprint() != before.GetFingerprint() {
		t.Fatal("a failed rotation replaced the credential")
	}

	rot, err := admin.RotateCredential(ctx, &chv1.RotateCredentialRequest{Id: "gh-rotate", Credential: "ghp_second000000000000000002"})
	if err != nil || !rot.GetTest().GetOk() {
		t.Fatalf("rotate: %v, %v", rot, err)
	}
	after := rot.GetConnector().GetCredential()
	if after.GetFingerprint() == before.GetFingerprint() || !after.GetSetTime().AsTime().After(before.GetSetTime().AsTime()) {
		t.Errorf("rotation did not replace the credential: before %v after %v", before, after)
	}
	// The worker now decrypts the new token.
	if _, err := admin.TestConnection(ctx, &chv1.TestConnectionRequest{Target: &chv1.TestConnectionRequest_ConnectorId{ConnectorId: "gh-rotate"}}); err != nil {
		t.Fatal(err)
	}
	if tester.last() != "ghp_second000000000000000002" {
		t.Error("saved test after rotation did not use the new credential")
	}

	chk, err := admin.CheckCredentials(ctx, &chv1.CheckCredentialsRequest{})
	if err != nil || len(chk.GetCredentials()) != 1 || chk.GetCredentials()[0].GetStale() {
		t.Fatalf("check (default 90 days): %v, %v", chk, err)
	}
	time.Sleep(5 * time.Millisecond)
	chk, err = admin.CheckCredentials(ctx, &chv1.CheckCredentialsRequest{StaleAfter: durationpb.New(time.Millisecond)})
	if err != nil || !chk.GetCredentials()[0].GetStale() || chk.GetCredentials()[0].GetAge().AsDuration() <= 0 {
		t.Fatalf("check (1ms): %v, %v", chk, err)
	}
	viewer := srv.Dial(t, srv.ViewerToken)
	if _, err := viewer.CheckCredentials(ctx, &chv1.CheckCredentialsRequest{}); err != nil {
		t.Errorf("viewer check: %v", err)
	}

	rw, err := admin.RewrapCredentials(ctx, &chv1.RewrapCredentialsRequest{})
	if err != nil || rw.GetUnchanged() != 1 || rw.GetRewrapped() != 0 {
		t.Fatalf("rewrap with nothing to do: %v, %v", rw, err)
	}
}

func TestCheckCredentialsRefreshRecordsTokenExpiry(t *testing.T) {
	t.Parallel()
	expires := time.Now().Add(5 * 24 * time.Hour).UTC().Truncate(time.Second)
	tester := &recordingTester{expire: expires, fail: map[string]bool{"ghp_failsRefresh0000000000001": true}}
	srv := registrytest.Start(t, registrytest.WithTester(tester))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	for id, tok := range map[string]string{"gh-expiring": "ghp_expiring000000000000000001", "gh-broken": "ghp_failsRefresh0000000000001"} {
		if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: id, Credential: tok}); err != nil {
			t.Fatal(err)
		}
	}
	plain, err := admin.CheckCredentials(ctx, &chv1.CheckCredentialsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plain.GetCredentials() {
		if c.GetCredential().GetExpireTime() != nil || c.GetExpiring() {
			t.Errorf("%s: expiry known before any test: %v", c.GetConnectorId(), c)
		}
	}
	viewer := srv.Dial(t, srv.ViewerToken)
	if _, err := viewer.CheckCredentials(ctx, &chv1.CheckCredentialsRequest{Refresh: true}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("viewer refresh: %v, want PermissionDenied", err)
	}
	refreshed, err := admin.CheckCredentials(ctx, &chv1.CheckCredentialsRequest{Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*chv1.CredentialAge{}
	for _, c := range refreshed.GetCredentials() {
		byID[c.GetConnectorId()] = c
	}
	ok := byID["gh-expiring"]
	if !ok.GetCredential().GetExpireTime().AsTime().Equal(expires) || !ok.GetExpiring() || ok.GetRefreshError() != "" {
		t.Errorf("refreshed = %v; want expiry %v and expiring (within 14 days)", ok, expires)
	}
	if bad := byID["gh-broken"]; !strings.Contains(bad.GetRefreshError(), "token rejected") {
		t.Errorf("a failing refresh must say why: %v", bad)
	}
	// The expiry stays recorded.
	again, _ := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "gh-expiring"})
	if !again.GetConnector().GetCredential().GetExpireTime().AsTime().Equal(expires) {
		t.Errorf("expiry not stored: %v", again.GetConnector().GetCredential())
	}
}
