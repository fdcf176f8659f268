package trackerhttp

import (
	"bytes"
	"sync"
)

// maxPooledBuffer is the largest body buffer PutBuffer keeps: a page of a
// hundred issues is a few hundred kB; an odd huge answer is left to the GC.
const maxPooledBuffer = 4 << 20

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Buffer is an empty buffer to read an answer's body into, from a pool:
// reading a listing page into a fresh buffer grew it a dozen times, copying
// and clearing each time (issue 9: a few per cent of a discovery window).
// Give it back with PutBuffer once nothing refers to its bytes (a decoder
// that copies its input, as goccy/go-json's Unmarshal does, is done with it
// when it returns).
func Buffer() *bytes.Buffer {
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// PutBuffer returns a buffer from Buffer to the pool.
func PutBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		buffers.Put(b)
	}
}
