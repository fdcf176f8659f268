package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	connectorhubv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// recorder is a slog.Handler that keeps messages, to observe poison handling.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// resultConsumer creates a durable consumer on RESULTS with a short ack wait,
// so a message that was neither acked nor terminated would come back quickly.
func resultConsumer(t *testing.T, js jetstream.JetStream) jetstream.Consumer {
	t.Helper()
	cons, err := js.CreateOrUpdateConsumer(t.Context(), bus.StreamResults, jetstream.ConsumerConfig{
		Durable:   "writeback",
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

func publishResult(t *testing.T, js jetstream.JetStream, ctx context.Context, resultID string) {
	t.Helper()
	subj, _ := bus.ResultSubject("jira", "c1")
	if _, err := bus.Publish(ctx, js, subj, &connectorhubv1.ResultReady{ResultId: resultID},
		bus.WithID(bus.EventID(resultID))); err != nil {
		t.Fatal(err)
	}
}

func newResult() *connectorhubv1.ResultReady { return &connectorhubv1.ResultReady{} }

func consumerIdle(t *testing.T, cons jetstream.Consumer, acked uint64) func() bool {
	return func() bool {
		ci, err := cons.Info(t.Context())
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream == acked
	}
}

func TestConsumeDeliversDecodedEventsWithTraceContext(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	cons := resultConsumer(t, js)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
	})
	publishResult(t, js, trace.ContextWithSpanContext(t.Context(), sc), "r1")

	type delivery struct {
		env bus.Envelope
		msg *connectorhubv1.ResultReady
		sc  trace.SpanContext
	}
	got := make(chan delivery, 1)
	stop, err := bus.Consume(t.Context(), cons, newResult,
		func(ctx context.Context, env bus.Envelope, msg *connectorhubv1.ResultReady) error {
			got <- delivery{env, msg, trace.SpanContextFromContext(ctx)}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	select {
	case d := <-got:
		if d.msg.GetResultId() != "r1" || d.env.ID != bus.EventID("r1") {
			t.Errorf("got %v with id %s", d.msg, d.env.ID)
		}
		if d.sc.TraceID() != sc.TraceID() || d.sc.SpanID() != sc.SpanID() || !d.sc.IsRemote() {
			t.Errorf("handler span context %+v, want remote %+v", d.sc, sc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	testenv.Eventually(t, 10*time.Second, "ack", consumerIdle(t, cons, 1))
}

func TestConsumeTerminatesPoisonAndContinues(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	cons := resultConsumer(t, js)
	// Not a CloudEvent, then a CloudEvent whose payload is not a ResultReady.
	if _, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: "result.ready.jira.c1", Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	badPayload, _ := bus.NewMsg(t.Context(), "result.ready.jira.c1", newResult())
	badPayload.Data = []byte(`{"resultId": 7}`)
	if _, err := js.PublishMsg(t.Context(), badPayload); err != nil {
		t.Fatal(err)
	}
	publishResult(t, js, t.Context(), "good")

	rec := &recorder{}
	var handled atomic.Int32
	stop, err := bus.Consume(t.Context(), cons, newResult,
		func(_ context.Context, _ bus.Envelope, msg *connectorhubv1.ResultReady) error {
			if msg.GetResultId() != "good" {
				t.Errorf("handler got %v", msg)
			}
			handled.Add(1)
			return nil
		}, bus.WithLogger(slog.New(rec)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	// Settled on the server: acknowledged up to the third message, none
	// awaiting an ack or pending. A poison message that was merely nak'd or
	// left unacked would keep the consumer from this state (and come back),
	// so there is nothing left to redeliver and no need to wait and see.
	testenv.Eventually(t, 10*time.Second, "all three settled", consumerIdle(t, cons, 3))
	if n := handled.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
	if n := rec.count("bus: terminating poison message"); n != 2 {
		t.Errorf("logged %d poison messages, want 2 (%q)", n, rec.msgs)
	}
	if ci, err := cons.Info(t.Context()); err != nil || ci.NumRedelivered != 0 {
		t.Errorf("consumer info %+v, %v: want no redeliveries", ci, err)
	}
}

func TestConsumeRedeliversAfterHandlerError(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	cons := resultConsumer(t, js)
	publishResult(t, js, t.Context(), "r1")

	var calls atomic.Int32
	done := make(chan struct{})
	stop, err := bus.Consume(t.Context(), cons, newResult,
		func(context.Context, bus.Envelope, *connectorhubv1.ResultReady) error {
			switch calls.Add(1) {
			case 1:
				return errors.New("tracker unavailable")
			case 2:
				close(done)
			}
			return nil
		}, bus.WithBackoff(func(uint64) time.Duration { return 20 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("not redelivered after a handler error")
	}
	testenv.Eventually(t, 10*time.Second, "ack after retry", consumerIdle(t, cons, 1))
}

func TestConsumeTerminatesOnPermanentError(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	cons := resultConsumer(t, js)
	publishResult(t, js, t.Context(), "r1")
	var calls atomic.Int32
	stop, err := bus.Consume(t.Context(), cons, newResult,
		func(context.Context, bus.Envelope, *connectorhubv1.ResultReady) error {
			calls.Add(1)
			return bus.Permanent(fmt.Errorf("ticket deleted"))
		}, bus.WithBackoff(func(uint64) time.Duration { return 0 }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	// Settled (see TestConsumeTerminatesPoisonAndContinues): a message that
	// was not terminated would still await its ack or a redelivery.
	testenv.Eventually(t, 10*time.Second, "termination", consumerIdle(t, cons, 1))
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times after a permanent error, want 1", n)
	}
}

func TestConsumeStopWaitsForInFlightHandlers(t *testing.T) {
	t.Parallel()
	for _, concurrency := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			t.Parallel()
			js := newBus(t)
			cons := resultConsumer(t, js)
			publishResult(t, js, t.Context(), "r1")
			started, release := make(chan struct{}), make(chan struct{})
			stop, err := bus.Consume(t.Context(), cons, newResult,
				func(context.Context, bus.Envelope, *connectorhubv1.ResultReady) error {
					close(started)
					<-release
					return nil
				}, bus.WithConcurrency(concurrency))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("no delivery")
			}
			// That stop does not return before the handler is shown in a
			// bubble (TestConsumeStopBlocksWhileAHandlerRuns); here, over a
			// real server, the in-flight message is still acknowledged.
			stopped := make(chan struct{})
			go func() { stop(); close(stopped) }()
			close(release)
			select {
			case <-stopped:
			case <-time.After(10 * time.Second):
				t.Fatal("stop did not return after the handler finished")
			}
			testenv.Eventually(t, 10*time.Second, "in-flight message acked", consumerIdle(t, cons, 1))
		})
	}
}

// fakeConsumer hands messages to Consume's callback the way a jetstream
// pull consumer does, without a server, so that a synctest bubble can hold
// the test: nats.go keeps timers in a process-wide pool, and a timer made in
// a bubble and used outside it is a fatal error, so an embedded server
// cannot join one. Drain stops taking messages; Closed is closed once the
// callback under way has returned.
type fakeConsumer struct {
	jetstream.Consumer // nil: bus.Consume only calls Consume and CachedInfo
	msgs               chan jetstream.Msg
	cc                 *fakeConsumeContext
}

func newFakeConsumer() *fakeConsumer { return &fakeConsumer{msgs: make(chan jetstream.Msg)} }

func (*fakeConsumer) CachedInfo() *jetstream.ConsumerInfo { return nil }

func (f *fakeConsumer) Consume(cb jetstream.MessageHandler, _ ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	f.cc = &fakeConsumeContext{drain: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		defer close(f.cc.closed)
		for {
			select {
			case <-f.cc.drain:
				return
			case m := <-f.msgs:
				cb(m)
			}
		}
	}()
	return f.cc, nil
}

type fakeConsumeContext struct {
	once          sync.Once
	drain, closed chan struct{}
}

func (c *fakeConsumeContext) Stop()                   { c.Drain() }
func (c *fakeConsumeContext) Drain()                  { c.once.Do(func() { close(c.drain) }) }
func (c *fakeConsumeContext) Closed() <-chan struct{} { return c.closed }

// fakeMsg is a ResultReady event as a jetstream.Msg.
type fakeMsg struct {
	jetstream.Msg // nil: only the methods below are called
	m             *nats.Msg
}

func newFakeMsg(t *testing.T, resultID string) fakeMsg {
	t.Helper()
	subj, _ := bus.ResultSubject("jira", "c1")
	m, err := bus.NewMsg(t.Context(), subj, &connectorhubv1.ResultReady{ResultId: resultID}, bus.WithID(bus.EventID(resultID)))
	if err != nil {
		t.Fatal(err)
	}
	return fakeMsg{m: m}
}

func (f fakeMsg) Headers() nats.Header { return f.m.Header }
func (f fakeMsg) Data() []byte         { return f.m.Data }
func (f fakeMsg) Subject() string      { return f.m.Subject }
func (f fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: 1}, nil
}
func (fakeMsg) Ack() error                       { return nil }
func (fakeMsg) NakWithDelay(time.Duration) error { return nil }
func (fakeMsg) TermWithReason(string) error      { return nil }

// TestConsumeStopBlocksWhileAHandlerRuns runs in a synctest bubble: once
// every goroutine is blocked, stop must still be waiting for the handler.
func TestConsumeStopBlocksWhileAHandlerRuns(t *testing.T) {
	t.Parallel()
	for _, concurrency := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				cons := newFakeConsumer()
				started, release := make(chan struct{}), make(chan struct{})
				var returned atomic.Bool
				stop, err := bus.Consume(t.Context(), cons, newResult,
					func(context.Context, bus.Envelope, *connectorhubv1.ResultReady) error {
						close(started)
						<-release
						returned.Store(true)
						return nil
					}, bus.WithConcurrency(concurrency))
				if err != nil {
					t.Fatal(err)
				}
				cons.msgs <- newFakeMsg(t, "r1")
				<-started
				stopped := make(chan struct{})
				go func() { stop(); close(stopped) }()
				synctest.Wait()
				select {
				case <-stopped:
					t.Fatal("stop returned while a handler was running")
				default:
				}
				close(release)
				<-stopped
				if !returned.Load() {
					t.Fatal("stop returned before the handler")
				}
			})
		})
	}
}

// TestConsumeStopsWhenContextIsDone: cancelling ctx alone (stop is not
// called) drains the consumer, and nothing is handled afterwards. In a
// synctest bubble, so that "afterwards" is every goroutine having settled.
func TestConsumeStopsWhenContextIsDone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cons := newFakeConsumer()
		ctx, cancel := context.WithCancel(t.Context())
		var calls atomic.Int32
		stop, err := bus.Consume(ctx, cons, newResult,
			func(context.Context, bus.Envelope, *connectorhubv1.ResultReady) error {
				calls.Add(1)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		cons.msgs <- newFakeMsg(t, "before")
		cancel()
		synctest.Wait()
		select {
		case <-cons.cc.Closed():
		default:
			t.Fatal("the consumer was not drained when ctx was done")
		}
		select {
		case cons.msgs <- newFakeMsg(t, "after"):
			t.Fatal("a message was taken after ctx was done")
		default:
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1: consuming continued after ctx was done", n)
		}
	})
}

func TestConsumeRejectsZeroConcurrency(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	_, err := bus.Consume(t.Context(), resultConsumer(t, js), newResult,
		func(context.Context, bus.Envelope, *connectorhubv1.ResultReady) error { return nil },
		bus.WithConcurrency(0))
	if !errors.Is(err, bus.ErrInvalidOptions) {
		t.Fatalf("err = %v, want ErrInvalidOptions", err)
	}
}

func TestExponentialBackoff(t *testing.T) {
	t.Parallel()
	b := bus.ExponentialBackoff(time.Second, 10*time.Second)
	for delivered, want := range map[uint64]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 1000: 10 * time.Second} {
		if got := b(delivered); got != want {
			t.Errorf("backoff(%d) = %s, want %s", delivered, got, want)
		}
	}
}

// A handler that works longer than the consumer's ack wait is kept alive by
// in-progress acks, so a short ack wait (which brings a crashed worker's
// messages back soon) never redelivers a message that is merely slow.
func TestConsumeKeepsASlowHandlersMessageInProgress(t *testing.T) {
	t.Parallel()
	js := newBus(t)
	cons, err := js.CreateOrUpdateConsumer(t.Context(), bus.StreamResults, jetstream.ConsumerConfig{
		Durable:   "slow",
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	publishResult(t, js, t.Context(), "r-slow")
	var calls atomic.Int32
	stop, err := bus.Consume(t.Context(), cons, newResult,
		func(ctx context.Context, _ bus.Envelope, _ *connectorhubv1.ResultReady) error {
			if calls.Add(1) == 1 {
				select { // two and a half ack waits
				case <-time.After(5 * time.Second):
				case <-ctx.Done():
				}
			}
			return nil
		}, bus.WithConcurrency(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	testenv.Eventually(t, 30*time.Second, "the slow message acked", consumerIdle(t, cons, 1))
	if n := calls.Load(); n != 1 {
		t.Fatalf("the slow message was handled %d times, want once", n)
	}
}
