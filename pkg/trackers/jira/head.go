package jira

import (
	"context"
	"net/http"
	"net/url"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// GetTicketHead reads only what the writeback decides on before writing:
// the ticket's key, status, reporter and last update. Its description and
// comments are neither fetched nor converted (GetTicket does that).
func (Tracker) GetTicketHead(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
	if err := checkIssueKey(key); err != nil {
		return trackers.Ticket{}, err
	}
	c := newJiraClient(s)
	var is jiraIssue
	q := url.Values{"fields": {"status,reporter,updated"}}
	if err := c.do(ctx, http.MethodGet, "issue/"+key, q, nil, &is); err != nil {
		return trackers.Ticket{}, notFoundAs(err, key)
	}
	return c.ticketOf(is) // the fields not asked for are absent, and stay empty
}
