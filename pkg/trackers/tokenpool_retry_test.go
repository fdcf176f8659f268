package trackers_test

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectorhub/connectorhub/pkg/secrets"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// A refused token comes back by itself: after the cool-down it takes the
// next request's place; refused again, it waits twice as long (5, 10, 20
// minutes… at most the ceiling); accepted, it is back in the pool with the
// cool-down reset. The status shows when it is tried next.
func TestTokenPoolTriesASetAsideTokenAgainAfterACoolDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := &budgetServer{budget: map[string]int{"good": 1000, "flaky": 1000}, revoked: map[string]bool{"flaky": true}, used: map[string]int{}}
		pool := trackers.NewTokenPool([]string{"flaky", "good"}, nil).WithRetry(5*time.Minute, 15*time.Minute)
		c := &http.Client{Transport: pool.Transport(fakehttp.InMemory(b), "pool.test", func(r *http.Request, tok string) {
			r.Header.Set("Authorization", "Bearer "+tok)
		})}
		const u = "http://pool.test/issues"
		used := func(tok string) int {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.used[tok]
		}
		retryAt := func() time.Time {
			t.Helper()
			aside := pool.SetAside()
			if len(aside) != 1 || aside[0].Fingerprint != secrets.Fingerprint([]byte("flaky")) {
				t.Fatalf("set aside: %+v", aside)
			}
			return aside[0].RetryAt
		}

		start := time.Now()
		if code := get(t, c, u); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if got, want := retryAt(), start.Add(5*time.Minute); !got.Equal(want) {
			t.Fatalf("retry at %s, want %s (the first cool-down)", got, want)
		}
		// Within the cool-down the token is left alone.
		for range 5 {
			time.Sleep(time.Minute - time.Second)
			get(t, c, u)
		}
		if n := used("flaky"); n != 1 {
			t.Fatalf("set-aside token tried %d times within its cool-down, want once", n)
		}
		// Cool-down over: one request tries it (still refused: sent again
		// with the good token, so the caller sees no failure) and the next
		// cool-down is twice as long.
		time.Sleep(5 * time.Second)
		if code := get(t, c, u); code != http.StatusOK {
			t.Fatalf("status %d on the probe", code)
		}
		if n := used("flaky"); n != 2 {
			t.Fatalf("set-aside token tried %d times after its cool-down, want 2", n)
		}
		probe := time.Now()
		if got, want := retryAt(), probe.Add(10*time.Minute); !got.Equal(want) {
			t.Fatalf("retry at %s, want %s (doubled)", got, want)
		}
		// Doubling stops at the ceiling (15 min): 10 → 15, not 20.
		time.Sleep(10 * time.Minute)
		get(t, c, u)
		if got, want := retryAt(), time.Now().Add(15*time.Minute); !got.Equal(want) {
			t.Fatalf("retry at %s, want %s (the ceiling)", got, want)
		}

		// The token is restored on the tracker's side: the next probe
		// brings it back, and the pool spreads over both again.
		b.mu.Lock()
		b.revoked["flaky"] = false
		b.mu.Unlock()
		time.Sleep(15 * time.Minute)
		get(t, c, u)
		if aside := pool.SetAside(); len(aside) != 0 {
			t.Fatalf("still set aside after an accepted probe: %+v", aside)
		}
		before := used("flaky")
		for range 20 {
			get(t, c, u)
		}
		if n := used("flaky") - before; n < 5 {
			t.Fatalf("restored token sent %d of 20 requests: not back in the pool", n)
		}
	})
}
