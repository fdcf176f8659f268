package writeback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Source is the ce-source of writeback events.
func Source(connectorID string) string { return bus.Source(bus.ProducerWriteback, connectorID) }

// Decrypter opens a connector's credential (workers' Vault policy: decrypt only).
type Decrypter = trackers.Decrypter

// Deps are what the writeback service is built from.
type Deps struct {
	JS        jetstream.JetStream
	Decrypter Decrypter
	Logger    *slog.Logger
	// Trackers are the systems results are written back to (pkg/trackers/all
	// in production; tests register their own).
	Trackers *trackers.Registry
	// TrackerOptions tune sessions (endpoint policy, timeouts).
	TrackerOptions trackers.Options
	Now            func() time.Time
	// AfterStep, when set, runs after a step's tracker call succeeded and
	// before the ledger records it. An error abandons the delivery there, as
	// a crash of the process would: nothing more is recorded and the result
	// is redelivered. Tests use it to crash at the worst moment.
	AfterStep func(step string) error
	// Metrics, when set, counts steps and dead-letters (pkg/telemetry).
	Metrics *telemetry.Metrics
	// Ready, when set, is called once the service consumes results.
	Ready func()
}

// Service handles results.
type Service struct {
	cfg      Config
	js       jetstream.JetStream
	store    *connector.Store
	ledger   *ledger.Store
	versions *ticketver.Store // the writeback's own changes, for the poller's echo suppression
	dec      Decrypter
	log      *slog.Logger
	topts    trackers.Options
	trackers *trackers.Registry
	now      func() time.Time

	sessions  *trackers.Sessions
	afterStep func(step string) error
	metrics   *telemetry.Metrics
	ready     func()

	// slots let one connector's results wait without holding up others';
	// stopping closes when Run's ctx ends, so waiting results give up.
	slots    *slots
	stopping chan struct{}
	stopOnce sync.Once
}

// New assembles the service (the one place its adapters are wired).
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("writeback config: %w", err)
	}
	if deps.JS == nil || deps.Decrypter == nil || deps.Trackers == nil {
		return nil, errors.New("writeback: JetStream, a decrypter and the tracker registry are required")
	}
	ckv, err := deps.JS.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		return nil, fmt.Errorf("writeback: open %s (run bus.Provision first): %w", bus.BucketConnectors, err)
	}
	lkv, err := deps.JS.KeyValue(ctx, bus.BucketWritebackLedger)
	if err != nil {
		return nil, fmt.Errorf("writeback: open %s: %w", bus.BucketWritebackLedger, err)
	}
	versions, err := ticketver.Open(ctx, deps.JS)
	if err != nil {
		return nil, fmt.Errorf("writeback: %w", err)
	}
	s := &Service{cfg: cfg, js: deps.JS, store: connector.NewStore(ckv), ledger: ledger.NewStore(lkv), versions: versions, dec: deps.Decrypter,
		log: deps.Logger, topts: deps.TrackerOptions, trackers: deps.Trackers, now: deps.Now, afterStep: deps.AfterStep,
		metrics: deps.Metrics, ready: deps.Ready}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	topts := s.topts
	if topts.Logger == nil {
		topts.Logger = s.log
	}
	s.sessions = trackers.NewSessions(deps.Trackers, deps.Decrypter, topts)
	s.slots = newSlots(cfg.Concurrency, cfg.PerConnector)
	s.stopping = make(chan struct{})
	return s, nil
}

// Run consumes result.ready.> with a durable consumer shared by every
// replica until ctx ends, then drains (see Service.Run).
func Run(ctx context.Context, cfg Config, deps Deps) error {
	s, err := New(ctx, cfg, deps)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	return s.Run(ctx)
}

// Run is the service's loop. When ctx ends it stops taking results and
// lets the writes in flight finish for up to DrainTimeout; only then are
// they cancelled (a cancelled write is redelivered and resumes from the
// ledger).
func (s *Service) Run(ctx context.Context) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{
		Durable:       s.cfg.ConsumerName(),
		FilterSubject: "result.ready.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    s.cfg.MaxDeliver,
		MaxAckPending: s.cfg.MaxPending,
	})
	if err != nil {
		return fmt.Errorf("writeback: consumer: %w", err)
	}
	// Writes outlive ctx by the drain, so they get their own context:
	// bus.Consume cancels its handlers with the context it is given.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stop, err := bus.Consume(work, cons, func() *chv1.ResultReady { return &chv1.ResultReady{} }, s.handle,
		bus.WithLogger(s.log), bus.WithConcurrency(s.cfg.MaxPending), bus.WithBackoff(bus.ExponentialBackoff(s.cfg.RetryBase, s.cfg.RetryMax)))
	if err != nil {
		return fmt.Errorf("writeback: consume: %w", err)
	}
	s.log.Info("writeback started", "consumer", s.cfg.ConsumerName(), "zone", s.cfg.Zone)
	if s.ready != nil {
		s.ready()
	}
	<-ctx.Done()
	s.stopOnce.Do(func() { close(s.stopping) }) // results still waiting for their turn give up at once
	drained := make(chan struct{})
	go func() { stop(); close(drained) }()
	timer := time.NewTimer(s.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		s.log.Warn("writeback: drain timed out; cancelling the writes in flight")
		cancelWork()
		<-drained
	}
	s.log.Info("writeback stopped")
	return nil
}
