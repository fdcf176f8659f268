// Package bus is connectorhub's contract on NATS JetStream: stream, bucket and
// subject names, provisioning, CloudEvents 1.0 binary-mode publishing and
// consuming of protobuf-JSON payloads, W3C trace propagation over headers, and
// an embeddable server for all-in-one mode and tests.
package bus

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Stream names (see docs/architecture.md, "The bus contract").
const (
	StreamTickets   = "TICKETS"
	StreamResults   = "RESULTS"
	StreamWriteback = "WRITEBACK"
	StreamAudit     = "AUDIT"
	StreamWebhooks  = "WEBHOOKS"
)

// KV bucket names.
const (
	BucketConnectors      = "connectors"
	BucketPollLeases      = "poll_leases"
	BucketPollState       = "poll_state"
	BucketWritebackLedger = "writeback_ledger"
	// BucketTicketVersions holds, per ticket, what the connector's own
	// writeback last changed (for echo suppression), and the field hashes
	// pollers before issue 9 wrote there (read once after the upgrade, then
	// left to expire: the hashes now live in the poll state); see
	// pkg/ticketver.
	BucketTicketVersions = "ticket_versions"
	// BucketOAuthGrants holds, per connector id, the OAuth 2.0 grant of an
	// oauth2 connector: the encrypted rotating refresh token, which workers
	// rewrite on every refresh (compare-and-swap on the revision). Apart from
	// the connectors bucket so that workers never write connector records.
	BucketOAuthGrants = "oauth_grants"
)

// First subject token of each stream.
const (
	subjectTicket    = "ticket"
	subjectResult    = "result"
	subjectWriteback = "writeback"
	subjectAudit     = "audit"
	subjectWebhook   = "webhook"
)

// Ticket event kinds: the second token of a ticket.* subject.
const (
	TicketDiscovered = "discovered"
	TicketUpdated    = "updated"
	TicketClosed     = "closed"
	TicketEnriched   = "enriched"
)

// Writeback outcome kinds: the second token of a writeback.* subject.
const (
	WritebackCompleted = "completed"
	WritebackFailed    = "failed"
)

// maxTokenLen bounds one subject token. NATS itself has no per-token limit,
// but a connector id or system longer than this is a bug, not a name.
const maxTokenLen = 128

// ErrInvalidToken is returned when a value cannot be used as a subject token.
var ErrInvalidToken = errors.New("bus: invalid subject token")

// ValidateToken reports whether s can be used as one NATS subject token in
// connectorhub subjects: non-empty, at most 128 bytes, printable ASCII only,
// and none of '.', '*', '>' (token separator and wildcards). Whitespace and
// control characters are rejected because NATS splits protocol lines on them.
//
// Values are rejected rather than escaped: an escaped id would have to be
// escaped identically by every consumer building a filter subject, including
// ones written in other languages, so the registry validates ids up front.
func ValidateToken(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(s) > maxTokenLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return fmt.Errorf("%w: %q has a space, control or non-ASCII byte at %d", ErrInvalidToken, s, i)
		case c == '.' || c == '*' || c == '>':
			return fmt.Errorf("%w: %q contains %q", ErrInvalidToken, s, c)
		}
	}
	return nil
}

// TicketSubject returns ticket.<kind>.<system>.<connectorID>, where kind is
// one of TicketDiscovered, TicketUpdated, TicketClosed or TicketEnriched.
func TicketSubject(kind, system, connectorID string) (string, error) {
	switch kind {
	case TicketDiscovered, TicketUpdated, TicketClosed, TicketEnriched:
	default:
		return "", fmt.Errorf("%w: unknown ticket event kind %q", ErrInvalidToken, kind)
	}
	return join(subjectTicket, kind, system, connectorID)
}

// ResultSubject returns result.ready.<system>.<connectorID>.
func ResultSubject(system, connectorID string) (string, error) {
	return join(subjectResult, "ready", system, connectorID)
}

// WritebackSubject returns writeback.<kind>.<system>.<connectorID>, where kind
// is WritebackCompleted or WritebackFailed.
func WritebackSubject(kind, system, connectorID string) (string, error) {
	switch kind {
	case WritebackCompleted, WritebackFailed:
	default:
		return "", fmt.Errorf("%w: unknown writeback kind %q", ErrInvalidToken, kind)
	}
	return join(subjectWriteback, kind, system, connectorID)
}

// AuditSubject returns audit.<action>. Actions are dotted names such as
// "connector.create"; each dot-separated part must be a valid token, so the
// result stays inside audit.> and can be filtered per resource
// (audit.connector.>).
func AuditSubject(action string) (string, error) {
	if action == "" {
		return "", fmt.Errorf("%w: empty audit action", ErrInvalidToken)
	}
	return join(append([]string{subjectAudit}, strings.Split(action, ".")...)...)
}

func join(tokens ...string) (string, error) {
	for _, t := range tokens {
		if err := ValidateToken(t); err != nil {
			return "", err
		}
	}
	return strings.Join(tokens, "."), nil
}

// WebhookNoticeSubject is where the webhooks service announces a verified
// delivery for a connector: webhook.notice.<system>.<connector>.
func WebhookNoticeSubject(system, connectorID string) (string, error) {
	if err := ValidateToken(system); err != nil {
		return "", err
	}
	if err := ValidateToken(connectorID); err != nil {
		return "", err
	}
	return subjectWebhook + ".notice." + system + "." + connectorID, nil
}

// WebhookNotice is the payload of a webhook.notice message (JSON): which
// tickets a verified delivery named. It carries nothing else from the
// payload; the poller fetches the tickets through the tracker code.
type WebhookNotice struct {
	ConnectorID string    `json:"connector_id"`
	DeliveryID  string    `json:"delivery_id"`
	Keys        []string  `json:"keys,omitempty"`
	Received    time.Time `json:"received"`
	// Refused, when not zero, makes the notice a report instead: that many
	// deliveries for the connector were refused since the last report, the
	// last for Reason (unsigned, bad_signature, stale, replayed). It names
	// no ticket and asks for no poll.
	Refused int    `json:"refused,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// WebhookNoticeMsgID is the Nats-Msg-Id of a notice: the stream's duplicate
// window refuses the same delivery twice, whichever replica receives it.
func WebhookNoticeMsgID(connectorID, deliveryID string) string {
	return "webhook:" + connectorID + ":" + deliveryID
}
