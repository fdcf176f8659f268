// Package trackerhttp holds the HTTP helpers the tracker packages share: how a
// failed call is described to a person, the status error of a non-2xx answer,
// Retry-After parsing, and a JSON GET for the hand-written clients. It imports
// nothing of pkg/trackers, so the contracts package can use it too.
package trackerhttp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"

	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	fastjson "github.com/goccy/go-json"
)

// ErrEndpointRefused reports a tracker URL (or the address it resolves to) that
// the endpoint policy does not let a connector reach. pkg/trackers exports it
// as trackers.ErrEndpointRefused; it lives here so DescribeTransportError can
// name it.
var ErrEndpointRefused = errors.New("endpoint refused")

// DescribeTransportError turns a transport error into a message for a person.
// It names the cause only; request URLs and headers never appear.
func DescribeTransportError(err error) string {
	var (
		dnsErr  *net.DNSError
		unknown x509.UnknownAuthorityError
		hostErr x509.HostnameError
		certErr *tls.CertificateVerificationError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, ErrEndpointRefused):
		// Our own message, e.g. "endpoint refused: 169.254.169.254 is a cloud metadata address".
		return Innermost(err, ErrEndpointRefused)
	case errors.Is(err, context.Canceled):
		return "test cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %s", dnsErr.Name)
	case errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &certErr):
		return "TLS certificate not trusted (add the tracker's CA to the connector's CA bundle): " + Innermost(err, nil)
	}
	return Innermost(err, nil)
}

// Innermost returns the message of the error below any *url.Error (whose text
// repeats the request URL), or of the error wrapping target when given.
func Innermost(err error, target error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if target != nil {
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.HasPrefix(e.Error(), target.Error()) {
				return e.Error()
			}
		}
	}
	return err.Error()
}

// StatusError is a tracker answer with a non-2xx status.
type StatusError struct {
	Code     int
	Header   http.Header
	Messages []string // vendor error messages, when the body carried any
}

func (e *StatusError) Error() string {
	if len(e.Messages) > 0 {
		return fmt.Sprintf("HTTP %d: %s", e.Code, strings.Join(e.Messages, "; "))
	}
	return fmt.Sprintf("HTTP %d", e.Code)
}

// ErrMalformed reports a response body that is not what the API documents.
var ErrMalformed = errors.New("malformed response")

// IsJSONError reports whether err comes from decoding a body.
func IsJSONError(err error) bool {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	return errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrMalformed)
}

// DescribeHTTPError turns a failed call into a message for a person. what
// names the resource ("project ABC"); the 404 text says it may be invisible
// rather than absent, since trackers answer 404 for both.
func DescribeHTTPError(err error, what string) string {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return DescribeStatus(se.Code, se.Header, what)
	case errors.Is(err, ErrMalformed):
		return fmt.Sprintf("%s: tracker sent a malformed response", what)
	}
	return fmt.Sprintf("%s: %s", what, Innermost(err, nil))
}

// DescribeStatus explains an HTTP status for a person.
func DescribeStatus(code int, h http.Header, what string) string {
	switch code {
	case http.StatusUnauthorized:
		return "token rejected (HTTP 401): check the credential and username"
	case http.StatusForbidden:
		if h.Get("X-Seraph-LoginReason") == "AUTHENTICATION_DENIED" {
			return "login denied (HTTP 403): Jira requires a CAPTCHA for this account; log in once in a browser"
		}
		if h.Get("X-RateLimit-Remaining") == "0" {
			return "rate limited (HTTP 403): try again later"
		}
		return fmt.Sprintf("%s: access forbidden (HTTP 403)", what)
	case http.StatusNotFound:
		return fmt.Sprintf("%s not found or not visible to you", what)
	case http.StatusTooManyRequests:
		if ra := h.Get("Retry-After"); ra != "" {
			return fmt.Sprintf("rate limited (HTTP 429): retry after %s seconds", ra)
		}
		return "rate limited (HTTP 429): try again later"
	}
	if code >= 500 {
		return fmt.Sprintf("%s: tracker error (HTTP %d)", what, code)
	}
	return fmt.Sprintf("%s: unexpected HTTP %d", what, code)
}

// ScopesOrNone lists token scopes for a message.
func ScopesOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Requester is what a JSON call needs from a tracker session
// (trackers.Session): an authenticated request against the connector's base
// URL, and the client under the endpoint policy that sends it.
type Requester interface {
	NewRequest(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error)
	Do(req *http.Request) (*http.Response, error)
}

// GetJSON sends GET base+path with the connector's credential and decodes a
// 2xx JSON body into out. messages reads the vendor's error body into the
// StatusError of a non-2xx answer. Used by the hand-written Atlassian clients.
func GetJSON(ctx context.Context, s Requester, path string, query url.Values, out any, messages func([]byte) []string) error {
	req, err := s.NewRequest(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := ReadBody(resp) // capped by the session's transport
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Code: resp.StatusCode, Header: resp.Header, Messages: messages(body)}
	}
	if err := fastjson.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// maxPresize bounds the buffer ReadBody makes up front from a
// Content-Length: a larger answer grows as it arrives (the transport's cap,
// HUB_MAX_RESPONSE_BYTES, still limits it).
const maxPresize = 8 << 20

// ReadBody reads the whole body of resp into a slice of its size. io.ReadAll
// grows a series of chunks and copies them into a final slice: for a
// listing page of a hundred tickets, on every tracker, a dozen allocations
// and twice the page's bytes allocated and copied (issue 9). When the answer
// announces its length, the body is read into one slice of that size;
// otherwise (a chunked or compressed answer) into a pooled buffer (Buffer),
// copied out once.
func ReadBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n <= 0 || n > maxPresize {
		buf := Buffer() // the listing pages' pool (buffers.go)
		_, err := buf.ReadFrom(resp.Body)
		b := bytes.Clone(buf.Bytes())
		if b == nil {
			b = []byte{} // io.ReadAll's empty body
		}
		PutBuffer(buf)
		return b, err
	}
	b := make([]byte, 0, n+1) // one byte more: EOF is read without growing
	for {
		m, err := resp.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) { // more than announced: the rest as ReadAll would
			rest, err := ReadBody(&http.Response{ContentLength: -1, Body: resp.Body})
			return append(b, rest...), err
		}
	}
}

// MaxRetryAfter is the longest wait a Retry-After value is read as: a
// tracker asking for more is read as asking for this (the poller caps the
// deferral further, POLLER_MAX_DEFER).
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After value, delay seconds (fractions
// allowed) or an HTTP date, into a wait in [0, MaxRetryAfter]. A value too
// large to represent is read as MaxRetryAfter, never as a wrapped-around
// short or negative wait.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || math.IsNaN(secs) {
			return 0, false
		}
		if secs >= MaxRetryAfter.Seconds() {
			return MaxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}
