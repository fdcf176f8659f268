// Package jenkinsfake is an in-memory fake of the Jenkins JSON API parts
// connectorhub reads: GET /me/api/json and GET /job/<a>/job/<b>/api/json
// (folders nest), honouring the tree parameter's {from,to} range on builds,
// with users authenticated by basic auth (user id and API token) who may
// read only some jobs (Jenkins answers 404 for the others). Faults (401,
// 403, 404, 429, 500, slow, malformed) are served in front.
package jenkinsfake

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// User is a Jenkins user with an API token. Jobs lists the job paths it may
// read; nil means every job. NoOverallRead: the user lacks Overall/Read.
type User struct {
	ID, FullName, Token string
	Jobs                []string
	NoOverallRead       bool
}

// Build is one build of a job.
type Build struct {
	Result   string // SUCCESS, FAILURE, UNSTABLE, ABORTED, NOT_BUILT; "" while building
	Started  time.Time
	Duration time.Duration
	Commit   string
}

// Options seed the fake.
type Options struct {
	Users []User
}

// Server is the fake.
type Server struct {
	fakehttp.Base // faults, request counter, routes

	mu    sync.Mutex
	users []User
	jobs  map[string][]Build // job path → builds, oldest first
}

// New returns a fake seeded with opts.
func New(opts Options) *Server {
	s := &Server{users: slices.Clone(opts.Users), jobs: map[string][]Build{}}
	s.Init(nil)
	s.Mux.HandleFunc("GET /me/api/json", s.me)
	s.Mux.HandleFunc("GET /job/", s.job)
	return s
}

// AddJob creates a job (folder/job) with no builds.
func (s *Server) AddJob(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[path]; !ok {
		s.jobs[path] = nil
	}
}

// AddBuild appends a build to a job, creating it (the seeding API), and
// returns the build number.
func (s *Server) AddBuild(path string, b Build) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Started.IsZero() {
		b.Started = time.Now().UTC()
	}
	s.jobs[path] = append(s.jobs[path], b)
	return len(s.jobs[path])
}

// FailNext makes the next n answers status (Jenkins sends HTML error pages).
func (s *Server) FailNext(n, status int) {
	s.Faults.Add(faults.Fault{Times: n, Status: status, Header: http.Header{"Content-Type": {"text/html;charset=utf-8"}},
		Body: "<html><body><h2>HTTP ERROR " + strconv.Itoa(status) + "</h2></body></html>"})
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) (User, bool) {
	id, tok, ok := r.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if ok && u.ID == id && u.Token == tok {
			if u.NoOverallRead {
				http.Error(w, id+" is missing the Overall/Read permission", http.StatusForbidden)
				return User{}, false
			}
			return u, true
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
	http.Error(w, "Invalid password/token for user: "+id, http.StatusUnauthorized)
	return User{}, false
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	u, ok := s.user(w, r)
	if !ok {
		return
	}
	base := fakehttp.BaseURL(r)
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"_class": "hudson.model.User", "absoluteUrl": base + "/user/" + u.ID, "description": nil, "fullName": u.FullName, "id": u.ID,
		"property": []any{map[string]any{"_class": "jenkins.security.ApiTokenProperty"}},
	})
}

// jobPathRE matches /job/a/job/b/api/json.
var jobPathRE = regexp.MustCompile(`^((?:/job/[^/]+)+)/api/json$`)

// rangeRE reads the builds range of a tree: builds[...]{from,to}.
var rangeRE = regexp.MustCompile(`builds\[.*\]\{(\d*),(\d*)\}`)

func (s *Server) job(w http.ResponseWriter, r *http.Request) {
	u, ok := s.user(w, r)
	if !ok {
		return
	}
	m := jobPathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	path := strings.TrimPrefix(strings.ReplaceAll(m[1], "/job/", "/"), "/")
	s.mu.Lock()
	builds, found := s.jobs[path]
	builds = slices.Clone(builds)
	s.mu.Unlock()
	if !found || u.Jobs != nil && !slices.Contains(u.Jobs, path) {
		http.NotFound(w, r) // Jenkins hides jobs the user may not read
		return
	}
	from, to := 0, 100 // Jenkins lists the newest 100 builds
	if rm := rangeRE.FindStringSubmatch(r.URL.Query().Get("tree")); rm != nil {
		if v, err := strconv.Atoi(rm[1]); err == nil {
			from = v
		}
		if v, err := strconv.Atoi(rm[2]); err == nil {
			to = v
		}
	}
	base := fakehttp.BaseURL(r)
	jobURL := base + m[1] + "/"
	items := []any{}
	for i := len(builds) - 1 - from; i >= 0 && len(builds)-1-i < to; i-- {
		b := builds[i]
		n := i + 1
		var result any
		if b.Result != "" {
			result = b.Result
		}
		cs := []any{}
		if b.Commit != "" {
			cs = append(cs, map[string]any{"_class": "hudson.plugins.git.GitChangeSetList", "kind": "git", "items": []any{map[string]any{"commitId": b.Commit}}})
		}
		items = append(items, map[string]any{
			"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": n, "url": fmt.Sprintf("%s%d/", jobURL, n), "result": result,
			"building": b.Result == "", "inProgress": b.Result == "", "timestamp": b.Started.UnixMilli(), "duration": b.Duration.Milliseconds(), "changeSets": cs,
		})
	}
	color := "notbuilt"
	if len(builds) > 0 {
		switch last := builds[len(builds)-1]; last.Result {
		case "SUCCESS":
			color = "blue"
		case "FAILURE":
			color = "red"
		case "UNSTABLE":
			color = "yellow"
		case "":
			color = "blue_anime"
		default:
			color = "aborted"
		}
	}
	name := path[strings.LastIndex(path, "/")+1:]
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": name, "fullName": path, "url": jobURL, "color": color, "builds": items,
	})
}
