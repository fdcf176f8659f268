package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
)

// refusals gathers the deliveries refused per connector between reports,
// so a flood of forged deliveries costs one bus message per connector per
// WEBHOOK_REFUSAL_REPORT, not one per delivery. The poller holding the
// connector adds the figures to its poll state (the connector's status).
type refusals struct {
	mu      sync.Mutex
	pending map[string]*refusal
}

type refusal struct {
	system connector.System
	n      int
	reason string
}

func (r *refusals) add(c connector.Connector, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[string]*refusal{}
	}
	p := r.pending[c.ID]
	if p == nil {
		p = &refusal{system: c.System}
		r.pending[c.ID] = p
	}
	p.n++
	p.reason = reason
}

func (r *refusals) take() map[string]*refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.pending
	r.pending = nil
	return out
}

// ReportRefusals publishes the refusals gathered since the last report as
// one notice per connector (bus.WebhookNotice with Refused set). Run calls
// it every WEBHOOK_REFUSAL_REPORT and at shutdown.
func (s *Service) ReportRefusals(ctx context.Context) {
	for id, p := range s.refused.take() {
		subject, err := bus.WebhookNoticeSubject(string(p.system), id)
		if err != nil {
			continue
		}
		var nonce [8]byte
		_, _ = rand.Read(nonce[:])
		payload, _ := json.Marshal(bus.WebhookNotice{ConnectorID: id, Refused: p.n, Reason: p.reason, Received: s.now().UTC()})
		msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{}}
		if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID("webhook-refused:"+id+":"+hex.EncodeToString(nonce[:]))); err != nil {
			s.log.Warn("webhook: refusal report not published", "connector", id, "refused", p.n, "err", err)
		}
	}
}

// reportLoop reports refusals until ctx ends, then once more.
func (s *Service) reportLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.cfg.RefusalReport)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.ReportRefusals(rctx)
			cancel()
			return
		case <-t.C:
			s.ReportRefusals(ctx)
		}
	}
}
