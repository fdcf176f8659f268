package knowledge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Buckets the service creates (pkg/bus provisions the shared ones).
const (
	// BucketCache holds search results per (connector, query) with a TTL.
	BucketCache = "knowledge_cache"
	// BucketState holds the query last enriched per ticket.
	BucketState = "knowledge_state"
)

// cache keeps search results in a KV bucket shared by every replica, so a
// burst of tickets with the same query costs one Confluence call. Entries
// expire by the bucket's TTL; the stored time is also checked, so an entry is
// never served older than the TTL whatever the server's expiry sweep does.
type cache struct {
	kv  jetstream.KeyValue
	ttl time.Duration
	now func() time.Time
}

type cacheEntry struct {
	Stored time.Time `json:"stored"`
	Hits   []Hit     `json:"hits"`
}

// cacheKey names a result: the connector (and its config revision, so a
// changed space list or URL is not served stale results), then a hash of
// everything that shapes the answer. Terms are compared as a set.
func cacheKey(connectorID string, revision uint64, terms, spaces []string, limit int, fullText bool) string {
	t := make([]string, len(terms))
	for i, term := range terms {
		t[i] = strings.ToLower(term)
	}
	slices.Sort(t)
	s := slices.Clone(spaces)
	slices.Sort(s)
	h := sha256.New()
	for _, part := range []string{strconv.FormatUint(revision, 10), strings.Join(t, "\x00"), strings.Join(s, "\x00"), strconv.Itoa(limit), strconv.FormatBool(fullText)} {
		h.Write([]byte(part))
		h.Write([]byte{0xff})
	}
	return connectorID + "." + hex.EncodeToString(h.Sum(nil)[:16])
}

func (c *cache) get(ctx context.Context, key string) ([]Hit, bool) {
	e, err := c.kv.Get(ctx, key)
	if err != nil {
		return nil, false
	}
	var ce cacheEntry
	if json.Unmarshal(e.Value(), &ce) != nil || c.now().Sub(ce.Stored) >= c.ttl {
		return nil, false
	}
	return ce.Hits, true
}

func (c *cache) put(ctx context.Context, key string, hits []Hit) error {
	data, err := json.Marshal(cacheEntry{Stored: c.now(), Hits: hits})
	if err != nil {
		return err
	}
	if _, err := c.kv.Put(ctx, key, data); err != nil {
		return fmt.Errorf("knowledge: cache put: %w", err)
	}
	return nil
}

// flight makes concurrent searches for the same key in one replica share one
// call (the KV cache covers replicas, and calls after the first returns).
type flight struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done chan struct{}
	hits []Hit
	err  error
}

// do runs fn once per key at a time, in its own goroutine; every caller
// (the first included) gets its result, or ctx's error if it gives up first,
// so a caller's deadline holds however long fn takes. fn must bound itself.
// shared reports whether the call was started by another caller.
func (f *flight) do(ctx context.Context, key string, fn func() ([]Hit, error)) (hits []Hit, shared bool, err error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]*flightCall{}
	}
	c, shared := f.calls[key]
	if !shared {
		c = &flightCall{done: make(chan struct{})}
		f.calls[key] = c
		go func() {
			c.hits, c.err = fn()
			f.mu.Lock()
			delete(f.calls, key)
			f.mu.Unlock()
			close(c.done)
		}()
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.hits, shared, c.err
	case <-ctx.Done():
		return nil, shared, ctx.Err()
	}
}
