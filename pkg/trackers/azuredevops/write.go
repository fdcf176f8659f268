package azuredevops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// patchOp is one JSON Patch operation (RFC 6902) on a work item.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

const jsonPatch = "application/json-patch+json"

// workItemState is one state of a work item type.
type workItemState struct {
	Name     string `json:"name"`
	Category string `json:"category"`
}

// typeStates lists the states of a work item type
// (GET …/_apis/wit/workitemtypes/{type}/states).
func typeStates(ctx context.Context, s *trackers.Session, typ string) ([]workItemState, error) {
	var res struct {
		Value []workItemState `json:"value"`
	}
	err := call(ctx, s, http.MethodGet, apiPath(s, true, "_apis", "wit", "workitemtypes", url.PathEscape(typ), "states"), nil, nil, "", &res, "states of "+typ)
	return res.Value, err
}

// SetStatus moves the work item to the state of its type whose name matches
// status (case-insensitively) by a JSON Patch on System.State. Azure DevOps
// lets any state of the type be set directly (no transitions to follow).
func (Tracker) SetStatus(ctx context.Context, s *trackers.Session, key, status string) (trackers.Link, error) {
	if _, isPR, err := splitKey(s, key); err == nil && isPR {
		return trackers.Link{}, errReview(key, "it has no status a reviewer may set")
	}
	w, err := getWorkItem(ctx, s, key)
	if err != nil {
		return trackers.Link{}, err
	}
	link := trackers.Link{Kind: "status", Key: key, URL: webURL(s, w.ID)}
	if strings.EqualFold(w.Fields.State, status) {
		return link, nil
	}
	states, err := typeStates(ctx, s, w.Fields.Type)
	if err != nil {
		return trackers.Link{}, err
	}
	target := ""
	names := make([]string, 0, len(states))
	for _, st := range states {
		names = append(names, st.Name)
		if strings.EqualFold(st.Name, strings.TrimSpace(status)) {
			target = st.Name
		}
	}
	if target == "" {
		return trackers.Link{}, fmt.Errorf("%w: %s %s has no state %q (states: %s)", trackers.ErrUnknownStatus, w.Fields.Type, key, status, strings.Join(names, ", "))
	}
	ops := []patchOp{
		{Op: "test", Path: "/rev", Value: w.Rev}, // a concurrent edit fails with 409 (ErrTransient) and is retried
		{Op: "add", Path: "/fields/System.State", Value: target},
	}
	if err := call(ctx, s, http.MethodPatch, apiPath(s, true, "_apis", "wit", "workitems", strconv.FormatInt(w.ID, 10)), nil, ops, jsonPatch, nil, "state of "+key); err != nil {
		return trackers.Link{}, err
	}
	return link, nil
}

// comment is a work item comment (7.1-preview.4).
type comment struct {
	ID     int64  `json:"id"`
	Text   string `json:"text"`
	URL    string `json:"url"`
	Format string `json:"format"`
}

// markerTag is the hidden HTML comment that marks what connectorhub wrote;
// both Markdown and HTML keep it invisible.
func markerTag(marker string) string { return "<!-- " + marker + " -->" }

// commentLink is the web link of a comment.
func commentLink(s *trackers.Session, id int64, c comment) trackers.Link {
	return trackers.Link{Kind: "comment", Key: strconv.FormatInt(c.ID, 10), URL: webURL(s, id) + "#" + strconv.FormatInt(c.ID, 10)}
}

// AddComment posts a Markdown comment (format=markdown), mentioning the
// given user first as @<id> (Azure DevOps' mention form, by identity id)
// or by name when no id is known.
// On a pull request under review it starts a thread (prComment).
func (Tracker) AddComment(ctx context.Context, s *trackers.Session, key string, c trackers.NewComment) (trackers.Link, error) {
	if prID, isPR, err := splitKey(s, key); err == nil && isPR {
		return prComment(ctx, s, key, prID, commentText(c))
	}
	id, err := parseKey(s, key)
	if err != nil {
		return trackers.Link{}, err
	}
	q := url.Values{"api-version": {apiVersionComment}, "format": {"markdown"}}
	var got comment
	if err := call(ctx, s, http.MethodPost, apiPath(s, true, "_apis", "wit", "workItems", strconv.FormatInt(id, 10), "comments"), q, map[string]string{"text": commentText(c)}, "", &got, "comment on "+key); err != nil {
		if isNotFound(err) {
			return trackers.Link{}, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
		}
		return trackers.Link{}, err
	}
	if got.ID == 0 {
		return trackers.Link{}, fmt.Errorf("%w: comment without an id", trackers.ErrMalformedResponse)
	}
	return commentLink(s, id, got), nil
}

// commentText is the comment's Markdown with the mention first and the
// marker last (hidden).
func commentText(c trackers.NewComment) string {
	var b strings.Builder
	if m := c.Mention; m != nil {
		switch {
		case m.ID != "":
			b.WriteString("@<" + m.ID + "> ")
		case m.DisplayName != "":
			b.WriteString("@" + m.DisplayName + " ")
		}
	}
	b.WriteString(c.Markdown)
	if c.Marker != "" {
		b.WriteString("\n\n" + markerTag(c.Marker))
	}
	return b.String()
}

// FindComment pages through the work item's comments for the marker.
func (Tracker) FindComment(ctx context.Context, s *trackers.Session, key, marker string) (trackers.Link, bool, error) {
	if prID, isPR, err := splitKey(s, key); err == nil && isPR {
		return findPRComment(ctx, s, key, prID, markerTag(marker))
	}
	id, err := parseKey(s, key)
	if err != nil {
		return trackers.Link{}, false, err
	}
	tag := markerTag(marker)
	token := ""
	for range maxPages {
		q := url.Values{"api-version": {apiVersionComment}, "$top": {"200"}}
		if token != "" {
			q.Set("continuationToken", token)
		}
		var res struct {
			Comments          []comment `json:"comments"`
			ContinuationToken string    `json:"continuationToken"`
		}
		if err := call(ctx, s, http.MethodGet, apiPath(s, true, "_apis", "wit", "workItems", strconv.FormatInt(id, 10), "comments"), q, nil, "", &res, "comments of "+key); err != nil {
			if isNotFound(err) {
				return trackers.Link{}, false, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
			}
			return trackers.Link{}, false, err
		}
		for _, c := range res.Comments {
			if strings.Contains(c.Text, tag) {
				return commentLink(s, id, c), true, nil
			}
		}
		if token = res.ContinuationToken; token == "" {
			return trackers.Link{}, false, nil
		}
	}
	return trackers.Link{}, false, fmt.Errorf("%w: comments of %s do not end", trackers.ErrMalformedResponse, key)
}

// maxPages bounds a listing that a broken server would never end.
const maxPages = 1000

// subtaskType is the work item type of a child created as a sub-task:
// "Task" exists in every default process (Agile, Scrum, CMMI, Basic).
const subtaskType = "Task"

// CreateSubtask creates a child Task (hierarchy link to the parent) with a
// Markdown description carrying the marker.
func (Tracker) CreateSubtask(ctx context.Context, s *trackers.Session, parentKey string, st trackers.NewSubtask) (trackers.Link, error) {
	parent, err := getWorkItem(ctx, s, parentKey)
	if err != nil {
		return trackers.Link{}, err
	}
	desc := st.DescriptionMarkdown
	if st.Marker != "" {
		desc += "\n\n" + markerTag(st.Marker)
	}
	ops := []patchOp{
		{Op: "add", Path: "/fields/System.Title", Value: st.Summary},
		{Op: "add", Path: "/fields/System.Description", Value: desc},
		{Op: "add", Path: "/multilineFieldsFormat/System.Description", Value: "Markdown"},
		{Op: "add", Path: "/relations/-", Value: relation{Rel: relParent, URL: parent.URL}},
	}
	if parent.URL == "" {
		return trackers.Link{}, fmt.Errorf("%w: work item %s without url", trackers.ErrMalformedResponse, parentKey)
	}
	if a := parent.Fields.AssignedTo; a != nil && a.UniqueName != "" {
		ops = append(ops, patchOp{Op: "add", Path: "/fields/System.AssignedTo", Value: a.UniqueName})
	}
	var got workItem
	if err := call(ctx, s, http.MethodPost, apiPath(s, true, "_apis", "wit", "workitems", "$"+subtaskType), nil, ops, jsonPatch, &got, "sub-task of "+parentKey); err != nil {
		return trackers.Link{}, err
	}
	if got.ID <= 0 {
		return trackers.Link{}, fmt.Errorf("%w: created work item without an id", trackers.ErrMalformedResponse)
	}
	return trackers.Link{Kind: "subtask", Key: ticketKey(s, got.ID), URL: webURL(s, got.ID)}, nil
}

// FindSubtask reads the parent's children and looks for the marker in
// their descriptions.
func (Tracker) FindSubtask(ctx context.Context, s *trackers.Session, parentKey, marker string) (trackers.Link, bool, error) {
	parent, err := getWorkItem(ctx, s, parentKey)
	if err != nil {
		return trackers.Link{}, false, err
	}
	var ids []int64
	for _, r := range parent.Relations {
		if r.Rel == relChild {
			if id, ok := idFromURL(r.URL); ok {
				ids = append(ids, id)
			}
		}
	}
	children, err := batch(ctx, s, ids)
	if err != nil {
		return trackers.Link{}, false, err
	}
	tag := markerTag(marker)
	for _, c := range children {
		if strings.Contains(c.Fields.Description, tag) || strings.Contains(c.Fields.Description, strings.ReplaceAll(strings.ReplaceAll(tag, "<", "&lt;"), ">", "&gt;")) {
			return trackers.Link{Kind: "subtask", Key: ticketKey(s, c.ID), URL: webURL(s, c.ID)}, true, nil
		}
	}
	return trackers.Link{}, false, nil
}

// pullRequest is an Azure Repos pull request.
type pullRequest struct {
	PullRequestID int64  `json:"pullRequestId"`
	Status        string `json:"status"`
	SourceRefName string `json:"sourceRefName"`
	Repository    struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		WebURL string `json:"webUrl"`
	} `json:"repository"`
}

// repository is what the tracker needs of the Git repository.
type repository struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	DefaultBranch string `json:"defaultBranch"`
	WebURL        string `json:"webUrl"`
}

// prURL is the pull request's page.
func prURL(s *trackers.Session, repo string, id int64) string {
	return s.BaseURL.JoinPath(apiPath(s, true, "_git", url.PathEscape(repo), "pullrequest", strconv.FormatInt(id, 10))).String()
}

// OpenPullRequest opens a pull request in the project's repository of the
// same name (Azure DevOps creates it with the project), linked to the work
// item, reusing an active one from the same source branch.
func (Tracker) OpenPullRequest(ctx context.Context, s *trackers.Session, key string, pr trackers.NewPullRequest) (trackers.Link, bool, error) {
	id, err := parseKey(s, key)
	if err != nil {
		return trackers.Link{}, false, err
	}
	_, projName := orgProject(s)
	repoSeg := url.PathEscape(projName)
	source := "refs/heads/" + strings.TrimPrefix(pr.Head, "refs/heads/")
	q := url.Values{"searchCriteria.sourceRefName": {source}, "searchCriteria.status": {"active"}}
	var list struct {
		Value []pullRequest `json:"value"`
	}
	if err := call(ctx, s, http.MethodGet, apiPath(s, true, "_apis", "git", "repositories", repoSeg, "pullrequests"), q, nil, "", &list, "pull requests"); err != nil {
		return trackers.Link{}, false, err
	}
	for _, p := range list.Value {
		if p.SourceRefName == source && p.PullRequestID > 0 {
			return trackers.Link{Kind: "pull_request", Key: strconv.FormatInt(p.PullRequestID, 10), URL: prURL(s, projName, p.PullRequestID)}, true, nil
		}
	}
	target := pr.Base
	if target == "" {
		var repo repository
		if err := call(ctx, s, http.MethodGet, apiPath(s, true, "_apis", "git", "repositories", repoSeg), nil, nil, "", &repo, "repository "+projName); err != nil {
			return trackers.Link{}, false, err
		}
		if repo.DefaultBranch == "" {
			return trackers.Link{}, false, fmt.Errorf("%w: repository %s has no default branch (is it empty?)", trackers.ErrRejected, projName)
		}
		target = repo.DefaultBranch
	}
	target = "refs/heads/" + strings.TrimPrefix(target, "refs/heads/")
	body := map[string]any{
		"sourceRefName": source,
		"targetRefName": target,
		"title":         pr.Title,
		"description":   strings.TrimSpace(pr.BodyMarkdown + "\n\nWork item: " + webURL(s, id)),
		"workItemRefs":  []map[string]string{{"id": strconv.FormatInt(id, 10)}},
	}
	var got pullRequest
	if err := call(ctx, s, http.MethodPost, apiPath(s, true, "_apis", "git", "repositories", repoSeg, "pullrequests"), nil, body, "", &got, "pull request"); err != nil {
		return trackers.Link{}, false, err
	}
	if got.PullRequestID <= 0 {
		return trackers.Link{}, false, fmt.Errorf("%w: pull request without an id", trackers.ErrMalformedResponse)
	}
	return trackers.Link{Kind: "pull_request", Key: strconv.FormatInt(got.PullRequestID, 10), URL: prURL(s, projName, got.PullRequestID)}, false, nil
}
