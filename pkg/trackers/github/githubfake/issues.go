package githubfake

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// Issue is an issue, or a pull request when PullRequest is set: they share
// one sequence of numbers per repository and both appear in the issues list,
// as on GitHub.
type Issue struct {
	Number int
	Title  string
	Body   string // Markdown
	// State is "open" (the default) or "closed".
	State       string
	StateReason string // "completed", "not_planned", "reopened" or ""
	Labels      []string
	Assignees   []string // logins
	Author      string   // login; the repository owner when empty
	Comments    int
	Created     time.Time
	Updated     time.Time
	Closed      time.Time
	PullRequest *PullRequest
}

// PullRequest is what a pull request adds to its issue.
type PullRequest struct {
	HeadOwner string // owner of the head repository (this repository's owner when empty)
	Head      string // branch
	Base      string // branch
	Draft     bool
	Merged    bool
	HTMLURL   string
}

// Comment is an issue comment.
type Comment struct {
	ID      int64
	Author  string // login
	Body    string // Markdown
	HTMLURL string
	Created time.Time
	Updated time.Time
}

type label struct {
	ID   int64
	Name string
}

// repoState is a repository and what it holds.
type repoState struct {
	repo     Repo
	next     int
	issues   map[int]*Issue
	comments map[int][]*Comment // by issue number
	labels   map[string]label   // by lower-case name
}

func newRepoState(r Repo) *repoState {
	return &repoState{repo: r, next: 1, issues: map[int]*Issue{}, comments: map[int][]*Comment{}, labels: map[string]label{}}
}

const htmlBase = "https://github.com/"

func (st *repoState) htmlURL(is *Issue) string {
	kind := "issues"
	if is.PullRequest != nil {
		kind = "pull"
	}
	return fmt.Sprintf("%s%s/%s/%d", htmlBase, st.repo.FullName(), kind, is.Number)
}

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

// label returns the repository's label by name, creating it as GitHub does
// when an issue is labelled with a name the repository lacks. Callers hold s.mu.
func (s *Server) label(st *repoState, name string) label {
	key := strings.ToLower(name)
	if l, ok := st.labels[key]; ok {
		return l
	}
	l := label{ID: s.id(), Name: name}
	st.labels[key] = l
	return l
}

// userID is a user's id, or a stable made-up one for a login the fake does
// not hold. Callers hold s.mu.
func (s *Server) userID(login string) int64 {
	if u, ok := s.users[login]; ok {
		return u.ID
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.ToLower(login)))
	return 1_000_000 + int64(h.Sum32()%1_000_000)
}

// --- seeding and inspection ---

// AddIssue adds an issue to a repository ("owner/repo") and returns its
// number. Zero times default to now (Created to Updated when only that is
// given); State defaults to "open" and Author to the repository owner. It
// panics on an unknown repository (a broken test).
func (s *Server) AddIssue(repo string, is Issue) int {
	s.lock()
	n := s.addIssue(s.mustRepo(repo), is)
	s.mu.Unlock()
	s.deliver(repo, n, "issues", "opened")
	return n
}

// addIssue files is in st. Callers hold s.mu.
func (s *Server) addIssue(st *repoState, is Issue) int {
	now := time.Now().UTC().Truncate(time.Second)
	if is.Updated.IsZero() {
		is.Updated = now
	}
	if is.Created.IsZero() {
		is.Created = is.Updated
	}
	if is.State == "" {
		is.State = "open"
	}
	if is.State == "closed" && is.Closed.IsZero() {
		is.Closed = is.Updated
	}
	if is.Author == "" {
		is.Author = st.repo.Owner
	}
	is.Number = st.next
	st.next++
	is.Labels = slices.Clone(is.Labels)
	is.Assignees = slices.Clone(is.Assignees)
	for _, name := range is.Labels {
		s.label(st, name)
	}
	if is.PullRequest != nil {
		pr := *is.PullRequest
		if pr.HeadOwner == "" {
			pr.HeadOwner = st.repo.Owner
		}
		is.PullRequest = &pr
		pr.HTMLURL = st.htmlURL(&is)
	}
	st.issues[is.Number] = &is
	return is.Number
}

func (s *Server) mustRepo(repo string) *repoState {
	st, ok := s.repos[strings.ToLower(repo)]
	if !ok {
		panic("fake github: unknown repository " + repo)
	}
	return st
}

func (s *Server) mustIssue(repo string, n int) (*repoState, *Issue) {
	st := s.mustRepo(repo)
	is, ok := st.issues[n]
	if !ok {
		panic(fmt.Sprintf("fake github: no issue %s#%d", repo, n))
	}
	return st, is
}

func copyIssue(is *Issue) Issue {
	c := *is
	c.Labels = slices.Clone(is.Labels)
	c.Assignees = slices.Clone(is.Assignees)
	if is.PullRequest != nil {
		pr := *is.PullRequest
		c.PullRequest = &pr
	}
	return c
}

// Issue returns a copy of an issue (or pull request) by number.
func (s *Server) Issue(repo string, n int) (Issue, bool) {
	s.lock()
	defer s.mu.Unlock()
	st, ok := s.repos[strings.ToLower(repo)]
	if !ok {
		return Issue{}, false
	}
	is, ok := st.issues[n]
	if !ok {
		return Issue{}, false
	}
	return copyIssue(is), true
}

// Issues returns copies of a repository's issues and pull requests by number.
func (s *Server) Issues(repo string) []Issue {
	s.lock()
	defer s.mu.Unlock()
	st := s.mustRepo(repo)
	out := make([]Issue, 0, len(st.issues))
	for _, is := range st.issues {
		out = append(out, copyIssue(is))
	}
	slices.SortFunc(out, func(a, b Issue) int { return a.Number - b.Number })
	return out
}

// Comments returns copies of an issue's comments, oldest first.
func (s *Server) Comments(repo string, n int) []Comment {
	s.lock()
	defer s.mu.Unlock()
	st := s.mustRepo(repo)
	out := make([]Comment, 0, len(st.comments[n]))
	for _, c := range st.comments[n] {
		out = append(out, *c)
	}
	return out
}

// AddComment adds a comment by author (a person commenting) and returns its id.
func (s *Server) AddComment(repo string, n int, author, body string) int64 {
	s.lock()
	st, is := s.mustIssue(repo, n)
	id := s.addComment(st, is, author, body).ID
	s.mu.Unlock()
	s.deliver(repo, n, "issue_comment", "created")
	return id
}

func (s *Server) addComment(st *repoState, is *Issue, author, body string) *Comment {
	now := time.Now().UTC().Truncate(time.Second)
	c := &Comment{ID: s.id(), Author: author, Body: body, Created: now, Updated: now}
	c.HTMLURL = fmt.Sprintf("%s#issuecomment-%d", st.htmlURL(is), c.ID)
	st.comments[is.Number] = append(st.comments[is.Number], c)
	is.Comments++
	is.Updated = now
	return c
}

// Close closes an issue as completed.
func (s *Server) Close(repo string, n int) {
	s.lock()
	_, is := s.mustIssue(repo, n)
	now := time.Now().UTC().Truncate(time.Second)
	is.State, is.StateReason, is.Closed, is.Updated = "closed", "completed", now, now
	s.mu.Unlock()
	s.deliver(repo, n, "issues", "closed")
}

// Unassign removes login from an issue's assignees.
func (s *Server) Unassign(repo string, n int, login string) {
	s.lock()
	_, is := s.mustIssue(repo, n)
	is.Assignees = slices.DeleteFunc(is.Assignees, func(a string) bool { return strings.EqualFold(a, login) })
	is.Updated = time.Now().UTC().Truncate(time.Second)
	s.mu.Unlock()
	s.deliver(repo, n, "issues", "unassigned")
}

// Touch moves an issue's update time to at, as an edit would.
func (s *Server) Touch(repo string, n int, at time.Time) {
	s.lock()
	_, is := s.mustIssue(repo, n)
	is.Updated = at.UTC().Truncate(time.Second)
	s.mu.Unlock()
	s.deliver(repo, n, "issues", "edited")
}

// PullRequests returns the open pull requests whose head is head: a branch
// of the repository itself, or "owner:branch".
func (s *Server) PullRequests(repo, head string) []Issue {
	s.lock()
	defer s.mu.Unlock()
	st := s.mustRepo(repo)
	var out []Issue
	for _, is := range st.issues {
		if is.PullRequest != nil && is.State == "open" && headMatches(st, is.PullRequest, head) {
			out = append(out, copyIssue(is))
		}
	}
	slices.SortFunc(out, func(a, b Issue) int { return a.Number - b.Number })
	return out
}

func headMatches(st *repoState, pr *PullRequest, head string) bool {
	owner, branch, ok := strings.Cut(head, ":")
	if !ok {
		owner, branch = st.repo.Owner, head
	}
	return strings.EqualFold(owner, pr.HeadOwner) && branch == pr.Head
}

// --- endpoints ---

func (s *Server) routeIssues() {
	s.Mux.HandleFunc("GET /repos/{owner}/{repo}/issues", s.listIssues)
	s.Mux.HandleFunc("POST /repos/{owner}/{repo}/issues", s.createIssue)
	s.Mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}", s.getIssue)
	s.Mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/{number}", s.delivering(s.updateIssue, "issues", "edited"))
	s.Mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{number}/labels", s.delivering(s.addLabels, "issues", "labeled"))
	s.Mux.HandleFunc("DELETE /repos/{owner}/{repo}/issues/{number}/labels/{name}", s.delivering(s.removeLabel, "issues", "unlabeled"))
	s.Mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}/comments", s.listComments)
	s.Mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{number}/comments", s.delivering(s.createComment, "issue_comment", "created"))
	s.Mux.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	s.Mux.HandleFunc("POST /repos/{owner}/{repo}/pulls", s.createPull)
}

// call is an authorised request on a repository.
type call struct {
	api   string
	login string // "" when anonymous
	role  Role
	st    *repoState
}

// repoCall authenticates a request and resolves its repository, answering
// 401 / 404 / 403 itself (ok false). need is the role the operation needs.
func (s *Server) repoCall(w http.ResponseWriter, r *http.Request, need Role) (call, bool) {
	tok, u, ok := s.authenticate(w, r)
	if !ok {
		return call{}, false
	}
	w.Header().Set("X-Accepted-OAuth-Scopes", "repo")
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	s.mu.Lock()
	st, found := s.repos[strings.ToLower(full)]
	var repo Repo
	if found {
		repo = st.repo
	}
	s.mu.Unlock()
	if !found {
		notFound(w)
		return call{}, false
	}
	role, visible := access(tok, u, repo)
	if !visible {
		notFound(w)
		return call{}, false
	}
	if need != Read || r.Method != http.MethodGet {
		if tok == nil {
			fakehttp.JSON(w, http.StatusUnauthorized, map[string]string{"message": "Requires authentication", "documentation_url": docs, "status": "401"})
			return call{}, false
		}
		if !atLeast(role, need) {
			fakehttp.JSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by personal access token", "documentation_url": docs, "status": "403"})
			return call{}, false
		}
		if repo.Archived {
			fakehttp.JSON(w, http.StatusForbidden, map[string]string{"message": "Repository was archived so is read-only.", "documentation_url": docs, "status": "403"})
			return call{}, false
		}
	}
	return call{api: fakehttp.BaseURL(r) + apiPrefix(r), login: u.Login, role: role, st: st}, true
}

// apiPrefix is "/api/v3" for a request that came in under Enterprise
// Server's prefix, so self links keep it.
func apiPrefix(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/api/v3/") {
		return "/api/v3"
	}
	return ""
}

// issueOf resolves {number}; ok false after answering 404.
func (s *Server) issueOf(w http.ResponseWriter, r *http.Request, st *repoState) (*Issue, bool) {
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil {
		notFound(w)
		return nil, false
	}
	is, ok := st.issues[n]
	if !ok {
		notFound(w)
		return nil, false
	}
	return is, true
}

func validationFailed(w http.ResponseWriter, msg string, errs ...map[string]string) {
	body := map[string]any{"message": msg, "documentation_url": docs, "status": "422"}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	fakehttp.JSON(w, http.StatusUnprocessableEntity, body)
}

func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Read)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	if !slices.Contains([]string{"open", "closed", "all"}, state) {
		validationFailed(w, "Validation Failed", map[string]string{"resource": "Issue", "field": "state", "code": "invalid"})
		return
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			validationFailed(w, "Validation Failed", map[string]string{"resource": "Issue", "field": "since", "code": "invalid"})
			return
		}
		since = t
	}
	var labels []string
	if v := q.Get("labels"); v != "" {
		for l := range strings.SplitSeq(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
	}
	assignee, creator := q.Get("assignee"), q.Get("creator")

	items, digest, ok := s.listPage(w, r, c, listQuery{st: c.st, state: state, creator: creator, assignee: assignee, labels: strings.Join(labels, ","),
		sort: q.Get("sort"), dir: q.Get("direction"), since: since}, labels)
	if !ok {
		return
	}
	// The body is these items in this order, so a digest of their digests
	// identifies it: conditional derives the ETag from it before the body
	// is written (the page goes out without being recorded) instead of
	// hashing a page of a hundred issues again for every request.
	w.Header().Set(contentDigestHeader, digest)
	_ = fakehttp.WriteArray(w, http.StatusOK, "", items, "")
}

// listPage finds the listing's page under s.mu and returns its items'
// cached encodings (never changed once made, so they are written out after
// the lock is released: conditional takes it to count the answer) and a
// digest of them. It has answered the request itself when !ok.
func (s *Server) listPage(w http.ResponseWriter, r *http.Request, c call, lq listQuery, labels []string) ([][]byte, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, ok := s.cachedList(lq)
	if !ok {
		for _, is := range c.st.issues {
			switch {
			case lq.state != "all" && is.State != lq.state,
				!lq.since.IsZero() && is.Updated.Before(lq.since),
				lq.creator != "" && !strings.EqualFold(lq.creator, is.Author),
				!assigneeMatches(lq.assignee, is.Assignees),
				slices.ContainsFunc(labels, func(l string) bool { return !containsFold(is.Labels, l) }):
				continue
			}
			out = append(out, is)
		}
		sortIssues(out, lq.sort, lq.dir)
		s.lastList = &listResult{gen: s.gen, q: lq, out: out}
	}
	page, ok := s.paginate(w, r, len(out))
	if !ok {
		return nil, "", false
	}
	items := make([][]byte, 0, page.hi-page.lo)
	digest := sha256.New()
	for _, is := range out[page.lo:page.hi] {
		e, err := s.issueBytes(c.api, c.st, is)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil, "", false
		}
		items = append(items, e.b)
		digest.Write(e.sum[:])
	}
	return items, hex.EncodeToString(digest.Sum(nil)), true
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
}

// assigneeMatches applies the assignee filter: "" any, "none" unassigned,
// "*" assigned to anyone, else that login.
func assigneeMatches(filter string, assignees []string) bool {
	switch filter {
	case "":
		return true
	case "none":
		return len(assignees) == 0
	case "*":
		return len(assignees) > 0
	}
	return containsFold(assignees, filter)
}

func sortIssues(out []*Issue, sort, direction string) {
	key := func(is *Issue) int64 { return is.Created.Unix() }
	switch sort {
	case "updated":
		key = func(is *Issue) int64 { return is.Updated.Unix() }
	case "comments":
		key = func(is *Issue) int64 { return int64(is.Comments) }
	}
	desc := direction != "asc"
	// Keys computed once per issue, not once per comparison.
	type keyed struct {
		k  int64
		is *Issue
	}
	ks := make([]keyed, len(out))
	for i, is := range out {
		ks[i] = keyed{key(is), is}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		c := cmp.Or(cmp.Compare(a.k, b.k), a.is.Number-b.is.Number)
		if desc {
			return -c
		}
		return c
	})
	for i := range ks {
		out[i] = ks[i].is
	}
}

type pageRange struct{ lo, hi int }

// paginate reads per_page and page, sets the Link header (next, last, first,
// prev, as GitHub does) and returns the slice bounds of the page.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, total int) (pageRange, bool) {
	q := r.URL.Query()
	per := 30
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			validationFailed(w, "Validation Failed", map[string]string{"field": "per_page", "code": "invalid"})
			return pageRange{}, false
		}
		per = n
	}
	per = min(max(per, 1), s.maxPerPage)
	page := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			validationFailed(w, "Validation Failed", map[string]string{"field": "page", "code": "invalid"})
			return pageRange{}, false
		}
		page = max(n, 1)
	}
	last := max((total+per-1)/per, 1)
	// The query is parsed once for every link (it was parsed again, with
	// the request URI, per link); RequestURI keeps the path as sent (with
	// /api/v3, which StripPrefix removed from r.URL).
	u, _ := url.Parse(r.RequestURI)
	v := u.Query()
	v.Set("per_page", strconv.Itoa(per))
	var links strings.Builder
	link := func(p int, rel string) {
		v.Set("page", strconv.Itoa(p))
		if links.Len() > 0 {
			links.WriteString(", ")
		}
		links.WriteString("<" + fakehttp.BaseURL(r) + u.Path + "?" + v.Encode() + `>; rel="` + rel + `"`)
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
		link(min(page-1, last), "prev")
	}
	if links.Len() > 0 {
		w.Header().Set("Link", links.String())
	}
	lo := min((page-1)*per, total)
	return pageRange{lo: lo, hi: min(lo+per, total)}, true
}

func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Read)
	if !ok {
		return
	}
	s.lock()
	defer s.mu.Unlock()
	is, ok := s.issueOf(w, r, c.st)
	if !ok {
		return
	}
	fakehttp.JSON(w, http.StatusOK, s.issueJSON(c.api, c.st, is))
}

// decode reads a JSON body; ok false after answering 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON", "documentation_url": docs, "status": "400"})
		return false
	}
	return true
}

// labelNames reads the forms GitHub accepts for labels: ["a"], [{"name":"a"}],
// {"labels": either}, or "a".
func labelNames(raw json.RawMessage) ([]string, bool) {
	var wrapped struct {
		Labels json.RawMessage `json:"labels"`
	}
	if json.Unmarshal(raw, &wrapped) == nil && wrapped.Labels != nil {
		raw = wrapped.Labels
	}
	var names []string
	if json.Unmarshal(raw, &names) == nil {
		return names, true
	}
	var objs []struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &objs) == nil {
		for _, o := range objs {
			names = append(names, o.Name)
		}
		return names, true
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	return nil, false
}

func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Read)
	if !ok {
		return
	}
	var in struct {
		Title     string          `json:"title"`
		Body      string          `json:"body"`
		Labels    json.RawMessage `json:"labels"`
		Assignees []string        `json:"assignees"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Title == "" {
		validationFailed(w, "Validation Failed", map[string]string{"resource": "Issue", "field": "title", "code": "missing_field"})
		return
	}
	is := Issue{Title: in.Title, Body: in.Body, Author: c.login}
	if atLeast(c.role, Triage) { // others' labels and assignees are dropped, as on GitHub
		if in.Labels != nil {
			is.Labels, _ = labelNames(in.Labels)
		}
		is.Assignees = in.Assignees
	}
	s.lock()
	defer s.mu.Unlock()
	n := s.addIssue(c.st, is)
	fakehttp.JSON(w, http.StatusCreated, s.issueJSON(c.api, c.st, c.st.issues[n]))
}

func (s *Server) updateIssue(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Triage)
	if !ok {
		return
	}
	var in struct {
		Title       *string         `json:"title"`
		Body        *string         `json:"body"`
		State       *string         `json:"state"`
		StateReason *string         `json:"state_reason"`
		Labels      json.RawMessage `json:"labels"`
		Assignees   *[]string       `json:"assignees"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.lock()
	defer s.mu.Unlock()
	is, ok := s.issueOf(w, r, c.st)
	if !ok {
		return
	}
	now := time.Now().UTC().Truncate(time.Second)
	if in.State != nil {
		switch *in.State {
		case "closed":
			if is.State != "closed" {
				is.Closed = now
			}
			is.State, is.StateReason = "closed", cmp.Or(deref(in.StateReason), "completed")
		case "open":
			if is.State == "closed" {
				is.StateReason = "reopened"
			}
			is.State, is.Closed = "open", time.Time{}
		default:
			validationFailed(w, "Validation Failed", map[string]string{"resource": "Issue", "field": "state", "code": "invalid"})
			return
		}
	}
	if in.Title != nil {
		is.Title = *in.Title
	}
	if in.Body != nil {
		is.Body = *in.Body
	}
	if in.Labels != nil {
		names, ok := labelNames(in.Labels)
		if !ok {
			validationFailed(w, "Validation Failed", map[string]string{"resource": "Issue", "field": "labels", "code": "invalid"})
			return
		}
		is.Labels = nil
		for _, n := range names {
			is.Labels = append(is.Labels, s.label(c.st, n).Name)
		}
	}
	if in.Assignees != nil {
		is.Assignees = slices.Clone(*in.Assignees)
	}
	is.Updated = now
	fakehttp.JSON(w, http.StatusOK, s.issueJSON(c.api, c.st, is))
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) addLabels(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Triage)
	if !ok {
		return
	}
	var raw json.RawMessage
	if !decode(w, r, &raw) {
		return
	}
	names, ok := labelNames(raw)
	if !ok || len(names) == 0 {
		validationFailed(w, "Invalid request.\n\nNo labels given.")
		return
	}
	s.lock()
	defer s.mu.Unlock()
	is, ok := s.issueOf(w, r, c.st)
	if !ok {
		return
	}
	for _, n := range names {
		if l := s.label(c.st, n); !containsFold(is.Labels, l.Name) {
			is.Labels = append(is.Labels, l.Name)
		}
	}
	is.Updated = time.Now().UTC().Truncate(time.Second)
	fakehttp.JSON(w, http.StatusOK, s.labelsJSON(c.api, c.st, is.Labels))
}

func (s *Server) removeLabel(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Triage)
	if !ok {
		return
	}
	s.lock()
	defer s.mu.Unlock()
	is, ok := s.issueOf(w, r, c.st)
	if !ok {
		return
	}
	name := r.PathValue("name")
	i := slices.IndexFunc(is.Labels, func(l string) bool { return strings.EqualFold(l, name) })
	if i < 0 {
		fakehttp.JSON(w, http.StatusNotFound, map[string]string{"message": "Label does not exist", "documentation_url": docs, "status": "404"})
		return
	}
	is.Labels = slices.Delete(is.Labels, i, i+1)
	is.Updated = time.Now().UTC().Truncate(time.Second)
	fakehttp.JSON(w, http.StatusOK, s.labelsJSON(c.api, c.st, is.Labels))
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Read)
	if !ok {
		return
	}
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			validationFailed(w, "Validation Failed", map[string]string{"resource": "IssueComment", "field": "since", "code": "invalid"})
			return
		}
		since = t
	}
	s.lock()
	defer s.mu.Unlock()
	is, ok := s.issueOf(w, r, c.st)
	if !ok {
		return
	}
	var list []*Comment
	for _, cm := range c.st.comments[is.Number] {
		if !cm.Updated.Before(since) {
			list = append(list, cm)
		}
	}
	page, ok := s.paginate(w, r, len(list))
	if !ok {
		return
	}
	items := make([]map[string]any, 0, page.hi-page.lo)
	for _, cm := range list[page.lo:page.hi] {
		items = append(items, s.commentJSON(c.api, c.st, is, cm))
	}
	fakehttp.JSON(w, http.StatusOK, items)
}

func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Read)
	if !ok {
		return
	}
	var in struct {
		Body *string `json:"body"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Body == nil || strings.TrimSpace(*in.Body) == "" {
		validationFailed(w, "Validation Failed", map[string]string{"resource": "IssueComment", "field": "body", "code": "missing_field"})
		return
	}
	s.lock()
	defer s.mu.Unlock()
	is, ok := s.issueOf(w, r, c.st)
	if !ok {
		return
	}
	cm := s.addComment(c.st, is, c.login, *in.Body)
	w.Header().Set("Location", fmt.Sprintf("%s/repos/%s/issues/comments/%d", c.api, c.st.repo.FullName(), cm.ID))
	fakehttp.JSON(w, http.StatusCreated, s.commentJSON(c.api, c.st, is, cm))
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Read)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	head, base := q.Get("head"), q.Get("base")
	s.lock()
	defer s.mu.Unlock()
	var out []*Issue
	for _, is := range c.st.issues {
		pr := is.PullRequest
		switch {
		case pr == nil,
			state != "all" && is.State != state,
			head != "" && !headMatches(c.st, pr, head),
			base != "" && pr.Base != base:
			continue
		}
		out = append(out, is)
	}
	sortIssues(out, q.Get("sort"), q.Get("direction"))
	page, ok := s.paginate(w, r, len(out))
	if !ok {
		return
	}
	items := make([]map[string]any, 0, page.hi-page.lo)
	for _, is := range out[page.lo:page.hi] {
		items = append(items, s.pullJSON(c.api, c.st, is))
	}
	fakehttp.JSON(w, http.StatusOK, items)
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Write)
	if !ok {
		return
	}
	var in struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
		Draft bool   `json:"draft"`
	}
	if !decode(w, r, &in) {
		return
	}
	switch {
	case in.Head == "":
		validationFailed(w, "Validation Failed", map[string]string{"resource": "PullRequest", "field": "head", "code": "missing_field"})
		return
	case in.Base == "":
		validationFailed(w, "Validation Failed", map[string]string{"resource": "PullRequest", "field": "base", "code": "missing_field"})
		return
	case in.Title == "":
		validationFailed(w, "Validation Failed", map[string]string{"resource": "PullRequest", "field": "title", "code": "missing_field"})
		return
	}
	owner, branch, cross := strings.Cut(in.Head, ":")
	if !cross {
		owner, branch = c.st.repo.Owner, in.Head
	}
	if strings.EqualFold(owner, c.st.repo.Owner) && branch == in.Base {
		validationFailed(w, "Validation Failed", map[string]string{"resource": "PullRequest", "code": "custom", "message": "No commits between " + in.Base + " and " + branch})
		return
	}
	s.lock()
	defer s.mu.Unlock()
	for _, is := range c.st.issues {
		if pr := is.PullRequest; pr != nil && is.State == "open" && pr.Base == in.Base && headMatches(c.st, pr, in.Head) {
			validationFailed(w, "Validation Failed", map[string]string{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for " + owner + ":" + branch + "."})
			return
		}
	}
	n := s.addIssue(c.st, Issue{
		Title: in.Title, Body: in.Body, Author: c.login,
		PullRequest: &PullRequest{HeadOwner: owner, Head: branch, Base: in.Base, Draft: in.Draft},
	})
	is := c.st.issues[n]
	fakehttp.JSON(w, http.StatusCreated, s.pullJSON(c.api, c.st, is))
}

// --- JSON ---

func stamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) userJSON(api, login string) map[string]any {
	if login == "" {
		return nil
	}
	return simpleUserJSON(api, login, s.userID(login))
}

func (s *Server) labelsJSON(api string, st *repoState, names []string) []map[string]any {
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		l := s.label(st, n)
		out = append(out, map[string]any{
			"id": l.ID, "node_id": fmt.Sprintf("LA_%d", l.ID),
			"url":  api + "/repos/" + st.repo.FullName() + "/labels/" + url.PathEscape(l.Name),
			"name": l.Name, "description": nil, "color": "ededed", "default": false,
		})
	}
	return out
}

func (s *Server) association(st *repoState, login string) string {
	switch {
	case strings.EqualFold(login, st.repo.Owner):
		return "OWNER"
	case st.repo.Collaborators[login] != "":
		return "COLLABORATOR"
	}
	return "NONE"
}

func (s *Server) issueJSON(api string, st *repoState, is *Issue) map[string]any {
	repoURL := api + "/repos/" + st.repo.FullName()
	u := fmt.Sprintf("%s/issues/%d", repoURL, is.Number)
	assignees := make([]map[string]any, 0, len(is.Assignees))
	for _, a := range is.Assignees {
		assignees = append(assignees, s.userJSON(api, a))
	}
	var assignee any
	if len(assignees) > 0 {
		assignee = assignees[0]
	}
	var body any
	if is.Body != "" {
		body = is.Body
	}
	var stateReason any
	if is.StateReason != "" {
		stateReason = is.StateReason
	}
	m := map[string]any{
		"id": int64(is.Number) + st.repo.ID*100_000, "node_id": fmt.Sprintf("I_%d_%d", st.repo.ID, is.Number),
		"url": u, "repository_url": repoURL, "labels_url": u + "/labels{/name}",
		"comments_url": u + "/comments", "events_url": u + "/events", "html_url": st.htmlURL(is),
		"timeline_url": u + "/timeline", "number": is.Number, "state": is.State, "state_reason": stateReason, "title": is.Title, "body": body,
		"user": s.userJSON(api, is.Author), "labels": s.labelsJSON(api, st, is.Labels),
		"assignee": assignee, "assignees": assignees, "milestone": nil, "locked": false,
		"active_lock_reason": nil, "comments": is.Comments,
		"created_at": stamp(is.Created), "updated_at": stamp(is.Updated), "closed_at": stamp(is.Closed),
		"closed_by": nil, "author_association": s.association(st, is.Author),
	}
	if is.PullRequest != nil {
		pu := fmt.Sprintf("%s/pulls/%d", repoURL, is.Number)
		html := st.htmlURL(is)
		var merged any
		if is.PullRequest.Merged {
			merged = stamp(is.Closed)
		}
		m["pull_request"] = map[string]any{"url": pu, "html_url": html, "diff_url": html + ".diff", "patch_url": html + ".patch", "merged_at": merged}
		m["draft"] = is.PullRequest.Draft
	}
	return m
}

func (s *Server) commentJSON(api string, st *repoState, is *Issue, c *Comment) map[string]any {
	repoURL := api + "/repos/" + st.repo.FullName()
	return map[string]any{
		"id": c.ID, "node_id": fmt.Sprintf("IC_%d", c.ID),
		"url":      fmt.Sprintf("%s/issues/comments/%d", repoURL, c.ID),
		"html_url": c.HTMLURL, "body": c.Body,
		"user":       s.userJSON(api, c.Author),
		"created_at": stamp(c.Created), "updated_at": stamp(c.Updated),
		"issue_url":          fmt.Sprintf("%s/issues/%d", repoURL, is.Number),
		"author_association": s.association(st, c.Author),
	}
}

func (s *Server) pullJSON(api string, st *repoState, is *Issue) map[string]any {
	pr := is.PullRequest
	repoURL := api + "/repos/" + st.repo.FullName()
	u := fmt.Sprintf("%s/pulls/%d", repoURL, is.Number)
	issueURL := fmt.Sprintf("%s/issues/%d", repoURL, is.Number)
	html := st.htmlURL(is)
	statuses := repoURL + "/statuses/" + fakeSHA(st.repo.FullName()+":"+pr.Head)
	ref := func(owner, branch string) map[string]any {
		return map[string]any{
			"label": owner + ":" + branch, "ref": branch, "sha": fakeSHA(owner + ":" + branch),
			"user": s.userJSON(api, owner), "repo": repoJSON(api, st.repo, "", false),
		}
	}
	link := func(h string) map[string]string { return map[string]string{"href": h} }
	var body any
	if is.Body != "" {
		body = is.Body
	}
	assignees := make([]map[string]any, 0, len(is.Assignees))
	for _, a := range is.Assignees {
		assignees = append(assignees, s.userJSON(api, a))
	}
	var assignee any
	if len(assignees) > 0 {
		assignee = assignees[0]
	}
	var merged any
	if pr.Merged {
		merged = stamp(is.Closed)
	}
	return map[string]any{
		"url": u, "id": int64(is.Number) + st.repo.ID*100_000 + 50_000, "node_id": fmt.Sprintf("PR_%d_%d", st.repo.ID, is.Number),
		"html_url": html, "diff_url": html + ".diff", "patch_url": html + ".patch", "issue_url": issueURL,
		"commits_url": u + "/commits", "review_comments_url": u + "/comments",
		"review_comment_url": repoURL + "/pulls/comments{/number}", "comments_url": issueURL + "/comments",
		"statuses_url": statuses, "number": is.Number, "state": is.State, "locked": false,
		"title": is.Title, "user": s.userJSON(api, is.Author), "body": body,
		"labels": s.labelsJSON(api, st, is.Labels), "milestone": nil, "active_lock_reason": nil,
		"created_at": stamp(is.Created), "updated_at": stamp(is.Updated), "closed_at": stamp(is.Closed),
		"merged_at": merged, "merge_commit_sha": nil, "assignee": assignee, "assignees": assignees,
		"requested_reviewers": []any{}, "requested_teams": []any{},
		"head": ref(pr.HeadOwner, pr.Head), "base": ref(st.repo.Owner, pr.Base),
		"_links": map[string]any{
			"self": link(u), "html": link(html), "issue": link(issueURL), "comments": link(issueURL + "/comments"),
			"review_comments": link(u + "/comments"), "review_comment": link(repoURL + "/pulls/comments{/number}"),
			"commits": link(u + "/commits"), "statuses": link(statuses),
		},
		"author_association": s.association(st, is.Author), "auto_merge": nil, "draft": pr.Draft,
		"merged": pr.Merged, "mergeable": nil, "rebaseable": nil, "mergeable_state": "unknown",
		"merged_by": nil, "comments": is.Comments, "review_comments": 0, "maintainer_can_modify": false,
		"commits": 1, "additions": 1, "deletions": 0, "changed_files": 1,
	}
}

// fakeSHA is a stable 40-hex-digit commit id for a branch.
func fakeSHA(s string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return fmt.Sprintf("%016x%016x%08x", h.Sum64(), h.Sum64()^0x5bd1e995, uint32(h.Sum64()))
}

// Delete removes an issue, as an administrator would: it answers 404 from
// then on.
func (s *Server) Delete(repo string, n int) {
	s.lock()
	st, _ := s.mustIssue(repo, n)
	delete(st.issues, n)
	s.mu.Unlock()
	s.deliver(repo, n, "issues", "deleted")
}
