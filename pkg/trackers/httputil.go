package trackers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// probe wraps a transport and records whether the tracker answered at all, so
// Test can tell "unreachable" apart from "answered with an error".
type probe struct {
	next http.RoundTripper
	// observer, when set, sees every exchange of connector.
	observer ResponseObserver
	// connector is the session's own record (Session.Connector): a copy
	// here cost ~1 KB per session, 10 MB at 10,000 connectors.
	connector *connector.Connector

	mu       sync.Mutex
	answered bool
	lastErr  error
}

func (p *probe) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	if p.observer != nil {
		p.observer.ObserveResponse(*p.connector, resp, err)
	}
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

// TransportFailed reports whether a call failed to reach the tracker at all
// (as opposed to an HTTP error status or a bad body). Connection-test checks
// stop there and Test reports the failure once, on the endpoint check.
func (s *Session) TransportFailed() bool {
	return s.probe != nil && s.probe.unreachable() != nil
}

// UserAgent is the User-Agent the session's client sends. A vendor library
// that sets its own (go-github, client-go) can be given this one instead:
// the client's transport then sends its requests without copying them.
func (s *Session) UserAgent() string { return s.ua }

// NewRequest builds a request for base+path with the connector's credential:
// basic (user + API token or password), bearer (PAT), or nothing
// (anonymous). Clients that bring their own (go-github, client-go) set the
// credential themselves.
func (s *Session) NewRequest(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u := s.BaseURL.JoinPath(path)
	var token connector.Secret
	if s.Connector.AuthMode == connector.AuthOAuth2 {
		var err error
		if u, token, err = s.oauthRequestURL(ctx, path); err != nil {
			return nil, err
		}
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if s.ua != "" {
		// The client's transport would otherwise copy the request to set it.
		req.Header["User-Agent"] = []string{s.ua}
	}
	switch s.Connector.AuthMode {
	case connector.AuthBasic:
		req.SetBasicAuth(s.Connector.Username, s.Secret.Reveal())
	case connector.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+s.Secret.Reveal())
	case connector.AuthOAuth2:
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	return req, nil
}

// Do sends a request with the session's HTTP client. On an oauth2 session,
// a 401 drops the cached access token, so the next call mints a new one.
func (s *Session) Do(req *http.Request) (*http.Response, error) {
	resp, err := s.HTTP.Do(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && s.Connector.AuthMode == connector.AuthOAuth2 && s.oauth != nil {
		s.oauth.Forget(s.Connector.ID)
	}
	return resp, err
}

// Exchange sends req with the session's client and reads the whole answer
// (capped by the session's transport); what names the call in errors. A call
// that got no answer is ErrTransient, unless the context ended, the endpoint
// policy refused it or the answer was over the cap. resp is nil only when no
// answer arrived; its body is already read and closed.
func (s *Session) Exchange(ctx context.Context, req *http.Request, what string) (*http.Response, []byte, error) {
	resp, err := s.send(ctx, req, what)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := trackerhttp.ReadBody(resp)
	if err != nil {
		return resp, nil, readError(err, what)
	}
	return resp, raw, nil
}

// ExchangeBuffered is Exchange reading the answer into a pooled buffer
// (trackerhttp.Buffer) rather than a slice of its own: for a decoder that
// copies what it keeps (goccy/go-json's Unmarshal copies its whole input,
// trackerhttp.Scanner the strings it reads), a listing page is then
// allocated once, not twice (issue 9). Call release once nothing refers to
// the body's bytes; it is never nil.
func (s *Session) ExchangeBuffered(ctx context.Context, req *http.Request, what string) (resp *http.Response, body []byte, release func(), err error) {
	release = func() {}
	resp, err = s.send(ctx, req, what)
	if err != nil {
		return nil, nil, release, err
	}
	defer resp.Body.Close()
	buf := trackerhttp.Buffer()
	if n := resp.ContentLength; n > 0 && n <= maxPresize {
		buf.Grow(int(n) + 1) // one byte more: EOF is read without growing
	}
	_, err = buf.ReadFrom(resp.Body)
	release = func() { trackerhttp.PutBuffer(buf) }
	if err != nil {
		return resp, nil, release, readError(err, what)
	}
	return resp, buf.Bytes(), release, nil
}

// maxPresize bounds the room ExchangeBuffered makes from a Content-Length.
const maxPresize = 8 << 20

// send is Exchange's request, its failure mapped onto the sentinels.
func (s *Session) send(ctx context.Context, req *http.Request, what string) (*http.Response, error) {
	resp, err := s.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("%s: %w", what, cerr)
		}
		if errors.Is(err, ErrEndpointRefused) || errors.Is(err, ErrResponseTooLarge) {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if rl, ok := PacedError(err); ok { // not sent: the budget is low (Pacer)
			return nil, fmt.Errorf("%s: %w", what, rl)
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrTransient, what, trackerhttp.DescribeTransportError(err))
	}
	return resp, nil
}

// readError maps a failure to read an answer's body.
func readError(err error, what string) error {
	if errors.Is(err, ErrResponseTooLarge) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %s", ErrTransient, what, trackerhttp.Innermost(err, nil))
}
