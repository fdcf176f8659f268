package poller

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Source is the ce-source of the poller's events about connector id.
func Source(connectorID string) string { return bus.Source(bus.ProducerPoller, connectorID) }

// TicketEventID is the deterministic id of a discovered/updated event: the
// same ticket version gives the same id, so a replay or a second replica
// cannot publish a duplicate (JetStream drops it in the duplicate window, and
// consumers can dedup on ce-id beyond it).
func TicketEventID(connectorID, key string, updated time.Time) string {
	return bus.EventID(connectorID, key, updated.UTC().Format(time.RFC3339Nano))
}

// ticketEvent is the event of a ticket version pt (TicketToProto of tk);
// changed and actor fill TicketUpdated.
func (p *Poller) ticketEvent(ctx context.Context, kind string, c connector.Connector, tk trackers.Ticket, pt *chv1.Ticket, changed []string, actor string) (*nats.Msg, error) {
	subject, err := bus.TicketSubject(kind, string(c.System), c.ID)
	if err != nil {
		return nil, err
	}
	capBodies(pt, p.cfg.MaxBodyBytes)
	opts := []bus.PublishOption{
		bus.WithID(TicketEventID(c.ID, tk.Key, tk.Updated)), bus.WithSource(Source(c.ID)),
		bus.WithSubject(tk.Key), bus.WithTime(tk.Updated), bus.WithEncoder(encodeTicketEvent),
	}
	return fitEvent(pt, p.maxEventBytes(), func(t *chv1.Ticket) (*nats.Msg, error) {
		if kind == bus.TicketUpdated {
			return bus.NewMsg(ctx, subject, &chv1.TicketUpdated{Ticket: t, ChangedFields: changed, Actor: actor}, opts...)
		}
		return bus.NewMsg(ctx, subject, &chv1.TicketDiscovered{Ticket: t}, opts...)
	})
}

// maxEventBytes is POLLER_MAX_EVENT_BYTES, or the server's payload limit
// when that is lower.
func (p *Poller) maxEventBytes() int {
	limit := p.cfg.MaxEventBytes
	if nc := p.js.Conn(); nc != nil {
		if mp := int(nc.MaxPayload()); mp > 0 && mp < limit {
			limit = mp
		}
	}
	return limit
}

func (p *Poller) closedEvent(ctx context.Context, c connector.Connector, key string, lastUpdated time.Time, reason string) (*nats.Msg, error) {
	subject, err := bus.TicketSubject(bus.TicketClosed, string(c.System), c.ID)
	if err != nil {
		return nil, err
	}
	now := p.now()
	ev := &chv1.TicketClosed{ConnectorId: c.ID, System: connectorpb.SystemToProto(c.System), Key: key, Reason: reason, CloseTime: timestamppb.New(now)}
	return bus.NewMsg(ctx, subject, ev,
		bus.WithID(bus.EventID(c.ID, key, "closed", lastUpdated.UTC().Format(time.RFC3339Nano))),
		bus.WithSource(Source(c.ID)), bus.WithSubject(key), bus.WithTime(now))
}

func tsOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func userToProto(u trackers.User) *chv1.User {
	if u == (trackers.User{}) {
		return nil
	}
	return &chv1.User{Id: u.ID, Login: u.Login, DisplayName: u.DisplayName, Email: u.Email}
}

func linkToProto(l trackers.TicketLink) *chv1.TicketRef {
	return &chv1.TicketRef{Key: l.Key, Url: l.URL, Summary: l.Summary, Status: l.Status}
}

// TicketToProto is the event payload of a ticket.
func TicketToProto(c connector.Connector, tk trackers.Ticket) *chv1.Ticket {
	out := &chv1.Ticket{
		ConnectorId: c.ID, System: connectorpb.SystemToProto(c.System), Key: tk.Key, Url: tk.URL, Summary: tk.Summary,
		DescriptionText: tk.DescriptionText, DescriptionMarkdown: tk.DescriptionMarkdown,
		Status: tk.Status, Priority: tk.Priority, Labels: tk.Labels,
		Reporter: userToProto(tk.Reporter), Assignee: userToProto(tk.Assignee),
		CreateTime: tsOrNil(tk.Created), UpdateTime: tsOrNil(tk.Updated),
	}
	if tk.Parent != nil {
		out.Parent = linkToProto(*tk.Parent)
	}
	for _, s := range tk.Subtasks {
		out.Subtasks = append(out.Subtasks, linkToProto(s))
	}
	for _, s := range tk.Siblings {
		out.Siblings = append(out.Siblings, linkToProto(s))
	}
	out.Components = tk.Components
	for _, cm := range tk.Comments {
		out.Comments = append(out.Comments, &chv1.Comment{Id: cm.ID, Author: userToProto(cm.Author), BodyMarkdown: cm.Markdown, CreateTime: tsOrNil(cm.Created)})
	}
	for _, a := range tk.Attachments {
		out.Attachments = append(out.Attachments, &chv1.Attachment{Id: a.ID, Filename: a.Filename, MediaType: a.MediaType, SizeBytes: a.Size, Url: a.URL})
	}
	return out
}
