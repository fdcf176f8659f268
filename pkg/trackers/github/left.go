package github

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.LeaveExplainer = Tracker{}

// WhyLeft reads the issue (GET /repos/:owner/:repo/issues/:n): not found
// (or gone, or now a pull request) is deleted, closed is resolved, an issue
// whose assignees lack the connector's account is unassigned, and
// otherwise it left the scope (e.g. its scope label was removed).
func (Tracker) WhyLeft(ctx context.Context, s *trackers.Session, key string) (string, error) {
	owner, name, err := splitRepo(s.Connector.Project)
	if err != nil {
		return "", err
	}
	gc, err := newGitHubClient(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
	}
	is, err := githubIssue(ctx, gc, s, owner, name, key)
	switch {
	case errors.Is(err, trackers.ErrTicketNotFound):
		return trackers.LeftDeleted, nil
	case err != nil:
		return "", err
	case is.GetState() == "closed":
		return trackers.LeftResolved, nil
	}
	login, err := githubAssignee(ctx, s, gc)
	if err != nil {
		return "", err
	}
	for _, a := range is.Assignees {
		if strings.EqualFold(a.GetLogin(), login) {
			return trackers.LeftOutOfScope, nil
		}
	}
	return trackers.LeftUnassigned, nil
}
