package confluence

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

const (
	// confluencePageSize is what one search request asks for; Confluence
	// caps pages itself and says so through _links.next.
	confluencePageSize = 50
	// confluenceMaxPages bounds how many _links.next a search follows.
	confluenceMaxPages = 10
	// confluenceDefaultRetryAfter is assumed when a 429 names no delay.
	confluenceDefaultRetryAfter = 30 * time.Second
)

var (
	_ trackers.Searcher   = Tracker{}
	_ trackers.PageReader = Tracker{}
)

// confluenceSearchPage is the part of GET /rest/api/search that Search reads.
type confluenceSearchPage struct {
	Results []confluenceSearchResult `json:"results"`
	Size    *int                     `json:"size"`
	Links   struct {
		Base    string `json:"base"`
		Context string `json:"context"`
		Next    string `json:"next"`
	} `json:"_links"`
}

type confluenceSearchResult struct {
	Content *struct {
		ID    string `json:"id"`
		Type  string `json:"type"`
		Space *struct {
			Key string `json:"key"`
		} `json:"space"`
	} `json:"content"`
	Title                 string   `json:"title"`
	Excerpt               string   `json:"excerpt"`
	URL                   string   `json:"url"`
	LastModified          string   `json:"lastModified"`
	EntityType            string   `json:"entityType"`
	Score                 *float64 `json:"score"`
	ResultGlobalContainer *struct {
		Title      string `json:"title"`
		DisplayURL string `json:"displayUrl"`
	} `json:"resultGlobalContainer"`
}

// Search runs a CQL page search in the connector's spaces and follows
// _links.next until it has q.Limit hits.
func (Tracker) Search(ctx context.Context, s *trackers.Session, q trackers.SearchQuery) ([]trackers.SearchHit, error) {
	terms := SearchTerms(q.Terms)
	spaces := q.Spaces
	if len(spaces) == 0 {
		spaces = s.Connector.SpaceKeys
	}
	cql, err := confluenceCQL(s.Connector.Deployment, terms, spaces)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = trackers.DefaultSearchLimit
	case limit > trackers.MaxSearchLimit:
		limit = trackers.MaxSearchLimit
	}
	api := confluenceAPI(s)
	params := url.Values{
		"cql":     {cql},
		"limit":   {strconv.Itoa(min(limit, confluencePageSize))},
		"excerpt": {"highlight"},
	}
	var hits []trackers.SearchHit
	for range confluenceMaxPages {
		var page confluenceSearchPage
		if err := trackerhttp.GetJSON(ctx, s, api+"/search", params, &page, confluenceMessages); err != nil {
			return nil, confluenceError(ctx, err, "search")
		}
		if page.Size == nil || page.Results == nil {
			return nil, fmt.Errorf("%w: search page without results or size", trackers.ErrMalformedResponse)
		}
		base := confluenceLinkBase(s, page.Links.Base)
		for _, r := range page.Results {
			if r.Content == nil || r.Content.ID == "" {
				continue // a space or user result; only pages are asked for
			}
			hits = append(hits, confluenceHit(r, base, len(hits)))
			if len(hits) == limit {
				return hits, nil
			}
		}
		next, ok := confluenceNext(page.Links.Next)
		if !ok || len(page.Results) == 0 {
			break
		}
		params.Del("cursor")
		params.Del("start")
		for k, v := range next {
			params[k] = v
		}
	}
	return hits, nil
}

// confluenceNext reads the position parameters (cursor on Cloud, start on
// Data Center) from a _links.next URL. Only those are taken: the request
// itself is rebuilt, so a next link cannot send the credential elsewhere.
func confluenceNext(next string) (url.Values, bool) {
	if next == "" {
		return nil, false
	}
	u, err := url.Parse(next)
	if err != nil {
		return nil, false
	}
	q := u.Query()
	out := url.Values{}
	if c := q.Get("cursor"); c != "" {
		out.Set("cursor", c)
		if q.Get("next") != "" {
			out.Set("next", q.Get("next"))
		}
	}
	if st := q.Get("start"); st != "" {
		if n, err := strconv.Atoi(st); err == nil && n >= 0 {
			out.Set("start", st)
		}
	}
	return out, len(out) > 0
}

// confluenceLinkBase is what relative result URLs hang off: the response's
// _links.base when it is an http(s) URL, else the connector's base URL (with
// /wiki on Cloud).
func confluenceLinkBase(s *trackers.Session, base string) string {
	if u, err := url.Parse(base); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return strings.TrimSuffix(base, "/")
	}
	b := strings.TrimSuffix(s.BaseURL.String(), "/")
	if s.Connector.Deployment == connector.Cloud && !strings.HasSuffix(b, "/wiki") {
		b += "/wiki"
	}
	return b
}

// confluenceDisplaySpace reads the key from /spaces/KEY (Cloud) or /display/KEY
// (Data Center).
var confluenceDisplaySpace = regexp.MustCompile(`/(?:spaces|display)/(~?[A-Za-z0-9_.@-]+)`)

func confluenceHit(r confluenceSearchResult, base string, rank int) trackers.SearchHit {
	h := trackers.SearchHit{
		ID:      r.Content.ID,
		Title:   Text(r.Title, 0, false),
		Excerpt: Text(r.Excerpt, 0, false),
		Score:   1 / float64(rank+1),
	}
	if r.Score != nil && *r.Score > 0 {
		h.Score = *r.Score
	}
	switch {
	case strings.HasPrefix(r.URL, "http://"), strings.HasPrefix(r.URL, "https://"):
		h.URL = r.URL
	case r.URL != "":
		h.URL = base + "/" + strings.TrimPrefix(r.URL, "/")
	}
	if t, err := time.Parse(time.RFC3339, r.LastModified); err == nil {
		h.Updated = t.UTC()
	}
	switch {
	case r.Content.Space != nil && r.Content.Space.Key != "":
		h.SpaceKey = r.Content.Space.Key
	case r.ResultGlobalContainer != nil:
		if m := confluenceDisplaySpace.FindStringSubmatch(r.ResultGlobalContainer.DisplayURL); m != nil {
			h.SpaceKey = m[1]
		}
	}
	return h
}

// confluencePageID keeps page ids numeric, as Confluence's are, so an id
// cannot change the request path.
var confluencePageID = regexp.MustCompile(`^[0-9]{1,20}$`)

// PageText reads a page's storage-format body and returns it as plain text
// of at most maxBytes (no cap when maxBytes <= 0). Cloud uses REST v2
// (GET /wiki/api/v2/pages/{id}?body-format=storage); Data Center, which has
// no v2, GET /rest/api/content/{id}?expand=body.storage.
func (Tracker) PageText(ctx context.Context, s *trackers.Session, id string, maxBytes int) (string, error) {
	if !confluencePageID.MatchString(id) {
		return "", fmt.Errorf("%w: %q is not a page id", trackers.ErrPageNotFound, id)
	}
	var storage string
	if s.Connector.Deployment == connector.Cloud {
		var page struct {
			Body *struct {
				Storage *struct {
					Value string `json:"value"`
				} `json:"storage"`
			} `json:"body"`
		}
		prefix := "wiki/api/v2"
		if strings.HasSuffix(strings.TrimSuffix(s.BaseURL.Path, "/"), "/wiki") {
			prefix = "api/v2"
		}
		if err := trackerhttp.GetJSON(ctx, s, prefix+"/pages/"+id, url.Values{"body-format": {"storage"}}, &page, confluenceMessages); err != nil {
			return "", confluenceError(ctx, err, "page "+id)
		}
		if page.Body == nil || page.Body.Storage == nil {
			return "", fmt.Errorf("%w: page %s has no storage body", trackers.ErrMalformedResponse, id)
		}
		storage = page.Body.Storage.Value
	} else {
		var content struct {
			Body *struct {
				Storage *struct {
					Value string `json:"value"`
				} `json:"storage"`
			} `json:"body"`
		}
		if err := trackerhttp.GetJSON(ctx, s, confluenceAPI(s)+"/content/"+id, url.Values{"expand": {"body.storage"}}, &content, confluenceMessages); err != nil {
			return "", confluenceError(ctx, err, "page "+id)
		}
		if content.Body == nil || content.Body.Storage == nil {
			return "", fmt.Errorf("%w: page %s has no storage body", trackers.ErrMalformedResponse, id)
		}
		storage = content.Body.Storage.Value
	}
	return Text(storage, maxBytes, true), nil
}

// confluenceError maps a failed call onto the search errors. Messages name
// the cause only, never a URL or credential.
func confluenceError(ctx context.Context, err error, what string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	if rl, ok := trackers.PacedError(err); ok {
		return rl // the pacer held the request back (budget low)
	}
	var se *trackerhttp.StatusError
	switch {
	case errors.Is(err, trackers.ErrResponseTooLarge):
		return fmt.Errorf("%s: %w", what, err)
	case errors.As(err, &se):
		switch {
		case se.Code == http.StatusTooManyRequests, se.Code == http.StatusForbidden && se.Header.Get("X-RateLimit-Remaining") == "0":
			return &trackers.RateLimitError{RetryAfter: confluenceRetryAfter(se.Header, time.Now()), Reason: se.Header.Get("RateLimit-Reason")}
		case se.Code == http.StatusUnauthorized, se.Code == http.StatusForbidden:
			return fmt.Errorf("%w: %s: HTTP %d", trackers.ErrUnauthorized, what, se.Code)
		case se.Code == http.StatusNotFound:
			return fmt.Errorf("%w: %s", trackers.ErrPageNotFound, what)
		case se.Code == http.StatusBadRequest:
			return fmt.Errorf("%w: %s: %s", trackers.ErrInvalidSearch, what, se.Error())
		case se.Code >= 500:
			return fmt.Errorf("%w: %s: HTTP %d", trackers.ErrSearchUnavailable, what, se.Code)
		}
		return fmt.Errorf("%w: %s: unexpected HTTP %d", trackers.ErrSearchUnavailable, what, se.Code)
	case trackerhttp.IsJSONError(err):
		return fmt.Errorf("%w: %s: %v", trackers.ErrMalformedResponse, what, trackerhttp.Innermost(err, nil))
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Errorf("%w: %s: timed out", trackers.ErrSearchUnavailable, what)
	}
	return fmt.Errorf("%w: %s: %s", trackers.ErrSearchUnavailable, what, trackerhttp.DescribeTransportError(err))
}

// confluenceRetryAfter reads Retry-After (seconds or an HTTP date), or
// confluenceDefaultRetryAfter when it is absent or unreadable.
func confluenceRetryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := trackerhttp.ParseRetryAfter(h.Get("Retry-After"), now); ok {
		return d
	}
	return confluenceDefaultRetryAfter
}
