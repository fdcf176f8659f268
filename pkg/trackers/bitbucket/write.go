package bitbucket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// states are the issue states Bitbucket accepts.
var states = []string{"new", "open", "resolved", "on hold", "invalid", "duplicate", "wontfix", "closed"}

// statusAliases map the frameworks' status names onto issue states.
var statusAliases = map[string]string{"in progress": "open", "in review": "open", "done": "resolved"}

// SetStatus sets an issue's state (PUT /issues/{id} with {"state": …}); a
// state name or In Progress / In Review (open) / Done (resolved). Pull
// requests under review have no state a reviewer may set.
func (Tracker) SetStatus(ctx context.Context, s *trackers.Session, key, status string) (trackers.Link, error) {
	n, isPR, err := splitKey(s, key)
	if err != nil {
		return trackers.Link{}, err
	}
	if isPR {
		return trackers.Link{}, fmt.Errorf("%w: %s is a pull request under review: it has no status to set", trackers.ErrRejected, key)
	}
	want := strings.ToLower(strings.TrimSpace(status))
	if a, ok := statusAliases[want]; ok {
		want = a
	}
	if !slices.Contains(states, want) {
		return trackers.Link{}, fmt.Errorf("%w: %q: Bitbucket issue states are %s (or In Progress, In Review, Done)", trackers.ErrUnknownStatus, status, strings.Join(states, ", "))
	}
	var is issue
	what := "issue " + key
	if _, err := call(ctx, s, http.MethodPut, "repositories/"+s.Connector.Project+"/issues/"+strconv.FormatInt(n, 10), nil, map[string]any{"state": want}, &is, what); err != nil {
		return trackers.Link{}, notFound(err)
	}
	return trackers.Link{Kind: "status", URL: is.Links.HTML.Href, Key: key}, nil
}

// markerComment hides the marker in the comment's Markdown (an HTML comment
// is not rendered).
func markerComment(marker string) string { return "<!-- " + marker + " -->" }

// commentsPath is where a ticket's comments live: an issue's, or a pull
// request's under review (POST /repositories/{ws}/{repo}/pullrequests/{id}/comments).
func commentsPath(s *trackers.Session, n int64, isPR bool) string {
	kind := "/issues/"
	if isPR {
		kind = "/pullrequests/"
	}
	return "repositories/" + s.Connector.Project + kind + strconv.FormatInt(n, 10) + "/comments"
}

// AddComment posts a Markdown comment (content.raw) on an issue or a pull
// request under review, mentioning the reporter (the pull request's author)
// by Atlassian account id (@{557058:…}) or by name.
func (Tracker) AddComment(ctx context.Context, s *trackers.Session, key string, c trackers.NewComment) (trackers.Link, error) {
	n, isPR, err := splitKey(s, key)
	if err != nil {
		return trackers.Link{}, err
	}
	body := c.Markdown
	if m := c.Mention; m != nil {
		switch {
		case strings.Contains(m.Login, ":"): // an Atlassian account id
			body = "@{" + m.Login + "} " + body
		case m.DisplayName != "":
			body = "@" + m.DisplayName + " " + body
		}
	}
	if c.Marker != "" {
		body += "\n\n" + markerComment(c.Marker)
	}
	typ := "issue_comment"
	if isPR {
		typ = "pullrequest_comment"
	}
	var got comment
	h, err := call(ctx, s, http.MethodPost, commentsPath(s, n, isPR), nil, map[string]any{"type": typ, "content": map[string]any{"raw": body}}, &got, "comments of "+key)
	if err != nil {
		return trackers.Link{}, notFound(err)
	}
	// The description declares no body for 201, only Location: the id
	// comes from whichever is there.
	id := got.ID
	if id == 0 && h != nil {
		loc := h.Get("Location")
		id, _ = strconv.ParseInt(loc[strings.LastIndexByte(loc, '/')+1:], 10, 64)
	}
	if id == 0 {
		return trackers.Link{}, fmt.Errorf("%w: comment on %s created without an id", trackers.ErrMalformedResponse, key)
	}
	return commentLink(s, n, isPR, id), nil
}

func commentLink(s *trackers.Session, n int64, isPR bool, id int64) trackers.Link {
	kind := "issues"
	if isPR {
		kind = "pull-requests"
	}
	return trackers.Link{Kind: "comment", Key: strconv.FormatInt(id, 10),
		URL: fmt.Sprintf("https://bitbucket.org/%s/%s/%d#comment-%d", s.Connector.Project, kind, n, id)}
}

// FindComment looks for a comment carrying marker (every page).
func (Tracker) FindComment(ctx context.Context, s *trackers.Session, key, marker string) (trackers.Link, bool, error) {
	n, isPR, err := splitKey(s, key)
	if err != nil {
		return trackers.Link{}, false, err
	}
	path := commentsPath(s, n, isPR)
	query := urlValues("pagelen", strconv.Itoa(PageLen))
	want := markerComment(marker)
	for range 100 {
		var pg page[comment]
		if _, err := call(ctx, s, http.MethodGet, path, query, nil, &pg, "comments of "+key); err != nil {
			return trackers.Link{}, false, notFound(err)
		}
		for _, c := range pg.Values {
			if strings.Contains(c.Content.Raw, want) {
				return commentLink(s, n, isPR, c.ID), true, nil
			}
		}
		if pg.Next == "" {
			return trackers.Link{}, false, nil
		}
		path, query = pg.Next, nil
	}
	return trackers.Link{}, false, fmt.Errorf("%w: comments of %s do not end", trackers.ErrMalformedResponse, key)
}

// OpenPullRequest opens a pull request from pr.Head, reusing an open one
// from the same branch.
func (Tracker) OpenPullRequest(ctx context.Context, s *trackers.Session, key string, pr trackers.NewPullRequest) (trackers.Link, bool, error) {
	path := "repositories/" + s.Connector.Project + "/pullrequests"
	var open page[pullRequest]
	q := urlValues("q", "source.branch.name="+bbqlString(pr.Head)+` AND state="OPEN"`)
	if _, err := call(ctx, s, http.MethodGet, path, q, nil, &open, "pull requests of "+s.Connector.Project); err != nil {
		return trackers.Link{}, false, err
	}
	for _, p := range open.Values {
		if p.Source.Branch.Name == pr.Head && p.State == "OPEN" {
			return prLink(s, p), true, nil
		}
	}
	tk, err := Tracker{}.GetTicket(ctx, s, key)
	if err != nil && !errors.Is(err, trackers.ErrTicketNotFound) {
		return trackers.Link{}, false, err
	}
	desc := pr.BodyMarkdown
	if tk.URL != "" {
		desc += "\n\nFor " + key + ": " + tk.URL
	}
	body := map[string]any{"type": "pullrequest", "title": pr.Title, "description": desc, "source": map[string]any{"branch": map[string]any{"name": pr.Head}}}
	if pr.Base != "" {
		body["destination"] = map[string]any{"branch": map[string]any{"name": pr.Base}}
	}
	var got pullRequest
	if _, err := call(ctx, s, http.MethodPost, path, nil, body, &got, "new pull request in "+s.Connector.Project); err != nil {
		return trackers.Link{}, false, err
	}
	if got.ID == 0 {
		return trackers.Link{}, false, fmt.Errorf("%w: pull request created without id", trackers.ErrMalformedResponse)
	}
	return prLink(s, got), false, nil
}

func prLink(s *trackers.Session, p pullRequest) trackers.Link {
	return trackers.Link{Kind: "pull_request", URL: p.Links.HTML.Href, Key: s.Connector.Project + "!" + strconv.FormatInt(p.ID, 10)}
}
