package registry_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/contextfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// withContextSource is every production tracker plus a context source
// registered as jenkins (contextfake until pkg/trackers/jenkins is in all).
func withContextSource(t *testing.T) *trackers.Registry {
	t.Helper()
	prod := all.Registry()
	var ts []trackers.Tracker
	for _, sys := range prod.Systems() {
		if sys == connector.Jenkins {
			continue
		}
		tr, _ := prod.Lookup(sys)
		ts = append(ts, tr)
	}
	reg, err := trackers.NewRegistry(append(ts, contextfake.Tracker{System: connector.Jenkins})...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestContextConnectorsMustNameStoredContextSources(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}), registrytest.WithTrackers(withContextSource(t)))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	const tok = "valid-token-000000000000001"

	jenkins := &chv1.Connector{
		System: chv1.System_SYSTEM_JENKINS, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED,
		BaseUrl: "https://ci.acme.example", AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Watch: []string{"checkout/main"}, Enabled: true,
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
		"not a context source": {with(githubConnector(), func(c *chv1.Connector) { c.ContextConnectors = []string{"jira-other"} }), "not a context source (jenkins)"},
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
