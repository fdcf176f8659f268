package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var (
	_ trackers.StatusWriter   = Tracker{}
	_ trackers.Commenter      = Tracker{}
	_ trackers.SubtaskCreator = Tracker{}
)

// jiraMarkerProperty is the entity property (on comments and issues) that
// holds a writeback marker: {"marker": "..."}. Properties are invisible in
// Jira's UI, survive edits of the body, and come back with expand=properties
// (comments) or properties=connectorhub (issues).
const jiraMarkerProperty = "connectorhub"

type jiraMarkerValue struct {
	Marker string `json:"marker"`
}

func markerProperties(marker string) []jiraEntityProperty {
	if marker == "" {
		return nil
	}
	v, _ := json.Marshal(jiraMarkerValue{Marker: marker}) // cannot fail
	return []jiraEntityProperty{{Key: jiraMarkerProperty, Value: v}}
}

// hasMarker reports whether a property value carries marker.
func hasMarker(raw json.RawMessage, marker string) bool {
	var v jiraMarkerValue
	return json.Unmarshal(raw, &v) == nil && v.Marker != "" && v.Marker == marker
}

// SetStatus moves a ticket to a status: the transition whose target status
// (or, failing that, whose own name) matches case-insensitively. A ticket
// already in that status is left alone. When no transition matches, the
// error wraps ErrUnknownStatus and lists the statuses reachable from here.
func (Tracker) SetStatus(ctx context.Context, s *trackers.Session, key, status string) (trackers.Link, error) {
	if err := checkIssueKey(key); err != nil {
		return trackers.Link{}, err
	}
	c := newJiraClient(s)
	link := trackers.Link{Kind: "status", Key: key, URL: browseURL(s, key)}
	var cur jiraIssue
	if err := c.do(ctx, http.MethodGet, "issue/"+key, url.Values{"fields": {"status"}}, nil, &cur); err != nil {
		return trackers.Link{}, notFoundAs(err, key)
	}
	if cur.Fields == nil || cur.Fields.Status == nil {
		return trackers.Link{}, fmt.Errorf("%w: jira issue %s without status", trackers.ErrMalformedResponse, key)
	}
	from := cur.Fields.Status.Name
	if strings.EqualFold(strings.TrimSpace(status), from) {
		return link, nil
	}
	var trs struct {
		Transitions []struct {
			ID   string     `json:"id"`
			Name string     `json:"name"`
			To   *jiraNamed `json:"to"`
		} `json:"transitions"`
	}
	if err := c.do(ctx, http.MethodGet, "issue/"+key+"/transitions", nil, nil, &trs); err != nil {
		return trackers.Link{}, notFoundAs(err, key)
	}
	want := strings.TrimSpace(status)
	id := ""
	var reachable []string
	for _, tr := range trs.Transitions {
		if tr.To == nil || tr.ID == "" {
			return trackers.Link{}, fmt.Errorf("%w: jira transition without id or target status on %s", trackers.ErrMalformedResponse, key)
		}
		if id == "" && strings.EqualFold(tr.To.Name, want) {
			id = tr.ID
		}
		if !slices.Contains(reachable, tr.To.Name) {
			reachable = append(reachable, tr.To.Name)
		}
	}
	if id == "" {
		for _, tr := range trs.Transitions {
			if strings.EqualFold(tr.Name, want) {
				id = tr.ID
				break
			}
		}
	}
	if id == "" {
		possible := "none"
		if len(reachable) > 0 {
			possible = strings.Join(reachable, ", ")
		}
		return trackers.Link{}, fmt.Errorf("%w: %s cannot move from %q to %q; statuses reachable from there: %s", trackers.ErrUnknownStatus, key, from, status, possible)
	}
	body := map[string]any{"transition": map[string]string{"id": id}}
	if err := c.do(ctx, http.MethodPost, "issue/"+key+"/transitions", nil, body, nil); err != nil {
		// Someone (another result for the same ticket, a person) moved it
		// between the read and the transition: Jira refuses a transition
		// that no longer applies. Already at the target is what was asked.
		if jiraStatus(err) == http.StatusBadRequest && c.hasStatus(ctx, key, want) {
			return link, nil
		}
		return trackers.Link{}, notFoundAs(err, key)
	}
	return link, nil
}

// hasStatus says whether the issue is now in status (false when it cannot tell).
func (c jiraClient) hasStatus(ctx context.Context, key, status string) bool {
	var cur jiraIssue
	if err := c.do(ctx, http.MethodGet, "issue/"+key, url.Values{"fields": {"status"}}, nil, &cur); err != nil {
		return false
	}
	return cur.Fields != nil && cur.Fields.Status != nil && strings.EqualFold(cur.Fields.Status.Name, status)
}

// AddComment posts a comment: ADF on Cloud (the mention as a mention node),
// wiki markup on Data Center ([~login]). The marker is stored as the
// comment's "connectorhub" entity property, set in the same request.
func (Tracker) AddComment(ctx context.Context, s *trackers.Session, key string, nc trackers.NewComment) (trackers.Link, error) {
	if err := checkIssueKey(key); err != nil {
		return trackers.Link{}, err
	}
	c := newJiraClient(s)
	body, err := c.toBody(nc.Markdown, nc.Mention)
	if err != nil {
		return trackers.Link{}, fmt.Errorf("rendering the comment: %w", err)
	}
	req := map[string]any{"body": body}
	if props := markerProperties(nc.Marker); props != nil {
		req["properties"] = props
	}
	var created jiraComment
	if err := c.do(ctx, http.MethodPost, "issue/"+key+"/comment", nil, req, &created); err != nil {
		return trackers.Link{}, notFoundAs(err, key)
	}
	if created.ID == "" {
		return trackers.Link{}, fmt.Errorf("%w: jira created a comment on %s without id", trackers.ErrMalformedResponse, key)
	}
	return commentLink(s, key, created.ID), nil
}

func commentLink(s *trackers.Session, key, id string) trackers.Link {
	u := s.BaseURL.JoinPath("browse", key)
	u.RawQuery = url.Values{"focusedCommentId": {id}}.Encode()
	return trackers.Link{Kind: "comment", Key: id, URL: u.String()}
}

// FindComment finds the comment posted with marker, newest first.
func (Tracker) FindComment(ctx context.Context, s *trackers.Session, key, marker string) (trackers.Link, bool, error) {
	if err := checkIssueKey(key); err != nil {
		return trackers.Link{}, false, err
	}
	if marker == "" {
		return trackers.Link{}, false, errors.New("jira: finding a comment needs a marker")
	}
	c := newJiraClient(s)
	var found string
	err := c.listComments(ctx, key, "-created", true, func(cm jiraComment) bool {
		for _, p := range cm.Properties {
			if p.Key == jiraMarkerProperty && hasMarker(p.Value, marker) {
				found = cm.ID
				return false
			}
		}
		return true
	})
	if err != nil || found == "" {
		return trackers.Link{}, false, err
	}
	return commentLink(s, key, found), true, nil
}

// jiraSummaryMax is Jira's limit on a summary's length.
const jiraSummaryMax = 255

func cleanSummary(v string) string {
	v = strings.Join(strings.Fields(v), " ")
	if utf8.RuneCountInString(v) > jiraSummaryMax {
		r := []rune(v)
		v = string(r[:jiraSummaryMax-1]) + "…"
	}
	return v
}

// CreateSubtask creates a sub-task under parentKey with the sub-task issue
// type of the parent's project; the marker is the new issue's
// "connectorhub" entity property, set in the create request.
func (Tracker) CreateSubtask(ctx context.Context, s *trackers.Session, parentKey string, st trackers.NewSubtask) (trackers.Link, error) {
	if err := checkIssueKey(parentKey); err != nil {
		return trackers.Link{}, err
	}
	summary := cleanSummary(st.Summary)
	if summary == "" {
		return trackers.Link{}, errors.New("jira: a sub-task needs a summary")
	}
	c := newJiraClient(s)
	var parent jiraIssue
	if err := c.do(ctx, http.MethodGet, "issue/"+parentKey, url.Values{"fields": {"project,issuetype"}}, nil, &parent); err != nil {
		return trackers.Link{}, notFoundAs(err, parentKey)
	}
	if parent.Fields == nil || parent.Fields.Project == nil || (parent.Fields.Project.ID == "" && parent.Fields.Project.Key == "") {
		return trackers.Link{}, fmt.Errorf("%w: jira issue %s without project", trackers.ErrMalformedResponse, parentKey)
	}
	if parent.Fields.IssueType != nil && parent.Fields.IssueType.Subtask {
		return trackers.Link{}, fmt.Errorf("jira: %s is itself a sub-task and cannot have sub-tasks", parentKey)
	}
	proj := parent.Fields.Project
	projRef := proj.ID
	if projRef == "" {
		projRef = proj.Key
	}
	var p struct {
		ID         string             `json:"id"`
		Key        string             `json:"key"`
		IssueTypes []jiraIssueTypeRef `json:"issueTypes"`
	}
	if err := c.do(ctx, http.MethodGet, "project/"+url.PathEscape(projRef), nil, nil, &p); err != nil {
		return trackers.Link{}, fmt.Errorf("reading the issue types of project %s: %w", projRef, err)
	}
	typeID := ""
	for _, it := range p.IssueTypes {
		if it.Subtask && it.ID != "" {
			typeID = it.ID
			break
		}
	}
	if typeID == "" {
		return trackers.Link{}, fmt.Errorf("jira: project %s has no sub-task issue type", p.Key)
	}
	fields := map[string]any{
		"project":   map[string]string{"id": p.ID},
		"parent":    map[string]string{"key": parentKey},
		"issuetype": map[string]string{"id": typeID},
		"summary":   summary,
	}
	if strings.TrimSpace(st.DescriptionMarkdown) != "" {
		desc, err := c.toBody(st.DescriptionMarkdown, nil)
		if err != nil {
			return trackers.Link{}, fmt.Errorf("rendering the sub-task description: %w", err)
		}
		fields["description"] = desc
	}
	if st.AssignToConnector {
		who, err := jiraConnectorAccount(ctx, c, s)
		if err != nil {
			return trackers.Link{}, fmt.Errorf("the account to assign the sub-task to: %w", err)
		}
		if who != nil {
			fields["assignee"] = who
		}
	}
	req := map[string]any{"fields": fields}
	if props := markerProperties(st.Marker); props != nil {
		req["properties"] = props
	}
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := c.do(ctx, http.MethodPost, "issue", nil, req, &created); err != nil {
		return trackers.Link{}, err
	}
	if created.Key == "" {
		return trackers.Link{}, fmt.Errorf("%w: jira created an issue without key", trackers.ErrMalformedResponse)
	}
	return trackers.Link{Kind: "subtask", Key: created.Key, URL: browseURL(s, created.Key)}, nil
}

// FindSubtask finds the sub-task created with marker. It reads the parent's
// sub-tasks and then each one's marker property (newest first) rather than
// searching: Jira Cloud's search is eventually consistent, and a sub-task
// created just before a crash must be found on the redelivery.
func (Tracker) FindSubtask(ctx context.Context, s *trackers.Session, parentKey, marker string) (trackers.Link, bool, error) {
	if err := checkIssueKey(parentKey); err != nil {
		return trackers.Link{}, false, err
	}
	if marker == "" {
		return trackers.Link{}, false, errors.New("jira: finding a sub-task needs a marker")
	}
	c := newJiraClient(s)
	var parent jiraIssue
	if err := c.do(ctx, http.MethodGet, "issue/"+parentKey, url.Values{"fields": {"subtasks"}}, nil, &parent); err != nil {
		return trackers.Link{}, false, notFoundAs(err, parentKey)
	}
	if parent.Fields == nil {
		return trackers.Link{}, false, fmt.Errorf("%w: jira issue %s without fields", trackers.ErrMalformedResponse, parentKey)
	}
	subs := parent.Fields.Subtasks
	for i := len(subs) - 1; i >= 0; i-- {
		key := subs[i].Key
		if checkIssueKey(key) != nil {
			return trackers.Link{}, false, fmt.Errorf("%w: jira sub-task key %q", trackers.ErrMalformedResponse, key)
		}
		var sub jiraIssue
		q := url.Values{"fields": {"summary"}, "properties": {jiraMarkerProperty}}
		err := c.do(ctx, http.MethodGet, "issue/"+key, q, nil, &sub)
		if jiraStatus(err) == http.StatusNotFound {
			continue // deleted since the parent was read
		}
		if err != nil {
			return trackers.Link{}, false, err
		}
		if hasMarker(sub.Properties[jiraMarkerProperty], marker) {
			return trackers.Link{Kind: "subtask", Key: key, URL: browseURL(s, key)}, true, nil
		}
	}
	return trackers.Link{}, false, nil
}
