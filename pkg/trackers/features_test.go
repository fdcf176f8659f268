package trackers

import (
	"context"
	"slices"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

func TestCapabilitiesReflectImplementedFeatures(t *testing.T) {
	t.Parallel()
	// What each system implements so far. A system missing here must claim
	// nothing beyond its connection test; its issue adds it here.
	implemented := map[connector.System][]string{
		connector.Jira:       {FeatureIdentity, FeatureDiscovery, FeatureRead, FeatureStatus, FeatureComment, FeatureSubtask},
		connector.GitHub:     {FeatureIdentity, FeatureDiscovery, FeatureRead, FeatureStatus, FeatureComment, FeaturePullRequest},
		connector.GitLab:     {FeatureIdentity, FeatureDiscovery, FeatureRead, FeatureStatus, FeatureComment, FeaturePullRequest},
		connector.Confluence: {FeatureIdentity, FeatureSearch},
	}
	for _, sys := range connector.Systems {
		caps, ok := CapabilitiesOf(sys)
		if !ok {
			t.Fatalf("CapabilitiesOf(%s) not found", sys)
		}
		if !caps.Supports(FeatureIdentity) {
			t.Errorf("%s: identity not supported, want supported (every tracker has a connection test)", sys)
		}
		if len(caps.Features) != len(featureProbes) {
			t.Errorf("%s: %d features listed, want %d", sys, len(caps.Features), len(featureProbes))
		}
		want, listed := implemented[sys]
		if !listed {
			continue
		}
		for _, f := range caps.Features {
			if f.Supported != slices.Contains(want, f.Name) {
				t.Errorf("%s: %s supported = %v, want %v", sys, f.Name, f.Supported, !f.Supported)
			}
		}
	}
}

// minimalTracker is a test-only tracker with a connection test and no other
// feature: it wraps Jira in a named field, so no feature method is promoted.
type minimalTracker struct{ base jiraTracker }

func (m minimalTracker) System() connector.System            { return m.base.System() }
func (m minimalTracker) Deployments() []connector.Deployment { return m.base.Deployments() }
func (m minimalTracker) AuthModes(d connector.Deployment) []connector.AuthMode {
	return m.base.AuthModes(d)
}
func (m minimalTracker) DefaultBaseURL(d connector.Deployment) string {
	return m.base.DefaultBaseURL(d)
}
func (m minimalTracker) RequiredScopes() []string                   { return m.base.RequiredScopes() }
func (m minimalTracker) ValidateConfig(c connector.Connector) error { return m.base.ValidateConfig(c) }
func (m minimalTracker) CheckIdentity(ctx context.Context, s *Session, r *TestResult) {
	m.base.CheckIdentity(ctx, s, r)
}

// discoveringTracker is a test-only tracker that adds discovery to minimalTracker.
type discoveringTracker struct{ minimalTracker }

func (discoveringTracker) Discover(context.Context, *Session, DiscoveryQuery) (DiscoveryPage, error) {
	return DiscoveryPage{}, nil
}

func TestAddingAMethodFlipsTheFeature(t *testing.T) {
	t.Parallel()
	before := capabilitiesOf(minimalTracker{})
	after := capabilitiesOf(discoveringTracker{})
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

func TestCapabilitiesDeploymentsAuthModesAndScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		system      connector.System
		authModes   []connector.AuthMode
		scopes      []string
		cloudURL    string
		selfHostURL string
	}{
		{connector.Jira, []connector.AuthMode{connector.AuthBasic, connector.AuthAnonymous, connector.AuthBearer}, nil, "", ""},
		{connector.GitHub, []connector.AuthMode{connector.AuthBearer}, []string{"repo"}, "https://api.github.com", ""},
		{connector.GitLab, []connector.AuthMode{connector.AuthBearer}, []string{"api"}, "https://gitlab.com", ""},
		{connector.Confluence, []connector.AuthMode{connector.AuthBasic, connector.AuthBearer}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.system), func(t *testing.T) {
			t.Parallel()
			caps, _ := CapabilitiesOf(tt.system)
			if !slices.Equal(caps.Deployments, []connector.Deployment{connector.Cloud, connector.SelfHosted}) {
				t.Errorf("deployments = %v", caps.Deployments)
			}
			if !slices.Equal(caps.AuthModes, tt.authModes) {
				t.Errorf("auth modes = %v, want %v", caps.AuthModes, tt.authModes)
			}
			if !slices.Equal(caps.RequiredScopes, tt.scopes) || !slices.Equal(RequiredScopes(tt.system), tt.scopes) {
				t.Errorf("scopes = %v / %v, want %v", caps.RequiredScopes, RequiredScopes(tt.system), tt.scopes)
			}
			if got := DefaultBaseURL(tt.system, connector.Cloud); got != tt.cloudURL {
				t.Errorf("cloud base URL = %q, want %q", got, tt.cloudURL)
			}
			if got := DefaultBaseURL(tt.system, connector.SelfHosted); got != tt.selfHostURL {
				t.Errorf("self-hosted base URL = %q, want %q", got, tt.selfHostURL)
			}
		})
	}
}

func TestAllCapabilitiesFollowsSystemsOrder(t *testing.T) {
	t.Parallel()
	all := AllCapabilities()
	var got []connector.System
	for _, c := range all {
		got = append(got, c.System)
	}
	if !slices.Equal(got, connector.Systems) {
		t.Fatalf("systems = %v, want %v", got, connector.Systems)
	}
	if _, ok := CapabilitiesOf("trello"); ok {
		t.Fatal("CapabilitiesOf(trello) found, want not found")
	}
	if DefaultBaseURL("trello", connector.Cloud) != "" || RequiredScopes("trello") != nil {
		t.Fatal("unknown system has a default URL or scopes")
	}
}

func TestRequiredScopesReturnsACopy(t *testing.T) {
	t.Parallel()
	s := RequiredScopes(connector.GitHub)
	s[0] = "changed"
	if RequiredScopes(connector.GitHub)[0] != "repo" {
		t.Fatal("caller changed the registered scopes")
	}
}
