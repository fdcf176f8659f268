package trackers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// probe wraps a transport and records whether the tracker answered at all, so
// Test can tell "unreachable" apart from "answered with an error".
type probe struct {
	next http.RoundTripper

	mu       sync.Mutex
	answered bool
	lastErr  error
}

func (p *probe) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		// http.Client's timeout cancels the request and the transport only
		// says "request canceled"; name the cause when the deadline has passed.
		if dl, ok := req.Context().Deadline(); ok && !time.Now().Before(dl) && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		p.lastErr = err
	} else {
		p.answered = true
	}
	return resp, err
}

// contacted reports whether any request got an answer.
func (p *probe) contacted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered
}

// unreachable returns the transport error when no request got an answer.
func (p *probe) unreachable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.answered {
		return nil
	}
	return p.lastErr
}

// transportFailed reports whether err came from failing to reach the tracker
// (as opposed to an HTTP error status or a bad body). Checks stop there and
// Test reports the failure once, on the endpoint check.
func (s *Session) transportFailed() bool {
	return s.probe != nil && s.probe.unreachable() != nil
}

// describeTransportError turns a transport error into a message for a person.
// It names the cause only; request URLs and headers never appear.
func describeTransportError(err error) string {
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
		return innermost(err, ErrEndpointRefused)
	case errors.Is(err, context.Canceled):
		return "test cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %s", dnsErr.Name)
	case errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &certErr):
		return "TLS certificate not trusted (add the tracker's CA to the connector's CA bundle): " + innermost(err, nil)
	}
	return innermost(err, nil)
}

// innermost returns the message of the error below any *url.Error (whose text
// repeats the request URL), or of the error wrapping target when given.
func innermost(err error, target error) string {
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

// maxBody bounds how much of a tracker response is read.
const maxBody = 4 << 20

// statusError is a tracker answer with a non-2xx status.
type statusError struct {
	Code     int
	Header   http.Header
	Messages []string // vendor error messages, when the body carried any
}

func (e *statusError) Error() string {
	if len(e.Messages) > 0 {
		return fmt.Sprintf("HTTP %d: %s", e.Code, strings.Join(e.Messages, "; "))
	}
	return fmt.Sprintf("HTTP %d", e.Code)
}

// errMalformed reports a response body that is not what the API documents.
var errMalformed = errors.New("malformed response")

// isJSONError reports whether err comes from decoding a body.
func isJSONError(err error) bool {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	return errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errMalformed)
}

// describeHTTPError turns a failed call into a message for a person. what
// names the resource ("project ABC"); the 404 text says it may be invisible
// rather than absent, since trackers answer 404 for both.
func describeHTTPError(err error, what string) string {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return describeStatus(se.Code, se.Header, what)
	case errors.Is(err, errMalformed):
		return fmt.Sprintf("%s: tracker sent a malformed response", what)
	}
	return fmt.Sprintf("%s: %s", what, innermost(err, nil))
}

func describeStatus(code int, h http.Header, what string) string {
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

// getJSON sends GET base+path with the connector's credential and decodes a
// 2xx JSON body into out. Used by the hand-written Atlassian clients.
func getJSON(ctx context.Context, s *Session, path string, query url.Values, out any) error {
	u := s.BaseURL.JoinPath(path)
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	setAuth(req, s)
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{Code: resp.StatusCode, Header: resp.Header, Messages: atlassianMessages(body)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	return nil
}

// setAuth puts the connector's credential on an Atlassian request: basic
// (user + API token or password), bearer (PAT), or nothing (anonymous).
func setAuth(req *http.Request, s *Session) {
	switch s.Connector.AuthMode {
	case connector.AuthBasic:
		req.SetBasicAuth(s.Connector.Username, s.Secret.Reveal())
	case connector.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+s.Secret.Reveal())
	}
}

// atlassianMessages reads the ErrorCollection shape
// {"errorMessages":[...],"errors":{field:msg}} and Confluence's {"message":...}.
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
