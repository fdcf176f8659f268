package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Outcomes counted per delivery (telemetry.MetricWebhookDeliveries).
const (
	OutcomeAccepted         = "accepted"
	OutcomeIgnored          = "ignored" // verified, names no ticket (a ping, a pull request)
	OutcomeUnsigned         = "unsigned"
	OutcomeBadSignature     = "bad_signature"
	OutcomeStale            = "stale"
	OutcomeReplayed         = "replayed"
	OutcomeUnknownConnector = "unknown_connector"
	OutcomeTooLarge         = "too_large"
	OutcomeError            = "error"
)

// Hook is what a delivery is verified with.
type Hook struct {
	Connector connector.Connector
	Secret    connector.Secret
}

// Hooks finds a connector's webhook and its secret in clear; an unknown
// connector, or one without a webhook, is connector.ErrNotFound.
type Hooks interface {
	Hook(ctx context.Context, connectorID string) (Hook, error)
}

// Deps are what the service is built from.
type Deps struct {
	JS        jetstream.JetStream
	Decrypter trackers.Decrypter
	Trackers  *trackers.Registry
	Logger    *slog.Logger
	Metrics   *telemetry.Metrics
	Now       func() time.Time
	// Hooks, when set, replaces the connectors bucket as the source of
	// secrets (tests).
	Hooks Hooks
	// Ready, when set, is called once the listener is open; Listening
	// receives its address (tests listen on port 0).
	Ready     func()
	Listening func(addr string)
}

// Service is the webhook receiver.
type Service struct {
	cfg   Config
	js    jetstream.JetStream
	hooks Hooks
	reg   *trackers.Registry
	log   *slog.Logger
	m     *telemetry.Metrics
	now   func() time.Time
	deps  Deps
	// refused gathers refusals per connector for the next report (refusals.go).
	refused refusals
}

// New assembles the service (the one place its adapters are wired).
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhooks config: %w", err)
	}
	if deps.JS == nil || deps.Trackers == nil || deps.Hooks == nil && deps.Decrypter == nil {
		return nil, errors.New("webhooks: JetStream, the tracker registry and a decrypter are required")
	}
	s := &Service{cfg: cfg, js: deps.JS, hooks: deps.Hooks, reg: deps.Trackers, log: deps.Logger, m: deps.Metrics, now: deps.Now, deps: deps}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.hooks == nil {
		kv, err := deps.JS.KeyValue(ctx, bus.BucketConnectors)
		if err != nil {
			return nil, fmt.Errorf("webhooks: open %s (run bus.Provision first): %w", bus.BucketConnectors, err)
		}
		s.hooks = storeHooks{store: connector.NewStore(kv), dec: deps.Decrypter}
	}
	return s, nil
}

// Run serves until ctx ends, then lets deliveries in flight finish.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	s, err := New(ctx, cfg, deps)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return s.Run(ctx)
}

// Handler is the HTTP handler (POST /webhooks/{connector-id}).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/{id}", s.receive)
	return mux
}

// Run is the service's loop.
func (s *Service) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("webhooks: listen %s: %w", s.cfg.Addr, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	rctx, stopReports := context.WithCancel(ctx)
	reported := make(chan struct{})
	go s.reportLoop(rctx, reported)
	s.log.Info("webhooks started", "addr", ln.Addr().String())
	if s.deps.Listening != nil {
		s.deps.Listening(ln.Addr().String())
	}
	if s.deps.Ready != nil {
		s.deps.Ready()
	}
	select {
	case err := <-errc:
		stopReports()
		<-reported
		return fmt.Errorf("webhooks: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("webhooks: drain timed out", "err", err)
	}
	stopReports()
	<-reported
	s.log.Info("webhooks stopped")
	return nil
}

// receive verifies one delivery and announces it. The answer waits only
// for the notice's PubAck (a millisecond or two on the bus): once it is
// acknowledged, a crash of this process loses nothing, and the duplicate
// flag of the same ack is the replay check, shared by every replica and
// kept across restarts by the stream's duplicate window.
func (s *Service) receive(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	id := r.PathValue("id")
	count := func(system connector.System, outcome string) { s.m.WebhookDelivery(ctx, system, outcome) }
	if bus.ValidateToken(id) != nil {
		count("", OutcomeUnknownConnector)
		http.Error(w, "unknown connector", http.StatusNotFound)
		return
	}
	hook, err := s.hooks.Hook(ctx, id)
	if err != nil {
		if errors.Is(err, connector.ErrNotFound) {
			count("", OutcomeUnknownConnector)
			http.Error(w, "unknown connector", http.StatusNotFound)
			return
		}
		count("", OutcomeError)
		s.log.Warn("webhook: connector lookup failed", "connector", id, "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	c := hook.Connector
	t, _ := s.reg.Lookup(c.System)
	recv, ok := t.(trackers.WebhookReceiver)
	if !ok {
		count(c.System, OutcomeUnknownConnector)
		http.Error(w, "unknown connector", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			count(c.System, OutcomeTooLarge)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		count(c.System, OutcomeError)
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	delivery, err := recv.VerifyWebhook(trackers.WebhookVerify{Header: r.Header, Body: body, Secret: []byte(hook.Secret.Reveal()),
		Now: s.now(), Tolerance: s.cfg.Tolerance})
	if err != nil {
		outcome := OutcomeBadSignature
		switch {
		case errors.Is(err, trackers.ErrWebhookUnsigned):
			outcome = OutcomeUnsigned
		case errors.Is(err, trackers.ErrWebhookStale):
			outcome = OutcomeStale
		}
		count(c.System, outcome)
		s.refused.add(c, outcome)
		s.log.Info("webhook refused", "connector", c.ID, "outcome", outcome)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	keys, err := recv.ParseWebhook(r.Header, body)
	if err != nil {
		// Signed by the tracker but not understood: the reconcile poll
		// will see the change; answering 4xx would only make GitLab
		// disable the hook.
		s.log.Warn("webhook: payload not understood", "connector", c.ID, "err", err)
		keys = nil
	}
	subject, err := bus.WebhookNoticeSubject(string(c.System), c.ID)
	if err != nil {
		count(c.System, OutcomeError)
		http.Error(w, "unknown connector", http.StatusNotFound)
		return
	}
	payload, _ := json.Marshal(bus.WebhookNotice{ConnectorID: c.ID, DeliveryID: delivery, Keys: keys, Received: s.now().UTC()})
	msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{}}
	ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(bus.WebhookNoticeMsgID(c.ID, delivery)))
	if err != nil {
		count(c.System, OutcomeError)
		s.log.Warn("webhook: notice not published", "connector", c.ID, "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if ack.Duplicate {
		count(c.System, OutcomeReplayed)
		s.refused.add(c, OutcomeReplayed)
		s.log.Info("webhook refused", "connector", c.ID, "outcome", OutcomeReplayed)
		http.Error(w, "replayed delivery", http.StatusUnauthorized)
		return
	}
	if len(keys) == 0 {
		count(c.System, OutcomeIgnored)
	} else {
		count(c.System, OutcomeAccepted)
	}
	w.WriteHeader(http.StatusAccepted)
}

// storeHooks reads connectors from the connectors bucket and opens their
// webhook secret (workers' decrypt right).
type storeHooks struct {
	store *connector.Store
	dec   trackers.Decrypter
}

var _ Hooks = storeHooks{}

func (h storeHooks) Hook(ctx context.Context, id string) (Hook, error) {
	c, err := h.store.Get(ctx, id)
	if err != nil {
		return Hook{}, err
	}
	if !c.Webhook || !c.WebhookSecret.Set() || !c.Enabled {
		return Hook{}, fmt.Errorf("%w: %s has no webhook", connector.ErrNotFound, id)
	}
	clear, err := h.dec.Decrypt(ctx, c.WebhookSecretContext(), c.WebhookSecret.Ciphertext)
	if err != nil {
		return Hook{}, fmt.Errorf("webhook secret of %s: %w", id, err)
	}
	return Hook{Connector: c, Secret: connector.NewSecret(string(clear))}, nil
}
