// Package azuredevopsfake is an in-memory Azure DevOps (REST 7.1) serving the
// calls the azuredevops tracker makes, in the shapes of
// ../testdata/azure-devops.shape.json: connectionData, projects, WIQL (the
// subset of the language the tracker sends), workitemsbatch, work item
// get/update (JSON Patch)/create, work item type states, comments, Git
// repositories and pull requests. Faults (429, 5xx, slow, malformed) come
// from a faults.Injector in front of it.
package azuredevopsfake

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	stdjson "encoding/json"
	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

// User is an identity of the organization.
type User struct {
	ID          string // GUID-like identity id
	UniqueName  string // email or DOMAIN\user
	DisplayName string
}

// WorkItem is a seeded or created work item.
type WorkItem struct {
	ID          int64
	Rev         int
	Type        string // "User Story", "Bug", "Task"
	Title       string
	Description string // Markdown (multilineFieldsFormat markdown) unless HTML
	HTML        bool   // Description is HTML
	State       string
	Tags        []string
	AssignedTo  string // UniqueName; "" unassigned
	CreatedBy   string
	Created     time.Time
	Changed     time.Time
	Parent      int64
	Children    []int64
	Comments    []Comment
}

// Comment is a work item comment.
type Comment struct {
	ID     int64
	Text   string
	Format string // "markdown" or "html"
	By     string
	At     time.Time
}

// PullRequest is an Azure Repos pull request.
type PullRequest struct {
	ID                 int64
	Source, Target     string // refs/heads/…
	Title, Description string
	Status             string // active, completed, abandoned
	WorkItems          []int64
	Reviewers          []string // UniqueNames
	CreatedBy          string
	Created            time.Time // zero: when added
	// Threads are the pull request's comment threads, oldest first.
	Threads []Thread
}

// Thread is a pull request comment thread (its first comment is the
// thread's text).
type Thread struct {
	ID       int64
	Status   string // active, closed, …
	Comments []Comment
}

// Options configure the fake.
type Options struct {
	Organization, Project string
	// PAT is the token accepted (Basic with any user, the PAT as password).
	PAT string
	// Me is the UniqueName of the PAT's user; Users are all identities.
	Me    string
	Users []User
	// DefaultBranch of the project's repository ("refs/heads/main" when empty).
	DefaultBranch string
	// WIQLCap is the WIQL result cap (20,000 when zero). A query without
	// $top that matches more fails with VS402337 as on the service.
	WIQLCap int
}

// agileStates are the states of the Agile process, by category; Task has
// no Resolved. AddState adds custom ones.
var agileStates = map[string][][2]string{
	"User Story": {{"New", "Proposed"}, {"Active", "InProgress"}, {"Resolved", "Resolved"}, {"Closed", "Completed"}, {"Removed", "Removed"}},
	"Bug":        {{"New", "Proposed"}, {"Active", "InProgress"}, {"Resolved", "Resolved"}, {"Closed", "Completed"}},
	"Task":       {{"New", "Proposed"}, {"Active", "InProgress"}, {"Closed", "Completed"}, {"Removed", "Removed"}},
}

// Server is the fake.
type Server struct {
	opts   Options
	faults faults.Injector
	count  fakehttp.Counter

	mu     sync.Mutex
	items  map[int64]*WorkItem
	nextID int64
	prs    []*PullRequest
	nextPR int64
	nextC  int64
	// types are the work item types' states ({name, category}).
	types map[string][][2]string
	// Queries are the WIQL texts received, for tests.
	queries []string
	// gen counts the writes (lock); encoded caches work items as the
	// batch endpoint encodes them, valid while gen is unchanged.
	gen     uint64
	encoded map[encodedKey]encodedItem
	// sorted is the work items' ids in order, valid while sortedGen is
	// gen: a WIQL page starts after its last id by binary search and
	// stops at $top, instead of sorting every id for every page (which
	// made a listing's cost grow with the square of its size).
	sorted    []int64
	sortedGen uint64

	once    sync.Once
	handler http.Handler
}

// ServeHTTP serves the fake behind its fault injector and request counter
// (for servers the caller runs itself, such as hub --sandbox).
func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.once.Do(func() { f.handler = f.count.Wrap(f.faults.Wrap(f.Handler())) })
	f.handler.ServeHTTP(w, r)
}

// New returns a fake with opts.
func New(opts Options) *Server {
	if opts.DefaultBranch == "" {
		opts.DefaultBranch = "refs/heads/main"
	}
	if opts.WIQLCap == 0 {
		opts.WIQLCap = 20000
	}
	types := map[string][][2]string{}
	for t, sts := range agileStates {
		types[t] = slices.Clone(sts)
	}
	return &Server{opts: opts, items: map[int64]*WorkItem{}, nextID: 1, nextPR: 1, nextC: 1, types: types}
}

// AddState adds a state in category (Proposed, InProgress, Resolved,
// Completed, Removed) to a work item type, as a custom process (an
// inherited process with a "Shipped" state in Completed) does, or moves the
// type's state of that name to category; an unknown type is created with
// that one state.
func (f *Server) AddState(typ, name, category string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, st := range f.types[typ] {
		if st[0] == name {
			f.types[typ][i][1] = category
			return
		}
	}
	f.types[typ] = append(f.types[typ], [2]string{name, category})
}

// Faults is the fault injector in front of the fake.
func (f *Server) Faults() *faults.Injector { return &f.faults }

// Requests is how many requests the fake has answered.
func (f *Server) Requests() int { return f.count.Count() }

// RateLimitNext makes the next answer a 429 with Retry-After and
// X-RateLimit-* headers, as Azure DevOps sends when a user's TSTUs run out.
func (f *Server) RateLimitNext(d time.Duration) {
	secs := strconv.Itoa(int(d.Round(time.Second) / time.Second))
	f.faults.Add(faults.Fault{Status: http.StatusTooManyRequests, Header: http.Header{
		"Retry-After":           {secs},
		"X-Ratelimit-Resource":  {"Core"},
		"X-Ratelimit-Delay":     {"0.5"},
		"X-Ratelimit-Limit":     {"200"},
		"X-Ratelimit-Remaining": {"0"},
		"X-Ratelimit-Reset":     {strconv.FormatInt(time.Now().Add(d).Unix(), 10)},
	}, Body: `{"message":"TF400733: The request has been throttled.","typeKey":"RequestBlockedException"}`})
}

// Start serves the fake on 127.0.0.1 until the test ends and returns its
// URL. middleware (a contract.Validator's) wraps the fake inside the fault
// injector, so it sees what the fake itself answers.
func (f *Server) Start(tb testing.TB, middleware ...func(http.Handler) http.Handler) string {
	mw := append([]func(http.Handler) http.Handler{f.count.Wrap, f.faults.Wrap}, middleware...)
	return fakehttp.Start(tb, f.Handler(), mw...)
}

// Handler serves the API (without the fault injector).
func (f *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{org}/_apis/connectionData", f.connectionData)
	mux.HandleFunc("GET /{org}/_apis/projects/{project}", f.getProject)
	mux.HandleFunc("POST /{org}/{project}/_apis/wit/wiql", f.wiql)
	mux.HandleFunc("POST /{org}/{project}/_apis/wit/workitemsbatch", f.batch)
	mux.HandleFunc("GET /{org}/{project}/_apis/wit/workitems/{id}", f.getItem)
	mux.HandleFunc("PATCH /{org}/{project}/_apis/wit/workitems/{id}", f.patchItem)
	mux.HandleFunc("POST /{org}/{project}/_apis/wit/workitems/{type}", f.createItem)
	mux.HandleFunc("GET /{org}/{project}/_apis/wit/workitemtypes", f.listTypes)
	mux.HandleFunc("GET /{org}/{project}/_apis/wit/workitemtypes/{type}/states", f.states)
	mux.HandleFunc("GET /{org}/{project}/_apis/wit/workItems/{id}/comments", f.listComments)
	mux.HandleFunc("POST /{org}/{project}/_apis/wit/workItems/{id}/comments", f.addComment)
	mux.HandleFunc("GET /{org}/{project}/_apis/git/repositories/{repo}", f.getRepo)
	mux.HandleFunc("GET /{org}/{project}/_apis/git/repositories/{repo}/pullrequests", f.listPRs)
	mux.HandleFunc("POST /{org}/{project}/_apis/git/repositories/{repo}/pullrequests", f.createPR)
	mux.HandleFunc("GET /{org}/{project}/_apis/git/pullrequests", f.projectPRs)
	mux.HandleFunc("GET /{org}/{project}/_apis/git/repositories/{repo}/pullRequests/{id}/threads", f.listThreads)
	mux.HandleFunc("POST /{org}/{project}/_apis/git/repositories/{repo}/pullRequests/{id}/threads", f.createThread)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pat, ok := r.BasicAuth(); !ok || pat != f.opts.PAT {
			// Services answers a bad PAT with 401 (and an HTML page for browsers).
			w.Header().Set("WWW-Authenticate", `Basic realm="https://dev.azure.com/"`)
			vssErr(w, http.StatusUnauthorized, "TF400813: The user is not authorized to access this resource.", "UnauthorizedRequestException")
			return
		}
		if r.URL.Query().Get("api-version") == "" {
			vssErr(w, http.StatusBadRequest, "VS800075: The project name is not valid or api-version is missing.", "VssInvalidPreviewVersionException")
			return
		}
		if org := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]; !strings.EqualFold(org, f.opts.Organization) {
			vssErr(w, http.StatusNotFound, "VS800075: organization not found", "OrganizationNotFound")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func vssErr(w http.ResponseWriter, code int, msg, typeKey string) {
	fakehttp.JSON(w, code, map[string]any{"$id": "1", "innerException": nil, "message": msg, "typeName": "Microsoft.VisualStudio.Services." + typeKey, "typeKey": typeKey, "errorCode": 0, "eventId": 3000})
}

func (f *Server) checkProject(w http.ResponseWriter, r *http.Request) bool {
	if !strings.EqualFold(r.PathValue("project"), f.opts.Project) {
		vssErr(w, http.StatusNotFound, "VS800075: The project with id '"+r.PathValue("project")+"' does not exist, or you do not have permission to access it.", "ProjectDoesNotExistWithNameException")
		return false
	}
	return true
}

func (f *Server) user(unique string) User {
	for _, u := range f.opts.Users {
		if strings.EqualFold(u.UniqueName, unique) {
			return u
		}
	}
	return User{ID: "00000000-0000-0000-0000-" + fmt.Sprintf("%012d", len(unique)), UniqueName: unique, DisplayName: unique}
}

func identity(base string, u User) map[string]any {
	return map[string]any{"id": u.ID, "displayName": u.DisplayName, "uniqueName": u.UniqueName, "url": base + "/_apis/Identities/" + u.ID, "descriptor": "aad." + u.ID}
}

func (f *Server) connectionData(w http.ResponseWriter, r *http.Request) {
	me := f.user(f.opts.Me)
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"authenticatedUser": map[string]any{"id": me.ID, "descriptor": "aad." + me.ID, "providerDisplayName": me.DisplayName,
			"isActive": true, "properties": map[string]any{"Account": map[string]any{"$type": "System.String", "$value": me.UniqueName}}},
		"instanceId": "11111111-2222-3333-4444-555555555555", "deploymentType": "hosted",
	})
}

func (f *Server) projectJSON(base string) map[string]any {
	return map[string]any{"id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c", "name": f.opts.Project, "url": base + "/" + f.opts.Organization + "/_apis/projects/" + f.opts.Project,
		"state": "wellFormed", "revision": 411, "visibility": "private", "lastUpdateTime": "2026-01-02T03:04:05.000Z"}
}

func (f *Server) getProject(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.PathValue("project"), f.opts.Project) {
		vssErr(w, http.StatusNotFound, "TF200016: The following project does not exist: "+r.PathValue("project"), "ProjectDoesNotExistWithNameException")
		return
	}
	fakehttp.JSON(w, http.StatusOK, f.projectJSON(fakehttp.BaseURL(r)))
}

// AddWorkItem stores a work item and returns its id. Zero Changed is now;
// empty Type is "User Story", empty State "New".
func (f *Server) AddWorkItem(it WorkItem) int64 {
	f.lock()
	defer f.mu.Unlock()
	return f.addLocked(it)
}

func (f *Server) addLocked(it WorkItem) int64 {
	it.ID = f.nextID
	f.nextID++
	it.Rev = max(it.Rev, 1)
	it.Type = cmp.Or(it.Type, "User Story")
	it.State = cmp.Or(it.State, "New")
	now := time.Now().UTC().Truncate(time.Millisecond)
	if it.Changed.IsZero() {
		it.Changed = now
	}
	if it.Created.IsZero() {
		it.Created = it.Changed
	}
	f.items[it.ID] = &it
	if it.Parent != 0 {
		if p := f.items[it.Parent]; p != nil {
			p.Children = append(p.Children, it.ID)
		}
	}
	return it.ID
}

// WorkItem returns a copy of a work item.
func (f *Server) WorkItem(id int64) (WorkItem, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.items[id]
	if !ok {
		return WorkItem{}, false
	}
	c := *it
	c.Tags, c.Children, c.Comments = slices.Clone(it.Tags), slices.Clone(it.Children), slices.Clone(it.Comments)
	return c, true
}

// Edit changes a work item as a person would (a new revision at at, or now).
func (f *Server) Edit(id int64, at time.Time, edit func(*WorkItem)) bool {
	f.lock()
	defer f.mu.Unlock()
	it, ok := f.items[id]
	if !ok {
		return false
	}
	edit(it)
	it.Rev++
	if at.IsZero() {
		at = time.Now().UTC().Truncate(time.Millisecond)
	}
	it.Changed = at
	return true
}

// Delete deletes a work item (to the recycle bin, as the service does):
// reading it answers 404 from then on, and the batch omits it.
func (f *Server) Delete(id int64) bool {
	f.lock()
	defer f.mu.Unlock()
	if _, ok := f.items[id]; !ok {
		return false
	}
	delete(f.items, id)
	return true
}

// PullRequests returns the pull requests from a source branch (name or ref).
func (f *Server) PullRequests(head string) []PullRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := "refs/heads/" + strings.TrimPrefix(head, "refs/heads/")
	var out []PullRequest
	for _, p := range f.prs {
		if p.Source == ref {
			c := *p
			c.Threads = slices.Clone(p.Threads)
			out = append(out, c)
		}
	}
	return out
}

// AddPullRequest stores a pull request and returns its id.
func (f *Server) AddPullRequest(p PullRequest) int64 {
	f.lock()
	defer f.mu.Unlock()
	p.ID = f.nextPR
	f.nextPR++
	p.Status = cmp.Or(p.Status, "active")
	p.Source = cmp.Or(p.Source, fmt.Sprintf("refs/heads/pr-%d", p.ID))
	p.Target = cmp.Or(p.Target, f.opts.DefaultBranch)
	if p.Created.IsZero() {
		p.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	f.prs = append(f.prs, &p)
	return p.ID
}

// Queries returns the WIQL queries received so far.
func (f *Server) Queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

func (f *Server) itemURL(base string, id int64) string {
	return fmt.Sprintf("%s/%s/%s/_apis/wit/workItems/%d", base, f.opts.Organization, url.PathEscape(f.opts.Project), id)
}

// itemJSON renders a work item; fields nil means all, relations when asked.
func (f *Server) itemJSON(base string, it *WorkItem, fields []string, relations bool) map[string]any {
	all := map[string]any{
		"System.Id":                      it.ID,
		"System.AreaPath":                f.opts.Project,
		"System.TeamProject":             f.opts.Project,
		"System.IterationPath":           f.opts.Project,
		"System.WorkItemType":            it.Type,
		"System.State":                   it.State,
		"System.Reason":                  "New",
		"System.CreatedDate":             it.Created.UTC().Format(time.RFC3339Nano),
		"System.CreatedBy":               identity(base, f.user(it.CreatedBy)),
		"System.ChangedDate":             it.Changed.UTC().Format(time.RFC3339Nano),
		"System.ChangedBy":               identity(base, f.user(it.CreatedBy)),
		"System.Title":                   it.Title,
		"Microsoft.VSTS.Common.Priority": 2,
	}
	if it.AssignedTo != "" {
		all["System.AssignedTo"] = identity(base, f.user(it.AssignedTo))
	}
	if it.Description != "" {
		all["System.Description"] = it.Description
	}
	if len(it.Tags) > 0 {
		all["System.Tags"] = strings.Join(it.Tags, "; ")
	}
	if it.Parent != 0 {
		all["System.Parent"] = it.Parent
	}
	out := map[string]any{"id": it.ID, "rev": it.Rev, "url": f.itemURL(base, it.ID)}
	if fields == nil {
		out["fields"] = all
		out["_links"] = map[string]any{"html": map[string]any{"href": fmt.Sprintf("%s/%s/%s/_workitems/edit/%d", base, f.opts.Organization, url.PathEscape(f.opts.Project), it.ID)}}
	} else {
		sel := map[string]any{}
		for _, k := range fields {
			if v, ok := all[k]; ok {
				sel[k] = v
			}
		}
		out["fields"] = sel
	}
	if !it.HTML {
		out["multilineFieldsFormat"] = map[string]string{"System.Description": "markdown"}
	}
	if relations {
		rels := []map[string]any{}
		if it.Parent != 0 {
			rels = append(rels, map[string]any{"rel": "System.LinkTypes.Hierarchy-Reverse", "url": f.itemURL(base, it.Parent), "attributes": map[string]any{"isLocked": false, "name": "Parent"}})
		}
		for _, c := range it.Children {
			rels = append(rels, map[string]any{"rel": "System.LinkTypes.Hierarchy-Forward", "url": f.itemURL(base, c), "attributes": map[string]any{"isLocked": false, "name": "Child"}})
		}
		out["relations"] = rels
	}
	return out
}

// The WIQL the fake understands: the clauses the tracker sends.
var (
	wiqlAssigned = regexp.MustCompile(`(?i)\[System\.AssignedTo\]\s*=\s*(@Me|'((?:[^']|'')*)')`)
	wiqlNotIn    = regexp.MustCompile(`(?i)\[System\.State\]\s+NOT\s+IN\s*\(([^)]*)\)`)
	// wiqlNotStateOfType is "NOT ([System.State] = 'X' AND [System.WorkItemType] IN ('A', 'B'))".
	wiqlNotStateOfType = regexp.MustCompile(`(?i)NOT\s*\(\s*\[System\.State\]\s*=\s*'((?:[^']|'')*)'\s+AND\s+\[System\.WorkItemType\]\s+IN\s*\(([^)]*)\)\s*\)`)
	wiqlChanged        = regexp.MustCompile(`(?i)\[System\.ChangedDate\]\s*>=\s*'([^']*)'`)
	wiqlIDAbove        = regexp.MustCompile(`(?i)\[System\.Id\]\s*>\s*(\d+)`)
	wiqlIDBelow        = regexp.MustCompile(`(?i)\[System\.Id\]\s*<\s*(-?\d+)`)
	wiqlProject        = regexp.MustCompile(`(?i)\[System\.TeamProject\]\s*=\s*@project`)
	wiqlSelect         = regexp.MustCompile(`(?i)^\s*SELECT\s+.+\s+FROM\s+WorkItems\b`)
)

func (f *Server) wiql(w http.ResponseWriter, r *http.Request) {
	if !f.checkProject(w, r) {
		return
	}
	var body struct {
		Query string `json:"query"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !wiqlSelect.MatchString(body.Query) {
		vssErr(w, http.StatusBadRequest, "VS402336: The WIQL query is not valid.", "WiqlSyntaxException")
		return
	}
	q := body.Query
	top := -1
	if v := r.URL.Query().Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			vssErr(w, http.StatusBadRequest, "invalid $top", "InvalidQueryParameter")
			return
		}
		top = n
	}
	var since time.Time
	if m := wiqlChanged.FindStringSubmatch(q); m != nil {
		t, err := time.Parse(time.RFC3339, m[1])
		if err != nil {
			vssErr(w, http.StatusBadRequest, "VS402330: invalid date "+m[1], "WiqlSyntaxException")
			return
		}
		// Without timePrecision the service compares dates only and refuses a time.
		if r.URL.Query().Get("timePrecision") != "true" && !t.Equal(t.Truncate(24*time.Hour)) {
			vssErr(w, http.StatusBadRequest, "VS402625: Dates must be specified without a time component unless timePrecision is true.", "WiqlSyntaxException")
			return
		}
		since = t
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	assignee := ""
	if m := wiqlAssigned.FindStringSubmatch(q); m != nil {
		assignee = f.opts.Me
		if !strings.EqualFold(m[1], "@Me") {
			assignee = strings.ReplaceAll(m[2], "''", "'")
		}
	}
	var excluded []string
	if m := wiqlNotIn.FindStringSubmatch(q); m != nil {
		for s := range strings.SplitSeq(m[1], ",") {
			excluded = append(excluded, strings.Trim(strings.TrimSpace(s), "'"))
		}
	}
	typeExcluded := map[string][]string{} // state → types
	for _, m := range wiqlNotStateOfType.FindAllStringSubmatch(q, -1) {
		st := strings.ReplaceAll(m[1], "''", "'")
		for t := range strings.SplitSeq(m[2], ",") {
			typeExcluded[strings.ToLower(st)] = append(typeExcluded[strings.ToLower(st)], strings.Trim(strings.TrimSpace(t), "'"))
		}
	}
	var above int64
	if m := wiqlIDAbove.FindStringSubmatch(q); m != nil {
		above, _ = strconv.ParseInt(m[1], 10, 64)
	}
	below := int64(1 << 62)
	if m := wiqlIDBelow.FindStringSubmatch(q); m != nil {
		below, _ = strconv.ParseInt(m[1], 10, 64)
	}
	_ = wiqlProject // every work item of the fake is in its one project
	if f.sorted == nil || f.sortedGen != f.gen {
		f.sorted, f.sortedGen = slices.Sorted(maps.Keys(f.items)), f.gen
	}
	all := f.sorted
	start, _ := slices.BinarySearch(all, above+1)
	var ids []int64
	for _, id := range all[start:] {
		if top >= 0 && len(ids) > top {
			break // enough to cut at $top; without $top every match counts (the cap)
		}
		it := f.items[id]
		switch {
		case assignee != "" && !strings.EqualFold(it.AssignedTo, assignee),
			slices.ContainsFunc(excluded, func(s string) bool { return strings.EqualFold(s, it.State) }),
			// (ToLower allocates: only looked up when a state is closed for some types only.)
			len(typeExcluded) > 0 && slices.ContainsFunc(typeExcluded[strings.ToLower(it.State)], func(t string) bool { return strings.EqualFold(t, it.Type) }),
			!since.IsZero() && it.Changed.Before(since),
			id <= above, id >= below:
			continue
		}
		ids = append(ids, id)
	}
	if top < 0 && len(ids) > f.opts.WIQLCap {
		vssErr(w, http.StatusBadRequest, fmt.Sprintf("VS402337: The number of work items returned exceeds the size limit of %d. Change the query to return fewer items.", f.opts.WIQLCap), "WorkItemTrackingQueryResultSizeLimitExceededException")
		return
	}
	if top >= 0 && len(ids) > top {
		ids = ids[:top]
	}
	base := fakehttp.BaseURL(r)
	prefix := f.itemURL(base, 0)
	prefix = prefix[:len(prefix)-1] // itemURL's form, its id cut: built once per page
	// Written by hand into a pooled buffer: encoding a map of refs made a
	// URL string per work item and the whole answer again (issue 9); the
	// only strings that need JSON quoting are quoted by the library, once.
	// The keys are in the order the library wrote the map in (sorted).
	qPrefix, err := json.Marshal(prefix)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	qPrefix = qPrefix[:len(qPrefix)-1] // the closing quote follows the id
	qField, err := json.Marshal(base + "/_apis/wit/fields/System.Id")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	asOf := time.Now().UTC()
	_ = fakehttp.WriteBuilt(w, http.StatusOK, func(b []byte) []byte {
		b = append(b, `{"asOf":"`...)
		b = append(asOf.AppendFormat(b, time.RFC3339Nano), `","columns":[{"name":"ID","referenceName":"System.Id","url":`...)
		b = append(append(b, qField...), `}],"queryResultType":"workItem","queryType":"flat","workItems":[`...)
		for i, id := range ids {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(append(b, `{"id":`...), id, 10)
			b = strconv.AppendInt(append(append(b, `,"url":`...), qPrefix...), id, 10)
			b = append(b, `"}`...)
		}
		return append(b, "]}"...)
	})
}

func (f *Server) batch(w http.ResponseWriter, r *http.Request) {
	if !f.checkProject(w, r) {
		return
	}
	var body struct {
		IDs         []int64  `json:"ids"`
		Fields      []string `json:"fields"`
		ErrorPolicy string   `json:"errorPolicy"`
	}
	// Read whole, then decoded by encoding/json: go-json's decoders (stream
	// or not) allocated each id of the list on its own (half an allocation
	// per listed work item, charged to discovery by cmd/bench).
	raw, err := readBody(r)
	if err == nil {
		err = stdjson.Unmarshal(raw, &body)
	}
	if err != nil {
		vssErr(w, http.StatusBadRequest, "invalid body", "InvalidArgumentValueException")
		return
	}
	if len(body.IDs) > 200 {
		vssErr(w, http.StatusBadRequest, "VS402335: The maximum number of work items that can be requested in a batch is 200.", "WorkItemBatchLimitExceededException")
		return
	}
	base := fakehttp.BaseURL(r)
	out, ok := func() ([][]byte, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		fields := strings.Join(body.Fields, ",")
		out := make([][]byte, 0, len(body.IDs))
		for _, id := range body.IDs {
			it, ok := f.items[id]
			switch {
			case !ok && strings.EqualFold(body.ErrorPolicy, "omit"):
				out = append(out, null)
			case !ok:
				vssErr(w, http.StatusNotFound, fmt.Sprintf("VS402323: Work item %d does not exist.", id), "WorkItemUnauthorizedAccessException")
				return nil, false
			default:
				b, err := f.itemBytes(base, it, body.Fields, fields)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return nil, false
				}
				out = append(out, b)
			}
		}
		return out, true
	}()
	if !ok {
		return
	}
	// The cached encodings are never changed once made: they are written
	// out after the lock, as they are, not assembled into a page-sized
	// buffer for every request (issue 9).
	_ = fakehttp.WriteArray(w, http.StatusOK, `{"count":`+strconv.Itoa(len(out))+`,"value":`, out, "}")
}

var null = []byte("null")

// readBody reads a request's body in one allocation when its length is
// known (the client's requests have one).
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= 1<<20 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}

// The fake stands in for Azure DevOps on another machine, so its own cost
// should stay small beside the client's: the batch endpoint encodes a work
// item once and serves the bytes until a write (lock) changes anything
// (issue 9: encoding every item of every page was a fifth of the
// discovery bench's allocations).

// lock takes f.mu for a write: what the batch endpoint answers may change.
func (f *Server) lock() {
	f.mu.Lock()
	f.gen++
}

type encodedKey struct {
	it           *WorkItem
	base, fields string
}

type encodedItem struct {
	gen uint64
	b   []byte
}

// itemBytes is itemJSON of a batch, encoded, from the cache when nothing
// was written since (f.mu is held).
func (f *Server) itemBytes(base string, it *WorkItem, fields []string, fieldsKey string) ([]byte, error) {
	k := encodedKey{it, base, fieldsKey}
	if e, ok := f.encoded[k]; ok && e.gen == f.gen {
		return e.b, nil
	}
	b, err := json.Marshal(f.itemJSON(base, it, fields, false))
	if err != nil {
		return nil, err
	}
	if f.encoded == nil || len(f.encoded) > 4*len(f.items)+1024 {
		f.encoded = map[encodedKey]encodedItem{} // drop entries of other bases and field lists
	}
	f.encoded[k] = encodedItem{gen: f.gen, b: b}
	return b, nil
}

func (f *Server) lookup(w http.ResponseWriter, r *http.Request) (*WorkItem, bool) {
	if !f.checkProject(w, r) {
		return nil, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		vssErr(w, http.StatusBadRequest, "invalid id", "InvalidArgumentValueException")
		return nil, false
	}
	it, ok := f.items[id]
	if !ok {
		vssErr(w, http.StatusNotFound, fmt.Sprintf("VS402323: Work item %d does not exist, or you do not have permissions to read it.", id), "WorkItemUnauthorizedAccessException")
		return nil, false
	}
	return it, true
}

func (f *Server) getItem(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.lookup(w, r)
	if !ok {
		return
	}
	exp := strings.ToLower(r.URL.Query().Get("$expand"))
	var fields []string
	if v := r.URL.Query().Get("fields"); v != "" {
		// As on the service, fields selects what "fields" holds and cannot
		// be combined with an expansion.
		if exp != "" && exp != "none" {
			vssErr(w, http.StatusBadRequest, "VS403437: The expand parameter can not be used with the fields parameter.", "ConflictingParametersException")
			return
		}
		for k := range strings.SplitSeq(v, ",") {
			fields = append(fields, strings.TrimSpace(k))
		}
	}
	fakehttp.JSON(w, http.StatusOK, f.itemJSON(fakehttp.BaseURL(r), it, fields, exp == "relations" || exp == "all"))
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// readPatch decodes a JSON Patch document, insisting on its media type.
func readPatch(w http.ResponseWriter, r *http.Request) ([]patchOp, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json-patch+json") {
		vssErr(w, http.StatusUnsupportedMediaType, "VS403403: work item updates take application/json-patch+json, not "+ct, "UnsupportedMediaTypeException")
		return nil, false
	}
	var ops []patchOp
	if err := json.NewDecoder(r.Body).Decode(&ops); err != nil || len(ops) == 0 {
		vssErr(w, http.StatusBadRequest, "VS402411: invalid JSON Patch document", "InvalidArgumentValueException")
		return nil, false
	}
	return ops, true
}

// apply applies ops to it; a failed "test" is 409 as on the service, an
// invalid state or field 400.
func (f *Server) apply(w http.ResponseWriter, it *WorkItem, ops []patchOp) bool {
	for _, op := range ops {
		var s string
		_ = json.Unmarshal(op.Value, &s)
		switch {
		case op.Op == "test" && op.Path == "/rev":
			var rev int
			if json.Unmarshal(op.Value, &rev) != nil || rev != it.Rev {
				vssErr(w, http.StatusConflict, fmt.Sprintf("VS402332: the work item's revision is %d, not %s", it.Rev, op.Value), "WorkItemRevisionMismatchException")
				return false
			}
		case op.Op != "add" && op.Op != "replace":
			vssErr(w, http.StatusBadRequest, "unsupported op "+op.Op, "InvalidArgumentValueException")
			return false
		case op.Path == "/fields/System.State":
			valid := false
			for _, st := range f.types[it.Type] {
				valid = valid || st[0] == s
			}
			if !valid {
				vssErr(w, http.StatusBadRequest, fmt.Sprintf("TF401320: Rule Error for field State. Error code: Required, HasValues, LimitedToValues, AllowsOldValue, InvalidEmpty. %q is not a state of %s", s, it.Type), "RuleValidationException")
				return false
			}
			it.State = s
		case op.Path == "/fields/System.Title":
			it.Title = s
		case op.Path == "/fields/System.Description":
			it.Description = s
		case op.Path == "/fields/System.AssignedTo":
			it.AssignedTo = s
		case op.Path == "/fields/System.Tags":
			it.Tags = nil
			for t := range strings.SplitSeq(s, ";") {
				if t = strings.TrimSpace(t); t != "" {
					it.Tags = append(it.Tags, t)
				}
			}
		case op.Path == "/multilineFieldsFormat/System.Description":
			it.HTML = !strings.EqualFold(s, "markdown")
		case op.Path == "/relations/-":
			var rel struct {
				Rel string `json:"rel"`
				URL string `json:"url"`
			}
			if json.Unmarshal(op.Value, &rel) != nil || rel.Rel != "System.LinkTypes.Hierarchy-Reverse" {
				vssErr(w, http.StatusBadRequest, "unsupported relation", "InvalidArgumentValueException")
				return false
			}
			i := strings.LastIndexByte(rel.URL, '/')
			pid, err := strconv.ParseInt(rel.URL[i+1:], 10, 64)
			if err != nil || f.items[pid] == nil {
				vssErr(w, http.StatusBadRequest, "TF201036: the parent work item does not exist", "InvalidArgumentValueException")
				return false
			}
			it.Parent = pid
		default:
			vssErr(w, http.StatusBadRequest, "TF51535: Cannot find field "+op.Path, "InvalidArgumentValueException")
			return false
		}
	}
	return true
}

func (f *Server) patchItem(w http.ResponseWriter, r *http.Request) {
	ops, ok := readPatch(w, r)
	if !ok {
		return
	}
	f.lock()
	defer f.mu.Unlock()
	it, ok := f.lookup(w, r)
	if !ok {
		return
	}
	next := *it
	if !f.apply(w, &next, ops) {
		return
	}
	next.Rev++
	next.Changed = time.Now().UTC().Truncate(time.Millisecond)
	*it = next
	fakehttp.JSON(w, http.StatusOK, f.itemJSON(fakehttp.BaseURL(r), it, nil, false))
}

func (f *Server) createItem(w http.ResponseWriter, r *http.Request) {
	typ, ok := strings.CutPrefix(r.PathValue("type"), "$")
	if !ok {
		vssErr(w, http.StatusMethodNotAllowed, "use $type", "InvalidArgumentValueException")
		return
	}
	if !f.checkProject(w, r) {
		return
	}
	f.mu.Lock()
	_, known := f.types[typ]
	f.mu.Unlock()
	if !known {
		vssErr(w, http.StatusNotFound, "TF201033: work item type "+typ+" does not exist", "WorkItemTypeNotFoundException")
		return
	}
	ops, ok := readPatch(w, r)
	if !ok {
		return
	}
	f.lock()
	defer f.mu.Unlock()
	it := WorkItem{Type: typ, State: "New", CreatedBy: f.opts.Me, HTML: true}
	if !f.apply(w, &it, ops) {
		return
	}
	if it.Title == "" {
		vssErr(w, http.StatusBadRequest, "TF401320: Rule Error for field Title. Error code: Required", "RuleValidationException")
		return
	}
	id := f.addLocked(it)
	fakehttp.JSON(w, http.StatusOK, f.itemJSON(fakehttp.BaseURL(r), f.items[id], nil, true))
}

func (f *Server) states(w http.ResponseWriter, r *http.Request) {
	if !f.checkProject(w, r) {
		return
	}
	f.mu.Lock()
	sts, ok := f.types[r.PathValue("type")]
	f.mu.Unlock()
	if !ok {
		vssErr(w, http.StatusNotFound, "TF201033: work item type "+r.PathValue("type")+" does not exist", "WorkItemTypeNotFoundException")
		return
	}
	out := make([]map[string]any, 0, len(sts))
	for _, st := range sts {
		out = append(out, map[string]any{"name": st[0], "category": st[1], "color": "007acc"})
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}

// listTypes answers GET …/_apis/wit/workitemtypes: each type with its
// states (WorkItemStateColor: name, color, category).
func (f *Server) listTypes(w http.ResponseWriter, r *http.Request) {
	if !f.checkProject(w, r) {
		return
	}
	base := fakehttp.BaseURL(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]map[string]any, 0, len(f.types))
	for _, typ := range slices.Sorted(maps.Keys(f.types)) {
		sts := make([]map[string]any, 0, len(f.types[typ]))
		for _, st := range f.types[typ] {
			sts = append(sts, map[string]any{"name": st[0], "category": st[1], "color": "007acc"})
		}
		out = append(out, map[string]any{"name": typ, "referenceName": "Microsoft.VSTS.WorkItemTypes." + strings.ReplaceAll(typ, " ", ""),
			"color": "009ccc", "isDisabled": false, "states": sts,
			"url": base + "/" + url.PathEscape(f.opts.Organization) + "/" + url.PathEscape(f.opts.Project) + "/_apis/wit/workItemTypes/" + url.PathEscape(typ)})
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}

func (f *Server) commentJSON(base string, it *WorkItem, c Comment) map[string]any {
	return map[string]any{"workItemId": it.ID, "id": c.ID, "version": 1, "text": c.Text, "format": c.Format,
		"createdBy": identity(base, f.user(c.By)), "createdDate": c.At.Format(time.RFC3339Nano),
		"modifiedBy": identity(base, f.user(c.By)), "modifiedDate": c.At.Format(time.RFC3339Nano),
		"url": fmt.Sprintf("%s/comments/%d", f.itemURL(base, it.ID), c.ID)}
}

// commentPage is how many comments one page of the list holds.
const commentPage = 2

func (f *Server) listComments(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.lookup(w, r)
	if !ok {
		return
	}
	start := 0
	if tok := r.URL.Query().Get("continuationToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(it.Comments) {
			vssErr(w, http.StatusBadRequest, "invalid continuationToken", "InvalidArgumentValueException")
			return
		}
		start = n
	}
	end := min(start+commentPage, len(it.Comments))
	base := fakehttp.BaseURL(r)
	out := []map[string]any{}
	for _, c := range it.Comments[start:end] {
		out = append(out, f.commentJSON(base, it, c))
	}
	res := map[string]any{"totalCount": len(it.Comments), "count": len(out), "comments": out, "url": f.itemURL(base, it.ID) + "/comments"}
	if end < len(it.Comments) {
		res["continuationToken"] = strconv.Itoa(end)
	}
	fakehttp.JSON(w, http.StatusOK, res)
}

func (f *Server) addComment(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Text == "" {
		vssErr(w, http.StatusBadRequest, "VS402622: comment text is required", "InvalidArgumentValueException")
		return
	}
	format := "html"
	if strings.EqualFold(r.URL.Query().Get("format"), "markdown") {
		format = "markdown"
	}
	f.lock()
	defer f.mu.Unlock()
	it, ok := f.lookup(w, r)
	if !ok {
		return
	}
	c := Comment{ID: f.nextC, Text: body.Text, Format: format, By: f.opts.Me, At: time.Now().UTC()}
	f.nextC++
	it.Comments = append(it.Comments, c)
	it.Rev++
	it.Changed = c.At
	fakehttp.JSON(w, http.StatusOK, f.commentJSON(fakehttp.BaseURL(r), it, c))
}

func (f *Server) repoJSON(base string) map[string]any {
	return map[string]any{"id": "5febef5a-833d-4e14-b9c0-14cb638f91e6", "name": f.opts.Project, "defaultBranch": f.opts.DefaultBranch,
		"url":     fmt.Sprintf("%s/%s/%s/_apis/git/repositories/%s", base, f.opts.Organization, url.PathEscape(f.opts.Project), url.PathEscape(f.opts.Project)),
		"webUrl":  fmt.Sprintf("%s/%s/%s/_git/%s", base, f.opts.Organization, url.PathEscape(f.opts.Project), url.PathEscape(f.opts.Project)),
		"project": f.projectJSON(base)}
}

func (f *Server) checkRepo(w http.ResponseWriter, r *http.Request) bool {
	if !f.checkProject(w, r) {
		return false
	}
	if !strings.EqualFold(r.PathValue("repo"), f.opts.Project) {
		vssErr(w, http.StatusNotFound, "TF401019: The Git repository with name or identifier "+r.PathValue("repo")+" does not exist or you do not have permissions for the operation you are attempting.", "GitRepositoryNotFoundException")
		return false
	}
	return true
}

func (f *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	if f.checkRepo(w, r) {
		fakehttp.JSON(w, http.StatusOK, f.repoJSON(fakehttp.BaseURL(r)))
	}
}

func (f *Server) prJSON(base string, p *PullRequest) map[string]any {
	refs := []map[string]any{}
	for _, id := range p.WorkItems {
		refs = append(refs, map[string]any{"id": strconv.FormatInt(id, 10), "url": f.itemURL(base, id)})
	}
	reviewers := []map[string]any{}
	for _, rv := range p.Reviewers {
		u := f.user(rv)
		reviewers = append(reviewers, map[string]any{"id": u.ID, "displayName": u.DisplayName, "uniqueName": u.UniqueName, "vote": 0})
	}
	repo := f.repoJSON(base)
	return map[string]any{"pullRequestId": p.ID, "codeReviewId": p.ID, "status": p.Status, "title": p.Title, "description": p.Description,
		"sourceRefName": p.Source, "targetRefName": p.Target, "mergeStatus": "queued", "isDraft": false,
		"createdBy": identity(base, f.user(cmp.Or(p.CreatedBy, f.opts.Me))), "creationDate": p.Created.UTC().Format(time.RFC3339Nano),
		"repository": repo, "reviewers": reviewers, "workItemRefs": refs,
		"url": fmt.Sprintf("%s/pullRequests/%d", repo["url"], p.ID)}
}

func (f *Server) listPRs(w http.ResponseWriter, r *http.Request) {
	if !f.checkRepo(w, r) {
		return
	}
	q := r.URL.Query()
	src, status := q.Get("searchCriteria.sourceRefName"), cmp.Or(q.Get("searchCriteria.status"), "active")
	f.mu.Lock()
	defer f.mu.Unlock()
	base := fakehttp.BaseURL(r)
	out := []map[string]any{}
	for _, p := range f.prs {
		if (src == "" || p.Source == src) && (status == "all" || p.Status == status) {
			out = append(out, f.prJSON(base, p))
		}
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}

// prFor finds the pull request of the path ({id}) under lock, or answers 404.
func (f *Server) prFor(w http.ResponseWriter, r *http.Request) *PullRequest {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, p := range f.prs {
		if p.ID == id {
			return p
		}
	}
	vssErr(w, http.StatusNotFound, fmt.Sprintf("TF401180: The requested pull request was not found. %d", id), "GitPullRequestNotFoundException")
	return nil
}

func (f *Server) threadJSON(base string, p *PullRequest, t Thread) map[string]any {
	comments := make([]map[string]any, 0, len(t.Comments))
	last := time.Time{}
	for i, c := range t.Comments {
		parent := int64(0) // replies answer the thread's first comment
		if i > 0 {
			parent = t.Comments[0].ID
		}
		comments = append(comments, map[string]any{"id": c.ID, "parentCommentId": parent, "content": c.Text,
			"commentType": "text", "author": identity(base, f.user(c.By)), "publishedDate": c.At.Format(time.RFC3339Nano),
			"lastUpdatedDate": c.At.Format(time.RFC3339Nano), "lastContentUpdatedDate": c.At.Format(time.RFC3339Nano)})
		last = c.At
	}
	return map[string]any{"id": t.ID, "status": t.Status, "comments": comments, "isDeleted": false,
		"publishedDate": t.Comments[0].At.Format(time.RFC3339Nano), "lastUpdatedDate": last.Format(time.RFC3339Nano),
		"_links": map[string]any{"self": map[string]any{"href": fmt.Sprintf("%s/%s/%s/_apis/git/repositories/%s/pullRequests/%d/threads/%d",
			base, f.opts.Organization, url.PathEscape(f.opts.Project), url.PathEscape(f.opts.Project), p.ID, t.ID)}}}
}

// listThreads answers every thread of the pull request (the API does not
// page them).
func (f *Server) listThreads(w http.ResponseWriter, r *http.Request) {
	if !f.checkRepo(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.prFor(w, r)
	if p == nil {
		return
	}
	base := fakehttp.BaseURL(r)
	out := make([]map[string]any, 0, len(p.Threads))
	for _, t := range p.Threads {
		out = append(out, f.threadJSON(base, p, t))
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}

// createThread starts a thread with one text comment.
func (f *Server) createThread(w http.ResponseWriter, r *http.Request) {
	if !f.checkRepo(w, r) {
		return
	}
	var body struct {
		Comments []struct {
			ParentCommentID int64  `json:"parentCommentId"`
			Content         string `json:"content"`
			CommentType     string `json:"commentType"`
		} `json:"comments"`
		Status string `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Comments) != 1 || body.Comments[0].Content == "" {
		vssErr(w, http.StatusBadRequest, "a new thread takes one comment with content", "InvalidArgumentValueException")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.prFor(w, r)
	if p == nil {
		return
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	t := Thread{ID: f.nextC, Status: cmp.Or(body.Status, "active"), Comments: []Comment{{ID: 1, Text: body.Comments[0].Content, Format: "markdown", By: f.opts.Me, At: now}}}
	f.nextC++
	p.Threads = append(p.Threads, t)
	fakehttp.JSON(w, http.StatusOK, f.threadJSON(fakehttp.BaseURL(r), p, t))
}

func (f *Server) createPR(w http.ResponseWriter, r *http.Request) {
	if !f.checkRepo(w, r) {
		return
	}
	var body struct {
		Source       string `json:"sourceRefName"`
		Target       string `json:"targetRefName"`
		Title        string `json:"title"`
		Description  string `json:"description"`
		WorkItemRefs []struct {
			ID string `json:"id"`
		} `json:"workItemRefs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !strings.HasPrefix(body.Source, "refs/heads/") || !strings.HasPrefix(body.Target, "refs/heads/") || body.Title == "" {
		vssErr(w, http.StatusBadRequest, "TF401398: source and target must be refs/heads/… branches and a title is required", "InvalidArgumentValueException")
		return
	}
	f.lock()
	defer f.mu.Unlock()
	for _, p := range f.prs {
		if p.Source == body.Source && p.Target == body.Target && p.Status == "active" {
			vssErr(w, http.StatusConflict, "TF401179: An active pull request for the source and target branch already exists.", "GitPullRequestExistsException")
			return
		}
	}
	p := &PullRequest{ID: f.nextPR, Created: time.Now().UTC().Truncate(time.Millisecond), Source: body.Source, Target: body.Target, Title: body.Title, Description: body.Description, Status: "active", CreatedBy: f.opts.Me}
	f.nextPR++
	for _, ref := range body.WorkItemRefs {
		if id, err := strconv.ParseInt(ref.ID, 10, 64); err == nil {
			p.WorkItems = append(p.WorkItems, id)
		}
	}
	f.prs = append(f.prs, p)
	fakehttp.JSON(w, http.StatusCreated, f.prJSON(fakehttp.BaseURL(r), p))
}

// projectPRs is the project-wide listing (GetPullRequestsByProject) with
// the searchCriteria.reviewerId and .status criteria and $top/$skip paging,
// in id order (the service lists newest first; the tracker relies on no
// order).
func (f *Server) projectPRs(w http.ResponseWriter, r *http.Request) {
	if !f.checkProject(w, r) {
		return
	}
	q := r.URL.Query()
	reviewer, status := q.Get("searchCriteria.reviewerId"), cmp.Or(q.Get("searchCriteria.status"), "active")
	top, skip := 101, 0 // the service's default page is 101 pull requests
	for name, dst := range map[string]*int{"$top": &top, "$skip": &skip} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				vssErr(w, http.StatusBadRequest, "invalid "+name, "InvalidArgumentValueException")
				return
			}
			*dst = n
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []*PullRequest
	for _, p := range f.prs {
		if status != "all" && p.Status != status {
			continue
		}
		if reviewer != "" && !slices.ContainsFunc(p.Reviewers, func(rv string) bool { return strings.EqualFold(f.user(rv).ID, reviewer) }) {
			continue
		}
		match = append(match, p)
	}
	base := fakehttp.BaseURL(r)
	out := []map[string]any{}
	for _, p := range match[min(skip, len(match)):min(skip+top, len(match))] {
		out = append(out, f.prJSON(base, p))
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}
