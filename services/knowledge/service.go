package knowledge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/grpcserve"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Deps are what the service is built from.
type Deps struct {
	// NC serves the micro endpoint; JS consumes TICKETS, publishes enrichments
	// and holds the buckets (run bus.Provision first). Both required.
	NC *nats.Conn
	JS jetstream.JetStream
	// Decrypter opens connector credentials (key context: connector id). Required.
	Decrypter Decrypter
	// Trackers is the tracker registry (pkg/trackers/all in production);
	// the service searches through its Confluence tracker. Required.
	Trackers *trackers.Registry
	Logger   *slog.Logger // discarded when nil
	// Listener, when set, serves gRPC instead of Config.ListenAddr.
	Listener net.Listener
	// Now is the clock of the cache and of connector back-off; time.Now when nil.
	Now func() time.Time
	// Ready, when set, is called once the service consumes and answers, with
	// the gRPC address (nil when gRPC is off).
	Ready func(grpcAddr net.Addr)
	// Metrics, when set, counts searches, cache hits and Confluence
	// requests (pkg/telemetry).
	Metrics *telemetry.Metrics
	// OAuth, when set, mints access tokens for oauth2 (Atlassian 3LO)
	// Confluence connectors (pkg/oauthgrant).
	OAuth trackers.OAuthTokens
}

// searchCounter counts searches of one Confluence connector (pkg/telemetry's Metrics).
type searchCounter interface {
	KnowledgeSearch(ctx context.Context, cached bool, err error)
}

var _ searchCounter = (*telemetry.Metrics)(nil)

// Service is the assembled knowledge service.
type Service struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	engine   *engine
	enricher *enricher
	backfill *backfiller
}

// New assembles the service: it validates the configuration, creates its
// buckets (knowledge_cache with Config.CacheTTL, knowledge_state) and loads
// the Confluence connectors, which it then follows until ctx ends. It is the
// one place adapters are wired.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("knowledge config: %w", err)
	}
	if deps.NC == nil || deps.JS == nil || deps.Decrypter == nil || deps.Trackers == nil {
		return nil, errors.New("knowledge: a NATS connection, JetStream, a decrypter and the tracker registry are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("service", "knowledge")
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	tr, ok := deps.Trackers.Lookup(connector.Confluence)
	if !ok {
		return nil, errors.New("knowledge: no Confluence tracker registered")
	}
	client, ok := tr.(confluenceClient)
	if !ok {
		return nil, errors.New("knowledge: the Confluence tracker cannot search or read pages")
	}
	allow, err := trackers.ParseAllowList(cfg.AllowEndpoints)
	if err != nil {
		return nil, fmt.Errorf("knowledge config: %w", err)
	}

	cacheKV, err := deps.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketCache,
		Description: "knowledge: Confluence search results per (connector, query)",
		History:     1,
		TTL:         cfg.CacheTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    cfg.BucketReplicas,
	})
	if err != nil {
		return nil, fmt.Errorf("knowledge: bucket %s: %w", BucketCache, err)
	}
	stateKV, err := deps.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketState,
		Description: "knowledge: the query each ticket was last enriched with",
		History:     1,
		TTL:         cfg.StateTTL,
		Replicas:    cfg.BucketReplicas,
	})
	if err != nil {
		return nil, fmt.Errorf("knowledge: bucket %s: %w", BucketState, err)
	}
	connKV, err := deps.JS.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		return nil, fmt.Errorf("knowledge: open KV %s (run bus.Provision first): %w", bus.BucketConnectors, err)
	}
	backfill := newBackfiller(deps.JS, stateKV, cfg, log)
	conns, err := watchConnectors(ctx, connKV, log, backfill.notify)
	if err != nil {
		return nil, err
	}
	topts := trackers.Options{
		Policy: trackers.EndpointPolicy{Allow: allow}, Timeout: cfg.SearchTimeout, Logger: log, MaxResponseBytes: cfg.MaxResponseBytes,
		OAuth: deps.OAuth,
	}
	var counter searchCounter
	if deps.Metrics != nil {
		topts.Observer, counter = deps.Metrics, deps.Metrics
	}
	e := &engine{
		cfg: cfg, log: log, now: now, conns: conns,
		cache:    &cache{kv: cacheKV, ttl: cfg.CacheTTL, now: now},
		sessions: trackers.NewSessions(deps.Trackers, deps.Decrypter, topts),
		client:   client,
		policy:   trackers.EndpointPolicy{Allow: allow},
		blocked:  map[string]block{},
		metrics:  counter,
	}
	if e.contexts, err = newContexts(cfg, log, now, conns, deps.Trackers, e.sessions); err != nil {
		return nil, err
	}
	e.tickets = &ticketTerms{store: connector.NewStore(connKV), trackers: deps.Trackers, sessions: e.sessions, maxTerms: cfg.MaxTerms}
	return &Service{
		cfg: cfg, deps: deps, log: log, engine: e, backfill: backfill,
		enricher: &enricher{engine: e, js: deps.JS, state: stateKV, log: log, now: now},
	}, nil
}

// Run assembles the service and serves until ctx ends (see Service.Serve).
func Run(ctx context.Context, cfg Config, deps Deps) error {
	svc, err := New(ctx, cfg, deps)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	return svc.Serve(ctx)
}

// newGRPCServer serves KnowledgeService; any role may search, so the guard
// only requires a known token.
func (s *Service) newGRPCServer() (*grpcserve.Server, error) {
	tokens, err := s.cfg.apiTokens()
	if err != nil {
		return nil, fmt.Errorf("knowledge: %w", err)
	}
	if len(tokens) == 0 {
		return nil, errors.New("knowledge: gRPC needs an API token (HUB_API_TOKENS or HUB_API_TOKENS_FILE); set KNOWLEDGE_LISTEN_ADDR= to serve NATS only")
	}
	return grpcserve.New(&chv1.KnowledgeService_ServiceDesc, &grpcServer{engine: s.engine, timeout: s.cfg.RequestTimeout},
		grpcserve.Options{Tokens: tokens, DrainTimeout: s.cfg.DrainTimeout})
}

// Serve consumes ticket events and answers searches (NATS micro, and gRPC
// when a listener or address is configured) until ctx ends, then drains:
// health goes NOT_SERVING, the endpoint and the consumer stop taking work,
// in-flight work gets DrainTimeout to finish.
func (s *Service) Serve(ctx context.Context) error {
	// Work outlives ctx by the drain, so it gets its own context.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	cons, err := s.deps.JS.CreateOrUpdateConsumer(ctx, bus.StreamTickets, consumerConfig(s.cfg))
	if err != nil && ctx.Err() != nil {
		return nil // stopped while starting
	}
	if err != nil {
		return fmt.Errorf("knowledge: consumer %s: %w", s.cfg.Consumer, err)
	}
	// Before consuming: connectors found enabled at startup are backfilled up
	// to the tickets stored now (see backfill.go).
	stopBackfill := s.backfill.start(work, s.enricher)
	defer stopBackfill()
	stopConsume, err := bus.Consume(work, cons, func() *chv1.TicketUpdated { return &chv1.TicketUpdated{} }, s.enricher.handle,
		bus.WithLogger(s.log), bus.WithConcurrency(s.cfg.Concurrency),
		bus.WithBackoff(bus.ExponentialBackoff(time.Second, time.Minute)))
	if err != nil {
		return fmt.Errorf("knowledge: consume: %w", err)
	}
	ms := &microServer{engine: s.engine, timeout: s.cfg.RequestTimeout, log: s.log, sem: make(chan struct{}, 4*s.cfg.Concurrency)}
	msvc, err := startMicro(work, s.deps.NC, ms)
	if err != nil {
		stopConsume()
		return fmt.Errorf("knowledge: micro service: %w", err)
	}

	var (
		srv     *grpcserve.Server
		lis     = s.deps.Listener
		serveCh = make(chan error, 1)
	)
	if lis != nil || s.cfg.ListenAddr != "" {
		srv, err = s.newGRPCServer()
		if err == nil && lis == nil {
			if lis, err = net.Listen("tcp", s.cfg.ListenAddr); err != nil {
				err = fmt.Errorf("knowledge: listen on %s: %w", s.cfg.ListenAddr, err)
			}
		}
		if err != nil {
			_ = msvc.Stop()
			stopConsume()
			return err
		}
		go func() { serveCh <- srv.Serve(lis) }()
		s.log.InfoContext(ctx, "knowledge listening", "addr", lis.Addr().String())
	}
	s.log.InfoContext(ctx, "knowledge serving", "subject", SearchSubject, "consumer", s.cfg.Consumer)
	if s.deps.Ready != nil {
		var addr net.Addr
		if lis != nil && srv != nil {
			addr = lis.Addr()
		}
		s.deps.Ready(addr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-serveCh:
		serveErr = fmt.Errorf("knowledge: serve gRPC: %w", err)
	}

	// Drain: not ready first, then stop taking work, then let work finish.
	var grpcStopped <-chan struct{}
	if srv != nil {
		grpcStopped = srv.Drain() // health is NOT_SERVING once it returns
	}
	drained := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { _ = msvc.Stop(); ms.wg.Wait() })
		wg.Go(stopConsume)
		wg.Go(stopBackfill)
		if grpcStopped != nil {
			wg.Go(func() { <-grpcStopped }) // bounded by DrainTimeout itself
		}
		wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(s.cfg.DrainTimeout):
		s.log.Warn("knowledge: drain timed out; cancelling in-flight work")
		cancelWork()
		<-drained
	}
	s.log.Info("knowledge stopped")
	return serveErr
}
