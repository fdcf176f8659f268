package trackerhttp

import (
	"fmt"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
)

// Listing pages (a hundred issues, a few hundred kB each) are decoded with
// valyala/fastjson from a pooled parser rather than with goccy/go-json into
// structs (issue 9, requirement 4): go-json's Unmarshal copies the whole
// page first (its decoded strings alias that copy, so the page lives as long
// as any ticket does) and decodes every field of the types, while a pooled
// fastjson parser keeps its buffer and values between pages, so a page's
// parse allocates nothing and only the strings a ticket keeps are copied
// out, one by one (Fields.String). Measured on a GitHub page of 100 issues
// (BenchmarkGitHubDecodePage): see docs/discovery.md.
//
// The parsers are kept in a bounded free list, not a sync.Pool: every GC
// empties a sync.Pool (discovery allocates enough to run one every few
// pages), and a parser rebuilt from nothing grows its buffer and its value
// cache again, about a megabyte and several hundred allocations for a
// GitHub page (BenchmarkGitHubDiscoverPage went from 1,250 to 1,600-1,800
// allocations a page with a ParserPool).
var parsers = make(chan *fastjson.Parser, 2*runtime.GOMAXPROCS(0))

func getParser() *fastjson.Parser {
	select {
	case p := <-parsers:
		return p
	default:
		return new(fastjson.Parser)
	}
}

// putParser keeps p for the next page, unless it parsed an odd huge answer
// (the buffers' limit) or the list is full.
func putParser(p *fastjson.Parser, parsed int) {
	if parsed > maxPooledBuffer {
		return
	}
	select {
	case parsers <- p:
	default:
	}
}

// DecodeListing parses body with a pooled parser and hands its root to
// read. Nothing read sees may be kept once read returns (the parser is
// reused): strings are copied out with Fields.String. A body that is not
// JSON, or an error read returns, is reported wrapping ErrMalformed.
func DecodeListing(body []byte, read func(root *fastjson.Value, f *Fields)) error {
	p := getParser()
	defer putParser(p, len(body))
	root, err := p.ParseBytes(body)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var f Fields
	read(root, &f)
	if f.err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, f.err)
	}
	return nil
}

// Fields reads typed values out of a parsed listing, as a struct decoder
// would: null and absent (a nil value) read as the zero value, a value of
// another type is an error. The first error is kept and reported by
// DecodeListing; later reads still return zero values.
type Fields struct {
	err   error
	block []byte // where String copies strings to (see String)
}

// stringBlock is the size of the blocks String copies a page's strings
// into; a longer string gets an allocation of its own.
const stringBlock = 16 << 10

func (f *Fields) fail(name string, v *fastjson.Value, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("field %s: %s where %s was expected", name, v.Type(), want)
	}
}

// absent reports a nil or null value.
func absent(v *fastjson.Value) bool { return v == nil || v.Type() == fastjson.TypeNull }

// String is a JSON string, copied out of the parser's buffer.
//
// The strings of one page are copied into shared blocks of stringBlock
// bytes rather than each into its own allocation: a ticket keeps five to
// ten strings (URL, title, body, state, logins, labels), which as separate
// allocations were most of a page's allocations once the page itself was
// no longer copied. Written here, not taken from a library, because it is
// a dozen lines over the parser's bytes. A block is only ever appended to
// within its capacity and never written where a string already points,
// so the strings are immutable as Go requires; a block lives as long as
// any of its strings does (the page's tickets, all alike), and it holds
// only the kept bytes, not the page.
func (f *Fields) String(name string, v *fastjson.Value) string {
	if absent(v) {
		return ""
	}
	b, err := v.StringBytes()
	if err != nil {
		f.fail(name, v, "a string")
		return ""
	}
	switch {
	case len(b) == 0:
		return ""
	case len(b) > stringBlock/4:
		return string(b)
	case len(b) > cap(f.block)-len(f.block):
		f.block = make([]byte, 0, stringBlock)
	}
	start := len(f.block)
	f.block = append(f.block, b...)
	return unsafe.String(&f.block[start], len(b))
}

// Int64 is a JSON integer.
func (f *Fields) Int64(name string, v *fastjson.Value) int64 {
	if absent(v) {
		return 0
	}
	n, err := v.Int64()
	if err != nil {
		f.fail(name, v, "an integer")
		return 0
	}
	return n
}

// Time is an RFC 3339 timestamp string (time.Time's JSON form).
func (f *Fields) Time(name string, v *fastjson.Value) time.Time {
	if absent(v) {
		return time.Time{}
	}
	b, err := v.StringBytes()
	if err != nil {
		f.fail(name, v, "a timestamp string")
		return time.Time{}
	}
	// The bytes are only read while parsing: time.Parse's error, which
	// quotes them, is formatted into a new string below, never kept.
	t, err := time.Parse(time.RFC3339, unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("field %s: %s", name, strconv.Quote(string(b)))
	}
	return t
}

// Object is a JSON object, nil for null or absent.
func (f *Fields) Object(name string, v *fastjson.Value) *fastjson.Object {
	if absent(v) {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		f.fail(name, v, "an object")
		return nil
	}
	return o
}

// Array is a JSON array, nil for null or absent.
func (f *Fields) Array(name string, v *fastjson.Value) []*fastjson.Value {
	if absent(v) {
		return nil
	}
	a, err := v.Array()
	if err != nil {
		f.fail(name, v, "an array")
		return nil
	}
	return a
}

// Fail records a malformed value the caller found itself.
func (f *Fields) Fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

// Failed reports whether a read has failed.
func (f *Fields) Failed() bool { return f.err != nil }

// Get is o's value for key, nil when o is nil (null or absent) or has no such key.
func Get(o *fastjson.Object, key string) *fastjson.Value {
	if o == nil {
		return nil
	}
	return o.Get(key)
}

// Slice is an empty slice with room for n elements, carved from *block (a
// new block of at least 128 elements when it has no room left): a page's
// small per-ticket slices (labels, assignees) share a few allocations as
// its strings do. The caller appends at most n elements; more would
// reallocate, never overwrite a neighbour (the capacity is n).
func Slice[T any](block *[]T, n int) []T {
	if n > cap(*block)-len(*block) {
		*block = make([]T, 0, max(n, 128))
	}
	start := len(*block)
	*block = (*block)[:start+n]
	return (*block)[start:start:start+n]
}
