package trackers

import (
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxResponseBytes caps a tracker response when Options.MaxResponseBytes
// is zero: far above a page of 100 issues with their comments, far below what
// would threaten a worker's memory.
const DefaultMaxResponseBytes = 32 << 20

// capBodies makes every response body of next fail with ErrResponseTooLarge
// once more than max bytes were read, so no client (go-github, client-go or
// our own) can be made to buffer an unbounded answer.
func capBodies(next http.RoundTripper, max int64) http.RoundTripper {
	if max <= 0 {
		max = DefaultMaxResponseBytes
	}
	return bodyCapTransport{next: next, max: max}
}

type bodyCapTransport struct {
	next http.RoundTripper
	max  int64
}

func (t bodyCapTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s answered %d bytes, more than the %d allowed (HUB_MAX_RESPONSE_BYTES)", ErrResponseTooLarge, req.URL.Host, resp.ContentLength, t.max)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.max, max: t.max, host: req.URL.Host}
	return resp, nil
}

// cappedBody reads at most max bytes, then fails instead of returning more.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
	host string
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly max bytes from a longer one.
		var one [1]byte
		for {
			n, err := b.rc.Read(one[:])
			if n > 0 {
				break
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, fmt.Errorf("%w: %s sent more than the %d bytes allowed (HUB_MAX_RESPONSE_BYTES)", ErrResponseTooLarge, b.host, b.max)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
