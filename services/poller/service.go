package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Decrypter opens a connector's credential (workers' Vault policy: decrypt only).
type Decrypter = trackers.Decrypter

// ErrLeaseTTLMismatch: the poll_leases bucket's TTL is not the configured
// lease TTL, so leases would expire before they are renewed (bucket TTL
// shorter) or outlive a dead replica for longer than configured.
var ErrLeaseTTLMismatch = errors.New("poller: lease TTL differs from the poll_leases bucket's TTL")

// Deps are what a poller replica is built from.
type Deps struct {
	JS        jetstream.JetStream
	Decrypter Decrypter
	Logger    *slog.Logger
	// Trackers are the systems this replica can poll (pkg/trackers/all in
	// production; tests register their own).
	Trackers *trackers.Registry
	// TrackerOptions tune sessions (endpoint policy, timeouts).
	TrackerOptions trackers.Options
	// Clock gives the time and the scheduler's ticker; the real clock when nil.
	Clock Clock
	// Metrics, when set, counts cycles, published tickets and the
	// connectors' lag and health (pkg/telemetry).
	Metrics *telemetry.Metrics
	// Ready, when set, is called once the replica watches its connectors
	// and schedules polls.
	Ready func()
}

// Poller is one replica.
type Poller struct {
	cfg      Config
	js       jetstream.JetStream
	store    *connector.Store
	states   *connector.StateStore
	versions *ticketver.Store // field hashes and the writeback's own changes
	leases   *leases
	log      *slog.Logger
	topts    trackers.Options
	trackers *trackers.Registry
	clock    Clock
	now      func() time.Time
	systems  map[connector.System]bool

	sched   *scheduler
	metrics *telemetry.Metrics
	ready   func()

	mu sync.Mutex
	// connectors are the records of the systems and zone this replica
	// polls, by id; the scheduler's entries share them (a record is never
	// changed in place: a change is a new one).
	connectors map[string]*connector.Connector
	sessions   *trackers.Sessions
	// mismatched holds, per connector, the revision whose credential was
	// found not to decrypt (audited once per revision).
	mismatched map[string]uint64
}

// New assembles a replica (the one place its adapters are wired).
func New(ctx context.Context, cfg Config, deps Deps) (*Poller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("poller config: %w", err)
	}
	if deps.JS == nil || deps.Decrypter == nil || deps.Trackers == nil {
		return nil, errors.New("poller: JetStream, a decrypter and the tracker registry are required")
	}
	if cfg.ReplicaID == "" {
		cfg.ReplicaID = defaultReplicaID()
	}
	ckv, err := deps.JS.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		return nil, fmt.Errorf("poller: open %s (run bus.Provision first): %w", bus.BucketConnectors, err)
	}
	skv, err := deps.JS.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		return nil, fmt.Errorf("poller: open %s: %w", bus.BucketPollState, err)
	}
	versions, err := ticketver.Open(ctx, deps.JS)
	if err != nil {
		return nil, fmt.Errorf("poller: %w", err)
	}
	lkv, err := deps.JS.KeyValue(ctx, bus.BucketPollLeases)
	if err != nil {
		return nil, fmt.Errorf("poller: open %s: %w", bus.BucketPollLeases, err)
	}
	if err := checkLeaseTTL(ctx, lkv, cfg.LeaseTTL); err != nil {
		return nil, err
	}
	p := &Poller{
		cfg: cfg, js: deps.JS, store: connector.NewStore(ckv), states: connector.NewStateStore(skv, connector.WithPartCacheBytes(int64(cfg.StateCacheMiB)<<20)), versions: versions,
		leases: newLeases(lkv, cfg.ReplicaID, cfg.Zone), log: deps.Logger, topts: deps.TrackerOptions,
		trackers: deps.Trackers, clock: deps.Clock, systems: map[connector.System]bool{},
		connectors: map[string]*connector.Connector{}, mismatched: map[string]uint64{},
		metrics: deps.Metrics, ready: deps.Ready,
	}
	p.sched = newScheduler(p)
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("replica", cfg.ReplicaID)
	topts := p.topts
	if topts.Logger == nil {
		topts.Logger = p.log
	}
	if topts.MaxIdleConnsPerHost == 0 {
		topts.MaxIdleConnsPerHost = cfg.HostConcurrency
	}
	if topts.Transports == nil {
		// One transport per (host, proxy, CA bundle) for every connector.
		topts.Transports = trackers.NewTransportPool()
	}
	p.topts = topts
	p.sessions = trackers.NewSessions(deps.Trackers, deps.Decrypter, topts)
	if p.clock == nil {
		p.clock = realClock{}
	}
	p.now = p.clock.Now
	discoverable := trackers.SystemsWith[trackers.Discoverer](deps.Trackers)
	for _, s := range cfg.Systems {
		sys := connector.System(strings.TrimSpace(s))
		if !slices.Contains(discoverable, sys) {
			return nil, fmt.Errorf("poller config: POLLER_SYSTEMS: %q is not a system with discovery (%s)", s, joinSystems(discoverable))
		}
		p.systems[sys] = true
	}
	if len(p.systems) == 0 {
		for _, s := range discoverable {
			p.systems[s] = true
		}
	}
	return p, nil
}

// Run polls until ctx ends, then finishes the cycles under way, releases its
// leases (so other replicas take over at once) and returns.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	p, err := New(ctx, cfg, deps)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	return p.Run(ctx)
}

// checkLeaseTTL refuses a lease TTL other than the bucket's: the bucket
// expires a lease that is not renewed within its TTL, and this replica
// renews every third of its own.
func checkLeaseTTL(ctx context.Context, kv jetstream.KeyValue, ttl time.Duration) error {
	st, err := kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("poller: %s status: %w", bus.BucketPollLeases, err)
	}
	if st.TTL() != ttl {
		return fmt.Errorf("%w: POLLER_LEASE_TTL is %s, the bucket's TTL is %s; provision the bucket with POLLER_LEASE_TTL (the hub does) or set POLLER_LEASE_TTL=%s",
			ErrLeaseTTLMismatch, ttl, st.TTL(), st.TTL())
	}
	return nil
}

// Run is the replica's main loop.
func (p *Poller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := p.store.Watch(watchCtx, p.onChange, func(err error) { p.log.Warn("connector record skipped", "error", err) })
		if err != nil {
			p.log.Error("connector watch ended", "error", err)
		}
	}()
	stopNotices, err := p.consumeNotices(ctx)
	if err != nil {
		// Without notices the poll still finds every change, at its interval.
		p.log.Warn("webhook notices not followed; polling only", "error", err)
		stopNotices = func() {}
	}
	defer stopNotices()
	p.log.Info("poller started", "systems", p.systemList(), "zone", p.cfg.Zone)
	if p.ready != nil {
		p.ready()
	}

	p.sched.mu.Lock()
	p.sched.ctx = ctx
	p.sched.mu.Unlock()
	tick := p.clock.NewTicker(p.cfg.Tick)
	defer tick.Stop()
	var lastKeepAlive time.Time
	replicas := map[connector.System]int{}
	for {
		now := p.now()
		if now.Sub(lastKeepAlive) >= p.cfg.LeaseTTL/3 {
			lastKeepAlive = now
			if err := p.leases.heartbeat(ctx, p.systemList()); err != nil && ctx.Err() == nil {
				p.log.Warn("heartbeat", "error", err)
			}
			lost, err := p.leases.renew(ctx)
			if err != nil && ctx.Err() == nil {
				p.log.Warn("lease renewal", "error", err)
			}
			if len(lost) > 0 {
				p.log.Info("leases taken over by another replica", "connectors", lost)
				for _, id := range lost {
					p.sched.drop(id)
					p.metrics.ForgetConnector(id)
				}
			}
			replicas = p.leases.liveReplicas(ctx)
		}
		p.sched.leasePass(ctx, replicas)
		p.sched.dispatch()
		p.sched.logSaturation(time.Minute)
		select {
		case <-ctx.Done():
			p.sched.cycles.Wait()
			release, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			p.leases.releaseAll(release)
			cancel()
			stopWatch()
			wg.Wait()
			p.log.Info("poller stopped")
			return nil
		case <-tick.C():
		}
	}
}

func (p *Poller) systemList() []connector.System {
	var out []connector.System
	for _, s := range p.trackers.Systems() {
		if p.systems[s] {
			out = append(out, s)
		}
	}
	return out
}

func (p *Poller) onChange(ch connector.Change) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch.Deleted {
		delete(p.connectors, ch.Connector.ID)
		p.sessions.Forget(ch.Connector.ID)
		p.sched.deleted(ch.Connector.ID)
		p.metrics.ForgetConnector(ch.Connector.ID)
		return
	}
	if !p.systems[ch.Connector.System] {
		return
	}
	if ch.Connector.Zone != p.cfg.Zone {
		// Another site's connector (or one just moved there): forgotten
		// like a deleted one, so the next lease pass gives its lease back.
		if _, known := p.connectors[ch.Connector.ID]; known {
			delete(p.connectors, ch.Connector.ID)
			p.sessions.Forget(ch.Connector.ID)
			p.sched.deleted(ch.Connector.ID)
			p.metrics.ForgetConnector(ch.Connector.ID)
		}
		return
	}
	c := ch.Connector
	p.connectors[c.ID] = &c
	// The schedule follows the record at once: a new interval applies to the
	// cycle under way's successor, and a new revision (update, re-enable,
	// recreate) lifts a deferral.
	p.sched.update(&c)
}

func (p *Poller) isPolling(id string) bool { return p.sched.isRunning(id) }

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func joinSystems(systems []connector.System) string {
	names := make([]string, len(systems))
	for i, s := range systems {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
