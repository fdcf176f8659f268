// Package bitbucketfake is an in-memory fake of Bitbucket Cloud's REST API
// 2.0 under /2.0: accounts with API tokens (basic auth with the account's
// email), repositories with the issue tracker on, off or gone, issues with
// comments, and pull requests with reviewers.
//
// It serves what connectorhub uses: GET /user, GET a repository, the issue
// list and the pull request list filtered by the BBQL the tracker sends
// (field = "value", field IN ("a", "b"), field >= datetime, joined by AND),
// sorted by sort=updated_on, paged by pagelen (at most Options.MaxPageLen)
// and page with an absolute "next" link; GET and PUT of an issue ({"state"}),
// issue comments (list, create: 201 with Location) and pull requests (get,
// create). A repository whose issue tracker is gone answers the issue
// endpoints 410. Faults (429, 5xx, slow, malformed) are served in front.
package bitbucketfake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// Account is a Bitbucket (Atlassian) account.
type Account struct {
	UUID, Name, Nickname, Email, AccountID string
	// Token is the account's API token.
	Token string
}

// Tracker says whether a repository's issue tracker is on, off or gone.
type Tracker int

const (
	TrackerOn   Tracker = iota
	TrackerOff          // has_issues false; issue endpoints 404
	TrackerGone         // has_issues true (stale), issue endpoints 410
)

// Repo is a repository.
type Repo struct {
	FullName string // workspace/slug
	Issues   Tracker
	// Readers may read but not write.
	Readers []string // account uuids
}

// Issue is an issue to seed.
type Issue struct {
	Repo, Title, Content, Kind, Priority string
	Component                            string // a component name, or ""
	State                                string // "new" when empty
	Reporter, Assignee                   string // uuids
	Created, Updated                     time.Time
}

// Comment is an issue comment.
type Comment struct {
	ID      int64
	User    string
	Raw     string
	Created time.Time
}

// PullRequest is a pull request.
type PullRequest struct {
	ID                  int64
	Repo, Title, Source string
	Destination         string
	Description         string
	State               string // OPEN when empty
	Author              string
	Reviewers           []string
	Created, Updated    time.Time
	// Comments are the pull request's comments (content.raw), oldest first.
	Comments []Comment
}

type issueState struct {
	Issue
	id       int64
	comments []Comment
	// enc is the issue's JSON as of write generation encGen for API base
	// encBase (issueBytes).
	enc     []byte
	encGen  int
	encBase string
}

// Options configure the fake.
type Options struct {
	Accounts []Account
	Repos    []Repo
	Issues   []Issue
	PRs      []PullRequest
	// MaxPageLen caps pagelen (Bitbucket: 100 for issues, 50 for pull requests).
	MaxPageLen int
}

// Server is a fake Bitbucket Cloud; it is an http.Handler. Start returns the
// server's URL; the API root is that URL + "/2.0".
type Server struct {
	fakehttp.Base // faults served first, request counter, routes
	opts          Options

	mu          sync.Mutex
	accounts    []Account
	repos       map[string]*Repo
	issues      []*issueState
	prs         []*PullRequest
	lastComment int64
	// gen moves on every lock that may change an issue listing; the last
	// listing's matches (sorted) are kept for its query while gen stays,
	// as githubfake does, so paging through a listing does not filter and
	// sort every issue again for each page.
	gen       int
	listGen   int
	listKey   string
	listMatch []*issueState
}

// New returns a fake holding opts.
func New(opts Options) *Server {
	if opts.MaxPageLen <= 0 {
		opts.MaxPageLen = 100
	}
	s := &Server{opts: opts, accounts: opts.Accounts, repos: map[string]*Repo{}}
	s.Init(nil)
	for _, r := range opts.Repos {
		s.repos[r.FullName] = &r
	}
	for _, is := range opts.Issues {
		s.AddIssue(is)
	}
	for _, pr := range opts.PRs {
		s.AddPullRequest(pr)
	}
	const repo = "/2.0/repositories/{ws}/{slug}"
	s.Mux.HandleFunc("GET /2.0/user", s.user)
	s.Mux.HandleFunc("GET "+repo, s.repo)
	s.Mux.HandleFunc("GET "+repo+"/issues", s.listIssues)
	s.Mux.HandleFunc("GET "+repo+"/issues/{id}", s.getIssue)
	s.Mux.HandleFunc("PUT "+repo+"/issues/{id}", s.putIssue)
	s.Mux.HandleFunc("GET "+repo+"/issues/{id}/comments", s.listComments)
	s.Mux.HandleFunc("POST "+repo+"/issues/{id}/comments", s.createComment)
	s.Mux.HandleFunc("GET "+repo+"/pullrequests", s.listPRs)
	s.Mux.HandleFunc("GET "+repo+"/pullrequests/{id}", s.getPR)
	s.Mux.HandleFunc("POST "+repo+"/pullrequests", s.createPR)
	s.Mux.HandleFunc("GET "+repo+"/pullrequests/{id}/comments", s.listPRComments)
	s.Mux.HandleFunc("POST "+repo+"/pullrequests/{id}/comments", s.createPRComment)
	s.Mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { bbErr(w, http.StatusNotFound, "Resource not found") })
	return s
}

// AddIssue adds an issue and returns its id (ids count per fake).
func (s *Server) AddIssue(is Issue) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++ // the issue listing may change
	now := time.Now().UTC().Truncate(time.Second)
	if is.State == "" {
		is.State = "new"
	}
	if is.Updated.IsZero() {
		is.Updated = now
	}
	if is.Created.IsZero() || is.Created.After(is.Updated) {
		is.Created = is.Updated
	}
	st := &issueState{Issue: is, id: int64(len(s.issues) + 1)}
	s.issues = append(s.issues, st)
	return st.id
}

// AddPullRequest adds a pull request and returns its id.
func (s *Server) AddPullRequest(pr PullRequest) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addPR(pr).ID
}

func (s *Server) addPR(pr PullRequest) *PullRequest {
	now := time.Now().UTC().Truncate(time.Second)
	if pr.State == "" {
		pr.State = "OPEN"
	}
	if pr.Destination == "" {
		pr.Destination = "main"
	}
	if pr.Updated.IsZero() {
		pr.Updated = now
	}
	if pr.Created.IsZero() {
		pr.Created = pr.Updated
	}
	pr.ID = int64(len(s.prs) + 1)
	p := pr
	s.prs = append(s.prs, &p)
	return &p
}

// EditIssue changes an issue under the lock.
func (s *Server) EditIssue(id int64, f func(*Issue)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++ // the issue listing may change
	if id < 1 || int(id) > len(s.issues) {
		return false
	}
	f(&s.issues[id-1].Issue)
	return true
}

// DeleteIssue deletes an issue: it is no longer listed or readable (404).
// Ids are not reused.
func (s *Server) DeleteIssue(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++ // the issue listing may change
	if id < 1 || int(id) > len(s.issues) {
		return false
	}
	s.issues[id-1].Repo = "" // in no repository: every lookup misses it
	return true
}

// IssueByID returns an issue as it is now.
func (s *Server) IssueByID(id int64) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || int(id) > len(s.issues) {
		return Issue{}, false
	}
	return s.issues[id-1].Issue, true
}

// Comments returns an issue's comments.
func (s *Server) Comments(id int64) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || int(id) > len(s.issues) {
		return nil
	}
	return slices.Clone(s.issues[id-1].comments)
}

// AddComment adds a comment by user (uuid).
func (s *Server) AddComment(id int64, user, raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++ // the issue listing may change
	if id >= 1 && int(id) <= len(s.issues) {
		s.lastComment++
		c := Comment{ID: s.lastComment, User: user, Raw: raw, Created: time.Now().UTC().Truncate(time.Second)}
		s.issues[id-1].comments = append(s.issues[id-1].comments, c)
		s.issues[id-1].Updated = c.Created // as a comment posted through the API does
	}
}

// PullRequests returns the pull requests of a repository.
func (s *Server) PullRequests() []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PullRequest
	for _, p := range s.prs {
		c := *p
		c.Comments = slices.Clone(p.Comments)
		out = append(out, c)
	}
	return out
}

// SetIssueTracker turns a repository's issue tracker on, off or gone.
func (s *Server) SetIssueTracker(repo string, t Tracker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++ // the issue listing may change
	if r := s.repos[repo]; r != nil {
		r.Issues = t
	}
}

// RateLimitNext answers the next request 429 with Retry-After.
func (s *Server) RateLimitNext(retryAfter time.Duration) {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second)))
	s.Faults.Add(faults.Fault{Status: http.StatusTooManyRequests, Header: h, Body: `{"type":"error","error":{"message":"Rate limit for this resource has been exceeded"}}`})
}

// ServerErrorNext answers the next n requests 500.
func (s *Server) ServerErrorNext(n int) {
	s.Faults.Fail(n, http.StatusInternalServerError, `{"type":"error","error":{"message":"Internal server error"}}`)
}

// MalformedNext answers the next request with a body cut short.
func (s *Server) MalformedNext() {
	s.Faults.Fail(1, http.StatusOK, `{"values":[{"id":1,"title":"trunc`)
}

func bbErr(w http.ResponseWriter, code int, msg string) {
	fakehttp.JSON(w, code, map[string]any{"type": "error", "error": map[string]any{"message": msg}})
}

// auth reads basic auth: the account's email and its API token.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) (Account, bool) {
	user, pass, ok := r.BasicAuth()
	if ok {
		for _, a := range s.accounts {
			if strings.EqualFold(a.Email, user) && a.Token == pass {
				return a, true
			}
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Bitbucket.org HTTP"`)
	bbErr(w, http.StatusUnauthorized, "Unauthorized")
	return Account{}, false
}

func (s *Server) account(uuid string) Account {
	for _, a := range s.accounts {
		if a.UUID == uuid {
			return a
		}
	}
	return Account{UUID: uuid}
}

func (s *Server) accountJSON(uuid string) any {
	if uuid == "" {
		return nil
	}
	a := s.account(uuid)
	return map[string]any{"type": "user", "uuid": a.UUID, "display_name": a.Name, "nickname": a.Nickname, "account_id": a.AccountID}
}

// repoFor authenticates and finds the repository; nil after answering.
func (s *Server) repoFor(w http.ResponseWriter, r *http.Request) (*Repo, Account) {
	a, ok := s.auth(w, r)
	if !ok {
		return nil, a
	}
	repo := s.repos[r.PathValue("ws")+"/"+r.PathValue("slug")]
	if repo == nil {
		bbErr(w, http.StatusNotFound, "Repository not found")
		return nil, a
	}
	return repo, a
}

// issuesOn answers 404/410 when the repository's issue tracker is off/gone.
func issuesOn(w http.ResponseWriter, repo *Repo) bool {
	switch repo.Issues {
	case TrackerOff:
		bbErr(w, http.StatusNotFound, "Repository has no issue tracker.")
		return false
	case TrackerGone:
		bbErr(w, http.StatusGone, "The issue tracker of this repository is no longer available.")
		return false
	}
	return true
}

func canWrite(w http.ResponseWriter, repo *Repo, a Account) bool {
	if slices.Contains(repo.Readers, a.UUID) {
		bbErr(w, http.StatusForbidden, "You do not have write access to this repository.")
		return false
	}
	return true
}

func web(repo string) string { return "https://bitbucket.org/" + repo }

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.auth(w, r)
	if !ok {
		return
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"type": "user", "uuid": a.UUID, "display_name": a.Name, "nickname": a.Nickname, "account_id": a.AccountID,
		"links": map[string]any{"html": map[string]any{"href": "https://bitbucket.org/" + a.Nickname + "/"}}})
}

func (s *Server) repo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, _ := s.repoFor(w, r)
	if repo == nil {
		return
	}
	ws, slug, _ := strings.Cut(repo.FullName, "/")
	fakehttp.JSON(w, http.StatusOK, map[string]any{"type": "repository", "full_name": repo.FullName, "name": slug, "is_private": true,
		"has_issues": repo.Issues != TrackerOff, "mainbranch": map[string]any{"type": "branch", "name": "main"}, "scm": "git",
		"owner": map[string]any{"type": "team", "display_name": ws},
		"links": map[string]any{"html": map[string]any{"href": web(repo.FullName)}}})
}

func (s *Server) issueJSON(base string, is *issueState) map[string]any {
	out := map[string]any{
		"type": "issue", "id": is.id, "title": is.Title, "state": is.State, "kind": orDefault(is.Kind, "task"), "priority": orDefault(is.Priority, "major"),
		"created_on": is.Created.Format(time.RFC3339), "updated_on": is.Updated.Format(time.RFC3339),
		"content":  map[string]any{"raw": is.Content, "markup": "markdown", "html": ""},
		"reporter": s.accountJSON(is.Reporter),
		"links": map[string]any{
			"self": map[string]any{"href": fmt.Sprintf("%s/2.0/repositories/%s/issues/%d", base, is.Repo, is.id)},
			"html": map[string]any{"href": fmt.Sprintf("%s/issues/%d", web(is.Repo), is.id)},
		},
	}
	if is.Assignee != "" {
		out["assignee"] = s.accountJSON(is.Assignee)
	}
	if is.Component != "" {
		out["component"] = map[string]any{"type": "component", "name": is.Component}
	}
	if out["reporter"] == nil {
		delete(out, "reporter")
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// paginate serves page of n items with pagelen and an absolute next link,
// building only that page's items (item(i)): building every match's JSON
// for each page made a listing's cost grow with the square of its size.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, n int, item func(i int) any) {
	s.paginateEncoded(w, r, n, func(i int) ([]byte, error) { return json.Marshal(item(i)) })
}

// paginateEncoded is paginate over items already encoded: the page is
// written around their bytes, not encoded again as a whole.
func (s *Server) paginateEncoded(w http.ResponseWriter, r *http.Request, n int, item func(i int) ([]byte, error)) {
	q := r.URL.Query()
	pagelen, _ := strconv.Atoi(q.Get("pagelen"))
	if pagelen <= 0 {
		pagelen = 10
	}
	pagelen = min(pagelen, s.opts.MaxPageLen)
	pg, _ := strconv.Atoi(q.Get("page"))
	if pg < 1 {
		pg = 1
	}
	start := min((pg-1)*pagelen, n)
	end := min(start+pagelen, n)
	items := make([][]byte, 0, end-start)
	for i := start; i < end; i++ {
		v, err := item(i)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		items = append(items, v)
	}
	tail := make([]byte, 0, 256)
	tail = append(tail, `,"pagelen":`...)
	tail = strconv.AppendInt(tail, int64(pagelen), 10)
	tail = append(tail, `,"size":`...)
	tail = strconv.AppendInt(tail, int64(n), 10)
	tail = append(tail, `,"page":`...)
	tail = strconv.AppendInt(tail, int64(pg), 10)
	if end < n {
		q.Set("page", strconv.Itoa(pg+1))
		next, err := json.Marshal(fakehttp.BaseURL(r) + r.URL.Path + "?" + q.Encode())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tail = append(append(tail, `,"next":`...), next...)
	}
	// The items (cached encodings, for issues) are written out as they
	// are, not assembled into a page-sized buffer for every request
	// (issue 9: that buffer grew by doubling, several copies per page).
	_ = fakehttp.WriteArray(w, http.StatusOK, `{"values":`, items, string(append(tail, '}')))
}

// issueBytes is issueJSON encoded, cached in the issue while no write
// (gen) changed anything and for one API base: a real Bitbucket encodes on
// its own machine, and encoding every issue of every page was the fake's
// main cost in the discovery bench.
func (s *Server) issueBytes(base string, is *issueState) ([]byte, error) {
	if is.enc != nil && is.encGen == s.gen && is.encBase == base {
		return is.enc, nil
	}
	b, err := json.Marshal(s.issueJSON(base, is))
	if err != nil {
		return nil, err
	}
	is.enc, is.encGen, is.encBase = b, s.gen, base
	return b, nil
}

func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, _ := s.repoFor(w, r)
	if repo == nil || !issuesOn(w, repo) {
		return
	}
	cond, err := parseBBQL(r.URL.Query().Get("q"))
	if err != nil {
		bbErr(w, http.StatusBadRequest, "Invalid query: "+err.Error())
		return
	}
	key := repo.FullName + "\x00" + r.URL.Query().Get("q") + "\x00" + r.URL.Query().Get("sort")
	match := s.listMatch
	if s.listKey != key || s.listGen != s.gen || match == nil {
		match = []*issueState{}
		fields := map[string]string{} // reused: match keeps no reference
		for _, is := range s.issues {
			if is.Repo != repo.FullName {
				continue
			}
			fields["assignee.uuid"], fields["state"], fields["reporter.uuid"] = is.Assignee, is.State, is.Reporter
			fields["updated_on"] = is.Updated.UTC().Format(time.RFC3339)
			if cond.match(fields) {
				match = append(match, is)
			}
		}
		if r.URL.Query().Get("sort") == "updated_on" {
			sort.SliceStable(match, func(i, j int) bool { return match[i].Updated.Before(match[j].Updated) })
		}
		s.listKey, s.listGen, s.listMatch = key, s.gen, match
	}
	base := fakehttp.BaseURL(r)
	s.paginateEncoded(w, r, len(match), func(i int) ([]byte, error) { return s.issueBytes(base, match[i]) })
}

func (s *Server) issueFor(w http.ResponseWriter, r *http.Request, repo *Repo) *issueState {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if id < 1 || int(id) > len(s.issues) || s.issues[id-1].Repo != repo.FullName {
		bbErr(w, http.StatusNotFound, "Issue not found")
		return nil
	}
	return s.issues[id-1]
}

func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, _ := s.repoFor(w, r)
	if repo == nil || !issuesOn(w, repo) {
		return
	}
	if is := s.issueFor(w, r, repo); is != nil {
		fakehttp.JSON(w, http.StatusOK, s.issueJSON(fakehttp.BaseURL(r), is))
	}
}

var states = []string{"submitted", "new", "open", "resolved", "on hold", "invalid", "duplicate", "wontfix", "closed"}

func (s *Server) putIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++ // the issue listing may change
	repo, a := s.repoFor(w, r)
	if repo == nil || !issuesOn(w, repo) || !canWrite(w, repo, a) {
		return
	}
	is := s.issueFor(w, r, repo)
	if is == nil {
		return
	}
	var body struct {
		State *string `json:"state"`
		Title *string `json:"title"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		bbErr(w, http.StatusBadRequest, "Bad request")
		return
	}
	if body.State != nil {
		if !slices.Contains(states, *body.State) {
			bbErr(w, http.StatusBadRequest, "state: invalid value")
			return
		}
		is.State = *body.State
	}
	if body.Title != nil {
		is.Title = *body.Title
	}
	is.Updated = time.Now().UTC().Truncate(time.Second)
	fakehttp.JSON(w, http.StatusOK, s.issueJSON(fakehttp.BaseURL(r), is))
}

func (s *Server) commentJSON(base string, is *issueState, c Comment) map[string]any {
	return map[string]any{"type": "issue_comment", "id": c.ID, "created_on": c.Created.Format(time.RFC3339),
		"content": map[string]any{"raw": c.Raw, "markup": "markdown", "html": ""}, "user": s.accountJSON(c.User),
		"links": map[string]any{
			"self": map[string]any{"href": fmt.Sprintf("%s/2.0/repositories/%s/issues/%d/comments/%d", base, is.Repo, is.id, c.ID)},
			"html": map[string]any{"href": fmt.Sprintf("%s/issues/%d#comment-%d", web(is.Repo), is.id, c.ID)},
		}}
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, _ := s.repoFor(w, r)
	if repo == nil || !issuesOn(w, repo) {
		return
	}
	is := s.issueFor(w, r, repo)
	if is == nil {
		return
	}
	base := fakehttp.BaseURL(r)
	s.paginate(w, r, len(is.comments), func(i int) any { return s.commentJSON(base, is, is.comments[i]) })
}

func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++ // the issue listing may change
	repo, a := s.repoFor(w, r)
	if repo == nil || !issuesOn(w, repo) || !canWrite(w, repo, a) {
		return
	}
	is := s.issueFor(w, r, repo)
	if is == nil {
		return
	}
	c, ok := s.newComment(w, r, a.UUID)
	if !ok {
		return
	}
	is.comments = append(is.comments, c)
	is.Updated = c.Created
	// Bitbucket's description declares only the Location header for 201.
	w.Header().Set("Location", fmt.Sprintf("%s/2.0/repositories/%s/issues/%d/comments/%d", fakehttp.BaseURL(r), is.Repo, is.id, c.ID))
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) prJSON(base string, p *PullRequest) map[string]any {
	reviewers := []any{}
	for _, u := range p.Reviewers {
		reviewers = append(reviewers, s.accountJSON(u))
	}
	out := map[string]any{"type": "pullrequest", "id": p.ID, "title": p.Title, "state": p.State, "description": p.Description,
		"summary":     map[string]any{"raw": p.Description, "markup": "markdown", "html": ""},
		"source":      map[string]any{"branch": map[string]any{"name": p.Source}},
		"destination": map[string]any{"branch": map[string]any{"name": p.Destination}},
		"reviewers":   reviewers,
		"created_on":  p.Created.Format(time.RFC3339), "updated_on": p.Updated.Format(time.RFC3339),
		"links": map[string]any{
			"self": map[string]any{"href": fmt.Sprintf("%s/2.0/repositories/%s/pullrequests/%d", base, p.Repo, p.ID)},
			"html": map[string]any{"href": fmt.Sprintf("%s/pull-requests/%d", web(p.Repo), p.ID)},
		}}
	if p.Author != "" {
		out["author"] = s.accountJSON(p.Author)
	}
	return out
}

func (s *Server) listPRs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, _ := s.repoFor(w, r)
	if repo == nil {
		return
	}
	cond, err := parseBBQL(r.URL.Query().Get("q"))
	if err != nil {
		bbErr(w, http.StatusBadRequest, "Invalid query: "+err.Error())
		return
	}
	var match []*PullRequest
	for _, p := range s.prs {
		if p.Repo != repo.FullName {
			continue
		}
		if st := r.URL.Query().Get("state"); st != "" && st != p.State {
			continue
		}
		fields := map[string]string{"state": p.State, "source.branch.name": p.Source, "updated_on": p.Updated.UTC().Format(time.RFC3339), "author.uuid": p.Author}
		multi := map[string][]string{"reviewers.uuid": p.Reviewers}
		if cond.matchMulti(fields, multi) {
			match = append(match, p)
		}
	}
	if r.URL.Query().Get("sort") == "updated_on" {
		sort.SliceStable(match, func(i, j int) bool { return match[i].Updated.Before(match[j].Updated) })
	}
	base := fakehttp.BaseURL(r)
	s.paginate(w, r, len(match), func(i int) any { return s.prJSON(base, match[i]) })
}

func (s *Server) getPR(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, _ := s.repoFor(w, r)
	if repo == nil {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, p := range s.prs {
		if p.ID == id && p.Repo == repo.FullName {
			fakehttp.JSON(w, http.StatusOK, s.prJSON(fakehttp.BaseURL(r), p))
			return
		}
	}
	bbErr(w, http.StatusNotFound, "Pull request not found")
}

// prFor finds the pull request of the path ({id}) in repo, or answers 404.
func (s *Server) prFor(w http.ResponseWriter, r *http.Request, repo *Repo) *PullRequest {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, p := range s.prs {
		if p.ID == id && p.Repo == repo.FullName {
			return p
		}
	}
	bbErr(w, http.StatusNotFound, "Pull request not found")
	return nil
}

func (s *Server) prCommentJSON(base string, p *PullRequest, c Comment) map[string]any {
	return map[string]any{"type": "pullrequest_comment", "id": c.ID, "created_on": c.Created.Format(time.RFC3339),
		"updated_on": c.Created.Format(time.RFC3339), "deleted": false, "pending": false,
		"content": map[string]any{"raw": c.Raw, "markup": "markdown", "html": ""}, "user": s.accountJSON(c.User),
		"pullrequest": map[string]any{"type": "pullrequest", "id": p.ID, "title": p.Title},
		"links": map[string]any{
			"self": map[string]any{"href": fmt.Sprintf("%s/2.0/repositories/%s/pullrequests/%d/comments/%d", base, p.Repo, p.ID, c.ID)},
			"html": map[string]any{"href": fmt.Sprintf("%s/pull-requests/%d#comment-%d", web(p.Repo), p.ID, c.ID)},
		}}
}

func (s *Server) listPRComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, _ := s.repoFor(w, r)
	if repo == nil {
		return
	}
	p := s.prFor(w, r, repo)
	if p == nil {
		return
	}
	base := fakehttp.BaseURL(r)
	s.paginate(w, r, len(p.Comments), func(i int) any { return s.prCommentJSON(base, p, p.Comments[i]) })
}

// newComment reads a comment's body ({"content":{"raw":…}}) and gives it
// the next id; false, answered 400, when it has no text. s.mu is held.
func (s *Server) newComment(w http.ResponseWriter, r *http.Request, user string) (Comment, bool) {
	var body struct {
		Content struct {
			Raw string `json:"raw"`
		} `json:"content"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Content.Raw == "" {
		bbErr(w, http.StatusBadRequest, "content.raw: required")
		return Comment{}, false
	}
	s.lastComment++
	return Comment{ID: s.lastComment, User: user, Raw: body.Content.Raw, Created: time.Now().UTC().Truncate(time.Second)}, true
}

// createPRComment adds a comment; reading the repository is enough (a
// reviewer comments without write access), as on Bitbucket.
func (s *Server) createPRComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, a := s.repoFor(w, r)
	if repo == nil {
		return
	}
	p := s.prFor(w, r, repo)
	if p == nil {
		return
	}
	c, ok := s.newComment(w, r, a.UUID)
	if !ok {
		return
	}
	p.Comments = append(p.Comments, c)
	p.Updated = c.Created
	w.Header().Set("Location", fmt.Sprintf("%s/2.0/repositories/%s/pullrequests/%d/comments/%d", fakehttp.BaseURL(r), p.Repo, p.ID, c.ID))
	fakehttp.JSON(w, http.StatusCreated, s.prCommentJSON(fakehttp.BaseURL(r), p, c))
}

func (s *Server) createPR(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, a := s.repoFor(w, r)
	if repo == nil || !canWrite(w, repo, a) {
		return
	}
	var body struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Source      struct {
			Branch struct {
				Name string `json:"name"`
			} `json:"branch"`
		} `json:"source"`
		Destination struct {
			Branch struct {
				Name string `json:"name"`
			} `json:"branch"`
		} `json:"destination"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Title == "" || body.Source.Branch.Name == "" {
		bbErr(w, http.StatusBadRequest, "title and source.branch.name are required")
		return
	}
	p := s.addPR(PullRequest{Repo: repo.FullName, Title: body.Title, Description: body.Description, Source: body.Source.Branch.Name, Destination: body.Destination.Branch.Name, Author: a.UUID})
	w.Header().Set("Location", fmt.Sprintf("%s/2.0/repositories/%s/pullrequests/%d", fakehttp.BaseURL(r), p.Repo, p.ID))
	fakehttp.JSON(w, http.StatusCreated, s.prJSON(fakehttp.BaseURL(r), p))
}

// BasicAuthHeader is the Authorization value for email and token (tests).
func BasicAuthHeader(email, token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+token))
}
