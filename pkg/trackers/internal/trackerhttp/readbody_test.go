package trackerhttp

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBodyReadsWhatArrivesWhateverTheAnnouncedLength(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("0123456789", 1000)
	tests := map[string]struct {
		announced int64
		reader    func() io.Reader
	}{
		"exact length":           {int64(len(body)), func() io.Reader { return strings.NewReader(body) }},
		"exact, one byte a read": {int64(len(body)), func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }},
		"unknown length":         {-1, func() io.Reader { return strings.NewReader(body) }},
		"announced too short":    {10, func() io.Reader { return strings.NewReader(body) }},
		"announced too long":     {int64(len(body)) * 2, func() io.Reader { return strings.NewReader(body) }},
		"data with the EOF":      {int64(len(body)), func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{ContentLength: tc.announced, Body: io.NopCloser(tc.reader())}
			got, err := ReadBody(resp)
			if err != nil || string(got) != body {
				t.Fatalf("ReadBody = %d bytes, %v; want the %d bytes sent", len(got), err, len(body))
			}
		})
	}
}

func TestReadBodyReturnsTheReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	for _, announced := range []int64{-1, 100} {
		r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
		if _, err := ReadBody(&http.Response{ContentLength: announced, Body: io.NopCloser(r)}); !errors.Is(err, boom) {
			t.Errorf("announced %d: err = %v, want %v", announced, err, boom)
		}
	}
}

// An answer is read into one allocation of its size, announced or not
// (io.ReadAll makes a dozen for a page and copies them into a last one); a
// pooled buffer may have to grow on a busy machine, so the unknown length
// allows one more on average.
func TestReadBodyAllocatesOnce(t *testing.T) {
	body := []byte(strings.Repeat("x", 200<<10))
	for _, announced := range []int64{int64(len(body)), -1} {
		r := &resettable{b: body}
		resp := &http.Response{ContentLength: announced, Body: r}
		allocs := testing.AllocsPerRun(20, func() {
			r.off = 0
			if got, err := ReadBody(resp); err != nil || len(got) != len(body) {
				t.Fatalf("ReadBody = %d bytes, %v", len(got), err)
			}
		})
		if allocs > 2 || announced > 0 && allocs > 1 {
			t.Errorf("announced %d: ReadBody made %.1f allocations, want 1", announced, allocs)
		}
	}
}

func TestReadBodyOfNothingIsEmptyNotNil(t *testing.T) {
	t.Parallel()
	got, err := ReadBody(&http.Response{ContentLength: -1, Body: io.NopCloser(strings.NewReader(""))})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ReadBody = %#v, %v; want an empty slice", got, err)
	}
}

// resettable is a body that can be read again (allocation-free).
type resettable struct {
	b   []byte
	off int
}

func (r *resettable) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *resettable) Close() error { return nil }
