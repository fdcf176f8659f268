package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/oauthgrant"
	"github.com/connectorhub/connectorhub/pkg/trackers/argocd/argocdfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/atlassianfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket/bitbucketfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/circleci/circlecifake"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jenkins/jenkinsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty/pagerdutyfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/sonarqube/sonarqubefake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// sandboxTracker is one fake tracker the sandbox serves, and the connector
// registered against it.
type sandboxTracker struct {
	name    string
	handler http.Handler
	// handlerFor builds the handler once the fake's URL is known (the OAuth
	// fake names its site by the URL it is served on); used when handler is nil.
	handlerFor func(url string) http.Handler
	// oauth marks the Jira Cloud oauth2 connector: registered only when the
	// hub's token service points at the sandbox's OAuth fake, and given a
	// refresh token that fake issued (the consent step, automated here).
	oauth bool
	// connector builds the connector for the fake's URL; credential is its token.
	connector  func(url string) *chv1.Connector
	credential string
	// knowledge marks a knowledge or context source (Confluence, Jenkins,
	// CircleCI, SonarQube, Argo CD): registered before the trackers, so
	// their first tickets are enriched with it at once.
	knowledge bool
	// context marks a context source (Jenkins, CircleCI, SonarQube, Argo
	// CD): registered before the trackers too, and named in the
	// context_connectors of the connector contextTarget names.
	context bool
}

// contextTarget is the sandbox tracker whose repository (sandbox/widgets
// on the GitHub fake) the context sources describe.
const contextTarget = "github"

// The context sources' fakes, exported on the sandbox so the enrichment
// (and its tests) can seed more state: a failing build, a red gate, a
// degraded application for the sandbox GitHub repository (sandbox/widgets)
// are there from the start.
type sandboxContext struct {
	Jenkins   *jenkinsfake.Server
	CircleCI  *circlecifake.Server
	SonarQube *sonarqubefake.Server
	ArgoCD    *argocdfake.Server
}

// sandbox runs fake trackers on loopback with seeded tickets, so a newcomer
// sees ticket events and can write results back without any real tracker.
type sandbox struct {
	log *slog.Logger
	// advertise, when set, replaces the listen host in the connectors' URLs.
	advertise string
	servers   []*http.Server
	urls      map[string]string
	trackers  []sandboxTracker
	context   sandboxContext
	// oauthFake is the Atlassian OAuth 2.0 fake (authorization server and
	// gateway) once started; oauthOn: the hub's token service uses it
	// (HUB_ATLASSIAN_* left at Atlassian's), so its connector is registered.
	oauthFake *atlassianfake.Server
	oauthURL  string
	oauthOn   bool
}

const sandboxInterval = 10 * time.Second

func newSandbox(log *slog.Logger) *sandbox {
	cx := sandboxContext{Jenkins: jenkinsfake.NewSandbox(), CircleCI: circlecifake.NewSandbox(), SonarQube: sonarqubefake.NewSandbox(), ArgoCD: argocdfake.NewSandbox()}
	s := &sandbox{log: log, urls: map[string]string{}, context: cx}
	s.trackers = sandboxTrackers(cx)
	for i := range s.trackers {
		if s.trackers[i].oauth {
			// The OAuth fake's site is the URL it is served on.
			s.trackers[i].handlerFor = func(url string) http.Handler {
				s.oauthFake, s.oauthURL = atlassianfake.NewSandbox(url), url
				return s.oauthFake
			}
		}
	}
	return s
}

// oauthEndpoints are the OAuth fake's authorization server and gateway
// (after start).
func (s *sandbox) oauthEndpoints() oauthgrant.Endpoints {
	return oauthgrant.Endpoints{AuthURL: s.oauthURL + "/authorize", TokenURL: s.oauthURL + "/oauth/token", APIURL: s.oauthURL}
}

func sandboxTrackers(cx sandboxContext) []sandboxTracker {
	return []sandboxTracker{
		{
			name: "jira", handler: jirafake.NewSandbox(connector.Cloud), credential: jirafake.SandboxToken,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: url,
					AuthMode: chv1.AuthMode_AUTH_MODE_BASIC, Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject,
					DisplayName: "Sandbox Jira", Enabled: true, PollInterval: durationpb.New(sandboxInterval), IndexComments: true}
			},
		},
		{
			name: "github", handler: githubfake.NewSandbox(), credential: githubfake.SandboxToken,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_GITHUB, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url + "/api/v3/",
					Project: githubfake.SandboxRepo, DisplayName: "Sandbox GitHub", Enabled: true, PollInterval: durationpb.New(sandboxInterval), Webhook: true}
			},
		},
		{
			name: "confluence", handler: confluencefake.NewSandbox(), credential: confluencefake.SandboxToken, knowledge: true,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_CONFLUENCE, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: url,
					AuthMode: chv1.AuthMode_AUTH_MODE_BASIC, Username: confluencefake.SandboxEmail, SpaceKeys: []string{confluencefake.SandboxSpace},
					DisplayName: "Sandbox Confluence", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
		{
			name: "gitlab", handler: gitlabfake.NewSandbox(), credential: gitlabfake.SandboxToken,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_GITLAB, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url,
					Project: gitlabfake.SandboxProject, DisplayName: "Sandbox GitLab", Enabled: true, PollInterval: durationpb.New(sandboxInterval), Webhook: true}
			},
		},
		{
			name: "azure-devops", handler: azuredevopsfake.NewSandbox(), credential: azuredevopsfake.SandboxPAT,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_AZURE_DEVOPS, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url,
					Project:            azuredevopsfake.SandboxOrganization + "/" + azuredevopsfake.SandboxProject,
					ReviewPullRequests: true, DisplayName: "Sandbox Azure DevOps", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
		{
			name: "bitbucket", handler: bitbucketfake.NewSandbox(), credential: bitbucketfake.SandboxToken,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_BITBUCKET, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: url + "/2.0",
					AuthMode: chv1.AuthMode_AUTH_MODE_BASIC, Username: bitbucketfake.SandboxEmail, Project: bitbucketfake.SandboxRepo,
					ReviewPullRequests: true, DisplayName: "Sandbox Bitbucket", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
		{
			name: "pagerduty", handler: pagerdutyfake.NewSandbox(), credential: pagerdutyfake.SandboxKey,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_PAGERDUTY, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: url,
					AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, DisplayName: "Sandbox PagerDuty", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
		// Context sources (ports 7418, 7419, 7421, 7422: 7420 is the
		// knowledge service's), each watching what builds,
		// checks or deploys the sandbox GitHub repository.
		{
			name: "jenkins", handler: cx.Jenkins, credential: jenkinsfake.SandboxToken, knowledge: true, context: true,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_JENKINS, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url,
					AuthMode: chv1.AuthMode_AUTH_MODE_BASIC, Username: jenkinsfake.SandboxUser, Watch: []string{jenkinsfake.SandboxFailingJob},
					DisplayName: "Sandbox Jenkins", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
		{
			name: "circleci", handler: cx.CircleCI, credential: circlecifake.SandboxToken, knowledge: true, context: true,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_CIRCLECI, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: url,
					AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Watch: []string{circlecifake.SandboxProject},
					DisplayName: "Sandbox CircleCI", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
		{
			name: "sonarqube", handler: cx.SonarQube, credential: sonarqubefake.SandboxToken, knowledge: true, context: true,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_SONARQUBE, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url,
					AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Watch: []string{sonarqubefake.SandboxRedProject},
					DisplayName: "Sandbox SonarQube", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
		{
			name: "argocd", handler: cx.ArgoCD, credential: argocdfake.SandboxToken, knowledge: true, context: true,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_ARGOCD, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: url,
					AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Watch: []string{argocdfake.SandboxDegradedApp},
					DisplayName: "Sandbox Argo CD", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
		// Jira Cloud over OAuth 2.0 (3LO) through the Atlassian fake's
		// gateway (after the context sources: port 7423 by default).
		{
			name: "jira-oauth", credential: atlassianfake.SandboxClientSecret, oauth: true,
			connector: func(url string) *chv1.Connector {
				return &chv1.Connector{System: chv1.System_SYSTEM_JIRA, Deployment: chv1.Deployment_DEPLOYMENT_CLOUD, BaseUrl: url,
					AuthMode: chv1.AuthMode_AUTH_MODE_OAUTH2, OauthClientId: atlassianfake.SandboxClientID, Project: jirafake.SandboxProject,
					DisplayName: "Sandbox Jira (OAuth 2.0)", Enabled: true, PollInterval: durationpb.New(sandboxInterval)}
			},
		},
	}
}

// start serves every fake on listen's host with ports counting up from
// listen's port (port 0: each a free port), stepping over the ports of
// reserved addresses: the hub's own listeners (the knowledge service's
// 7420 sits inside the default range 7411-7422).
func (s *sandbox) start(listen string, reserved ...string) error {
	host, port, err := splitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--sandbox-listen: %w", err)
	}
	ports := sandboxPorts(port, len(s.trackers), reserved)
	for i, t := range s.trackers {
		addr := net.JoinHostPort(host, fmt.Sprint(ports[i]))
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			s.stop()
			return fmt.Errorf("sandbox %s: listen on %s: %w", t.name, addr, err)
		}
		s.urls[t.name] = "http://" + lis.Addr().String()
		if s.advertise != "" {
			_, p, _ := net.SplitHostPort(lis.Addr().String())
			s.urls[t.name] = "http://" + net.JoinHostPort(s.advertise, p)
		}
		h := t.handler
		if h == nil {
			h = t.handlerFor(s.urls[t.name])
			s.trackers[i].handler = h
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(lis) }()
		s.servers = append(s.servers, srv)
		s.log.Info("sandbox tracker listening", "tracker", t.name, "url", s.urls[t.name])
	}
	return nil
}

func (s *sandbox) stop() {
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
}

// register creates (or repoints) one connector per fake through the
// registry's own API, as an operator would: knowledge sources first, so the
// trackers' first tickets are enriched with them at once (the knowledge
// service would otherwise backfill them once the knowledge connector exists).
func (s *sandbox) register(ctx context.Context, registryAddr, adminToken string) error {
	conn, err := grpc.NewClient(registryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := chv1.NewRegistryServiceClient(conn)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
	for _, t := range s.registrationOrder() {
		id := "sandbox-" + t.name
		if t.oauth && (!s.oauthOn || s.oauthFake == nil) {
			s.log.Info("sandbox OAuth connector not registered: the workers' HUB_ATLASSIAN_* settings do not point at the sandbox's OAuth fake", "connector", id, "fake", s.urls[t.name])
			continue
		}
		want := s.connectorOf(t)
		got, err := client.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id})
		switch {
		case status.Code(err) == codes.NotFound:
			_, err = client.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: want, ConnectorId: id, Credential: t.credential})
		case err == nil && got.GetConnector().GetBaseUrl() != want.GetBaseUrl():
			want.Id = id
			_, err = client.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: want, Credential: t.credential,
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"base_url"}}})
		case err == nil && want.GetWebhook() && got.GetConnector().GetWebhook():
			// A fresh fake holds no hooks: rotating creates the hook anew
			// (and points it at this run's receiver).
			_, err = client.RotateWebhookSecret(ctx, &chv1.RotateWebhookSecretRequest{Id: id})
		}
		if err == nil && !slices.Equal(got.GetConnector().GetContextConnectors(), want.GetContextConnectors()) && got.GetConnector() != nil {
			// A sandbox state from before the context sources: map them now.
			_, err = client.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: id, ContextConnectors: want.GetContextConnectors()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"context_connectors"}}})
		}
		if err == nil && t.oauth {
			// The consent step, automated for the sandbox only: store a
			// refresh token the fake issued (a fresh fake each run knows no
			// earlier one), as `hubctl connectors authorize ID
			// --refresh-token-file` would.
			_, err = client.SetOAuthGrant(ctx, &chv1.SetOAuthGrantRequest{Id: id, RefreshToken: s.oauthFake.SandboxGrant()})
		}
		if err != nil {
			return fmt.Errorf("sandbox connector %s: %w", id, err)
		}
		s.log.Info("sandbox connector ready", "connector", id, "tracker", s.urls[t.name])
	}
	return nil
}

// connectorOf is t's connector at its URL; the contextTarget's names every
// context source of the sandbox.
func (s *sandbox) connectorOf(t sandboxTracker) *chv1.Connector {
	c := t.connector(s.urls[t.name])
	if t.name == contextTarget {
		for _, o := range s.trackers {
			if o.context {
				c.ContextConnectors = append(c.ContextConnectors, "sandbox-"+o.name)
			}
		}
	}
	return c
}

// registrationOrder is the fakes with the knowledge and context sources
// first (a ticket connector can only name context connectors that exist),
// the others in their order (which also sets their ports).
func (s *sandbox) registrationOrder() []sandboxTracker {
	order := slices.Clone(s.trackers)
	first := func(t sandboxTracker) bool { return t.knowledge || t.context }
	slices.SortStableFunc(order, func(a, b sandboxTracker) int {
		switch {
		case first(a) == first(b):
			return 0
		case first(a):
			return -1
		}
		return 1
	})
	return order
}

// sandboxPorts are n ports counting up from first, stepping over the ports
// of the reserved addresses; all 0 when first is 0 (each a free port).
func sandboxPorts(first, n int, reserved []string) []int {
	skip := map[int]bool{}
	for _, r := range reserved {
		if _, p, err := splitHostPort(r); err == nil && p != 0 {
			skip[p] = true
		}
	}
	ports := make([]int, n)
	next := first
	for i := range ports {
		if first == 0 {
			continue
		}
		for skip[next] {
			next++
		}
		ports[i] = next
		next++
	}
	return ports
}

func splitHostPort(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscan(p, &port); err != nil || port < 0 || port > 65535-32 {
		return "", 0, errors.New("bad port")
	}
	return host, port, nil
}
