package all_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestCapabilitiesReflectImplementedFeatures(t *testing.T) {
	t.Parallel()
	// What each system implements so far. A system missing here must claim
	// nothing beyond its connection test; its issue adds it here.
	implemented := map[connector.System][]string{
		connector.Jira:       {trackers.FeatureIdentity, trackers.FeatureDiscovery, trackers.FeatureRead, trackers.FeatureStatus, trackers.FeatureComment, trackers.FeatureSubtask, trackers.FeatureLeaveReason, trackers.FeatureWebhook},
		connector.GitHub:     {trackers.FeatureIdentity, trackers.FeatureDiscovery, trackers.FeatureRead, trackers.FeatureStatus, trackers.FeatureComment, trackers.FeaturePullRequest, trackers.FeatureLeaveReason, trackers.FeatureWebhook},
		connector.GitLab:     {trackers.FeatureIdentity, trackers.FeatureDiscovery, trackers.FeatureRead, trackers.FeatureStatus, trackers.FeatureComment, trackers.FeaturePullRequest, trackers.FeatureLeaveReason, trackers.FeatureWebhook},
		connector.Confluence: {trackers.FeatureIdentity, trackers.FeatureSearch},
		connector.AzureDevOps: {trackers.FeatureIdentity, trackers.FeatureDiscovery, trackers.FeatureRead, trackers.FeatureStatus,
			trackers.FeatureComment, trackers.FeatureSubtask, trackers.FeaturePullRequest},
		connector.Bitbucket: {trackers.FeatureIdentity, trackers.FeatureDiscovery, trackers.FeatureRead, trackers.FeatureStatus, trackers.FeatureComment, trackers.FeaturePullRequest, trackers.FeatureLeaveReason},
		connector.PagerDuty: {trackers.FeatureIdentity, trackers.FeatureDiscovery, trackers.FeatureRead, trackers.FeatureStatus, trackers.FeatureComment, trackers.FeatureLeaveReason},
		connector.Jenkins:   {trackers.FeatureIdentity, trackers.FeatureContext},
		connector.CircleCI:  {trackers.FeatureIdentity, trackers.FeatureContext},
		connector.SonarQube: {trackers.FeatureIdentity, trackers.FeatureContext},
		connector.ArgoCD:    {trackers.FeatureIdentity, trackers.FeatureContext},
	}
	reg := all.Registry()
	for _, sys := range reg.Systems() {
		caps, ok := reg.Capabilities(sys)
		if !ok {
			t.Fatalf("trackers.CapabilitiesOf(%s) not found", sys)
		}
		if !caps.Supports(trackers.FeatureIdentity) {
			t.Errorf("%s: identity not supported, want supported (every tracker has a connection test)", sys)
		}
		if len(caps.Features) != len(trackers.CapabilitiesOf(jira.New()).Features) {
			t.Errorf("%s: %d features listed, want %d", sys, len(caps.Features), len(trackers.CapabilitiesOf(jira.New()).Features))
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

func TestCapabilitiesDeploymentsAuthModesAndScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		system      connector.System
		authModes   []connector.AuthMode
		scopes      []string
		cloudURL    string
		selfHostURL string
	}{
		{connector.Jira, []connector.AuthMode{connector.AuthBasic, connector.AuthAnonymous, connector.AuthOAuth2, connector.AuthBearer}, nil, "", ""},
		{connector.GitHub, []connector.AuthMode{connector.AuthBearer, connector.AuthGitHubApp}, []string{"repo"}, "https://api.github.com", ""},
		{connector.GitLab, []connector.AuthMode{connector.AuthBearer}, []string{"api"}, "https://gitlab.com", ""},
		{connector.Confluence, []connector.AuthMode{connector.AuthBasic, connector.AuthOAuth2, connector.AuthBearer}, nil, "", ""},
		{connector.AzureDevOps, []connector.AuthMode{connector.AuthBearer}, []string{"vso.work_write", "vso.code_write"}, "https://dev.azure.com", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.system), func(t *testing.T) {
			t.Parallel()
			reg := all.Registry()
			caps, _ := reg.Capabilities(tt.system)
			if !slices.Equal(caps.Deployments, []connector.Deployment{connector.Cloud, connector.SelfHosted}) {
				t.Errorf("deployments = %v", caps.Deployments)
			}
			if !slices.Equal(caps.AuthModes, tt.authModes) {
				t.Errorf("auth modes = %v, want %v", caps.AuthModes, tt.authModes)
			}
			if !slices.Equal(caps.RequiredScopes, tt.scopes) || !slices.Equal(caps.RequiredScopes, tt.scopes) {
				t.Errorf("scopes = %v / %v, want %v", caps.RequiredScopes, caps.RequiredScopes, tt.scopes)
			}
			if got := reg.DefaultBaseURL(tt.system, connector.Cloud); got != tt.cloudURL {
				t.Errorf("cloud base URL = %q, want %q", got, tt.cloudURL)
			}
			if got := reg.DefaultBaseURL(tt.system, connector.SelfHosted); got != tt.selfHostURL {
				t.Errorf("self-hosted base URL = %q, want %q", got, tt.selfHostURL)
			}
		})
	}
}

func TestAllCapabilitiesFollowsSystemsOrder(t *testing.T) {
	t.Parallel()
	caps := all.Registry().AllCapabilities()
	var got []connector.System
	for _, c := range caps {
		got = append(got, c.System)
	}
	want := []connector.System{connector.Jira, connector.GitHub, connector.GitLab, connector.Confluence, connector.AzureDevOps, connector.Bitbucket, connector.PagerDuty,
		connector.Jenkins, connector.CircleCI, connector.SonarQube, connector.ArgoCD}
	if !slices.Equal(got, want) {
		t.Fatalf("systems = %v, want %v", got, want)
	}
	reg := all.Registry()
	if _, ok := reg.Capabilities("trello"); ok {
		t.Fatal("Capabilities(trello) found, want not found")
	}
	if _, ok := reg.Rules("trello"); reg.DefaultBaseURL("trello", connector.Cloud) != "" || ok {
		t.Fatal("unknown system has a default URL or scopes")
	}
}

func TestRequiredScopesReturnsACopy(t *testing.T) {
	t.Parallel()
	reg := all.Registry()
	caps, _ := reg.Capabilities(connector.GitHub)
	caps.RequiredScopes[0] = "changed"
	if again, _ := reg.Capabilities(connector.GitHub); again.RequiredScopes[0] != "repo" {
		t.Fatal("caller changed the registered scopes")
	}
}

// Every registered system must have its value in the schema (connector.proto's
// System enum), or the registry API and the events cannot name it.
func TestEverySystemHasAProtobufForm(t *testing.T) {
	t.Parallel()
	for _, sys := range all.Registry().Systems() {
		p := connectorpb.SystemToProto(sys)
		if p == chv1.System_SYSTEM_UNSPECIFIED {
			t.Errorf("%s has no value in connector.proto's System enum", sys)
			continue
		}
		if back, ok := connectorpb.SystemFromProto(p); !ok || back != sys {
			t.Errorf("%s → %v → %q", sys, p, back)
		}
	}
}

// PagerDuty is SaaS only (US by default, EU by base URL), with an API key.
func TestPagerDutyCapabilities(t *testing.T) {
	t.Parallel()
	reg := all.Registry()
	caps, _ := reg.Capabilities(connector.PagerDuty)
	if !slices.Equal(caps.Deployments, []connector.Deployment{connector.Cloud}) || !slices.Equal(caps.AuthModes, []connector.AuthMode{connector.AuthBearer}) {
		t.Errorf("deployments %v auth modes %v", caps.Deployments, caps.AuthModes)
	}
	if !slices.Equal(caps.RequiredScopes, []string{"incidents.read", "incidents.write", "users.read"}) {
		t.Errorf("scopes %v", caps.RequiredScopes)
	}
	if got := reg.DefaultBaseURL(connector.PagerDuty, connector.Cloud); got != "https://api.pagerduty.com" {
		t.Errorf("base URL %q", got)
	}
}

// Bitbucket Cloud: basic auth with the account's email and an API token.
func TestBitbucketCapabilities(t *testing.T) {
	t.Parallel()
	reg := all.Registry()
	caps, _ := reg.Capabilities(connector.Bitbucket)
	if !slices.Equal(caps.Deployments, []connector.Deployment{connector.Cloud}) || !slices.Equal(caps.AuthModes, []connector.AuthMode{connector.AuthBasic}) {
		t.Errorf("deployments %v auth modes %v", caps.Deployments, caps.AuthModes)
	}
	if len(caps.RequiredScopes) == 0 || !slices.Contains(caps.RequiredScopes, "write:issue:bitbucket") {
		t.Errorf("scopes %v", caps.RequiredScopes)
	}
	if got := reg.DefaultBaseURL(connector.Bitbucket, connector.Cloud); got != "https://api.bitbucket.org/2.0" {
		t.Errorf("base URL %q", got)
	}
}

// Context sources follow DevLake's connection rules: an endpoint is required
// for Jenkins, SonarQube and Argo CD (no default), CircleCI defaults to
// circleci.com; Jenkins takes basic auth, the others a token; each lists
// the permissions it needs; all of them watch something.
func TestContextSourceRules(t *testing.T) {
	t.Parallel()
	reg := all.Registry()
	tests := []struct {
		system   connector.System
		deploy   []connector.Deployment
		auth     []connector.AuthMode
		cloudURL string
	}{
		{connector.Jenkins, []connector.Deployment{connector.SelfHosted}, []connector.AuthMode{connector.AuthBasic}, ""},
		{connector.CircleCI, []connector.Deployment{connector.Cloud, connector.SelfHosted}, []connector.AuthMode{connector.AuthBearer}, "https://circleci.com"},
		{connector.SonarQube, []connector.Deployment{connector.SelfHosted}, []connector.AuthMode{connector.AuthBearer}, ""},
		{connector.ArgoCD, []connector.Deployment{connector.SelfHosted}, []connector.AuthMode{connector.AuthBearer}, ""},
	}
	for _, tt := range tests {
		caps, _ := reg.Capabilities(tt.system)
		if !slices.Equal(caps.Deployments, tt.deploy) || !slices.Equal(caps.AuthModes, tt.auth) || len(caps.RequiredScopes) == 0 {
			t.Errorf("%s: deployments %v auth %v scopes %v", tt.system, caps.Deployments, caps.AuthModes, caps.RequiredScopes)
		}
		if got := reg.DefaultBaseURL(tt.system, connector.Cloud); got != tt.cloudURL {
			t.Errorf("%s: cloud URL %q, want %q", tt.system, got, tt.cloudURL)
		}
		if got := reg.DefaultBaseURL(tt.system, connector.SelfHosted); got != "" {
			t.Errorf("%s: self-hosted URL %q, want none (the endpoint is required)", tt.system, got)
		}
	}
}

// watch is required for context sources and refused for the others; the
// endpoint is required where there is no default.
func TestContextSourceValidation(t *testing.T) {
	t.Parallel()
	reg := all.Registry()
	base := func(sys connector.System, d connector.Deployment) connector.Connector {
		c := connector.Connector{ID: "ctx-1", System: sys, Deployment: d}
		c.ApplyDefaults(reg)
		return c
	}
	fields := func(err error) []string {
		var ve connector.ValidationError
		if err == nil {
			return nil
		}
		if !errors.As(err, &ve) {
			t.Fatalf("err %v is not a ValidationError", err)
		}
		var out []string
		for _, f := range ve {
			out = append(out, f.Field)
		}
		return out
	}
	tests := []struct {
		name string
		c    connector.Connector
		want []string
	}{
		{"jenkins needs endpoint, username and watch", base(connector.Jenkins, connector.SelfHosted), []string{"base_url", "username", "watch"}},
		{"jenkins complete", func() connector.Connector {
			c := base(connector.Jenkins, connector.SelfHosted)
			c.BaseURL, c.Username, c.Watch = "https://ci.example.com", "alice", []string{"team/app"}
			return c
		}(), nil},
		{"circleci cloud needs only watch", base(connector.CircleCI, connector.Cloud), []string{"watch"}},
		{"circleci bad slug", func() connector.Connector {
			c := base(connector.CircleCI, connector.Cloud)
			c.Watch = []string{"acme/checkout"}
			return c
		}(), []string{"watch[0]"}},
		{"sonarqube needs endpoint", func() connector.Connector {
			c := base(connector.SonarQube, connector.SelfHosted)
			c.Watch = []string{"acme_checkout"}
			return c
		}(), []string{"base_url"}},
		{"argocd on cloud is refused", func() connector.Connector {
			c := base(connector.ArgoCD, connector.Cloud)
			c.Watch = []string{"checkout"}
			return c
		}(), []string{"deployment"}},
		{"github refuses watch", func() connector.Connector {
			c := base(connector.GitHub, connector.Cloud)
			c.Project, c.Watch = "acme/checkout", []string{"gh/acme/checkout"}
			return c
		}(), []string{"watch"}},
	}
	for _, tt := range tests {
		if got := fields(tt.c.Validate(reg)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: invalid fields %v, want %v", tt.name, got, tt.want)
		}
	}
}
