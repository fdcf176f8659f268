package poller

import (
	"fmt"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// An event must fit the NATS payload limit, or the publish fails and every
// later poll of the connector fails with it. Two caps keep it there:
// MaxBodyBytes cuts each text (description, comment) and MaxEventBytes the
// whole event, leaving out the oldest comments first, then more of the
// description; whatever was left out is said in the event itself.

// TruncatedCommentID marks the comment that stands for comments left out.
const TruncatedCommentID = "connectorhub-truncated"

// truncateText cuts s to at most limit bytes (on a rune boundary) and ends
// it with a marker saying how much was left out.
func truncateText(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	marker := func(left int) string {
		return fmt.Sprintf("\n\n[… truncated by connectorhub: %d of %d bytes left out]", left, len(s))
	}
	cut := max(limit-len(marker(len(s))), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker(len(s)-cut)
}

// capBodies applies MaxBodyBytes to every text of a ticket.
func capBodies(t *chv1.Ticket, limit int) {
	t.DescriptionMarkdown = truncateText(t.DescriptionMarkdown, limit)
	t.DescriptionText = truncateText(t.DescriptionText, limit)
	for _, c := range t.Comments {
		c.BodyMarkdown = truncateText(c.BodyMarkdown, limit)
	}
}

// msgSize is what a message costs against the payload limit.
func msgSize(m *nats.Msg) int {
	n := len(m.Data) + len(m.Subject) + 16
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// fitEvent builds an event of t within limit bytes: all of it when it fits;
// else the newest comments that fit after a marker for the older ones; else
// a shorter description as well; at worst the ticket's identity alone.
func fitEvent(t *chv1.Ticket, limit int, build func(*chv1.Ticket) (*nats.Msg, error)) (*nats.Msg, error) {
	m, err := build(t)
	if err != nil || msgSize(m) <= limit {
		return m, err
	}
	all := t.Comments
	withNewest := func(k int) *chv1.Ticket {
		c := cloneTicket(t)
		dropped := all[:len(all)-k]
		if len(dropped) > 0 {
			bytes := 0
			for _, cm := range dropped {
				bytes += len(cm.BodyMarkdown)
			}
			c.Comments = append([]*chv1.Comment{{Id: TruncatedCommentID, BodyMarkdown: fmt.Sprintf(
				"[… %d older comments (%d bytes) left out by connectorhub: the event would exceed %d bytes]", len(dropped), bytes, limit)}},
				all[len(all)-k:]...)
		}
		return c
	}
	// The most comments that fit, newest kept: a binary search over how many.
	var best *nats.Msg
	for lo, hi := 0, len(all)-1; lo <= hi; {
		mid := (lo + hi) / 2
		m, err := build(withNewest(mid))
		if err != nil {
			return nil, err
		}
		if msgSize(m) <= limit {
			lo, best = mid+1, m
		} else {
			hi = mid - 1
		}
	}
	if best != nil {
		return best, nil
	}
	// No comment fits beside the rest: shorten the description until it does.
	c := withNewest(0)
	for body := len(c.DescriptionMarkdown) + len(c.DescriptionText); body > 256; body /= 2 {
		c.DescriptionMarkdown = truncateText(c.DescriptionMarkdown, body/2)
		c.DescriptionText = truncateText(c.DescriptionText, body/2)
		m, err := build(c)
		if err != nil || msgSize(m) <= limit {
			return m, err
		}
	}
	// Labels, links or attachments alone are too large: the identity remains.
	bare := &chv1.Ticket{ConnectorId: t.ConnectorId, System: t.System, Key: t.Key, Url: t.Url, Summary: truncateText(t.Summary, 1024),
		Status: t.Status, CreateTime: t.CreateTime, UpdateTime: t.UpdateTime,
		DescriptionMarkdown: fmt.Sprintf("[… this ticket does not fit in %d bytes: only its identity is in the event]", limit)}
	return build(bare)
}

func cloneTicket(t *chv1.Ticket) *chv1.Ticket { return proto.Clone(t).(*chv1.Ticket) }
