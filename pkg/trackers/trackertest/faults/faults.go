// Package faults injects failures into fake tracker servers: the next N
// matching requests get a given status, headers and body, or are delayed.
// Every fake in pkg/fakes serves its Injector in front of its handler.
package faults

import (
	"net/http"
	"sync"
	"time"
)

// Fault replaces (or delays) the response to matching requests.
type Fault struct {
	// Match selects requests; nil matches every request.
	Match func(*http.Request) bool
	// Times is how many matching requests the fault applies to; 0 means 1.
	Times int
	// Delay is waited before answering (or before passing the request on,
	// when Status is 0). The wait ends early if the client goes away.
	Delay time.Duration
	// Status is the status to answer with; 0 passes the request on to the
	// fake after Delay (a slow but correct answer).
	Status int
	Header http.Header
	// Body is sent as is, so it can be malformed JSON on purpose.
	Body string
}

// Injector holds queued faults. The zero value is ready to use.
type Injector struct {
	mu     sync.Mutex
	queue  []*Fault
	served int
}

// Add queues a fault. Faults apply in the order added: a request takes the
// first queued fault that matches it.
func (in *Injector) Add(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.queue = append(in.queue, &f)
}

// Fail queues status and body for the next n requests.
func (in *Injector) Fail(n, status int, body string) {
	in.Add(Fault{Times: n, Status: status, Body: body})
}

// Pending is the number of injections still queued.
func (in *Injector) Pending() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, f := range in.queue {
		n += f.Times
	}
	return n
}

// Served is the number of requests a fault has been applied to.
func (in *Injector) Served() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.served
}

// Reset drops every queued fault.
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.queue = nil
}

func (in *Injector) take(r *http.Request) (Fault, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, f := range in.queue {
		if f.Match != nil && !f.Match(r) {
			continue
		}
		f.Times--
		if f.Times == 0 {
			in.queue = append(in.queue[:i], in.queue[i+1:]...)
		}
		in.served++
		return *f, true
	}
	return Fault{}, false
}

// Wrap serves queued faults in front of next.
func (in *Injector) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := in.take(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if f.Status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		for k, vs := range f.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		if w.Header().Get("Content-Type") == "" && f.Body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
	})
}
