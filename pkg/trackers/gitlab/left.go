package gitlab

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.LeaveExplainer = Tracker{}

// WhyLeft reads the issue (GET /projects/:id/issues/:iid): 404 is deleted,
// closed is resolved, an issue whose assignees lack the connector's account
// is unassigned, and otherwise it left the scope.
func (Tracker) WhyLeft(ctx context.Context, s *trackers.Session, key string) (string, error) {
	c, err := gitlabConnFor(s)
	if err != nil {
		return "", err
	}
	key, iid, err := gitlabIID(s.Connector, key)
	if err != nil {
		return "", err
	}
	var is gitlabIssue
	if _, err := c.call(ctx, http.MethodGet, gitlabIssuePath(s, iid), nil, &is, "issue "+key); err != nil {
		if errors.Is(err, errGitLabNotFound) {
			return trackers.LeftDeleted, nil
		}
		return "", err
	}
	if is.State == "closed" {
		return trackers.LeftResolved, nil
	}
	assignee, err := c.assignee(ctx, s)
	if err != nil {
		return "", err
	}
	for _, a := range is.Assignees {
		if strings.EqualFold(a.Username, assignee) {
			return trackers.LeftOutOfScope, nil
		}
	}
	return trackers.LeftUnassigned, nil
}
