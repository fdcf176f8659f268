package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/google/go-github/v92/github"
)

// SetStatus moves an issue to a status label: it adds the target label and
// removes the connector's other status labels (names match
// case-insensitively; unknown names wrap ErrUnknownStatus and list the
// configured ones). Done also closes the issue when the connector's
// CloseOnDone says so. Each label change is one mutation, paced.
func (Tracker) SetStatus(ctx context.Context, s *trackers.Session, key, status string) (trackers.Link, error) {
	statuses := githubStatusLabels(s.Connector)
	target := ""
	for _, st := range statuses {
		if strings.EqualFold(strings.TrimSpace(status), st) {
			target = st
		}
	}
	if target == "" {
		return trackers.Link{}, fmt.Errorf("%w: %q is not a status label of this connector (use one of: %s)", trackers.ErrUnknownStatus, status, strings.Join(statuses[:], ", "))
	}
	owner, name, err := splitRepo(s.Connector.Project)
	if err != nil {
		return trackers.Link{}, err
	}
	gc, err := newGitHubClient(s)
	if err != nil {
		return trackers.Link{}, fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
	}
	is, err := githubIssue(ctx, gc, s, owner, name, key)
	if err != nil {
		return trackers.Link{}, err
	}
	n := is.GetNumber()
	what := fmt.Sprintf("issue %s#%d", s.Connector.Project, n)
	has := false
	var stale []string // other status labels on the issue, as the issue spells them
	for _, l := range is.Labels {
		switch ln := l.GetName(); {
		case strings.EqualFold(ln, target):
			has = true
		case githubContainsFold(statuses[:], ln):
			stale = append(stale, ln)
		}
	}
	if !has {
		if _, _, err := gc.Issues.AddLabelsToIssue(ctx, owner, name, n, []string{target}); err != nil {
			return trackers.Link{}, githubError(ctx, err, "label "+what, trackers.ErrTicketNotFound)
		}
	}
	for _, ln := range stale {
		// go-github puts the name into the path as is; escape it ("In Progress").
		_, err := gc.Issues.RemoveLabelForIssue(ctx, owner, name, n, url.PathEscape(ln))
		if err != nil && !githubIsStatus(err, http.StatusNotFound) { // already gone
			return trackers.Link{}, githubError(ctx, err, "unlabel "+what, trackers.ErrTicketNotFound)
		}
	}
	if target == statuses[2] && s.Connector.CloseOnDone && is.GetState() != "closed" {
		req := github.UpdateIssueRequest{State: github.Ptr("closed"), StateReason: github.Ptr("completed")}
		if _, _, err := gc.Issues.Update(ctx, owner, name, n, req); err != nil {
			return trackers.Link{}, githubError(ctx, err, "close "+what, trackers.ErrTicketNotFound)
		}
	}
	return trackers.Link{Kind: "status", URL: is.GetHTMLURL(), Key: s.Connector.Project + "#" + strconv.Itoa(n)}, nil
}

func githubContainsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// githubIsStatus reports whether err is GitHub's answer with that status.
func githubIsStatus(err error, code int) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == code
}

// githubMarker is how a marker is stored in a comment: a hidden HTML comment
// at its end ("<!-- connectorhub:result-1:comment -->").
func githubMarker(marker string) string {
	// "--" cannot appear inside an HTML comment; markers are ids and never
	// hold it, but a stray one must not end the comment early.
	return "<!-- " + strings.ReplaceAll(marker, "--", "- -") + " -->"
}

// AddComment posts a Markdown comment, "@login " first when it mentions
// someone, with the marker appended as a hidden HTML comment.
func (Tracker) AddComment(ctx context.Context, s *trackers.Session, key string, c trackers.NewComment) (trackers.Link, error) {
	owner, name, err := splitRepo(s.Connector.Project)
	if err != nil {
		return trackers.Link{}, err
	}
	n, err := githubNumber(s.Connector, key)
	if err != nil {
		return trackers.Link{}, err
	}
	gc, err := newGitHubClient(s)
	if err != nil {
		return trackers.Link{}, fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
	}
	body := c.Markdown
	if c.Mention != nil && c.Mention.Login != "" {
		body = "@" + c.Mention.Login + " " + body
	}
	if c.Marker != "" {
		body += "\n\n" + githubMarker(c.Marker)
	}
	cm, _, err := gc.Issues.CreateComment(ctx, owner, name, n, github.IssueCommentRequest{Body: body})
	if err != nil {
		return trackers.Link{}, githubError(ctx, err, fmt.Sprintf("comment on issue %s#%d", s.Connector.Project, n), trackers.ErrTicketNotFound)
	}
	if cm.GetID() == 0 {
		return trackers.Link{}, fmt.Errorf("%w: github comment without an id", trackers.ErrMalformedResponse)
	}
	return githubCommentLink(cm), nil
}

func githubCommentLink(cm *github.IssueComment) trackers.Link {
	return trackers.Link{Kind: "comment", URL: cm.GetHTMLURL(), Key: strconv.FormatInt(cm.GetID(), 10)}
}

// FindComment looks through every comment of the issue for the marker.
func (Tracker) FindComment(ctx context.Context, s *trackers.Session, key, marker string) (trackers.Link, bool, error) {
	owner, name, err := splitRepo(s.Connector.Project)
	if err != nil {
		return trackers.Link{}, false, err
	}
	n, err := githubNumber(s.Connector, key)
	if err != nil {
		return trackers.Link{}, false, err
	}
	gc, err := newGitHubClient(s)
	if err != nil {
		return trackers.Link{}, false, fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
	}
	want := githubMarker(marker)
	var found *github.IssueComment
	err = githubEachComment(ctx, gc, owner, name, n, func(c *github.IssueComment) bool {
		if strings.Contains(c.GetBody(), want) {
			found = c
			return false
		}
		return true
	})
	if err != nil || found == nil {
		return trackers.Link{}, false, err
	}
	return githubCommentLink(found), true, nil
}

// OpenPullRequest opens a pull request from pr.Head into pr.Base (the
// repository's default branch when empty), or returns the open one that
// already exists for the head (reused). The body ends with a reference to
// the issue: "Closes #N" when the connector closes issues on Done (GitHub
// then closes it when the pull request merges into the default branch),
// "Refs #N" otherwise (a link without closing).
func (Tracker) OpenPullRequest(ctx context.Context, s *trackers.Session, key string, pr trackers.NewPullRequest) (trackers.Link, bool, error) {
	owner, name, err := splitRepo(s.Connector.Project)
	if err != nil {
		return trackers.Link{}, false, err
	}
	n, err := githubNumber(s.Connector, key)
	if err != nil {
		return trackers.Link{}, false, err
	}
	if pr.Head == "" {
		return trackers.Link{}, false, fmt.Errorf("github pull request for #%d: no head branch", n)
	}
	gc, err := newGitHubClient(s)
	if err != nil {
		return trackers.Link{}, false, fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, err)
	}
	head := pr.Head
	if !strings.Contains(head, ":") {
		head = owner + ":" + head
	}
	if link, ok, err := githubOpenPull(ctx, gc, s, owner, name, head, pr.Base); err != nil || ok {
		return link, ok, err
	}
	base := pr.Base
	if base == "" {
		repo, _, err := gc.Repositories.Get(ctx, owner, name)
		if err != nil {
			return trackers.Link{}, false, githubError(ctx, err, "read repository "+s.Connector.Project, trackers.ErrUnauthorized)
		}
		if base = repo.GetDefaultBranch(); base == "" {
			return trackers.Link{}, false, fmt.Errorf("%w: github repository without a default branch", trackers.ErrMalformedResponse)
		}
	}
	ref := "Refs"
	if s.Connector.CloseOnDone {
		ref = "Closes"
	}
	body := strings.TrimSpace(pr.BodyMarkdown)
	if body != "" {
		body += "\n\n"
	}
	body += fmt.Sprintf("%s #%d", ref, n)
	title := pr.Title
	if title == "" {
		title = fmt.Sprintf("Resolve #%d", n)
	}
	created, _, err := gc.PullRequests.Create(ctx, owner, name, github.CreatePullRequest{
		Title: &title, Head: pr.Head, Base: base, Body: &body,
	})
	if err != nil {
		// Another writer opened one since we looked: reuse it.
		if githubIsStatus(err, http.StatusUnprocessableEntity) {
			if link, ok, lerr := githubOpenPull(ctx, gc, s, owner, name, head, pr.Base); lerr == nil && ok {
				return link, true, nil
			}
		}
		return trackers.Link{}, false, githubError(ctx, err, "open a pull request in "+s.Connector.Project, trackers.ErrUnauthorized)
	}
	if created.GetHTMLURL() == "" || created.GetNumber() == 0 {
		return trackers.Link{}, false, fmt.Errorf("%w: github pull request without number or html_url", trackers.ErrMalformedResponse)
	}
	return githubPullLink(created), false, nil
}

// githubOpenPull finds an open pull request for head ("owner:branch"),
// preferring one into base when base is given.
func githubOpenPull(ctx context.Context, gc *github.Client, s *trackers.Session, owner, name, head, base string) (trackers.Link, bool, error) {
	list, _, err := gc.PullRequests.List(ctx, owner, name, &github.PullRequestListOptions{
		State: "open", Head: head, ListOptions: github.ListOptions{PerPage: githubPerPage},
	})
	if err != nil {
		return trackers.Link{}, false, githubError(ctx, err, "list pull requests of "+s.Connector.Project, trackers.ErrUnauthorized)
	}
	var pick *github.PullRequest
	for _, p := range list {
		if p == nil || p.GetHTMLURL() == "" {
			continue
		}
		if pick == nil || (base != "" && p.GetBase().GetRef() == base && pick.GetBase().GetRef() != base) {
			pick = p
		}
	}
	if pick == nil {
		return trackers.Link{}, false, nil
	}
	return githubPullLink(pick), true, nil
}

func githubPullLink(p *github.PullRequest) trackers.Link {
	return trackers.Link{Kind: "pull_request", URL: p.GetHTMLURL(), Key: strconv.Itoa(p.GetNumber())}
}
