// Package webhooks receives signed tracker webhooks on
// POST /webhooks/{connector-id}. A delivery is verified (in constant time,
// over the raw body) with the connector's webhook secret, deduplicated by its
// delivery id, and only then announced as a small notice on
// webhook.notice.<system>.<connector> (stream WEBHOOKS) before the answer:
// the poller replica holding the connector's lease fetches the named tickets
// through the tracker code and publishes them with the poll's ids and
// bookkeeping. Nothing else from a payload is trusted.
package webhooks

import (
	"errors"
	"net"
	"time"

	envparse "github.com/caarlos0/env/v11"
)

// Config tunes the webhook receiver. Env variables map onto it.
type Config struct {
	// Addr is where POST /webhooks/{connector-id} is served.
	Addr string `env:"HUB_WEBHOOK_ADDR" envDefault:"127.0.0.1:7430"`
	// MaxBody caps a delivery's body; a larger one is refused (413) unread.
	// GitHub caps its payloads at 25 MB, but an issue event is a few KiB.
	MaxBody int64 `env:"WEBHOOK_MAX_BODY" envDefault:"1048576"`
	// Tolerance bounds how far a signed timestamp (GitLab's
	// webhook-timestamp) may be from now; older deliveries are replays.
	Tolerance time.Duration `env:"WEBHOOK_TIMESTAMP_TOLERANCE" envDefault:"5m"`
	// Timeout bounds the work done before answering (connector lookup,
	// decrypt, publishing the notice): trackers give up after 10 s
	// (GitHub) and the aim is under 100 ms.
	Timeout time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"5s"`
	// DrainTimeout bounds how long deliveries in flight may finish at shutdown.
	DrainTimeout time.Duration `env:"WEBHOOK_DRAIN_TIMEOUT" envDefault:"10s"`
	// RefusalReport is how often the refusals gathered per connector are
	// reported to the poller (for the connector's status): one message per
	// connector with refusals per period, however many were refused.
	RefusalReport time.Duration `env:"WEBHOOK_REFUSAL_REPORT" envDefault:"10s"`
}

// DefaultConfig is what an empty environment gives.
func DefaultConfig() Config {
	return envparse.Must(envparse.ParseAsWithOptions[Config](envparse.Options{Environment: map[string]string{}}))
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, errors.New("HUB_WEBHOOK_ADDR must be host:port"))
	}
	if c.MaxBody < 1024 {
		errs = append(errs, errors.New("WEBHOOK_MAX_BODY must be at least 1024"))
	}
	if c.Tolerance < time.Second || c.Timeout <= 0 || c.DrainTimeout <= 0 || c.RefusalReport <= 0 {
		errs = append(errs, errors.New("WEBHOOK_TIMESTAMP_TOLERANCE (≥1s), WEBHOOK_TIMEOUT, WEBHOOK_DRAIN_TIMEOUT and WEBHOOK_REFUSAL_REPORT must be positive"))
	}
	return errors.Join(errs...)
}
