package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-github/v92/github"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// Tracker talks to github.com and GitHub Enterprise Server through
// go-github, with a personal access token (classic or fine-grained).
type Tracker struct{}

var (
	_ trackers.Tracker           = Tracker{}
	_ trackers.IdentityChecker   = Tracker{}
	_ trackers.Discoverer        = Tracker{}
	_ trackers.ConditionalLister = Tracker{}
	_ trackers.TicketReader      = Tracker{}
	_ trackers.StatusWriter      = Tracker{}
	_ trackers.Commenter         = Tracker{}
	_ trackers.PullRequestOpener = Tracker{}
	_ trackers.WritePacer        = Tracker{}
)

// New returns the GitHub tracker.
func New() Tracker { return Tracker{} }

// repoName is owner/repo as GitHub allows them: an owner of up to 39
// letters, digits and dashes (not first), a repository of up to 100 letters,
// digits, '.', '_' and '-'.
var repoName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)

// Rules: a personal access token (classic or fine-grained) on github.com or
// Enterprise Server. A classic token needs "repo": labels, comments and pull
// requests on private repositories all need it. Fine-grained tokens have no
// scopes; their repository permissions are checked instead.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:      connector.GitHub,
		Deployments: []connector.Deployment{connector.Cloud, connector.SelfHosted},
		AuthModes: map[connector.Deployment][]connector.AuthMode{
			connector.Cloud:      {connector.AuthBearer, connector.AuthGitHubApp},
			connector.SelfHosted: {connector.AuthBearer, connector.AuthGitHubApp},
		},
		DefaultBaseURLs: map[connector.Deployment]string{connector.Cloud: "https://api.github.com"},
		Project: &connector.KeyRule{
			Required: true,
			Pattern:  repoName,
			What:     "the repository as owner/repo",
			Invalid:  "must be a repository as owner/repo",
		},
		StatusLabels:   true,
		RequiredScopes: []string{"repo"},
		TokenPools:     true,
	}
}

func splitRepo(project string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(project, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return "", "", fmt.Errorf("%w: GitHub project must be \"owner/repo\", got %q", trackers.ErrInvalidConfig, project)
	}
	return owner, repo, nil
}

// newGitHubClient builds a go-github client for the session: api.github.com
// (or the given base, e.g. a test server) on Cloud, /api/v3/ on Enterprise
// Server (go-github appends it when the base URL lacks it). Its mutations are
// paced per token or installation (githubMutations). It authenticates with
// the session's token (the first of a pool) or, for a GitHub App, with the
// installation's token. It is cheap and holds no state the frameworks rely
// on, so each operation builds its own.
func newGitHubClient(s *trackers.Session) (*github.Client, error) {
	return newGitHubClientFor(s, false)
}

// newGitHubDiscoveryClient is newGitHubClient for discovery reads: with a
// token pool, each request goes out with the pool's token that has the most
// budget left (trackers.TokenPool).
func newGitHubDiscoveryClient(s *trackers.Session) (*github.Client, error) {
	return newGitHubClientFor(s, true)
}

func newGitHubClientFor(s *trackers.Session, discovery bool) (*github.Client, error) {
	if s.Connector.AuthMode == connector.AuthGitHubApp {
		src, err := appSourceFor(s)
		if err != nil {
			return nil, err
		}
		return buildGitHubClient(s, appAuth(src), nil, src.Invalidate)
	}
	tok := s.Secret.Reveal()
	auth := func(context.Context) (string, error) { return tok, nil }
	if discovery && s.Pool != nil {
		return buildGitHubClient(s, nil, s.Pool, nil)
	}
	return buildGitHubClient(s, auth, nil, nil)
}

// buildGitHubClient builds the client with auth on every request to the
// connector's host (or the pool's tokens when pool is set); refused, when
// set, hears of a token GitHub answered 401.
func buildGitHubClient(s *trackers.Session, auth func(context.Context) (string, error), pool *trackers.TokenPool, refused func(string)) (*github.Client, error) {
	base := s.BaseURL.String()
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	next := s.HTTP.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	var rt http.RoundTripper = githubPacedTransport{next: next, pacer: githubMutations, key: githubPacerKey(s)}
	if pool != nil {
		rt = pool.Transport(rt, s.BaseURL.Host, func(r *http.Request, tok string) { r.Header.Set("Authorization", "Bearer "+tok) })
	} else {
		rt = githubAuthTransport{next: rt, host: s.BaseURL.Host, token: auth, refused: refused}
	}
	opts := []github.ClientOptionsFunc{
		github.WithHTTPClient(s.HTTP),
		github.WithTransport(rt),
		// The frameworks decide when to retry after a rate limit (they
		// defer the connector); the client must not refuse calls by itself.
		github.WithDisableRateLimitCheck(),
		// The session's own User-Agent: the session's transport sends a
		// request carrying it as it is, and copies one carrying go-github's.
		github.WithUserAgent(s.UserAgent()),
	}
	if s.Connector.Deployment == connector.SelfHosted {
		opts = append(opts, github.WithEnterpriseURLs(base, base))
	} else {
		opts = append(opts, github.WithURLs(&base, nil))
	}
	return github.NewClient(opts...)
}

func (t Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	if s.Connector.AuthMode == connector.AuthGitHubApp {
		t.checkApp(ctx, s, r)
		return
	}
	client, err := newGitHubClient(s)
	if err != nil {
		// Only a malformed base URL gets here, and CheckURL has parsed it.
		r.Fail(trackers.CheckIdentity, "cannot build GitHub client for this base URL")
		return
	}
	user, resp, err := client.Users.Get(ctx, "")
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%s", describeGitHubError(err, "current user"))
		return
	case user.GetLogin() == "":
		r.Fail(trackers.CheckIdentity, "tracker sent a user without a login")
		return
	}
	r.Identity = user.GetLogin()
	r.Pass(trackers.CheckIdentity, "authenticated as %s", r.Identity)
	if !resp.TokenExpiration.IsZero() {
		r.ExpireTime = resp.TokenExpiration.UTC()
	}

	// Classic tokens list their scopes in X-OAuth-Scopes (possibly empty);
	// fine-grained tokens and app tokens send no such header at all.
	scopeHeader, classic := resp.Header["X-Oauth-Scopes"]
	if !classic {
		r.Pass(trackers.CheckScopes, "token reports no OAuth scopes (fine-grained token): relying on the repository permission check")
	} else {
		r.GrantedScopes = parseScopes(strings.Join(scopeHeader, ","))
		for _, need := range t.Rules().RequiredScopes {
			if !slices.Contains(r.GrantedScopes, need) {
				r.MissingScopes = append(r.MissingScopes, need)
			}
		}
		if len(r.MissingScopes) > 0 {
			r.Fail(trackers.CheckScopes, "token lacks scope %s (has: %s)", strings.Join(r.MissingScopes, ", "), trackerhttp.ScopesOrNone(r.GrantedScopes))
		} else {
			r.Pass(trackers.CheckScopes, "token has scopes %s", strings.Join(r.GrantedScopes, ", "))
		}
	}

	owner, name, _ := splitRepo(s.Connector.Project) // validated in Test
	repo, _, err := client.Repositories.Get(ctx, owner, name)
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckProject, "%s", describeGitHubError(err, "repository "+s.Connector.Project))
		return
	case repo.GetFullName() == "":
		r.Fail(trackers.CheckProject, "repository %s: tracker sent a repository without a name", s.Connector.Project)
		return
	}
	r.Pass(trackers.CheckProject, "repository %s visible", repo.GetFullName())
	perms := repo.GetPermissions()
	switch {
	case perms == nil:
		r.Fail(trackers.CheckWriteAccess, "repository %s: tracker did not report this token's permissions", repo.GetFullName())
	case !perms.GetPush():
		r.Fail(trackers.CheckWriteAccess, "no push access to %s: labels, comments and pull requests need write access", repo.GetFullName())
	case repo.GetArchived():
		r.Fail(trackers.CheckWriteAccess, "repository %s is archived and read-only", repo.GetFullName())
	default:
		r.Pass(trackers.CheckWriteAccess, "push access to %s", repo.GetFullName())
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
		return trackerhttp.DescribeStatus(er.Response.StatusCode, er.Response.Header, what)
	}
	if trackerhttp.IsJSONError(err) { // go-github returns decoding errors as they are
		return fmt.Sprintf("%s: tracker sent a malformed response", what)
	}
	return fmt.Sprintf("%s: %s", what, trackerhttp.Innermost(err, nil))
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

// githubAuthTransport puts the token on requests to the connector's own host
// only. go-github's WithAuthToken adds it to every request the client sends,
// so a redirect to another host would carry it there.
var _ http.RoundTripper = githubAuthTransport{}

type githubAuthTransport struct {
	next  http.RoundTripper
	host  string
	token func(context.Context) (string, error)
	// refused, when set, hears of a token answered 401 (an installation
	// token revoked before its time: the next request mints another).
	refused func(string)
}

func (t githubAuthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Host, t.host) {
		return t.next.RoundTrip(req)
	}
	tok, err := t.token(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && t.refused != nil {
		t.refused(tok)
	}
	return resp, err
}
