package jirafake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/markup"
)

// Ticket is an issue in the fake: what tests seed with AddTicket and read
// back with Ticket.
type Ticket struct {
	// Key is assigned ("<project>-<n>") when empty.
	Key string
	// Project is the project key; the first project added when empty.
	Project string
	// Type is the issue type name: "Task", or "Sub-task" under a Parent.
	Type    string
	Summary string
	// Description is Markdown. AddTicket stores it as Jira would: an ADF
	// document on Cloud, wiki markup on Data Center (see StoredDescription).
	Description string
	// StoredDescription is the description as served (ADF JSON or wiki
	// markup). Read-only: set by AddTicket and by API writes.
	StoredDescription string
	Status            string // "To Do" when empty
	Resolution        string // "" is unresolved; set when Status is a done status
	Priority          string // "Medium" when empty
	Labels            []string
	Components        []string
	// Reporter and Assignee name a user by account id, username or email;
	// Reporter defaults to the first user, Assignee "" is unassigned.
	Reporter string
	Assignee string
	Parent   string // parent key, for sub-tasks
	Created  time.Time
	Updated  time.Time // Created when zero
	// Properties are the issue's entity properties (key → JSON value).
	Properties  map[string]json.RawMessage
	Attachments []Attachment
}

// Attachment is the metadata of an attachment.
type Attachment struct {
	ID       string
	Filename string
	MimeType string
	Size     int64
	Author   string // user reference; the reporter when empty
}

// Comment is a comment as the fake stores it.
type Comment struct {
	ID     string
	Author string // user reference (account id on Cloud, username on DC)
	// Body is the body as posted: ADF JSON on Cloud, wiki markup on DC.
	Body       string
	Properties map[string]json.RawMessage
	Created    time.Time
}

// Transition is a workflow transition: from any of From (any status when
// empty) to To.
type Transition struct {
	ID, Name string
	From     []string
	To       string
}

// DefaultWorkflow is the fake's workflow unless Options.Workflow names one.
// Transition names differ from their target statuses on purpose (clients
// must match on the target).
var DefaultWorkflow = []Transition{
	{ID: "11", Name: "Start Progress", To: "In Progress"}, // global: from any status
	{ID: "21", Name: "Stop Progress", From: []string{"In Progress"}, To: "To Do"},
	{ID: "31", Name: "Request Review", From: []string{"In Progress"}, To: "In Review"},
	{ID: "51", Name: "Finish", From: []string{"To Do", "In Progress", "In Review"}, To: "Done"},
	{ID: "61", Name: "Reopen", From: []string{"Done"}, To: "To Do"},
}

// doneStatuses are in the "done" status category: moving there resolves.
var doneStatuses = []string{"Done", "Closed", "Resolved", "Won't Do"}

func isDone(status string) bool {
	return slices.ContainsFunc(doneStatuses, func(d string) bool { return strings.EqualFold(d, status) })
}

// priorities, highest first (rank 1).
var priorities = []string{"Highest", "High", "Medium", "Low", "Lowest"}

func priorityRank(name string) int {
	for i, p := range priorities {
		if strings.EqualFold(p, name) {
			return i + 1
		}
	}
	return 0
}

type comment struct {
	id      int
	author  string
	body    json.RawMessage // ADF object (Cloud) or JSON string (DC)
	props   []entityProperty
	created time.Time
}

type entityProperty struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type issue struct {
	id       int
	t        Ticket
	desc     json.RawMessage // ADF object, JSON string, or nil
	comments []*comment
	enc      *encodedIssue // last rendering served (cache.go)
}

func (s *Server) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// AddTicket adds an issue and returns its key. It panics on a ticket the
// fake cannot hold (unknown project, user or parent): a broken test setup.
func (s *Server) AddTicket(t Ticket) string {
	desc, err := s.storeMarkdown(t.Description)
	if err != nil {
		panic(fmt.Sprintf("jira fake: description of %q: %v", t.Summary, err))
	}
	s.lock()
	defer s.mu.Unlock()
	is, err := s.addIssueLocked(t, desc)
	if err != nil {
		panic("jira fake: " + err.Error())
	}
	return is.t.Key
}

// storeMarkdown renders Markdown in the deployment's format.
func (s *Server) storeMarkdown(md string) (json.RawMessage, error) {
	if md == "" {
		return nil, nil
	}
	if s.deployment == connector.Cloud {
		return markup.MarkdownToADF(md)
	}
	return json.Marshal(markup.MarkdownToWiki(md))
}

func (s *Server) addIssueLocked(t Ticket, desc json.RawMessage) (*issue, error) {
	if t.Project == "" {
		if len(s.projectOrder) == 0 {
			return nil, fmt.Errorf("no project to add %q to", t.Summary)
		}
		t.Project = s.projectOrder[0]
	}
	p, ok := s.projects[strings.ToUpper(t.Project)]
	if !ok {
		return nil, fmt.Errorf("unknown project %q", t.Project)
	}
	t.Project = p.Key
	if t.Parent != "" {
		parent, ok := s.issues[strings.ToUpper(t.Parent)]
		if !ok {
			return nil, fmt.Errorf("unknown parent %q", t.Parent)
		}
		t.Parent = parent.t.Key
		if t.Type == "" {
			t.Type = "Sub-task"
		}
	}
	if t.Type == "" {
		t.Type = "Task"
	}
	if t.Status == "" {
		t.Status = "To Do"
	}
	if isDone(t.Status) && t.Resolution == "" {
		t.Resolution = "Done"
	}
	if t.Priority == "" {
		t.Priority = "Medium"
	}
	if priorityRank(t.Priority) == 0 {
		return nil, fmt.Errorf("unknown priority %q", t.Priority)
	}
	if t.Reporter == "" && len(s.users) > 0 {
		t.Reporter = s.userRef(s.users[0])
	}
	for _, ref := range []string{t.Reporter, t.Assignee} {
		if ref != "" && s.userByRef(ref) == nil {
			return nil, fmt.Errorf("unknown user %q", ref)
		}
	}
	if t.Created.IsZero() {
		t.Created = s.now()
	}
	if t.Updated.IsZero() {
		t.Updated = t.Created
	}
	if t.Key == "" {
		s.seq[p.Key]++
		t.Key = fmt.Sprintf("%s-%d", p.Key, s.seq[p.Key])
	} else if _, taken := s.issues[strings.ToUpper(t.Key)]; taken {
		return nil, fmt.Errorf("key %s taken", t.Key)
	} else if _, n := splitKey(t.Key); n > s.seq[p.Key] {
		s.seq[p.Key] = n
	}
	t.Labels = slices.Clone(t.Labels)
	t.Components = slices.Clone(t.Components)
	t.Attachments = slices.Clone(t.Attachments)
	props := map[string]json.RawMessage{}
	for k, v := range t.Properties {
		props[k] = v
	}
	t.Properties = props
	s.nextID++
	is := &issue{id: 10000 + s.nextID, t: t, desc: desc}
	is.t.StoredDescription = storedText(desc)
	s.issues[strings.ToUpper(t.Key)] = is
	s.issueOrder = append(s.issueOrder, is)
	return is, nil
}

// storedText renders a stored body for inspection: ADF as JSON, wiki as text.
func storedText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str
	}
	return string(raw)
}

// issueByRef finds an issue by key or numeric id (the lock is held).
func (s *Server) issueByRef(ref string) (*issue, bool) {
	if is, ok := s.issues[strings.ToUpper(ref)]; ok {
		return is, true
	}
	if n, err := strconv.Atoi(ref); err == nil {
		for _, is := range s.issueOrder {
			if is.id == n {
				return is, true
			}
		}
	}
	return nil, false
}

func (s *Server) mustIssue(key string) *issue {
	is, ok := s.issueByRef(key)
	if !ok {
		panic("jira fake: no issue " + key)
	}
	return is
}

// Ticket returns an issue as it is now.
func (s *Server) Ticket(key string) (Ticket, bool) {
	s.lock()
	defer s.mu.Unlock()
	is, ok := s.issueByRef(key)
	if !ok {
		return Ticket{}, false
	}
	t := is.t
	t.Labels = slices.Clone(t.Labels)
	t.Components = slices.Clone(t.Components)
	t.Attachments = slices.Clone(t.Attachments)
	t.Properties = map[string]json.RawMessage{}
	for k, v := range is.t.Properties {
		t.Properties[k] = slices.Clone(v)
	}
	return t, true
}

// Subtasks returns the keys of an issue's sub-tasks in creation order.
func (s *Server) Subtasks(key string) []string {
	s.lock()
	defer s.mu.Unlock()
	return s.subtaskKeysLocked(key)
}

func (s *Server) subtaskKeysLocked(key string) []string {
	if s.subtaskIndex == nil && s.subtaskLazy {
		s.subtaskIndex = s.buildSubtaskIndexLocked()
	}
	if s.subtaskIndex != nil {
		return s.subtaskIndex[strings.ToUpper(key)]
	}
	var out []string
	for _, is := range s.issueOrder {
		if is.t.Parent != "" && strings.EqualFold(is.t.Parent, key) {
			out = append(out, is.t.Key)
		}
	}
	return out
}

// Comments returns an issue's comments, oldest first.
func (s *Server) Comments(key string) []Comment {
	s.lock()
	defer s.mu.Unlock()
	is, ok := s.issueByRef(key)
	if !ok {
		return nil
	}
	out := make([]Comment, 0, len(is.comments))
	for _, c := range is.comments {
		cm := Comment{ID: strconv.Itoa(c.id), Author: c.author, Body: storedText(c.body), Created: c.created, Properties: map[string]json.RawMessage{}}
		for _, p := range c.props {
			cm.Properties[p.Key] = slices.Clone(p.Value)
		}
		out = append(out, cm)
	}
	return out
}

// AddComment adds a comment as author (a user reference) with a Markdown
// body stored in the deployment's format, and returns its id.
func (s *Server) AddComment(key, author, md string) string {
	body, err := s.storeMarkdown(md)
	if err != nil {
		panic("jira fake: comment: " + err.Error())
	}
	s.lock()
	defer s.mu.Unlock()
	is := s.mustIssue(key)
	c := s.addCommentLocked(is, author, body, nil)
	return strconv.Itoa(c.id)
}

func (s *Server) addCommentLocked(is *issue, author string, body json.RawMessage, props []entityProperty) *comment {
	s.nextID++
	c := &comment{id: 10000 + s.nextID, author: author, body: body, props: props, created: s.now()}
	is.comments = append(is.comments, c)
	is.t.Updated = c.created
	return c
}

// Resolve moves an issue to Done with resolution Done, as a person would.
func (s *Server) Resolve(key string) {
	defer s.sendHook(key) // after the unlock below
	s.lock()
	defer s.mu.Unlock()
	is := s.mustIssue(key)
	is.t.Status, is.t.Resolution, is.t.Updated = "Done", "Done", s.now()
}

// Unassign removes the assignee, as a person would.
func (s *Server) Unassign(key string) {
	defer s.sendHook(key) // after the unlock below
	s.lock()
	defer s.mu.Unlock()
	is := s.mustIssue(key)
	is.t.Assignee, is.t.Updated = "", s.now()
}

// Assign sets the assignee (a user reference), as a person would.
func (s *Server) Assign(key, user string) {
	defer s.sendHook(key) // after the unlock below
	s.lock()
	defer s.mu.Unlock()
	is := s.mustIssue(key)
	if s.userByRef(user) == nil {
		panic("jira fake: unknown user " + user)
	}
	is.t.Assignee, is.t.Updated = user, s.now()
}

// SetStatus moves an issue to a status directly (no workflow check), as an
// administrator would; done statuses resolve it.
func (s *Server) SetStatus(key, status string) {
	defer s.sendHook(key) // after the unlock below
	s.lock()
	defer s.mu.Unlock()
	is := s.mustIssue(key)
	s.moveLocked(is, status)
}

func (s *Server) moveLocked(is *issue, status string) {
	is.t.Status = status
	if isDone(status) {
		if is.t.Resolution == "" {
			is.t.Resolution = "Done"
		}
	} else {
		is.t.Resolution = ""
	}
	is.t.Updated = s.now()
}

// Touch edits an issue as a person would, moving its update time to at.
func (s *Server) Touch(key string, at time.Time) {
	defer s.sendHook(key) // after the unlock below
	s.lock()
	defer s.mu.Unlock()
	s.mustIssue(key).t.Updated = at
}

// userByRef finds a user by account id, username or email (lock held).
func (s *Server) userByRef(ref string) *User {
	if ref == "" {
		return nil
	}
	for i, u := range s.users {
		if (u.AccountID != "" && u.AccountID == ref) || (u.Name != "" && u.Name == ref) || (u.Email != "" && strings.EqualFold(u.Email, ref)) {
			return &s.users[i]
		}
	}
	return nil
}

// userRef is how an API write names a user: account id on Cloud, username on DC.
func (s *Server) userRef(u User) string {
	if s.deployment == connector.Cloud {
		return u.AccountID
	}
	return u.Name
}

// projectByRef finds a project by key or id (lock held).
func (s *Server) projectByRef(ref string) (Project, bool) {
	if p, ok := s.projects[strings.ToUpper(ref)]; ok {
		return p, true
	}
	for _, p := range s.projects {
		if p.ID == ref {
			return p, true
		}
	}
	return Project{}, false
}

func (s *Server) knownStatus(name string) bool {
	for _, tr := range s.workflow {
		if strings.EqualFold(tr.To, name) || slices.ContainsFunc(tr.From, func(f string) bool { return strings.EqualFold(f, name) }) {
			return true
		}
	}
	for _, is := range s.issueOrder {
		if strings.EqualFold(is.t.Status, name) {
			return true
		}
	}
	return strings.EqualFold(name, "To Do")
}

func (s *Server) knownResolution(name string) bool {
	return slices.ContainsFunc([]string{"Done", "Won't Do", "Duplicate", "Cannot Reproduce", "Fixed"}, func(r string) bool { return strings.EqualFold(r, name) })
}

// transitionsFrom lists the transitions available from a status.
func (s *Server) transitionsFrom(status string) []Transition {
	var out []Transition
	for _, tr := range s.workflow {
		if len(tr.From) == 0 || slices.ContainsFunc(tr.From, func(f string) bool { return strings.EqualFold(f, status) }) {
			out = append(out, tr)
		}
	}
	return out
}

// statusID gives every status a stable id.
func statusID(name string) string {
	switch strings.ToLower(name) {
	case "to do":
		return "10000"
	case "in progress":
		return "3"
	case "in review":
		return "10001"
	case "done":
		return "10002"
	}
	h := 0
	for _, r := range strings.ToLower(name) {
		h = (h*31 + int(r)) % 90000
	}
	return strconv.Itoa(11000 + h)
}

// indexSubtasksLocked indexes sub-tasks by parent for the rest of one
// request (under s.mu), so a page of issues costs O(issues), not O(issues²);
// the returned func drops the index. The index is built when an issue is
// first encoded: a page served from encoded issues needs none, and walking
// every issue for each page made a listing cost O(pages × issues) (issue 9).
func (s *Server) indexSubtasksLocked() func() {
	s.subtaskLazy = true
	return func() { s.subtaskIndex, s.subtaskLazy = nil, false }
}

func (s *Server) buildSubtaskIndexLocked() map[string][]string {
	idx := map[string][]string{}
	for _, is := range s.issueOrder {
		if is.t.Parent != "" {
			p := strings.ToUpper(is.t.Parent)
			idx[p] = append(idx[p], is.t.Key)
		}
	}
	return idx
}

// Delete removes an issue (not a parent of others), as an administrator
// would: it answers 404 from then on.
func (s *Server) Delete(key string) {
	s.lock()
	defer s.mu.Unlock()
	is := s.mustIssue(key)
	delete(s.issues, strings.ToUpper(is.t.Key))
	s.issueOrder = slices.DeleteFunc(s.issueOrder, func(o *issue) bool { return o == is })
}
