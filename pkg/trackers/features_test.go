package trackers

import (
	"context"
	"slices"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// minimalTracker is a test-only tracker with a connection test and no other feature.
type minimalTracker struct{}

func (minimalTracker) Rules() connector.Rules {
	return connector.Rules{System: "minimal", Deployments: []connector.Deployment{connector.Cloud},
		AuthModes: map[connector.Deployment][]connector.AuthMode{connector.Cloud: {connector.AuthBearer}}}
}
func (minimalTracker) CheckIdentity(context.Context, *Session, *TestResult) {}

// discoveringTracker is a test-only tracker that adds discovery to minimalTracker.
type discoveringTracker struct{ minimalTracker }

func (discoveringTracker) Discover(context.Context, *Session, DiscoveryQuery) (DiscoveryPage, error) {
	return DiscoveryPage{}, nil
}

func TestAddingAMethodFlipsTheFeature(t *testing.T) {
	t.Parallel()
	before := CapabilitiesOf(minimalTracker{})
	after := CapabilitiesOf(discoveringTracker{})
	if before.Supports(FeatureDiscovery) {
		t.Fatal("the tracker supports discovery before the method exists")
	}
	if !after.Supports(FeatureDiscovery) {
		t.Fatal("a tracker with a Discover method does not report discovery")
	}
	if !after.Supports(FeatureIdentity) || after.Supports(FeatureComment) {
		t.Fatalf("other features changed: %+v", after.Features)
	}
}

func TestRegistryRefusesTwoTrackersForOneSystem(t *testing.T) {
	t.Parallel()
	if _, err := NewRegistry(minimalTracker{}, discoveringTracker{}); err == nil {
		t.Fatal("NewRegistry accepted two trackers for one system")
	}
	reg, err := NewRegistry(discoveringTracker{})
	if err != nil {
		t.Fatal(err)
	}
	if got := SystemsWith[Discoverer](reg); !slices.Equal(got, []connector.System{"minimal"}) {
		t.Fatalf("SystemsWith[Discoverer] = %v", got)
	}
	if got := SystemsWith[Commenter](reg); len(got) != 0 {
		t.Fatalf("SystemsWith[Commenter] = %v, want none", got)
	}
}
