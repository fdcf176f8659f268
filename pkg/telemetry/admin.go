// Package telemetry is what every connectorhub process shows an operator:
// the admin HTTP listener (/healthz, /readyz, /metrics), the readiness
// checks the services report into, the Prometheus metrics, and the log
// handler that adds trace ids.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrStarting is the state of a check registered before its part runs.
var ErrStarting = errors.New("starting")

// ErrDraining: the process received SIGTERM and is finishing its work.
var ErrDraining = errors.New("draining")

// Readiness collects named checks: states the services report (Set) and
// probes run on every /readyz (Probe). The process is ready when every check
// passes and it is not draining. A nil *Readiness ignores every report, so
// tests of one service need none.
type Readiness struct {
	mu     sync.Mutex
	states map[string]error
	probes map[string]func(context.Context) error
	drain  context.Context // done: draining
}

// NewReadiness returns an empty set of checks (ready until one is added).
func NewReadiness() *Readiness {
	return &Readiness{states: map[string]error{}, probes: map[string]func(context.Context) error{}}
}

// Set records a check's state: nil is ready, an error says why not. The
// first Set of a name adds the check.
func (r *Readiness) Set(name string, err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states[name] = err
}

// Probe adds a check run on every /readyz (bounded by the request's context).
func (r *Readiness) Probe(name string, check func(context.Context) error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.probes[name] = check
}

// DrainWhen makes the process not ready from the moment ctx ends (SIGTERM),
// whatever the checks say.
func (r *Readiness) DrainWhen(ctx context.Context) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drain = ctx
}

// CheckResult is one check's answer.
type CheckResult struct {
	Name string
	Err  error
}

// Check runs the probes and returns every check by name, and whether the
// process is ready.
func (r *Readiness) Check(ctx context.Context) (ready bool, results []CheckResult) {
	if r == nil {
		return true, nil
	}
	r.mu.Lock()
	drain := r.drain
	for name, err := range r.states {
		results = append(results, CheckResult{Name: name, Err: err})
	}
	probes := make(map[string]func(context.Context) error, len(r.probes))
	for name, p := range r.probes {
		probes[name] = p
	}
	r.mu.Unlock()
	for name, p := range probes {
		results = append(results, CheckResult{Name: name, Err: p(ctx)})
	}
	slices.SortFunc(results, func(a, b CheckResult) int { return strings.Compare(a.Name, b.Name) })
	ready = true
	for _, c := range results {
		if c.Err != nil {
			ready = false
		}
	}
	if drain != nil && drain.Err() != nil {
		ready = false
		results = append([]CheckResult{{Name: "process", Err: ErrDraining}}, results...)
	}
	return ready, results
}

// AdminHandler serves /healthz (the process is alive), /readyz (200 when
// ready, else 503; the body lists each check) and /metrics (when metrics is
// not nil).
func AdminHandler(ready *Readiness, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
		defer cancel()
		ok, results := ready.Check(ctx)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		var b strings.Builder
		for _, c := range results {
			if c.Err != nil {
				fmt.Fprintf(&b, "not ready %s: %v\n", c.Name, c.Err)
			} else {
				fmt.Fprintf(&b, "ok %s\n", c.Name)
			}
		}
		if ok {
			b.WriteString("ready\n")
		}
		_, _ = w.Write([]byte(b.String()))
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

// Admin is a running admin listener.
type Admin struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
	err chan error
}

// ServeAdmin listens on addr and serves h until Close.
func ServeAdmin(addr string, h http.Handler, log *slog.Logger) (*Admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener (HUB_ADMIN_ADDR) %s: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Admin{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, ln: ln, log: log, err: make(chan error, 1)}
	go func() { a.err <- a.srv.Serve(ln) }()
	return a, nil
}

// Addr is where the listener is (its port, when addr asked for port 0).
func (a *Admin) Addr() net.Addr { return a.ln.Addr() }

// Close stops the listener, letting requests under way finish for a moment.
func (a *Admin) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
	if err := <-a.err; err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Warn("admin listener", "error", err)
	}
}
