package gitlabfake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// Project hooks: POST/GET /api/v4/projects/:id/hooks and DELETE
// /api/v4/projects/:id/hooks/:hook_id, Maintainer role and the api scope
// (403 otherwise, as GitLab answers). A hook with issues_events or
// note_events gets a delivery carrying its token (X-Gitlab-Token) and a
// fresh X-Gitlab-Event-UUID / Idempotency-Key after a person changes an
// issue through the fake's own methods (AddIssue, Touch, Close, Unassign,
// SetLabels, AddNote) or through the API (PUT /issues/:iid, POST
// /issues/:iid/notes), as GitLab sends for either.

func (s *Server) routeHooks() {
	s.Mux.HandleFunc("POST /api/v4/projects/{id}/hooks", s.createHook)
	s.Mux.HandleFunc("GET /api/v4/projects/{id}/hooks", s.listHooks)
	s.Mux.HandleFunc("DELETE /api/v4/projects/{id}/hooks/{hook_id}", s.deleteHook)
}

// hookCreate is the part of postApiV4ProjectsIdHooks the fake reads.
type hookCreate struct {
	URL                   string `json:"url"`
	Token                 string `json:"token"`
	IssuesEvents          *bool  `json:"issues_events"`
	NoteEvents            *bool  `json:"note_events"`
	MergeRequestsEvents   *bool  `json:"merge_requests_events"`
	PushEvents            *bool  `json:"push_events"`
	EnableSSLVerification *bool  `json:"enable_ssl_verification"`
}

type projectHook struct {
	fakehttp.Hook
	projectID int64
	in        hookCreate
	created   time.Time
}

func (s *Server) hookAccess(w http.ResponseWriter, r *http.Request) (access, bool) {
	a, ok := s.projectAccess(w, r, true)
	if !ok {
		return a, false
	}
	if a.level < Maintainer {
		forbidden(w)
		return a, false
	}
	return a, true
}

func (s *Server) createHook(w http.ResponseWriter, r *http.Request) {
	a, ok := s.hookAccess(w, r)
	if !ok {
		return
	}
	var in hookCreate
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "body is not valid JSON"})
		return
	}
	if in.URL == "" {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "url is missing"})
		return
	}
	on := func(b *bool, def bool) bool {
		if b == nil {
			return def
		}
		return *b
	}
	var events []string
	if on(in.IssuesEvents, false) {
		events = append(events, "issues_events")
	}
	if on(in.NoteEvents, false) {
		events = append(events, "note_events")
	}
	if on(in.MergeRequestsEvents, false) {
		events = append(events, "merge_requests_events")
	}
	if on(in.PushEvents, true) {
		events = append(events, "push_events")
	}
	s.mu.Lock()
	s.lastHook++
	h := &projectHook{Hook: fakehttp.Hook{ID: s.lastHook, URL: in.URL, Secret: []byte(in.Token), Events: events, Active: true},
		projectID: a.project.ID, in: in, created: time.Now().UTC()}
	s.hooks = append(s.hooks, h)
	s.mu.Unlock()
	fakehttp.JSON(w, http.StatusCreated, hookJSON(h))
}

func (s *Server) listHooks(w http.ResponseWriter, r *http.Request) {
	a, ok := s.hookAccess(w, r)
	if !ok {
		return
	}
	out := []map[string]any{}
	s.mu.Lock()
	for _, h := range s.hooks {
		if h.projectID == a.project.ID {
			out = append(out, hookJSON(h))
		}
	}
	s.mu.Unlock()
	fakehttp.JSON(w, http.StatusOK, out)
}

func (s *Server) deleteHook(w http.ResponseWriter, r *http.Request) {
	a, ok := s.hookAccess(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("hook_id"), 10, 64)
	s.mu.Lock()
	n := len(s.hooks)
	s.hooks = slices.DeleteFunc(s.hooks, func(h *projectHook) bool { return err == nil && h.ID == id && h.projectID == a.project.ID })
	gone := len(s.hooks) < n
	s.mu.Unlock()
	if !gone {
		fakehttp.JSON(w, http.StatusNotFound, map[string]string{"message": "404 Not Found"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// hookJSON is API_Entities_ProjectHook (the token is never sent back).
func hookJSON(h *projectHook) map[string]any {
	has := func(e string) bool { return slices.Contains(h.Events, e) }
	return map[string]any{
		"id": h.ID, "url": h.URL, "project_id": h.projectID, "created_at": h.created.Format(time.RFC3339Nano),
		"issues_events": has("issues_events"), "note_events": has("note_events"),
		"merge_requests_events": has("merge_requests_events"), "push_events": has("push_events"),
		"confidential_issues_events": false, "confidential_note_events": false, "tag_push_events": false,
		"job_events": false, "pipeline_events": false, "wiki_page_events": false, "releases_events": false,
		"enable_ssl_verification": h.in.EnableSSLVerification == nil || *h.in.EnableSSLVerification,
		"alert_status":            "executable", "disabled_until": nil, "url_variables": []any{}, "custom_headers": []any{},
	}
}

// Hooks returns the project hooks registered (tokens included, for tests).
func (s *Server) Hooks() []fakehttp.Hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fakehttp.Hook
	for _, h := range s.hooks {
		out = append(out, h.Hook)
	}
	return out
}

// WebhookAnswers are the receiver's answer times so far and how many
// deliveries it refused (it waits for those under way).
func (s *Server) WebhookAnswers() ([]time.Duration, int) { return s.sender.Answers() }

// deliver sends an Issue Hook (or a Note Hook when note) about issue iid to
// the hooks of its project that selected it. Callers do not hold s.mu.
func (s *Server) deliver(iid int64, action string, note bool) {
	s.mu.Lock()
	is := s.issueLocked(iid)
	if is == nil {
		s.mu.Unlock()
		return
	}
	var p Project
	for _, cand := range s.projects {
		if cand.ID == is.ProjectID {
			p = cand
		}
	}
	var hooks []*projectHook
	for _, h := range s.hooks {
		if h.projectID == p.ID {
			hooks = append(hooks, h)
		}
	}
	project := map[string]any{"id": p.ID, "name": p.Name, "path_with_namespace": p.Path, "visibility_level": 0}
	issue := map[string]any{"id": is.IID + 1000, "iid": is.IID, "title": is.Title, "state": is.State, "action": action,
		"updated_at": is.Updated.Format("2006-01-02 15:04:05 UTC"), "project_id": p.ID}
	s.mu.Unlock()
	event, header := "issues_events", "Issue Hook"
	payload := map[string]any{"object_kind": "issue", "event_type": "issue", "project": project, "object_attributes": issue,
		"user": map[string]any{"username": "fake"}}
	if note {
		event, header = "note_events", "Note Hook"
		payload = map[string]any{"object_kind": "note", "event_type": "note", "project": project,
			"object_attributes": map[string]any{"noteable_type": "Issue", "action": "create"}, "issue": issue,
			"user": map[string]any{"username": "fake"}}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return
	}
	for _, h := range hooks {
		if !h.Active || !slices.Contains(h.Events, event) {
			continue
		}
		id := fakehttp.DeliveryID()
		hdr := http.Header{}
		hdr.Set("X-Gitlab-Event", header)
		hdr.Set("X-Gitlab-Token", string(h.Secret))
		hdr.Set("X-Gitlab-Event-UUID", id)
		hdr.Set("Idempotency-Key", id)
		hdr.Set("X-Gitlab-Webhook-UUID", strconv.FormatInt(h.ID, 10))
		hdr.Set("User-Agent", "GitLab/fake")
		s.sender.Send(h.URL, body, hdr)
	}
}

// notesDelivering wraps the note API handler: once it answered 2xx (and
// let go of s.mu), a Note Hook is delivered.
func (s *Server) notesDelivering(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		if sw.code/100 != 2 {
			return
		}
		if iid, err := strconv.ParseInt(r.PathValue("iid"), 10, 64); err == nil {
			s.deliver(iid, "", true)
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
