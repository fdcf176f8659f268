package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// gitlabIssue is the part of GitLab's Issue entity the tracker reads.
// Description and the times are values, not pointers: null and absent read
// as "" and the zero time, which the conversion treats as "none", and a
// listing allocates three objects less per issue (issue 9).
type gitlabIssue struct {
	IID            int64        `json:"iid"`
	Title          string       `json:"title"`
	Description    string       `json:"description"`
	State          string       `json:"state"`
	Labels         []string     `json:"labels"`
	Author         gitlabUser   `json:"author"` // null reads as the zero user, which converts as none
	Assignees      []gitlabUser `json:"assignees"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	WebURL         string       `json:"web_url"`
	UserNotesCount *int64       `json:"user_notes_count"`
}

// gitlabIssuePage is a page of the issue listing, decoded by
// decodeGitLabIssues rather than go-json (callWith): see
// trackerhttp.DecodeListing.
type gitlabIssuePage []gitlabIssue

func (p *gitlabIssuePage) decodeListing(body []byte) error {
	issues, err := decodeGitLabIssues(body)
	*p = issues
	return err
}

// decodeGitLabIssues decodes a page of GET /projects/:id/issues (an array
// of issues) with the shared listing scanner (trackerhttp.Scanner: one pass
// over the pooled buffer, only the fields gitlabIssue has, strings and
// small slices in per-page blocks), as go-json reads them into it
// (TestDecodeGitLabIssuesAsGoJSON). A null entry reads as the zero issue,
// as go-json's does (the conversion refuses it).
func decodeGitLabIssues(body []byte) ([]gitlabIssue, error) {
	out := make([]gitlabIssue, 0, gitlabPerPage)
	var (
		labels, scratch []string
		users, uscratch []gitlabUser
		counts          []int64
	)
	err := trackerhttp.Decode(body, func(s *trackerhttp.Scanner) {
		if s.Kind() != '[' {
			s.Fail(fmt.Errorf("a listing page is an array"))
			return
		}
		s.Array("issues", func() {
			out = append(out, gitlabIssue{})
			is := &out[len(out)-1]
			s.Object("issue", func(k []byte) {
				switch string(k) {
				case "iid":
					is.IID = s.Int64("iid")
				case "title":
					is.Title = s.String("title")
				case "description":
					is.Description = s.String("description")
				case "state":
					is.State = s.String("state")
				case "labels":
					scratch = scratch[:0]
					if s.Array("labels", func() { scratch = append(scratch, s.String("labels")) }) {
						is.Labels = append(trackerhttp.Slice(&labels, len(scratch)), scratch...)
					}
				case "author":
					is.Author = decodeGitLabUser(s, "author")
				case "assignees":
					uscratch = uscratch[:0]
					if s.Array("assignees", func() { uscratch = append(uscratch, decodeGitLabUser(s, "assignees")) }) {
						is.Assignees = append(trackerhttp.Slice(&users, len(uscratch)), uscratch...)
					}
				case "created_at":
					is.CreatedAt = s.Time("created_at")
				case "updated_at":
					is.UpdatedAt = s.Time("updated_at")
				case "web_url":
					is.WebURL = s.String("web_url")
				case "user_notes_count":
					if !s.Null() {
						n := append(trackerhttp.Slice(&counts, 1), s.Int64("user_notes_count"))
						is.UserNotesCount = &n[0]
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

func decodeGitLabUser(s *trackerhttp.Scanner, name string) gitlabUser {
	var u gitlabUser
	s.Object(name, func(k []byte) {
		switch string(k) {
		case "id":
			u.ID = s.Int64(name)
		case "username":
			u.Username = s.String(name)
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

// gitlabNote is the part of GitLab's Note entity the tracker reads.
type gitlabNote struct {
	ID        int64       `json:"id"`
	Body      string      `json:"body"`
	Author    *gitlabUser `json:"author"`
	System    bool        `json:"system"`
	CreatedAt *time.Time  `json:"created_at"`
}

// Page tokens: keyset pagination continues from a cursor, offset pagination
// (GitLab versions without keyset support for issues) from a page number.
const (
	gitlabCursorToken = "cursor:"
	gitlabPageToken   = "page:"
)

// gitlabListOptions are the issue-list parameters. Keyset pagination is asked
// for with pagination=keyset and continued with cursor (GitLab 18.3+ for
// project issues; older versions ignore it and page by offset).
type gitlabListOptions struct {
	gitlab.ListProjectIssuesOptions
	Cursor string `url:"cursor,omitempty"`
}

// Discover lists one page of the open issues assigned to the connector's
// account, oldest update first:
//
//	GET /projects/:id/issues?assignee_username=<u>&state=opened
//	    &updated_after=<since>&order_by=updated_at&sort=asc&per_page=100
//	    [&labels=<scope labels>]&pagination=keyset[&cursor=…]
//
// The next page comes from the cursor in the Link header (keyset) or, where
// the server pages by offset, from X-Next-Page.
func (Tracker) Discover(ctx context.Context, s *trackers.Session, q trackers.DiscoveryQuery) (trackers.DiscoveryPage, error) {
	c, err := gitlabConnFor(s)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	assignee, err := c.assignee(ctx, s)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	opt := gitlabListOptions{ListProjectIssuesOptions: gitlab.ListProjectIssuesOptions{
		ListOptions:      gitlab.ListOptions{PerPage: gitlabPerPage},
		State:            gitlab.Ptr("opened"),
		AssigneeUsername: gitlab.Ptr(assignee),
		OrderBy:          gitlab.Ptr("updated_at"),
		Sort:             gitlab.Ptr("asc"),
	}}
	if labels := s.Connector.Scope.Labels; len(labels) > 0 {
		opt.Labels = (*gitlab.LabelOptions)(&labels)
	}
	if !q.Since.IsZero() {
		opt.UpdatedAfter = gitlab.Ptr(q.Since.UTC())
	}
	c.mu.Lock()
	keyset := !c.offsetOnly
	c.mu.Unlock()
	switch tok := q.PageToken; {
	case tok == "":
	case strings.HasPrefix(tok, gitlabCursorToken):
		opt.Cursor = strings.TrimPrefix(tok, gitlabCursorToken)
		keyset = true
	case strings.HasPrefix(tok, gitlabPageToken):
		n, err := strconv.ParseInt(strings.TrimPrefix(tok, gitlabPageToken), 10, 64)
		if err != nil || n < 1 {
			return trackers.DiscoveryPage{}, fmt.Errorf("gitlab: invalid page token %q", tok)
		}
		opt.Page = n
		keyset = false
	default:
		return trackers.DiscoveryPage{}, fmt.Errorf("gitlab: invalid page token %q", tok)
	}
	if keyset {
		opt.Pagination = "keyset"
	}

	var issues gitlabIssuePage
	what := "issues of project " + s.Connector.Project
	resp, err := c.list(ctx, http.MethodGet, gitlabProjectPath(s)+"/issues", &opt, &issues, what)
	if keyset && q.PageToken == "" && errors.Is(err, errGitLabMethodNotAllowed) {
		// This GitLab refuses keyset pagination here: page by offset from now on.
		c.mu.Lock()
		c.offsetOnly = true
		c.mu.Unlock()
		opt.Pagination = ""
		issues = nil
		resp, err = c.list(ctx, http.MethodGet, gitlabProjectPath(s)+"/issues", &opt, &issues, what)
	}
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}

	page := trackers.DiscoveryPage{Tickets: make([]trackers.Ticket, 0, len(issues))}
	var keys trackerhttp.Keys
	for _, is := range issues {
		tk, err := gitlabTicket(s, is, assignee, &keys)
		if err != nil {
			return trackers.DiscoveryPage{}, err
		}
		if q.Full && s.Connector.IndexComments && (is.UserNotesCount == nil || *is.UserNotesCount > 0) {
			notes, err := c.notes(ctx, s, is.IID)
			if err != nil {
				return trackers.DiscoveryPage{}, err
			}
			for _, n := range notes {
				if n.System {
					continue
				}
				cm := trackers.Comment{ID: strconv.FormatInt(n.ID, 10), Author: n.Author.user(), Markdown: n.Body}
				if n.CreatedAt != nil {
					cm.Created = n.CreatedAt.UTC()
				}
				tk.Comments = append(tk.Comments, cm)
			}
		}
		page.Tickets = append(page.Tickets, tk)
	}
	page.NextPageToken = gitlabNextToken(resp, len(issues))
	return page, nil
}

// gitlabNextToken reads where the listing continues: a keyset cursor in the
// Link header's next URL, else X-Next-Page; "" on the last page.
func gitlabNextToken(resp *gitlab.Response, n int) string {
	if resp == nil || n == 0 {
		return ""
	}
	if resp.NextLink != "" {
		if u, err := url.Parse(resp.NextLink); err == nil {
			if cur := u.Query().Get("cursor"); cur != "" {
				return gitlabCursorToken + cur
			}
		}
	}
	if resp.NextPage > 0 {
		return gitlabPageToken + strconv.FormatInt(resp.NextPage, 10)
	}
	return ""
}

// errGitLabMethodNotAllowed is the 405 GitLab answers when it cannot serve
// keyset pagination for a request.
var errGitLabMethodNotAllowed = errors.New("keyset pagination not available")

// GetTicket reads one issue: GET /projects/:id/issues/:iid.
func (Tracker) GetTicket(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
	c, err := gitlabConnFor(s)
	if err != nil {
		return trackers.Ticket{}, err
	}
	key, iid, err := gitlabIID(s.Connector, key)
	if err != nil {
		return trackers.Ticket{}, err
	}
	var is gitlabIssue
	if _, err := c.call(ctx, http.MethodGet, gitlabIssuePath(s, iid), nil, &is, "issue "+key); err != nil {
		return trackers.Ticket{}, gitlabTicketError(err, key)
	}
	return gitlabTicket(s, is, s.Connector.Assignee, nil)
}

// gitlabTicketError names a 404 on an issue path as ErrTicketNotFound.
func gitlabTicketError(err error, key string) error {
	if errors.Is(err, errGitLabNotFound) {
		return fmt.Errorf("%w: GitLab issue %s", trackers.ErrTicketNotFound, key)
	}
	return err
}

// gitlabTicket converts an issue. Status is the first status label the issue
// carries, else its state ("opened", "closed").
// keys builds the key (nil: its own allocation).
func gitlabTicket(s *trackers.Session, is gitlabIssue, assignee string, keys *trackerhttp.Keys) (trackers.Ticket, error) {
	if is.IID <= 0 || is.UpdatedAt.IsZero() || is.WebURL == "" {
		return trackers.Ticket{}, fmt.Errorf("%w: GitLab issue without iid, updated_at or web_url", trackers.ErrMalformedResponse)
	}
	tk := trackers.Ticket{
		Key:      keys.Key(s.Connector.Project, is.IID), // gitlabKey
		URL:      is.WebURL,
		Summary:  is.Title,
		Status:   is.State,
		Labels:   is.Labels, // decoded for this ticket alone
		Reporter: is.Author.user(),
		Updated:  is.UpdatedAt.UTC(),
	}
	if !is.CreatedAt.IsZero() {
		tk.Created = is.CreatedAt.UTC()
	}
	if is.Description != "" {
		tk.DescriptionMarkdown = is.Description
		tk.DescriptionText = gitlabMarkdownText(is.Description)
	}
	statuses := gitlabStatusLabels(s.Connector)
	if st, ok := gitlabStatusOf(statuses[:], is.Labels); ok {
		tk.Status = st
	}
	for i, a := range is.Assignees {
		if i == 0 || a.Username == assignee {
			tk.Assignee = a.user()
		}
		if a.Username == assignee {
			break
		}
	}
	return tk, nil
}

// gitlabStatusLabels are the connector's status labels, defaults filled in.
// An array, not a slice: discovery reads it for every ticket and a slice
// would be allocated each time.
func gitlabStatusLabels(c connector.Connector) [3]string {
	sl := c.StatusLabels
	def := connector.DefaultStatusLabels
	return [3]string{
		gitlabOr(sl.InProgress, def.InProgress),
		gitlabOr(sl.InReview, def.InReview),
		gitlabOr(sl.Done, def.Done),
	}
}

func gitlabOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// gitlabStatusOf returns the first of the issue's labels that is a status label.
func gitlabStatusOf(statuses, labels []string) (string, bool) {
	for _, l := range labels {
		for _, st := range statuses {
			if strings.EqualFold(l, st) {
				return st, true
			}
		}
	}
	return "", false
}

// notes lists every note of an issue, oldest first, page by page.
func (c *gitlabConn) notes(ctx context.Context, s *trackers.Session, iid int64) ([]gitlabNote, error) {
	opt := gitlab.ListIssueNotesOptions{
		ListOptions: gitlab.ListOptions{PerPage: gitlabPerPage, Page: 1},
		OrderBy:     gitlab.Ptr("created_at"),
		Sort:        gitlab.Ptr("asc"),
	}
	key := gitlabKey(s.Connector, iid)
	var all []gitlabNote
	for range gitlabMaxPages {
		var notes []gitlabNote
		resp, err := c.call(ctx, http.MethodGet, gitlabIssuePath(s, iid)+"/notes", &opt, &notes, "notes of issue "+key)
		if err != nil {
			return nil, gitlabTicketError(err, key)
		}
		all = append(all, notes...)
		if resp.NextPage <= opt.Page || len(notes) == 0 {
			return all, nil
		}
		opt.Page = resp.NextPage
	}
	return nil, fmt.Errorf("%w: notes of issue #%s do not end after %d pages", trackers.ErrMalformedResponse, key, gitlabMaxPages)
}
