package pagerduty

import (
	"context"
	"errors"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.LeaveExplainer = Tracker{}

// WhyLeft reads the incident: missing is deleted, resolved is resolved, one
// no longer assigned to the connector's user is unassigned; an open incident
// still assigned left the scope. The user comes from the connector, else
// GET /users/me (once per session).
func (t Tracker) WhyLeft(ctx context.Context, s *trackers.Session, key string) (string, error) {
	in, err := t.getIncident(ctx, s, key)
	switch {
	case errors.Is(err, trackers.ErrTicketNotFound):
		return trackers.LeftDeleted, nil
	case err != nil:
		return "", err
	case in.Status == "resolved":
		return trackers.LeftResolved, nil
	}
	acc, err := accountOf(ctx, s)
	if err != nil {
		return "", err
	}
	for _, a := range in.Assignments {
		if a.Assignee.ID == acc.userID {
			return trackers.LeftOutOfScope, nil
		}
	}
	return trackers.LeftUnassigned, nil
}
