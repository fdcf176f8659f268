package registry

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// busAuditor publishes each audit record on audit.<action> and logs it. A
// failed publish is logged loudly; the mutation it describes has happened and
// is not undone.
type busAuditor struct {
	js  jetstream.JetStream
	log *slog.Logger
}

var _ Auditor = (*busAuditor)(nil)

func (a *busAuditor) Audit(ctx context.Context, rec AuditRecord) {
	ev := &chv1.AuditEvent{
		Time:        timestamppb.New(rec.Time),
		Actor:       rec.Caller.Name,
		Role:        string(rec.Caller.Role),
		Action:      rec.Action,
		ConnectorId: rec.ConnectorID,
		Outcome:     rec.Outcome,
		Fields:      rec.Fields,
	}
	ev.Id = bus.EventID("audit", rec.Action, rec.ConnectorID, rec.Caller.Name, rec.Time.Format("2006-01-02T15:04:05.000000000Z07:00"), rec.Outcome)
	a.log.InfoContext(ctx, "audit", "action", rec.Action, "connector", rec.ConnectorID, "actor", rec.Caller.Name, "outcome", rec.Outcome, "fields", rec.Fields)
	subject, err := bus.AuditSubject(rec.Action)
	if err == nil {
		_, err = bus.Publish(ctx, a.js, subject, ev, bus.WithID(ev.Id), bus.WithSource(bus.Source(bus.ProducerRegistry, rec.ConnectorID)), bus.WithSubject(rec.ConnectorID))
	}
	if err != nil {
		a.log.ErrorContext(ctx, "audit event not published", "action", rec.Action, "connector", rec.ConnectorID, "error", err)
	}
}
