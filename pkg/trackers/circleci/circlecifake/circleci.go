// Package circlecifake is an in-memory fake of the CircleCI API v2 parts
// connectorhub reads: GET /api/v2/me, GET /api/v2/project/{slug}/pipeline
// (newest first, 20 a page), GET /api/v2/pipeline/{id}/workflow and GET
// /api/v2/workflow/{id}/job, with personal tokens sent as Circle-Token
// whose user may see only some projects. Faults (401, 403, 404, 429, 500, slow,
// malformed) are served in front.
package circlecifake

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// Token is a personal API token. Projects lists the slugs its user may
// view; nil means every project.
type Token struct {
	Value, Login string
	Projects     []string
}

// Job is one job of a workflow.
type Job struct {
	Name   string
	Status string // success, failed, running, ...
}

// Workflow is one workflow of a pipeline.
type Workflow struct {
	Name   string
	Status string // success, failed, running, canceled, ...
	Jobs   []Job
}

// Pipeline is a pipeline run to seed.
type Pipeline struct {
	Branch, Revision string
	Created          time.Time
	// Errored, when set, is a configuration error: the pipeline has no workflows.
	Errored   string
	Workflows []Workflow
}

// Options seed the fake.
type Options struct {
	Tokens []Token
	// Projects are the slugs that exist.
	Projects []string
}

type pipelineState struct {
	Pipeline
	id, slug string
	number   int64
	wfIDs    []string
}

// Server is the fake.
type Server struct {
	fakehttp.Base // faults, request counter, routes

	mu        sync.Mutex
	tokens    []Token
	projects  map[string]bool
	pipelines []*pipelineState // in creation order
	seq       int
}

// New returns a fake seeded with opts.
func New(opts Options) *Server {
	s := &Server{tokens: slices.Clone(opts.Tokens), projects: map[string]bool{}}
	s.Init(errorBody)
	for _, p := range opts.Projects {
		s.projects[p] = true
	}
	s.Mux.HandleFunc("GET /api/v2/me", s.me)
	s.Mux.HandleFunc("GET /api/v2/project/", s.projectPipelines) // the slug holds slashes
	s.Mux.HandleFunc("GET /api/v2/pipeline/{id}/workflow", s.workflows)
	s.Mux.HandleFunc("GET /api/v2/workflow/{id}/job", s.jobs)
	return s
}

// AddProject makes a project slug exist.
func (s *Server) AddProject(slug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects[slug] = true
}

// AddPipeline records a pipeline run of slug (the seeding API) and returns
// its number. The project is created when missing.
func (s *Server) AddPipeline(slug string, p Pipeline) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects[slug] = true
	if p.Created.IsZero() {
		p.Created = time.Now().UTC()
	}
	var n int64 = 1
	for _, q := range s.pipelines {
		if q.slug == slug {
			n = max(n, q.number+1)
		}
	}
	st := &pipelineState{Pipeline: p, id: s.uuid(), slug: slug, number: n}
	for range p.Workflows {
		st.wfIDs = append(st.wfIDs, s.uuid())
	}
	s.pipelines = append(s.pipelines, st)
	return n
}

// uuid makes a deterministic UUID-shaped id.
func (s *Server) uuid() string {
	s.seq++
	return fmt.Sprintf("5034460f-c7c4-4c43-9457-%012x", s.seq)
}

// errorBody is CircleCI's error body for status (FailNext).
func errorBody(status int) string {
	return `{"message":"` + http.StatusText(status) + `"}`
}

func message(w http.ResponseWriter, status int, msg string) {
	fakehttp.JSON(w, status, map[string]any{"message": msg})
}

// token authenticates by Circle-Token (the API also takes basic auth and a
// query parameter; connectorhub sends the header).
func (s *Server) token(w http.ResponseWriter, r *http.Request) (Token, bool) {
	v := r.Header.Get("Circle-Token")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if v != "" && t.Value == v {
			return t, true
		}
	}
	message(w, http.StatusUnauthorized, "You must log in first.")
	return Token{}, false
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(w, r)
	if !ok {
		return
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"id": "a68942a2-d2c4-4b5d-9e0a-" + fmt.Sprintf("%012x", len(t.Login)), "login": t.Login, "name": t.Login, "avatar_url": "https://avatars.example.com/" + t.Login})
}

func (s *Server) visible(t Token, slug string) bool {
	return s.projects[slug] && (t.Projects == nil || slices.Contains(t.Projects, slug))
}

func (s *Server) projectPipelines(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(w, r)
	if !ok {
		return
	}
	slug, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/api/v2/project/"), "/pipeline")
	if !ok {
		http.NotFound(w, r)
		return
	}
	branch := r.URL.Query().Get("branch")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.visible(t, slug) {
		// CircleCI does not tell a project it hides from one that does not exist.
		message(w, http.StatusNotFound, "Project not found")
		return
	}
	items := []any{}
	for i := len(s.pipelines) - 1; i >= 0 && len(items) < 20; i-- {
		p := s.pipelines[i]
		if p.slug != slug || branch != "" && p.Branch != branch {
			continue
		}
		state, errs := "created", []any{}
		if p.Errored != "" {
			state = "errored"
			errs = append(errs, map[string]any{"type": "config", "message": p.Errored})
		}
		ts := p.Created.UTC().Format(time.RFC3339)
		items = append(items, map[string]any{
			"id": p.id, "errors": errs, "project_slug": slug, "updated_at": ts, "number": p.number, "state": state, "created_at": ts,
			"trigger": map[string]any{"type": "webhook", "received_at": ts, "actor": map[string]any{"login": t.Login, "avatar_url": "https://avatars.example.com/" + t.Login}},
			"vcs": map[string]any{
				"provider_name": "GitHub", "origin_repository_url": "https://github.com/" + repoOf(slug), "target_repository_url": "https://github.com/" + repoOf(slug),
				"revision": p.Revision, "branch": p.Branch, "commit": map[string]any{"subject": "Change on " + p.Branch, "body": ""},
			},
		})
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"items": items, "next_page_token": nil})
}

func repoOf(slug string) string {
	parts := strings.SplitN(slug, "/", 2)
	return parts[len(parts)-1]
}

func (s *Server) workflows(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pipelines {
		if p.id != id || !s.visible(t, p.slug) {
			continue
		}
		items := []any{}
		for i, wf := range p.Workflows {
			m := map[string]any{
				"pipeline_id": p.id, "id": p.wfIDs[i], "name": wf.Name, "project_slug": p.slug, "status": wf.Status,
				"started_by": "a68942a2-d2c4-4b5d-9e0a-000000000001", "pipeline_number": p.number,
				"created_at": p.Created.UTC().Format(time.RFC3339), "stopped_at": nil,
			}
			if wf.Status != "running" && wf.Status != "on_hold" {
				m["stopped_at"] = p.Created.Add(4 * time.Minute).UTC().Format(time.RFC3339)
			}
			items = append(items, m)
		}
		fakehttp.JSON(w, http.StatusOK, map[string]any{"items": items, "next_page_token": nil})
		return
	}
	message(w, http.StatusNotFound, "Pipeline not found")
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pipelines {
		for i, wid := range p.wfIDs {
			if wid != id || !s.visible(t, p.slug) {
				continue
			}
			items := []any{}
			for n, j := range p.Workflows[i].Jobs {
				items = append(items, map[string]any{
					"dependencies": []string{}, "job_number": p.number*100 + int64(n), "id": fmt.Sprintf("%s-%08x%04x", wid[:23], p.number, n),
					"started_at": p.Created.UTC().Format(time.RFC3339), "name": j.Name, "project_slug": p.slug, "status": j.Status, "type": "build",
					"stopped_at": p.Created.Add(3 * time.Minute).UTC().Format(time.RFC3339),
				})
			}
			fakehttp.JSON(w, http.StatusOK, map[string]any{"items": items, "next_page_token": nil})
			return
		}
	}
	message(w, http.StatusNotFound, "Workflow not found")
}
