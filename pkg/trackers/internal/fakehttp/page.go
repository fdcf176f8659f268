package fakehttp

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// A fake runs in the same process as the client it serves (and, in
// cmd/bench, as the NATS server), so every byte it allocates is collected
// on the poller's heap. A listing page is made of item encodings the fakes
// already cache; assembling them into one page-sized buffer (or recording
// the answer again to compute a header) allocated and copied the page for
// every request (issue 9). WriteArray writes the cached bytes out through a
// pooled chunk buffer instead: serving a page allocates a few small
// objects, whatever its size.
//
// Why a chunk buffer and not one Write per item: an http.ResponseWriter
// passes writes larger than its own 2–4 KiB buffers straight to the
// socket, so a Write per ~4 KiB item would be a system call per item.
// bufio.Writer groups them into pageChunk-sized writes (an item larger than
// the chunk goes out by itself, uncopied).

// pageChunk is the size of the writes WriteArray makes.
const pageChunk = 64 << 10

var pageWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(io.Discard, pageChunk) }}

// ArrayLen is the length of head + items as a JSON array + tail.
func ArrayLen(head string, items [][]byte, tail string) int {
	return len(head) + EncodedLen(items) + len(tail)
}

// WriteArray answers code with the JSON document head, then items as a JSON
// array, then tail (head and tail are the literal text around the array;
// either may be empty), with its Content-Type and Content-Length, without
// assembling the document in memory. It stops at the first write error
// (a client gone, or an answer that takes no body such as a 304 or a HEAD)
// and returns it.
func WriteArray(w http.ResponseWriter, code int, head string, items [][]byte, tail string) error {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(ArrayLen(head, items, tail)))
	w.WriteHeader(code)
	bw := pageWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(io.Discard) // the pool keeps no ResponseWriter
		pageWriters.Put(bw)
	}()
	_, _ = bw.WriteString(head)
	_ = bw.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		if _, err := bw.Write(it); err != nil {
			return err // bufio keeps the first error: nothing more goes out
		}
	}
	_ = bw.WriteByte(']')
	_, _ = bw.WriteString(tail)
	return bw.Flush()
}

// built holds the answers fakes build themselves (a WIQL result, a page's
// links), so that building one reuses a buffer instead of growing a new
// one for every request.
var built = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxBuilt is the largest buffer kept for reuse (a rare huge answer is
// left to the collector rather than held by the pool).
const maxBuilt = 1 << 20

// WriteBuilt answers code with the JSON document build appends to the
// buffer it is given (empty, pooled), with its Content-Type and
// Content-Length. build must not keep the buffer.
func WriteBuilt(w http.ResponseWriter, code int, build func(b []byte) []byte) error {
	bp := built.Get().(*[]byte)
	b := build((*bp)[:0])
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, err := w.Write(b)
	if cap(b) <= maxBuilt {
		*bp = b[:0]
		built.Put(bp)
	}
	return err
}
