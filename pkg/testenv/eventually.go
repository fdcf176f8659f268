package testenv

import (
	"testing"
	"time"
)

// eventuallyPoll is how often Eventually checks its condition.
const eventuallyPoll = 20 * time.Millisecond

// Eventually checks cond until it holds and fails the test (t.Fatalf, so
// call it from the test's goroutine) when it still does not after timeout;
// what names the awaited state in the failure. It waits for something that
// must happen; to show that something does not happen, use testing/synctest
// or an injected clock rather than a sleep. (An embedded NATS server cannot
// join a synctest bubble: nats.go keeps timers in a process-wide pool, and a
// timer made in one bubble and reused outside it is a fatal error.)
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(eventuallyPoll)
	}
}
