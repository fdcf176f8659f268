package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/conncheck"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Deps are what the registry is built from. Zero fields get production defaults.
type Deps struct {
	// Trackers is the tracker registry (pkg/trackers/all in production): the
	// systems connectors may use, their rules and their connection tests. Required.
	Trackers *trackers.Registry
	NC       *nats.Conn
	JS       jetstream.JetStream
	Cipher   Encrypter
	Logger   *slog.Logger
	// Listener overrides Config.ListenAddr (tests pass a loopback or bufconn listener).
	Listener net.Listener
	// Tester defaults to the real tracker checks; SavedTester to NATS request/reply.
	Tester      Tester
	SavedTester SavedTester
	// WebhookPublicURL, when set and Config.WebhookPublicURL is empty, gives
	// the receiver's public URL when a hook is registered (the all-in-one
	// sandbox: the receiver's port is known only once it listens).
	WebhookPublicURL func() string
	// Hooks creates and deletes hooks on the trackers; defaults to a worker
	// over NATS request/reply (pkg/conncheck).
	Hooks   HookRegistrar
	Auditor Auditor
	Now     func() time.Time
	// Ready, when set, receives the bound address once the server accepts calls.
	Ready func(addr net.Addr)
}

type trackerTester struct {
	reg  *trackers.Registry
	opts trackers.Options
}

func (t trackerTester) Test(ctx context.Context, c connector.Connector, s connector.Secret) (trackers.TestResult, error) {
	return t.reg.Test(ctx, c, s, t.opts)
}

// New assembles the registry's application from its deps. It is the one
// place adapters are wired (STYLE: one place assembles a service). Its
// read index watches the connectors and poll_state buckets until ctx ends.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	if deps.JS == nil || deps.Cipher == nil || deps.Trackers == nil {
		return nil, errors.New("registry: JetStream, a cipher and the tracker registry are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	allow, err := trackers.ParseAllowList(cfg.AllowEndpoints)
	if err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	policy := trackers.EndpointPolicy{Allow: allow}
	kv, err := deps.JS.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		return nil, fmt.Errorf("registry: open KV %s (run bus.Provision first): %w", bus.BucketConnectors, err)
	}
	skv, err := deps.JS.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		return nil, fmt.Errorf("registry: open KV %s: %w", bus.BucketPollState, err)
	}
	gkv, err := deps.JS.KeyValue(ctx, bus.BucketOAuthGrants)
	if err != nil {
		return nil, fmt.Errorf("registry: open KV %s (run bus.Provision first): %w", bus.BucketOAuthGrants, err)
	}
	lkv, err := deps.JS.KeyValue(ctx, bus.BucketWritebackLedger)
	if err != nil {
		return nil, fmt.Errorf("registry: open KV %s: %w", bus.BucketWritebackLedger, err)
	}
	s := &Service{
		trackers:  deps.Trackers,
		store:     connector.NewStore(kv),
		grants:    connector.NewGrantStore(gkv),
		states:    connector.NewStateStore(skv),
		idx:       newIndex(log),
		ledger:    ledger.NewStore(lkv),
		cipher:    deps.Cipher,
		tester:    deps.Tester,
		saved:     deps.SavedTester,
		hooks:     deps.Hooks,
		publicURL: deps.WebhookPublicURL,
		audit:     deps.Auditor,
		policy:    policy,
		cfg:       cfg,
		log:       log,
		now:       deps.Now,
	}
	if s.tester == nil {
		s.tester = trackerTester{reg: deps.Trackers, opts: trackers.Options{Policy: policy, Timeout: cfg.TestTimeout, Logger: log, MaxResponseBytes: cfg.MaxResponseBytes}}
	}
	if s.saved == nil {
		if deps.NC == nil {
			return nil, errors.New("registry: a NATS connection is required to test saved connectors")
		}
		s.saved = conncheck.NewClient(deps.NC)
	}
	if s.hooks == nil && deps.NC != nil {
		s.hooks = conncheck.NewClient(deps.NC)
	}
	if s.hooks == nil {
		s.hooks = noHooks{}
	}
	if s.audit == nil {
		s.audit = &busAuditor{js: deps.JS, log: log}
	}
	if s.now == nil {
		s.now = time.Now
	}
	// The index follows both buckets for as long as ctx lives.
	go s.idx.run(ctx, s.store, s.states)
	s.replay = func(ctx context.Context, id string) (string, int, error) {
		return ledger.Replay(ctx, deps.JS, s.ledger, id, func(ctx context.Context, connectorID, key string) (string, error) {
			_, norm, err := s.normalizeTicketKey(ctx, connectorID, key)
			if errors.Is(err, connector.ErrNotFound) {
				return key, nil // writeback dead-letters it again, saying so
			}
			return norm, err
		})
	}
	return s, nil
}

// Run serves the registry until ctx ends, then drains: health goes
// NOT_SERVING first, in-flight calls get DrainTimeout to finish.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	svc, err := New(ctx, cfg, deps)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	// Grants kept in connector records by an earlier release go to their
	// bucket (workers read them only there).
	if n, err := svc.MoveLegacyGrants(ctx); err != nil {
		svc.log.WarnContext(ctx, "oauth grants in connector records not moved to their bucket; retried at the next start", "moved", n, "error", err)
	} else if n > 0 {
		svc.log.InfoContext(ctx, "oauth grants moved from connector records to their bucket", "moved", n)
	}
	srv, err := newGRPCServer(svc, cfg)
	if err != nil {
		return err
	}
	lis := deps.Listener
	if lis == nil {
		lis, err = net.Listen("tcp", cfg.ListenAddr)
		if err != nil {
			return fmt.Errorf("registry: listen on %s: %w", cfg.ListenAddr, err)
		}
	}
	svc.log.InfoContext(ctx, "registry listening", "addr", lis.Addr().String())
	if deps.Ready != nil {
		deps.Ready(lis.Addr())
	}
	if err := srv.Run(ctx, lis); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	svc.log.Info("registry stopped")
	return nil
}
