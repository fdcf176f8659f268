package connector_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
)

func newStore(t *testing.T) *connector.Store {
	t.Helper()
	_, js := testenv.NATS(t)
	kv, err := js.KeyValue(context.Background(), bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	return connector.NewStore(kv)
}

func sample(id string) connector.Connector {
	c := connector.Connector{ID: id, System: connector.GitHub, Deployment: connector.Cloud, Project: "acme/widgets", Enabled: true}
	c.ApplyDefaults(all.Registry())
	return c
}

func TestStoreOptimisticConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	created, err := s.Create(ctx, sample("gh-one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, sample("gh-one")); !errors.Is(err, connector.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	// Two writers read the same revision; the second write loses.
	a, b := created, created
	a.DisplayName, b.DisplayName = "A", "B"
	if _, err := s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, b); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, "gh-one")
	if err != nil || got.DisplayName != "A" || got.Revision <= created.Revision {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if err := s.Delete(ctx, "gh-one", created.Revision); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("delete at a stale revision: %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, "gh-one", got.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "gh-one"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Delete(ctx, "gh-one", 0); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
}

func TestStoreRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	c := sample("gh-full")
	c.Scope = connector.Scope{Statuses: []string{"Open"}, Labels: []string{"ai"}, MinPriority: "High"}
	c.Credential = connector.Credential{Ciphertext: "local:v1:abc", SetTime: time.Unix(1700000000, 0).UTC(), Fingerprint: "f00"}
	c.CreateTime = time.Unix(1700000000, 0).UTC()
	created, err := s.Create(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "gh-full")
	if err != nil {
		t.Fatal(err)
	}
	if got.Scope.MinPriority != "High" || got.Credential != c.Credential || got.Revision != created.Revision || !got.CreateTime.Equal(c.CreateTime) {
		t.Fatalf("round trip lost data: %+v", got)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "gh-full" {
		t.Fatalf("list = %v, %v", list, err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := connector.NewSecret("tok-123456")
	for _, got := range []string{s.String(), s.GoString()} {
		if got != "[redacted]" {
			t.Errorf("secret printed as %q", got)
		}
	}
	if b, _ := s.MarshalText(); string(b) != "[redacted]" {
		t.Errorf("secret marshals as %q", b)
	}
	if s.Reveal() != "tok-123456" {
		t.Error("Reveal lost the value")
	}
}
