package pagerduty

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// Why a hand-written client and not PagerDuty/go-pagerduty (v1.8.0, checked
// against this module proxy): it has no call for PUT /incidents/{id} (only the
// bulk PUT /incidents, which the issue does not ask for and which needs a
// different permission story), and its APIError keeps the status code but
// drops the response headers, so a 429's Retry-After / ratelimit-reset would
// be lost and the retry rule could not wait the time PagerDuty asks for. The
// six calls used here are about a hundred lines over the session's client.

// accept is PagerDuty REST v2's media type.
const accept = "application/vnd.pagerduty+json;version=2"

// defaultRetryAfter applies when a 429 names no wait: PagerDuty's limit is
// per minute (960 requests per minute per key).
const defaultRetryAfter = time.Minute

// Header values every request carries, one slice each shared by all
// requests (Header.Set would allocate one per request and header; nothing
// downstream changes a value in place).
var (
	acceptHeader = []string{accept}
	jsonHeader   = []string{"application/json"}
)

// call sends one request with "Authorization: Token token=<key>" and decodes
// a 2xx JSON answer into out. from, when set, is the From header PagerDuty
// requires on writes (the acting user's email).
func call(ctx context.Context, s *trackers.Session, method, path string, q url.Values, in, out any, from, what string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := newRequest(ctx, s, method, path, q, body)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	h := req.Header
	// PagerDuty's own scheme for user and account API keys (not Bearer).
	h["Authorization"] = []string{"Token token=" + s.Secret.Reveal()}
	h["Accept"] = acceptHeader
	h["Content-Type"] = jsonHeader
	if from != "" {
		h["From"] = []string{from}
	}
	resp, raw, err := s.Exchange(ctx, req, what)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(resp.StatusCode, resp.Header, raw, what)
	}
	if out == nil {
		return nil
	}
	if d, ok := out.(decodeJSON); ok {
		err = d.decodeJSON(raw) // the hot answers (decode.go)
	} else {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %s", trackers.ErrMalformedResponse, what, trackerhttp.Innermost(err, nil))
	}
	return nil
}

// newRequest is s.NewRequest(ctx, method, path, q, body) built in fewer
// steps: the session's base URL joined with a plain path (letters, digits,
// '/' and '_': PagerDuty's own paths and validated ids) is one string
// concatenation, where NewRequest joins and cleans the path, prints the URL
// and parses it again (a dozen allocations per request, a hundred
// requests per page on a first listing). Any other path, or a session not
// on PagerDuty's only auth mode (bearer), goes through s.NewRequest. The
// caller sets the credential (PagerDuty's scheme is not Bearer).
func newRequest(ctx context.Context, s *trackers.Session, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	c := connFor(s)
	pre, ua := c.base(s)
	if pre == "" || !plainPath(path) {
		return s.NewRequest(ctx, method, path, q, body)
	}
	target := pre + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if ua != nil {
		// The client's transport would otherwise copy the request to set it.
		req.Header["User-Agent"] = ua
	}
	return req, nil
}

// plainPath reports whether p holds only letters, digits, '/' and '_' and
// no empty segment: joined to the base as is, it names what JoinPath would.
func plainPath(p string) bool {
	if p == "" || p[0] == '/' || p[len(p)-1] == '/' || strings.Contains(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '/', b == '_':
		default:
			return false
		}
	}
	return true
}

// pdError is PagerDuty's error body.
type pdError struct {
	Error struct {
		Code    int      `json:"code"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	} `json:"error"`
}

func messages(raw []byte) []string {
	var e pdError
	if json.Unmarshal(raw, &e) != nil {
		return nil
	}
	var out []string
	if e.Error.Message != "" {
		out = append(out, e.Error.Message)
	}
	return append(out, e.Error.Errors...)
}

// errNotFound is a 404; callers wrap ErrTicketNotFound where the missing
// thing is the incident.
var errNotFound = errors.New("not found")

// statusError maps a non-2xx answer onto the frameworks' errors:
// 429 → *RateLimitError, 401/403 → ErrUnauthorized, 404 → errNotFound,
// 5xx/408/409 → ErrTransient, any other 4xx → ErrRejected.
func statusError(code int, h http.Header, raw []byte, what string) error {
	se := &trackerhttp.StatusError{Code: code, Header: h, Messages: messages(raw)}
	desc := trackerhttp.DescribeStatus(code, h, what)
	if len(se.Messages) > 0 && code != http.StatusUnauthorized {
		desc += ": " + se.Error()
	}
	switch {
	case code == http.StatusTooManyRequests:
		return &trackers.RateLimitError{RetryAfter: retryAfter(h, time.Now()), Reason: "PagerDuty REST API limit"}
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return fmt.Errorf("%w: %s", trackers.ErrUnauthorized, desc)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s", errNotFound, desc)
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusConflict:
		return fmt.Errorf("%w: %s", trackers.ErrTransient, desc)
	}
	return fmt.Errorf("%w: %s", trackers.ErrRejected, desc)
}

// retryAfter reads the wait PagerDuty asks for: Retry-After, else
// ratelimit-reset (seconds until the window resets), else a minute.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := trackerhttp.ParseRetryAfter(h.Get("Retry-After"), now); ok {
		return max(d, time.Second)
	}
	if v := h.Get("Ratelimit-Reset"); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < trackerhttp.MaxRetryAfter.Seconds() {
			return max(time.Duration(n*float64(time.Second)), time.Second)
		}
	}
	return defaultRetryAfter
}

// reference is PagerDuty's Reference (service, priority, user reference).
type reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	HTMLURL string `json:"html_url"`
	// Name and Email are present when the reference is a full User.
	Name  string `json:"name"`
	Email string `json:"email"`
}

// incident holds the fields of PagerDuty's Incident that tickets use; go-json
// skips the rest. Three choices keep its decoding (a page of 100, then 100
// single reads on a first listing) from allocating per field:
//   - created_at and updated_at are read as text and parsed by times():
//     go-json gives every json.Unmarshaler, time.Time included, its own copy
//     of the value's bytes, an allocation per stamp;
//   - references are values, not pointers (a pointer field is an
//     allocation per incident; an absent reference is a zero one, which
//     ticketOf reads as absent);
//   - body.details is decoded once into a Go value (incidentBody), not
//     kept as raw bytes (copied twice by the decoder) to be decoded again.
type incident struct {
	ID             string    `json:"id"`
	IncidentNumber int64     `json:"incident_number"`
	Title          string    `json:"title"`
	Summary        string    `json:"summary"`
	HTMLURL        string    `json:"html_url"`
	Status         string    `json:"status"`
	Urgency        string    `json:"urgency"`
	Created        string    `json:"created_at"`
	Updated        string    `json:"updated_at"`
	CreatedAt      time.Time `json:"-"` // Created, parsed by times
	UpdatedAt      time.Time `json:"-"` // Updated, parsed by times
	Service        reference `json:"service"`
	Priority       reference `json:"priority"`
	Assignments    []struct {
		Assignee reference `json:"assignee"`
	} `json:"assignments"`
	// FirstTrigger names who or what triggered it (the reporter).
	FirstTrigger struct {
		Agent *reference `json:"agent"`
	} `json:"first_trigger_log_entry"`
	// Body is nil in a listing (PagerDuty lists no body).
	Body *incidentBody `json:"body"`
}

// times parses created_at and updated_at (RFC 3339, as time.Time's own
// decoding reads them; an absent or null stamp is the zero time).
func (in *incident) times() error {
	for _, f := range []struct {
		text string
		dst  *time.Time
	}{{in.Created, &in.CreatedAt}, {in.Updated, &in.UpdatedAt}} {
		if f.text == "" {
			*f.dst = time.Time{}
			continue
		}
		t, err := time.Parse(time.RFC3339, f.text)
		if err != nil {
			return fmt.Errorf("incident %s: %w", in.ID, err)
		}
		*f.dst = t
	}
	return nil
}

// incidentBody is an incident's body (GET /incidents/{id} only). Details
// is body.details as decoded (an object, or a string in older incidents);
// description renders it.
type incidentBody struct {
	Details any `json:"details"`
}

type incidentList struct {
	Incidents []incident `json:"incidents"`
	Offset    int        `json:"offset"`
	Limit     int        `json:"limit"`
	More      bool       `json:"more"`
}

type note struct {
	ID        string    `json:"id"`
	User      reference `json:"user"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

type user struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Role    string `json:"role"`
	HTMLURL string `json:"html_url"`
}
