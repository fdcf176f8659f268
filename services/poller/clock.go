package poller

import "time"

// Clock is a replica's time: what time it is, and the ticker its scheduler
// runs on. Deps.Clock defaults to the real clock; a test injects its own so
// that schedules move only when it says so.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks on C until stopped, like a time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// realClock is the time package's clock.
type realClock struct{}

var _ Clock = realClock{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
