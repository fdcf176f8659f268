package poller

import (
	"context"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

// Replicas count each other per zone: an edge replica's heartbeat does not
// shrink a central replica's share of the central connectors, nor the reverse.
func TestHeartbeatsAreCountedPerZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, js := testenv.NATS(t)
	kv, err := js.KeyValue(ctx, bus.BucketPollLeases)
	if err != nil {
		t.Fatal(err)
	}
	central1, central2 := newLeases(kv, "c1", ""), newLeases(kv, "c2", "")
	edge := newLeases(kv, "e1", "plant")
	other := newLeases(kv, "o1", "plant-2")
	for _, l := range []*leases{central1, central2, edge, other} {
		if err := l.heartbeat(ctx, []connector.System{connector.Jira}); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		l    *leases
		want int
	}{"central": {central1, 2}, "edge": {edge, 1}, "another zone": {other, 1}} {
		if got := tc.l.liveReplicas(ctx)[connector.Jira]; got != tc.want {
			t.Errorf("%s: %d live jira replicas, want %d", name, got, tc.want)
		}
	}
}

func TestConfigRefusesAZoneThatCannotBeAKeyToken(t *testing.T) {
	t.Parallel()
	for _, z := range []string{"Plant", "plant.a", "plant*", "1plant", "a b"} {
		cfg := DefaultConfig()
		cfg.Zone = z
		if cfg.Validate() == nil {
			t.Errorf("POLLER_ZONE=%q accepted", z)
		}
	}
	cfg := DefaultConfig()
	cfg.Zone = "plant-2"
	if err := cfg.Validate(); err != nil {
		t.Errorf("POLLER_ZONE=plant-2: %v", err)
	}
}
