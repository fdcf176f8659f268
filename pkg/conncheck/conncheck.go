// Package conncheck checks saved connectors on behalf of the registry: the
// client and the responder of connection tests over NATS request/reply.
//
// The registry may encrypt but not decrypt credentials, so it cannot test a
// saved connector itself. It sends a request on connector.test.<system>; a
// worker with decrypt rights (a poller, or the all-in-one hub) loads the
// connector, decrypts its credential, runs the tracker checks and replies.
// Only the connector id travels in the request and no secret in the reply.
package conncheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// ErrNoWorker means no worker answers tests for the connector's system.
var ErrNoWorker = errors.New("no worker answers connection tests")

// Subject is where tests for a system are requested.
func Subject(system connector.System) string { return "connector.test." + string(system) }

// queue makes one worker of a group answer each request.
const queue = "conncheck"

type request struct {
	ConnectorID string `json:"connector_id"`
}

type reply struct {
	Result trackers.TestResult `json:"result"`
	Error  string              `json:"error,omitempty"`
}

// Client asks workers to test saved connectors.
type Client struct {
	nc *nats.Conn
}

// NewClient returns a client over nc.
func NewClient(nc *nats.Conn) *Client { return &Client{nc: nc} }

// TestSaved asks a worker to test the saved connector c.
func (c *Client) TestSaved(ctx context.Context, conn connector.Connector) (trackers.TestResult, error) {
	data, _ := json.Marshal(request{ConnectorID: conn.ID})
	req := &nats.Msg{Subject: Subject(conn.System), Data: data, Header: nats.Header{}}
	// The worker's tracker calls join the caller's trace (the gRPC call's).
	propagation.TraceContext{}.Inject(ctx, bus.HeaderCarrier(req.Header))
	msg, err := c.nc.RequestMsgWithContext(ctx, req)
	if errors.Is(err, nats.ErrNoResponders) {
		return trackers.TestResult{}, fmt.Errorf("%w for %s: start a worker (poller or hub) with decrypt rights", ErrNoWorker, conn.System)
	}
	if err != nil {
		return trackers.TestResult{}, fmt.Errorf("test %s through a worker: %w", conn.ID, err)
	}
	var r reply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return trackers.TestResult{}, fmt.Errorf("test %s: undecodable worker reply: %w", conn.ID, err)
	}
	if r.Error != "" {
		return trackers.TestResult{}, fmt.Errorf("test %s: worker: %s", conn.ID, r.Error)
	}
	return r.Result, nil
}

// Loader reads a saved connector.
type Loader interface {
	Get(ctx context.Context, id string) (connector.Connector, error)
}

// Decrypter opens a credential bound to its connector id.
type Decrypter interface {
	Decrypt(ctx context.Context, keyContext, ciphertext string) ([]byte, error)
}

// TestFunc runs the tracker checks (trackers.Test in production).
type TestFunc func(ctx context.Context, c connector.Connector, secret connector.Secret) (trackers.TestResult, error)

// Responder answers test requests for some systems.
type Responder struct {
	Loader    Loader
	Decrypter Decrypter
	Test      TestFunc
	// Session, when set, lets the responder create and delete hooks
	// (HookSubject) with the tracker's WebhookRegistrar.
	Session SessionFunc
	Logger  *slog.Logger
}

// Serve subscribes for the given systems until ctx ends, then drains.
func (r *Responder) Serve(ctx context.Context, nc *nats.Conn, systems ...connector.System) error {
	var (
		subs []*nats.Subscription
		wg   sync.WaitGroup
	)
	for _, s := range systems {
		sub, err := nc.QueueSubscribe(Subject(s), queue, func(m *nats.Msg) {
			wg.Add(1)
			defer wg.Done()
			r.answer(ctx, m)
		})
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", Subject(s), err)
		}
		subs = append(subs, sub)
		if r.Session != nil {
			hsub, err := nc.QueueSubscribe(HookSubject(s), queue, func(m *nats.Msg) {
				wg.Add(1)
				defer wg.Done()
				r.answerHook(ctx, m)
			})
			if err != nil {
				return fmt.Errorf("subscribe %s: %w", HookSubject(s), err)
			}
			subs = append(subs, hsub)
		}
	}
	<-ctx.Done()
	for _, sub := range subs {
		_ = sub.Drain()
	}
	wg.Wait()
	return nil
}

func (r *Responder) answer(ctx context.Context, m *nats.Msg) {
	ctx = propagation.TraceContext{}.Extract(ctx, bus.HeaderCarrier(m.Header))
	var req request
	var rep reply
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = "malformed request"
	} else {
		res, err := r.test(ctx, req.ConnectorID)
		rep.Result = res
		if err != nil {
			rep.Error = err.Error()
			r.Logger.WarnContext(ctx, "saved connector test failed", "connector", req.ConnectorID, "error", err)
		}
	}
	data, _ := json.Marshal(rep)
	if err := m.Respond(data); err != nil {
		r.Logger.WarnContext(ctx, "reply to connector test", "error", err)
	}
}

func (r *Responder) test(ctx context.Context, id string) (trackers.TestResult, error) {
	c, err := r.Loader.Get(ctx, id)
	if err != nil {
		return trackers.TestResult{}, err
	}
	var secret connector.Secret
	if c.Credential.Set() {
		clear, err := r.Decrypter.Decrypt(ctx, c.CredentialContext(), c.Credential.Ciphertext)
		if err != nil {
			return trackers.TestResult{}, fmt.Errorf("decrypt credential of %s (a record changed outside the registry no longer decrypts: re-enter the credential): %w", c.ID, err)
		}
		secret = connector.NewSecret(string(clear))
	}
	return r.Test(ctx, c, secret)
}
