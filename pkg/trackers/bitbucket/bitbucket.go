// Package bitbucket is the Bitbucket Cloud tracker: issues assigned to the
// connector's account in its repository (when the repository's issue
// tracker is on), and pull requests where the account is a reviewer (a
// connector setting, and the fallback when the issue tracker is off).
// Writeback sets an issue's state, comments in Markdown (content.raw) and
// opens pull requests.
package bitbucket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Tracker talks to Bitbucket Cloud's REST API 2.0 with an Atlassian API
// token and the account's email (basic auth; app passwords stop working in
// 2026).
type Tracker struct{}

var (
	_ trackers.Tracker           = Tracker{}
	_ trackers.IdentityChecker   = Tracker{}
	_ trackers.Discoverer        = Tracker{}
	_ trackers.TicketReader      = Tracker{}
	_ trackers.StatusWriter      = Tracker{}
	_ trackers.Commenter         = Tracker{}
	_ trackers.PullRequestOpener = Tracker{}
	_ trackers.KeyNormalizer     = Tracker{}
)

// New returns the Bitbucket Cloud tracker.
func New() Tracker { return Tracker{} }

// DefaultBaseURL is Bitbucket Cloud's API root.
const DefaultBaseURL = "https://api.bitbucket.org/2.0"

// repoPath is workspace/repo_slug.
var repoPath = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// RequiredScopes are the API token's scopes (Atlassian's scoped API tokens
// for Bitbucket).
var RequiredScopes = []string{"read:user:bitbucket", "read:repository:bitbucket", "read:issue:bitbucket", "write:issue:bitbucket", "read:pullrequest:bitbucket", "write:pullrequest:bitbucket"}

// Rules: Bitbucket Cloud only, basic auth with the Atlassian account's email
// as the username and an API token; the project is workspace/repo_slug.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:          connector.Bitbucket,
		Deployments:     []connector.Deployment{connector.Cloud},
		AuthModes:       map[connector.Deployment][]connector.AuthMode{connector.Cloud: {connector.AuthBasic}},
		DefaultBaseURLs: map[connector.Deployment]string{connector.Cloud: DefaultBaseURL},
		EmailUsername:   []connector.Deployment{connector.Cloud},
		Project: &connector.KeyRule{
			Required: true,
			Pattern:  repoPath,
			What:     "the repository as workspace/repo_slug",
			Invalid:  "must be workspace/repo_slug",
		},
		RequiredScopes: RequiredScopes,
	}
}

// conn is what the tracker keeps per Session: the account and the
// repository, read once.
type conn struct {
	mu   sync.Mutex
	me   *account
	repo *repository
}

var conns sync.Map // weak.Pointer[Session] → *conn

func connFor(s *trackers.Session) *conn {
	key := weak.Make(s)
	if c, ok := conns.Load(key); ok {
		return c.(*conn)
	}
	c, loaded := conns.LoadOrStore(key, &conn{})
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[trackers.Session]) { conns.Delete(k) }, key)
	}
	return c.(*conn)
}

// assignee is the account whose tickets are discovered: the connector's
// assignee (a {uuid}), else the authenticated user.
func assignee(ctx context.Context, s *trackers.Session) (string, error) {
	if a := s.Connector.Assignee; a != "" {
		return a, nil
	}
	me, err := currentUser(ctx, s)
	if err != nil {
		return "", err
	}
	return me.UUID, nil
}

func currentUser(ctx context.Context, s *trackers.Session) (account, error) {
	c := connFor(s)
	c.mu.Lock()
	me := c.me
	c.mu.Unlock()
	if me != nil {
		return *me, nil
	}
	var got account
	if _, err := call(ctx, s, http.MethodGet, "user", nil, nil, &got, "current user"); err != nil {
		return account{}, err
	}
	if got.UUID == "" {
		return account{}, fmt.Errorf("%w: current user without uuid", trackers.ErrMalformedResponse)
	}
	c.mu.Lock()
	c.me = &got
	c.mu.Unlock()
	return got, nil
}

func repoInfo(ctx context.Context, s *trackers.Session) (repository, error) {
	c := connFor(s)
	c.mu.Lock()
	r := c.repo
	c.mu.Unlock()
	if r != nil {
		return *r, nil
	}
	var got repository
	what := "repository " + s.Connector.Project
	if _, err := call(ctx, s, http.MethodGet, "repositories/"+s.Connector.Project, nil, nil, &got, what); err != nil {
		return repository{}, err
	}
	if got.FullName == "" {
		return repository{}, fmt.Errorf("%w: %s without full_name", trackers.ErrMalformedResponse, what)
	}
	c.mu.Lock()
	c.repo = &got
	c.mu.Unlock()
	return got, nil
}

// CheckIdentity: who the token is (GET /user), whether the repository is
// visible, and whether its issue tracker is on. The issue endpoints are
// deprecated in Atlassian's description: a repository without an issue
// tracker is reported clearly, and discovery falls back to pull requests
// where the account is a reviewer.
func (Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	me, err := currentUser(ctx, s)
	switch {
	case s.TransportFailed():
		return
	case errors.Is(err, trackers.ErrUnauthorized):
		r.Fail(trackers.CheckIdentity, "%v (use the Atlassian account's email as the username and an API token with scopes %s; app passwords stop working in 2026)", err, strings.Join(RequiredScopes, ", "))
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%v", err)
		return
	}
	r.Identity = s.Connector.Username
	r.Pass(trackers.CheckIdentity, "authenticated as %s (%s)", me.DisplayName, me.UUID)

	repo, err := repoInfo(ctx, s)
	switch {
	case s.TransportFailed():
		return
	case errors.Is(err, trackers.ErrUnauthorized):
		r.Fail(trackers.CheckProject, "repository %s: access forbidden: the token needs read:repository:bitbucket and the account read access", s.Connector.Project)
		return
	case errors.Is(err, errNotFound):
		r.Fail(trackers.CheckProject, "repository %s not found or not visible to you", s.Connector.Project)
		return
	case err != nil:
		r.Fail(trackers.CheckProject, "%v", err)
		return
	}
	r.Pass(trackers.CheckProject, "repository %s visible", repo.FullName)

	if !repo.HasIssues {
		// Not a failure: discovery falls back to pull requests.
		r.Pass(CheckIssueTracker, "repository %s has no issue tracker (turned off, or gone: Atlassian has deprecated Bitbucket issues): discovering pull requests where you are a reviewer instead", repo.FullName)
		return
	}
	var probe page[issue]
	_, err = call(ctx, s, http.MethodGet, "repositories/"+s.Connector.Project+"/issues", urlValues("pagelen", "1"), nil, &probe, "issues of "+repo.FullName)
	switch {
	case s.TransportFailed():
	case errors.Is(err, errGone), errors.Is(err, errNotFound):
		r.Pass(CheckIssueTracker, "the issue tracker of %s is gone (Atlassian has deprecated Bitbucket issues): discovering pull requests where you are a reviewer instead", repo.FullName)
	case errors.Is(err, trackers.ErrUnauthorized):
		r.Fail(CheckIssueTracker, "issues of %s: access forbidden: the token needs read:issue:bitbucket and write:issue:bitbucket", repo.FullName)
	case err != nil:
		r.Fail(CheckIssueTracker, "%v", err)
	default:
		r.Pass(CheckIssueTracker, "issue tracker of %s is on", repo.FullName)
	}
}

// CheckIssueTracker is the connection-test check of the repository's issue tracker.
const CheckIssueTracker = "issue_tracker"

// NormalizeKey takes workspace/repo#12 (an issue), workspace/repo!7 (a pull
// request), #12, 12, !7, or the issue's or pull request's web URL.
func (Tracker) NormalizeKey(c connector.Connector, input string) (string, error) {
	in := strings.TrimSpace(input)
	if u, ok := trackers.ParseWebURL(in); ok {
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) >= 4 {
			repo := parts[0] + "/" + parts[1]
			switch parts[2] {
			case "issues":
				in = repo + "#" + parts[3]
			case "pull-requests", "pullrequests":
				in = repo + "!" + parts[3]
			}
		}
	}
	repo, sep, num := in, "#", ""
	if i := strings.LastIndexAny(in, "#!"); i >= 0 {
		repo, sep, num = in[:i], in[i:i+1], in[i+1:]
	} else {
		repo, num = "", in
	}
	n, ok := trackers.ParseTicketNumber(num)
	if !ok {
		return "", fmt.Errorf("%w: %q is not a Bitbucket issue (workspace/repo#12) or pull request (workspace/repo!7)", trackers.ErrInvalidTicketKey, input)
	}
	if repo == "" {
		repo = c.Project
	}
	if !strings.EqualFold(repo, c.Project) {
		return "", fmt.Errorf("%w: %q is in %s, the connector's repository is %s", trackers.ErrInvalidTicketKey, input, repo, c.Project)
	}
	return c.Project + sep + strconv.FormatInt(n, 10), nil
}

// splitKey returns the number and whether the key names a pull request.
func splitKey(s *trackers.Session, key string) (int64, bool, error) {
	k, err := Tracker{}.NormalizeKey(s.Connector, key)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
	}
	i := strings.LastIndexAny(k, "#!")
	n, _ := strconv.ParseInt(k[i+1:], 10, 64)
	return n, k[i] == '!', nil
}
