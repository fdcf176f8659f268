package telemetry

import (
	"net/http"
	"net/http/pprof"
)

// WithPprof serves Go's profiling endpoints (/debug/pprof/…, net/http/pprof)
// beside h: `go tool pprof http://<admin>/debug/pprof/heap`. The hub mounts it
// only with HUB_PPROF=true.
func WithPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
