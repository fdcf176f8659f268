package jira

import (
	"context"
	"fmt"
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

// jiraConnectorAccount is the assignee field naming the account discovery
// lists tickets for: {"accountId"} on Cloud, {"name"} on Data Center. The
// connector's Assignee when it names one (on Cloud only an account id can
// be written; an email there gives nil: the sub-task stays unassigned),
// else the authenticated user (GET myself); nil for anonymous access.
func jiraConnectorAccount(ctx context.Context, c jiraClient, s *trackers.Session) (map[string]string, error) {
	cloud := s.Connector.Deployment == connector.Cloud
	if a := s.Connector.Assignee; a != "" {
		switch {
		case !cloud:
			return map[string]string{"name": a}, nil
		case !strings.Contains(a, "@"):
			return map[string]string{"accountId": a}, nil
		}
		return nil, nil
	}
	if s.Connector.AuthMode == connector.AuthAnonymous {
		return nil, nil
	}
	var me jiraUser
	if err := c.do(ctx, http.MethodGet, "myself", nil, nil, &me); err != nil {
		return nil, err
	}
	if cloud && me.AccountID != "" {
		return map[string]string{"accountId": me.AccountID}, nil
	}
	if !cloud && me.Name != "" {
		return map[string]string{"name": me.Name}, nil
	}
	return nil, fmt.Errorf("%w: /myself without an account id or name", trackers.ErrMalformedResponse)
}
