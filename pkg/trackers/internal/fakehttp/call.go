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
