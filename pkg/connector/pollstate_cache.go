package connector

import (
	"container/list"
	"sync"
	"time"
	"unsafe"
)

// DefaultPartCacheBytes bounds the memory a StateStore's cache of decoded
// poll-state parts may take, over all its connectors (estimated, see
// partBytes). Sized for a poller replica in a 256 MiB container: with
// GOGC's default the heap grows to about twice what is live, so 32 MiB of
// cache costs up to ~64 MiB of RSS; 10,000 idle connectors peaked at
// 139 MiB with 6.5 MiB of it used, ~190 MiB with it full
// (docs/capacity.md). POLLER_STATE_CACHE_MIB sets it.
const DefaultPartCacheBytes = 32 << 20

// partCache keeps the decoded known-ticket parts of the connectors a
// replica polls, keyed by part key and the revision the part was written
// at. A KV revision is never reused, so a cached part is exactly what the
// stored part at that revision holds; a part rewritten by any writer has a
// new revision and is read again. The cached parts are never changed (Load
// copies them into a fresh Known), so no caller can alter them.
//
// The budget is in bytes (an estimate of what the decoded parts hold on
// the heap: maps, strings, slices), not in entries: a budget of entries let
// the cache hold ~40 MB of tickets whatever the replica's memory, and
// counted nothing for the page caches or per connector, which at 10,000
// small connectors were most of it. Past the budget, the least recently
// used connectors are dropped whole.
//
// Written here rather than taken from a cache library: what it needs is a
// per-connector set replaced whole at every load and save (the parts the
// head lists), with least-recently-used connectors dropped past a budget of
// bytes; a generic LRU of parts would still need this bookkeeping around it.
type partCache struct {
	mu     sync.Mutex
	budget int64 // bytes; 0 or less disables the cache
	bytes  int64
	conns  map[string]*connParts
	lru    list.List // of *connParts, most recently used first
}

// connParts are one connector's cached parts. A slice, searched by key: a
// connector has a few parts (a base chunk per 4,096 tickets, a few runs,
// the page caches; ~400 at 100,000 tickets), and a map of them cost ~450
// bytes even for one part (a map's first group holds 8 slots), 4.5 MB at
// 10,000 small connectors.
type connParts struct {
	id    string
	parts []cachedPart
	bytes int64 // the parts' and this record's own
	elem  *list.Element
}

// cachedPart is a decoded *part or *pagesPart (the content of key at
// revision rev) and its estimated size.
type cachedPart struct {
	key   string
	rev   uint64
	v     any
	bytes int64
}

// find is the index of key's part, -1 when not cached.
func (cp *connParts) find(key string) int {
	for i := range cp.parts {
		if cp.parts[i].key == key {
			return i
		}
	}
	return -1
}

// removeAt drops the part at i (order does not matter).
func (cp *connParts) removeAt(i int) {
	last := len(cp.parts) - 1
	cp.parts[i] = cp.parts[last]
	cp.parts[last] = cachedPart{}
	cp.parts = cp.parts[:last]
}

// Heap estimates (64-bit): a Go map spends about twice its entries' size
// (groups of 8 slots with a control word, grown by doubling when 7/8 full,
// so between 1.15× and 2.3×; TestPartBytesEstimatesTheHeapOfDecodedParts
// measures it); a string header is 16 bytes and its data rounds up to an
// 8-byte size class; time.Time is 24 bytes.
const (
	strHeader    = int64(unsafe.Sizeof(""))
	timeSize     = int64(unsafe.Sizeof(time.Time{}))
	pageSize     = int64(unsafe.Sizeof(PageCache{}))
	mapOverhead  = 48 // a map's header and directory
	slotFactor   = 2  // a map entry costs slotFactor × its key and value
	partOverhead = int64(unsafe.Sizeof(part{})) + 2*mapOverhead
	// connOverhead is a connector's record here: connParts, its list
	// element and its entry in conns.
	connOverhead = int64(unsafe.Sizeof(connParts{})+unsafe.Sizeof(list.Element{})) + (strHeader+8)*slotFactor
	// partSlot is one cachedPart in a connector's slice (grown by doubling).
	partSlot = int64(unsafe.Sizeof(cachedPart{})) * slotFactor
)

func strBytes(s string) int64 { return (int64(len(s)) + 7) &^ 7 }

// partBytes estimates the heap a decoded part holds: its maps' slots, its
// strings' data and its slices.
func partBytes(v any) int64 {
	switch v := v.(type) {
	case *part:
		n := partOverhead
		for k := range v.Set {
			n += (strHeader+timeSize)*slotFactor + strBytes(k)
		}
		for k, fp := range v.Prints {
			n += 2*strHeader*slotFactor + strBytes(k) + strBytes(fp)
		}
		for _, k := range v.Del {
			n += strHeader + strBytes(k)
		}
		return n
	case *pagesPart:
		n := int64(unsafe.Sizeof(pagesPart{}))
		for _, pages := range [][]PageCache{v.Pages, v.IncrementalPages} {
			n += int64(cap(pages)) * pageSize
			for _, pc := range pages {
				n += strBytes(pc.Token) + strBytes(pc.ETag) + strBytes(pc.Next) + int64(cap(pc.Keys))*strHeader
				for _, k := range pc.Keys {
					n += strBytes(k)
				}
			}
		}
		return n
	}
	return 64
}

// get returns the decoded part ref names, nil when not cached.
func (c *partCache) get(id string, ref partRef) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.conns[id]
	if cp == nil {
		return nil
	}
	i := cp.find(ref.Key)
	if i < 0 || cp.parts[i].rev != ref.Rev {
		return nil
	}
	c.lru.MoveToFront(cp.elem)
	return cp.parts[i].v
}

// put caches v (a *part or *pagesPart, never changed after) as the content
// of ref.
func (c *partCache) put(id string, ref partRef, v any) {
	n := partBytes(v) + partSlot + strBytes(ref.Key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.budget <= 0 || n+connOverhead+strBytes(id) > c.budget {
		return
	}
	if c.conns == nil {
		c.conns = map[string]*connParts{}
	}
	cp := c.conns[id]
	if cp == nil {
		cp = &connParts{id: id, bytes: connOverhead + strBytes(id)}
		cp.elem = c.lru.PushFront(cp)
		c.conns[id] = cp
		c.bytes += cp.bytes
	}
	e := cachedPart{key: ref.Key, rev: ref.Rev, v: v, bytes: n}
	if i := cp.find(ref.Key); i >= 0 {
		cp.bytes -= cp.parts[i].bytes
		c.bytes -= cp.parts[i].bytes
		cp.parts[i] = e
	} else {
		cp.parts = append(cp.parts, e)
	}
	cp.bytes += n
	c.bytes += n
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
	for i := len(cp.parts) - 1; i >= 0; i-- {
		if e := cp.parts[i]; !listed[partRef{Key: e.key, Rev: e.rev}] {
			cp.removeAt(i)
			cp.bytes -= e.bytes
			c.bytes -= e.bytes
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
	c.bytes -= cp.bytes
	c.lru.Remove(cp.elem)
	delete(c.conns, cp.id)
}

// evict drops least recently used connectors (not keep, the one being
// read) while over budget: O(1) a connector dropped.
func (c *partCache) evict(keep *connParts) {
	for c.bytes > c.budget {
		back := c.lru.Back()
		if back == nil {
			return
		}
		victim := back.Value.(*connParts)
		if victim == keep {
			// Only the connector being read is left: drop its other
			// parts, oldest first (the one just put is last).
			for c.bytes > c.budget && len(keep.parts) > 0 {
				e := keep.parts[0]
				keep.parts = keep.parts[1:]
				keep.bytes -= e.bytes
				c.bytes -= e.bytes
			}
			if len(keep.parts) == 0 {
				c.remove(keep)
			}
			return
		}
		c.remove(victim)
	}
}

// stats is what the cache holds: connectors, parts and estimated bytes.
func (c *partCache) stats() (conns, parts int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range c.conns {
		parts += len(cp.parts)
	}
	return len(c.conns), parts, c.bytes
}
