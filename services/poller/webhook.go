package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

// consumeNotices follows webhook.notice.<system>.> for this replica's
// systems (services/webhooks publishes one per verified delivery) and makes
// the named connector due at once, if this replica holds its lease. The
// cycle that follows is the ordinary one: the same tracker listing, the
// same deterministic event ids, the same poll_state bookkeeping, by the one
// writer of that state. So a change the webhook announced and the poll then
// sees again is published once (JetStream drops the second by its id), and
// a notice that is lost (no replica running, a crash between the ack and
// the cycle) is recovered by the reconcile poll.
//
// Each replica reads every notice of its systems with an ordered consumer
// from the newest (no durable to share: a notice is only a hint, acted on
// by the lease holder and ignored by the others).
func (p *Poller) consumeNotices(ctx context.Context) (stop func(), err error) {
	var filters []string
	for _, sys := range p.systemList() {
		filters = append(filters, fmt.Sprintf("webhook.notice.%s.>", sys))
	}
	if len(filters) == 0 {
		return func() {}, nil
	}
	cons, err := p.js.OrderedConsumer(ctx, bus.StreamWebhooks, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, fmt.Errorf("poller: webhook notices: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var n bus.WebhookNotice
		if err := json.Unmarshal(m.Data(), &n); err != nil {
			p.log.Warn("webhook notice unreadable", "subject", m.Subject(), "error", err)
			return
		}
		id := n.ConnectorID
		if parts := strings.Split(m.Subject(), "."); len(parts) == 4 {
			id = parts[3] // the subject is authoritative (the role that may publish it)
		}
		if n.Refused > 0 {
			p.sched.refusedDeliveries(id, n.Refused, n.Reason)
			return
		}
		if p.sched.notice(id) {
			p.log.Debug("webhook notice", "connector", id, "delivery", n.DeliveryID, "keys", n.Keys)
			p.sched.dispatch()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("poller: webhook notices: %w", err)
	}
	return cc.Stop, nil
}
