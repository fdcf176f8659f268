// Package confluence is an in-memory fake of the Confluence REST API v1:
// Cloud (under /wiki, email + API token over basic auth) or Data Center
// (under the root, PAT bearer or username + password).
//
// It serves the current user, CQL search (GET /rest/api/search) over spaces
// and pages with the subset of CQL connectorhub sends (see cql.go), pagination
// through _links.next (a cursor on Cloud, start on Data Center), page bodies
// (Cloud REST v2 GET /wiki/api/v2/pages/{id}, Data Center GET
// /rest/api/content/{id}?expand=body.storage), and injected faults. Responses
// follow the vendor shapes; pkg/fakes/confluence's contract tests check them.
package confluencefake

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
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
	Pages      []Page
	// MaxLimit caps the results of one search page, as Confluence caps
	// limit; DefaultMaxLimit when 0.
	MaxLimit int
}

// DefaultMaxLimit is the largest search page the fake serves by default.
const DefaultMaxLimit = 50

// Server is a fake Confluence. It is an http.Handler; Start serves it.
type Server struct {
	fakehttp.Base // faults in front of every endpoint, request counter, routes

	deployment connector.Deployment
	searches   atomic.Int64
	pageReads  atomic.Int64
	maxLimit   int

	mu     sync.Mutex
	users  []User
	spaces []Space
	pages  []Page
}

// New returns a fake holding the given users and spaces.
func New(opts Options) *Server {
	s := &Server{deployment: opts.Deployment, maxLimit: opts.MaxLimit}
	s.Init(nil)
	if s.deployment == "" {
		s.deployment = connector.Cloud
	}
	if s.maxLimit <= 0 {
		s.maxLimit = DefaultMaxLimit
	}
	for _, u := range opts.Users {
		s.AddUser(u)
	}
	for _, sp := range opts.Spaces {
		s.AddSpace(sp)
	}
	for _, pg := range opts.Pages {
		s.AddPage(pg)
	}
	p := s.prefix()
	s.Mux.HandleFunc("GET "+p+"/rest/api/user/current", s.currentUser)
	s.Mux.HandleFunc("GET "+p+"/rest/api/search", s.search)
	if s.deployment == connector.Cloud {
		s.Mux.HandleFunc("GET /wiki/api/v2/pages/{id}", s.pageV2)
	} else {
		s.Mux.HandleFunc("GET /rest/api/content/{id}", s.contentV1)
	}
	s.Mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
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

// Searches is the number of search requests the fake answered itself
// (requests a fault answered are not counted).
func (s *Server) Searches() int { return int(s.searches.Load()) }

// PageReads is the number of page-body requests the fake answered itself.
func (s *Server) PageReads() int { return int(s.pageReads.Load()) }

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Protected"`)
	fakehttp.JSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "Current user not permitted to use Confluence", "data": map[string]any{"authorized": false, "valid": true, "errors": []any{}, "successful": false}})
}

// authenticate applies the vendor's rules (see package doc). Requests without
// credentials are refused: the fake models a site without anonymous access.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if email, ok := fakehttp.GatewayUser(r); ok && s.deployment == connector.Cloud {
		// OAuth 2.0 through the API gateway fake: it verified the access token.
		for _, u := range s.users {
			if strings.EqualFold(u.Email, email) {
				return u, true
			}
		}
		unauthorized(w)
		return User{}, false
	}
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
