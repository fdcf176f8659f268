package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// Tracker talks to gitlab.com and self-managed GitLab through GitLab's
// client-go, with a personal (or project/group) access token.
type Tracker struct{}

var (
	_ trackers.Tracker           = Tracker{}
	_ trackers.IdentityChecker   = Tracker{}
	_ trackers.Discoverer        = Tracker{}
	_ trackers.TicketReader      = Tracker{}
	_ trackers.StatusWriter      = Tracker{}
	_ trackers.Commenter         = Tracker{}
	_ trackers.PullRequestOpener = Tracker{}
)

// New returns the GitLab tracker.
func New() Tracker { return Tracker{} }

// projectPath is a project's full path (group/subgroup/project: letters,
// digits, '_', '.', '-', not starting with '-') or its numeric id.
var projectPath = regexp.MustCompile(`^(?:[0-9]+|[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+)$`)

// Rules: a personal (or project/group) access token on gitlab.com or a
// self-managed instance. Labels, notes and merge requests need "api"
// (read_api is read-only).
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:      connector.GitLab,
		Deployments: []connector.Deployment{connector.Cloud, connector.SelfHosted},
		AuthModes: map[connector.Deployment][]connector.AuthMode{
			connector.Cloud:      {connector.AuthBearer},
			connector.SelfHosted: {connector.AuthBearer},
		},
		DefaultBaseURLs: map[connector.Deployment]string{connector.Cloud: "https://gitlab.com"},
		Project: &connector.KeyRule{
			Required: true,
			Pattern:  projectPath,
			What:     "the project path (group/project) or numeric id",
			Invalid:  "must be a project path such as group/project or a numeric project id",
		},
		StatusLabels:   true,
		RequiredScopes: []string{"api"},
		TokenPools:     true,
	}
}

// minWriteAccess is Developer: merge requests need it, and it covers labels and notes.
const minWriteAccess = gitlab.DeveloperPermissions

// newGitLabClient builds a client-go client for the session. Retries are off
// (client-go's retryablehttp would retry 429 and 5xx on its own): a
// connection test reports rather than waits, and for discovery and writeback
// the poller and writeback frameworks own backoff, so every failure is
// returned at once as ErrTransient or *RateLimitError. client-go's own
// throttle (configured from RateLimit-Limit) is off too: the frameworks keep
// the per-connector budget.
func newGitLabClient(s *trackers.Session) (*gitlab.Client, error) {
	c, err := gitlab.NewClient(s.Secret.Reveal(),
		gitlab.WithBaseURL(s.BaseURL.String()), // client-go appends /api/v4/
		gitlab.WithHTTPClient(s.HTTP),
		gitlab.WithoutRetries(),
		gitlab.WithCustomLimiter(gitlabNoThrottle{}),
		gitlab.WithURLWarningLogger(s.Logger),
	)
	return withSessionUserAgent(s, c, err)
}

// withSessionUserAgent gives a new client the session's own User-Agent:
// the session's transport sends a request carrying it as it is, and
// copies one carrying client-go's (issue 9).
func withSessionUserAgent(s *trackers.Session, c *gitlab.Client, err error) (*gitlab.Client, error) {
	if err == nil {
		c.UserAgent = s.UserAgent()
	}
	return c, err
}

// newGitLabPoolClient is newGitLabClient whose requests to the tracker go
// out with the token of the session's pool that has the most budget left
// (RateLimit-Remaining), in place of the first token client-go puts in
// PRIVATE-TOKEN.
func newGitLabPoolClient(s *trackers.Session) (*gitlab.Client, error) {
	next := s.HTTP.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc := *s.HTTP
	hc.Transport = s.Pool.Transport(next, s.BaseURL.Host, func(r *http.Request, tok string) { r.Header.Set("PRIVATE-TOKEN", tok) })
	c, err := gitlab.NewClient(s.Secret.Reveal(),
		gitlab.WithBaseURL(s.BaseURL.String()),
		gitlab.WithHTTPClient(&hc),
		gitlab.WithoutRetries(),
		gitlab.WithCustomLimiter(gitlabNoThrottle{}),
		gitlab.WithURLWarningLogger(s.Logger),
	)
	return withSessionUserAgent(s, c, err)
}

// gitlabNoThrottle is a client-go RateLimiter that never waits.
type gitlabNoThrottle struct{}

func (gitlabNoThrottle) Wait(context.Context) error { return nil }

func (t Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	client, err := newGitLabClient(s)
	if err != nil {
		r.Fail(trackers.CheckIdentity, "cannot build GitLab client for this base URL")
		return
	}
	user, _, err := client.Users.CurrentUser(gitlab.WithContext(ctx))
	switch {
	case s.TransportFailed():
		return
	case isStatus(err, http.StatusUnauthorized):
		r.Fail(trackers.CheckIdentity, "%s", describeGitLabError(err, "current user"))
		return // nothing else will work with a rejected token
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%s", describeGitLabError(err, "current user"))
	case user.Username == "":
		r.Fail(trackers.CheckIdentity, "tracker sent a user without a username")
	default:
		r.Identity = user.Username
		r.Pass(trackers.CheckIdentity, "authenticated as %s", r.Identity)
	}

	// GET /personal_access_tokens/self answers for any valid token, whatever its scopes.
	tok, _, err := client.PersonalAccessTokens.GetSinglePersonalAccessToken(gitlab.WithContext(ctx))
	switch {
	case s.TransportFailed():
		return
	case isStatus(err, http.StatusNotFound):
		r.Pass(trackers.CheckScopes, "this GitLab does not report token scopes (older than 15.5?): relying on the project check")
	case err != nil:
		r.Fail(trackers.CheckScopes, "%s", describeGitLabError(err, "token details"))
	default:
		r.GrantedScopes = slices.Clone(tok.Scopes)
		if tok.ExpiresAt != nil {
			// A token stops working on its expiry date (UTC).
			r.ExpireTime = time.Time(*tok.ExpiresAt).UTC()
		}
		for _, need := range t.Rules().RequiredScopes {
			if !slices.Contains(r.GrantedScopes, need) {
				r.MissingScopes = append(r.MissingScopes, need)
			}
		}
		switch {
		case tok.Revoked || !tok.Active:
			r.Fail(trackers.CheckScopes, "token is revoked or expired")
		case len(r.MissingScopes) > 0:
			r.Fail(trackers.CheckScopes, "token lacks scope %s (has: %s)", strings.Join(r.MissingScopes, ", "), trackerhttp.ScopesOrNone(r.GrantedScopes))
		default:
			r.Pass(trackers.CheckScopes, "token has scopes %s", strings.Join(r.GrantedScopes, ", "))
		}
	}

	pid := s.Connector.Project // client-go escapes paths ("group/project" → group%2Fproject)
	p, _, err := client.Projects.GetProject(pid, nil, gitlab.WithContext(ctx))
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckProject, "%s", describeGitLabError(err, "project "+pid))
		return
	case p.PathWithNamespace == "":
		r.Fail(trackers.CheckProject, "project %s: tracker sent a project without a path", pid)
		return
	}
	r.Pass(trackers.CheckProject, "project %s visible", p.PathWithNamespace)

	level := gitlab.NoPermissions
	if p.Permissions != nil {
		if pa := p.Permissions.ProjectAccess; pa != nil {
			level = max(level, pa.AccessLevel)
		}
		if ga := p.Permissions.GroupAccess; ga != nil {
			level = max(level, ga.AccessLevel)
		}
	}
	switch {
	case p.Archived:
		r.Fail(trackers.CheckWriteAccess, "project %s is archived and read-only", p.PathWithNamespace)
	case level < minWriteAccess:
		r.Fail(trackers.CheckWriteAccess, "access level %d on %s: labels, notes and merge requests need Developer (30) or higher", level, p.PathWithNamespace)
	default:
		r.Pass(trackers.CheckWriteAccess, "access level %d on %s", level, p.PathWithNamespace)
	}
}

func isStatus(err error, code int) bool {
	if code == http.StatusNotFound && errors.Is(err, gitlab.ErrNotFound) {
		return true // client-go reports every 404 as this sentinel
	}
	var er *gitlab.ErrorResponse
	return errors.As(err, &er) && er.HasStatusCode(code)
}

func describeGitLabError(err error, what string) string {
	var er *gitlab.ErrorResponse
	switch {
	case errors.Is(err, gitlab.ErrNotFound):
		return trackerhttp.DescribeStatus(http.StatusNotFound, nil, what)
	case errors.As(err, &er) && er.Response != nil:
		if er.Response.StatusCode == http.StatusForbidden && strings.Contains(string(er.Body), "insufficient_scope") {
			return fmt.Sprintf("%s: the token's scopes do not allow this (HTTP 403)", what)
		}
		return trackerhttp.DescribeStatus(er.Response.StatusCode, er.Response.Header, what)
	case trackerhttp.IsJSONError(err):
		return fmt.Sprintf("%s: tracker sent a malformed response", what)
	}
	return fmt.Sprintf("%s: %s", what, trackerhttp.Innermost(err, nil))
}
