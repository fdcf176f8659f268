package registry_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

func TestNormalizeTicketKeyAcceptsWhatAPersonTypes(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-keys", Credential: "ghp_keys00000000000000000000001"}); err != nil {
		t.Fatal(err)
	}
	viewer := srv.Dial(t, srv.ViewerToken)
	for _, in := range []string{"acme/widgets#12", "12", "#12", "https://github.com/acme/widgets/issues/12"} {
		resp, err := viewer.NormalizeTicketKey(ctx, &chv1.NormalizeTicketKeyRequest{ConnectorId: "gh-keys", Ticket: in})
		if err != nil || resp.GetKey() != "acme/widgets#12" || resp.GetSystem() != chv1.System_SYSTEM_GITHUB {
			t.Errorf("NormalizeTicketKey(%q) = %v, %v; want acme/widgets#12 on github", in, resp, err)
		}
	}
	_, err := viewer.NormalizeTicketKey(ctx, &chv1.NormalizeTicketKeyRequest{ConnectorId: "gh-keys", Ticket: "acme/gadgets#12"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "acme/gadgets") || !strings.Contains(err.Error(), "acme/widgets") {
		t.Errorf("another repository's key: %v, want InvalidArgument naming both repositories", err)
	}
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: &chv1.Connector{System: chv1.System_SYSTEM_CONFLUENCE, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD,
		BaseUrl: "https://acme.atlassian.net/wiki", AuthMode: chv1.AuthMode_AUTH_MODE_BASIC, Username: "bot@example.com", SpaceKeys: []string{"ENG"}, Enabled: true},
		ConnectorId: "wiki-keys", Credential: "atlassian-token-0000000001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.NormalizeTicketKey(ctx, &chv1.NormalizeTicketKeyRequest{ConnectorId: "wiki-keys", Ticket: "12"}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "no tickets") {
		t.Errorf("a Confluence connector: %v, want InvalidArgument: it has no tickets", err)
	}
	if _, err := viewer.NormalizeTicketKey(ctx, &chv1.NormalizeTicketKeyRequest{ConnectorId: "nope", Ticket: "12"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown connector: %v, want NotFound", err)
	}
	if _, err := viewer.NormalizeTicketKey(ctx, &chv1.NormalizeTicketKeyRequest{Ticket: "12"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no connector: %v, want InvalidArgument", err)
	}
}

func TestReplayNormalizesTheTicketKey(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-replay", Credential: "ghp_keys00000000000000000000002"}); err != nil {
		t.Fatal(err)
	}
	lkv, _ := srv.JS.KeyValue(ctx, bus.BucketWritebackLedger)
	store := ledger.NewStore(lkv)
	failed := func(id, key string) {
		t.Helper()
		raw, _ := protojson.Marshal(&chv1.ResultReady{ResultId: id, ConnectorId: "gh-replay", System: chv1.System_SYSTEM_GITHUB, TicketKey: key, TargetStatus: "Done"})
		if _, err := store.Put(ctx, ledger.Entry{ResultID: id, ConnectorID: "gh-replay", System: "github", Result: raw, Failed: true, Reason: "boom"}); err != nil {
			t.Fatal(err)
		}
	}
	failed("res-url", "https://github.com/acme/widgets/issues/3")
	if _, err := admin.ReplayResult(ctx, &chv1.ReplayResultRequest{ResultId: "res-url"}); err != nil {
		t.Fatal(err)
	}
	st, _ := srv.JS.Stream(context.Background(), bus.StreamResults)
	m, err := st.GetLastMsgForSubject(ctx, "result.ready.github.gh-replay")
	if err != nil {
		t.Fatalf("no re-published result: %v", err)
	}
	var r chv1.ResultReady
	if err := protojson.Unmarshal(m.Data, &r); err != nil || r.GetTicketKey() != "acme/widgets#3" || m.Header.Get(bus.HeaderSubject) != "acme/widgets#3" {
		t.Errorf("re-published ticket_key %q (ce-subject %q), %v; want acme/widgets#3", r.GetTicketKey(), m.Header.Get(bus.HeaderSubject), err)
	}

	failed("res-other", "acme/gadgets#3")
	_, err = admin.ReplayResult(ctx, &chv1.ReplayResultRequest{ResultId: "res-other"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "acme/gadgets") {
		t.Errorf("replay of another repository's key: %v, want InvalidArgument", err)
	}
	if e, _ := store.Get(ctx, "res-other"); !e.Failed || e.Replays != 0 {
		t.Errorf("a refused replay changed the ledger: %+v", e)
	}
}
