// Package confluence is an in-memory fake of the Confluence REST API v1:
// Cloud (under /wiki, email + API token over basic auth) or Data Center
// (under the root, PAT bearer or username + password).
//
// Today it serves the current user and CQL search over spaces (what a
// connection test uses); pages, their bodies and text search come with the
// knowledge-service issues.
package confluence

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/fakes/faults"
	"github.com/connectorhub/connectorhub/pkg/fakes/internal/fakehttp"
)

// User is a Confluence account and its credentials.
type User struct {
	AccountID   string // Cloud
	Username    string // Data Center
	Email       string
	DisplayName string
	APIToken    string // Cloud API token (basic with Email) or Data Center PAT (bearer)
	Password    string // Data Center password (basic with Username)
}

// Space is a Confluence space.
type Space struct {
	ID   int64
	Key  string
	Name string
	// Viewers lists who can see it (account ids on Cloud, usernames on Data
	// Center); empty means every logged-in user.
	Viewers []string
}

// Options configure the fake.
type Options struct {
	Deployment connector.Deployment // Cloud when empty
	Users      []User
	Spaces     []Space
}

// Server is a fake Confluence. It is an http.Handler; Start serves it.
type Server struct {
	// Faults are served in front of every endpoint.
	Faults faults.Injector

	deployment connector.Deployment
	mux        *http.ServeMux
	requests   fakehttp.Counter

	mu     sync.Mutex
	users  []User
	spaces []Space
}

// New returns a fake holding the given users and spaces.
func New(opts Options) *Server {
	s := &Server{deployment: opts.Deployment, mux: http.NewServeMux()}
	if s.deployment == "" {
		s.deployment = connector.Cloud
	}
	for _, u := range opts.Users {
		s.AddUser(u)
	}
	for _, sp := range opts.Spaces {
		s.AddSpace(sp)
	}
	p := s.prefix()
	s.mux.HandleFunc("GET "+p+"/rest/api/user/current", s.currentUser)
	s.mux.HandleFunc("GET "+p+"/rest/api/search", s.search)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fakehttp.JSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "message": "null for uri", "data": map[string]any{"authorized": false, "valid": true, "errors": []any{}, "successful": false}})
	})
	return s
}

// prefix is where the REST API lives: /wiki on Cloud, the root on Data Center.
func (s *Server) prefix() string {
	if s.deployment == connector.Cloud {
		return "/wiki"
	}
	return ""
}

// AddUser adds a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append(s.users, u)
}

// AddSpace adds or replaces (by key) a space.
func (s *Server) AddSpace(sp Space) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.spaces {
		if strings.EqualFold(old.Key, sp.Key) {
			s.spaces[i] = sp
			return
		}
	}
	s.spaces = append(s.spaces, sp)
}

// ServeHTTP serves faults first, then the fake API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Wrap(s.Faults.Wrap(s.mux)).ServeHTTP(w, r)
}

// Start serves the fake on 127.0.0.1 until the test ends and returns its URL.
func (s *Server) Start(tb testing.TB, middleware ...func(http.Handler) http.Handler) string {
	return fakehttp.Start(tb, s, middleware...)
}

// Requests is the number of requests the fake received (faults included).
func (s *Server) Requests() int { return s.requests.Count() }

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Protected"`)
	fakehttp.JSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "Current user not permitted to use Confluence", "data": map[string]any{"authorized": false, "valid": true, "errors": []any{}, "successful": false}})
}

// authenticate applies the vendor's rules (see package doc). Requests without
// credentials are refused: the fake models a site without anonymous access.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if login, secret, ok := r.BasicAuth(); ok && secret != "" {
		for _, u := range s.users {
			cloudOK := s.deployment == connector.Cloud && strings.EqualFold(u.Email, login) && u.APIToken == secret
			dcOK := s.deployment != connector.Cloud && u.Username == login && u.Password != "" && u.Password == secret
			if cloudOK || dcOK {
				return u, true
			}
		}
	}
	if tok, ok := fakehttp.Bearer(r, false); ok && tok != "" && s.deployment != connector.Cloud {
		for _, u := range s.users {
			if u.APIToken == tok {
				return u, true
			}
		}
	}
	unauthorized(w)
	return User{}, false
}

func (s *Server) currentUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	base := fakehttp.BaseURL(r) + s.prefix()
	m := map[string]any{
		"type":           "known",
		"displayName":    u.DisplayName,
		"profilePicture": map[string]any{"path": "/images/icons/profilepics/default.svg", "width": 48, "height": 48, "isDefault": true},
		"_expandable":    map[string]string{"operations": "", "personalSpace": ""},
	}
	if s.deployment == connector.Cloud {
		m["accountId"] = u.AccountID
		m["accountType"] = "atlassian"
		m["email"] = u.Email
		m["publicName"] = u.DisplayName
		m["isExternalCollaborator"] = false
		m["_links"] = map[string]string{"self": base + "/rest/api/user?accountId=" + u.AccountID, "base": base, "context": s.prefix()}
	} else {
		m["username"] = u.Username
		m["userKey"] = "8a8b8c8d" + u.Username
		m["_links"] = map[string]string{"self": base + "/rest/api/user?key=8a8b8c8d" + u.Username, "base": base, "context": s.prefix()}
	}
	fakehttp.JSON(w, http.StatusOK, m)
}

func (s *Server) canSee(u User, sp Space) bool {
	if len(sp.Viewers) == 0 {
		return true
	}
	id := u.AccountID
	if s.deployment != connector.Cloud {
		id = u.Username
	}
	return slices.Contains(sp.Viewers, id)
}

// cqlClause is `field = "value"` or `field = value`.
var cqlClause = regexp.MustCompile(`^\s*([A-Za-z.]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"()]+))\s*$`)

// parseCQL understands the subset the connectors send today: clauses joined
// by AND on the fields type and space. Anything else is a 400, as Confluence
// answers a query it cannot parse.
func parseCQL(cql string) (map[string]string, error) {
	out := map[string]string{}
	for clause := range strings.SplitSeq(regexp.MustCompile(`(?i)\s+AND\s+`).ReplaceAllString(cql, "\x00"), "\x00") {
		m := cqlClause.FindStringSubmatch(clause)
		if m == nil {
			return nil, fmt.Errorf("cannot parse clause %q", strings.TrimSpace(clause))
		}
		field := strings.ToLower(m[1])
		if field != "type" && field != "space" && field != "space.key" {
			return nil, fmt.Errorf("unsupported field %q", m[1])
		}
		if field == "space.key" {
			field = "space"
		}
		v := m[2]
		if v == "" {
			v = m[3]
		}
		out[field] = strings.ReplaceAll(v, `\"`, `"`)
	}
	return out, nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	cql := q.Get("cql")
	if cql == "" {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "com.atlassian.confluence.api.service.exceptions.BadRequestException: cql query parameter is required"})
		return
	}
	where, err := parseCQL(cql)
	if err != nil {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "Could not parse cql : " + err.Error()})
		return
	}
	limit := 25
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l >= 0 {
		limit = l
	}
	start := 0
	if st, err := strconv.Atoi(q.Get("start")); err == nil && st >= 0 {
		start = st
	}

	base := fakehttp.BaseURL(r) + s.prefix()
	var all []map[string]any
	if t, ok := where["type"]; !ok || t == "space" {
		s.mu.Lock()
		for _, sp := range s.spaces {
			if key, ok := where["space"]; ok && !strings.EqualFold(key, sp.Key) {
				continue
			}
			if s.canSee(u, sp) {
				all = append(all, spaceResult(base, s.prefix(), sp))
			}
		}
		s.mu.Unlock()
	}
	page := []map[string]any{}
	for i := start; i < len(all) && len(page) < limit; i++ {
		page = append(page, all[i])
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"results": page, "start": start, "limit": limit, "size": len(page), "totalSize": len(all),
		"cqlQuery": cql, "searchDuration": 3,
		"_links": map[string]string{"base": base, "context": s.prefix()},
	})
}

func spaceResult(base, context string, sp Space) map[string]any {
	ui := "/spaces/" + sp.Key
	return map[string]any{
		"space": map[string]any{
			"id": sp.ID, "key": sp.Key, "name": sp.Name, "type": "global", "status": "current",
			"_expandable": map[string]string{"settings": "/rest/api/space/" + sp.Key + "/settings", "homepage": "", "lookAndFeel": ""},
			"_links":      map[string]string{"webui": ui, "self": base + "/rest/api/space/" + sp.Key},
		},
		"title": sp.Name, "excerpt": "", "url": ui, "breadcrumbs": []any{}, "entityType": "space",
		"iconCssClass": "aui-icon content-type-space", "lastModified": "2020-01-02T03:04:05.000Z",
		"friendlyLastModified": "Jan 02, 2020", "score": 1.0,
	}
}
