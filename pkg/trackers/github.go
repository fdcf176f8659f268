package trackers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-github/v92/github"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// githubTracker talks to github.com and GitHub Enterprise Server through
// go-github, with a personal access token (classic or fine-grained).
type githubTracker struct{}

var (
	_ IdentityChecker   = githubTracker{}
	_ Discoverer        = githubTracker{}
	_ ConditionalLister = githubTracker{}
	_ TicketReader      = githubTracker{}
	_ StatusWriter      = githubTracker{}
	_ Commenter         = githubTracker{}
	_ PullRequestOpener = githubTracker{}
)

func (githubTracker) System() connector.System { return connector.GitHub }

func (githubTracker) Deployments() []connector.Deployment {
	return []connector.Deployment{connector.Cloud, connector.SelfHosted}
}

func (githubTracker) AuthModes(connector.Deployment) []connector.AuthMode {
	return []connector.AuthMode{connector.AuthBearer}
}

func (githubTracker) DefaultBaseURL(d connector.Deployment) string {
	if d == connector.Cloud {
		return "https://api.github.com"
	}
	return ""
}

// RequiredScopes is what a classic token needs: labels, comments and pull
// requests on private repositories all need "repo". Fine-grained tokens have
// no scopes; their repository permissions are checked instead.
func (githubTracker) RequiredScopes() []string { return []string{"repo"} }

func (githubTracker) ValidateConfig(c connector.Connector) error {
	if _, _, err := splitRepo(c.Project); err != nil {
		return err
	}
	return nil
}

func splitRepo(project string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(project, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return "", "", fmt.Errorf("%w: GitHub project must be \"owner/repo\", got %q", ErrInvalidConfig, project)
	}
	return owner, repo, nil
}

// newGitHubClient builds a go-github client for the session: api.github.com
// (or the given base, e.g. a test server) on Cloud, /api/v3/ on Enterprise
// Server (go-github appends it when the base URL lacks it). Its mutations are
// paced per token (githubMutations). It is cheap and holds no state the
// frameworks rely on, so each operation builds its own.
func newGitHubClient(s *Session) (*github.Client, error) {
	base := s.BaseURL.String()
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	next := s.HTTP.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	opts := []github.ClientOptionsFunc{
		github.WithHTTPClient(s.HTTP),
		github.WithTransport(githubPacedTransport{next: next, pacer: githubMutations, key: githubPacerKey(s)}),
		github.WithAuthToken(s.Secret.Reveal()),
		// The frameworks decide when to retry after a rate limit (they
		// defer the connector); the client must not refuse calls by itself.
		github.WithDisableRateLimitCheck(),
	}
	if s.Connector.Deployment == connector.SelfHosted {
		opts = append(opts, github.WithEnterpriseURLs(base, base))
	} else {
		opts = append(opts, github.WithURLs(&base, nil))
	}
	return github.NewClient(opts...)
}

func (t githubTracker) CheckIdentity(ctx context.Context, s *Session, r *TestResult) {
	client, err := newGitHubClient(s)
	if err != nil {
		// Only a malformed base URL gets here, and CheckURL has parsed it.
		r.fail(CheckIdentity, "cannot build GitHub client for this base URL")
		return
	}
	user, resp, err := client.Users.Get(ctx, "")
	switch {
	case s.transportFailed():
		return
	case err != nil:
		r.fail(CheckIdentity, "%s", describeGitHubError(err, "current user"))
		return
	case user.GetLogin() == "":
		r.fail(CheckIdentity, "tracker sent a user without a login")
		return
	}
	r.Identity = user.GetLogin()
	r.pass(CheckIdentity, "authenticated as %s", r.Identity)
	if !resp.TokenExpiration.IsZero() {
		r.ExpireTime = resp.TokenExpiration.UTC()
	}

	// Classic tokens list their scopes in X-OAuth-Scopes (possibly empty);
	// fine-grained tokens and app tokens send no such header at all.
	scopeHeader, classic := resp.Header["X-Oauth-Scopes"]
	if !classic {
		r.pass(CheckScopes, "token reports no OAuth scopes (fine-grained token): relying on the repository permission check")
	} else {
		r.GrantedScopes = parseScopes(strings.Join(scopeHeader, ","))
		for _, need := range t.RequiredScopes() {
			if !slices.Contains(r.GrantedScopes, need) {
				r.MissingScopes = append(r.MissingScopes, need)
			}
		}
		if len(r.MissingScopes) > 0 {
			r.fail(CheckScopes, "token lacks scope %s (has: %s)", strings.Join(r.MissingScopes, ", "), scopesOrNone(r.GrantedScopes))
		} else {
			r.pass(CheckScopes, "token has scopes %s", strings.Join(r.GrantedScopes, ", "))
		}
	}

	owner, name, _ := splitRepo(s.Connector.Project) // validated in Test
	repo, _, err := client.Repositories.Get(ctx, owner, name)
	switch {
	case s.transportFailed():
		return
	case err != nil:
		r.fail(CheckProject, "%s", describeGitHubError(err, "repository "+s.Connector.Project))
		return
	case repo.GetFullName() == "":
		r.fail(CheckProject, "repository %s: tracker sent a repository without a name", s.Connector.Project)
		return
	}
	r.pass(CheckProject, "repository %s visible", repo.GetFullName())
	perms := repo.GetPermissions()
	switch {
	case perms == nil:
		r.fail(CheckWriteAccess, "repository %s: tracker did not report this token's permissions", repo.GetFullName())
	case !perms.GetPush():
		r.fail(CheckWriteAccess, "no push access to %s: labels, comments and pull requests need write access", repo.GetFullName())
	case repo.GetArchived():
		r.fail(CheckWriteAccess, "repository %s is archived and read-only", repo.GetFullName())
	default:
		r.pass(CheckWriteAccess, "push access to %s", repo.GetFullName())
	}
}

func describeGitHubError(err error, what string) string {
	var (
		er  *github.ErrorResponse
		rle *github.RateLimitError
		are *github.AbuseRateLimitError
	)
	switch {
	case errors.As(err, &rle):
		return fmt.Sprintf("rate limited until %s", rle.Rate.Reset.UTC().Format("15:04:05 MST"))
	case errors.As(err, &are):
		return "secondary rate limit hit: try again later"
	case errors.As(err, &er) && er.Response != nil:
		if er.Response.StatusCode == http.StatusForbidden && strings.Contains(strings.ToLower(er.Message), "resource not accessible") {
			return fmt.Sprintf("%s: the token is not granted access to it", what)
		}
		return describeStatus(er.Response.StatusCode, er.Response.Header, what)
	}
	if isJSONError(err) { // go-github returns decoding errors as they are
		return fmt.Sprintf("%s: tracker sent a malformed response", what)
	}
	return fmt.Sprintf("%s: %s", what, innermost(err, nil))
}

// parseScopes splits "repo, read:org" into its scopes.
func parseScopes(h string) []string {
	var out []string
	for sc := range strings.SplitSeq(h, ",") {
		if sc = strings.TrimSpace(sc); sc != "" && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

func scopesOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
