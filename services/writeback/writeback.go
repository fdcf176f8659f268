package writeback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/ledger"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Source is the ce-source of writeback events.
const Source = "connectorhub/writeback"

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
}

// Service handles results.
type Service struct {
	cfg      Config
	js       jetstream.JetStream
	store    *connector.Store
	ledger   *ledger.Store
	dec      Decrypter
	log      *slog.Logger
	topts    trackers.Options
	trackers *trackers.Registry
	now      func() time.Time

	sessions *trackers.Sessions
	// crashAfter (tests only) makes handle stop right after the named step
	// finished at the tracker but before the ledger records it.
	crashAfter atomic.Value // string
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
	s := &Service{cfg: cfg, js: deps.JS, store: connector.NewStore(ckv), ledger: ledger.NewStore(lkv), dec: deps.Decrypter,
		log: deps.Logger, topts: deps.TrackerOptions, trackers: deps.Trackers, now: deps.Now}
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
	return s, nil
}

// Run consumes result.ready.> with a durable consumer shared by every
// replica until ctx ends, then drains.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	s, err := New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// Run is the service's loop.
func (s *Service) Run(ctx context.Context) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{
		Durable:       s.cfg.Durable,
		FilterSubject: "result.ready.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    s.cfg.MaxDeliver,
		MaxAckPending: s.cfg.Concurrency * 4,
	})
	if err != nil {
		return fmt.Errorf("writeback: consumer: %w", err)
	}
	stop, err := bus.Consume(ctx, cons, func() *chv1.ResultReady { return &chv1.ResultReady{} }, s.handle,
		bus.WithLogger(s.log), bus.WithConcurrency(s.cfg.Concurrency), bus.WithBackoff(bus.ExponentialBackoff(s.cfg.RetryBase, s.cfg.RetryMax)))
	if err != nil {
		return fmt.Errorf("writeback: consume: %w", err)
	}
	s.log.Info("writeback started", "consumer", s.cfg.Durable)
	<-ctx.Done()
	stop()
	s.log.Info("writeback stopped")
	return nil
}

// permanent errors cannot be fixed by retrying: the result is dead-lettered
// at once. Tracker errors follow the one retry rule (trackers.RetryOf); a
// cancelled context is a shutdown, which the redelivery finishes.
func permanent(err error) bool {
	switch {
	case errors.Is(err, connector.ErrNotFound), errors.Is(err, errUnsupported), errors.Is(err, errInvalidResult):
		return true
	case errors.Is(err, context.Canceled):
		return false
	}
	r, _ := trackers.RetryOf(err)
	return r == trackers.RetryNever
}

var (
	errUnsupported   = errors.New("not supported by this tracker")
	errInvalidResult = errors.New("invalid result")
	errCrash         = errors.New("simulated crash")
)

// handle processes one delivery of a result.
func (s *Service) handle(ctx context.Context, env bus.Envelope, r *chv1.ResultReady) error {
	if err := validateResult(r); err != nil {
		return s.deadLetter(ctx, r, nil, fmt.Errorf("%w: %v", errInvalidResult, err), int(env.Delivered))
	}
	log := s.log.With("result", r.GetResultId(), "connector", r.GetConnectorId(), "ticket", r.GetTicketKey())
	e, err := s.ledger.Get(ctx, r.GetResultId())
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		raw, _ := protojson.Marshal(r)
		e = ledger.Entry{ResultID: r.GetResultId(), ConnectorID: r.GetConnectorId(), System: string(systemFromProto(r.GetSystem())), Result: raw, Steps: map[string]ledger.Step{}}
		if e, err = s.ledger.Put(ctx, e); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if e.Completed {
		log.Info("result already written back; acknowledging the redelivery")
		return nil
	}
	if e.Failed {
		log.Info("result is dead-lettered; replay it to try again")
		return nil
	}
	e.Attempts++
	if e.Steps == nil {
		e.Steps = map[string]ledger.Step{}
	}
	w := &work{s: s, r: r, e: e, log: log}
	err = w.run(ctx)
	if errors.Is(err, errCrash) {
		return err
	}
	if err == nil {
		return s.complete(ctx, w)
	}
	last := env.Delivered >= uint64(s.cfg.MaxDeliver)
	if permanent(err) || last {
		return s.deadLetter(ctx, r, w, err, int(env.Delivered))
	}
	log.Warn("writeback step failed; will retry", "attempt", env.Delivered, "error", err)
	if _, perr := s.ledger.Put(ctx, w.e); perr != nil && !errors.Is(perr, ledger.ErrConflict) {
		log.Warn("ledger", "error", perr)
	}
	return err
}

func validateResult(r *chv1.ResultReady) error {
	var missing []string
	if r.GetResultId() == "" {
		missing = append(missing, "result_id")
	}
	if r.GetConnectorId() == "" {
		missing = append(missing, "connector_id")
	}
	if r.GetTicketKey() == "" {
		missing = append(missing, "ticket_key")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if r.GetTargetStatus() == "" && r.GetCommentMarkdown() == "" && len(r.GetSubtasks()) == 0 && r.GetPullRequest() == nil && !r.GetMentionReporter() {
		return errors.New("nothing to write back (no status, comment, sub-task or pull request)")
	}
	if pr := r.GetPullRequest(); pr != nil && pr.GetHeadBranch() == "" {
		return errors.New("pull_request.head_branch is required")
	}
	return nil
}

func (s *Service) complete(ctx context.Context, w *work) error {
	w.e.Completed = true
	e, err := s.ledger.Put(ctx, w.e)
	if err != nil {
		return err
	}
	w.e = e
	ev := &chv1.WritebackCompleted{ResultId: w.r.GetResultId(), ConnectorId: w.r.GetConnectorId(), System: w.r.GetSystem(),
		TicketKey: w.r.GetTicketKey(), Links: w.links(), StatusOutcome: w.e.StatusOutcome}
	subject, err := bus.WritebackSubject(bus.WritebackCompleted, string(w.c.System), w.c.ID)
	if err != nil {
		return err
	}
	if _, err := bus.Publish(ctx, s.js, subject, ev, bus.WithID(bus.EventID("writeback.completed", w.r.GetResultId())), bus.WithSource(Source), bus.WithSubject(w.r.GetTicketKey())); err != nil {
		return err // redelivery finds Completed and republishes nothing new; the event id dedups
	}
	w.log.Info("written back", "links", len(ev.Links), "status", w.e.StatusOutcome)
	return nil
}

// deadLetter records the failure, publishes writeback.failed with the reason
// and the original result (for replay) and terminates the message.
func (s *Service) deadLetter(ctx context.Context, r *chv1.ResultReady, w *work, cause error, attempts int) error {
	system := string(systemFromProto(r.GetSystem()))
	if w != nil && w.c.System != "" {
		system = string(w.c.System)
	}
	if w != nil {
		w.e.Failed = true
		w.e.Reason = cause.Error()
		if _, err := s.ledger.Put(ctx, w.e); err != nil {
			return err
		}
	}
	ev := &chv1.WritebackFailed{ResultId: r.GetResultId(), ConnectorId: r.GetConnectorId(), System: r.GetSystem(),
		TicketKey: r.GetTicketKey(), Reason: cause.Error(), Attempts: int32(attempts), Result: r}
	connectorToken := r.GetConnectorId()
	if bus.ValidateToken(connectorToken) != nil {
		connectorToken = "invalid"
	}
	if bus.ValidateToken(system) != nil {
		system = "unknown"
	}
	subject, err := bus.WritebackSubject(bus.WritebackFailed, system, connectorToken)
	if err != nil {
		return err
	}
	id := bus.EventID("writeback.failed", r.GetResultId(), strconv.Itoa(replaysOf(w)))
	if _, err := bus.Publish(ctx, s.js, subject, ev, bus.WithID(id), bus.WithSource(Source), bus.WithSubject(r.GetTicketKey())); err != nil {
		return err
	}
	s.log.Warn("result dead-lettered", "result", r.GetResultId(), "reason", cause, "attempts", attempts)
	return bus.Permanent(cause)
}

func replaysOf(w *work) int {
	if w == nil {
		return 0
	}
	return w.e.Replays
}

func tsOrZero(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
