package poller

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/secrets"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// ErrRecordChanged is the poll error of a connector whose stored credential
// no longer decrypts under its record: the record was changed outside the
// registry (its ciphertext is bound to the fields that decide where the
// token goes), so nothing is sent anywhere.
var ErrRecordChanged = errors.New("connector record changed outside the registry; re-enter the credential")

// sessionError explains a session that could not be built. A credential that
// no longer decrypts becomes ErrRecordChanged, with an audit event once per
// connector revision.
func (p *Poller) sessionError(ctx context.Context, c connector.Connector, err error) error {
	if !errors.Is(err, secrets.ErrInvalidCiphertext) {
		return err
	}
	p.mu.Lock()
	first := p.mismatched[c.ID] != c.Revision
	p.mismatched[c.ID] = c.Revision
	p.mu.Unlock()
	if first {
		p.log.ErrorContext(ctx, "credential does not decrypt under its record: nothing sent", "connector", c.ID, "revision", c.Revision)
		ev := &chv1.AuditEvent{
			Time: timestamppb.New(p.clock.Now()), Actor: "poller/" + p.cfg.ReplicaID, Role: "worker",
			Action: "credential.mismatch", ConnectorId: c.ID, Outcome: "refused",
		}
		ev.Id = bus.EventID("audit", ev.Action, c.ID, fmt.Sprint(c.Revision))
		subject, serr := bus.AuditSubject(ev.Action)
		if serr == nil {
			_, serr = bus.Publish(ctx, p.js, subject, ev, bus.WithID(ev.Id), bus.WithSource(bus.Source(bus.ProducerPoller, c.ID)), bus.WithSubject(c.ID))
		}
		if serr != nil {
			p.log.WarnContext(ctx, "audit event not published", "action", ev.Action, "connector", c.ID, "error", serr)
		}
	}
	return fmt.Errorf("%w (hubctl connectors rotate %s)", ErrRecordChanged, c.ID)
}
