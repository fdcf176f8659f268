package poller

import (
	"context"
	"fmt"
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
	// Formatted into a stack buffer: EventID keeps none of its parts.
	var buf [40]byte
	return bus.EventID(connectorID, key, string(updated.UTC().AppendFormat(buf[:0], time.RFC3339Nano)))
}

// eventNames are what every ticket event of a connector shares: its
// subjects and ce-source, built once per cycle rather than per ticket (two
// strings a ticket, issue 9 req. 4).
type eventNames struct {
	connectorID, discovered, updated, source string
}

func newEventNames(c connector.Connector) (eventNames, error) {
	d, err := bus.TicketSubject(bus.TicketDiscovered, string(c.System), c.ID)
	if err != nil {
		return eventNames{}, err
	}
	u, err := bus.TicketSubject(bus.TicketUpdated, string(c.System), c.ID)
	if err != nil {
		return eventNames{}, err
	}
	return eventNames{connectorID: c.ID, discovered: d, updated: u, source: Source(c.ID)}, nil
}

// ticketEvent is the event of a ticket version b (newTicketBlock of tk);
// changed and actor fill TicketUpdated. names are c's (newEventNames).
func (p *Poller) ticketEvent(ctx context.Context, kind string, names *eventNames, tk trackers.Ticket, b *ticketBlock, changed []string, actor string) (*nats.Msg, error) {
	pt := &b.ticket
	subject := names.discovered
	switch kind {
	case bus.TicketDiscovered:
	case bus.TicketUpdated:
		subject = names.updated
	default:
		return nil, fmt.Errorf("poller: %q is not a ticket version's event", kind)
	}
	capBodies(pt, p.cfg.MaxBodyBytes)
	ev := bus.Event{ID: TicketEventID(names.connectorID, tk.Key, tk.Updated), Source: names.source, Subject: tk.Key, Time: tk.Updated, Encoder: encodeTicketEvent}
	return fitEvent(pt, p.maxEventBytes(), func(t *chv1.Ticket) (*nats.Msg, error) {
		// The block's message serves every attempt: each is encoded before
		// the next is made.
		if kind == bus.TicketUpdated {
			return bus.NewEvent(ctx, subject, &chv1.TicketUpdated{Ticket: t, ChangedFields: changed, Actor: actor}, ev)
		}
		b.discovered.Ticket = t
		return bus.NewEvent(ctx, subject, &b.discovered, ev)
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

func linkToProto(l trackers.TicketLink) *chv1.TicketRef {
	return &chv1.TicketRef{Key: l.Key, Url: l.URL, Summary: l.Summary, Status: l.Status}
}

// ticketBlock holds a ticket's message with the messages every ticket has
// (reporter, assignee, created and updated times), so they are one
// allocation rather than five; commentBlock likewise for a comment (issue 9).
// The messages are never copied out of the block, only pointed to.
type ticketBlock struct {
	ticket             chv1.Ticket
	reporter, assignee chv1.User
	created, updated   timestamppb.Timestamp
	// The ticket.discovered event's message around the ticket
	// (ticketEvent): one allocation less per discovered ticket (issue 9
	// req. 4), the bulk of a first listing. Only pointed to while the event
	// is encoded. TicketUpdated is not kept here: twice the size, for
	// fewer events.
	discovered chv1.TicketDiscovered
}

type commentBlock struct {
	comment chv1.Comment
	author  chv1.User
	created timestamppb.Timestamp
}

// userIn is u's message, written into dst; nil for no user.
func userIn(dst *chv1.User, u trackers.User) *chv1.User {
	if u == (trackers.User{}) {
		return nil
	}
	dst.Id, dst.Login, dst.DisplayName, dst.Email = u.ID, u.Login, u.DisplayName, u.Email
	return dst
}

// tsIn is t as a timestamp written into dst (timestamppb.New's fields);
// nil for the zero time.
func tsIn(dst *timestamppb.Timestamp, t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	dst.Seconds, dst.Nanos = t.Unix(), int32(t.Nanosecond())
	return dst
}

// TicketToProto is the event payload of a ticket.
func TicketToProto(c connector.Connector, tk trackers.Ticket) *chv1.Ticket {
	return &newTicketBlock(c, tk).ticket
}

// newTicketBlock is TicketToProto with the block its message lives in.
func newTicketBlock(c connector.Connector, tk trackers.Ticket) *ticketBlock {
	b := &ticketBlock{}
	out := &b.ticket
	out.ConnectorId, out.System, out.Key, out.Url, out.Summary = c.ID, connectorpb.SystemToProto(c.System), tk.Key, tk.URL, tk.Summary
	out.DescriptionText, out.DescriptionMarkdown = tk.DescriptionText, tk.DescriptionMarkdown
	out.Status, out.Priority, out.Labels = tk.Status, tk.Priority, tk.Labels
	out.Reporter, out.Assignee = userIn(&b.reporter, tk.Reporter), userIn(&b.assignee, tk.Assignee)
	out.CreateTime, out.UpdateTime = tsIn(&b.created, tk.Created), tsIn(&b.updated, tk.Updated)
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
	if len(tk.Comments) > 0 {
		blocks := make([]commentBlock, len(tk.Comments))
		out.Comments = make([]*chv1.Comment, len(tk.Comments))
		for i, cm := range tk.Comments {
			cb := &blocks[i]
			cb.comment.Id, cb.comment.BodyMarkdown = cm.ID, cm.Markdown
			cb.comment.Author, cb.comment.CreateTime = userIn(&cb.author, cm.Author), tsIn(&cb.created, cm.Created)
			out.Comments[i] = &cb.comment
		}
	}
	for _, a := range tk.Attachments {
		out.Attachments = append(out.Attachments, &chv1.Attachment{Id: a.ID, Filename: a.Filename, MediaType: a.MediaType, SizeBytes: a.Size, Url: a.URL})
	}
	return b
}
