package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrNotCloudEvent: the message lacks a required CloudEvents 1.0
	// attribute, has another spec version, or an unparsable ce-time.
	ErrNotCloudEvent = errors.New("bus: not a CloudEvents 1.0 binary-mode message")
	// ErrBadPayload: the payload is not protobuf JSON of the expected message.
	ErrBadPayload = errors.New("bus: undecodable event payload")
	// ErrPermanent marks a handler error that retrying cannot fix; Consume
	// terminates the message instead of redelivering it. Wrap it with %w.
	ErrPermanent = errors.New("bus: permanent failure")
)

// Permanent wraps err so that Consume terminates the message.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// Decode checks msg's CloudEvents headers and unmarshals its protobuf JSON
// payload into into. Unknown JSON fields are ignored, so producers can add
// fields before consumers know them.
func Decode[T proto.Message](msg jetstream.Msg, into T) (Envelope, error) {
	h := msg.Headers()
	switch v := h.Get(HeaderSpecVersion); v {
	case SpecVersion:
	case "":
		return Envelope{}, fmt.Errorf("%w: missing %s", ErrNotCloudEvent, HeaderSpecVersion)
	default:
		return Envelope{}, fmt.Errorf("%w: %s %q", ErrNotCloudEvent, HeaderSpecVersion, v)
	}
	env := Envelope{
		ID:      h.Get(HeaderID),
		Type:    h.Get(HeaderType),
		Source:  h.Get(HeaderSource),
		Subject: h.Get(HeaderSubject),
		Header:  h,
	}
	for _, a := range [...]struct{ name, v string }{{HeaderID, env.ID}, {HeaderSource, env.Source}, {HeaderType, env.Type}} {
		if a.v == "" {
			return Envelope{}, fmt.Errorf("%w: missing %s", ErrNotCloudEvent, a.name)
		}
	}
	if ts := h.Get(HeaderTime); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Envelope{}, fmt.Errorf("%w: %s: %v", ErrNotCloudEvent, HeaderTime, err)
		}
		env.Time = t
	}
	if ct := h.Get(HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != ContentTypeJSON {
			return Envelope{}, fmt.Errorf("%w: content-type %q, want %s", ErrBadPayload, ct, ContentTypeJSON)
		}
	}
	if err := unmarshal.Unmarshal(msg.Data(), into); err != nil {
		return Envelope{}, fmt.Errorf("%w: %s: %v", ErrBadPayload, env.Type, err)
	}
	if md, err := msg.Metadata(); err == nil {
		env.Delivered = md.NumDelivered
	}
	return env, nil
}

// Backoff returns the redelivery delay after the delivered-th attempt failed.
type Backoff func(delivered uint64) time.Duration

// ExponentialBackoff doubles the delay from base per delivery, up to max.
func ExponentialBackoff(base, max time.Duration) Backoff {
	return func(delivered uint64) time.Duration {
		d := base
		for i := uint64(1); i < delivered && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

type consumeConfig struct {
	logger      *slog.Logger
	backoff     Backoff
	concurrency int
	pullOpts    []jetstream.PullConsumeOpt
}

// ConsumeOption configures Consume.
type ConsumeOption interface{ applyConsume(*consumeConfig) }

type consumeOptionFunc func(*consumeConfig)

func (f consumeOptionFunc) applyConsume(c *consumeConfig) { f(c) }

// WithLogger sets where poison messages and ack failures are logged;
// default: discarded.
func WithLogger(l *slog.Logger) ConsumeOption {
	return consumeOptionFunc(func(c *consumeConfig) { c.logger = l })
}

// WithBackoff sets the redelivery delay after a handler error; default
// ExponentialBackoff(time.Second, time.Minute). The consumer's MaxDeliver
// bounds the attempts.
func WithBackoff(b Backoff) ConsumeOption {
	return consumeOptionFunc(func(c *consumeConfig) { c.backoff = b })
}

// WithConcurrency runs up to n handlers at once; default 1 (in order).
func WithConcurrency(n int) ConsumeOption {
	return consumeOptionFunc(func(c *consumeConfig) { c.concurrency = n })
}

// WithPullOpts passes options through to jetstream.Consumer.Consume.
func WithPullOpts(opts ...jetstream.PullConsumeOpt) ConsumeOption {
	return consumeOptionFunc(func(c *consumeConfig) { c.pullOpts = append(c.pullOpts, opts...) })
}

// Handler processes one decoded event. ctx carries the CONSUMER span of
// processing it, a child of the publisher's trace context. Return nil to
// ack, an error to have the event redelivered after a backoff, or an error
// wrapping ErrPermanent to terminate it.
type Handler[T proto.Message] func(ctx context.Context, env Envelope, msg T) error

// Consume delivers the events of cons to handler, decoding each into a fresh
// newMsg(). A message that is not a CloudEvent or whose payload does not
// decode is poison: it is logged and terminated, never redelivered.
//
// Consuming ends when ctx is done or stop is called. Both drain: no new
// messages are taken, and stop returns once in-flight handlers have finished.
// Handlers see ctx, so cancelling it also cancels their work; call stop
// before cancelling for a graceful shutdown.
func Consume[T proto.Message](ctx context.Context, cons jetstream.Consumer, newMsg func() T, handler Handler[T], opts ...ConsumeOption) (stop func(), err error) {
	c := consumeConfig{
		logger:      slog.New(slog.DiscardHandler),
		backoff:     ExponentialBackoff(time.Second, time.Minute),
		concurrency: 1,
	}
	for _, o := range opts {
		o.applyConsume(&c)
	}
	if c.concurrency < 1 {
		return nil, fmt.Errorf("%w: concurrency %d", ErrInvalidOptions, c.concurrency)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logger := c.logger
	var (
		ackWait time.Duration
		group   string // messaging.consumer.group.name: the durable name
	)
	if info := cons.CachedInfo(); info != nil {
		logger = logger.With("stream", info.Stream, "consumer", info.Name)
		ackWait = info.Config.AckWait
		group = info.Config.Durable
	}

	process := func(m jetstream.Msg) {
		msg := newMsg()
		env, err := Decode(m, msg)
		if err != nil {
			logger.Warn("bus: terminating poison message", "subject", m.Subject(), "error", err)
			if err := m.TermWithReason(err.Error()); err != nil {
				logger.Warn("bus: term failed", "subject", m.Subject(), "error", err)
			}
			return
		}
		log := logger.With("subject", m.Subject(), "ce_id", env.ID)
		stopBeat := heartbeat(m, ackWait, log)
		hctx, span := traceProcess(extract(ctx, m.Headers()), m.Subject(), env.ID, group, len(m.Data()))
		err = handler(hctx, env, msg)
		endSpan(span, err)
		stopBeat()
		switch {
		case err == nil:
			if err := m.Ack(); err != nil {
				log.Warn("bus: ack failed", "error", err)
			}
		case errors.Is(err, ErrPermanent):
			log.Warn("bus: handler failed permanently, terminating", "error", err)
			if err := m.TermWithReason(err.Error()); err != nil {
				log.Warn("bus: term failed", "error", err)
			}
		default:
			var delivered uint64 = 1
			if md, mdErr := m.Metadata(); mdErr == nil {
				delivered = md.NumDelivered
			}
			delay := c.backoff(delivered)
			log.Info("bus: handler failed, redelivering", "delivered", delivered, "delay", delay, "error", err)
			if err := m.NakWithDelay(delay); err != nil {
				log.Warn("bus: nak failed", "error", err)
			}
		}
	}

	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, c.concurrency)
	)
	cb := process
	if c.concurrency > 1 {
		// Blocking in the callback when every slot is busy keeps the
		// client from pulling faster than handlers finish.
		cb = func(m jetstream.Msg) {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				process(m)
			})
		}
	}
	pullOpts := append([]jetstream.PullConsumeOpt{
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			logger.Warn("bus: consume error", "error", err)
		}),
	}, c.pullOpts...)
	cc, err := cons.Consume(cb, pullOpts...)
	if err != nil {
		return nil, fmt.Errorf("bus: consume: %w", err)
	}

	var once sync.Once
	stop = func() {
		once.Do(func() {
			cc.Drain()
			<-cc.Closed()
			// Handlers started by the callback finish after it returns.
			wg.Wait()
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-cc.Closed():
		}
	}()
	return stop, nil
}

// heartbeat tells the server, every third of the consumer's ack wait, that m
// is still being worked on, so a short ack wait (a crashed worker's messages
// come back soon) does not redeliver a handler that is merely slow. The
// returned func stops it.
func heartbeat(m jetstream.Msg, ackWait time.Duration, log *slog.Logger) (stop func()) {
	if ackWait <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := m.InProgress(); err != nil {
					log.Debug("bus: in-progress ack failed", "error", err)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
