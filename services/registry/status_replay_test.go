package registry_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

func TestConnectorStatusComesFromThePollers(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: "gh-status", Credential: "ghp_status000000000000000001"}); err != nil {
		t.Fatal(err)
	}
	kv, _ := srv.JS.KeyValue(ctx, bus.BucketPollState)
	now := time.Now().UTC().Truncate(time.Second)
	st := connector.PollState{LastPoll: now, LastSuccess: now.Add(-time.Minute), LastError: "tracker rate limit: retry after 1m0s",
		NextPoll: now.Add(time.Minute), Known: map[string]time.Time{"1": now, "2": now}, Late: 42 * time.Second,
		PoolSetAside: []string{"0123456789ab"}, PoolUsable: 2}
	if _, err := connector.NewStateStore(kv).Put(ctx, "gh-status", st); err != nil {
		t.Fatal(err)
	}
	// The registry follows poll_state with a watch: a poller's write shows
	// a moment later.
	var got *chv1.GetConnectorResponse
	testenv.Eventually(t, 10*time.Second, "the poller's status on the connector", func() bool {
		var err error
		got, err = admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "gh-status"})
		if err != nil {
			t.Fatal(err)
		}
		return got.GetConnector().GetStatus().GetTicketsKnown() == 2
	})
	s := got.GetConnector().GetStatus()
	if !s.GetLastPollTime().AsTime().Equal(now) || s.GetTicketsKnown() != 2 || s.GetLastError() == "" || !s.GetNextPollTime().AsTime().Equal(now.Add(time.Minute)) ||
		s.GetLateBy().AsDuration() != 42*time.Second || len(s.GetPoolTokensSetAside()) != 1 || s.GetPoolTokensSetAside()[0] != "0123456789ab" || s.GetPoolTokensUsable() != 2 {
		t.Errorf("status = %v", s)
	}
	list, err := admin.ListConnectors(ctx, &chv1.ListConnectorsRequest{})
	if err != nil || list.GetConnectors()[0].GetStatus().GetTicketsKnown() != 2 {
		t.Errorf("list status = %v, %v", list, err)
	}
	// Deleting the connector forgets its poll state.
	if _, err := admin.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: "gh-status"}); err != nil {
		t.Fatal(err)
	}
	if left, _ := connector.NewStateStore(kv).Get(ctx, "gh-status"); left.Revision != 0 {
		t.Error("poll state survived the connector's deletion")
	}
}

func TestReplayResult(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	if _, err := admin.ReplayResult(ctx, &chv1.ReplayResultRequest{ResultId: "never-seen"}); status.Code(err) != codes.NotFound {
		t.Errorf("replay unknown: %v, want NotFound", err)
	}
	lkv, _ := srv.JS.KeyValue(ctx, bus.BucketWritebackLedger)
	store := ledger.NewStore(lkv)
	raw, _ := protojson.Marshal(&chv1.ResultReady{ResultId: "res-1", ConnectorId: "jira-x", System: chv1.System_SYSTEM_JIRA, TicketKey: "X-1", TargetStatus: "Done"})
	if _, err := store.Put(ctx, ledger.Entry{ResultID: "res-1", ConnectorID: "jira-x", System: "jira", Result: raw, Completed: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ReplayResult(ctx, &chv1.ReplayResultRequest{ResultId: "res-1"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("replay completed: %v, want FailedPrecondition", err)
	}
	e, _ := store.Get(ctx, "res-1")
	e.Completed, e.Failed, e.Reason = false, true, "boom"
	if _, err := store.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	viewer := srv.Dial(t, srv.ViewerToken)
	if _, err := viewer.ReplayResult(ctx, &chv1.ReplayResultRequest{ResultId: "res-1"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("viewer replay: %v, want PermissionDenied", err)
	}
	resp, err := admin.ReplayResult(ctx, &chv1.ReplayResultRequest{ResultId: "res-1"})
	if err != nil || resp.GetSubject() != "result.ready.jira.jira-x" || resp.GetReplays() != 1 {
		t.Fatalf("replay = %v, %v", resp, err)
	}
	st, _ := srv.JS.Stream(context.Background(), bus.StreamResults)
	m, err := st.GetLastMsgForSubject(ctx, "result.ready.jira.jira-x")
	if err != nil {
		t.Fatalf("no re-published result: %v", err)
	}
	var r chv1.ResultReady
	if err := protojson.Unmarshal(m.Data, &r); err != nil || r.GetResultId() != "res-1" || r.GetTargetStatus() != "Done" {
		t.Errorf("re-published %v, %v", &r, err)
	}
}
