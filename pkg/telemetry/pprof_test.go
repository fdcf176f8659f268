package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWithPprofServesProfilesBesideTheAdminPaths(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(WithPprof(AdminHandler(NewReadiness(), nil)))
	t.Cleanup(srv.Close)
	for path, want := range map[string]string{
		"/healthz":                       "ok",
		"/debug/pprof/heap?debug=1":      "heap profile",
		"/debug/pprof/goroutine?debug=1": "goroutine profile: total",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s, body without %q", path, resp.Status, want)
		}
	}
	// Without WithPprof, no profile.
	plain := httptest.NewServer(AdminHandler(NewReadiness(), nil))
	t.Cleanup(plain.Close)
	resp, err := http.Get(plain.URL + "/debug/pprof/heap")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/heap without HUB_PPROF: %s, want 404", resp.Status)
	}
}
