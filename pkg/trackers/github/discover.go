package github

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/google/go-github/v92/github"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// githubPerPage is the page size discovery asks for (GitHub's maximum).
const githubPerPage = 100

// ConditionalRequests: an unchanged page answered 304 costs no rate limit, so
// the poller keeps page ETags and an idle cycle costs no rate limit.
func (Tracker) ConditionalRequests() bool { return true }

// Discover lists one page of the open issues assigned to the connector's
// account (connector.Assignee, else the token's login), least recently
// updated first, skipping the pull requests the issues endpoint also
// returns. PageToken is the page number from the Link header's rel="next".
// With q.ETag it sends If-None-Match and reports NotModified on 304.
// Scope.Labels become the labels parameter (GitHub: issues carrying all of them).
func (t Tracker) Discover(ctx context.Context, s *trackers.Session, q trackers.DiscoveryQuery) (trackers.DiscoveryPage, error) {
	owner, name, err := splitRepo(s.Connector.Project)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	gc, err := newGitHubDiscoveryClient(s)
	if err != nil {
		return trackers.DiscoveryPage{}, fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
	}
	login, err := githubAssignee(ctx, s, gc)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	v := url.Values{}
	v.Set("assignee", login)
	v.Set("state", "open")
	v.Set("sort", "updated")
	v.Set("direction", "asc")
	v.Set("per_page", strconv.Itoa(githubPerPage))
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if len(s.Connector.Scope.Labels) > 0 {
		v.Set("labels", strings.Join(s.Connector.Scope.Labels, ","))
	}
	if q.PageToken != "" {
		page, err := strconv.Atoi(q.PageToken)
		if err != nil || page < 1 {
			return trackers.DiscoveryPage{}, fmt.Errorf("github: page token %q is not a page number", q.PageToken)
		}
		v.Set("page", q.PageToken)
	}
	what := "list issues of " + s.Connector.Project
	req, err := gc.NewRequest(ctx, http.MethodGet, fmt.Sprintf("repos/%s/%s/issues?%s", url.PathEscape(owner), url.PathEscape(name), v.Encode()), nil)
	if err != nil {
		return trackers.DiscoveryPage{}, fmt.Errorf("github %s: %w", what, err)
	}
	if q.ETag != "" {
		req.Header.Set("If-None-Match", q.ETag)
	}
	// The page is read into a pooled buffer; decodeListedIssues copies the
	// strings it keeps, so nothing refers to the buffer once it has returned.
	body := trackerhttp.Buffer()
	defer trackerhttp.PutBuffer(body)
	resp, err := gc.Do(req, body)
	if resp != nil && resp.StatusCode == http.StatusNotModified {
		return trackers.DiscoveryPage{NotModified: true, ETag: q.ETag}, nil
	}
	if err != nil {
		// A repository that is missing or invisible to the token is a
		// configuration problem retries will not fix.
		return trackers.DiscoveryPage{}, githubError(ctx, err, what, trackers.ErrUnauthorized)
	}
	listed, err := decodeListedIssues(body.Bytes())
	if err != nil {
		return trackers.DiscoveryPage{}, fmt.Errorf("%w: github %s: %v", trackers.ErrMalformedResponse, what, err)
	}
	page := trackers.DiscoveryPage{ETag: resp.Header.Get("ETag")}
	var keys trackerhttp.Keys
	if resp.NextPage > 0 {
		page.NextPageToken = strconv.Itoa(resp.NextPage)
	}
	for i := range listed {
		l := &listed[i]
		if l.PullRequest {
			continue
		}
		tk, err := githubTicket(s, l, &keys)
		if err != nil {
			return trackers.DiscoveryPage{}, err
		}
		if q.Full && s.Connector.IndexComments && l.Comments > 0 {
			if tk.Comments, err = githubComments(ctx, gc, owner, name, l.Number); err != nil {
				return trackers.DiscoveryPage{}, err
			}
		}
		page.Tickets = append(page.Tickets, tk)
	}
	return page, nil
}

// GetTicket reads an issue by number. A pull request's number, or one that
// does not exist, is ErrTicketNotFound.
func (Tracker) GetTicket(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
	owner, name, err := splitRepo(s.Connector.Project)
	if err != nil {
		return trackers.Ticket{}, err
	}
	gc, err := newGitHubClient(s)
	if err != nil {
		return trackers.Ticket{}, fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
	}
	is, err := githubIssue(ctx, gc, s, owner, name, key)
	if err != nil {
		return trackers.Ticket{}, err
	}
	return githubTicket(s, listedFrom(is), nil)
}

// githubIssue reads an issue that is not a pull request.
func githubIssue(ctx context.Context, gc *github.Client, s *trackers.Session, owner, name, key string) (*github.Issue, error) {
	n, err := githubNumber(s.Connector, key)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("issue %s#%d", s.Connector.Project, n)
	is, _, err := gc.Issues.Get(ctx, owner, name, n)
	if err != nil {
		return nil, githubError(ctx, err, "read "+what, trackers.ErrTicketNotFound)
	}
	if is.IsPullRequest() {
		return nil, fmt.Errorf("%w: %s is a pull request", trackers.ErrTicketNotFound, what)
	}
	return is, nil
}

// githubTicket maps an issue onto a Ticket. It reads the listing's small
// type, which GetTicket's go-github Issue is converted to (listedFrom):
// discovery used to build a go-github Issue and two Users per listed issue
// for this, five large allocations per ticket (issue 9).
// keys builds the key (nil: its own allocation).
func githubTicket(s *trackers.Session, is *listedIssue, keys *trackerhttp.Keys) (trackers.Ticket, error) {
	if is.Number == 0 || is.HTMLURL == "" || is.UpdatedAt.IsZero() {
		return trackers.Ticket{}, fmt.Errorf("%w: github issue without number, html_url or updated_at", trackers.ErrMalformedResponse)
	}
	labels := is.Labels // non-empty names, this ticket's own slice
	if labels == nil {
		labels = []string{}
	}
	status, ok := githubStatusOf(s.Connector, labels)
	if !ok {
		status = is.State
	}
	return trackers.Ticket{
		Key:                 keys.Key(s.Connector.Project, int64(is.Number)),
		URL:                 is.HTMLURL,
		Summary:             is.Title,
		DescriptionMarkdown: is.Body,
		DescriptionText:     githubPlainText(is.Body),
		Status:              status,
		Labels:              labels,
		Reporter:            is.User.user(),
		Assignee:            is.Assignee.user(),
		Created:             is.CreatedAt.UTC(),
		Updated:             is.UpdatedAt.UTC(),
	}, nil
}

func githubUser(u *github.User) trackers.User {
	if u == nil {
		return trackers.User{}
	}
	id := ""
	if u.GetID() != 0 {
		id = strconv.FormatInt(u.GetID(), 10)
	}
	return trackers.User{ID: id, Login: u.GetLogin(), DisplayName: u.GetName(), Email: u.GetEmail()}
}

// githubComments reads every comment of an issue, oldest first.
func githubComments(ctx context.Context, gc *github.Client, owner, name string, n int) ([]trackers.Comment, error) {
	var out []trackers.Comment
	err := githubEachComment(ctx, gc, owner, name, n, func(c *github.IssueComment) bool {
		out = append(out, trackers.Comment{
			ID:       strconv.FormatInt(c.GetID(), 10),
			Author:   githubUser(c.GetUser()),
			Markdown: c.GetBody(),
			Created:  c.GetCreatedAt().UTC(),
		})
		return true
	})
	return out, err
}

// githubEachComment calls f on every comment of an issue, all pages, until f
// returns false.
func githubEachComment(ctx context.Context, gc *github.Client, owner, name string, n int, f func(*github.IssueComment) bool) error {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: githubPerPage}}
	for {
		list, resp, err := gc.Issues.ListComments(ctx, owner, name, n, opts)
		if err != nil {
			return githubError(ctx, err, fmt.Sprintf("list comments of %s/%s#%d", owner, name, n), trackers.ErrTicketNotFound)
		}
		for _, c := range list {
			if c != nil && !f(c) {
				return nil
			}
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

// githubLogins caches the token's login per session (GET /user once), so
// discovery without a configured assignee costs one extra request per
// session, not per page. Entries go when their session is collected.
var githubLogins = struct {
	sync.Mutex
	m map[weak.Pointer[trackers.Session]]string
}{m: map[weak.Pointer[trackers.Session]]string{}}

// githubAssignee is whose issues discovery lists: the connector's assignee,
// else the login the token (a pool's first token) authenticates as.
func githubAssignee(ctx context.Context, s *trackers.Session, gc *github.Client) (string, error) {
	if s.Connector.Assignee != "" {
		return s.Connector.Assignee, nil
	}
	key := weak.Make(s)
	githubLogins.Lock()
	login, ok := githubLogins.m[key]
	githubLogins.Unlock()
	if ok {
		return login, nil
	}
	if s.Pool != nil {
		// A pool's tokens may belong to several accounts: the default
		// assignee is the first token's, the connector's one identity.
		pc, err := newGitHubClient(s)
		if err != nil {
			return "", fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
		}
		gc = pc
	}
	u, _, err := gc.Users.Get(ctx, "")
	if err != nil {
		return "", githubError(ctx, err, "read the authenticated user", trackers.ErrUnauthorized)
	}
	if login = u.GetLogin(); login == "" {
		return "", fmt.Errorf("%w: github user without a login", trackers.ErrMalformedResponse)
	}
	githubLogins.Lock()
	defer githubLogins.Unlock()
	if _, had := githubLogins.m[key]; !had {
		githubLogins.m[key] = login
		runtime.AddCleanup(s, func(k weak.Pointer[trackers.Session]) {
			githubLogins.Lock()
			defer githubLogins.Unlock()
			delete(githubLogins.m, k)
		}, key)
	}
	return login, nil
}

// githubStatusLabels are the connector's status labels in workflow order,
// with the defaults for any it leaves empty.
// An array, not a slice: discovery reads it for every ticket and a slice
// would be allocated each time.
func githubStatusLabels(c connector.Connector) [3]string {
	l, d := c.StatusLabels, connector.DefaultStatusLabels
	return [3]string{
		cmp.Or(l.InProgress, d.InProgress),
		cmp.Or(l.InReview, d.InReview),
		cmp.Or(l.Done, d.Done),
	}
}

// githubStatusOf is the status an issue's labels say: the first of its labels
// that is a status label (named as configured), ok false when none is.
func githubStatusOf(c connector.Connector, labels []string) (string, bool) {
	statuses := githubStatusLabels(c)
	for _, l := range labels {
		for _, st := range statuses {
			if strings.EqualFold(l, st) {
				return st, true
			}
		}
	}
	return "", false
}

// listedIssue is the part of a listed issue discovery reads: decoding only
// these fields, not go-github's whole Issue, is most of a page's cost saved.
type listedIssue struct {
	Number      int
	HTMLURL     string
	Title       string
	Body        string
	State       string
	Comments    int
	Labels      []string // the labels' non-empty names
	User        listedUser
	Assignee    listedUser
	CreatedAt   time.Time
	UpdatedAt   time.Time
	PullRequest bool // the issues endpoint lists pull requests too
}

// decodeListedIssues decodes a page of GET /repos/{o}/{r}/issues (an array
// of issues; null entries are skipped) with the shared listing scanner
// (trackerhttp.Scanner: one pass over the pooled buffer, only these fields,
// strings copied into per-page blocks). Fields are read as go-github's
// decoding reads them: TestDecodeListedIssuesAsGoGitHub.
func decodeListedIssues(body []byte) ([]listedIssue, error) {
	out := make([]listedIssue, 0, githubPerPage)
	var labels, scratch []string
	err := trackerhttp.Decode(body, func(s *trackerhttp.Scanner) {
		if s.Kind() != '[' {
			s.Fail(fmt.Errorf("a listing page is an array"))
			return
		}
		s.Array("issues", func() {
			if s.Null() {
				return
			}
			out = append(out, listedIssue{})
			l := &out[len(out)-1]
			s.Object("issue", func(k []byte) {
				switch string(k) {
				case "number":
					l.Number = int(s.Int64("number"))
				case "html_url":
					l.HTMLURL = s.String("html_url")
				case "title":
					l.Title = s.String("title")
				case "body":
					l.Body = s.String("body")
				case "state":
					l.State = s.String("state")
				case "comments":
					l.Comments = int(s.Int64("comments"))
				case "labels":
					scratch = scratch[:0]
					s.Array("labels", func() {
						s.Object("labels", func(k []byte) {
							if string(k) != "name" {
								s.Skip()
							} else if name := s.String("labels.name"); name != "" {
								scratch = append(scratch, name)
							}
						})
					})
					l.Labels = append(trackerhttp.Slice(&labels, len(scratch)), scratch...)
				case "user":
					l.User = decodeListedUser(s, "user")
				case "assignee":
					l.Assignee = decodeListedUser(s, "assignee")
				case "created_at":
					l.CreatedAt = decodeListedTime(s, "created_at")
				case "updated_at":
					l.UpdatedAt = decodeListedTime(s, "updated_at")
				case "pull_request":
					l.PullRequest = !s.Null()
					if l.PullRequest {
						s.Skip()
					}
				default:
					s.Skip()
				}
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeListedUser(s *trackerhttp.Scanner, name string) listedUser {
	var u listedUser
	s.Object(name, func(k []byte) {
		switch string(k) {
		case "id":
			u.ID = s.Int64(name)
		case "login":
			u.Login = s.String(name)
		case "name":
			u.Name = s.String(name)
		case "email":
			u.Email = s.String(name)
		default:
			s.Skip()
		}
	})
	return u
}

// decodeListedTime reads a timestamp as github.Timestamp does: an RFC 3339
// string, or a Unix time in seconds (milliseconds past the year 3000).
func decodeListedTime(s *trackerhttp.Scanner, name string) time.Time {
	if s.Kind() != '0' {
		return s.Time(name)
	}
	var ts github.Timestamp
	if err := ts.UnmarshalJSON(s.RawNumber(name)); err != nil {
		s.Fail(fmt.Errorf("field %s: %v", name, err))
	}
	return ts.Time
}

type listedUser struct {
	ID    int64
	Login string
	Name  string
	Email string
}

// user is the listed user as a trackers.User (zero for none).
func (u *listedUser) user() trackers.User {
	if u == nil {
		return trackers.User{}
	}
	id := ""
	if u.ID != 0 {
		id = strconv.FormatInt(u.ID, 10)
	}
	return trackers.User{ID: id, Login: u.Login, DisplayName: u.Name, Email: u.Email}
}

// listedFrom is a go-github Issue (GetTicket's) as the listing's type.
func listedFrom(is *github.Issue) *listedIssue {
	l := &listedIssue{Number: is.GetNumber(), HTMLURL: is.GetHTMLURL(), Title: is.GetTitle(), Body: is.GetBody(), State: is.GetState(),
		Comments: is.GetComments(), User: listedUserFrom(is.GetUser()), Assignee: listedUserFrom(is.GetAssignee())}
	l.CreatedAt, l.UpdatedAt = is.GetCreatedAt().Time, is.GetUpdatedAt().Time
	for _, lb := range is.Labels {
		if lb.GetName() != "" {
			l.Labels = append(l.Labels, lb.GetName())
		}
	}
	return l
}

func listedUserFrom(u *github.User) listedUser {
	return listedUser{ID: u.GetID(), Login: u.GetLogin(), Name: u.GetName(), Email: u.GetEmail()}
}
