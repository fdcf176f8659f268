package trackers

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// deadlineTransport bounds each request, its answer's body included, by
// timeout, as http.Client.Timeout would, through the request's context.
//
// Written here rather than left to http.Client.Timeout because the client
// only takes its cheap path (a context deadline) when its transport is a
// bare *http.Transport; in front of a wrapped one (ours: pacing, probe, body
// cap, tracing) it arms a timer, a cancel channel, a sync.OnceFunc and a
// goroutine per request: ~12 allocations and a goroutine on every tracker
// call. Every layer of our chain honours the request's context, so the
// deadline alone is enough. One difference: the client's timeout spans its
// redirects, this one each hop (at most 10, see NewHTTPClient).
type deadlineTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	deadline := time.Now().Add(t.timeout)
	if dl, ok := req.Context().Deadline(); ok && !dl.After(deadline) {
		return t.next.RoundTrip(req) // the caller's deadline comes first
	}
	ctx, cancel := context.WithDeadline(req.Context(), deadline)
	r := req.WithContext(ctx) // a shallow copy: a RoundTripper must not change its request
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		cancel()
		return resp, err
	}
	if resp.Request == r {
		resp.Request = req
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		cancel()
		return resp, nil
	}
	resp.Body = &deadlineBody{rc: resp.Body, cancel: cancel}
	return resp, nil
}

// deadlineBody releases the request's deadline once its body is read to
// the end, fails, or is closed.
type deadlineBody struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.once.Do(b.cancel)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.cancel)
	return err
}
