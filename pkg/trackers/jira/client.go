package jira

import (
	"bytes"
	"context"
	"encoding/json"

	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	fastjson "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// jiraClient is the small hand-written Jira REST client shared by Cloud
// (/rest/api/3, ADF) and Data Center (/rest/api/2, wiki markup). It maps
// answers onto the frameworks' typed errors:
//
//	429            *RateLimitError (Retry-After, X-RateLimit-Reset, RateLimit-Reason)
//	5xx, timeouts  ErrTransient
//	401, 403       ErrUnauthorized
//	bad 2xx body   ErrMalformedResponse
//	other 4xx      *jiraError carrying Jira's errorMessages
type jiraClient struct {
	s      *trackers.Session
	api    string // "rest/api/3" or "rest/api/2"
	cloud  bool
	browse string // browsePrefix, when set (for a page of tickets)
}

func newJiraClient(s *trackers.Session) jiraClient {
	return jiraClient{s: s, api: jiraAPI(s.Connector.Deployment), cloud: s.Connector.Deployment == connector.Cloud}
}

func (c jiraClient) logger() *slog.Logger {
	if c.s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.s.Logger
}

// jiraError is a Jira answer with a status the caller may act on (400, 404,
// 409, ...). Its message carries Jira's errorMessages, never a credential.
type jiraError struct {
	Op       string // "POST /rest/api/3/search/jql"
	Code     int
	Messages []string
	kind     error // ErrUnauthorized, ErrTransient or nil
}

func (e *jiraError) Error() string {
	msg := fmt.Sprintf("jira %s: HTTP %d", e.Op, e.Code)
	if len(e.Messages) > 0 {
		msg += ": " + strings.Join(e.Messages, "; ")
	}
	return msg
}

func (e *jiraError) Unwrap() error { return e.kind }

// jiraStatus returns the HTTP status of a *jiraError in err, or 0.
func jiraStatus(err error) int {
	var je *jiraError
	if errors.As(err, &je) {
		return je.Code
	}
	return 0
}

// jiraDefaultRateLimitWait applies when a 429 names no wait at all.
const jiraDefaultRateLimitWait = 30 * time.Second

// do sends method base/api/path?query with body in (JSON, when not nil) and
// decodes a 2xx JSON answer into out (when not nil).
func (c jiraClient) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	op := method + " /" + strings.TrimPrefix(c.s.BaseURL.JoinPath(c.api, path).Path, "/")
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("jira %s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.s.NewRequest(ctx, method, c.api+"/"+strings.TrimPrefix(path, "/"), query, body)
	if err != nil {
		return fmt.Errorf("jira %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		// Jira refuses state-changing requests that look like browser form
		// posts without this header (XSRF check on Data Center).
		req.Header.Set("X-Atlassian-Token", "no-check")
	}
	start := time.Now()
	resp, err := c.s.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("jira %s: %w", op, ctx.Err())
		}
		if errors.Is(err, trackers.ErrResponseTooLarge) {
			return fmt.Errorf("jira %s: %w", op, err)
		}
		if rl, ok := trackers.PacedError(err); ok { // not sent: the budget is low (trackers.Pacer)
			return fmt.Errorf("jira %s: %w", op, rl)
		}
		return fmt.Errorf("%w: jira %s: %s", trackers.ErrTransient, op, trackerhttp.DescribeTransportError(err))
	}
	defer resp.Body.Close()
	// The answer is read into a pooled buffer (a search page is a few
	// hundred kB: io.ReadAll grew and copied it a dozen times, a quarter
	// of the bytes a discovery page allocated, issue 9). Nothing refers to
	// it once this returns: go-json's Unmarshal decodes from its own copy
	// (its strings alias that copy) and json.RawMessage fields copy their
	// bytes, and the error path's decoders copy what they keep.
	//
	// A search page (a fastDecoder) is read into a slice of its own
	// instead: the page reader keeps it, its strings view it.
	fd, fast := out.(fastDecoder)
	var raw []byte
	if fast {
		raw, err = trackerhttp.ReadBody(resp) // capped by the session's transport
	} else {
		buf := trackerhttp.Buffer()
		defer trackerhttp.PutBuffer(buf)
		_, err = buf.ReadFrom(resp.Body) // capped by the session's transport
		raw = buf.Bytes()
	}
	c.logger().DebugContext(ctx, "jira request", "method", method, "path", req.URL.Path, "status", resp.StatusCode, "duration", time.Since(start))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("jira %s: %w", op, ctx.Err())
		}
		if errors.Is(err, trackers.ErrResponseTooLarge) {
			return fmt.Errorf("jira %s: %w", op, err)
		}
		return fmt.Errorf("%w: jira %s: reading the answer: %s", trackers.ErrTransient, op, trackerhttp.DescribeTransportError(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return jiraStatusError(op, resp, raw)
	}
	if out == nil {
		return nil
	}
	if fast && fd.decodeFast(raw) {
		return nil // a search page, read without the library (pagedecode.go)
	}
	if err := fastjson.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: jira %s: %v", trackers.ErrMalformedResponse, op, err)
	}
	return nil
}

func jiraStatusError(op string, resp *http.Response, body []byte) error {
	code := resp.StatusCode
	msgs := atlassianMessages(body)
	switch {
	case code == http.StatusTooManyRequests:
		return fmt.Errorf("jira %s: %w", op, jiraRateLimit(resp.Header, time.Now()))
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		// A rejected credential, or a user without a permission (e.g. to
		// transition): retrying will not help either way.
		return &jiraError{Op: op, Code: code, Messages: msgs, kind: trackers.ErrUnauthorized}
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusConflict:
		// A conflict (an edit racing ours) or a timeout may pass.
		return &jiraError{Op: op, Code: code, Messages: msgs, kind: trackers.ErrTransient}
	case code >= 400:
		// A field Jira does not accept, an invalid transition, a sub-task
		// under a sub-task: the same request will be refused again.
		return &jiraError{Op: op, Code: code, Messages: msgs, kind: trackers.ErrRejected}
	}
	return &jiraError{Op: op, Code: code, Messages: msgs}
}

// jiraRateLimit reads how long Jira asks us to wait: Retry-After (seconds or
// an HTTP date), else, for the points-based quota of OAuth 2.0 apps, the
// seconds to the window's end in Beta-RateLimit ("tenant-app-quota";r=0;t=2107)
// or X-Beta-RateLimit-Reset, else X-RateLimit-Reset (ISO 8601, e.g.
// 2026-01-20T10:15Z); and the reason naming which limit was hit
// (RateLimit-Reason, or X-Beta-RateLimit-Reason on the points-based quota).
func jiraRateLimit(h http.Header, now time.Time) *trackers.RateLimitError {
	rl := &trackers.RateLimitError{Reason: h.Get("RateLimit-Reason")}
	if rl.Reason == "" {
		rl.Reason = h.Get("X-Beta-RateLimit-Reason")
	}
	if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		rl.RetryAfter = d
		return rl
	}
	if d, ok := quotaReset(h.Get("Beta-RateLimit")); ok {
		rl.RetryAfter = d
		return rl
	}
	for _, name := range []string{"X-Beta-RateLimit-Reset", "X-RateLimit-Reset"} {
		if d, ok := parseReset(h.Get(name), now); ok {
			rl.RetryAfter = d
			return rl
		}
	}
	rl.RetryAfter = jiraDefaultRateLimitWait
	return rl
}

// quotaReset reads the seconds to the quota window's end from a
// Beta-RateLimit value whose remaining points are spent (r=0).
func quotaReset(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var remaining, reset int64 = -1, -1
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "r":
			remaining = n
		case "t":
			reset = n
		}
	}
	if remaining != 0 || reset < 0 || reset > 24*3600 {
		return 0, false
	}
	return time.Duration(reset) * time.Second, true
}

// parseReset reads a reset time: ISO 8601 or epoch seconds.
func parseReset(reset string, now time.Time) (time.Duration, bool) {
	reset = strings.TrimSpace(reset)
	if reset == "" {
		return 0, false
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04Z"} {
		if t, err := time.Parse(layout, reset); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if secs, err := strconv.ParseInt(reset, 10, 64); err == nil && secs > 1e9 { // epoch seconds
		return max(time.Unix(secs, 0).Sub(now), 0), true
	}
	return 0, false
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	return trackerhttp.ParseRetryAfter(v, now)
}

// jiraIssueKey matches an issue key (PROJ-12) or a numeric issue id. Keys
// come from results other services publish, so they are checked before they
// become part of a request path.
var jiraIssueKey = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*|[1-9][0-9]*)$`)

func checkIssueKey(key string) error {
	if !jiraIssueKey.MatchString(key) {
		return fmt.Errorf("%w: %q is not a Jira issue key", trackers.ErrTicketNotFound, key)
	}
	return nil
}

// notFoundAs maps a 404 onto ErrTicketNotFound for key.
func notFoundAs(err error, key string) error {
	if jiraStatus(err) == http.StatusNotFound {
		return fmt.Errorf("%w: %s: %w", trackers.ErrTicketNotFound, key, err)
	}
	return err
}

// browseURL is the ticket's page: base/browse/KEY.
func browseURL(s *trackers.Session, key string) string {
	return s.BaseURL.JoinPath("browse", key).String()
}

// browsePrefix is browseURL up to the key, for keys that need neither
// escaping nor cleaning ("" when the base URL has a query or fragment,
// which would follow the key). A page of tickets builds each link by
// concatenation instead of a JoinPath each (issue 9: five allocations a
// ticket).
func browsePrefix(s *trackers.Session) string {
	u := s.BaseURL
	if u == nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" || u.Opaque != "" {
		return ""
	}
	return u.JoinPath("browse").String() + "/"
}

// browseURL is the package's browseURL, from the prefix when it is set and
// the key is plain (letters, digits, "_" and "-").
func (c jiraClient) browseURL(key string) string {
	if c.browse == "" || !plainKey(key) {
		return browseURL(c.s, key)
	}
	return c.browse + key
}

// plainKey: a key of letters, digits, "_" and "-" only, which browseURL
// may append to the prefix as it is.
func plainKey(key string) bool {
	return key != "" && !strings.ContainsFunc(key, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	})
}

// atlassianMessages reads Jira's ErrorCollection shape
// {"errorMessages":[...],"errors":{field:msg}} (and a plain {"message":...}).
func atlassianMessages(body []byte) []string {
	var ec struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
		Message       string            `json:"message"`
	}
	if json.Unmarshal(body, &ec) != nil {
		return nil
	}
	msgs := ec.ErrorMessages
	for k, v := range ec.Errors {
		msgs = append(msgs, k+": "+v)
	}
	if ec.Message != "" {
		msgs = append(msgs, ec.Message)
	}
	return msgs
}
