package bitbucket

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.LeaveExplainer = Tracker{}

// WhyLeft reads the issue (or pull request under review): missing (404, or
// 410 when the issue tracker went away) is deleted; an issue in a state
// discovery does not list (resolved, closed, …), or a pull request no
// longer OPEN, is resolved; an issue assigned to someone else, or a pull
// request without the account among its reviewers, is unassigned; else it
// left the scope. The account is the connector's assignee, else GET /user
// (once per session).
func (Tracker) WhyLeft(ctx context.Context, s *trackers.Session, key string) (string, error) {
	n, isPR, err := splitKey(s, key)
	if err != nil {
		return "", err
	}
	base := "repositories/" + s.Connector.Project
	id := strconv.FormatInt(n, 10)
	var (
		open     bool
		assigned func(uuid string) bool
	)
	if isPR {
		var pr pullRequest
		_, err = call(ctx, s, http.MethodGet, base+"/pullrequests/"+id, nil, nil, &pr, "pull request "+key)
		open = pr.State == "OPEN"
		assigned = func(uuid string) bool {
			return slices.ContainsFunc(pr.Reviewers, func(a account) bool { return a.UUID == uuid })
		}
	} else {
		var is issue
		_, err = call(ctx, s, http.MethodGet, base+"/issues/"+id, nil, nil, &is, "issue "+key)
		open = slices.Contains(openStates, is.State)
		assigned = func(uuid string) bool { return is.Assignee != nil && is.Assignee.UUID == uuid }
	}
	switch {
	case errors.Is(notFound(err), trackers.ErrTicketNotFound):
		return trackers.LeftDeleted, nil
	case err != nil:
		return "", err
	case !open:
		return trackers.LeftResolved, nil
	}
	me, err := assignee(ctx, s)
	if err != nil {
		return "", err
	}
	if !assigned(me) {
		return trackers.LeftUnassigned, nil
	}
	return trackers.LeftOutOfScope, nil
}
