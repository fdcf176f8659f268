// Package pagerdutyfake is an in-memory fake of PagerDuty's REST API v2:
// users with API keys (user keys, and account keys that have no user),
// services, incidents with assignments, status and notes.
//
// It serves what connectorhub uses: GET /users/me, GET /incidents (user_ids[],
// statuses[], since/until on the creation time with PagerDuty's six-month
// limit, offset/limit paging with "more"), GET and PUT /incidents/{id}
// (acknowledge, resolve; the From header required), and the incident notes
// (list, create; From required). Faults (429 with ratelimit-* headers, 5xx,
// slow, malformed) are served in front of it all.
package pagerdutyfake

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// MaxRange is the longest since/until range PagerDuty accepts.
const MaxRange = 6 * 31 * 24 * time.Hour

// User is a PagerDuty user.
type User struct {
	ID, Name, Email string
	Role            string // "user" when empty
}

// Key is an API key: a user key acts as UserID, an account key ("" UserID)
// as nobody (GET /users/me refuses it).
type Key struct {
	Value, UserID string
}

// Service is a PagerDuty service.
type Service struct{ ID, Name string }

// Incident is an incident to seed.
type Incident struct {
	Title, Details string
	ServiceID      string
	Assignees      []string // user ids
	Status         string   // "triggered" when empty
	Urgency        string   // "high" when empty
	Created        time.Time
	Updated        time.Time
}

// Note is an incident note.
type Note struct {
	ID, UserID, Content string
	Created             time.Time
}

type incidentState struct {
	Incident
	id     string
	number int
	notes  []Note
	// version moves on every change; listed caches the incident's list
	// JSON for one version and API base, so the fake's encoding is not
	// charged again to every listing of an unchanged incident (as
	// githubfake's cache).
	version int
	listed  encoded
	// got caches the whole GET /incidents/{id} answer (with the body) the
	// same way: a first discovery reads every incident's body once, and
	// encoding it per request made the fake a quarter of the bench's CPU.
	got encoded
}

// encoded is an incident's JSON for one version and API base (the scheme
// and host the request came to: links in the JSON name it).
type encoded struct {
	b       []byte
	version int
	host    string
	tls     bool
}

// cached returns c's bytes when they are for in's current version and
// r's base, else encodes v() and keeps the result. The base is compared by
// its parts, so a hit builds no string.
func (c *encoded) cached(in *incidentState, r *http.Request, v func() any) ([]byte, error) {
	if c.b != nil && c.version == in.version && c.host == r.Host && c.tls == (r.TLS != nil) {
		return c.b, nil
	}
	b, err := json.Marshal(v())
	if err != nil {
		return nil, err
	}
	*c = encoded{b: b, version: in.version, host: r.Host, tls: r.TLS != nil}
	return b, nil
}

// listJSON is the incident's list form (no body), cached per version.
func (s *Server) listJSON(r *http.Request, in *incidentState) ([]byte, error) {
	return in.listed.cached(in, r, func() any { return s.incidentJSON(r, in, false) })
}

// getJSON is the answer of GET /incidents/{id} (with the body), cached per
// version.
func (s *Server) getJSON(r *http.Request, in *incidentState) ([]byte, error) {
	return in.got.cached(in, r, func() any { return map[string]any{"incident": s.incidentJSON(r, in, true)} })
}

// jsonType is the Content-Type of every answer, one slice shared by all
// (Header.Set would allocate one per answer; nothing downstream changes it).
var jsonType = []string{"application/json;charset=UTF-8"}

// writeJSON writes an encoded JSON answer. A page states its
// Content-Length, so the client reads it into one slice of its size (a
// chunked answer is read into a growing buffer and copied out); an answer
// of a few kB at most (one incident) gets it from net/http, which sets it
// without allocating when the handler's writes fit its 2 kB buffer.
func writeJSON(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	if len(b) > 2048 {
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// Options configure the fake.
type Options struct {
	Users     []User
	Keys      []Key
	Services  []Service
	Incidents []Incident
	// MaxLimit caps limit (PagerDuty caps it at 100).
	MaxLimit int
	// Subdomain names the account in html_url links ("acme" when empty).
	Subdomain string
}

// Server is a fake PagerDuty; it is an http.Handler.
type Server struct {
	fakehttp.Base // faults served first, request counter, routes
	opts          Options

	mu        sync.Mutex
	users     map[string]User
	keys      map[string]Key
	services  map[string]Service
	incidents []*incidentState
	// byID indexes incidents (GET /incidents/{id} once per incident made
	// a first listing's cost grow with the square of its size); last is
	// the last incident number given (numbers are not reused).
	byID     map[string]*incidentState
	last     int
	lastNote int
	// gen moves on every change to any incident; the last date_range=all
	// listing's matches are kept for its filters while it stays (as
	// bitbucketfake and githubfake do), so paging through a listing does
	// not filter every incident again for each page.
	gen       int
	listGen   int
	listKey   string
	listMatch []*incidentState
	// page is the buffer a listing page is written into, kept between
	// requests: it is used under mu only, and Write is done with it when
	// it returns, so each page costs no allocation of its size.
	page []byte
}

// changed records a change to in: its cached encodings and the kept
// listing are stale.
func (s *Server) changed(in *incidentState) {
	in.version++
	s.gen++
}

// New returns a fake with the given accounts and incidents.
func New(opts Options) *Server {
	if opts.MaxLimit <= 0 || opts.MaxLimit > 100 {
		opts.MaxLimit = 100
	}
	if opts.Subdomain == "" {
		opts.Subdomain = "acme"
	}
	s := &Server{opts: opts, users: map[string]User{}, keys: map[string]Key{}, services: map[string]Service{}}
	s.Init(nil)
	for _, u := range opts.Users {
		if u.Role == "" {
			u.Role = "user"
		}
		s.users[u.ID] = u
	}
	for _, k := range opts.Keys {
		s.keys[k.Value] = k
	}
	for _, sv := range opts.Services {
		s.services[sv.ID] = sv
	}
	for _, in := range opts.Incidents {
		s.AddIncident(in)
	}
	s.Mux.HandleFunc("GET /users/me", s.me)
	s.Mux.HandleFunc("GET /incidents", s.list)
	s.Mux.HandleFunc("GET /incidents/{id}", s.get)
	s.Mux.HandleFunc("PUT /incidents/{id}", s.update)
	s.Mux.HandleFunc("GET /incidents/{id}/notes", s.listNotes)
	s.Mux.HandleFunc("POST /incidents/{id}/notes", s.createNote)
	s.Mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { pdErr(w, http.StatusNotFound, 2100, "Not Found") })
	return s
}

// AddIncident adds an incident and returns its id.
func (s *Server) AddIncident(in Incident) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Second)
	if in.Status == "" {
		in.Status = "triggered"
	}
	if in.Urgency == "" {
		in.Urgency = "high"
	}
	if in.Updated.IsZero() {
		in.Updated = now
	}
	if in.Created.IsZero() || in.Created.After(in.Updated) {
		in.Created = in.Updated
	}
	s.last++
	st := &incidentState{Incident: in, number: s.last, id: fmt.Sprintf("PINC%04d", s.last)}
	s.incidents = append(s.incidents, st)
	if s.byID == nil {
		s.byID = map[string]*incidentState{}
	}
	s.byID[st.id] = st
	s.gen++
	return st.id
}

func (s *Server) find(id string) *incidentState { return s.byID[id] }

// Edit changes an incident under the lock (tests: touch, resolve, unassign).
func (s *Server) Edit(id string, f func(*Incident)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.find(id)
	if in == nil {
		return false
	}
	f(&in.Incident)
	s.changed(in)
	return true
}

// Delete removes an incident (PagerDuty deletes none, but a key may lose
// sight of one, e.g. when its service moves to a team the key cannot see):
// it is no longer listed or readable (404).
func (s *Server) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.incidents, func(in *incidentState) bool { return in.id == id })
	if i < 0 {
		return false
	}
	s.incidents = slices.Delete(s.incidents, i, i+1)
	delete(s.byID, id)
	s.gen++
	return true
}

// Incident returns an incident as it is now.
func (s *Server) Incident(id string) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.find(id)
	if in == nil {
		return Incident{}, false
	}
	return in.Incident, true
}

// Notes returns an incident's notes.
func (s *Server) Notes(id string) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.find(id); in != nil {
		return slices.Clone(in.notes)
	}
	return nil
}

// AddNote adds a note as userID.
func (s *Server) AddNote(id, userID, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.find(id); in != nil {
		s.lastNote++
		n := Note{ID: fmt.Sprintf("PNOTE%03d", s.lastNote), UserID: userID, Content: content, Created: time.Now().UTC().Truncate(time.Second)}
		in.notes = append(in.notes, n)
		in.Updated = n.Created // as a note added through the API does
		s.changed(in)
	}
}

// RateLimitNext answers the next request 429 as PagerDuty does: the
// ratelimit-* headers (ratelimit-reset in seconds) and an error body.
func (s *Server) RateLimitNext(retryAfter time.Duration) {
	h := http.Header{}
	h.Set("Ratelimit-Limit", "960")
	h.Set("Ratelimit-Remaining", "0")
	h.Set("Ratelimit-Reset", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second)))
	s.Faults.Add(faults.Fault{Status: http.StatusTooManyRequests, Header: h, Body: `{"error":{"message":"Rate Limit Exceeded","code":2020}}`})
}

// ServerErrorNext answers the next n requests 500.
func (s *Server) ServerErrorNext(n int) {
	s.Faults.Fail(n, http.StatusInternalServerError, `{"error":{"message":"Internal Server Error","code":2000}}`)
}

// MalformedNext answers the next request with a body cut short.
func (s *Server) MalformedNext() {
	s.Faults.Fail(1, http.StatusOK, `{"incidents":[{"id":"PINC0001","title":"trunc`)
}

func pdErr(w http.ResponseWriter, code, pdCode int, msg string, errs ...string) {
	body := map[string]any{"message": msg, "code": pdCode}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	fakehttp.JSON(w, code, map[string]any{"error": body})
}

// auth reads "Authorization: Token token=<key>".
func (s *Server) auth(w http.ResponseWriter, r *http.Request) (Key, bool) {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Token token=")
	k, known := s.keys[strings.TrimSpace(v)]
	if !ok || !known {
		pdErr(w, http.StatusUnauthorized, 2006, "Authentication required")
		return Key{}, false
	}
	return k, true
}

// from reads the From header of a write: a known user's email.
func (s *Server) from(w http.ResponseWriter, r *http.Request) (User, bool) {
	email := r.Header.Get("From")
	for _, u := range s.users {
		if email != "" && strings.EqualFold(u.Email, email) {
			if slices.Contains([]string{"observer", "read_only_user", "read_only_limited_user", "restricted_access"}, u.Role) {
				pdErr(w, http.StatusForbidden, 2010, "Access Denied")
				return User{}, false
			}
			return u, true
		}
	}
	pdErr(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "You must specify a user's email address in the \"From\" header to perform this action")
	return User{}, false
}

func (s *Server) base(r *http.Request) string { return fakehttp.BaseURL(r) }
func (s *Server) web() string                 { return "https://" + s.opts.Subdomain + ".pagerduty.com" }

func (s *Server) userRef(r *http.Request, id string) map[string]any {
	u := s.users[id]
	return map[string]any{"id": id, "type": "user_reference", "summary": u.Name, "self": s.base(r) + "/users/" + id, "html_url": s.web() + "/users/" + id}
}

func (s *Server) userJSON(r *http.Request, u User) map[string]any {
	return map[string]any{"id": u.ID, "type": "user", "summary": u.Name, "name": u.Name, "email": u.Email, "role": u.Role,
		"time_zone": "Etc/UTC", "self": s.base(r) + "/users/" + u.ID, "html_url": s.web() + "/users/" + u.ID}
}

func (s *Server) incidentJSON(r *http.Request, in *incidentState, withBody bool) map[string]any {
	sv := s.services[in.ServiceID]
	assignments := []map[string]any{}
	for _, a := range in.Assignees {
		assignments = append(assignments, map[string]any{"at": in.Created.Format(time.RFC3339), "assignee": s.userRef(r, a)})
	}
	out := map[string]any{
		"id": in.id, "type": "incident", "summary": fmt.Sprintf("[#%d] %s", in.number, in.Title),
		"self": s.base(r) + "/incidents/" + in.id, "html_url": s.web() + "/incidents/" + in.id,
		"incident_number": in.number, "title": in.Title, "status": in.Status, "urgency": in.Urgency,
		"created_at": in.Created.Format(time.RFC3339), "updated_at": in.Updated.Format(time.RFC3339),
		"last_status_change_at": in.Updated.Format(time.RFC3339),
		"incident_key":          fmt.Sprintf("key-%d", in.number),
		"service": map[string]any{"id": sv.ID, "type": "service_reference", "summary": sv.Name,
			"self": s.base(r) + "/services/" + sv.ID, "html_url": s.web() + "/service-directory/" + sv.ID},
		"assignments":  assignments,
		"assigned_via": "escalation_policy",
		"is_mergeable": true,
	}
	if withBody {
		// body.details is an object in PagerDuty's schema; the fake keeps
		// the text under "description".
		out["body"] = map[string]any{"type": "incident_body", "details": map[string]any{"description": in.Details}}
	}
	return out
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.auth(w, r)
	if !ok {
		return
	}
	if k.UserID == "" {
		pdErr(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "This endpoint requires a user-level API token")
		return
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"user": s.userJSON(r, s.users[k.UserID])})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.auth(w, r); !ok {
		return
	}
	q := r.URL.Query()
	now := time.Now().UTC()
	since, until := now.Add(-30*24*time.Hour), now
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &since}, {"until", &until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				pdErr(w, http.StatusBadRequest, 2001, "Invalid Input Provided", p.name+" is not a date")
				return
			}
			*p.dst = t
		}
	}
	if q.Get("date_range") != "all" && until.Sub(since) > MaxRange {
		pdErr(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "The maximum range allowed is 6 months")
		return
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 25
	}
	limit = min(limit, s.opts.MaxLimit)
	users, statuses := q["user_ids[]"], q["statuses[]"]
	allDates := q.Get("date_range") == "all"
	match := s.listMatch
	key := strings.Join(users, ",") + "\x00" + strings.Join(statuses, ",")
	if !allDates || s.listKey != key || s.listGen != s.gen || match == nil {
		match = []*incidentState{}
		for _, in := range s.incidents {
			if len(users) > 0 && !slices.ContainsFunc(in.Assignees, func(a string) bool { return slices.Contains(users, a) }) {
				continue
			}
			if len(statuses) > 0 && !slices.Contains(statuses, in.Status) {
				continue
			}
			if !allDates && (in.Created.Before(since) || !in.Created.Before(until)) {
				continue
			}
			match = append(match, in)
		}
		if allDates { // a window's matches depend on the time: not kept
			s.listKey, s.listGen, s.listMatch = key, s.gen, match
		}
	}
	// The page is written from each incident's cached list form, not
	// encoded again as a whole.
	body := append(s.page[:0], `{"incidents":[`...)
	for i := offset; i < len(match) && i < offset+limit; i++ {
		b, err := s.listJSON(r, match[i])
		if err != nil {
			pdErr(w, http.StatusInternalServerError, 2000, "Internal Server Error")
			return
		}
		if i > offset {
			body = append(body, ',')
		}
		body = append(body, b...)
	}
	body = append(body, `],"offset":`...)
	body = strconv.AppendInt(body, int64(offset), 10)
	body = append(body, `,"limit":`...)
	body = strconv.AppendInt(body, int64(limit), 10)
	body = append(body, `,"more":`...)
	body = strconv.AppendBool(body, offset+limit < len(match))
	body = append(body, `,"total":null}`...)
	s.page = body
	writeJSON(w, body)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.auth(w, r); !ok {
		return
	}
	in := s.find(r.PathValue("id"))
	if in == nil {
		pdErr(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	b, err := s.getJSON(r, in)
	if err != nil {
		pdErr(w, http.StatusInternalServerError, 2000, "Internal Server Error")
		return
	}
	writeJSON(w, b)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.auth(w, r); !ok {
		return
	}
	if _, ok := s.from(w, r); !ok {
		return
	}
	in := s.find(r.PathValue("id"))
	if in == nil {
		pdErr(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	var body struct {
		Incident struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Title  string `json:"title"`
		} `json:"incident"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Incident.Type == "" {
		pdErr(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "incident type is required")
		return
	}
	switch st := body.Incident.Status; {
	case st == "":
	case in.Status == "resolved" && st != "resolved":
		pdErr(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "Incident Already Resolved")
		return
	case st == "acknowledged", st == "resolved":
		in.Status = st
	default:
		pdErr(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "status must be acknowledged or resolved")
		return
	}
	if body.Incident.Title != "" {
		in.Title = body.Incident.Title
	}
	in.Updated = time.Now().UTC().Truncate(time.Second)
	s.changed(in)
	fakehttp.JSON(w, http.StatusOK, map[string]any{"incident": s.incidentJSON(r, in, false)})
}

func (s *Server) noteJSON(r *http.Request, n Note) map[string]any {
	return map[string]any{"id": n.ID, "user": s.userRef(r, n.UserID), "channel": map[string]any{"summary": "The PagerDuty website or APIs"},
		"content": n.Content, "created_at": n.Created.Format(time.RFC3339)}
}

func (s *Server) listNotes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.auth(w, r); !ok {
		return
	}
	in := s.find(r.PathValue("id"))
	if in == nil {
		pdErr(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	out := []map[string]any{}
	for _, n := range in.notes {
		out = append(out, s.noteJSON(r, n))
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"notes": out})
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.auth(w, r); !ok {
		return
	}
	u, ok := s.from(w, r)
	if !ok {
		return
	}
	in := s.find(r.PathValue("id"))
	if in == nil {
		pdErr(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	var body struct {
		Note struct {
			Content string `json:"content"`
		} `json:"note"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Note.Content == "" {
		pdErr(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "note content is required")
		return
	}
	s.lastNote++
	n := Note{ID: fmt.Sprintf("PNOTE%03d", s.lastNote), UserID: u.ID, Content: body.Note.Content, Created: time.Now().UTC().Truncate(time.Second)}
	in.notes = append(in.notes, n)
	in.Updated = n.Created
	s.changed(in)
	fakehttp.JSON(w, http.StatusOK, map[string]any{"note": s.noteJSON(r, n)})
}
