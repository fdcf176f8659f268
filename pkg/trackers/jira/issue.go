package jira

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// The parts of Jira's issue bean that tickets are made of. Cloud (v3) and
// Data Center (v2) share them, except that description and comment bodies
// are ADF documents on Cloud and wiki markup strings on Data Center.

type jiraIssue struct {
	ID         string                     `json:"id"`
	Key        string                     `json:"key"`
	Fields     *jiraFields                `json:"fields"`
	Properties map[string]json.RawMessage `json:"properties"`
}

type jiraNamed struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type jiraIssueTypeRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Subtask bool   `json:"subtask"`
}

type jiraProjectRef struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

type jiraIssueRef struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Summary string     `json:"summary"`
		Status  *jiraNamed `json:"status"`
	} `json:"fields"`
}

type jiraFields struct {
	Summary     string          `json:"summary"`
	Description json.RawMessage `json:"description"`
	Status      *jiraNamed      `json:"status"`
	Labels      []string        `json:"labels"`
	// Priority and the users are values, not pointers: absent or null is
	// the zero value, which converts as nil did, and go-json allocates
	// every pointer it decodes into (three per discovered ticket, issue 9).
	// Status stays a pointer: writes tell a missing status apart.
	Priority   jiraNamed         `json:"priority"`
	Reporter   jiraUser          `json:"reporter"`
	Assignee   jiraUser          `json:"assignee"`
	Created    string            `json:"created"`
	Updated    string            `json:"updated"`
	Parent     *jiraIssueRef     `json:"parent"`
	Subtasks   []jiraIssueRef    `json:"subtasks"`
	Components []jiraNamed       `json:"components"`
	Comment    *jiraCommentPage  `json:"comment"`
	Attachment []jiraAttachment  `json:"attachment"`
	Project    *jiraProjectRef   `json:"project"`
	IssueType  *jiraIssueTypeRef `json:"issuetype"`
}

type jiraCommentPage struct {
	StartAt    int           `json:"startAt"`
	MaxResults int           `json:"maxResults"`
	Total      int           `json:"total"`
	Comments   []jiraComment `json:"comments"`
}

type jiraEntityProperty struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type jiraComment struct {
	ID         string               `json:"id"`
	Author     *jiraUser            `json:"author"`
	Body       json.RawMessage      `json:"body"`
	Created    string               `json:"created"`
	Properties []jiraEntityProperty `json:"properties"`
}

// jiraID is an id Jira sends as a string or, in places, a number.
type jiraID string

func (id *jiraID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = jiraID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*id = jiraID(n.String())
	return nil
}

type jiraAttachment struct {
	ID       jiraID `json:"id"`
	Filename string `json:"filename"`
	MimeType string `json:"mimeType"`
	Size     int64  `json:"size"`
	Content  string `json:"content"`
}

// jiraTimeLayouts are the timestamp formats Jira sends (with a numeric
// offset without colon), plus RFC 3339.
var jiraTimeLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano}

func parseJiraTime(v string) (time.Time, error) {
	for _, l := range jiraTimeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: timestamp %q", trackers.ErrMalformedResponse, v)
}

// jiraFieldsFor lists the fields discovery and reads ask for. full adds what
// ticket events carry; comments and attachments only when the connector
// indexes them.
func jiraFieldsFor(indexComments, indexAttachments, full bool) []string {
	if !full {
		return []string{"summary", "status", "updated"}
	}
	f := []string{"summary", "description", "status", "priority", "labels", "components", "reporter", "assignee", "created", "updated", "parent", "subtasks"}
	if indexComments {
		f = append(f, "comment")
	}
	if indexAttachments {
		f = append(f, "attachment")
	}
	return f
}

// jiraUserOf maps a Jira user: Cloud identifies users by accountId, Data
// Center by key and username (the [~name] mention).
func jiraUserOf(u *jiraUser) trackers.User {
	if u == nil {
		return trackers.User{}
	}
	id := u.AccountID
	if id == "" {
		id = u.Key
	}
	if id == "" {
		id = u.Name
	}
	return trackers.User{ID: id, Login: u.Name, DisplayName: u.DisplayName, Email: u.EmailAddress}
}

func nameOf(n *jiraNamed) string {
	if n == nil {
		return ""
	}
	return n.Name
}

// ticketOf converts an issue; it fails with ErrMalformedResponse when the
// issue lacks its key, its fields or a parsable update time.
func (c jiraClient) ticketOf(is jiraIssue) (trackers.Ticket, error) {
	return c.ticketWithURL(is, "")
}

// ticketWithURL is ticketOf with the issue's browse URL made already
// (pageURLs; "" when not).
func (c jiraClient) ticketWithURL(is jiraIssue, url string) (trackers.Ticket, error) {
	if is.Key == "" || is.Fields == nil {
		return trackers.Ticket{}, fmt.Errorf("%w: jira issue without key or fields", trackers.ErrMalformedResponse)
	}
	if url == "" {
		url = c.browseURL(is.Key)
	}
	f := is.Fields
	updated, err := parseJiraTime(f.Updated)
	if err != nil {
		return trackers.Ticket{}, fmt.Errorf("issue %s updated: %w", is.Key, err)
	}
	t := trackers.Ticket{
		Key:      is.Key,
		URL:      url,
		Summary:  f.Summary,
		Status:   nameOf(f.Status),
		Priority: f.Priority.Name,
		Labels:   f.Labels,
		Reporter: jiraUserOf(&f.Reporter),
		Assignee: jiraUserOf(&f.Assignee),
		Updated:  updated,
	}
	if f.Created != "" {
		if t.Created, err = parseJiraTime(f.Created); err != nil {
			return trackers.Ticket{}, fmt.Errorf("issue %s created: %w", is.Key, err)
		}
	}
	if t.DescriptionText, t.DescriptionMarkdown, err = c.fromBody(f.Description); err != nil {
		return trackers.Ticket{}, fmt.Errorf("issue %s description: %w", is.Key, err)
	}
	if f.Parent != nil && f.Parent.Key != "" {
		t.Parent = c.linkOf(*f.Parent)
	}
	for _, st := range f.Subtasks {
		if st.Key == "" {
			return trackers.Ticket{}, fmt.Errorf("%w: issue %s has a sub-task without key", trackers.ErrMalformedResponse, is.Key)
		}
		t.Subtasks = append(t.Subtasks, *c.linkOf(st))
	}
	for _, comp := range f.Components {
		if comp.Name != "" {
			t.Components = append(t.Components, comp.Name)
		}
	}
	if f.Comment != nil {
		for _, cm := range f.Comment.Comments {
			conv, err := c.commentOf(cm)
			if err != nil {
				return trackers.Ticket{}, fmt.Errorf("issue %s: %w", is.Key, err)
			}
			t.Comments = append(t.Comments, conv)
		}
	}
	for _, a := range f.Attachment {
		t.Attachments = append(t.Attachments, trackers.Attachment{ID: string(a.ID), Filename: a.Filename, MediaType: a.MimeType, URL: a.Content, Size: a.Size})
	}
	return t, nil
}

func (c jiraClient) linkOf(r jiraIssueRef) *trackers.TicketLink {
	return &trackers.TicketLink{Key: r.Key, URL: c.browseURL(r.Key), Summary: r.Fields.Summary, Status: nameOf(r.Fields.Status)}
}

func (c jiraClient) commentOf(cm jiraComment) (trackers.Comment, error) {
	out := trackers.Comment{ID: cm.ID, Author: jiraUserOf(cm.Author)}
	if cm.Created != "" {
		t, err := parseJiraTime(cm.Created)
		if err != nil {
			return trackers.Comment{}, fmt.Errorf("comment %s: %w", cm.ID, err)
		}
		out.Created = t
	}
	md, err := c.markdownOf(cm.Body)
	if err != nil {
		return trackers.Comment{}, fmt.Errorf("comment %s: %w", cm.ID, err)
	}
	out.Markdown = md
	return out, nil
}

// isJSONNull reports an absent or null JSON value.
func isJSONNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}
