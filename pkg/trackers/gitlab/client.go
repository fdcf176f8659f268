package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"
	"weak"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// gitlabConn is what the GitLab tracker keeps per Session: the client-go
// client, the authenticated username (GET /user once per session) and the
// project (web URL, default branch). Tracker itself is a stateless
// registry value, so the state hangs off the Session through a weak key and
// is dropped when the Session is collected.
type gitlabConn struct {
	client *gitlab.Client
	// pooled sends discovery's listings with a token pool's tokens
	// (trackers.TokenPool); client, with the first token, everything else.
	// Nil without a pool.
	pooled *gitlab.Client

	mu       sync.Mutex
	username string
	project  *gitlabProject
	// offsetOnly: the server refused keyset pagination for the issue list
	// (405), so this session pages by offset.
	offsetOnly bool
}

var gitlabConns sync.Map // weak.Pointer[Session] → *gitlabConn

// gitlabConnFor returns the session's GitLab state, creating it on first use.
func gitlabConnFor(s *trackers.Session) (*gitlabConn, error) {
	key := weak.Make(s)
	if c, ok := gitlabConns.Load(key); ok {
		return c.(*gitlabConn), nil
	}
	client, err := newGitLabClient(s)
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	conn := &gitlabConn{client: client}
	if s.Pool != nil {
		if conn.pooled, err = newGitLabPoolClient(s); err != nil {
			return nil, fmt.Errorf("gitlab client: %w", err)
		}
	}
	c, loaded := gitlabConns.LoadOrStore(key, conn)
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[trackers.Session]) { gitlabConns.Delete(k) }, key)
	}
	return c.(*gitlabConn), nil
}

// gitlabProjectPath is the API path of the connector's project: the
// URL-encoded path ("group%2Fsub%2Fproject") or the numeric id.
func gitlabProjectPath(s *trackers.Session) string {
	return "projects/" + gitlab.PathEscape(s.Connector.Project)
}

func gitlabIssuePath(s *trackers.Session, iid int64) string {
	return gitlabProjectPath(s) + "/issues/" + strconv.FormatInt(iid, 10)
}

// call sends one request through client-go (authentication, URL building,
// pagination headers, error statuses) and decodes a JSON answer into out,
// which is one of this package's own types: client-go's Issue and
// MergeRequest decoders panic on some malformed bodies. GET options are
// encoded into the query, others as a JSON body.
func (c *gitlabConn) call(ctx context.Context, method, path string, opt, out any, what string, reqOpts ...gitlab.RequestOptionFunc) (*gitlab.Response, error) {
	return c.callWith(ctx, c.client, method, path, opt, out, what, reqOpts...)
}

// list is call for discovery's listings: spread over the token pool, if any.
func (c *gitlabConn) list(ctx context.Context, method, path string, opt, out any, what string, reqOpts ...gitlab.RequestOptionFunc) (*gitlab.Response, error) {
	if c.pooled != nil {
		return c.callWith(ctx, c.pooled, method, path, opt, out, what, reqOpts...)
	}
	return c.call(ctx, method, path, opt, out, what, reqOpts...)
}

func (c *gitlabConn) callWith(ctx context.Context, client *gitlab.Client, method, path string, opt, out any, what string, reqOpts ...gitlab.RequestOptionFunc) (*gitlab.Response, error) {
	req, err := client.NewRequest(method, path, opt, append([]gitlab.RequestOptionFunc{gitlab.WithContext(ctx)}, reqOpts...))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if out == nil {
		resp, err := client.Do(req, nil)
		return resp, gitlabError(ctx, resp, err, what)
	}
	// client-go decodes with encoding/json; the body is read whole here and
	// decoded into the small types, which costs a fraction on a page of a
	// hundred issues: a listing page by its own decoder (listingDecoder),
	// anything else by goccy/go-json. The body goes into a pooled buffer;
	// both copy what they keep, so nothing refers to the buffer once they
	// have returned.
	body := trackerhttp.Buffer()
	defer trackerhttp.PutBuffer(body)
	resp, err := client.Do(req, body)
	if err != nil {
		return resp, gitlabError(ctx, resp, err, what)
	}
	if d, ok := out.(listingDecoder); ok {
		err = d.decodeListing(body.Bytes())
	} else {
		err = json.Unmarshal(body.Bytes(), out)
	}
	if err != nil {
		return resp, fmt.Errorf("%w: %s: %s", trackers.ErrMalformedResponse, what, trackerhttp.Innermost(err, nil))
	}
	return resp, nil
}

// listingDecoder is an answer decoded by hand from the pooled buffer
// (trackerhttp.DecodeListing), as discovery's listing pages are.
type listingDecoder interface {
	decodeListing(body []byte) error
}

// gitlabError maps a failed call onto the errors the frameworks act on:
// 429 → *RateLimitError, 401/403 → ErrUnauthorized, 5xx and transport
// failures → ErrTransient, a 2xx body that does not decode →
// ErrMalformedResponse. A 404 is returned as errGitLabNotFound for the caller
// to name (ErrTicketNotFound for an issue). Messages never carry the URL.
func gitlabError(ctx context.Context, resp *gitlab.Response, err error, what string) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", what, cerr)
	}
	code := 0
	var h http.Header
	if resp != nil && resp.Response != nil {
		code, h = resp.StatusCode, resp.Header
	}
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		code, h = er.Response.StatusCode, er.Response.Header
	}
	if errors.Is(err, gitlab.ErrNotFound) {
		code = http.StatusNotFound
	}
	if errors.Is(err, trackers.ErrResponseTooLarge) {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case code == http.StatusTooManyRequests:
		return &trackers.RateLimitError{RetryAfter: gitlabRetryAfter(h, time.Now()), Reason: h.Get("RateLimit-Name")}
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return fmt.Errorf("%w: %s", trackers.ErrUnauthorized, describeGitLabError(err, what))
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s", errGitLabNotFound, trackerhttp.DescribeStatus(code, h, what))
	case code == http.StatusConflict:
		return fmt.Errorf("%w: %s", errGitLabConflict, describeGitLabError(err, what))
	case code == http.StatusMethodNotAllowed:
		return fmt.Errorf("%w: %s", errGitLabMethodNotAllowed, trackerhttp.DescribeStatus(code, h, what))
	case code >= 500, code == http.StatusRequestTimeout:
		return fmt.Errorf("%w: %s", trackers.ErrTransient, describeGitLabError(err, what))
	case code >= 200 && code <= 299:
		return fmt.Errorf("%w: %s: %s", trackers.ErrMalformedResponse, what, trackerhttp.Innermost(err, nil))
	case code == 0 && errors.Is(err, trackers.ErrEndpointRefused):
		return fmt.Errorf("%s: %w", what, err)
	case code == 0 && errors.As(err, new(*trackers.RateLimitError)):
		rl, _ := trackers.PacedError(err) // not sent: the budget is low (trackers.Pacer)
		return rl
	case code == 0:
		return fmt.Errorf("%w: %s: %s", trackers.ErrTransient, what, trackerhttp.DescribeTransportError(err))
	case code >= 400:
		return fmt.Errorf("%w: %s", trackers.ErrRejected, describeGitLabError(err, what))
	}
	return errors.New(describeGitLabError(err, what))
}

// errGitLabNotFound is a 404; callers wrap ErrTicketNotFound where the
// missing thing is the ticket.
var errGitLabNotFound = errors.New("not found")

// gitlabDefaultRetryAfter applies when a 429 names no wait.
const gitlabDefaultRetryAfter = time.Minute

// gitlabRetryAfter reads how long GitLab asks us to wait: Retry-After
// (seconds or an HTTP date), else RateLimit-Reset (Unix seconds), else
// RateLimit-ResetTime (an HTTP date), else a minute.
func gitlabRetryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := trackerhttp.ParseRetryAfter(h.Get("Retry-After"), now); ok {
		return max(d, time.Second)
	}
	if v := h.Get("RateLimit-Reset"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return max(time.Unix(n, 0).Sub(now), time.Second)
		}
	}
	if v := h.Get("RateLimit-ResetTime"); v != "" {
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), time.Second)
		}
	}
	return gitlabDefaultRetryAfter
}

// gitlabUser is GitLab's UserBasic (and the current user).
type gitlabUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Email    string `json:"email"`
}

func (u *gitlabUser) user() trackers.User {
	if u == nil {
		return trackers.User{}
	}
	out := trackers.User{Login: u.Username, DisplayName: u.Name, Email: u.Email}
	if u.ID != 0 {
		out.ID = strconv.FormatInt(u.ID, 10)
	}
	return out
}

// assignee is the account discovery lists tickets for: the connector's
// Assignee, else the authenticated user (GET /user once per session).
func (c *gitlabConn) assignee(ctx context.Context, s *trackers.Session) (string, error) {
	if a := s.Connector.Assignee; a != "" {
		return a, nil
	}
	c.mu.Lock()
	name := c.username
	c.mu.Unlock()
	if name != "" {
		return name, nil
	}
	var u gitlabUser
	if _, err := c.call(ctx, http.MethodGet, "user", nil, &u, "current user"); err != nil {
		return "", err
	}
	if u.Username == "" {
		return "", fmt.Errorf("%w: current user has no username", trackers.ErrMalformedResponse)
	}
	c.mu.Lock()
	c.username = u.Username
	c.mu.Unlock()
	return u.Username, nil
}

// gitlabProject is what the tracker needs of the project.
type gitlabProject struct {
	ID            int64  `json:"id"`
	WebURL        string `json:"web_url"`
	DefaultBranch string `json:"default_branch"`
}

// projectInfo returns the connector's project, read once per session.
func (c *gitlabConn) projectInfo(ctx context.Context, s *trackers.Session) (gitlabProject, error) {
	c.mu.Lock()
	p := c.project
	c.mu.Unlock()
	if p != nil {
		return *p, nil
	}
	var got gitlabProject
	what := "project " + s.Connector.Project
	if _, err := c.call(ctx, http.MethodGet, gitlabProjectPath(s), nil, &got, what); err != nil {
		return gitlabProject{}, err
	}
	if got.ID == 0 || got.WebURL == "" {
		return gitlabProject{}, fmt.Errorf("%w: %s lacks id or web_url", trackers.ErrMalformedResponse, what)
	}
	c.mu.Lock()
	c.project = &got
	c.mu.Unlock()
	return got, nil
}

// gitlabMaxPages bounds a listing that a broken server would never end.
const gitlabMaxPages = 1000

// gitlabPerPage is GitLab's largest page.
const gitlabPerPage = 100
