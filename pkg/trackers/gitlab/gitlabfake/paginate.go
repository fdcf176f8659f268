package gitlabfake

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// perPage reads per_page: 20 by default, capped at maxPer.
func perPage(r *http.Request, maxPer int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("per_page"))
	if err != nil || n < 1 {
		n = 20
	}
	return min(n, maxPer)
}

// pageURL is the request's URL with query parameters replaced (nil deletes).
func pageURL(r *http.Request, set map[string]*string) string {
	q := r.URL.Query()
	for k, v := range set {
		if v == nil {
			q.Del(k)
		} else {
			q.Set(k, *v)
		}
	}
	return fakehttp.BaseURL(r) + r.URL.EscapedPath() + "?" + q.Encode()
}

func ptr(s string) *string { return &s }

// offsetPage serves GitLab's offset pagination: the page of items that page
// and per_page ask for, with X-Page, X-Per-Page, X-Total, X-Total-Pages,
// X-Next-Page and X-Prev-Page (empty when there is none) and a Link header
// (prev, next, first, last).
func offsetPage[T any](w http.ResponseWriter, r *http.Request, items []T, maxPer int) []T {
	per := perPage(r, maxPer)
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	pages := max((len(items)+per-1)/per, 1)
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(len(items)))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	link := func(p int, rel string) string {
		return "<" + pageURL(r, map[string]*string{"page": ptr(strconv.Itoa(p)), "per_page": ptr(strconv.Itoa(per))}) + `>; rel="` + rel + `"`
	}
	var links []string
	if page > 1 && page <= pages {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
		links = append(links, link(page-1, "prev"))
	}
	if page < pages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
		links = append(links, link(page+1, "next"))
	}
	links = append(links, link(1, "first"), link(pages, "last"))
	h.Set("Link", strings.Join(links, ", "))
	start := min((page-1)*per, len(items))
	end := min(start+per, len(items))
	return items[start:end]
}

// cursor is the position a keyset page continues after: the order value of
// the last item sent and its id (GitLab's cursors are base64 JSON too).
type cursor struct {
	At string `json:"at,omitempty"`
	ID int64  `json:"id,string"`
	KD string `json:"_kd"`
}

// keysetPage serves keyset pagination: the items after the cursor parameter
// in the list's order (cmp, which items are sorted by), and a Link rel="next" carrying the cursor of the
// page's last item when more follow. It answers 400 for a cursor it cannot
// read and reports !ok.
func keysetPage[T any](w http.ResponseWriter, r *http.Request, items []T, maxPer int, cmp func(a, b T) int, at func(T) cursor, from func(cursor) (T, bool)) ([]T, bool) {
	per := perPage(r, maxPer)
	start := 0
	if raw := r.URL.Query().Get("cursor"); raw != "" {
		var c cursor
		b, err := base64.URLEncoding.DecodeString(raw)
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		pos, ok := from(c)
		if err != nil || !ok {
			fakehttp.JSON(w, http.StatusBadRequest, map[string]string{"error": "cursor is invalid"})
			return nil, false
		}
		// items are sorted by cmp: the page starts at the first item after
		// the cursor's, found by binary search so that every page costs
		// the same however long the listing (issue 9: a linear scan made a
		// 10,000-issue listing's pages cost more per issue than 1,000's).
		start = sort.Search(len(items), func(i int) bool { return cmp(items[i], pos) > 0 })
	}
	end := min(start+per, len(items))
	page := items[start:end]
	w.Header().Set("X-Per-Page", strconv.Itoa(per))
	if end < len(items) && len(page) > 0 {
		c := at(page[len(page)-1])
		c.KD = "n"
		b, _ := json.Marshal(c)
		next := pageURL(r, map[string]*string{"cursor": ptr(base64.URLEncoding.EncodeToString(b)), "page": nil, "per_page": ptr(strconv.Itoa(per))})
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	return page, true
}
