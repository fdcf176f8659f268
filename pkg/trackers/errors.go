package trackers

import (
	"context"
	"errors"
	"time"
)

// Errors the frameworks act on, for errors.Is.
var (
	// ErrTicketNotFound: the ticket does not exist or is not visible.
	ErrTicketNotFound = errors.New("ticket not found")
	// ErrUnknownStatus: no transition or status label matches the requested status.
	ErrUnknownStatus = errors.New("no such status")
	// ErrMalformedResponse: the tracker answered with a body that does not parse
	// or lacks required fields. It is reported on the connector, never a crash.
	ErrMalformedResponse = errors.New("malformed tracker response")
	// ErrUnauthorized: the credential was rejected (401/403). Retrying will not help.
	ErrUnauthorized = errors.New("tracker rejected the credential")
	// ErrTransient: a 5xx answer, a timeout or a dropped connection. The
	// frameworks retry it with exponential backoff and jitter.
	ErrTransient = errors.New("transient tracker failure")
	// ErrRejected: the tracker refused the request itself (a 4xx other than
	// 401/403, 404, 408, 409 and 429: a field it does not accept, an invalid
	// transition, a sub-task under a sub-task). Sending it again will not help.
	// A 408 or 409 (an edit racing ours) is ErrTransient.
	ErrRejected = errors.New("tracker rejected the request")
	// ErrResponseTooLarge: the tracker's answer is larger than
	// Options.MaxResponseBytes (HUB_MAX_RESPONSE_BYTES). It would be again.
	ErrResponseTooLarge = errors.New("tracker response too large")
)

// RateLimitError says the tracker asked us to wait (429, or 403 with
// X-RateLimit-Remaining: 0, or a secondary limit). The poller defers the
// connector until RetryAfter has passed instead of retrying at once.
type RateLimitError struct {
	RetryAfter time.Duration
	// Reason is the tracker's reason when it gives one (Jira's RateLimit-Reason,
	// GitHub "secondary rate limit").
	Reason string
}

func (e *RateLimitError) Error() string {
	msg := "tracker rate limit: retry after " + e.RetryAfter.String()
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// Retry is what a framework does after a failed tracker call.
type Retry int

const (
	// RetryNever: the call cannot succeed as it is (credential, request,
	// ticket or configuration is wrong, or the answer cannot be read).
	// Report it; the poller tries again at the next interval, writeback
	// dead-letters the result (it can be replayed).
	RetryNever Retry = iota
	// RetryBackoff: a transient failure (5xx, timeout, dropped connection,
	// or a failure no tracker classified). Retry with exponential backoff
	// and jitter, within the caller's budget.
	RetryBackoff
	// RetryAfterWait: the tracker rate-limited the call; retry once the
	// returned wait has passed (a long wait defers the connector instead).
	RetryAfterWait
)

// RetryOf is the one retry rule the poller, writeback and knowledge follow.
// It returns what to do after err and, for a rate limit, how long to wait.
// Callers whose own context has ended stop whatever it says.
func RetryOf(err error) (Retry, time.Duration) {
	var rl *RateLimitError
	switch {
	case err == nil:
		return RetryNever, 0
	case errors.As(err, &rl):
		return RetryAfterWait, rl.RetryAfter
	case errors.Is(err, ErrTransient), errors.Is(err, ErrSearchUnavailable), errors.Is(err, context.DeadlineExceeded):
		return RetryBackoff, 0
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrTicketNotFound), errors.Is(err, ErrUnknownStatus),
		errors.Is(err, ErrRejected), errors.Is(err, ErrMalformedResponse), errors.Is(err, ErrResponseTooLarge), errors.Is(err, ErrInvalidConfig),
		errors.Is(err, ErrUnknownSystem), errors.Is(err, ErrEndpointRefused), errors.Is(err, ErrInvalidHTTPConfig),
		errors.Is(err, ErrInvalidSearch), errors.Is(err, ErrPageNotFound), errors.Is(err, ErrInvalidTicketKey), errors.Is(err, context.Canceled):
		return RetryNever, 0
	}
	return RetryBackoff, 0
}
