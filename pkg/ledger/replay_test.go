package ledger_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestReplayClearsOnlyTheFailedSteps(t *testing.T) {
	t.Parallel()
	_, js := testenv.NATS(t)
	ctx := t.Context()
	kv, err := js.KeyValue(ctx, bus.BucketWritebackLedger)
	if err != nil {
		t.Fatal(err)
	}
	store := ledger.NewStore(kv)
	raw, _ := protojson.Marshal(&chv1.ResultReady{ResultId: "res-1", ConnectorId: "jira-x", System: chv1.System_SYSTEM_JIRA, TicketKey: "X-1"})
	_, err = store.Put(ctx, ledger.Entry{ResultID: "res-1", ConnectorID: "jira-x", System: "jira", Result: raw, Failed: true, Reason: "status: refused",
		Steps: map[string]ledger.Step{
			"status":    {State: ledger.Failed, Note: "refused"},
			"comment":   {State: ledger.Done, URL: "https://jira/X-1#c1"},
			"subtask-0": {State: ledger.Started, Note: "503"}, // may have happened: kept, so it is looked for first
		}})
	if err != nil {
		t.Fatal(err)
	}
	subject, n, err := ledger.Replay(ctx, js, store, "res-1")
	if err != nil || n != 1 || subject != "result.ready.jira.jira-x" {
		t.Fatalf("Replay = %q, %d, %v", subject, n, err)
	}
	e, err := store.Get(ctx, "res-1")
	if err != nil {
		t.Fatal(err)
	}
	if e.Failed || e.Reason != "" {
		t.Errorf("still failed: %v %q", e.Failed, e.Reason)
	}
	if _, ok := e.Steps["status"]; ok {
		t.Errorf("the failed status step was kept: %+v", e.Steps["status"])
	}
	if e.Steps["comment"].State != ledger.Done || e.Steps["subtask-0"].State != ledger.Started {
		t.Errorf("steps after the replay: %+v", e.Steps)
	}
	if _, _, err := ledger.Replay(ctx, js, store, "res-1"); !errors.Is(err, ledger.ErrNotFailed) {
		t.Errorf("a second replay of a result in progress: %v, want ErrNotFailed", err)
	}
}
