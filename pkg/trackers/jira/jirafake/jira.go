// Package jira is an in-memory fake of the Jira REST API: Cloud (REST v3 and
// v2, email + API token over basic auth) or Data Center (REST v2, PAT bearer
// or username + password), with anonymous access to public projects.
//
// It serves the response shapes of the vendor API (checked by the contract
// tests in pkg/fakes/contract and pkg/trackers): myself, serverInfo, project,
// issue search (Cloud: /search/jql with nextPageToken, the old /search
// answering 410; Data Center: /search with startAt), issues with their
// fields and entity properties, transitions over a workflow, comments with
// properties, and issue (sub-task) creation. JQL is a subset (see jql.go),
// with dates read in the querying user's time zone as Jira reads them.
package jirafake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// User is a Jira account and its credentials.
type User struct {
	AccountID   string // Cloud account id
	Name        string // Data Center username
	Email       string
	DisplayName string
	Inactive    bool
	// Admin: a Jira administrator (Data Center: may create webhooks).
	Admin bool
	// APIToken is the Cloud API token (basic auth with Email) or the Data
	// Center personal access token (bearer).
	APIToken string
	// Password is the Data Center password (basic auth with Name).
	Password string
	// TimeZone is the user's profile time zone (IANA); Options.DefaultTimeZone
	// when empty. Jira reads JQL dates in it.
	TimeZone string
}

// Project is a Jira project.
type Project struct {
	ID   string
	Key  string
	Name string
	// Public projects are browsable without logging in (when the instance
	// allows anonymous access).
	Public bool
	// Viewers lists who can browse it (account ids on Cloud, usernames on
	// Data Center); empty means every logged-in user.
	Viewers []string
}

// Options configure a fake instance.
type Options struct {
	Deployment connector.Deployment // Cloud when empty
	Users      []User
	Projects   []Project
	// DefaultTimeZone is the instance's default user time zone (IANA), used
	// for users without one and for anonymous queries; UTC when empty.
	DefaultTimeZone string
	// PageSize caps search and comment pages; 100 when zero, Jira's cap for
	// a search that asks for fields (a request without maxResults gets 50).
	PageSize int
	// Workflow is the transitions every issue follows; DefaultWorkflow when nil.
	Workflow []Transition
	// Now is the fake's clock (time.Now when nil): creation and update times.
	Now func() time.Time
}

// Server is a fake Jira instance. It is an http.Handler; Start serves it.
type Server struct {
	fakehttp.Base // faults in front of every endpoint, request counter, routes

	deployment connector.Deployment

	defaultZone *time.Location
	pageSize    int
	workflow    []Transition
	clock       func() time.Time

	mu           sync.Mutex
	users        []User
	projects     map[string]Project // by key
	projectOrder []string
	issues       map[string]*issue // by upper-case key
	issueOrder   []*issue
	// subtaskIndex, while a search request holds s.mu: parent key
	// (upper case) → sub-task keys, built on first use when subtaskLazy.
	subtaskIndex map[string][]string
	subtaskLazy  bool
	seq          map[string]int // last issue number per project
	// gen moves on every lock outside a search (see lock); lastSearch is
	// the last query evaluated, reused by the pages that follow it.
	gen        uint64
	lastSearch *searchResult
	lastParsed *parsedJQL // parseJQL's memo
	nextID     int
	calls      []string

	hooks hookSender // webhooks.go
	quota quota      // quota.go
}

// New returns a fake instance holding the given users and projects.
func New(opts Options) *Server {
	s := &Server{
		deployment:  opts.Deployment,
		projects:    map[string]Project{},
		issues:      map[string]*issue{},
		seq:         map[string]int{},
		defaultZone: time.UTC,
		pageSize:    opts.PageSize,
		workflow:    opts.Workflow,
		clock:       opts.Now,
	}
	if s.deployment == "" {
		s.deployment = connector.Cloud
	}
	s.Init(errorBody)
	s.Inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.charge(w) { // the point quota (quota.go), inside the faults
			s.Mux.ServeHTTP(w, r)
		}
	})
	if opts.DefaultTimeZone != "" {
		loc, err := time.LoadLocation(opts.DefaultTimeZone)
		if err != nil {
			panic("jira fake: default time zone: " + err.Error())
		}
		s.defaultZone = loc
	}
	if s.pageSize <= 0 {
		s.pageSize = 100
	}
	if s.workflow == nil {
		s.workflow = DefaultWorkflow
	}
	for _, u := range opts.Users {
		s.AddUser(u)
	}
	for _, p := range opts.Projects {
		s.AddProject(p)
	}
	versions := []string{"2"}
	if s.deployment == connector.Cloud {
		versions = append(versions, "3") // Cloud serves v2 and v3; Data Center only v2
	}
	for _, v := range versions {
		prefix := "/rest/api/" + v
		s.Mux.HandleFunc("GET "+prefix+"/serverInfo", s.serverInfo)
		s.Mux.HandleFunc("GET "+prefix+"/myself", s.myself)
		s.Mux.HandleFunc("GET "+prefix+"/project/{projectIdOrKey}", s.project)
		s.routeIssues(prefix)
	}
	if s.deployment != connector.Cloud {
		s.routeDCWebhooks()
	}
	s.Mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fakehttp.JSON(w, http.StatusNotFound, errorCollection("null for uri"))
	})
	return s
}

// AddUser adds (or replaces, by email and name) a user.
func (s *Server) AddUser(u User) {
	s.lock()
	defer s.mu.Unlock()
	for i, old := range s.users {
		if old.Email == u.Email && old.Name == u.Name {
			s.users[i] = u
			return
		}
	}
	s.users = append(s.users, u)
}

// AddProject adds (or replaces, by key) a project.
func (s *Server) AddProject(p Project) {
	s.lock()
	defer s.mu.Unlock()
	if _, ok := s.projects[p.Key]; !ok {
		s.projectOrder = append(s.projectOrder, p.Key)
	}
	s.projects[p.Key] = p
}

// ServeHTTP records the call (Calls), then serves faults first, then the
// quota, then the fake API (fakehttp.Base).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	s.Base.ServeHTTP(w, r)
}

// errorBody is Jira's error collection for a status (FailNext).
func errorBody(status int) string {
	b, _ := json.Marshal(errorCollection(http.StatusText(status)))
	return string(b)
}

// Calls lists the requests received so far as "METHOD /path", in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// RateLimitNext answers the next request with 429, Retry-After (whole
// seconds, rounded up) and RateLimit-Reason, as Jira Cloud does.
func (s *Server) RateLimitNext(retryAfter time.Duration, reason string) {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	if reason != "" {
		h.Set("RateLimit-Reason", reason)
	}
	h.Set("X-RateLimit-Limit", "100")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", s.now().Add(retryAfter).UTC().Format("2006-01-02T15:04Z"))
	s.Faults.Add(faults.Fault{Status: http.StatusTooManyRequests, Header: h, Body: `{"errorMessages":["Rate limit exceeded."],"errors":{}}`})
}

// Start serves the fake on 127.0.0.1 until the test ends and returns its URL
// (its own, not Base's: the call log is kept here). Middleware (e.g. a
// contract validator) wraps it, outermost first.
func (s *Server) Start(tb testing.TB, middleware ...func(http.Handler) http.Handler) string {
	return fakehttp.Start(tb, s, middleware...)
}

// caller is who a request authenticates as: nil for anonymous.
type caller struct{ user *User }

// authenticate applies the vendor's rules: Cloud takes basic email:token;
// Data Center takes a bearer PAT or basic username:password. A request with
// no credentials is anonymous. ok is false when credentials were sent and
// rejected (the handler has answered 401).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	if email, ok := fakehttp.GatewayUser(r); ok && s.deployment == connector.Cloud {
		// OAuth 2.0 through the API gateway fake: it verified the access token.
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, u := range s.users {
			if strings.EqualFold(u.Email, email) && !u.Inactive {
				return caller{user: &s.users[i]}, true
			}
		}
		unauthorized(w, s.deployment)
		return caller{}, false
	}
	if r.Header.Get("Authorization") == "" {
		return caller{}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if login, secret, ok := r.BasicAuth(); ok && secret != "" {
		for i, u := range s.users {
			cloudOK := s.deployment == connector.Cloud && strings.EqualFold(u.Email, login) && u.APIToken == secret
			dcOK := s.deployment != connector.Cloud && u.Name == login && u.Password != "" && u.Password == secret
			if (cloudOK || dcOK) && !u.Inactive {
				return caller{user: &s.users[i]}, true
			}
		}
	}
	if tok, ok := fakehttp.Bearer(r, false); ok && s.deployment != connector.Cloud && tok != "" {
		for i, u := range s.users {
			if u.APIToken == tok && !u.Inactive {
				return caller{user: &s.users[i]}, true
			}
		}
	}
	unauthorized(w, s.deployment)
	return caller{}, false
}

func unauthorized(w http.ResponseWriter, d connector.Deployment) {
	if d != connector.Cloud {
		w.Header().Set("X-Seraph-LoginReason", "AUTHENTICATED_FAILED")
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
	fakehttp.Text(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
}

func (s *Server) myself(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if c.user == nil {
		unauthorized(w, s.deployment)
		return
	}
	fakehttp.JSON(w, http.StatusOK, s.userJSON(r, *c.user, true))
}

// serverInfo answers anyone, as Jira does, unless credentials were sent and rejected.
func (s *Server) serverInfo(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r); !ok {
		return
	}
	info := map[string]any{
		"baseUrl": fakehttp.BaseURL(r), "version": "9.12.2", "versionNumbers": []int{9, 12, 2},
		"deploymentType": "Server", "buildNumber": 9120002, "buildDate": "2026-01-15T00:00:00.000+0000",
		"serverTime": "2026-01-20T10:00:00.000+0000", "scmInfo": "0f3e5c9", "serverTitle": "Jira",
	}
	if s.deployment == connector.Cloud {
		info["version"], info["versionNumbers"], info["deploymentType"] = "1001.0.0-SNAPSHOT", []int{1001, 0, 0}, "Cloud"
		info["buildNumber"] = 100280
	}
	fakehttp.JSON(w, http.StatusOK, info)
}

func (s *Server) project(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	key := r.PathValue("projectIdOrKey")
	s.mu.Lock()
	p, found := s.projects[strings.ToUpper(key)]
	if !found {
		for _, cand := range s.projects {
			if cand.ID == key {
				p, found = cand, true
			}
		}
	}
	s.mu.Unlock()
	if !found || !s.canBrowse(c, p) {
		fakehttp.JSON(w, http.StatusNotFound, errorCollection(fmt.Sprintf("No project could be found with key '%s'.", key)))
		return
	}
	fakehttp.JSON(w, http.StatusOK, s.projectJSON(r, p))
}

func (s *Server) canBrowse(c caller, p Project) bool {
	if c.user == nil {
		return p.Public
	}
	if len(p.Viewers) == 0 {
		return true
	}
	id := c.user.AccountID
	if s.deployment != connector.Cloud {
		id = c.user.Name
	}
	for _, v := range p.Viewers {
		if v == id {
			return true
		}
	}
	return false
}

func errorCollection(msgs ...string) map[string]any {
	return map[string]any{"errorMessages": msgs, "errors": map[string]string{}}
}

func (s *Server) api() string {
	if s.deployment == connector.Cloud {
		return "/rest/api/3"
	}
	return "/rest/api/2"
}

func avatarURLs(base, id string) map[string]string {
	out := map[string]string{}
	for _, size := range []string{"16x16", "24x24", "32x32", "48x48"} {
		out[size] = fmt.Sprintf("%s/secure/useravatar?size=%s&ownerId=%s", base, size, id)
	}
	return out
}

// userJSON renders a user as Cloud (accountId, no name/key) or Data Center
// (name, key, deleted) does; full adds the groups and roles of /myself.
func (s *Server) userJSON(r *http.Request, u User, full bool) map[string]any {
	base := fakehttp.BaseURL(r)
	m := map[string]any{
		"displayName": u.DisplayName,
		"active":      !u.Inactive,
		"timeZone":    s.zoneOf(&u).String(),
	}
	if u.Email != "" {
		m["emailAddress"] = u.Email
	}
	if s.deployment == connector.Cloud {
		m["self"] = base + "/rest/api/3/user?accountId=" + u.AccountID
		m["accountId"] = u.AccountID
		m["accountType"] = "atlassian"
		m["avatarUrls"] = avatarURLs(base, u.AccountID)
	} else {
		m["self"] = base + "/rest/api/2/user?username=" + u.Name
		m["name"] = u.Name
		m["key"] = "JIRAUSER" + u.Name
		m["avatarUrls"] = avatarURLs(base, u.Name)
	}
	if full {
		if s.deployment != connector.Cloud {
			m["deleted"] = false
		}
		m["locale"] = "en_US"
		m["groups"] = map[string]any{"size": 1, "items": []any{}}
		m["applicationRoles"] = map[string]any{"size": 1, "items": []any{}}
		m["expand"] = "groups,applicationRoles"
	}
	return m
}

func (s *Server) projectJSON(r *http.Request, p Project) map[string]any {
	base := fakehttp.BaseURL(r)
	s.mu.Lock()
	var lead map[string]any
	if len(s.users) > 0 {
		lead = s.userJSON(r, s.users[0], false)
	}
	s.mu.Unlock()
	m := map[string]any{
		"expand":       "description,lead,issueTypes,url,projectKeys,permissions,insight",
		"self":         base + s.api() + "/project/" + p.ID,
		"id":           p.ID,
		"key":          p.Key,
		"name":         p.Name,
		"description":  "",
		"assigneeType": "UNASSIGNED",
		"avatarUrls": map[string]string{
			"16x16": base + "/secure/projectavatar?size=xsmall&pid=" + p.ID,
			"24x24": base + "/secure/projectavatar?size=small&pid=" + p.ID,
			"32x32": base + "/secure/projectavatar?size=medium&pid=" + p.ID,
			"48x48": base + "/secure/projectavatar?pid=" + p.ID,
		},
		"components":     []any{},
		"versions":       []any{},
		"roles":          map[string]string{},
		"projectTypeKey": "software",
		"archived":       false,
		"issueTypes": []map[string]any{
			{"self": base + s.api() + "/issuetype/10001", "id": "10001", "name": "Task", "description": "A task.", "iconUrl": base + "/images/icons/task.svg", "subtask": false, "hierarchyLevel": 0},
			{"self": base + s.api() + "/issuetype/10002", "id": "10002", "name": "Sub-task", "description": "A sub-task.", "iconUrl": base + "/images/icons/subtask.svg", "subtask": true, "hierarchyLevel": -1},
		},
	}
	if lead != nil {
		m["lead"] = lead
	}
	if s.deployment == connector.Cloud {
		m["simplified"] = false
		m["style"] = "classic"
		m["isPrivate"] = !p.Public
		m["properties"] = map[string]any{}
	}
	return m
}
