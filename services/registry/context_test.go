package registry_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// A context source's connector keeps what it watches through create, get
// and an update of the watch field alone.
func TestContextConnectorWatch(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	in := &chv1.Connector{System: chv1.System_SYSTEM_ARGOCD, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: "https://argocd.example",
		AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Watch: []string{"checkout", "storefront"}, Enabled: true}
	created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: in, ConnectorId: "argo-prod", Credential: "argocd-token-000000000001"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "argo-prod"})
	if err != nil || !slices.Equal(got.GetConnector().GetWatch(), []string{"checkout", "storefront"}) {
		t.Fatalf("get = %v, %v", got.GetConnector(), err)
	}
	u, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{
		Connector:  &chv1.Connector{Id: "argo-prod", Watch: []string{"payments"}, Etag: created.GetConnector().GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"watch"}},
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if c := u.GetConnector(); !slices.Equal(c.GetWatch(), []string{"payments"}) || c.GetBaseUrl() != "https://argocd.example" {
		t.Errorf("updated = %v", c)
	}
	// Emptying it is refused: a context source must watch something.
	if _, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{
		Connector: &chv1.Connector{Id: "argo-prod"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"watch"}},
	}); err == nil {
		t.Error("update emptying watch succeeded")
	}
}
