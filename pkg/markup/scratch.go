package markup

import (
	"slices"
	"strings"
	"sync"
)

// scratch is the memory one conversion needs only while it runs: the
// decoded tree's nodes and child lists, the runs of its inline containers,
// their mark trees, the text pass's memo and the writers' mark buffers.
// Conversions take one from a pool and give it back when their result is
// made, so a steady stream of tickets (issue 9: every Jira ticket of a
// discovery page converts its description) reuses the same arrays instead
// of allocating them per ticket.
//
// Nothing a conversion returns refers to a scratch: the renderings are
// written to the scratch's arena, and the entry points copy their result
// out of it (copyOut) before they release the scratch. release clears
// every array of pointers it keeps, so a pooled scratch holds no
// reference to a past input.
type scratch struct {
	nodes []node   // the decoder's node arena (adfDecoder.nodes)
	ptrs  []*node  // the decoder's child lists and stack (adfDecoder.ptrs, .stack)
	slab  []*node  // runs of inline containers (mdWriter.flattenInline)
	spans []span   // mark trees (buildSpansIn)
	bufs  []*mdBuf // a buffer per mark depth (mdWriter.spans)
	memo  runMemo  // the text pass's runs for the Markdown pass (bothOf)
	arena []byte   // the renderings (mdWriter.open)
	chunk []node   // the wiki parser's nodes (newNode)
	kids  []*node  // and its child lists (keepNodes, room)
	text  []string // and its lines (lines)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledItems bounds what a pooled scratch keeps of each array: an odd
// huge document's arrays are left to the GC.
const maxPooledItems = 4096

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// release clears sc and returns it to the pool.
func (sc *scratch) release() {
	sc.nodes = clearFull(sc.nodes)
	sc.ptrs = clearFull(sc.ptrs)
	sc.slab = clearFull(sc.slab)
	sc.spans = clearFull(sc.spans)
	sc.chunk = clearFull(sc.chunk)
	sc.kids = clearFull(sc.kids)
	sc.text = clearFull(sc.text)
	sc.memo.entries = clearFull(sc.memo.entries)
	sc.memo.record, sc.memo.next = false, 0
	if cap(sc.arena) > 16*maxPooledItems {
		sc.arena = nil
	}
	sc.arena = sc.arena[:0]
	for i, b := range sc.bufs {
		if cap(b.b) > 16*maxPooledItems {
			sc.bufs[i] = &mdBuf{}
			continue
		}
		b.b = b.b[:0]
	}
	scratchPool.Put(sc)
}

// clearFull zeroes the whole array of s and returns it empty (nil when it
// is too large to keep).
func clearFull[T any](s []T) []T {
	if cap(s) > maxPooledItems {
		return nil
	}
	s = s[:cap(s)]
	clear(s)
	return s[:0]
}

// nodesOf is an empty node arena of capacity n (zeroed). Arenas are never
// grown while in use (pointers into them must stay put): one too small is
// replaced, and the larger one kept.
func (sc *scratch) nodesOf(n int) []node {
	if sc == nil || cap(sc.nodes) < n {
		s := make([]node, 0, n)
		if sc != nil {
			sc.nodes = s
		}
		return s
	}
	return sc.nodes[:0]
}

// ptrsOf is an empty pointer array of capacity n (zeroed).
func (sc *scratch) ptrsOf(n int) []*node {
	if sc == nil || cap(sc.ptrs) < n {
		s := make([]*node, 0, n)
		if sc != nil {
			sc.ptrs = s
		}
		return s
	}
	return sc.ptrs[:0]
}

// spansOf takes n zeroed spans from the span arena. The spans taken before
// stay where they are: a new array replaces an arena that is short.
func (sc *scratch) spansOf(n int) []span {
	if sc == nil {
		return make([]span, n)
	}
	if cap(sc.spans)-len(sc.spans) < n {
		sc.spans = make([]span, 0, max(n, 2*cap(sc.spans), 64))
	}
	start := len(sc.spans)
	sc.spans = sc.spans[:start+n]
	return sc.spans[start : start+n : start+n]
}

// newNode is a zeroed node from the scratch's node chunks (a new node
// without a scratch). Chunks are never grown: a full one is replaced, and
// the nodes in it stay where they are.
func (sc *scratch) newNode() *node {
	if sc == nil {
		return new(node)
	}
	if len(sc.chunk) == cap(sc.chunk) {
		sc.chunk = make([]node, 0, 64)
	}
	sc.chunk = sc.chunk[:len(sc.chunk)+1]
	return &sc.chunk[len(sc.chunk)-1]
}

// keepNodes copies a list of nodes to the scratch's pointer chunks (nil
// for an empty one, as a variadic call without arguments passes). The
// copy's capacity is its length: an append to it moves it to the heap.
func (sc *scratch) keepNodes(kids []*node) []*node {
	if len(kids) == 0 {
		return nil
	}
	if sc == nil {
		return slices.Clone(kids)
	}
	if cap(sc.kids)-len(sc.kids) < len(kids) {
		sc.kids = make([]*node, 0, max(256, len(kids)))
	}
	start := len(sc.kids)
	sc.kids = append(sc.kids, kids...)
	return sc.kids[start:len(sc.kids):len(sc.kids)]
}

// room is an empty child list with room for n nodes in the scratch's
// pointer chunks (appends beyond n move it to the heap).
func (sc *scratch) room(n int) []*node {
	if sc == nil {
		return nil // as before: appends make it
	}
	if cap(sc.kids)-len(sc.kids) < n {
		sc.kids = make([]*node, 0, max(256, n))
	}
	start := len(sc.kids)
	sc.kids = sc.kids[:start+n]
	return sc.kids[start : start : start+n]
}

// lines is strings.Split(s, "\n") in the scratch (a new slice without
// one). The lines of a conversion are appended one after the other: the
// caller may change its lines (the wiki parser does) without touching
// another call's.
func (sc *scratch) lines(s string) []string {
	if sc == nil {
		return strings.Split(s, "\n")
	}
	n := strings.Count(s, "\n") + 1
	if cap(sc.text)-len(sc.text) < n {
		sc.text = make([]string, 0, max(64, n))
	}
	start := len(sc.text)
	for {
		line, rest, more := strings.Cut(s, "\n")
		sc.text = append(sc.text, line)
		if !more {
			break
		}
		s = rest
	}
	return sc.text[start:len(sc.text):len(sc.text)]
}
