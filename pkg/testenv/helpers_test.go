package testenv_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectorhub/connectorhub/pkg/testenv"
)

func TestLogBufferKeepsEveryConcurrentWrite(t *testing.T) {
	t.Parallel()
	var b testenv.LogBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "writer %d line %d\n", i, j)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
	got := b.Bytes()
	got[0] = 'X'
	if b.String()[0] != 'w' {
		t.Error("Bytes returned the buffer itself, not a copy")
	}
}

// fatalRecorder stands in for a test to observe how Eventually fails.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (*fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit() // as testing.T.Fatalf does
}

func TestEventuallyFailsNamingWhatItWaitedFor(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) { // fake time: the 5s pass at once
		rec := &fatalRecorder{TB: t}
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			testenv.Eventually(rec, 5*time.Second, "the impossible", func() bool { return false })
		}()
		<-done
		if !strings.Contains(rec.msg, "the impossible") || !strings.Contains(rec.msg, "5s") {
			t.Errorf("failure message %q names neither the condition nor the timeout", rec.msg)
		}
		if waited := time.Since(start); waited < 5*time.Second {
			t.Errorf("gave up after %s, before the 5s timeout", waited)
		}
	})
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	calls := 0
	testenv.Eventually(t, 10*time.Second, "the third check", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}
