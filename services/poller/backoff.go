package poller

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// endCycle records how a cycle that started at start ended, and when the
// connector is next due:
//   - success: an interval on, the failure count reset;
//   - a long rate limit: deferred until the tracker's Retry-After, capped by
//     POLLER_MAX_DEFER;
//   - a transient failure (5xx, timeouts, a cycle cut short), after the
//     retries within the cycle: backing off across cycles, the wait doubling
//     from the poll interval with each failed cycle up to POLLER_BACKOFF_MAX,
//     with jitter, shown in the status as "backing off until …";
//   - any other failure: the error, an interval on.
//
// A deferral is recorded with the connector's revision: an update, a
// re-enable or a recreate lifts it (PollState.DueFor), and starts the
// failure count again.
func (p *Poller) endCycle(st *connector.PollState, c connector.Connector, start time.Time, late time.Duration, err error) {
	failures := st.Failures
	if st.DeferredRevision != 0 && st.DeferredRevision != c.Revision {
		failures = 0 // the connector changed since the backoff began
	}
	st.LastPoll = start
	st.Owner = p.cfg.ReplicaID
	st.NextPoll = start.Add(c.PollInterval)
	st.Late = late
	st.DeferredUntil, st.DeferredRevision, st.Failures = time.Time{}, 0, 0
	st.AuthError, st.Reauthorize = "", ""
	var deferred errDeferred
	switch {
	case err == nil:
		st.LastSuccess = p.now()
		st.LastError = ""
		st.Cycles++
	case errors.As(err, &deferred):
		until := deferred.until
		if limit := p.now().Add(p.cfg.MaxDefer); until.After(limit) {
			until = limit
		}
		st.LastError = errDeferred{until: until}.Error()
		st.DeferredUntil, st.DeferredRevision = until, c.Revision
		st.NextPoll = latest(st.NextPoll, until)
		st.Failures = failures // a rate limit is not a failure, nor a success
	case retryable(err):
		st.Failures = failures + 1
		until := start.Add(backoffWait(c.PollInterval, st.Failures, p.cfg.BackoffMax))
		st.DeferredUntil, st.DeferredRevision = until, c.Revision
		st.NextPoll = latest(st.NextPoll, until)
		st.LastError = fmt.Sprintf("%v; backing off until %s (%d failed cycles in a row)",
			err, st.NextPoll.UTC().Format(time.RFC3339), st.Failures)
	case errors.Is(err, trackers.ErrGrantInvalid):
		// An unusable OAuth grant: one clear error per cycle (the token
		// service does not ask again until the record holds a new grant),
		// and on the status what fixes it.
		st.LastError = err.Error()
		st.AuthError = err.Error()
		st.Reauthorize = "hubctl connectors authorize " + c.ID
	default:
		st.LastError = err.Error()
	}
}

// retryable reports whether err is worth backing off from (the tracker may
// recover by itself), as opposed to one only a change can fix.
func retryable(err error) bool {
	retry, _ := trackers.RetryOf(err)
	return retry == trackers.RetryBackoff
}

// backoffWait is the wait after the n-th failed cycle in a row: the poll
// interval doubled n times, at most ceiling, less up to a fifth of jitter so
// that connectors failing together do not retry together.
func backoffWait(interval time.Duration, n int, ceiling time.Duration) time.Duration {
	wait := interval
	for range n {
		if wait >= ceiling/2 {
			wait = ceiling
			break
		}
		wait *= 2
	}
	wait = min(wait, ceiling)
	return wait - time.Duration(rand.Int64N(int64(wait/5)+1))
}
