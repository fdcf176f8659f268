package jira

import (
	"context"
	"fmt"
	"regexp"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// Tracker talks to Jira Cloud (REST v3, email + API token) and Jira Data
// Center (REST v2, PAT bearer or user + password), or to a public instance
// anonymously.
//
// No Go library covers both Cloud and Data Center here (go-atlassian v2 is
// Cloud-only), so this is a small hand-written client over net/http.
type Tracker struct{}

var (
	_ trackers.Tracker         = Tracker{}
	_ trackers.IdentityChecker = Tracker{}
)

// New returns the Jira tracker.
func New() Tracker { return Tracker{} }

// projectKey is a project key as Jira defines it (a letter, then uppercase
// letters, digits and underscores, at most 255 characters), or a numeric
// project id, which the REST API and JQL accept in its place.
var projectKey = regexp.MustCompile(`^(?:[A-Z][A-Z0-9_]{0,254}|[0-9]{1,18})$`)

// Rules: Cloud takes an email and API token (basic) or anonymous access;
// Data Center a PAT (bearer), user and password, or anonymous. Every site
// has its own URL. Jira API tokens and PATs carry no scopes.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:      connector.Jira,
		Deployments: []connector.Deployment{connector.Cloud, connector.SelfHosted},
		AuthModes: map[connector.Deployment][]connector.AuthMode{
			// Atlassian Cloud API tokens are basic auth only; bearer needs OAuth apps.
			connector.Cloud:      {connector.AuthBasic, connector.AuthAnonymous, connector.AuthOAuth2},
			connector.SelfHosted: {connector.AuthBearer, connector.AuthBasic, connector.AuthAnonymous},
		},
		EmailUsername:          []connector.Deployment{connector.Cloud},
		AnonymousNeedsAssignee: true,
		Project: &connector.KeyRule{
			Pattern: projectKey,
			What:    "a Jira project key such as PROJ",
			Invalid: "must be a Jira project key such as PROJ (a letter, then uppercase letters, digits, underscores) or a numeric project id",
		},
		// Cloud OAuth 2.0 (3LO): the classic scopes discovery and writeback
		// use; offline_access for the refresh token.
		OAuthScopes: []string{"read:jira-work", "write:jira-work", "read:jira-user", "offline_access"},
	}
}

// jiraAPI is the REST prefix: v3 on Cloud, v2 on Data Center (same paths and
// the same myself/project bodies; v2 uses wiki markup where v3 uses ADF).
func jiraAPI(d connector.Deployment) string {
	if d == connector.Cloud {
		return "rest/api/3"
	}
	return "rest/api/2"
}

// jiraUser is a Jira user as /myself and issue fields send it.
type jiraUser struct {
	AccountID    string `json:"accountId"` // Cloud
	Name         string `json:"name"`      // Data Center username
	Key          string `json:"key"`       // Data Center user key
	EmailAddress string `json:"emailAddress"`
	DisplayName  string `json:"displayName"`
}

// jiraMyself is /myself's user with its active flag, which only the
// connection test reads: issue fields' users (reporter, assignee) do
// not decode it, since go-json allocates a *bool for it, two per
// discovered ticket (issue 9).
type jiraMyself struct {
	jiraUser
	Active *bool `json:"active"`
}

// jiraServerInfo is the part of GET /serverInfo the test reads.
type jiraServerInfo struct {
	Version        string `json:"version"`
	ServerTitle    string `json:"serverTitle"`
	DeploymentType string `json:"deploymentType"`
}

type jiraProject struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
}

func (Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	api := jiraAPI(s.Connector.Deployment)
	if s.Connector.AuthMode == connector.AuthAnonymous {
		// No identity to check; serverInfo answers anonymous callers, so the
		// test still reaches the instance when no project is configured.
		var info jiraServerInfo
		err := trackerhttp.GetJSON(ctx, s, api+"/serverInfo", nil, &info, atlassianMessages)
		switch {
		case s.TransportFailed():
			return
		case err != nil:
			r.Fail(trackers.CheckIdentity, "%s", trackerhttp.DescribeHTTPError(err, "server info"))
			return
		}
		r.Pass(trackers.CheckIdentity, "anonymous access to %s (Jira %s): no identity to check", info.ServerTitle, info.Version)
	} else {
		var me jiraMyself
		err := trackerhttp.GetJSON(ctx, s, api+"/myself", nil, &me, atlassianMessages)
		switch {
		case s.TransportFailed():
			return
		case err != nil:
			r.Fail(trackers.CheckIdentity, "%s", trackerhttp.DescribeHTTPError(err, "current user"))
			return // no point checking a project with a rejected credential
		}
		r.Identity = jiraIdentity(me.jiraUser)
		if r.Identity == "" {
			r.Fail(trackers.CheckIdentity, "tracker sent a user without email, name or account id")
			return
		}
		if me.Active != nil && !*me.Active {
			r.Fail(trackers.CheckIdentity, "authenticated as %s, but the account is deactivated", r.Identity)
			return
		}
		r.Pass(trackers.CheckIdentity, "authenticated as %s", r.Identity)
	}

	key := s.Connector.Project
	if key == "" {
		r.Pass(trackers.CheckProject, "no project configured: discovery covers every project the account can see")
		return
	}
	var p jiraProject
	err := trackerhttp.GetJSON(ctx, s, api+"/project/"+key, nil, &p, atlassianMessages)
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckProject, "%s", trackerhttp.DescribeHTTPError(err, "project "+key))
	case p.Key == "" && p.ID == "":
		r.Fail(trackers.CheckProject, "project %s: tracker sent a project without key or id", key)
	default:
		r.Pass(trackers.CheckProject, "project %s (%s) visible", p.Key, p.Name)
	}
}

func jiraIdentity(u jiraUser) string {
	switch {
	case u.EmailAddress != "":
		return u.EmailAddress
	case u.Name != "":
		return u.Name
	case u.AccountID != "" && u.DisplayName != "":
		return fmt.Sprintf("%s (%s)", u.DisplayName, u.AccountID)
	}
	return u.AccountID
}
