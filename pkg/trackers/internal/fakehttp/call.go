package fakehttp

import (
	"io"
	"net/http"
	"net/http/httptest"
)

// Call sends one request straight to h and returns status, headers and body;
// the fakes' own tests use it.
func Call(h http.Handler, method, target string, header http.Header) (int, http.Header, string) {
	r := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		r.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Header(), string(b)
}

// InMemory is a transport that serves every request with h in the calling
// goroutine, without a network: tests that run a fake under
// testing/synctest give it to trackers.Options.RoundTripper, so the fake
// reads the bubble's clock and no socket keeps the bubble from idling.
func InMemory(h http.Handler) http.RoundTripper { return inMemory{h} }

type inMemory struct{ h http.Handler }

func (t inMemory) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	r.Host = req.URL.Host
	r.RemoteAddr = "127.0.0.1:1"
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
