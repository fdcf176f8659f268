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
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket/bitbucketfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/confluence/confluencefake"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty/pagerdutyfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// sandboxTracker is one fake tracker the sandbox serves, and the connector
// registered against it.
type sandboxTracker struct {
	name    string
	handler http.Handler
	// connector builds the connector for the fake's URL; credential is its token.
	connector  func(url string) *chv1.Connector
	credential string
	// knowledge marks a knowledge source (Confluence): registered before
	// the trackers, so their first tickets are enriched with it at once.
	knowledge bool
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
}

const sandboxInterval = 10 * time.Second

func newSandbox(log *slog.Logger) *sandbox {
	return &sandbox{log: log, urls: map[string]string{}, trackers: []sandboxTracker{
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
	}}
}

// start serves every fake on listen's host with ports counting up from
// listen's port (port 0: each a free port).
func (s *sandbox) start(listen string) error {
	host, port, err := splitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--sandbox-listen: %w", err)
	}
	for i, t := range s.trackers {
		addr := net.JoinHostPort(host, "0")
		if port != 0 {
			addr = net.JoinHostPort(host, fmt.Sprint(port+i))
		}
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			s.stop()
			return fmt.Errorf("sandbox %s: listen on %s: %w", t.name, addr, err)
		}
		srv := &http.Server{Handler: t.handler, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(lis) }()
		s.servers = append(s.servers, srv)
		s.urls[t.name] = "http://" + lis.Addr().String()
		if s.advertise != "" {
			_, p, _ := net.SplitHostPort(lis.Addr().String())
			s.urls[t.name] = "http://" + net.JoinHostPort(s.advertise, p)
		}
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
		want := t.connector(s.urls[t.name])
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
		if err != nil {
			return fmt.Errorf("sandbox connector %s: %w", id, err)
		}
		s.log.Info("sandbox connector ready", "connector", id, "tracker", s.urls[t.name])
	}
	return nil
}

// registrationOrder is the fakes with the knowledge sources first, the
// others in their order (which also sets their ports).
func (s *sandbox) registrationOrder() []sandboxTracker {
	order := slices.Clone(s.trackers)
	slices.SortStableFunc(order, func(a, b sandboxTracker) int {
		switch {
		case a.knowledge == b.knowledge:
			return 0
		case a.knowledge:
			return -1
		}
		return 1
	})
	return order
}

func splitHostPort(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscan(p, &port); err != nil || port < 0 || port > 65535-8 {
		return "", 0, errors.New("bad port")
	}
	return host, port, nil
}
