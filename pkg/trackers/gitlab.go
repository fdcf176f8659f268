package trackers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// gitlabTracker talks to gitlab.com and self-managed GitLab through GitLab's
// client-go, with a personal (or project/group) access token.
type gitlabTracker struct{}

var (
	_ IdentityChecker   = gitlabTracker{}
	_ Discoverer        = gitlabTracker{}
	_ TicketReader      = gitlabTracker{}
	_ StatusWriter      = gitlabTracker{}
	_ Commenter         = gitlabTracker{}
	_ PullRequestOpener = gitlabTracker{}
)

func (gitlabTracker) System() connector.System { return connector.GitLab }

func (gitlabTracker) Deployments() []connector.Deployment {
	return []connector.Deployment{connector.Cloud, connector.SelfHosted}
}

func (gitlabTracker) AuthModes(connector.Deployment) []connector.AuthMode {
	return []connector.AuthMode{connector.AuthBearer}
}

func (gitlabTracker) DefaultBaseURL(d connector.Deployment) string {
	if d == connector.Cloud {
		return "https://gitlab.com"
	}
	return ""
}

// RequiredScopes: labels, notes and merge requests need "api" (read_api is read-only).
func (gitlabTracker) RequiredScopes() []string { return []string{"api"} }

func (gitlabTracker) ValidateConfig(c connector.Connector) error {
	p := c.Project
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Errorf("%w: GitLab project must be a path like \"group/project\" or a numeric id, got %q", ErrInvalidConfig, p)
	}
	return nil
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
func newGitLabClient(s *Session) (*gitlab.Client, error) {
	return gitlab.NewClient(s.Secret.Reveal(),
		gitlab.WithBaseURL(s.BaseURL.String()), // client-go appends /api/v4/
		gitlab.WithHTTPClient(s.HTTP),
		gitlab.WithoutRetries(),
		gitlab.WithCustomLimiter(gitlabNoThrottle{}),
		gitlab.WithURLWarningLogger(s.Logger),
	)
}

// gitlabNoThrottle is a client-go RateLimiter that never waits.
type gitlabNoThrottle struct{}

func (gitlabNoThrottle) Wait(context.Context) error { return nil }

func (t gitlabTracker) CheckIdentity(ctx context.Context, s *Session, r *TestResult) {
	client, err := newGitLabClient(s)
	if err != nil {
		r.fail(CheckIdentity, "cannot build GitLab client for this base URL")
		return
	}
	user, _, err := client.Users.CurrentUser(gitlab.WithContext(ctx))
	switch {
	case s.transportFailed():
		return
	case isStatus(err, http.StatusUnauthorized):
		r.fail(CheckIdentity, "%s", describeGitLabError(err, "current user"))
		return // nothing else will work with a rejected token
	case err != nil:
		r.fail(CheckIdentity, "%s", describeGitLabError(err, "current user"))
	case user.Username == "":
		r.fail(CheckIdentity, "tracker sent a user without a username")
	default:
		r.Identity = user.Username
		r.pass(CheckIdentity, "authenticated as %s", r.Identity)
	}

	// GET /personal_access_tokens/self answers for any valid token, whatever its scopes.
	tok, _, err := client.PersonalAccessTokens.GetSinglePersonalAccessToken(gitlab.WithContext(ctx))
	switch {
	case s.transportFailed():
		return
	case isStatus(err, http.StatusNotFound):
		r.pass(CheckScopes, "this GitLab does not report token scopes (older than 15.5?): relying on the project check")
	case err != nil:
		r.fail(CheckScopes, "%s", describeGitLabError(err, "token details"))
	default:
		r.GrantedScopes = slices.Clone(tok.Scopes)
		if tok.ExpiresAt != nil {
			// A token stops working on its expiry date (UTC).
			r.ExpireTime = time.Time(*tok.ExpiresAt).UTC()
		}
		for _, need := range t.RequiredScopes() {
			if !slices.Contains(r.GrantedScopes, need) {
				r.MissingScopes = append(r.MissingScopes, need)
			}
		}
		switch {
		case tok.Revoked || !tok.Active:
			r.fail(CheckScopes, "token is revoked or expired")
		case len(r.MissingScopes) > 0:
			r.fail(CheckScopes, "token lacks scope %s (has: %s)", strings.Join(r.MissingScopes, ", "), scopesOrNone(r.GrantedScopes))
		default:
			r.pass(CheckScopes, "token has scopes %s", strings.Join(r.GrantedScopes, ", "))
		}
	}

	pid := s.Connector.Project // client-go escapes paths ("group/project" → group%2Fproject)
	p, _, err := client.Projects.GetProject(pid, nil, gitlab.WithContext(ctx))
	switch {
	case s.transportFailed():
		return
	case err != nil:
		r.fail(CheckProject, "%s", describeGitLabError(err, "project "+pid))
		return
	case p.PathWithNamespace == "":
		r.fail(CheckProject, "project %s: tracker sent a project without a path", pid)
		return
	}
	r.pass(CheckProject, "project %s visible", p.PathWithNamespace)

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
		r.fail(CheckWriteAccess, "project %s is archived and read-only", p.PathWithNamespace)
	case level < minWriteAccess:
		r.fail(CheckWriteAccess, "access level %d on %s: labels, notes and merge requests need Developer (30) or higher", level, p.PathWithNamespace)
	default:
		r.pass(CheckWriteAccess, "access level %d on %s", level, p.PathWithNamespace)
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
		return describeStatus(http.StatusNotFound, nil, what)
	case errors.As(err, &er) && er.Response != nil:
		if er.Response.StatusCode == http.StatusForbidden && strings.Contains(string(er.Body), "insufficient_scope") {
			return fmt.Sprintf("%s: the token's scopes do not allow this (HTTP 403)", what)
		}
		return describeStatus(er.Response.StatusCode, er.Response.Header, what)
	case isJSONError(err):
		return fmt.Sprintf("%s: tracker sent a malformed response", what)
	}
	return fmt.Sprintf("%s: %s", what, innermost(err, nil))
}
