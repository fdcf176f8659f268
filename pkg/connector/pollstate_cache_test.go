package connector

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// mkPart is a part of n tickets, each with a fingerprint like ticketver's.
func mkPart(n int) *part {
	p := &part{Set: map[string]time.Time{}, Prints: map[string]string{}}
	for i := range n {
		k := fmt.Sprintf("owner/repo#%d", i)
		p.Set[k] = time.Date(2026, 12, 3, 0, 0, i, 0, time.UTC)
		p.Prints[k] = strings.Repeat("f", 60)
	}
	return p
}

// connBytes is what one connector with one part v costs the cache.
func connBytes(id string, ref partRef, v any) int64 {
	return connOverhead + strBytes(id) + partBytes(v) + partSlot + strBytes(ref.Key)
}

func TestPartCacheMatchesRevisions(t *testing.T) {
	t.Parallel()
	c := partCache{budget: DefaultPartCacheBytes}
	a := partRef{Key: "a.k.a0", Rev: 5}
	c.put("a", a, mkPart(40))
	if c.get("a", a) == nil {
		t.Fatal("a part just put is not cached")
	}
	if c.get("a", partRef{Key: a.Key, Rev: 6}) != nil {
		t.Fatal("a part rewritten at another revision was taken from the cache")
	}
	// keep drops what the head no longer lists.
	r0 := partRef{Key: "a.k.r0", Rev: 9}
	c.put("a", r0, mkPart(1))
	c.keep("a", []partRef{r0})
	if c.get("a", a) != nil || c.get("a", r0) == nil {
		t.Fatal("keep kept an unlisted part or dropped a listed one")
	}
	if want := connBytes("a", r0, c.get("a", r0)); c.bytes != want {
		t.Fatalf("%d bytes counted after keep, want %d (one connector with one part)", c.bytes, want)
	}
	c.drop("a")
	if c.bytes != 0 || len(c.conns) != 0 || c.lru.Len() != 0 {
		t.Fatalf("after dropping every connector: %d bytes, %d connectors, %d in the LRU list", c.bytes, len(c.conns), c.lru.Len())
	}
}

func TestPartCacheDropsLeastRecentlyUsedConnectorsPastItsByteBudget(t *testing.T) {
	t.Parallel()
	ref := func(id string) partRef { return partRef{Key: id + ".k.a0", Rev: 1} }
	one := connBytes("a", ref("a"), mkPart(40)) // every connector below is the same size
	c := partCache{budget: 3*one + one/2}       // room for three connectors, not four
	for _, id := range []string{"a", "b", "c"} {
		c.put(id, ref(id), mkPart(40))
	}
	if c.bytes != 3*one {
		t.Fatalf("%d bytes counted for three connectors of %d", c.bytes, one)
	}
	c.get("a", ref("a")) // a is now used more recently than b and c
	c.put("d", ref("d"), mkPart(40))
	if c.bytes > c.budget {
		t.Fatalf("%d bytes cached, budget %d", c.bytes, c.budget)
	}
	cached := func(id string) bool { return c.get(id, ref(id)) != nil }
	if cached("b") || !cached("c") || !cached("a") || !cached("d") {
		t.Fatalf("after a fourth connector: b cached %v (want false: least recently used), c %v, a %v, d %v (want true)",
			cached("b"), cached("c"), cached("a"), cached("d"))
	}
	// The order of use decides again: c, then a, are now older than d.
	c.get("d", ref("d"))
	c.put("e", ref("e"), mkPart(40))
	if cached("c") || !cached("a") || !cached("d") || !cached("e") {
		t.Fatalf("after a fifth connector: c cached %v (want false), a %v, d %v, e %v (want true)", cached("c"), cached("a"), cached("d"), cached("e"))
	}
	// A connector bigger than the rest drops as many others as it needs.
	c.put("big", ref("big"), mkPart(100))
	if c.bytes > c.budget || !cached("big") {
		t.Fatalf("%d bytes of %d, the new connector cached %v", c.bytes, c.budget, cached("big"))
	}
	// A part larger than the whole budget is not cached at all, and
	// drops nothing.
	before := c.bytes
	c.put("huge", ref("huge"), mkPart(400))
	if cached("huge") || c.bytes != before {
		t.Fatalf("a part over the budget: cached %v, bytes %d -> %d", cached("huge"), before, c.bytes)
	}
	// The connector being read keeps its newest part when its own parts
	// pass the budget: its older ones go.
	c2 := partCache{budget: 2*one + one/2}
	c2.put("x", partRef{Key: "x.k.a0", Rev: 1}, mkPart(40))
	c2.put("x", partRef{Key: "x.k.a1", Rev: 2}, mkPart(40))
	c2.put("x", partRef{Key: "x.k.a2", Rev: 3}, mkPart(40))
	if c2.bytes > c2.budget || c2.get("x", partRef{Key: "x.k.a2", Rev: 3}) == nil || c2.get("x", partRef{Key: "x.k.a0", Rev: 1}) != nil {
		t.Fatalf("one connector over the budget: %d bytes of %d; its newest part cached %v (want true), its oldest %v (want false)", c2.bytes, c2.budget,
			c2.get("x", partRef{Key: "x.k.a2", Rev: 3}) != nil, c2.get("x", partRef{Key: "x.k.a0", Rev: 1}) != nil)
	}
	// Disabled.
	off := partCache{}
	off.put("a", ref("a"), mkPart(1))
	if off.get("a", ref("a")) != nil || off.bytes != 0 {
		t.Fatal("a cache with no budget cached a part")
	}
}

// TestPartBytesEstimatesTheHeapOfDecodedParts checks the estimate against
// the heap that parts decoded as Load decodes them really take (the
// runtime's own count after a GC), for the two shapes that matter: parts of
// tickets with fingerprints, and the page caches of small connectors.
func TestPartBytesEstimatesTheHeapOfDecodedParts(t *testing.T) {
	// Not parallel: it reads the process's heap.
	tickets, _ := encodePart(mkPart(2000))
	pages, _ := json.Marshal(&pagesPart{
		Pages:            []PageCache{{ETag: `W/"` + strings.Repeat("a", 64) + `"`, Keys: []string{"owner/repo#1", "owner/repo#2"}}},
		IncrementalPages: []PageCache{{Since: time.Now().UTC(), ETag: `W/"` + strings.Repeat("b", 64) + `"`}},
	})
	for _, tc := range []struct {
		name  string
		data  []byte
		n     int
		decod func([]byte) (any, error)
	}{
		{"tickets", tickets, 50, func(b []byte) (any, error) { p := new(part); return p, json.Unmarshal(b, p) }},
		{"page caches", pages, 20000, func(b []byte) (any, error) { p := new(pagesPart); return p, json.Unmarshal(b, p) }},
	} {
		vs := make([]any, tc.n)
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		var est int64
		for i := range vs {
			v, err := tc.decod(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			vs[i] = v
			est += partBytes(v)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		runtime.KeepAlive(vs)
		real := int64(m1.HeapAlloc) - int64(m0.HeapAlloc) - int64(tc.n)*16 // less the slice of interfaces
		ratio := float64(est) / float64(real)
		t.Logf("%s: estimated %d bytes, %d on the heap (%.2f)", tc.name, est, real, ratio)
		if ratio < 0.7 || ratio > 1.5 {
			t.Errorf("%s: the estimate is %.2f× the heap the parts take (%d vs %d bytes); want within 0.7–1.5", tc.name, ratio, est, real)
		}
	}
}
