package bus_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	connectorhubv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestProvisionCreatesEveryStreamAndBucket(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	js := newBus(t)
	wantSubjects := map[string]string{
		bus.StreamTickets:   "ticket.>",
		bus.StreamResults:   "result.>",
		bus.StreamWriteback: "writeback.>",
		bus.StreamAudit:     "audit.>",
	}
	for name, subj := range wantSubjects {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		cfg := s.CachedInfo().Config
		if len(cfg.Subjects) != 1 || cfg.Subjects[0] != subj {
			t.Errorf("%s subjects = %v, want [%s]", name, cfg.Subjects, subj)
		}
		if cfg.Storage != jetstream.FileStorage || cfg.Duplicates != bus.DefaultDuplicateWindow || cfg.Replicas != 1 {
			t.Errorf("%s storage=%v duplicates=%s replicas=%d", name, cfg.Storage, cfg.Duplicates, cfg.Replicas)
		}
	}
	for _, b := range []string{bus.BucketConnectors, bus.BucketOAuthGrants, bus.BucketPollLeases, bus.BucketPollState, bus.BucketWritebackLedger} {
		if _, err := js.KeyValue(ctx, b); err != nil {
			t.Errorf("bucket %s: %v", b, err)
		}
	}
	leases, err := js.KeyValue(ctx, bus.BucketPollLeases)
	if err != nil {
		t.Fatal(err)
	}
	st, err := leases.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != bus.DefaultLeaseTTL {
		t.Errorf("poll_leases TTL = %s, want %s", st.TTL(), bus.DefaultLeaseTTL)
	}
}

func TestProvisionTwiceKeepsDataAndAppliesChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	js := connect(t, startServer(t, t.TempDir()))
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	subj, _ := bus.AuditSubject("connector.create")
	if _, err := bus.Publish(ctx, js, subj, &connectorhubv1.AuditEvent{Action: "connector.create"}); err != nil {
		t.Fatal(err)
	}
	// Same options again: no error, nothing lost.
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{}); err != nil {
		t.Fatalf("second Provision: %v", err)
	}
	// Different options: existing streams and buckets are updated.
	changed := bus.ProvisionOptions{DuplicateWindow: 10 * time.Minute, LeaseTTL: 45 * time.Second}
	if err := bus.Provision(ctx, js, changed); err != nil {
		t.Fatalf("Provision with changed options: %v", err)
	}
	s, err := js.Stream(ctx, bus.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Config.Duplicates != 10*time.Minute {
		t.Errorf("duplicate window = %s, want 10m", info.Config.Duplicates)
	}
	if info.State.Msgs != 1 {
		t.Errorf("AUDIT holds %d messages after re-provisioning, want 1", info.State.Msgs)
	}
	kv, err := js.KeyValue(ctx, bus.BucketPollLeases)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 45*time.Second {
		t.Errorf("poll_leases TTL = %s, want 45s", st.TTL())
	}
}

func TestProvisionRejectsMoreReplicasThanServers(t *testing.T) {
	t.Parallel()
	js := connect(t, startServer(t, t.TempDir()))
	err := bus.Provision(t.Context(), js, bus.ProvisionOptions{Replicas: 3})
	// 10074 is the server's JSStreamReplicasNotSupportedErr.
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10074 {
		t.Fatalf("Provision(replicas 3) on one server: %v, want API error 10074", err)
	}
}

func TestProvisionOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts bus.ProvisionOptions
		ok   bool
	}{
		{"zero value uses defaults", bus.ProvisionOptions{}, true},
		{"memory storage", bus.ProvisionOptions{Storage: jetstream.MemoryStorage, Replicas: 3}, true},
		{"negative replicas", bus.ProvisionOptions{Replicas: -1}, false},
		{"six replicas", bus.ProvisionOptions{Replicas: 6}, false},
		{"duplicate window under two minutes", bus.ProvisionOptions{DuplicateWindow: time.Minute}, false},
		{"sub-second lease", bus.ProvisionOptions{LeaseTTL: time.Millisecond}, false},
		{"unknown storage", bus.ProvisionOptions{Storage: 7}, false},
		{"limits per stream", bus.ProvisionOptions{Limits: map[string]bus.StreamLimits{bus.StreamTickets: {MaxAge: time.Hour, MaxBytes: 1 << 20}}}, true},
		{"no limits at all", bus.ProvisionOptions{Limits: map[string]bus.StreamLimits{bus.StreamAudit: {MaxAge: -1, MaxBytes: -1}}}, true},
		{"limits for an unknown stream", bus.ProvisionOptions{Limits: map[string]bus.StreamLimits{"TICKET": {MaxAge: time.Hour}}}, false},
		{"max age below the duplicate window", bus.ProvisionOptions{Limits: map[string]bus.StreamLimits{bus.StreamResults: {MaxAge: time.Minute}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.opts.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, bus.ErrInvalidOptions) {
				t.Fatalf("Validate: %v, want ErrInvalidOptions", err)
			}
		})
	}
}

// TestProvisionAppliesRetentionAndUpdatesIt: the default retention lands on
// every stream; provisioning again with other limits updates the existing
// streams (not an error) and keeps their messages.
func TestProvisionAppliesRetentionAndUpdatesIt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	js := connect(t, startServer(t, t.TempDir()))
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range bus.DefaultLimits {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config; got.MaxAge != want.MaxAge || got.MaxBytes != want.MaxBytes {
			t.Errorf("%s max age %s, max bytes %d; want %s, %d", name, got.MaxAge, got.MaxBytes, want.MaxAge, want.MaxBytes)
		}
	}
	subj, _ := bus.TicketSubject(bus.TicketDiscovered, "jira", "c1")
	for i := range 3 {
		if _, err := bus.Publish(ctx, js, subj, &connectorhubv1.AuditEvent{Action: "x"}, bus.WithID(fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
	}
	changed := bus.ProvisionOptions{Limits: map[string]bus.StreamLimits{
		bus.StreamTickets: {MaxAge: 48 * time.Hour, MaxBytes: 64 << 20},
		bus.StreamAudit:   {MaxAge: -1, MaxBytes: -1},
	}}
	if err := bus.Provision(ctx, js, changed); err != nil {
		t.Fatalf("Provision with other limits: %v", err)
	}
	tickets, err := js.Stream(ctx, bus.StreamTickets)
	if err != nil {
		t.Fatal(err)
	}
	info := tickets.CachedInfo()
	if info.Config.MaxAge != 48*time.Hour || info.Config.MaxBytes != 64<<20 {
		t.Errorf("TICKETS after update: max age %s, max bytes %d; want 48h, 64 MiB", info.Config.MaxAge, info.Config.MaxBytes)
	}
	if info.State.Msgs != 3 {
		t.Errorf("TICKETS holds %d messages after the update, want 3", info.State.Msgs)
	}
	audit, err := js.Stream(ctx, bus.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	if c := audit.CachedInfo().Config; c.MaxAge != 0 || c.MaxBytes != -1 {
		t.Errorf("AUDIT with no limits: max age %s, max bytes %d; want 0, -1", c.MaxAge, c.MaxBytes)
	}
	results, err := js.Stream(ctx, bus.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	if c := results.CachedInfo().Config; c.MaxAge != bus.DefaultLimits[bus.StreamResults].MaxAge {
		t.Errorf("RESULTS, not named in the options, max age %s; want its default", c.MaxAge)
	}
}
