// Package sonarqubefake is an in-memory fake of the SonarQube Web API parts
// connectorhub reads: api/authentication/validate, api/qualitygates/
// project_status and api/issues/search (components, inNewCodePeriod,
// resolved, facets severities/impactSeverities, s=SEVERITY, ps), with user
// tokens sent as Bearer whose Browse permission may be limited to some
// projects. Faults (401, 403, 404, 429, 500, slow, malformed) are served in front.
package sonarqubefake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// Token is a user token. Projects lists the projects its user may browse;
// nil means every project.
type Token struct {
	Value    string
	Projects []string
}

// Condition is one quality gate condition.
type Condition struct {
	Metric, Status, Comparator, Threshold, Actual string
}

// Issue is one issue of a project.
type Issue struct {
	Key      string
	Severity string // BLOCKER, CRITICAL, MAJOR, MINOR, INFO
	Type     string // BUG, VULNERABILITY, CODE_SMELL
	Message  string
	Path     string
	Line     int
	// NewCode: the issue is in the new code period.
	NewCode  bool
	Resolved bool
}

// Project is an analysed project.
type Project struct {
	Key        string
	Gate       string // OK, WARN, ERROR, NONE
	Conditions []Condition
	Issues     []Issue
}

// Options seed the fake.
type Options struct {
	Tokens   []Token
	Projects []Project
}

// Server is the fake.
type Server struct {
	fakehttp.Base // faults, request counter, routes

	mu       sync.Mutex
	tokens   []Token
	projects map[string]Project
}

// New returns a fake seeded with opts.
func New(opts Options) *Server {
	s := &Server{tokens: slices.Clone(opts.Tokens), projects: map[string]Project{}}
	s.Init(errorBody)
	for _, p := range opts.Projects {
		s.projects[p.Key] = p
	}
	s.Mux.HandleFunc("GET /api/authentication/validate", s.validate)
	s.Mux.HandleFunc("GET /api/qualitygates/project_status", s.projectStatus)
	s.Mux.HandleFunc("GET /api/issues/search", s.issues)
	return s
}

// SetProject adds or replaces a project (the seeding API).
func (s *Server) SetProject(p Project) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects[p.Key] = p
}

// AddToken adds a user token.
func (s *Server) AddToken(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, t)
}

// errorBody is SonarQube's error body for status (FailNext).
func errorBody(status int) string {
	return `{"errors":[{"msg":"` + http.StatusText(status) + `"}]}`
}

func sqError(w http.ResponseWriter, status int, msg string) {
	fakehttp.JSON(w, status, map[string]any{"errors": []any{map[string]any{"msg": msg}}})
}

func (s *Server) token(r *http.Request) (Token, bool) {
	v, ok := fakehttp.Bearer(r, false)
	if !ok {
		return Token{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.Value == v {
			return t, true
		}
	}
	return Token{}, false
}

// validate answers 200 {"valid": false} for an unknown token, as SonarQube does.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	_, ok := s.token(r)
	fakehttp.JSON(w, http.StatusOK, map[string]any{"valid": ok})
}

// project authenticates and finds the project named by param.
func (s *Server) project(w http.ResponseWriter, r *http.Request, param string) (Project, bool) {
	t, ok := s.token(r)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized) // SonarQube answers 401 with no body
		return Project{}, false
	}
	key := r.URL.Query().Get(param)
	if key == "" {
		sqError(w, http.StatusBadRequest, "The '"+param+"' parameter is missing")
		return Project{}, false
	}
	s.mu.Lock()
	p, found := s.projects[key]
	s.mu.Unlock()
	switch {
	case !found:
		sqError(w, http.StatusNotFound, "Project '"+key+"' not found")
		return Project{}, false
	case t.Projects != nil && !slices.Contains(t.Projects, key):
		sqError(w, http.StatusForbidden, "Insufficient privileges")
		return Project{}, false
	}
	return p, true
}

func (s *Server) projectStatus(w http.ResponseWriter, r *http.Request) {
	p, ok := s.project(w, r, "projectKey")
	if !ok {
		return
	}
	conds := []any{}
	for _, c := range p.Conditions {
		m := map[string]any{"status": c.Status, "metricKey": c.Metric, "comparator": c.Comparator, "actualValue": c.Actual}
		if c.Threshold != "" {
			m["errorThreshold"] = c.Threshold
		}
		conds = append(conds, m)
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"projectStatus": map[string]any{
		"status": p.Gate, "ignoredConditions": false, "conditions": conds,
		"period": map[string]any{"mode": "PREVIOUS_VERSION", "date": "2026-08-01T00:00:00+0000"},
	}})
}

var severityOrder = []string{"BLOCKER", "CRITICAL", "MAJOR", "MINOR", "INFO"}

func (s *Server) issues(w http.ResponseWriter, r *http.Request) {
	p, ok := s.project(w, r, "components")
	if !ok {
		return
	}
	q := r.URL.Query()
	var sel []Issue
	for _, i := range p.Issues {
		if q.Get("inNewCodePeriod") == "true" && !i.NewCode || q.Get("resolved") == "false" && i.Resolved {
			continue
		}
		sel = append(sel, i)
	}
	if q.Get("s") == "SEVERITY" {
		desc := q.Get("asc") == "false"
		slices.SortStableFunc(sel, func(a, b Issue) int {
			d := slices.Index(severityOrder, a.Severity) - slices.Index(severityOrder, b.Severity)
			if !desc {
				d = -d
			}
			return d
		})
	}
	ps, _ := strconv.Atoi(q.Get("ps"))
	if ps <= 0 || ps > 500 {
		ps = 100
	}
	page := sel[:min(ps, len(sel))]
	items := []any{}
	for _, i := range page {
		items = append(items, map[string]any{
			"key": i.Key, "rule": "go:S1234", "component": p.Key + ":" + i.Path, "project": p.Key,
			"severity": i.Severity, "type": i.Type, "message": i.Message, "line": i.Line, "status": "OPEN", "issueStatus": "OPEN",
			"impacts":      []any{map[string]any{"softwareQuality": quality(i.Type), "severity": impact(i.Severity)}},
			"creationDate": "2026-08-18T14:00:00+0000", "updateDate": "2026-08-18T14:00:00+0000", "tags": []string{},
		})
	}
	var facets []any
	for _, f := range strings.Split(q.Get("facets"), ",") {
		counts := map[string]int{}
		var order []string
		switch f {
		case "severities":
			order = severityOrder
			for _, i := range sel {
				counts[i.Severity]++
			}
		case "impactSeverities":
			order = []string{"BLOCKER", "HIGH", "MEDIUM", "LOW", "INFO"}
			for _, i := range sel {
				counts[impact(i.Severity)]++
			}
		default:
			continue
		}
		vals := []any{}
		for _, v := range order {
			vals = append(vals, map[string]any{"val": v, "count": counts[v]})
		}
		facets = append(facets, map[string]any{"property": f, "values": vals})
	}
	out := map[string]any{
		"paging": map[string]any{"pageIndex": 1, "pageSize": ps, "total": len(sel)},
		"issues": items, "components": []any{map[string]any{"key": p.Key, "enabled": true, "qualifier": "TRK", "name": p.Key, "longName": p.Key}},
	}
	if facets != nil {
		out["facets"] = facets
	}
	fakehttp.JSON(w, http.StatusOK, out)
}

func quality(typ string) string {
	switch typ {
	case "BUG":
		return "RELIABILITY"
	case "VULNERABILITY":
		return "SECURITY"
	}
	return "MAINTAINABILITY"
}

func impact(sev string) string {
	switch sev {
	case "BLOCKER":
		return "BLOCKER"
	case "CRITICAL":
		return "HIGH"
	case "MAJOR":
		return "MEDIUM"
	case "MINOR":
		return "LOW"
	}
	return "INFO"
}
