package connector

import (
	"fmt"
	"testing"
	"time"
)

func TestPartCacheMatchesRevisionsAndStaysWithinItsBudget(t *testing.T) {
	t.Parallel()
	mk := func(n int) *part {
		p := &part{Set: map[string]time.Time{}}
		for i := range n {
			p.Set[fmt.Sprint(i)] = time.Time{}
		}
		return p
	}
	c := partCache{budget: 100}
	a := partRef{Key: "a.k.a0", Rev: 5}
	c.put("a", a, mk(40))
	if c.get("a", a) == nil {
		t.Fatal("a part just put is not cached")
	}
	if c.get("a", partRef{Key: a.Key, Rev: 6}) != nil {
		t.Fatal("a part rewritten at another revision was taken from the cache")
	}
	c.put("b", partRef{Key: "b.k.a0", Rev: 7}, mk(40))
	c.get("a", a) // a is used more recently than b
	c.put("c", partRef{Key: "c.k.a0", Rev: 8}, mk(40))
	if c.entries > c.budget {
		t.Fatalf("%d entries cached, budget %d", c.entries, c.budget)
	}
	if c.get("b", partRef{Key: "b.k.a0", Rev: 7}) != nil || c.get("a", a) == nil || c.get("c", partRef{Key: "c.k.a0", Rev: 8}) == nil {
		t.Fatal("the least recently used connector was not the one dropped")
	}
	// keep drops what the head no longer lists.
	c.put("a", partRef{Key: "a.k.r0", Rev: 9}, mk(1))
	c.keep("a", []partRef{{Key: "a.k.r0", Rev: 9}})
	if c.get("a", a) != nil || c.get("a", partRef{Key: "a.k.r0", Rev: 9}) == nil {
		t.Fatal("keep kept an unlisted part or dropped a listed one")
	}
	c.drop("c")
	if c.entries != 1 {
		t.Fatalf("%d entries after dropping c, want 1", c.entries)
	}
	// A part larger than the whole budget is not cached at all.
	c.put("d", partRef{Key: "d.k.a0", Rev: 10}, mk(101))
	if c.get("d", partRef{Key: "d.k.a0", Rev: 10}) != nil || c.entries != 1 {
		t.Fatal("a part over the budget was cached")
	}
}
