package confluencefake

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// Page is a Confluence page.
type Page struct {
	ID       int64
	SpaceKey string
	Title    string
	// Body is the page in storage format (XHTML with ac:/ri: elements).
	Body string
	// Updated is when the page last changed; a fixed date when zero.
	Updated time.Time
	// Version is the page's version number; 1 when zero.
	Version int
	// AuthorID is the author's account id (Cloud) or username (Data Center).
	AuthorID string
}

var defaultUpdated = time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)

// AddPage adds or replaces (by id) a page.
func (s *Server) AddPage(p Page) {
	if p.Updated.IsZero() {
		p.Updated = defaultUpdated
	}
	if p.Version == 0 {
		p.Version = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.pages {
		if old.ID == p.ID {
			s.pages[i] = p
			return
		}
	}
	s.pages = append(s.pages, p)
}

// RemovePage deletes a page; searches stop finding it and reads answer 404.
func (s *Server) RemovePage(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages = slices.DeleteFunc(s.pages, func(p Page) bool { return p.ID == id })
}

// spaceOf returns the space with key (case-insensitive); the caller holds mu.
func (s *Server) spaceOf(key string) (Space, bool) {
	for _, sp := range s.spaces {
		if strings.EqualFold(sp.Key, key) {
			return sp, true
		}
	}
	return Space{}, false
}

func badRequest(w http.ResponseWriter, msg string) {
	fakehttp.JSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": msg, "data": map[string]any{"authorized": true, "valid": false, "errors": []any{}, "successful": false}})
}

// cursor encodes a result offset the way Cloud's opaque cursors look.
func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("fake-offset:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "fake-offset:"))
	if err != nil || n < 0 || !strings.HasPrefix(string(b), "fake-offset:") {
		return 0, false
	}
	return n, true
}

type scored struct {
	result map[string]any
	score  float64
	when   time.Time
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	s.searches.Add(1)
	q := r.URL.Query()
	cql := q.Get("cql")
	if cql == "" {
		badRequest(w, "com.atlassian.confluence.api.service.exceptions.BadRequestException: cql query parameter is required")
		return
	}
	where, err := parseCQL(cql)
	if err != nil {
		badRequest(w, "Could not parse cql : "+err.Error())
		return
	}
	limit := 25
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l >= 0 {
		limit = l
	}
	limit = min(limit, s.maxLimit)
	start := 0
	if st, err := strconv.Atoi(q.Get("start")); err == nil && st >= 0 {
		start = st
	}
	if c := q.Get("cursor"); c != "" {
		off, ok := decodeCursor(c)
		if !ok {
			badRequest(w, "Invalid cursor")
			return
		}
		start = off
	}
	excerptMode := cmp.Or(q.Get("excerpt"), "highlight")

	base := fakehttp.BaseURL(r) + s.prefix()
	wantType := func(t string) bool { return len(where.types) == 0 || slices.Contains(where.types, t) }
	inSpaces := func(key string) bool {
		return len(where.spaces) == 0 || slices.ContainsFunc(where.spaces, func(k string) bool { return strings.EqualFold(k, key) })
	}
	var all []scored
	s.mu.Lock()
	if wantType("space") && len(where.text) == 0 {
		for _, sp := range s.spaces {
			if inSpaces(sp.Key) && s.canSee(u, sp) {
				all = append(all, scored{result: spaceResult(base, sp), score: 1})
			}
		}
	}
	if wantType("page") {
		for _, p := range s.pages {
			sp, ok := s.spaceOf(p.SpaceKey)
			if !ok || !inSpaces(sp.Key) || !s.canSee(u, sp) {
				continue
			}
			score, hl, ok := matchPage(where.text, p)
			if !ok {
				continue
			}
			all = append(all, scored{result: s.pageResult(base, sp, p, hl, excerptMode, score), score: score, when: p.Updated})
		}
	}
	s.mu.Unlock()
	// Most relevant first, then most recently updated, as Confluence ranks.
	slices.SortStableFunc(all, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return b.when.Compare(a.when)
	})

	page := []map[string]any{}
	for i := start; i < len(all) && len(page) < limit; i++ {
		page = append(page, all[i].result)
	}
	links := map[string]string{"base": base, "context": s.prefix(), "self": base + "/rest/api/search?" + r.URL.RawQuery}
	if end := start + len(page); end < len(all) && len(page) > 0 {
		next := url.Values{"cql": {cql}, "limit": {strconv.Itoa(limit)}}
		if s.deployment == connector.Cloud {
			next.Set("cursor", encodeCursor(end))
			next.Set("next", "true")
		} else {
			next.Set("start", strconv.Itoa(end))
		}
		links["next"] = "/rest/api/search?" + next.Encode()
	}
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"results": page, "start": start, "limit": limit, "size": len(page), "totalSize": len(all),
		"cqlQuery": cql, "searchDuration": 3,
		"_links": links,
	})
}

// matchPage checks every text clause against a page and scores it: each
// matched item counts 1, twice when it is in the title. hl lists the words
// to highlight.
func matchPage(clauses []textClause, p Page) (score float64, hl []string, ok bool) {
	title := analyse(p.Title)
	body := analyse(plainText(p.Body))
	if len(clauses) == 0 {
		return 1, nil, true
	}
	for _, c := range clauses {
		matched := false
		for _, group := range c.q.groups {
			all := true
			var gScore float64
			for _, item := range group {
				inTitle := matchPhrase(title, item) >= 0
				inBody := c.field != "title" && matchPhrase(body, item) >= 0
				switch {
				case inTitle:
					gScore += 2
				case inBody:
					gScore++
				default:
					all = false
				}
				if inTitle || inBody {
					hl = append(hl, item...)
				}
			}
			if all {
				matched = true
				score += gScore
			}
		}
		if !matched {
			return 0, nil, false
		}
	}
	return score, hl, true
}

var (
	tags       = regexp.MustCompile(`<[^>]*>`)
	parameters = regexp.MustCompile(`(?s)<ac:parameter[^>]*>.*?</ac:parameter>`)
)

// plainText strips a storage-format body to its words (the fake's index).
func plainText(storage string) string {
	storage = parameters.ReplaceAllString(storage, " ")
	storage = strings.NewReplacer("<![CDATA[", " ", "]]>", " ").Replace(storage)
	return html.UnescapeString(tags.ReplaceAllString(storage, " "))
}

// highlight HTML-escapes text and marks the words in hl the way Confluence's
// excerpt=highlight does.
func highlight(text string, hl []string, mode string) string {
	if mode == "none" {
		return ""
	}
	words := strings.Fields(text)
	for i, w := range words {
		esc := w
		if !strings.HasSuffix(mode, "_unescaped") {
			esc = html.EscapeString(w)
		}
		if strings.HasPrefix(mode, "highlight") {
			if a := analyse(w); len(a) > 0 && slices.Contains(hl, a[0]) {
				esc = "@@@hl@@@" + esc + "@@@endhl@@@"
			}
		}
		words[i] = esc
	}
	return strings.Join(words, " ")
}

// excerptOf returns about 30 words of the body, starting shortly before the
// first highlighted word.
func excerptOf(body string, hl []string) string {
	words := strings.Fields(plainText(body))
	first := 0
	for i, w := range words {
		if a := analyse(w); len(a) > 0 && slices.Contains(hl, a[0]) {
			first = max(i-5, 0)
			break
		}
	}
	end := min(first+30, len(words))
	out := strings.Join(words[first:end], " ")
	if end < len(words) {
		out += " …"
	}
	return out
}

func pageUIPath(d connector.Deployment, sp Space, p Page) string {
	if d == connector.Cloud {
		return fmt.Sprintf("/spaces/%s/pages/%d/%s", sp.Key, p.ID, url.PathEscape(strings.ReplaceAll(p.Title, " ", "+")))
	}
	return fmt.Sprintf("/display/%s/%s", sp.Key, url.PathEscape(strings.ReplaceAll(p.Title, " ", "+")))
}

func spaceUIPath(d connector.Deployment, key string) string {
	if d == connector.Cloud {
		return "/spaces/" + key
	}
	return "/display/" + key
}

func (s *Server) pageResult(base string, sp Space, p Page, hl []string, mode string, score float64) map[string]any {
	id := strconv.FormatInt(p.ID, 10)
	ui := pageUIPath(s.deployment, sp, p)
	return map[string]any{
		"content": map[string]any{
			"id": id, "type": "page", "status": "current", "title": p.Title,
			"_expandable": map[string]string{
				"container": "/rest/api/space/" + sp.Key, "metadata": "", "restrictions": "/rest/api/content/" + id + "/restriction/byOperation",
				"history": "/rest/api/content/" + id + "/history", "body": "", "version": "", "descendants": "/rest/api/content/" + id + "/descendant",
				"space": "/rest/api/space/" + sp.Key, "children": "/rest/api/content/" + id + "/child", "ancestors": "",
			},
			"_links": map[string]string{"webui": ui, "self": base + "/rest/api/content/" + id, "tinyui": "/x/" + id},
		},
		"title":                 highlight(p.Title, hl, mode),
		"excerpt":               highlight(excerptOf(p.Body, hl), hl, mode),
		"url":                   ui,
		"resultGlobalContainer": map[string]any{"title": sp.Name, "displayUrl": spaceUIPath(s.deployment, sp.Key)},
		"breadcrumbs":           []any{},
		"entityType":            "content",
		"iconCssClass":          "aui-icon content-type-page",
		"lastModified":          p.Updated.UTC().Format("2006-01-02T15:04:05.000Z"),
		"friendlyLastModified":  p.Updated.UTC().Format("Jan 02, 2006"),
		"score":                 score,
	}
}

func spaceResult(base string, sp Space) map[string]any {
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

// visiblePage finds a page the user may read; the caller must not hold mu.
func (s *Server) visiblePage(u User, rawID string) (Page, Space, bool) {
	id, err := strconv.ParseInt(rawID, 10, 64)
	if err != nil {
		return Page{}, Space{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pages {
		if p.ID != id {
			continue
		}
		sp, ok := s.spaceOf(p.SpaceKey)
		if !ok || !s.canSee(u, sp) {
			return Page{}, Space{}, false
		}
		return p, sp, true
	}
	return Page{}, Space{}, false
}

// pageV2 serves Cloud's GET /wiki/api/v2/pages/{id}.
func (s *Server) pageV2(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	raw := r.PathValue("id")
	if _, err := strconv.ParseInt(raw, 10, 64); err != nil {
		fakehttp.JSON(w, http.StatusBadRequest, map[string]any{"errors": []any{map[string]any{"status": 400, "code": "INVALID_REQUEST_PARAMETER", "title": "Provided value {" + raw + "} for 'id' is not the correct type. Expected type is ContentId", "detail": nil}}})
		return
	}
	p, sp, ok := s.visiblePage(u, raw)
	if !ok {
		fakehttp.JSON(w, http.StatusNotFound, map[string]any{"errors": []any{map[string]any{"status": 404, "code": "NOT_FOUND", "title": "Not Found", "detail": nil}}})
		return
	}
	s.pageReads.Add(1)
	id := strconv.FormatInt(p.ID, 10)
	author := cmp.Or(p.AuthorID, "557058:fake-author")
	body := map[string]any{}
	switch f := r.URL.Query().Get("body-format"); f {
	case "storage":
		body["storage"] = map[string]any{"representation": "storage", "value": p.Body}
	case "":
	default:
		fakehttp.JSON(w, http.StatusBadRequest, map[string]any{"errors": []any{map[string]any{"status": 400, "code": "INVALID_REQUEST_PARAMETER", "title": "body-format " + f + " is not served by the fake", "detail": nil}}})
		return
	}
	when := p.Updated.UTC().Format("2006-01-02T15:04:05.000Z")
	fakehttp.JSON(w, http.StatusOK, map[string]any{
		"id": id, "status": "current", "title": p.Title, "spaceId": strconv.FormatInt(sp.ID, 10),
		"authorId": author, "ownerId": author, "createdAt": when,
		"version": map[string]any{"createdAt": when, "message": "", "number": p.Version, "minorEdit": false, "authorId": author},
		"body":    body,
		"_links": map[string]string{
			"webui": pageUIPath(s.deployment, sp, p), "editui": "/pages/resumedraft.action?draftId=" + id,
			"tinyui": "/x/" + id, "base": fakehttp.BaseURL(r) + s.prefix(),
		},
	})
}

// contentV1 serves Data Center's GET /rest/api/content/{id}?expand=body.storage.
func (s *Server) contentV1(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	p, sp, ok := s.visiblePage(u, r.PathValue("id"))
	if !ok {
		fakehttp.JSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "message": "No content found with id: ContentId{id=" + r.PathValue("id") + "}", "data": map[string]any{"authorized": false, "valid": true, "errors": []any{}, "successful": false}})
		return
	}
	s.pageReads.Add(1)
	id := strconv.FormatInt(p.ID, 10)
	base := fakehttp.BaseURL(r) + s.prefix()
	m := map[string]any{
		"id": id, "type": "page", "status": "current", "title": p.Title,
		"space": map[string]any{"id": sp.ID, "key": sp.Key, "name": sp.Name, "type": "global", "status": "current",
			"_expandable": map[string]string{}, "_links": map[string]string{"webui": spaceUIPath(s.deployment, sp.Key), "self": base + "/rest/api/space/" + sp.Key}},
		"version":     map[string]any{"by": map[string]any{"type": "known", "username": cmp.Or(p.AuthorID, "mia")}, "when": p.Updated.UTC().Format("2006-01-02T15:04:05.000Z"), "number": p.Version, "minorEdit": false},
		"_links":      map[string]string{"webui": pageUIPath(s.deployment, sp, p), "self": base + "/rest/api/content/" + id, "base": base, "context": s.prefix()},
		"_expandable": map[string]string{"children": "/rest/api/content/" + id + "/child", "history": "/rest/api/content/" + id + "/history"},
	}
	if slices.Contains(strings.Split(r.URL.Query().Get("expand"), ","), "body.storage") {
		m["body"] = map[string]any{"storage": map[string]any{"value": p.Body, "representation": "storage", "_expandable": map[string]string{"content": "/rest/api/content/" + id}}}
	}
	fakehttp.JSON(w, http.StatusOK, m)
}
