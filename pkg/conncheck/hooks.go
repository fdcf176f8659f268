package conncheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Creating and deleting a connector's hook on its tracker needs the
// credential and the webhook secret in clear, so, like a saved-connector
// test, the registry asks a worker with decrypt rights. The subject sits
// under connector.test.> so the roles that request and serve tests carry it
// without a new permission. Only the connector id, the hook URL and the
// hook id travel; the worker reads both secrets from the stored record.

// HookSubject is where hook operations for a system are requested.
func HookSubject(system connector.System) string { return Subject(system) + ".webhook" }

// Hook operations.
const (
	HookCreate = "create"
	HookDelete = "delete"
)

type hookRequest struct {
	ConnectorID string `json:"connector_id"`
	Op          string `json:"op"`
	URL         string `json:"url,omitempty"`
	HookID      string `json:"hook_id,omitempty"`
}

type hookReply struct {
	HookID string `json:"hook_id,omitempty"`
	// Manual: the tracker (or its auth mode) does not let this credential
	// create hooks (trackers.ErrWebhookManual); Error says why.
	Manual bool   `json:"manual,omitempty"`
	Error  string `json:"error,omitempty"`
}

// CreateWebhook asks a worker to create conn's hook pointing at url, signed
// with the webhook secret stored (encrypted) in conn's saved record. An
// error wrapping trackers.ErrWebhookManual means an admin must create it.
func (c *Client) CreateWebhook(ctx context.Context, conn connector.Connector, url string) (string, error) {
	r, err := c.hookCall(ctx, conn, hookRequest{ConnectorID: conn.ID, Op: HookCreate, URL: url})
	if err != nil {
		return "", err
	}
	return r.HookID, nil
}

// DeleteWebhook asks a worker to delete conn's hook hookID (conn must still be saved).
func (c *Client) DeleteWebhook(ctx context.Context, conn connector.Connector, hookID string) error {
	_, err := c.hookCall(ctx, conn, hookRequest{ConnectorID: conn.ID, Op: HookDelete, HookID: hookID})
	return err
}

func (c *Client) hookCall(ctx context.Context, conn connector.Connector, hr hookRequest) (hookReply, error) {
	data, _ := json.Marshal(hr)
	req := &nats.Msg{Subject: HookSubject(conn.System), Data: data, Header: nats.Header{}}
	propagation.TraceContext{}.Inject(ctx, bus.HeaderCarrier(req.Header))
	msg, err := c.nc.RequestMsgWithContext(ctx, req)
	if errors.Is(err, nats.ErrNoResponders) {
		return hookReply{}, fmt.Errorf("%w for %s: start a worker (poller or hub) with decrypt rights", ErrNoWorker, conn.System)
	}
	if err != nil {
		return hookReply{}, fmt.Errorf("webhook %s of %s through a worker: %w", hr.Op, conn.ID, err)
	}
	var r hookReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return hookReply{}, fmt.Errorf("webhook %s of %s: undecodable worker reply: %w", hr.Op, conn.ID, err)
	}
	switch {
	case r.Manual:
		return r, fmt.Errorf("%w (%s)", trackers.ErrWebhookManual, r.Error)
	case r.Error != "":
		return r, fmt.Errorf("webhook %s of %s: worker: %s", hr.Op, conn.ID, r.Error)
	}
	return r, nil
}

// SessionFunc opens a tracker session for a connector with its clear credential.
type SessionFunc func(c connector.Connector, secret connector.Secret) (*trackers.Session, trackers.Tracker, error)

func (r *Responder) answerHook(ctx context.Context, m *nats.Msg) {
	ctx = propagation.TraceContext{}.Extract(ctx, bus.HeaderCarrier(m.Header))
	var req hookRequest
	var rep hookReply
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = "malformed request"
	} else {
		id, err := r.hook(ctx, req)
		rep.HookID = id
		if err != nil {
			rep.Error = err.Error()
			rep.Manual = errors.Is(err, trackers.ErrWebhookManual)
			if !rep.Manual {
				r.Logger.WarnContext(ctx, "webhook registration failed", "connector", req.ConnectorID, "op", req.Op, "error", err)
			}
		}
	}
	data, _ := json.Marshal(rep)
	if err := m.Respond(data); err != nil {
		r.Logger.WarnContext(ctx, "reply to webhook registration", "error", err)
	}
}

func (r *Responder) hook(ctx context.Context, req hookRequest) (string, error) {
	if r.Session == nil {
		return "", errors.New("this worker does not register webhooks")
	}
	c, err := r.Loader.Get(ctx, req.ConnectorID)
	if err != nil {
		return "", err
	}
	var secret connector.Secret
	if c.Credential.Set() {
		clear, err := r.Decrypter.Decrypt(ctx, c.CredentialContext(), c.Credential.Ciphertext)
		if err != nil {
			return "", fmt.Errorf("decrypt credential of %s: %w", c.ID, err)
		}
		secret = connector.NewSecret(string(clear))
	}
	s, tr, err := r.Session(c, secret)
	if err != nil {
		return "", err
	}
	reg, ok := tr.(trackers.WebhookRegistrar)
	if !ok {
		return "", fmt.Errorf("%w: %s has no webhook API here", trackers.ErrWebhookManual, c.System)
	}
	switch req.Op {
	case HookDelete:
		return "", reg.DeleteWebhook(ctx, s, req.HookID)
	case HookCreate:
		if !c.WebhookSecret.Set() {
			return "", fmt.Errorf("connector %s has no webhook secret", c.ID)
		}
		hs, err := r.Decrypter.Decrypt(ctx, c.WebhookSecretContext(), c.WebhookSecret.Ciphertext)
		if err != nil {
			return "", fmt.Errorf("decrypt webhook secret of %s: %w", c.ID, err)
		}
		return reg.CreateWebhook(ctx, s, req.URL, hs)
	}
	return "", fmt.Errorf("unknown webhook operation %q", req.Op)
}

// RegistrySessions opens sessions through the tracker registry (production).
func RegistrySessions(reg *trackers.Registry, opts trackers.Options) SessionFunc {
	return func(c connector.Connector, secret connector.Secret) (*trackers.Session, trackers.Tracker, error) {
		tr, ok := reg.Lookup(c.System)
		if !ok {
			return nil, nil, fmt.Errorf("%w: %s", trackers.ErrUnknownSystem, c.System)
		}
		s, err := reg.NewSession(c, secret, opts)
		return s, tr, err
	}
}
