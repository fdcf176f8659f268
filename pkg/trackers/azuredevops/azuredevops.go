// Package azuredevops is the Azure DevOps Boards tracker (Azure DevOps
// Services on dev.azure.com, and Azure DevOps Server with a base URL): WIQL
// discovery of the work items assigned to the PAT's account, state changes by
// JSON Patch on System.State, Markdown comments, child work items as
// sub-tasks and pull requests in Azure Repos; with the connector's
// ReviewPullRequests, also the active pull requests where the account is a
// reviewer, as review tickets (organization/project!id, label "review").
package azuredevops

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Tracker talks to Azure DevOps with a personal access token. The zero
// value works but reads the project's work item types on every discovery
// page; New caches them (StateCacheTTL).
type Tracker struct {
	states *stateCache
}

var (
	_ trackers.Tracker           = Tracker{}
	_ trackers.IdentityChecker   = Tracker{}
	_ trackers.Discoverer        = Tracker{}
	_ trackers.TicketReader      = Tracker{}
	_ trackers.StatusWriter      = Tracker{}
	_ trackers.Commenter         = Tracker{}
	_ trackers.SubtaskCreator    = Tracker{}
	_ trackers.PullRequestOpener = Tracker{}
	_ trackers.KeyNormalizer     = Tracker{}
)

// New returns the Azure DevOps tracker.
func New() Tracker { return Tracker{states: newStateCache(time.Now)} }

// orgProjectPattern is "organization/project" (the collection on Server):
// the organization is required. Project names may hold spaces and most
// punctuation but no slash or backslash.
var orgProjectPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*/[^/\\#?]+$`)

// Scopes the PAT needs: Work Items (Read & write) and Code (Read & write).
const (
	ScopeWorkWrite = "vso.work_write"
	ScopeCodeWrite = "vso.code_write"
)

// Rules: a PAT (sent as Basic with an empty user) on Azure DevOps Services
// or Server. The organization is part of the project ("org/project").
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:      connector.AzureDevOps,
		Deployments: []connector.Deployment{connector.Cloud, connector.SelfHosted},
		AuthModes: map[connector.Deployment][]connector.AuthMode{
			connector.Cloud:      {connector.AuthBearer},
			connector.SelfHosted: {connector.AuthBearer},
		},
		DefaultBaseURLs: map[connector.Deployment]string{connector.Cloud: "https://dev.azure.com"},
		Project: &connector.KeyRule{
			Required: true,
			Pattern:  orgProjectPattern,
			What:     "the organization and project as organization/project",
			Invalid:  "must be organization/project (the organization, or collection on Server, is required)",
		},
		RequiredScopes: []string{ScopeWorkWrite, ScopeCodeWrite},
	}
}

// connectionData is the answer of GET {org}/_apis/connectionData, which
// Services and Server both serve for any valid PAT (it is in no published
// spec; the profile API lives on another host and not on Server).
type connectionData struct {
	AuthenticatedUser struct {
		ID                  string `json:"id"`
		ProviderDisplayName string `json:"providerDisplayName"`
		Properties          struct {
			Account struct {
				Value string `json:"$value"`
			} `json:"Account"`
		} `json:"properties"`
	} `json:"authenticatedUser"`
}

type project struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CheckIdentity: who the PAT is, whether it may read and write work items
// (a WIQL probe and the project), with hints naming the missing scope.
func (t Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	var cd connectionData
	err := call(ctx, s, http.MethodGet, apiPath(s, false, "_apis", "connectionData"), nil, nil, "", &cd, "connection data")
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%s", hint(err, ""))
		return
	case cd.AuthenticatedUser.ID == "" || cd.AuthenticatedUser.ID == anonymousID:
		r.Fail(trackers.CheckIdentity, "the token was not accepted (anonymous identity): check the PAT and the organization")
		return
	}
	r.Identity = cd.AuthenticatedUser.Properties.Account.Value
	if r.Identity == "" {
		r.Identity = cd.AuthenticatedUser.ProviderDisplayName
	}
	r.Pass(trackers.CheckIdentity, "authenticated as %s", r.Identity)

	org, name := orgProject(s)
	var p project
	err = call(ctx, s, http.MethodGet, apiPath(s, false, "_apis", "projects", url.PathEscape(name)), nil, nil, "", &p, "project "+org+"/"+name)
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckProject, "%s", hint(err, "Project and Team (Read)"))
		return
	}
	r.Pass(trackers.CheckProject, "project %s/%s visible", org, p.Name)

	// A PAT's scopes are not readable through the API: probe them.
	_, err = wiqlIDs(ctx, s, "SELECT [System.Id] FROM WorkItems WHERE [System.Id] < 0", 1)
	if s.TransportFailed() {
		return
	}
	if err != nil {
		r.MissingScopes = append(r.MissingScopes, ScopeWorkWrite)
		r.Fail(trackers.CheckScopes, "%s", hint(err, "Work Items (Read & write)"))
		return
	}
	if s.Connector.ReviewPullRequests {
		// Discovery lists pull requests under review too: probe that listing.
		q := url.Values{"searchCriteria.reviewerId": {cd.AuthenticatedUser.ID}, "searchCriteria.status": {"active"}, "$top": {"1"}}
		_, err = listPRs(ctx, s, q, "pull requests under review")
		if s.TransportFailed() {
			return
		}
		if err != nil {
			r.MissingScopes = append(r.MissingScopes, ScopeCodeWrite)
			r.Fail(trackers.CheckScopes, "%s", hint(err, "Code (Read & write)"))
			return
		}
	}
	r.Pass(trackers.CheckScopes, "work items readable; the PAT needs Work Items (Read & write) and Code (Read & write) for writeback")
}

// anonymousID is the identity Azure DevOps reports for an unauthenticated call.
const anonymousID = "aa442b3c-f9b4-4a4f-a07f-7c3e0e34ff3b"

// hint describes a failed call, naming the PAT scope to add when the answer
// was 401/403.
func hint(err error, scope string) string {
	if errors.Is(err, trackers.ErrUnauthorized) && scope != "" {
		return err.Error() + ": the PAT needs scope " + scope
	}
	if errors.Is(err, errNotFound) {
		return err.Error() + " (check the organization and project names)"
	}
	return err.Error()
}
