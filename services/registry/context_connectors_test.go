package registry_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

func TestContextConnectorsMustNameStoredContextSources(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	const tok = "valid-token-000000000000001"

	jenkins := &chv1.Connector{
		System: chv1.System_SYSTEM_JENKINS, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED,
		BaseUrl: "https://ci.acme.example", AuthMode: chv1.AuthMode_AUTH_MODE_BASIC, Username: "alice", Watch: []string{"checkout/main"}, Enabled: true,
	}
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: jenkins, ConnectorId: "ci-checkout", Credential: tok}); err != nil {
		t.Fatalf("create context source: %v", err)
	}
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: jiraConnector(), ConnectorId: "jira-other", Credential: tok}); err != nil {
		t.Fatal(err)
	}

	refused := map[string]struct {
		c    *chv1.Connector
		text string
	}{
		"unknown connector":    {with(githubConnector(), func(c *chv1.Connector) { c.ContextConnectors = []string{"ci-missing"} }), `"ci-missing" does not exist`},
		"not a context source": {with(githubConnector(), func(c *chv1.Connector) { c.ContextConnectors = []string{"jira-other"} }), "is a jira connector, not a context source ("},
		"named twice":          {with(githubConnector(), func(c *chv1.Connector) { c.ContextConnectors = []string{"ci-checkout", "ci-checkout"} }), "named twice"},
		"not an id":            {with(githubConnector(), func(c *chv1.Connector) { c.ContextConnectors = []string{"CI Checkout"} }), "not a connector id"},
		"on a context source":  {with(jenkins, func(c *chv1.Connector) { c.ContextConnectors = []string{"ci-checkout"} }), "cannot name context connectors"},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			_, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: tc.c, Credential: tok})
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, "context_connectors") || !strings.Contains(msg, tc.text) {
				t.Errorf("message %q does not name context_connectors and %q", msg, tc.text)
			}
		})
	}

	gh := with(githubConnector(), func(c *chv1.Connector) { c.ContextConnectors = []string{"ci-checkout"} })
	created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: gh, ConnectorId: "gh-checkout", Credential: tok})
	if err != nil {
		t.Fatalf("create with a context source: %v", err)
	}
	if got := created.GetConnector().GetContextConnectors(); len(got) != 1 || got[0] != "ci-checkout" {
		t.Fatalf("context_connectors = %v", got)
	}
	// Updated through the mask: cleared, then refused when it names a non-source.
	upd, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{
		Connector:  &chv1.Connector{Id: "gh-checkout", Etag: created.GetConnector().GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"context_connectors"}},
	})
	if err != nil || len(upd.GetConnector().GetContextConnectors()) != 0 {
		t.Fatalf("clear context_connectors: %v, %v", upd.GetConnector().GetContextConnectors(), err)
	}
	_, err = admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{
		Connector:  &chv1.Connector{Id: "gh-checkout", ContextConnectors: []string{"jira-other"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"context_connectors"}},
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("update naming a tracker: %v, want InvalidArgument", err)
	}
}

func with(c *chv1.Connector, edit func(*chv1.Connector)) *chv1.Connector {
	edit(c)
	return c
}
