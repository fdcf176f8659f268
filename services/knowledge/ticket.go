package knowledge

import (
	"context"
	"errors"
	"fmt"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// ticketTerms reads a ticket named as a person would name it and builds the
// terms its enrichment would search: a search for what the ticket is about.
type ticketTerms struct {
	store    *connector.Store
	trackers *trackers.Registry
	sessions *trackers.Sessions
	maxTerms int
}

// terms normalises ticket through the tracker of connector connectorID
// (trackers.KeyNormalizer), reads the ticket and returns its key and terms.
// A ticket that names nothing of the connector is ErrInvalidQuery.
func (tt *ticketTerms) terms(ctx context.Context, connectorID, ticket string) (string, []string, error) {
	if connectorID == "" {
		return "", nil, fmt.Errorf("%w: a ticket needs the connector it belongs to (ticket_connector_id)", ErrInvalidQuery)
	}
	c, err := tt.store.Get(ctx, connectorID)
	switch {
	case errors.Is(err, connector.ErrNotFound):
		return "", nil, fmt.Errorf("%w: no connector %s", ErrInvalidQuery, connectorID)
	case err != nil:
		return "", nil, fmt.Errorf("%w: read connector %s: %w", ErrUnavailable, connectorID, err)
	}
	tr, ok := tt.trackers.Lookup(c.System)
	if !ok {
		return "", nil, fmt.Errorf("%w: connector %s is a %s connector, which this build does not know", ErrInvalidQuery, c.ID, c.System)
	}
	reader, ok := tr.(trackers.TicketReader)
	if !ok {
		return "", nil, fmt.Errorf("%w: connector %s is a %s connector, which has no tickets to read", ErrInvalidQuery, c.ID, c.System)
	}
	key, err := trackers.NormalizeKey(tr, c, ticket)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	s, err := tt.sessions.Get(ctx, c)
	if err != nil {
		return key, nil, fmt.Errorf("%w: %s: %w", ErrConnector, c.ID, err)
	}
	tk, err := reader.GetTicket(ctx, s, key)
	switch {
	case errors.Is(err, trackers.ErrTicketNotFound):
		return key, nil, fmt.Errorf("%w: ticket %s not found on connector %s", ErrInvalidQuery, key, c.ID)
	case err != nil:
		return key, nil, classify(err)
	}
	desc := tk.DescriptionText
	if desc == "" {
		desc = tk.DescriptionMarkdown
	}
	return key, BuildTerms(Ticket{Summary: tk.Summary, Description: desc, Labels: tk.Labels, Components: tk.Components}, tt.maxTerms), nil
}
