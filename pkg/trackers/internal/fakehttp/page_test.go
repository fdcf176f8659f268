package fakehttp_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

func items(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"id":%d,"body":%q}`, i, bytes.Repeat([]byte{'x'}, size))
	}
	return out
}

// WriteArray sends the same bytes AppendArray builds, with an exact
// Content-Length, for pages smaller and larger than its chunk (and items
// larger than a chunk, which go out uncopied).
func TestWriteArrayMatchesAppendArray(t *testing.T) {
	t.Parallel()
	cases := map[string][][]byte{
		"empty":       nil,
		"one":         items(1, 10),
		"small page":  items(100, 100),
		"large page":  items(100, 4000),
		"huge items":  items(3, 200<<10),
		"empty items": {{}, []byte(`{}`), {}},
	}
	for name, its := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			head, tail := `{"values":`, `,"isLast":true}`
			want := append(fakehttp.AppendArray([]byte(head), its), tail...)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if err := fakehttp.WriteArray(w, http.StatusOK, head, its, tail); err != nil {
					t.Errorf("WriteArray: %v", err)
				}
			}))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("body: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("body differs: got %d bytes, want %d", len(got), len(want))
			}
			if resp.ContentLength != int64(len(want)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(want)) {
				t.Fatalf("Content-Length %d (%q), want %d", resp.ContentLength, resp.Header.Get("Content-Length"), len(want))
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json;charset=UTF-8" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
}

// discard is a ResponseWriter that keeps nothing (and counts what it got).
type discard struct {
	h   http.Header
	n   int
	err error
}

func (d *discard) Header() http.Header { return d.h }
func (d *discard) WriteHeader(int)     {}
func (d *discard) Write(b []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	d.n += len(b)
	return len(b), nil
}

// Serving a page allocates a few small objects, however many and however
// large its items: no page-sized buffer.
func TestWriteArrayAllocatesNoPage(t *testing.T) {
	// Not parallel: the bytes allocated are read from the whole process.
	allocs := func(its [][]byte) (objects float64, bytes uint64, sent int) {
		w := &discard{h: http.Header{}}
		page := func() {
			clear(w.h)
			_ = fakehttp.WriteArray(w, http.StatusOK, `{"issues":`, its, `}`)
		}
		page() // the pool's first chunk buffer
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 50
		for range runs {
			page()
		}
		runtime.ReadMemStats(&after)
		return testing.AllocsPerRun(runs, page), (after.TotalAlloc - before.TotalAlloc) / runs, w.n
	}
	small, _, _ := allocs(items(20, 4000))
	large, bytes, sent := allocs(items(200, 4000))
	if sent < 200*4000 {
		t.Fatalf("only %d bytes written", sent)
	}
	if large != small || large > 4 {
		t.Fatalf("allocations per page: %v for 200 items of 4 KB, %v for 20 (want the same, at most 4)", large, small)
	}
	if bytes > 4<<10 {
		t.Fatalf("%d bytes allocated per 800 KB page, want a few small objects", bytes)
	}
}

// A write error (client gone, or an answer without a body) stops the page.
func TestWriteArrayStopsAtTheFirstWriteError(t *testing.T) {
	t.Parallel()
	w := &discard{h: http.Header{}, err: http.ErrBodyNotAllowed}
	if err := fakehttp.WriteArray(w, http.StatusNotModified, "", items(100, 4000), ""); !errors.Is(err, http.ErrBodyNotAllowed) {
		t.Fatalf("err = %v, want ErrBodyNotAllowed", err)
	}
}

func TestEncodedLenIsExact(t *testing.T) {
	t.Parallel()
	for _, its := range [][][]byte{nil, items(1, 3), items(7, 20)} {
		if got, want := fakehttp.EncodedLen(its), len(fakehttp.AppendArray(nil, its)); got != want {
			t.Fatalf("EncodedLen = %d, want %d", got, want)
		}
	}
}

// WriteBuilt sends what build appended, with its length, from a reused
// buffer.
func TestWriteBuiltSendsTheBuiltDocument(t *testing.T) {
	w := httptest.NewRecorder()
	if err := fakehttp.WriteBuilt(w, http.StatusCreated, func(b []byte) []byte {
		if len(b) != 0 {
			t.Errorf("build got %d bytes already in its buffer", len(b))
		}
		return append(b, `{"count":2}`...)
	}); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusCreated || w.Body.String() != `{"count":2}` || w.Header().Get("Content-Length") != "11" {
		t.Fatalf("%d %q Content-Length %q", w.Code, w.Body.String(), w.Header().Get("Content-Length"))
	}
	d := &discard{h: http.Header{}}
	big := bytes.Repeat([]byte("x"), 10000)
	n := testing.AllocsPerRun(50, func() {
		clear(d.h)
		_ = fakehttp.WriteBuilt(d, http.StatusOK, func(b []byte) []byte { return append(b, big...) })
	})
	if n > 3 {
		t.Fatalf("%v allocations per 10 KB answer, want the buffer reused (at most 3)", n)
	}
}
