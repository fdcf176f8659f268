package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// gitlabIssueUpdate is the body of PUT /projects/:id/issues/:iid. Label lists
// go as JSON arrays (the API's declared type), so a label with a comma in its
// name survives.
type gitlabIssueUpdate struct {
	AddLabels    []string `json:"add_labels,omitempty"`
	RemoveLabels []string `json:"remove_labels,omitempty"`
	StateEvent   string   `json:"state_event,omitempty"`
}

// SetStatus moves an issue to a status label in one request:
// PUT /projects/:id/issues/:iid with add_labels=<target> and
// remove_labels=<the other status labels>, plus state_event=close when the
// target is the Done label and the connector closes on done. The status
// matches a configured label case-insensitively; anything else wraps
// ErrUnknownStatus and lists the labels. A closed issue is not reopened.
func (Tracker) SetStatus(ctx context.Context, s *trackers.Session, key, status string) (trackers.Link, error) {
	statuses := gitlabStatusLabels(s.Connector)
	target := ""
	for _, st := range statuses {
		if strings.EqualFold(strings.TrimSpace(status), st) {
			target = st
			break
		}
	}
	if target == "" {
		return trackers.Link{}, fmt.Errorf("%w: %q is not a status label of this connector; possible statuses: %s",
			trackers.ErrUnknownStatus, status, `"`+strings.Join(statuses[:], `", "`)+`"`)
	}
	key, iid, err := gitlabIID(s.Connector, key)
	if err != nil {
		return trackers.Link{}, err
	}
	c, err := gitlabConnFor(s)
	if err != nil {
		return trackers.Link{}, err
	}
	body := gitlabIssueUpdate{AddLabels: []string{target}}
	for _, st := range statuses {
		if st != target && !strings.EqualFold(st, target) {
			body.RemoveLabels = append(body.RemoveLabels, st)
		}
	}
	if s.Connector.CloseOnDone && target == statuses[2] {
		body.StateEvent = "close"
	}
	var is gitlabIssue
	if _, err := c.call(ctx, http.MethodPut, gitlabIssuePath(s, iid), &body, &is, "issue "+key); err != nil {
		return trackers.Link{}, gitlabTicketError(err, key)
	}
	return trackers.Link{Kind: "status", URL: is.WebURL, Key: key}, nil
}

// gitlabMarker is how a marker is stored in a note: a hidden HTML comment at
// its end. "--" cannot appear inside an HTML comment, so it is spaced out
// (the same way when posting and when finding).
func gitlabMarker(marker string) string {
	if marker == "" {
		return ""
	}
	return "<!-- " + strings.ReplaceAll(marker, "--", "- -") + " -->"
}

// AddComment posts a Markdown note: POST /projects/:id/issues/:iid/notes,
// starting with @username when a mention is asked for and ending with the
// marker as a hidden HTML comment.
func (Tracker) AddComment(ctx context.Context, s *trackers.Session, key string, nc trackers.NewComment) (trackers.Link, error) {
	key, iid, err := gitlabIID(s.Connector, key)
	if err != nil {
		return trackers.Link{}, err
	}
	c, err := gitlabConnFor(s)
	if err != nil {
		return trackers.Link{}, err
	}
	p, err := c.projectInfo(ctx, s)
	if err != nil {
		return trackers.Link{}, err
	}
	body := nc.Markdown
	if nc.Mention != nil && nc.Mention.Login != "" {
		body = "@" + strings.TrimPrefix(nc.Mention.Login, "@") + " " + body
	}
	if m := gitlabMarker(nc.Marker); m != "" {
		body += "\n\n" + m
	}
	var n gitlabNote
	opt := gitlab.CreateIssueNoteOptions{Body: gitlab.Ptr(body)}
	if _, err := c.call(ctx, http.MethodPost, gitlabIssuePath(s, iid)+"/notes", &opt, &n, "note on issue "+key); err != nil {
		return trackers.Link{}, gitlabTicketError(err, key)
	}
	if n.ID == 0 {
		return trackers.Link{}, fmt.Errorf("%w: created note has no id", trackers.ErrMalformedResponse)
	}
	return gitlabNoteLink(p, iid, n.ID), nil
}

// gitlabNoteLink points at a note: the issue's page with the note's anchor.
func gitlabNoteLink(p gitlabProject, iid, noteID int64) trackers.Link {
	id := strconv.FormatInt(noteID, 10)
	return trackers.Link{Kind: "comment", URL: p.WebURL + "/-/issues/" + strconv.FormatInt(iid, 10) + "#note_" + id, Key: id}
}

// FindComment looks through every note of the issue (all pages) for the
// marker's hidden comment.
func (Tracker) FindComment(ctx context.Context, s *trackers.Session, key, marker string) (trackers.Link, bool, error) {
	m := gitlabMarker(marker)
	if m == "" {
		return trackers.Link{}, false, errors.New("gitlab: FindComment needs a marker")
	}
	key, iid, err := gitlabIID(s.Connector, key)
	if err != nil {
		return trackers.Link{}, false, err
	}
	c, err := gitlabConnFor(s)
	if err != nil {
		return trackers.Link{}, false, err
	}
	notes, err := c.notes(ctx, s, iid)
	if err != nil {
		return trackers.Link{}, false, err
	}
	for _, n := range notes {
		if !n.System && strings.Contains(n.Body, m) {
			p, err := c.projectInfo(ctx, s)
			if err != nil {
				return trackers.Link{}, false, err
			}
			return gitlabNoteLink(p, iid, n.ID), true, nil
		}
	}
	return trackers.Link{}, false, nil
}

// gitlabMergeRequest is the part of GitLab's MergeRequest entity the tracker reads.
type gitlabMergeRequest struct {
	IID          int64  `json:"iid"`
	SourceBranch string `json:"source_branch"`
	TargetBranch string `json:"target_branch"`
	State        string `json:"state"`
	WebURL       string `json:"web_url"`
}

// gitlabNewMergeRequest is the body of POST /projects/:id/merge_requests.
type gitlabNewMergeRequest struct {
	Title        string `json:"title"`
	Description  string `json:"description,omitempty"`
	SourceBranch string `json:"source_branch"`
	TargetBranch string `json:"target_branch"`
}

// OpenPullRequest opens a merge request from the work branch to pr.Base, or
// to the project's default branch (GET /projects/:id, once per session). An
// open merge request from the same source branch
// (GET /projects/:id/merge_requests?source_branch=…&state=opened) is reused.
// The description ends with "Closes #<iid>", which links the issue and
// closes it when the merge request is merged into the default branch.
func (Tracker) OpenPullRequest(ctx context.Context, s *trackers.Session, key string, pr trackers.NewPullRequest) (trackers.Link, bool, error) {
	key, iid, err := gitlabIID(s.Connector, key)
	if err != nil {
		return trackers.Link{}, false, err
	}
	if strings.TrimSpace(pr.Head) == "" {
		return trackers.Link{}, false, errors.New("gitlab: a merge request needs a source branch")
	}
	c, err := gitlabConnFor(s)
	if err != nil {
		return trackers.Link{}, false, err
	}
	if mr, ok, err := c.openMergeRequest(ctx, s, pr.Head); err != nil || ok {
		return gitlabMRLink(mr), ok, err
	}
	target := pr.Base
	if target == "" {
		p, err := c.projectInfo(ctx, s)
		if err != nil {
			return trackers.Link{}, false, err
		}
		if p.DefaultBranch == "" {
			return trackers.Link{}, false, fmt.Errorf("gitlab: project %s has no default branch (empty repository?)", s.Connector.Project)
		}
		target = p.DefaultBranch
	}
	title := strings.TrimSpace(pr.Title)
	if title == "" {
		title = "Resolve #" + key
	}
	closes := "Closes #" + strconv.FormatInt(iid, 10)
	desc := closes
	if body := strings.TrimSpace(pr.BodyMarkdown); body != "" {
		desc = body + "\n\n" + closes
	}
	body := gitlabNewMergeRequest{Title: title, Description: desc, SourceBranch: pr.Head, TargetBranch: target}
	var mr gitlabMergeRequest
	_, err = c.call(ctx, http.MethodPost, gitlabProjectPath(s)+"/merge_requests", &body, &mr, "merge request from "+pr.Head)
	if errors.Is(err, errGitLabConflict) {
		// Opened meanwhile (another writeback, or a person): reuse it.
		if mr, ok, err := c.openMergeRequest(ctx, s, pr.Head); err != nil || ok {
			return gitlabMRLink(mr), ok, err
		}
	}
	if err != nil {
		return trackers.Link{}, false, err
	}
	if mr.IID == 0 || mr.WebURL == "" {
		return trackers.Link{}, false, fmt.Errorf("%w: created merge request lacks iid or web_url", trackers.ErrMalformedResponse)
	}
	return gitlabMRLink(mr), false, nil
}

// errGitLabConflict is the 409 GitLab answers when an open merge request for
// the same branches exists.
var errGitLabConflict = errors.New("conflict")

// openMergeRequest finds an open merge request from the source branch.
func (c *gitlabConn) openMergeRequest(ctx context.Context, s *trackers.Session, source string) (gitlabMergeRequest, bool, error) {
	opt := gitlab.ListProjectMergeRequestsOptions{
		ListOptions:  gitlab.ListOptions{PerPage: gitlabPerPage},
		State:        gitlab.Ptr("opened"),
		SourceBranch: gitlab.Ptr(source),
	}
	var mrs []gitlabMergeRequest
	if _, err := c.call(ctx, http.MethodGet, gitlabProjectPath(s)+"/merge_requests", &opt, &mrs, "merge requests from "+source); err != nil {
		return gitlabMergeRequest{}, false, err
	}
	for _, mr := range mrs {
		if mr.SourceBranch == source && mr.State == "opened" && mr.IID > 0 && mr.WebURL != "" {
			return mr, true, nil
		}
	}
	return gitlabMergeRequest{}, false, nil
}

func gitlabMRLink(mr gitlabMergeRequest) trackers.Link {
	if mr.IID == 0 {
		return trackers.Link{}
	}
	return trackers.Link{Kind: "pull_request", URL: mr.WebURL, Key: strconv.FormatInt(mr.IID, 10)}
}
