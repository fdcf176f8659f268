package jira

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.LeaveExplainer = Tracker{}

// WhyLeft reads the fields discovery selects on (GET issue/KEY with
// resolution, status and assignee): a 404 is deleted, a resolution (what
// discovery's "resolution = Unresolved" tests) is resolved, another or no
// assignee is unassigned, and otherwise the ticket left the scope.
func (Tracker) WhyLeft(ctx context.Context, s *trackers.Session, key string) (string, error) {
	if err := checkIssueKey(key); err != nil {
		return "", err
	}
	c := newJiraClient(s)
	var is struct {
		Fields struct {
			Resolution *jiraNamed `json:"resolution"`
			Assignee   *jiraUser  `json:"assignee"`
		} `json:"fields"`
	}
	q := url.Values{"fields": {"resolution,assignee"}}
	if err := c.do(ctx, http.MethodGet, "issue/"+key, q, nil, &is); err != nil {
		if jiraStatus(err) == http.StatusNotFound {
			return trackers.LeftDeleted, nil
		}
		return "", err
	}
	switch {
	case is.Fields.Resolution != nil:
		return trackers.LeftResolved, nil
	case is.Fields.Assignee == nil:
		return trackers.LeftUnassigned, nil
	}
	mine, err := jiraIsAccount(ctx, c, s, *is.Fields.Assignee)
	if err != nil {
		return "", err
	}
	if !mine {
		return trackers.LeftUnassigned, nil
	}
	return trackers.LeftOutOfScope, nil
}

// jiraIsAccount says whether u is the account discovery lists tickets for:
// the connector's Assignee (account id, user name, key or email), else the
// authenticated user (GET myself).
func jiraIsAccount(ctx context.Context, c jiraClient, s *trackers.Session, u jiraUser) (bool, error) {
	want := s.Connector.Assignee
	if want == "" {
		if s.Connector.AuthMode == connector.AuthAnonymous {
			return false, nil
		}
		var me jiraUser
		if err := c.do(ctx, http.MethodGet, "myself", nil, nil, &me); err != nil {
			return false, err
		}
		return sameJiraUser(me, u), nil
	}
	for _, id := range []string{u.AccountID, u.Name, u.Key, u.EmailAddress} {
		if id != "" && strings.EqualFold(id, want) {
			return true, nil
		}
	}
	return false, nil
}

func sameJiraUser(a, b jiraUser) bool {
	switch {
	case a.AccountID != "" || b.AccountID != "":
		return a.AccountID == b.AccountID
	case a.Key != "" || b.Key != "":
		return a.Key == b.Key
	}
	return a.Name != "" && strings.EqualFold(a.Name, b.Name)
}
