package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

func TestReplayResult(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	t.Parallel()
	reg := registrytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lkv, err := reg.JS.KeyValue(ctx, bus.BucketWritebackLedger)
	if err != nil {
		t.Fatal(err)
	}
	store := ledger.NewStore(lkv)
	raw, _ := protojson.Marshal(&pb.ResultReady{ResultId: "res-1", ConnectorId: "jira-x", System: pb.System_SYSTEM_JIRA, TicketKey: "X-1", TargetStatus: "Done"})
	if _, err := store.Put(ctx, ledger.Entry{ResultID: "res-1", ConnectorID: "jira-x", System: "jira", Result: raw, Completed: true}); err != nil {
		t.Fatal(err)
	}
	admin := newCLI(t, reg.Addr)
	admin.vars["HUB_API_TOKEN"] = reg.AdminToken

	r := admin.run("results", "replay", "never-seen")
	if status.Code(r.err) != codes.NotFound || !strings.Contains(r.err.Error(), "result never-seen is unknown to writeback") {
		t.Errorf("unknown result: %v", r.err)
	}
	r = admin.run("results", "replay", "res-1")
	if status.Code(r.err) != codes.FailedPrecondition || !strings.Contains(r.err.Error(), "only dead-lettered results") ||
		!strings.Contains(r.err.Error(), "completed") {
		t.Errorf("completed result: %v", r.err)
	}

	e, err := store.Get(ctx, "res-1")
	if err != nil {
		t.Fatal(err)
	}
	e.Completed, e.Failed, e.Reason = false, true, "tracker said 500"
	if _, err := store.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	viewer := newCLI(t, reg.Addr)
	viewer.vars["HUB_API_TOKEN"] = reg.ViewerToken
	if r := viewer.run("results", "replay", "res-1"); status.Code(r.err) != codes.PermissionDenied {
		t.Errorf("viewer replay: %v", r.err)
	}
	r = admin.run("results", "replay", "res-1")
	if r.err != nil || r.stdout != "replayed result res-1 on result.ready.jira.jira-x (replay 1)\n" {
		t.Fatalf("replay: %v %q", r.err, r.stdout)
	}
	st, err := reg.JS.Stream(ctx, bus.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, "result.ready.jira.jira-x")
	if err != nil {
		t.Fatalf("nothing re-published: %v", err)
	}
	var got pb.ResultReady
	if err := protojson.Unmarshal(m.Data, &got); err != nil || got.GetResultId() != "res-1" || got.GetTargetStatus() != "Done" {
		t.Errorf("re-published %v, %v", &got, err)
	}

	// Dead-lettered again, replayed with -o json.
	e, _ = store.Get(ctx, "res-1")
	e.Failed = true
	if _, err := store.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	r = admin.run("results", "replay", "res-1", "-o", "json")
	var resp pb.ReplayResultResponse
	if r.err != nil || protojson.Unmarshal([]byte(r.stdout), &resp) != nil || resp.GetReplays() != 2 || resp.GetSubject() != "result.ready.jira.jira-x" {
		t.Errorf("json replay: %v %q", r.err, r.stdout)
	}
}
