package connector

import (
	"container/list"
	"slices"
	"sync"
)

// defaultCacheEntries bounds the ticket entries a StateStore keeps decoded,
// over all its connectors (~200 bytes each with a fingerprint: ~40 MB).
const defaultCacheEntries = 200_000

// partCache keeps the decoded known-ticket parts of the connectors a
// replica polls, keyed by part key and the revision the part was written
// at. A KV revision is never reused, so a cached part is exactly what the
// stored part at that revision holds; a part rewritten by any writer has a
// new revision and is read again. The cached parts are never changed (Load
// copies them into a fresh Known), so no caller can alter them.
//
// Written here rather than taken from a cache library: what it needs is a
// per-connector set replaced whole at every load and save (the parts the
// head lists), with least-recently-used connectors dropped past a budget of
// entries, not of items; a generic LRU of parts would still need this
// bookkeeping around it.
type partCache struct {
	mu      sync.Mutex
	budget  int // entries; 0 disables the cache
	entries int
	conns   map[string]*connParts
	lru     list.List // of *connParts, most recently used first
}

type connParts struct {
	id      string
	parts   map[string]cachedPart // by part key
	entries int
	elem    *list.Element
}

// cachedPart is a decoded *part or *pagesPart and its size in entries.
type cachedPart struct {
	rev uint64
	v   any
	n   int
}

func partEntries(v any) int {
	switch v := v.(type) {
	case *part:
		return len(v.Set) + len(v.Del)
	case *pagesPart:
		n := 0
		for _, pc := range slices.Concat(v.Pages, v.IncrementalPages) {
			n += 1 + len(pc.Keys)
		}
		return n
	}
	return 1
}

// get returns the decoded part ref names, nil when not cached.
func (c *partCache) get(id string, ref partRef) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.conns[id]
	if cp == nil {
		return nil
	}
	e, ok := cp.parts[ref.Key]
	if !ok || e.rev != ref.Rev {
		return nil
	}
	c.lru.MoveToFront(cp.elem)
	return e.v
}

// put caches v (a *part or *pagesPart, never changed after) as the content
// of ref.
func (c *partCache) put(id string, ref partRef, v any) {
	n := partEntries(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.budget <= 0 || n > c.budget {
		return
	}
	if c.conns == nil {
		c.conns = map[string]*connParts{}
	}
	cp := c.conns[id]
	if cp == nil {
		cp = &connParts{id: id, parts: map[string]cachedPart{}}
		cp.elem = c.lru.PushFront(cp)
		c.conns[id] = cp
	}
	if old, ok := cp.parts[ref.Key]; ok {
		cp.entries -= old.n
		c.entries -= old.n
	}
	cp.parts[ref.Key] = cachedPart{rev: ref.Rev, v: v, n: n}
	cp.entries += n
	c.entries += n
	c.lru.MoveToFront(cp.elem)
	c.evict(cp)
}

// keep drops the parts of connector id that refs (the parts its head now
// lists) does not name.
func (c *partCache) keep(id string, refs []partRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.conns[id]
	if cp == nil {
		return
	}
	listed := make(map[partRef]bool, len(refs))
	for _, r := range refs {
		listed[r] = true
	}
	for key, e := range cp.parts {
		if !listed[partRef{Key: key, Rev: e.rev}] {
			delete(cp.parts, key)
			cp.entries -= e.n
			c.entries -= e.n
		}
	}
	if len(cp.parts) == 0 {
		c.remove(cp)
	}
}

// drop forgets every part of connector id.
func (c *partCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp := c.conns[id]; cp != nil {
		c.remove(cp)
	}
}

func (c *partCache) remove(cp *connParts) {
	c.entries -= cp.entries
	c.lru.Remove(cp.elem)
	delete(c.conns, cp.id)
}

// evict drops least recently used connectors (not keep, the one being
// read) while over budget: O(1) a connector dropped.
func (c *partCache) evict(keep *connParts) {
	for c.entries > c.budget {
		back := c.lru.Back()
		if back == nil {
			return
		}
		victim := back.Value.(*connParts)
		if victim == keep {
			// Only the connector being read is left: drop its other parts.
			for key, e := range keep.parts {
				if c.entries <= c.budget {
					break
				}
				delete(keep.parts, key)
				keep.entries -= e.n
				c.entries -= e.n
			}
			return
		}
		c.remove(victim)
	}
}
