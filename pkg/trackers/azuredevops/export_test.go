package azuredevops

import "time"

// NewWithClock is New with the state cache reading now for its TTL.
func NewWithClock(now func() time.Time) Tracker { return Tracker{states: newStateCache(now)} }
