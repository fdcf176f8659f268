package connector_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// The status watch reads head keys only: a state stored in parts shows its
// ticket count, and its part keys are never taken for connectors.
func TestWatchStatusCountsTicketsOfAStateStoredInParts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv := newStateKV(t)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const total = 20_000
	st := connector.PollState{Cursor: base, LastError: "boom"}
	for i := range total {
		st.SetKnown(fmt.Sprintf("PROJ-%d", i), base)
	}
	if _, err := s.Put(ctx, "jira-parts", st); err != nil {
		t.Fatal(err)
	}
	if n, _ := partBytes(t, kv, "jira-parts", 0); n == 0 {
		t.Fatal("the state was stored in one key: this test needs part keys")
	}

	var mu sync.Mutex
	seen := map[string]connector.PollStatus{}
	synced := make(chan struct{})
	go func() {
		_ = s.WatchStatus(ctx, func(ch connector.StatusChange) {
			mu.Lock()
			defer mu.Unlock()
			seen[ch.ID] = ch.Status
		}, func() { close(synced) }, func(err error) { t.Error(err) })
	}()
	select {
	case <-synced:
	case <-time.After(60 * time.Second):
		t.Fatal("the status watch never synced")
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range seen {
		if strings.Contains(id, ".") {
			t.Errorf("part key %q reported as a connector", id)
		}
	}
	got, ok := seen["jira-parts"]
	if !ok {
		t.Fatalf("no status for jira-parts; saw %v", seen)
	}
	if got.TicketsKnown != total || got.LastError != "boom" {
		t.Errorf("status = %+v, want %d tickets known and the last error", got, total)
	}
}
