package faults_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest/faults"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
}

func serve(h http.Handler, path string) (int, string, http.Header) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestInjector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(*faults.Injector)
		want  []string // "code body" per request to /a
	}{
		{
			name:  "passes through when nothing is queued",
			setup: func(*faults.Injector) {},
			want:  []string{"200 ok"},
		},
		{
			name:  "fails the next n requests then recovers",
			setup: func(in *faults.Injector) { in.Fail(2, 503, `{"message":"down"}`) },
			want:  []string{`503 {"message":"down"}`, `503 {"message":"down"}`, "200 ok"},
		},
		{
			name: "applies faults in the order added",
			setup: func(in *faults.Injector) {
				in.Fail(1, 500, "a")
				in.Fail(1, 502, "b")
			},
			want: []string{"500 a", "502 b", "200 ok"},
		},
		{
			name: "skips requests the fault does not match",
			setup: func(in *faults.Injector) {
				in.Add(faults.Fault{Status: 404, Match: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/b") }})
			},
			want: []string{"200 ok", "200 ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var in faults.Injector
			tt.setup(&in)
			h := in.Wrap(okHandler())
			for i, want := range tt.want {
				code, body, _ := serve(h, "/a")
				if got := fmt.Sprintf("%d %s", code, body); got != want {
					t.Errorf("request %d = %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestInjectorRateLimitHeaders(t *testing.T) {
	t.Parallel()
	var in faults.Injector
	in.Add(faults.Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}, Body: "{}"})
	code, _, h := serve(in.Wrap(okHandler()), "/")
	if code != 429 || h.Get("Retry-After") != "7" {
		t.Fatalf("got %d Retry-After=%q, want 429 and 7", code, h.Get("Retry-After"))
	}
	if in.Pending() != 0 || in.Served() != 1 {
		t.Fatalf("pending=%d served=%d, want 0 and 1", in.Pending(), in.Served())
	}
}

func TestInjectorDelayThenPassThrough(t *testing.T) {
	t.Parallel()
	var in faults.Injector
	in.Add(faults.Fault{Delay: 50 * time.Millisecond})
	start := time.Now()
	code, body, _ := serve(in.Wrap(okHandler()), "/")
	if code != 200 || body != "ok" {
		t.Fatalf("got %d %q, want the fake's own answer", code, body)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered after %v, want at least the 50ms delay", d)
	}
}
