package trackers

import (
	"context"
	"fmt"
	"regexp"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// jiraTracker talks to Jira Cloud (REST v3, email + API token) and Jira Data
// Center (REST v2, PAT bearer or user + password), or to a public instance
// anonymously.
//
// No Go library covers both Cloud and Data Center here (go-atlassian v2 is
// Cloud-only), so this is a small hand-written client over net/http.
type jiraTracker struct{}

var _ IdentityChecker = jiraTracker{}

func (jiraTracker) System() connector.System { return connector.Jira }

func (jiraTracker) Deployments() []connector.Deployment {
	return []connector.Deployment{connector.Cloud, connector.SelfHosted}
}

func (jiraTracker) AuthModes(d connector.Deployment) []connector.AuthMode {
	if d == connector.Cloud {
		// Atlassian Cloud API tokens are basic auth only; bearer needs OAuth apps.
		return []connector.AuthMode{connector.AuthBasic, connector.AuthAnonymous}
	}
	return []connector.AuthMode{connector.AuthBearer, connector.AuthBasic, connector.AuthAnonymous}
}

// DefaultBaseURL is empty: every Jira site has its own URL.
func (jiraTracker) DefaultBaseURL(connector.Deployment) string { return "" }

// RequiredScopes is nil: Jira API tokens and PATs carry no scopes.
func (jiraTracker) RequiredScopes() []string { return nil }

// jiraProjectKey is Jira's default project key pattern, plus numeric ids.
var jiraProjectKey = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*|[0-9]+)$`)

func (jiraTracker) ValidateConfig(c connector.Connector) error {
	if c.Project != "" && !jiraProjectKey.MatchString(c.Project) {
		return fmt.Errorf("%w: %q is not a Jira project key", ErrInvalidConfig, c.Project)
	}
	return nil
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
	Active       *bool  `json:"active"`
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

func (jiraTracker) CheckIdentity(ctx context.Context, s *Session, r *TestResult) {
	api := jiraAPI(s.Connector.Deployment)
	if s.Connector.AuthMode == connector.AuthAnonymous {
		// No identity to check; serverInfo answers anonymous callers, so the
		// test still reaches the instance when no project is configured.
		var info jiraServerInfo
		err := getJSON(ctx, s, api+"/serverInfo", nil, &info)
		switch {
		case s.transportFailed():
			return
		case err != nil:
			r.fail(CheckIdentity, "%s", describeHTTPError(err, "server info"))
			return
		}
		r.pass(CheckIdentity, "anonymous access to %s (Jira %s): no identity to check", info.ServerTitle, info.Version)
	} else {
		var me jiraUser
		err := getJSON(ctx, s, api+"/myself", nil, &me)
		switch {
		case s.transportFailed():
			return
		case err != nil:
			r.fail(CheckIdentity, "%s", describeHTTPError(err, "current user"))
			return // no point checking a project with a rejected credential
		}
		r.Identity = jiraIdentity(me)
		if r.Identity == "" {
			r.fail(CheckIdentity, "tracker sent a user without email, name or account id")
			return
		}
		if me.Active != nil && !*me.Active {
			r.fail(CheckIdentity, "authenticated as %s, but the account is deactivated", r.Identity)
			return
		}
		r.pass(CheckIdentity, "authenticated as %s", r.Identity)
	}

	key := s.Connector.Project
	if key == "" {
		r.pass(CheckProject, "no project configured: discovery covers every project the account can see")
		return
	}
	var p jiraProject
	err := getJSON(ctx, s, api+"/project/"+key, nil, &p)
	switch {
	case s.transportFailed():
		return
	case err != nil:
		r.fail(CheckProject, "%s", describeHTTPError(err, "project "+key))
	case p.Key == "" && p.ID == "":
		r.fail(CheckProject, "project %s: tracker sent a project without key or id", key)
	default:
		r.pass(CheckProject, "project %s (%s) visible", p.Key, p.Name)
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
