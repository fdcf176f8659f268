package main

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry"
)

// Registry: a registry (registry.Run, in this process) on an embedded
// JetStream with the local keyring; n connectors created over gRPC, then
// ListConnectors, GetConnector and CreateConnector timed over gRPC.

// registryClient is a running registry and an admin client of it.
type registryClient struct {
	chv1.RegistryServiceClient
	conn  *grpc.ClientConn
	token string
	stop  func()
}

// startRegistry runs the registry on env with the local keyring at keyring
// (created when missing), listening on a loopback port.
func startRegistry(ctx context.Context, env *busEnv, keyring string) (*registryClient, error) {
	cipher, err := secrets.OpenLocal(keyring)
	if err != nil {
		return nil, err
	}
	token := crand.Text()
	cfg := registry.DefaultConfig()
	cfg.Tokens = []string{"bench:admin:" + token}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- registry.Run(rctx, cfg, registry.Deps{Trackers: all.Registry(), NC: env.nc, JS: env.js, Cipher: cipher,
			Logger: slog.New(slog.DiscardHandler), Listener: lis, Ready: func(net.Addr) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("registry: %v", err)
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		<-done
		return nil, err
	}
	return &registryClient{RegistryServiceClient: chv1.NewRegistryServiceClient(conn), conn: conn, token: token,
		stop: sync.OnceFunc(func() { conn.Close(); cancel(); <-done })}, nil
}

// auth adds the admin token to ctx.
func (r *registryClient) auth(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+r.token)
}

// githubConnector is a connector to the fake GitHub at apiURL (its /api/v3/ root).
func githubConnector(id, apiURL string, interval time.Duration) *chv1.CreateConnectorRequest {
	return &chv1.CreateConnectorRequest{ConnectorId: id, Credential: githubfake.SandboxToken, Connector: &chv1.Connector{
		System: chv1.System_SYSTEM_GITHUB, Deployment: chv1.Deployment_DEPLOYMENT_SELF_HOSTED, BaseUrl: apiURL,
		AuthMode: chv1.AuthMode_AUTH_MODE_BEARER, Project: githubfake.SandboxRepo, Assignee: githubfake.SandboxLogin,
		Enabled: true, PollInterval: durationpb.New(interval)}}
}

// createConnectors creates connectors from..to-1 (ids bench-<i>) with a few
// calls in flight; req builds each one.
func (r *registryClient) createConnectors(ctx context.Context, from, to int, req func(i int) *chv1.CreateConnectorRequest) error {
	g, gctx := errgroup.WithContext(r.auth(ctx))
	g.SetLimit(16)
	for i := from; i < to; i++ {
		g.Go(func() error {
			if _, err := r.CreateConnector(gctx, req(i)); err != nil {
				return fmt.Errorf("create connector %d: %w", i, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func benchID(i int) string { return fmt.Sprintf("bench-%05d", i) }

func runRegistry(ctx context.Context, o options, rep *report, progress func(string, ...any)) error {
	env, err := startBus(ctx, "")
	if err != nil {
		return err
	}
	defer env.close()
	reg, err := startRegistry(ctx, env, filepath.Join(env.dir, "keyring.json"))
	if err != nil {
		return err
	}
	defer reg.stop()
	const apiURL = "http://127.0.0.1:9/api/v3/" // never called: creating does not test the connection
	n := o.registryN
	start := time.Now()
	if err := reg.createConnectors(ctx, 0, n, func(i int) *chv1.CreateConnectorRequest { return githubConnector(benchID(i), apiURL, time.Minute) }); err != nil {
		return err
	}
	progress("registry: %d connectors created in %v", n, time.Since(start).Round(time.Millisecond))
	actx := reg.auth(ctx)

	// ListConnectors, all pages of the largest size.
	// Repeated up to 5 times (one page: 20), within a time budget, so a slow
	// registry does not stretch the run.
	var lists []time.Duration
	budget := time.Now().Add(10 * time.Second)
	for len(lists) < 5 && (len(lists) == 0 || time.Now().Before(budget)) {
		t0 := time.Now()
		got, token := 0, ""
		for {
			resp, err := reg.ListConnectors(actx, &chv1.ListConnectorsRequest{PageSize: 500, PageToken: token})
			if err != nil {
				return fmt.Errorf("list: %w", err)
			}
			got += len(resp.GetConnectors())
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		lists = append(lists, time.Since(t0))
		if got != n {
			return fmt.Errorf("list returned %d connectors, %d stored", got, n)
		}
	}
	// One page of 500.
	var pages []time.Duration
	budget = time.Now().Add(5 * time.Second)
	for len(pages) < 20 && (len(pages) == 0 || time.Now().Before(budget)) {
		t0 := time.Now()
		resp, err := reg.ListConnectors(actx, &chv1.ListConnectorsRequest{PageSize: 500})
		if err != nil {
			return fmt.Errorf("list one page: %w", err)
		}
		pages = append(pages, time.Since(t0))
		if len(resp.GetConnectors()) != min(500, n) {
			return fmt.Errorf("a page of 500 held %d connectors", len(resp.GetConnectors()))
		}
	}
	// GetConnector of random stored ids, one at a time.
	gets := make([]time.Duration, 0, o.samples)
	for range o.samples {
		id := benchID(rand.IntN(n))
		t0 := time.Now()
		if _, err := reg.GetConnector(actx, &chv1.GetConnectorRequest{Id: id}); err != nil {
			return fmt.Errorf("get %s: %w", id, err)
		}
		gets = append(gets, time.Since(t0))
	}
	// CreateConnector, one at a time, with n already stored.
	creates := make([]time.Duration, 0, o.samples)
	for i := range o.samples {
		t0 := time.Now()
		if _, err := reg.CreateConnector(actx, githubConnector(benchID(n+i), apiURL, time.Minute)); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		creates = append(creates, time.Since(t0))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cas := fmt.Sprintf("%d stored", n)
	rep.add("registry", cas, metric{"List, all pages of 500 (ms)", "%.0f"}, ms(percentile(lists, 50)))
	rep.add("registry", cas, metric{"List, one page of 500 (ms)", "%.1f"}, ms(percentile(pages, 50)))
	rep.add("registry", cas, metric{"Get p50 (ms)", "%.2f"}, ms(percentile(gets, 50)))
	rep.add("registry", cas, metric{"Get p99 (ms)", "%.2f"}, ms(percentile(gets, 99)))
	rep.add("registry", cas, metric{"Create p50 (ms)", "%.2f"}, ms(percentile(creates, 50)))
	rep.add("registry", cas, metric{"Create p99 (ms)", "%.2f"}, ms(percentile(creates, 99)))
	rep.note("registry", fmt.Sprintf("Registry: registry.Run in the bench process, gRPC over loopback with an admin token, local keyring; "+
		"each repetition lists all pages up to 5 times and one page up to 20 times (median; fewer when slow: 10 s and 5 s budgets), then %d Gets of random ids and %d Creates, one call at a time.", o.samples, o.samples))
	progress("registry: list all %v, page %v, get p99 %v, create p99 %v", percentile(lists, 50), percentile(pages, 50), percentile(gets, 99), percentile(creates, 99))
	return nil
}
