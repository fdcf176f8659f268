package jirafake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// jiraTime is the timestamp format Jira sends in issue fields (offset
// without colon); rfc3339Millis is what the shape declares for comments.
const (
	jiraTime      = "2006-01-02T15:04:05.000-0700"
	rfc3339Millis = "2006-01-02T15:04:05.000Z07:00"
)

func (s *Server) routeIssues(prefix string) {
	cloud := s.deployment == connector.Cloud
	if cloud {
		// Jira Cloud removed the old search (CHANGE-2046): it answers 410.
		s.Mux.HandleFunc("GET "+prefix+"/search", s.searchGone)
		s.Mux.HandleFunc("POST "+prefix+"/search", s.searchGone)
		s.Mux.HandleFunc("GET "+prefix+"/search/jql", s.searchJQL)
		s.Mux.HandleFunc("POST "+prefix+"/search/jql", s.searchJQL)
	} else {
		s.Mux.HandleFunc("GET "+prefix+"/search", s.searchStartAt)
		s.Mux.HandleFunc("POST "+prefix+"/search", s.searchStartAt)
	}
	s.Mux.HandleFunc("GET "+prefix+"/issue/{issueIdOrKey}", s.getIssue)
	s.Mux.HandleFunc("POST "+prefix+"/issue", s.createIssue)
	s.Mux.HandleFunc("GET "+prefix+"/issue/{issueIdOrKey}/transitions", s.getTransitions)
	s.Mux.HandleFunc("POST "+prefix+"/issue/{issueIdOrKey}/transitions", s.doTransition)
	s.Mux.HandleFunc("GET "+prefix+"/issue/{issueIdOrKey}/comment", s.getComments)
	s.Mux.HandleFunc("POST "+prefix+"/issue/{issueIdOrKey}/comment", s.addComment)
}

// zoneOf is the zone Jira reads a user's JQL dates in (nil: anonymous).
func (s *Server) zoneOf(u *User) *time.Location {
	if u == nil || u.TimeZone == "" {
		return s.defaultZone
	}
	if loc, ok := zones.Load(u.TimeZone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(u.TimeZone)
	if err != nil {
		return s.defaultZone
	}
	zones.Store(u.TimeZone, loc)
	return loc
}

// zones caches loaded time zones: loading one reads the zone database.
var zones sync.Map

// v3 reports whether a request is on REST v3 (ADF bodies) rather than v2 (wiki/plain strings).
func v3(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/rest/api/3/") }

func badRequest(w http.ResponseWriter, msgs []string, fieldErrs map[string]string) {
	if msgs == nil {
		msgs = []string{}
	}
	if fieldErrs == nil {
		fieldErrs = map[string]string{}
	}
	fakehttp.JSON(w, http.StatusBadRequest, map[string]any{"errorMessages": msgs, "errors": fieldErrs})
}

func issueNotFound(w http.ResponseWriter) {
	fakehttp.JSON(w, http.StatusNotFound, errorCollection("Issue does not exist or you do not have permission to see it."))
}

func (s *Server) searchGone(w http.ResponseWriter, _ *http.Request) {
	fakehttp.JSON(w, http.StatusGone, errorCollection("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"))
}

// searchParams are a search's inputs from the query string (GET) or the body (POST).
type searchParams struct {
	JQL           string   `json:"jql"`
	Fields        []string `json:"fields"`
	Properties    []string `json:"properties"`
	MaxResults    *int     `json:"maxResults"`
	StartAt       int      `json:"startAt"`
	NextPageToken string   `json:"nextPageToken"`
}

func readSearch(r *http.Request) (searchParams, error) {
	var p searchParams
	if r.Method == http.MethodPost {
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		if err := dec.Decode(&p); err != nil {
			return p, fmt.Errorf("Invalid request payload. Refer to the REST API documentation and try again.")
		}
		return p, nil
	}
	q := r.URL.Query()
	p.JQL = q.Get("jql")
	p.Fields = splitList(q["fields"])
	p.Properties = splitList(q["properties"])
	p.NextPageToken = q.Get("nextPageToken")
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, fmt.Errorf("maxResults: %q is not a number", v)
		}
		p.MaxResults = &n
	}
	if v := q.Get("startAt"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, fmt.Errorf("startAt: %q is not a number", v)
		}
		p.StartAt = n
	}
	return p, nil
}

func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// run evaluates a query for a caller: the visible issues that match, ordered.
func (s *Server) run(c caller, jql string) ([]*issue, error) {
	q, err := s.parseJQL(jql)
	if err != nil {
		return nil, err
	}
	ec := evalContext{me: c.user, loc: s.zoneOf(c.user), now: s.now(), s: s}
	if err := q.validate(ec); err != nil {
		return nil, err
	}
	var out []*issue
	for _, is := range s.issueOrder {
		p := s.projects[is.t.Project]
		if s.canBrowse(c, p) && q.match(ec, is) {
			out = append(out, is)
		}
	}
	slices.SortStableFunc(out, q.less)
	return out, nil
}

func (s *Server) pageLimit(requested *int, def int) int {
	n := def
	if requested != nil {
		n = *requested
	}
	return max(0, min(n, s.pageSize))
}

// pageToken is the fake's opaque nextPageToken: the offset, bound to the query.
func pageToken(jql string, offset int) string {
	sum := sha256.Sum256([]byte(jql))
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset) + ":" + hex.EncodeToString(sum[:6])))
}

func readPageToken(jql, tok string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	off, hash, ok := strings.Cut(string(raw), ":")
	n, err := strconv.Atoi(off)
	sum := sha256.Sum256([]byte(jql))
	return n, ok && err == nil && n >= 0 && hash == hex.EncodeToString(sum[:6])
}

// searchJQL is Cloud's enhanced search: nextPageToken paging, isLast, no total.
func (s *Server) searchJQL(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	p, err := readSearch(r)
	if err != nil {
		badRequest(w, []string{err.Error()}, nil)
		return
	}
	items, tail, ok := func() ([][]byte, string, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		defer s.indexSubtasksLocked()()
		if q, err := s.parseJQL(p.JQL); err == nil && len(q.clauses) == 0 {
			// The enhanced search refuses unbounded queries.
			badRequest(w, []string{"Unbounded JQL queries are not allowed here. Please add a search restriction to your query."}, nil)
			return nil, "", false
		}
		found, err := s.runCached(c, p.JQL)
		if err != nil {
			badRequest(w, []string{err.Error()}, nil)
			return nil, "", false
		}
		offset := 0
		if p.NextPageToken != "" {
			var ok bool
			if offset, ok = readPageToken(p.JQL, p.NextPageToken); !ok {
				badRequest(w, []string{"Invalid nextPageToken."}, nil)
				return nil, "", false
			}
		}
		limit := s.pageLimit(p.MaxResults, 50)
		end := min(offset+limit, len(found))
		offset = min(offset, end)
		fields := parseFields(p.Fields, "id")
		items, err := s.encodeIssues(r, c, found[offset:end], fields, p.Properties)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil, "", false
		}
		if end < len(found) {
			return items, `,"isLast":false,"nextPageToken":` + strconv.Quote(pageToken(p.JQL, end)) + "}", true
		}
		return items, `,"isLast":true}`, true
	}()
	if ok {
		writeSearch(w, `{"issues":`, items, tail)
	}
}

// writeSearch writes a search page around its issues' cached encodings,
// after s.mu is released: they are never changed once made, and are written
// out as they are (fakehttp.WriteArray), not assembled into a page-sized
// buffer for every request (issue 9).
func writeSearch(w http.ResponseWriter, head string, items [][]byte, tail string) {
	_ = fakehttp.WriteArray(w, http.StatusOK, head, items, tail)
}

// searchStartAt is Data Center's search: startAt/maxResults/total.
func (s *Server) searchStartAt(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	p, err := readSearch(r)
	if err != nil {
		badRequest(w, []string{err.Error()}, nil)
		return
	}
	if p.StartAt < 0 {
		badRequest(w, []string{"startAt must be 0 or more."}, nil)
		return
	}
	items, head, ok := func() ([][]byte, string, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		defer s.indexSubtasksLocked()()
		found, err := s.runCached(c, p.JQL)
		if err != nil {
			badRequest(w, []string{err.Error()}, nil)
			return nil, "", false
		}
		limit := s.pageLimit(p.MaxResults, 50)
		start := min(p.StartAt, len(found))
		end := min(start+limit, len(found))
		fields := parseFields(p.Fields, "*navigable")
		items, err := s.encodeIssues(r, c, found[start:end], fields, p.Properties)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil, "", false
		}
		return items, fmt.Sprintf(`{"expand":"schema,names","startAt":%d,"maxResults":%d,"total":%d,"issues":`, p.StartAt, limit, len(found)), true
	}()
	if ok {
		writeSearch(w, head, items, "}")
	}
}

// visibleIssue finds the path's issue if the caller may browse it; it has
// answered 404 otherwise. The lock is held on success.
func (s *Server) visibleIssue(w http.ResponseWriter, r *http.Request, c caller) (*issue, bool) {
	s.lock()
	is, ok := s.issueByRef(r.PathValue("issueIdOrKey"))
	if !ok || !s.canBrowse(c, s.projects[is.t.Project]) {
		s.mu.Unlock()
		issueNotFound(w)
		return nil, false
	}
	return is, true
}

func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	is, ok := s.visibleIssue(w, r, c)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	q := r.URL.Query()
	fields := parseFields(splitList(q["fields"]), "*all")
	fakehttp.JSON(w, http.StatusOK, s.issueJSON(r, c, is, fields, splitList(q["properties"])))
}

// writer is the logged-in caller of a write; anonymous writes answer 401.
func (s *Server) writer(w http.ResponseWriter, r *http.Request) (caller, bool) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return c, false
	}
	if c.user == nil {
		unauthorized(w, s.deployment)
		return c, false
	}
	return c, true
}

func (s *Server) getTransitions(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	is, ok := s.visibleIssue(w, r, c)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	base := fakehttp.BaseURL(r)
	var out []map[string]any
	if c.user != nil { // anonymous users may not transition anything
		for _, tr := range s.transitionsFrom(is.t.Status) {
			out = append(out, map[string]any{
				"id": tr.ID, "name": tr.Name, "to": s.statusJSON(base, r, tr.To),
				"hasScreen": false, "isGlobal": len(tr.From) == 0, "isInitial": false, "isAvailable": true, "isConditional": false, "isLooped": false,
			})
		}
	}
	if out == nil {
		out = []map[string]any{}
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"expand": "transitions", "transitions": out})
}

func (s *Server) doTransition(w http.ResponseWriter, r *http.Request) {
	c, ok := s.writer(w, r)
	if !ok {
		return
	}
	var body struct {
		Transition *struct {
			ID string `json:"id"`
		} `json:"transition"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		badRequest(w, []string{"Invalid request payload. Refer to the REST API documentation and try again."}, nil)
		return
	}
	is, ok := s.visibleIssue(w, r, c)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if body.Transition == nil || body.Transition.ID == "" {
		badRequest(w, []string{"Missing 'transition' identifier"}, nil)
		return
	}
	for _, tr := range s.transitionsFrom(is.t.Status) {
		if tr.ID == body.Transition.ID {
			if strings.EqualFold(tr.To, is.t.Status) {
				badRequest(w, []string{fmt.Sprintf("Transition id '%s' is not valid for this issue.", tr.ID)}, nil)
				return
			}
			s.moveLocked(is, tr.To)
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	badRequest(w, []string{fmt.Sprintf("Transition id '%s' is not valid for this issue.", body.Transition.ID)}, nil)
}

func (s *Server) getComments(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	is, ok := s.visibleIssue(w, r, c)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	q := r.URL.Query()
	startAt, err1 := atoiDefault(q.Get("startAt"), 0)
	maxRes, err2 := atoiDefault(q.Get("maxResults"), 100)
	if err1 != nil || err2 != nil || startAt < 0 {
		badRequest(w, []string{"startAt and maxResults must be numbers."}, nil)
		return
	}
	comments := slices.Clone(is.comments)
	switch q.Get("orderBy") {
	case "", "created", "+created":
	case "-created":
		slices.Reverse(comments)
	default:
		badRequest(w, []string{"orderBy must be created, +created or -created."}, nil)
		return
	}
	limit := s.pageLimit(&maxRes, 100)
	start := min(startAt, len(comments))
	end := min(start+limit, len(comments))
	withProps := slices.Contains(splitList(q["expand"]), "properties")
	out := make([]map[string]any, 0, end-start)
	for _, cm := range comments[start:end] {
		out = append(out, s.commentJSON(r, c, is, cm, withProps))
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"startAt": startAt, "maxResults": limit, "total": len(comments), "comments": out})
}

func atoiDefault(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

func (s *Server) addComment(w http.ResponseWriter, r *http.Request) {
	c, ok := s.writer(w, r)
	if !ok {
		return
	}
	var body struct {
		Body       json.RawMessage  `json:"body"`
		Properties []entityProperty `json:"properties"`
		Visibility json.RawMessage  `json:"visibility"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		badRequest(w, []string{"Invalid request payload. Refer to the REST API documentation and try again."}, nil)
		return
	}
	if err := checkBody(body.Body, v3(r)); err != nil {
		badRequest(w, nil, map[string]string{"comment": err.Error()})
		return
	}
	if err := checkProperties(body.Properties); err != nil {
		badRequest(w, []string{err.Error()}, nil)
		return
	}
	is, ok := s.visibleIssue(w, r, c)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	cm := s.addCommentLocked(is, s.userRef(*c.user), body.Body, body.Properties)
	fakehttp.JSON(w, http.StatusCreated, s.commentJSON(r, c, is, cm, false))
}

func checkProperties(props []entityProperty) error {
	for _, p := range props {
		if p.Key == "" || len(p.Key) > 255 {
			return errors.New("The property key cannot be empty or longer than 255 characters.")
		}
		if len(p.Value) == 0 || !json.Valid(p.Value) {
			return fmt.Errorf("The property '%s' has no valid JSON value.", p.Key)
		}
		if len(p.Value) > 32768 {
			return fmt.Errorf("The property '%s' is too big (32768 bytes max).", p.Key)
		}
	}
	return nil
}

// checkBody checks a rich-text body: an ADF document on v3, a string on v2.
func checkBody(raw json.RawMessage, adf bool) error {
	if len(raw) == 0 || string(raw) == "null" {
		return errors.New("Comment body can not be empty!")
	}
	if !adf {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return errors.New("Operation value must be a string")
		}
		if strings.TrimSpace(s) == "" {
			return errors.New("Comment body can not be empty!")
		}
		return nil
	}
	var doc adfNode
	if json.Unmarshal(raw, &doc) != nil {
		return errors.New("Operation value must be an Atlassian Document (see the Atlassian Document Format)")
	}
	if doc.Type != "doc" || doc.Version != 1 {
		return errors.New("Operation value must be an Atlassian Document (see the Atlassian Document Format)")
	}
	return checkADF(doc, 0)
}

// adfNode is enough of ADF for the fake's structural check.
type adfNode struct {
	Type    string         `json:"type"`
	Version int            `json:"version"`
	Text    *string        `json:"text"`
	Attrs   map[string]any `json:"attrs"`
	Marks   []adfNode      `json:"marks"`
	Content []adfNode      `json:"content"`
}

var adfTypes = map[string]bool{
	"doc": true, "paragraph": true, "text": true, "heading": true, "bulletList": true, "orderedList": true, "listItem": true,
	"codeBlock": true, "blockquote": true, "rule": true, "hardBreak": true, "mention": true, "emoji": true, "table": true,
	"tableRow": true, "tableHeader": true, "tableCell": true, "panel": true, "inlineCard": true, "status": true, "date": true,
	"mediaSingle": true, "mediaGroup": true, "media": true, "expand": true, "nestedExpand": true, "taskList": true, "taskItem": true,
}

var adfMarks = map[string]bool{"strong": true, "em": true, "code": true, "strike": true, "link": true, "underline": true, "subsup": true, "textColor": true}

// checkADF checks node types, text nodes and mention/link attributes: what
// Jira refuses with INVALID_INPUT.
func checkADF(n adfNode, depth int) error {
	invalid := func(why string) error { return fmt.Errorf("INVALID_INPUT: %s", why) }
	if depth > 64 {
		return invalid("document nested too deeply")
	}
	if !adfTypes[n.Type] {
		return invalid("unknown node type " + strconv.Quote(n.Type))
	}
	switch n.Type {
	case "text":
		if n.Text == nil || *n.Text == "" {
			return invalid("text node without text")
		}
		for _, m := range n.Marks {
			if !adfMarks[m.Type] {
				return invalid("unknown mark " + strconv.Quote(m.Type))
			}
			if m.Type == "link" {
				if href, _ := m.Attrs["href"].(string); href == "" {
					return invalid("link mark without href")
				}
			}
		}
	case "mention":
		if id, _ := n.Attrs["id"].(string); id == "" {
			return invalid("mention without id")
		}
	case "heading":
		if lvl, _ := n.Attrs["level"].(float64); lvl < 1 || lvl > 6 {
			return invalid("heading level must be 1 to 6")
		}
	}
	for _, c := range n.Content {
		if c.Type == "doc" {
			return invalid("doc inside a document")
		}
		if err := checkADF(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// fieldSet is which fields to render; nil means none beyond id and key.
type fieldSet map[string]bool

func parseFields(requested []string, def string) fieldSet {
	if len(requested) == 0 {
		requested = []string{def}
	}
	all := []string{"summary", "description", "status", "priority", "labels", "components", "reporter", "assignee", "created", "updated",
		"parent", "subtasks", "comment", "attachment", "project", "issuetype", "resolution"}
	set := fieldSet{}
	for _, f := range requested {
		switch {
		case f == "*all" || f == "*navigable":
			for _, a := range all {
				set[a] = true
			}
		case strings.HasPrefix(f, "-"):
			delete(set, f[1:])
		case f == "id" || f == "key":
		default:
			set[f] = true
		}
	}
	return set
}

func (s *Server) issueJSON(r *http.Request, c caller, is *issue, fields fieldSet, props []string) map[string]any {
	base := fakehttp.BaseURL(r)
	api := "/rest/api/2"
	if v3(r) {
		api = "/rest/api/3"
	}
	m := map[string]any{
		"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
		"id":     strconv.Itoa(is.id),
		"self":   base + api + "/issue/" + strconv.Itoa(is.id),
		"key":    is.t.Key,
	}
	f := map[string]any{}
	loc := s.zoneOf(c.user)
	t := &is.t
	for name := range fields {
		switch name {
		case "summary":
			f[name] = t.Summary
		case "description":
			if b := s.bodyJSON(r, is.desc); b != nil {
				f[name] = b
			}
		case "status":
			f[name] = s.statusJSON(base, r, t.Status)
		case "priority":
			f[name] = map[string]any{"self": base + api + "/priority/" + strconv.Itoa(priorityRank(t.Priority)), "iconUrl": base + "/images/icons/priorities/" + strings.ToLower(t.Priority) + ".svg", "name": t.Priority, "id": strconv.Itoa(priorityRank(t.Priority))}
		case "labels":
			f[name] = append([]string{}, t.Labels...)
		case "components":
			comps := []map[string]any{}
			for i, c := range t.Components {
				comps = append(comps, map[string]any{"self": base + api + "/component/" + strconv.Itoa(10000+i), "id": strconv.Itoa(10000 + i), "name": c})
			}
			f[name] = comps
		case "reporter", "assignee":
			ref := t.Reporter
			if name == "assignee" {
				ref = t.Assignee
			}
			if u := s.userByRef(ref); u != nil {
				f[name] = s.userJSON(r, *u, false)
			} else {
				f[name] = nil
			}
		case "created":
			f[name] = t.Created.In(loc).Format(jiraTime)
		case "updated":
			f[name] = t.Updated.In(loc).Format(jiraTime)
		case "resolution":
			if t.Resolution == "" {
				f[name] = nil
			} else {
				f[name] = map[string]any{"self": base + api + "/resolution/10000", "id": "10000", "description": "Work has been completed on this issue.", "name": t.Resolution}
			}
		case "project":
			p := s.projects[t.Project]
			f[name] = map[string]any{"self": base + api + "/project/" + p.ID, "id": p.ID, "key": p.Key, "name": p.Name, "projectTypeKey": "software", "simplified": false, "avatarUrls": avatarURLs(base, p.ID)}
		case "issuetype":
			f[name] = s.issueTypeJSON(base, api, t.Type)
		case "parent":
			if t.Parent != "" {
				if p, ok := s.issueByRef(t.Parent); ok {
					f[name] = s.issueRefJSON(base, api, r, p)
				}
			}
		case "subtasks":
			subs := []map[string]any{}
			for _, k := range s.subtaskKeysLocked(t.Key) {
				subs = append(subs, s.issueRefJSON(base, api, r, s.issues[strings.ToUpper(k)]))
			}
			f[name] = subs
		case "comment":
			// The embedded page holds the first PageSize comments; total
			// says how many there are (clients read the rest from /comment).
			cms := []map[string]any{}
			for _, cm := range is.comments[:min(len(is.comments), s.pageSize)] {
				cms = append(cms, s.commentJSON(r, c, is, cm, false))
			}
			f[name] = map[string]any{"comments": cms, "self": base + api + "/issue/" + strconv.Itoa(is.id) + "/comment", "maxResults": s.pageSize, "total": len(is.comments), "startAt": 0}
		case "attachment":
			atts := []map[string]any{}
			for _, a := range t.Attachments {
				author := a.Author
				if author == "" {
					author = t.Reporter
				}
				am := map[string]any{"self": base + api + "/attachment/" + a.ID, "id": a.ID, "filename": a.Filename, "created": t.Created.In(loc).Format(jiraTime), "size": a.Size, "mimeType": a.MimeType, "content": base + "/secure/attachment/" + a.ID + "/" + a.Filename}
				if u := s.userByRef(author); u != nil {
					am["author"] = s.userJSON(r, *u, false)
				}
				atts = append(atts, am)
			}
			f[name] = atts
		}
	}
	// Jira sends null for a requested field without a value; the shape's
	// fields map does not allow null, so the fake leaves such fields out
	// (clients treat both alike).
	for k, v := range f {
		if v == nil {
			delete(f, k)
		}
	}
	m["fields"] = f
	if len(props) > 0 {
		pm := map[string]any{}
		for _, k := range props {
			if k == "*all" {
				for pk, v := range t.Properties {
					pm[pk] = v
				}
				continue
			}
			if v, ok := t.Properties[k]; ok {
				pm[k] = v
			}
		}
		m["properties"] = pm
	}
	return m
}

func (s *Server) issueRefJSON(base, api string, r *http.Request, is *issue) map[string]any {
	return map[string]any{
		"id": strconv.Itoa(is.id), "key": is.t.Key, "self": base + api + "/issue/" + strconv.Itoa(is.id),
		"fields": map[string]any{
			"summary":   is.t.Summary,
			"status":    s.statusJSON(base, r, is.t.Status),
			"priority":  map[string]any{"name": is.t.Priority, "id": strconv.Itoa(priorityRank(is.t.Priority))},
			"issuetype": s.issueTypeJSON(base, api, is.t.Type),
		},
	}
}

func (s *Server) issueTypeJSON(base, api, name string) map[string]any {
	id, sub, level := "10001", false, 0
	if strings.EqualFold(name, "Sub-task") {
		id, sub, level = "10002", true, -1
	}
	return map[string]any{"self": base + api + "/issuetype/" + id, "id": id, "description": "", "iconUrl": base + "/images/icons/issuetypes/" + strings.ToLower(name) + ".svg", "name": name, "subtask": sub, "hierarchyLevel": level}
}

func (s *Server) statusJSON(base string, r *http.Request, name string) map[string]any {
	api := "/rest/api/2"
	if v3(r) {
		api = "/rest/api/3"
	}
	catID, catKey, color, catName := 4, "indeterminate", "yellow", "In Progress"
	switch {
	case isDone(name):
		catID, catKey, color, catName = 3, "done", "green", "Done"
	case strings.EqualFold(name, "To Do") || strings.EqualFold(name, "Open") || strings.EqualFold(name, "Backlog"):
		catID, catKey, color, catName = 2, "new", "blue-gray", "To Do"
	}
	id := statusID(name)
	return map[string]any{
		"self": base + api + "/status/" + id, "description": "", "iconUrl": base + "/images/icons/status_generic.gif", "name": name, "id": id,
		"statusCategory": map[string]any{"self": base + api + "/statuscategory/" + strconv.Itoa(catID), "id": catID, "key": catKey, "colorName": color, "name": catName},
	}
}

// bodyJSON serves a stored body on the request's API version: ADF on v3;
// on v2 (Cloud or DC) a string (Cloud's v2 renders ADF as plain text).
func (s *Server) bodyJSON(r *http.Request, raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var str string
	isString := json.Unmarshal(raw, &str) == nil
	switch {
	case v3(r) && isString:
		// Stored as wiki (e.g. posted through v2): v3 wraps it in a paragraph.
		return map[string]any{"type": "doc", "version": 1, "content": []any{map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": str}}}}}
	case v3(r):
		return raw
	case isString:
		return str
	}
	return adfPlainText(raw)
}

// adfPlainText flattens ADF into text, one line per block.
func adfPlainText(raw json.RawMessage) string {
	var doc adfNode
	if json.Unmarshal(raw, &doc) != nil {
		return ""
	}
	var b strings.Builder
	var walk func(n adfNode)
	walk = func(n adfNode) {
		if n.Text != nil {
			b.WriteString(*n.Text)
		}
		if n.Type == "mention" {
			if t, _ := n.Attrs["text"].(string); t != "" {
				b.WriteString(t)
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
		if n.Type == "paragraph" || n.Type == "heading" || n.Type == "listItem" || n.Type == "codeBlock" {
			b.WriteString("\n")
		}
	}
	walk(doc)
	return strings.TrimSpace(b.String())
}

func (s *Server) commentJSON(r *http.Request, c caller, is *issue, cm *comment, withProps bool) map[string]any {
	base := fakehttp.BaseURL(r)
	api := "/rest/api/2"
	if v3(r) {
		api = "/rest/api/3"
	}
	loc := s.zoneOf(c.user)
	m := map[string]any{
		"self": base + api + "/issue/" + strconv.Itoa(is.id) + "/comment/" + strconv.Itoa(cm.id),
		"id":   strconv.Itoa(cm.id),
		"body": s.bodyJSON(r, cm.body),
		// Comment times are date-time in the shape (RFC 3339, colon in the
		// offset); issue fields use Jira's own +0000 form.
		"created": cm.created.In(loc).Format(rfc3339Millis),
		"updated": cm.created.In(loc).Format(rfc3339Millis),
	}
	if u := s.userByRef(cm.author); u != nil {
		m["author"] = s.userJSON(r, *u, false)
		m["updateAuthor"] = s.userJSON(r, *u, false)
	}
	if s.deployment == connector.Cloud {
		m["jsdPublic"] = true
	}
	if withProps {
		props := []map[string]any{}
		for _, p := range cm.props {
			props = append(props, map[string]any{"key": p.Key, "value": p.Value})
		}
		m["properties"] = props
	}
	return m
}

// createIssue creates an issue (a sub-task when the type is a sub-task type).
func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	c, ok := s.writer(w, r)
	if !ok {
		return
	}
	var body struct {
		Fields     map[string]json.RawMessage `json:"fields"`
		Update     map[string]json.RawMessage `json:"update"`
		Properties []entityProperty           `json:"properties"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Fields == nil {
		badRequest(w, []string{"Invalid request payload. Refer to the REST API documentation and try again."}, nil)
		return
	}
	if err := checkProperties(body.Properties); err != nil {
		badRequest(w, []string{err.Error()}, nil)
		return
	}
	type ref struct {
		ID   string `json:"id"`
		Key  string `json:"key"`
		Name string `json:"name"`
	}
	readRef := func(name string) (ref, bool) {
		var v ref
		raw, ok := body.Fields[name]
		return v, ok && json.Unmarshal(raw, &v) == nil
	}
	errs := map[string]string{}
	s.lock()
	defer s.mu.Unlock()
	t := Ticket{Reporter: s.userRef(*c.user)}
	var proj Project
	if pr, ok := readRef("project"); !ok {
		errs["project"] = "Specify a valid project ID or key"
	} else if p, found := s.projectByRef(pr.ID + pr.Key); !found || !s.canBrowse(c, p) {
		errs["project"] = "Specify a valid project ID or key"
	} else {
		proj, t.Project = p, p.Key
	}
	if it, ok := readRef("issuetype"); !ok {
		errs["issuetype"] = "Specify an issue type"
	} else {
		switch {
		case it.ID == "10001" || strings.EqualFold(it.Name, "Task"):
			t.Type = "Task"
		case it.ID == "10002" || strings.EqualFold(it.Name, "Sub-task"):
			t.Type = "Sub-task"
		default:
			errs["issuetype"] = "Specify a valid issue type"
		}
	}
	if pr, ok := readRef("parent"); ok {
		parent, found := s.issueByRef(pr.Key + pr.ID)
		switch {
		case !found:
			errs["parent"] = "Could not find issue by id or key."
		case strings.EqualFold(parent.t.Type, "Sub-task"):
			errs["parent"] = "Given parent issue does not belong to appropriate hierarchy."
		case proj.Key != "" && parent.t.Project != proj.Key:
			errs["parent"] = "Sub-tasks must be created in the parent's project."
		default:
			t.Parent = parent.t.Key
		}
	}
	if t.Type == "Sub-task" && t.Parent == "" && errs["parent"] == "" {
		errs["issuetype"] = "Issue type is a sub-task but parent issue key or id not specified."
	}
	if t.Type == "Task" && t.Parent != "" {
		errs["issuetype"] = "Issue type is not a sub-task but a parent was given."
	}
	var desc json.RawMessage
	for name, raw := range body.Fields {
		switch name {
		case "project", "issuetype", "parent":
		case "summary":
			if json.Unmarshal(raw, &t.Summary) != nil || strings.TrimSpace(t.Summary) == "" {
				errs["summary"] = "You must specify a summary of the issue."
			} else if len([]rune(t.Summary)) > 255 || strings.ContainsAny(t.Summary, "\r\n") {
				errs["summary"] = "Summary must be less than 255 characters and on one line."
			}
		case "description":
			if string(raw) == "null" {
				continue
			}
			if err := checkBody(raw, v3(r)); err != nil {
				errs["description"] = err.Error()
			}
			desc = raw
		case "labels":
			if json.Unmarshal(raw, &t.Labels) != nil || slices.ContainsFunc(t.Labels, func(l string) bool { return l == "" || strings.ContainsAny(l, " \t\n") }) {
				errs["labels"] = "Labels cannot contain spaces."
			}
		case "priority":
			var p ref
			bad := json.Unmarshal(raw, &p) != nil
			n, _ := strconv.Atoi(p.ID)
			switch {
			case bad:
				errs["priority"] = "Specify a valid priority."
			case priorityRank(p.Name) > 0:
				t.Priority = priorities[priorityRank(p.Name)-1]
			case n >= 1 && n <= len(priorities):
				t.Priority = priorities[n-1]
			default:
				errs["priority"] = "Specify a valid priority."
			}
		case "assignee":
			var u struct {
				AccountID string `json:"accountId"`
				ID        string `json:"id"`
				Name      string `json:"name"`
			}
			_ = json.Unmarshal(raw, &u)
			who := s.userByRef(u.AccountID + u.ID + u.Name)
			if who == nil {
				errs["assignee"] = "Specify a valid user."
			} else {
				t.Assignee = s.userRef(*who)
			}
		default:
			errs[name] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", name)
		}
	}
	if _, ok := body.Fields["summary"]; !ok {
		errs["summary"] = "You must specify a summary of the issue."
	}
	if len(errs) > 0 {
		badRequest(w, nil, errs)
		return
	}
	t.Properties = map[string]json.RawMessage{}
	for _, p := range body.Properties {
		t.Properties[p.Key] = p.Value
	}
	is, err := s.addIssueLocked(t, desc)
	if err != nil {
		badRequest(w, []string{err.Error()}, nil)
		return
	}
	base := fakehttp.BaseURL(r)
	api := "/rest/api/2"
	if v3(r) {
		api = "/rest/api/3"
	}
	fakehttp.JSON(w, http.StatusCreated, map[string]any{"id": strconv.Itoa(is.id), "key": is.t.Key, "self": base + api + "/issue/" + strconv.Itoa(is.id)})
}
