package azuredevops

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

// This is a thin client over the REST 7.1 shapes (testdata/azure-devops.shape.json)
// rather than microsoft/azure-devops-go-api, because:
//   - the module (last release v7.1.0, 2023) is not in this project's module
//     mirror, so it does not resolve here;
//   - its Connection builds its own http.Client, so requests would bypass the
//     session's client (endpoint policy, proxy, CA bundle, body cap, tracing)
//     unless every one of its generated clients were wrapped again;
//   - it retries nothing and maps errors to its own WrappedError, which would
//     still need mapping onto the sentinels; the handful of calls used here
//     (WIQL, workitemsbatch, work item get/patch/create, comments, work item
//     type states, pull requests, projects, connectionData) are each a few
//     lines over the session.

// apiVersion is the REST version every call asks for (the shapes' 7.1);
// comments are still a preview in 7.1.
const (
	apiVersion        = "7.1"
	apiVersionComment = "7.1-preview.4"
)

// orgProject splits the connector's project "organization/project".
func orgProject(s *trackers.Session) (org, project string) {
	org, project, _ = strings.Cut(s.Connector.Project, "/")
	return org, project
}

// apiPath joins path segments under the organization (collection on Server),
// escaping each one.
func apiPath(s *trackers.Session, withProject bool, segs ...string) string {
	org, project := orgProject(s)
	parts := []string{url.PathEscape(org)}
	if withProject {
		parts = append(parts, url.PathEscape(project))
	}
	for _, sg := range segs {
		parts = append(parts, sg) // callers escape user-given segments
	}
	return strings.Join(parts, "/")
}

// call sends one request with the PAT as Basic auth with an empty user (the
// form Azure DevOps Services and Server both accept) and decodes a 2xx JSON
// answer into out. body, when not nil, is sent as JSON with contentType
// ("application/json" when empty).
func call(ctx context.Context, s *trackers.Session, method, path string, q url.Values, body any, contentType string, out any, what string) error {
	if q == nil {
		q = url.Values{}
	}
	if q.Get("api-version") == "" {
		q.Set("api-version", apiVersion)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		rd = bytes.NewReader(b)
	}
	u := s.BaseURL.JoinPath(path)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.SetBasicAuth("", s.Secret.Reveal())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	// The answer is read into a pooled buffer: go-json's Unmarshal copies
	// its input, so nothing refers to the buffer once call returns.
	resp, raw, release, err := s.ExchangeBuffered(ctx, req, what)
	defer release()
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(resp, raw, what)
	}
	// Azure DevOps answers an expired or missing PAT on some routes with a
	// 203 and its HTML sign-in page instead of a 401.
	if resp.StatusCode == http.StatusNonAuthoritativeInfo || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return fmt.Errorf("%w: %s: sign-in page instead of an answer (PAT missing, expired or revoked)", trackers.ErrUnauthorized, what)
	}
	if out == nil {
		return nil
	}
	if d, ok := out.(listingDecoder); ok {
		err = d.decodeListing(raw)
	} else {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %s", trackers.ErrMalformedResponse, what, trackerhttp.Innermost(err, nil))
	}
	return nil
}

// listingDecoder is an answer decoded by hand from the pooled buffer
// (trackerhttp.Scanner), as discovery's work item batches are.
type listingDecoder interface {
	decodeListing(body []byte) error
}

// errNotFound is a 404; callers wrap ErrTicketNotFound where the missing
// thing is the ticket.
var errNotFound = errors.New("not found")

// vssError is Azure DevOps' error body.
type vssError struct {
	Message string `json:"message"`
	TypeKey string `json:"typeKey"`
}

// statusError maps a non-2xx answer onto the errors the frameworks act on.
func statusError(resp *http.Response, raw []byte, what string) error {
	code, h := resp.StatusCode, resp.Header
	var ve vssError
	_ = json.Unmarshal(raw, &ve)
	msg := trackerhttp.DescribeStatus(code, h, what)
	if ve.Message != "" && code != http.StatusUnauthorized {
		msg += ": " + ve.Message
	}
	switch {
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable && h.Get("Retry-After") != "":
		return &trackers.RateLimitError{RetryAfter: retryAfter(h, time.Now()), Reason: h.Get("X-RateLimit-Resource")}
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return fmt.Errorf("%w: %s", trackers.ErrUnauthorized, msg)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s", errNotFound, msg)
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusConflict:
		return fmt.Errorf("%w: %s", trackers.ErrTransient, msg)
	}
	return fmt.Errorf("%w: %s", trackers.ErrRejected, msg)
}

// defaultRetryAfter applies when a 429 names no wait.
const defaultRetryAfter = time.Minute

// retryAfter reads how long Azure DevOps asks us to wait: Retry-After
// (seconds), else X-RateLimit-Reset (Unix seconds when the TSTU window
// resets), else X-RateLimit-Delay (seconds of delay applied), else a minute.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := trackerhttp.ParseRetryAfter(h.Get("Retry-After"), now); ok {
		return max(d, time.Second)
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return min(max(time.Unix(n, 0).Sub(now), time.Second), trackerhttp.MaxRetryAfter)
		}
	}
	if d, ok := trackerhttp.ParseRetryAfter(h.Get("X-RateLimit-Delay"), now); ok {
		return max(d, time.Second)
	}
	return defaultRetryAfter
}
