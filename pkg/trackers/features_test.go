package trackers

import (
	"context"
	"slices"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

func TestCapabilitiesReflectImplementedFeatures(t *testing.T) {
	t.Parallel()
	for _, sys := range connector.Systems {
		caps, ok := CapabilitiesOf(sys)
		if !ok {
			t.Fatalf("CapabilitiesOf(%s) not found", sys)
		}
		if !caps.Supports(FeatureIdentity) {
			t.Errorf("%s: identity not supported, want supported (every tracker has a connection test)", sys)
		}
		// Nothing beyond the connection test is implemented yet: claiming it
		// would be a lie until the issues that add discovery and writeback land.
		for _, f := range []string{FeatureDiscovery, FeatureStatus, FeatureComment, FeatureSubtask, FeaturePullRequest, FeatureSearch} {
			if caps.Supports(f) {
				t.Errorf("%s: %s reported supported, but no tracker implements it yet", sys, f)
			}
		}
		if len(caps.Features) != len(featureProbes) {
			t.Errorf("%s: %d features listed, want %d", sys, len(caps.Features), len(featureProbes))
		}
	}
}

// discoveringJira is a test-only tracker that adds discovery to Jira.
type discoveringJira struct{ jiraTracker }

func (discoveringJira) Discover(context.Context, *Session, DiscoveryQuery) (DiscoveryPage, error) {
	return DiscoveryPage{}, nil
}

func TestAddingAMethodFlipsTheFeature(t *testing.T) {
	t.Parallel()
	before := capabilitiesOf(jiraTracker{})
	after := capabilitiesOf(discoveringJira{})
	if before.Supports(FeatureDiscovery) {
		t.Fatal("jira supports discovery before the method exists")
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
