package gitlabfake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// MergeRequest is a GitLab merge request.
type MergeRequest struct {
	IID          int64 // unique across the fake
	ProjectID    int64
	Title        string
	Description  string
	SourceBranch string
	TargetBranch string
	State        string // opened, closed, merged
	Author       string
	Created      time.Time
	Updated      time.Time
}

// AddMergeRequest adds a merge request (state opened unless given, in the
// first project unless given) and returns its iid.
func (s *Server) AddMergeRequest(mr MergeRequest) int64 {
	s.lock()
	defer s.mu.Unlock()
	return s.addMergeRequestLocked(mr)
}

func (s *Server) addMergeRequestLocked(mr MergeRequest) int64 {
	if mr.ProjectID == 0 && len(s.projects) > 0 {
		mr.ProjectID = s.projects[0].ID
	}
	if mr.State == "" {
		mr.State = "opened"
	}
	if mr.Created.IsZero() {
		mr.Created = time.Now()
	}
	if mr.Updated.IsZero() {
		mr.Updated = mr.Created
	}
	mr.Created, mr.Updated = stamp(mr.Created), stamp(mr.Updated)
	s.lastIID++
	mr.IID = s.lastIID
	s.mrs = append(s.mrs, &mr)
	return mr.IID
}

// MergeRequests returns the merge requests whose source branch is source
// ("" for all), in creation order.
func (s *Server) MergeRequests(source string) []MergeRequest {
	s.lock()
	defer s.mu.Unlock()
	var out []MergeRequest
	for _, mr := range s.mrs {
		if source == "" || mr.SourceBranch == source {
			out = append(out, *mr)
		}
	}
	return out
}

// MergeRequestURL is the web URL the fake reports for a merge request, given
// the fake's base URL.
func (s *Server) MergeRequestURL(base string, mr MergeRequest) string {
	p, _ := s.findProject(strconv.FormatInt(mr.ProjectID, 10))
	return base + "/" + p.Path + "/-/merge_requests/" + strconv.FormatInt(mr.IID, 10)
}

func (s *Server) listMergeRequests(w http.ResponseWriter, r *http.Request) {
	a, ok := s.projectAccess(w, r, false)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "all"
	}
	var list []MergeRequest
	for _, mr := range s.MergeRequests("") {
		switch {
		case mr.ProjectID != a.project.ID,
			state != "all" && mr.State != state,
			q.Get("source_branch") != "" && mr.SourceBranch != q.Get("source_branch"),
			q.Get("target_branch") != "" && mr.TargetBranch != q.Get("target_branch"):
			continue
		}
		list = append(list, mr)
	}
	// created_at desc by default, as GitLab lists them.
	slices.SortStableFunc(list, func(a, b MergeRequest) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return int(b.IID - a.IID)
	})
	if q.Get("sort") == "asc" {
		slices.Reverse(list)
	}
	base := fakehttp.BaseURL(r)
	out := []map[string]any{}
	for _, mr := range offsetPage(w, r, list, s.opts.MaxPerPage) {
		out = append(out, s.mergeRequestJSON(base, a.project, mr))
	}
	fakehttp.JSON(w, http.StatusOK, out)
}

func (s *Server) createMergeRequest(w http.ResponseWriter, r *http.Request) {
	a, ok := s.projectAccess(w, r, true)
	if !ok {
		return
	}
	if a.level < Developer {
		forbidden(w)
		return
	}
	params, err := readParams(r)
	if err != nil {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "400 Bad request - body is not valid"})
		return
	}
	title, _ := paramString(params, "title")
	source, _ := paramString(params, "source_branch")
	target, _ := paramString(params, "target_branch")
	desc, _ := paramString(params, "description")
	var missing []string
	for name, v := range map[string]string{"title": title, "source_branch": source, "target_branch": target} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": strings.Join(missing, ", ") + " is missing"})
		return
	}
	if source == target {
		fakehttp.JSON(w, http.StatusUnprocessableEntity, map[string][]string{"message": {"You can't use same project/branch for source and target"}})
		return
	}
	s.lock()
	for _, mr := range s.mrs {
		if mr.ProjectID == a.project.ID && mr.State == "opened" && mr.SourceBranch == source && mr.TargetBranch == target {
			s.mu.Unlock()
			fakehttp.JSON(w, http.StatusConflict, map[string][]string{"message": {"Another open merge request already exists for this source branch: !" + strconv.FormatInt(mr.IID, 10)}})
			return
		}
	}
	iid := s.addMergeRequestLocked(MergeRequest{ProjectID: a.project.ID, Title: title, Description: desc, SourceBranch: source, TargetBranch: target, Author: a.user.Username})
	var mr MergeRequest
	for _, m := range s.mrs {
		if m.IID == iid {
			mr = *m
		}
	}
	s.mu.Unlock()
	fakehttp.JSON(w, http.StatusCreated, s.mergeRequestJSON(fakehttp.BaseURL(r), a.project, mr))
}

func (s *Server) mergeRequestJSON(base string, p Project, mr MergeRequest) map[string]any {
	ref := "!" + strconv.FormatInt(mr.IID, 10)
	var closedAt any
	if mr.State == "closed" {
		closedAt = formatTime(mr.Updated)
	}
	return map[string]any{
		"id": 5000 + mr.IID, "iid": mr.IID, "project_id": p.ID, "title": mr.Title, "description": mr.Description,
		"state": mr.State, "created_at": formatTime(mr.Created), "updated_at": formatTime(mr.Updated),
		"merged_by": nil, "merge_user": nil, "merged_at": nil, "closed_by": nil, "closed_at": closedAt,
		"target_branch": mr.TargetBranch, "source_branch": mr.SourceBranch,
		"author": s.userBasicJSON(base, mr.Author), "assignees": []any{}, "assignee": nil, "reviewers": []any{},
		"source_project_id": p.ID, "target_project_id": p.ID, "labels": []string{}, "draft": false,
		"milestone": nil, "merge_status": "checking", "detailed_merge_status": "preparing", "sha": nil,
		"reference": ref, "references": map[string]string{"short": ref, "relative": ref, "full": p.Path + ref},
		"web_url": base + "/" + p.Path + "/-/merge_requests/" + strconv.FormatInt(mr.IID, 10),
	}
}
