package gitlabfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	gojson "github.com/goccy/go-json"
)

// Issue is a GitLab issue.
type Issue struct {
	// IID is assigned by AddIssue (unique across the fake).
	IID int64
	// ProjectID is the project's numeric id; 0 means the first project.
	ProjectID   int64
	Title       string
	Description string // Markdown
	State       string // "opened" (default) or "closed"
	Labels      []string
	Author      string   // username; the first user when empty
	Assignees   []string // usernames
	Created     time.Time
	// Updated is the update time; zero means Created (or now).
	Updated time.Time
	Closed  time.Time
}

// Note is a comment on an issue; System notes record changes ("closed").
type Note struct {
	ID       int64
	Author   string
	Body     string
	System   bool
	Internal bool
	Created  time.Time
	Updated  time.Time
}

// issueState is an issue with its notes, as the fake keeps it.
type issueState struct {
	Issue
	notes []Note
}

// timestamps are stored at millisecond precision, as the API reports them.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// AddIssue adds an issue and returns its iid. Zero fields get defaults: the
// first project, the first user as author, state opened, created now.
func (s *Server) AddIssue(is Issue) int64 {
	iid := s.addIssue(is)
	s.deliver(iid, "open", false)
	return iid
}

func (s *Server) addIssue(is Issue) int64 {
	s.lock()
	defer s.mu.Unlock()
	if is.ProjectID == 0 && len(s.projects) > 0 {
		is.ProjectID = s.projects[0].ID
	}
	if is.Author == "" {
		for _, u := range s.sortedUsers() {
			is.Author = u.Username
			break
		}
	}
	if is.State == "" {
		is.State = "opened"
	}
	if is.Created.IsZero() {
		is.Created = time.Now()
		if !is.Updated.IsZero() && is.Updated.Before(is.Created) {
			is.Created = is.Updated
		}
	}
	if is.Updated.IsZero() {
		is.Updated = is.Created
	}
	is.Created, is.Updated = stamp(is.Created), stamp(is.Updated)
	if is.State == "closed" && is.Closed.IsZero() {
		is.Closed = is.Updated
	}
	s.lastIID++
	is.IID = s.lastIID
	is.Labels = slices.Clone(is.Labels)
	is.Assignees = slices.Clone(is.Assignees)
	s.issues = append(s.issues, &issueState{Issue: is})
	return is.IID
}

// sortedUsers returns users by id, so "the first user" is stable.
func (s *Server) sortedUsers() []User {
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int { return int(a.ID - b.ID) })
	return out
}

func (s *Server) issueLocked(iid int64) *issueState {
	for _, is := range s.issues {
		if is.IID == iid {
			return is
		}
	}
	return nil
}

// Issue returns an issue by iid.
func (s *Server) Issue(iid int64) (Issue, bool) {
	s.lock()
	defer s.mu.Unlock()
	is := s.issueLocked(iid)
	if is == nil {
		return Issue{}, false
	}
	out := is.Issue
	out.Labels = slices.Clone(out.Labels)
	out.Assignees = slices.Clone(out.Assignees)
	return out, true
}

// Notes returns the notes of an issue, oldest first (system notes included).
func (s *Server) Notes(iid int64) []Note {
	s.lock()
	defer s.mu.Unlock()
	if is := s.issueLocked(iid); is != nil {
		return slices.Clone(is.notes)
	}
	return nil
}

// AddNote adds a note to an issue as the given author (a person commenting)
// and returns its id; it moves the issue's update time.
func (s *Server) AddNote(iid int64, author, body string) int64 {
	s.lock()
	is := s.issueLocked(iid)
	if is == nil {
		s.mu.Unlock()
		return 0
	}
	id := s.addNoteLocked(is, Note{Author: author, Body: body}, time.Now())
	s.mu.Unlock()
	s.deliver(iid, "", true)
	return id
}

func (s *Server) addNoteLocked(is *issueState, n Note, at time.Time) int64 {
	s.lastNote++
	n.ID = s.lastNote
	n.Created, n.Updated = stamp(at), stamp(at)
	is.notes = append(is.notes, n)
	is.Updated = stamp(at)
	return n.ID
}

// edit applies f to an issue and moves its update time to at.
func (s *Server) edit(iid int64, at time.Time, f func(*issueState)) bool {
	s.lock()
	is := s.issueLocked(iid)
	if is == nil {
		s.mu.Unlock()
		return false
	}
	f(is)
	is.Updated = stamp(at)
	s.mu.Unlock()
	s.deliver(iid, "update", false)
	return true
}

// Close closes an issue (with GitLab's "closed" system note).
func (s *Server) Close(iid int64) bool {
	now := time.Now()
	return s.edit(iid, now, func(is *issueState) { s.setStateLocked(is, "closed", is.Author, now) })
}

func (s *Server) setStateLocked(is *issueState, state, by string, at time.Time) {
	if is.State == state {
		return
	}
	is.State = state
	if state == "closed" {
		is.Closed = stamp(at)
		s.addNoteLocked(is, Note{Author: by, Body: "closed", System: true}, at)
	} else {
		is.Closed = time.Time{}
		s.addNoteLocked(is, Note{Author: by, Body: "reopened", System: true}, at)
	}
}

// Unassign removes a user from an issue's assignees.
func (s *Server) Unassign(iid int64, username string) bool {
	return s.edit(iid, time.Now(), func(is *issueState) {
		is.Assignees = slices.DeleteFunc(is.Assignees, func(a string) bool { return a == username })
	})
}

// Touch edits an issue as a person would, moving its update time to at.
func (s *Server) Touch(iid int64, at time.Time) bool {
	return s.edit(iid, at, func(*issueState) {})
}

// SetLabels replaces an issue's labels.
func (s *Server) SetLabels(iid int64, labels ...string) bool {
	return s.edit(iid, time.Now(), func(is *issueState) { is.Labels = slices.Clone(labels) })
}

// issuesOf returns copies of a project's issues, in iid order.
func (s *Server) issuesOf(projectID int64) []issueState {
	s.lock()
	defer s.mu.Unlock()
	var out []issueState
	for _, is := range s.issues {
		if is.ProjectID == projectID {
			c := *is
			c.Labels = slices.Clone(is.Labels)
			c.Assignees = slices.Clone(is.Assignees)
			c.notes = slices.Clone(is.notes)
			out = append(out, c)
		}
	}
	return out
}

// pathIssue finds the issue of the path ({iid}) in the accessed project and
// answers 404 itself when there is none.
func (s *Server) pathIssue(w http.ResponseWriter, r *http.Request, a access) (issueState, bool) {
	iid, err := strconv.ParseInt(r.PathValue("iid"), 10, 64)
	if err != nil {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "issue_iid is invalid"})
		return issueState{}, false
	}
	s.lock()
	is := s.issueLocked(iid)
	var c issueState
	if is != nil && is.ProjectID == a.project.ID {
		c = *is
		c.Labels = slices.Clone(is.Labels)
		c.Assignees = slices.Clone(is.Assignees)
		c.notes = slices.Clone(is.notes)
	}
	s.mu.Unlock()
	if is == nil || c.ProjectID != a.project.ID {
		fakehttp.JSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
		return issueState{}, false
	}
	return c, true
}

func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	a, ok := s.projectAccess(w, r, false)
	if !ok {
		return
	}
	q := r.URL.Query()
	var after, before time.Time
	for name, dst := range map[string]*time.Time{"updated_after": &after, "updated_before": &before} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": name + " is invalid"})
				return
			}
			*dst = t
		}
	}
	state := q.Get("state")
	if state == "" {
		state = "all"
	}
	labels := splitList(q["labels"])
	notLabels := splitList(q["not[labels]"])
	assignees := q["assignee_username"]
	if len(assignees) == 0 {
		assignees = q["assignee_username[]"]
	}
	var iids []int64
	for _, v := range append(q["iids[]"], q["iids"]...) {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			iids = append(iids, n)
		}
	}

	orderBy := q.Get("order_by")
	if orderBy == "" {
		orderBy = "created_at"
	}
	desc := q.Get("sort") != "asc"
	key := func(is *issueState) time.Time {
		if orderBy == "updated_at" {
			return is.Updated
		}
		return is.Created
	}
	cmp := func(a, b *issueState) int {
		c := 0
		if orderBy != "id" {
			c = key(a).Compare(key(b))
		}
		if c == 0 {
			c = int(a.IID - b.IID)
		}
		if desc {
			c = -c
		}
		return c
	}
	lq := listQuery{project: a.project.ID, state: state, orderBy: orderBy, desc: desc, after: after, before: before,
		labels: strings.Join(labels, "\x00"), notLabels: strings.Join(notLabels, "\x00"), assignees: strings.Join(assignees, "\x00"), iids: joinIDs(iids)}

	// Filter and sort the live issues once per listing (the pages that
	// follow reuse the order while nothing changes), and copy only the
	// issues of the page that have no up-to-date JSON.
	base := fakehttp.BaseURL(r)
	var gen uint64
	var refs []*issueState
	bodies, pageItems, ok := func() ([][]byte, []issueState, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		gen = s.gen
		list, cached := s.cachedList(lq)
		if !cached {
			for _, is := range s.issues {
				switch {
				case is.ProjectID != a.project.ID,
					state != "all" && is.State != state,
					!after.IsZero() && is.Updated.Before(after),
					!before.IsZero() && is.Updated.After(before),
					len(iids) > 0 && !slices.Contains(iids, is.IID),
					!labelsMatch(is.Labels, labels),
					len(notLabels) > 0 && slices.ContainsFunc(notLabels, func(l string) bool { return hasLabel(is.Labels, l) }):
					continue
				}
				if !assigneesMatch(is.Assignees, assignees) {
					continue
				}
				list = append(list, is)
			}
			slices.SortFunc(list, cmp)
			s.lastList = &listResult{gen: s.gen, q: lq, list: list}
		}

		keyset := q.Get("pagination") == "keyset" && !s.opts.NoKeyset && slices.Contains([]string{"created_at", "updated_at", "id"}, orderBy)
		if keyset {
			var ok bool
			refs, ok = keysetPage(w, r, list, s.opts.MaxPerPage, cmp,
				func(is *issueState) cursor {
					return cursor{At: key(is).Format(timeLayout), ID: is.IID}
				},
				func(c cursor) (*issueState, bool) {
					at, err := time.Parse(timeLayout, c.At)
					if err != nil {
						return nil, false
					}
					return &issueState{Issue: Issue{IID: c.ID, Created: at, Updated: at}}, true
				})
			if !ok {
				return nil, nil, false
			}
		} else {
			refs = offsetPage(w, r, list, s.opts.MaxPerPage)
		}
		bodies := make([][]byte, len(refs))
		var items []issueState // copies of the issues to encode, made only on a miss
		for i, is := range refs {
			if b, ok := s.cachedIssue(is, base); ok {
				bodies[i] = b
				continue
			}
			if items == nil {
				items = make([]issueState, len(refs))
			}
			c := *is
			c.Labels = slices.Clone(is.Labels)
			c.Assignees = slices.Clone(is.Assignees)
			c.notes = slices.Clone(is.notes)
			items[i] = c
		}
		return bodies, items, true
	}()
	if !ok {
		return
	}
	if pageItems != nil { // some issues had no up-to-date JSON
		fresh := make([][]byte, len(refs))
		for i := range refs {
			if bodies[i] != nil {
				continue
			}
			b, err := gojson.Marshal(s.issueJSON(base, a.project, pageItems[i]))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			bodies[i], fresh[i] = b, b
		}
		s.keepEncoded(gen, base, refs, fresh)
	}
	// The cached encodings are never changed once made: they are written
	// out as they are, without assembling the page (fakehttp.WriteArray).
	_ = fakehttp.WriteArray(w, http.StatusOK, "", bodies, "")
}

// splitList reads a list parameter sent as repeated values, comma-separated
// values, or both.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func hasLabel(labels []string, l string) bool {
	return slices.ContainsFunc(labels, func(x string) bool { return strings.EqualFold(x, l) })
}

// labelsMatch: every wanted label must be present (GitLab's AND); "None" and
// "Any" ask for no label or some label.
func labelsMatch(have, want []string) bool {
	for _, l := range want {
		switch {
		case strings.EqualFold(l, "None"):
			if len(have) > 0 {
				return false
			}
		case strings.EqualFold(l, "Any"):
			if len(have) == 0 {
				return false
			}
		case !hasLabel(have, l):
			return false
		}
	}
	return true
}

func assigneesMatch(have, want []string) bool {
	for _, u := range want {
		if !slices.Contains(have, u) {
			return false
		}
	}
	return true
}

func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	a, ok := s.projectAccess(w, r, false)
	if !ok {
		return
	}
	is, ok := s.pathIssue(w, r, a)
	if !ok {
		return
	}
	fakehttp.JSON(w, http.StatusOK, s.issueJSON(fakehttp.BaseURL(r), a.project, is))
}

// readParams reads a write request's parameters from a JSON body, a form
// body or the query string, as GitLab accepts all three. List values (labels)
// come back as a comma-joined string or as a JSON array.
func readParams(r *http.Request) (map[string]any, error) {
	params := map[string]any{}
	for k, vs := range r.URL.Query() {
		params[k] = strings.Join(vs, ",")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if len(strings.TrimSpace(string(body))) > 0 {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, err
			}
			for k, v := range m {
				params[k] = v
			}
		}
		return params, nil
	}
	form, err := parseForm(string(body))
	if err != nil {
		return nil, err
	}
	for k, v := range form {
		params[k] = v
	}
	return params, nil
}

func parseForm(body string) (map[string]any, error) {
	out := map[string]any{}
	if strings.TrimSpace(body) == "" {
		return out, nil
	}
	vals, err := url.ParseQuery(body)
	if err != nil {
		return nil, err
	}
	for k, vs := range vals {
		out[strings.TrimSuffix(k, "[]")] = strings.Join(vs, ",")
	}
	return out, nil
}

// paramString returns a string parameter.
func paramString(p map[string]any, name string) (string, bool) {
	switch v := p[name].(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// paramList returns a list parameter sent as an array or a comma-separated string.
func paramList(p map[string]any, name string) ([]string, bool) {
	switch v := p[name].(type) {
	case string:
		return splitList([]string{v}), true
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, splitList([]string{s})...)
			}
		}
		return out, true
	}
	return nil, false
}

func (s *Server) updateIssue(w http.ResponseWriter, r *http.Request) {
	a, ok := s.projectAccess(w, r, true)
	if !ok {
		return
	}
	cur, ok := s.pathIssue(w, r, a)
	if !ok {
		return
	}
	if a.level < Reporter && cur.Author != a.user.Username {
		forbidden(w)
		return
	}
	params, err := readParams(r)
	if err != nil {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "400 Bad request - body is not valid"})
		return
	}
	stateEvent, _ := paramString(params, "state_event")
	if stateEvent != "" && stateEvent != "close" && stateEvent != "reopen" {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "state_event does not have a valid value"})
		return
	}
	known := []string{"title", "description", "labels", "add_labels", "remove_labels", "state_event", "assignee_ids", "assignee_id", "confidential", "discussion_locked", "due_date", "milestone_id", "updated_at", "weight", "issue_type"}
	changed := false
	for k := range params {
		changed = changed || slices.Contains(known, k)
	}
	if !changed {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": strings.Join(known, ", ") + " are missing, at least one parameter must be provided"})
		return
	}
	now := time.Now()
	s.edit(cur.IID, now, func(is *issueState) {
		if v, ok := paramString(params, "title"); ok {
			is.Title = v
		}
		if v, ok := paramString(params, "description"); ok {
			is.Description = v
		}
		if v, ok := paramList(params, "labels"); ok {
			is.Labels = v
		}
		if v, ok := paramList(params, "add_labels"); ok {
			for _, l := range v {
				if !hasLabel(is.Labels, l) {
					is.Labels = append(is.Labels, l)
				}
			}
		}
		if v, ok := paramList(params, "remove_labels"); ok {
			is.Labels = slices.DeleteFunc(is.Labels, func(l string) bool { return hasLabel(v, l) })
		}
		switch stateEvent {
		case "close":
			s.setStateLocked(is, "closed", a.user.Username, now)
		case "reopen":
			s.setStateLocked(is, "opened", a.user.Username, now)
		}
	})
	is, _ := s.pathIssue(w, r, a)
	fakehttp.JSON(w, http.StatusOK, s.issueJSON(fakehttp.BaseURL(r), a.project, is))
}

func (s *Server) listNotes(w http.ResponseWriter, r *http.Request) {
	a, ok := s.projectAccess(w, r, false)
	if !ok {
		return
	}
	is, ok := s.pathIssue(w, r, a)
	if !ok {
		return
	}
	q := r.URL.Query()
	notes := is.notes
	if q.Get("order_by") == "updated_at" {
		slices.SortStableFunc(notes, func(a, b Note) int { return a.Updated.Compare(b.Updated) })
	}
	if q.Get("sort") != "asc" { // GitLab lists notes newest first by default
		slices.Reverse(notes)
	}
	base := fakehttp.BaseURL(r)
	out := []map[string]any{}
	for _, n := range offsetPage(w, r, notes, s.opts.MaxPerPage) {
		out = append(out, s.noteJSON(base, a.project, is.Issue, n))
	}
	fakehttp.JSON(w, http.StatusOK, out)
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request) {
	a, ok := s.projectAccess(w, r, true)
	if !ok {
		return
	}
	is, ok := s.pathIssue(w, r, a)
	if !ok {
		return
	}
	params, err := readParams(r)
	if err != nil {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "400 Bad request - body is not valid"})
		return
	}
	body, _ := paramString(params, "body")
	if strings.TrimSpace(body) == "" {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "body is missing"})
		return
	}
	internal, _ := params["internal"].(bool)
	if a.level == 0 && a.project.Visibility != "public" {
		forbidden(w)
		return
	}
	s.lock()
	st := s.issueLocked(is.IID)
	s.addNoteLocked(st, Note{Author: a.user.Username, Body: body, Internal: internal}, time.Now())
	note := st.notes[len(st.notes)-1]
	s.mu.Unlock()
	fakehttp.JSON(w, http.StatusCreated, s.noteJSON(fakehttp.BaseURL(r), a.project, is.Issue, note))
}

// timeLayout is how GitLab writes timestamps.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

// userBasicJSON is GitLab's UserBasic entity for a username.
func (s *Server) userBasicJSON(base, username string) map[string]any {
	s.mu.Lock()
	u, ok := s.users[username]
	s.mu.Unlock()
	if !ok {
		u = User{Username: username, Name: username}
	}
	return map[string]any{
		"id": u.ID, "username": u.Username, "name": u.Name, "state": "active", "locked": false,
		"avatar_url": "https://secure.gravatar.com/avatar/0?s=80&d=identicon", "web_url": base + "/" + u.Username,
	}
}

func (s *Server) issueJSON(base string, p Project, is issueState) map[string]any {
	web := base + "/" + p.Path + "/-/issues/" + strconv.FormatInt(is.IID, 10)
	api := base + "/api/v4/projects/" + strconv.FormatInt(p.ID, 10) + "/issues/" + strconv.FormatInt(is.IID, 10)
	assignees := make([]map[string]any, 0, len(is.Assignees))
	for _, a := range is.Assignees {
		assignees = append(assignees, s.userBasicJSON(base, a))
	}
	var assignee, closedBy any
	if len(assignees) > 0 {
		assignee = assignees[0]
	}
	if is.State == "closed" {
		closedBy = s.userBasicJSON(base, is.Author)
	}
	userNotes := 0
	for _, n := range is.notes {
		if !n.System {
			userNotes++
		}
	}
	labels := is.Labels
	if labels == nil {
		labels = []string{}
	}
	ref := "#" + strconv.FormatInt(is.IID, 10)
	return map[string]any{
		"id": 1000 + is.IID, "iid": is.IID, "project_id": p.ID, "title": is.Title, "description": is.Description,
		"state": is.State, "created_at": formatTime(is.Created), "updated_at": formatTime(is.Updated),
		"closed_at": nullTime(is.Closed), "closed_by": closedBy, "labels": labels, "milestone": nil,
		"assignees": assignees, "assignee": assignee, "author": s.userBasicJSON(base, is.Author),
		"type": "ISSUE", "user_notes_count": userNotes, "due_date": nil, "confidential": false,
		"discussion_locked": nil, "issue_type": "issue", "web_url": web,
		"time_stats": map[string]any{"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": nil, "human_total_time_spent": nil},
		"references": map[string]string{"short": ref, "relative": ref, "full": p.Path + ref},
		"_links": map[string]any{
			"self": api, "notes": api + "/notes", "award_emoji": api + "/award_emoji",
			"project": base + "/api/v4/projects/" + strconv.FormatInt(p.ID, 10), "closed_as_duplicate_of": nil,
		},
	}
}

func (s *Server) noteJSON(base string, p Project, is Issue, n Note) map[string]any {
	return map[string]any{
		"id": n.ID, "type": nil, "body": n.Body, "attachment": nil, "author": s.userBasicJSON(base, n.Author),
		"created_at": formatTime(n.Created), "updated_at": formatTime(n.Updated), "system": n.System,
		"noteable_id": 1000 + is.IID, "noteable_type": "Issue", "project_id": p.ID, "resolvable": false,
		"confidential": n.Internal, "internal": n.Internal, "imported": false, "imported_from": "none",
		"noteable_iid": is.IID, "commands_changes": map[string]any{},
	}
}

// Delete removes an issue, as an owner would: it answers 404 from then on.
func (s *Server) Delete(iid int64) bool {
	s.lock()
	defer s.mu.Unlock()
	n := len(s.issues)
	s.issues = slices.DeleteFunc(s.issues, func(is *issueState) bool { return is.IID == iid })
	return len(s.issues) < n
}
