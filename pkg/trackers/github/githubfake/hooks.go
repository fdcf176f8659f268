package githubfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// Repository hooks: POST/GET /repos/{owner}/{repo}/hooks and DELETE
// /repos/{owner}/{repo}/hooks/{hook_id}, admin role only (GitHub: "Resource
// not accessible" otherwise). A registered, active hook gets a signed
// delivery (X-Hub-Signature-256 over the body, a fresh X-GitHub-Delivery)
// after a person changes an issue through the fake's own methods (AddIssue,
// Touch, Close, Unassign, AddComment, Delete) or through the API (issue
// edits, labels, comments), as GitHub sends for either.

func (s *Server) routeHooks() {
	s.Mux.HandleFunc("POST /repos/{owner}/{repo}/hooks", s.createHook)
	s.Mux.HandleFunc("GET /repos/{owner}/{repo}/hooks", s.listHooks)
	s.Mux.HandleFunc("DELETE /repos/{owner}/{repo}/hooks/{hook_id}", s.deleteHook)
}

// hookCreate is the request body of "create a repository webhook".
type hookCreate struct {
	Name   string `json:"name"`
	Config *struct {
		URL         string          `json:"url"`
		ContentType string          `json:"content_type"`
		Secret      string          `json:"secret"`
		InsecureSSL json.RawMessage `json:"insecure_ssl"`
	} `json:"config"`
	Events []string `json:"events"`
	Active *bool    `json:"active"`
}

type repoHook struct {
	fakehttp.Hook
	contentType string
	created     time.Time
}

func hookInvalid(w http.ResponseWriter, msg string) {
	fakehttp.JSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "documentation_url": docs + "/repos/webhooks#create-a-repository-webhook", "status": "422",
		"errors": []map[string]string{{"resource": "Hook", "code": "custom", "message": msg}},
	})
}

func (s *Server) createHook(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Admin)
	if !ok {
		return
	}
	var in hookCreate
	if !decode(w, r, &in) {
		return
	}
	if in.Name != "" && in.Name != "web" {
		hookInvalid(w, "Name must be web")
		return
	}
	if in.Config == nil || in.Config.URL == "" {
		hookInvalid(w, "Config must contain url")
		return
	}
	if len(in.Events) == 0 {
		in.Events = []string{"push"}
	}
	h := &repoHook{Hook: fakehttp.Hook{URL: in.Config.URL, Secret: []byte(in.Config.Secret), Events: in.Events, Active: in.Active == nil || *in.Active},
		contentType: in.Config.ContentType, created: time.Now().UTC().Truncate(time.Second)}
	if h.contentType == "" {
		h.contentType = "form"
	}
	key := strings.ToLower(c.st.repo.FullName())
	s.mu.Lock()
	for _, o := range s.hooks[key] {
		if o.URL == h.URL {
			s.mu.Unlock()
			hookInvalid(w, "Hook already exists on this repository")
			return
		}
	}
	h.ID = s.id()
	s.hooks[key] = append(s.hooks[key], h)
	s.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("%s/repos/%s/hooks/%d", c.api, c.st.repo.FullName(), h.ID))
	fakehttp.JSON(w, http.StatusCreated, hookJSON(c.api, c.st.repo.FullName(), h))
}

func (s *Server) listHooks(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Admin)
	if !ok {
		return
	}
	s.mu.Lock()
	out := []map[string]any{}
	for _, h := range s.hooks[strings.ToLower(c.st.repo.FullName())] {
		out = append(out, hookJSON(c.api, c.st.repo.FullName(), h))
	}
	s.mu.Unlock()
	fakehttp.JSON(w, http.StatusOK, out)
}

func (s *Server) deleteHook(w http.ResponseWriter, r *http.Request) {
	c, ok := s.repoCall(w, r, Admin)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("hook_id"), 10, 64)
	key := strings.ToLower(c.st.repo.FullName())
	s.mu.Lock()
	n := len(s.hooks[key])
	s.hooks[key] = slices.DeleteFunc(s.hooks[key], func(h *repoHook) bool { return err == nil && h.ID == id })
	gone := len(s.hooks[key]) < n
	s.mu.Unlock()
	if !gone {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// hookJSON is the "hook" schema; the secret is never sent back in clear.
func hookJSON(api, repo string, h *repoHook) map[string]any {
	cfg := map[string]any{"url": h.URL, "content_type": h.contentType, "insecure_ssl": "0"}
	if len(h.Secret) > 0 {
		cfg["secret"] = "********"
	}
	self := fmt.Sprintf("%s/repos/%s/hooks/%d", api, repo, h.ID)
	ts := h.created.Format(time.RFC3339)
	return map[string]any{
		"type": "Repository", "id": h.ID, "name": "web", "active": h.Active, "events": h.Events, "config": cfg,
		"updated_at": ts, "created_at": ts, "url": self, "test_url": self + "/test", "ping_url": self + "/pings",
		"deliveries_url": self + "/deliveries",
		"last_response":  map[string]any{"code": nil, "status": "unused", "message": nil},
	}
}

// Hooks returns the hooks registered on repo (secrets included, for tests).
func (s *Server) Hooks(repo string) []fakehttp.Hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fakehttp.Hook
	for _, h := range s.hooks[strings.ToLower(repo)] {
		out = append(out, h.Hook)
	}
	return out
}

// WebhookAnswers are the receiver's answer times so far and how many
// deliveries it refused (it waits for those under way).
func (s *Server) WebhookAnswers() ([]time.Duration, int) { return s.sender.Answers() }

// deliver sends an issues (or issue_comment) event about issue n of repo to
// every active hook of repo that selected it. Callers do not hold s.mu.
func (s *Server) deliver(repo string, n int, event, action string) {
	s.mu.Lock()
	hooks := slices.Clone(s.hooks[strings.ToLower(repo)])
	st, ok := s.repos[strings.ToLower(repo)]
	var payload map[string]any
	if ok {
		issue := map[string]any{"number": n, "html_url": fmt.Sprintf("https://github.com/%s/issues/%d", st.repo.FullName(), n)}
		if is, ok := st.issues[n]; ok {
			issue["title"], issue["state"] = is.Title, is.State
			issue["updated_at"] = is.Updated.Format(time.RFC3339)
		}
		payload = map[string]any{
			"action": action,
			"issue":  issue,
			"repository": map[string]any{
				"id": st.repo.ID, "name": st.repo.Name, "full_name": st.repo.FullName(), "private": st.repo.Private,
				"owner": map[string]any{"login": st.repo.Owner},
			},
			"sender": map[string]any{"login": st.repo.Owner},
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return
	}
	for _, h := range hooks {
		if !h.Active || !slices.Contains(h.Events, event) && !slices.Contains(h.Events, "*") {
			continue
		}
		hdr := http.Header{}
		hdr.Set("X-GitHub-Event", event)
		hdr.Set("X-GitHub-Delivery", fakehttp.DeliveryID())
		hdr.Set("X-GitHub-Hook-ID", strconv.FormatInt(h.ID, 10))
		hdr.Set("X-Hub-Signature-256", "sha256="+trackers.HMACSHA256Hex(h.Secret, body))
		hdr.Set("User-Agent", "GitHub-Hookshot/fake")
		s.sender.Send(h.URL, body, hdr)
	}
}

// delivering wraps an issue API handler: once it answered 2xx (and let go
// of s.mu), the change is delivered to the repository's hooks.
func (s *Server) delivering(h http.HandlerFunc, event, action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		if sw.code/100 != 2 {
			return
		}
		n, err := strconv.Atoi(r.PathValue("number"))
		if err != nil {
			return
		}
		s.deliver(r.PathValue("owner")+"/"+r.PathValue("repo"), n, event, action)
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
