// Package writeback consumes result.ready and writes results back to the
// trackers: status, comment (with a mention of the reporter), sub-tasks and a
// pull/merge request, in that order. Each step is recorded in the
// writeback_ledger KV bucket, so a redelivery after a crash resumes without
// repeating a step; a result that keeps failing is dead-lettered as
// writeback.failed and can be replayed.
package writeback

import (
	"errors"
	"strings"
	"time"

	envparse "github.com/caarlos0/env/v11"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// Config tunes the writeback service. Env variables map onto it.
type Config struct {
	// Durable is the consumer name every writeback replica of a zone
	// shares. An edge zone's replicas (WRITEBACK_ZONE) left at the default
	// use writeback-<zone>: a zone needs a durable of its own (see Zone).
	Durable string `env:"WRITEBACK_DURABLE" envDefault:"writeback"`
	// Zone is the edge site this replica serves. Every zone's durable reads
	// every result.ready message (RESULTS keeps them under limits
	// retention, so a second durable loses nothing to the first); a
	// replica writes back the results of its zone's connectors and
	// acknowledges the others' unread, which their zone's durable
	// delivers there. Empty (central) also owns results whose connector
	// is unknown (they are dead-lettered once, centrally).
	Zone string `env:"WRITEBACK_ZONE"`
	// MaxDeliver is how many times a result is tried before it is dead-lettered.
	MaxDeliver int `env:"WRITEBACK_MAX_DELIVER" envDefault:"5"`
	// AckWait is how long JetStream waits for a sign of life from a delivery
	// before redelivering it; handlers ack "in progress" every third of it, so
	// it bounds how soon a crashed worker's results are taken up (20 s leaves
	// room within the 30 s the README promises for the new worker to finish
	// the result).
	AckWait time.Duration `env:"WRITEBACK_ACK_WAIT" envDefault:"20s"`
	// RetryBase and RetryMax shape the delay between attempts (exponential).
	RetryBase time.Duration `env:"WRITEBACK_RETRY_BASE" envDefault:"2s"`
	RetryMax  time.Duration `env:"WRITEBACK_RETRY_MAX" envDefault:"2m"`
	// Concurrency bounds the results one replica writes at once (its shared
	// writers). A result on a tracker that paces its writes (GitHub) takes
	// none while it waits for its pace (see slots.go).
	Concurrency int `env:"WRITEBACK_CONCURRENCY" envDefault:"64"`
	// PerConnector bounds the results of one connector written at once, in
	// arrival order (1 on a tracker that paces its writes). Measured with
	// tracker transports that kept 2 idle connections per host, 4 opened a
	// new connection for most requests (a quarter more CPU per result).
	PerConnector int `env:"WRITEBACK_PER_CONNECTOR" envDefault:"2"`
	// MaxPending bounds the results one replica holds, written or waiting
	// for their connector's turn (the consumer's ack-pending limit).
	MaxPending int `env:"WRITEBACK_MAX_PENDING" envDefault:"1024"`
	// PRTitleTemplate formats pull/merge request titles; $ticket_key (PROJ-12
	// on Jira, #12 on GitHub and GitLab) and $title expand.
	PRTitleTemplate string `env:"WRITEBACK_PR_TITLE_TEMPLATE" envDefault:"$ticket_key $title"`
	// AssignSubtasks assigns the sub-tasks a result creates to the
	// connector's account (its assignee, else the credential's account)
	// where the tracker allows it (Jira), so the poll discovers them; false
	// leaves them unassigned.
	AssignSubtasks bool `env:"WRITEBACK_ASSIGN_SUBTASKS" envDefault:"true"`
	// StepTimeout bounds one tracker call.
	StepTimeout time.Duration `env:"WRITEBACK_STEP_TIMEOUT" envDefault:"30s"`
	// DrainTimeout bounds how long the writes in flight may finish at
	// shutdown before they are cancelled (and later redelivered).
	DrainTimeout time.Duration `env:"WRITEBACK_DRAIN_TIMEOUT" envDefault:"20s"`
}

// DefaultConfig is what an empty environment gives: the envDefault tags
// above are the one place a default is written. It panics only on a
// malformed tag, a bug the tests catch.
func DefaultConfig() Config {
	return envparse.Must(envparse.ParseAsWithOptions[Config](envparse.Options{Environment: map[string]string{}}))
}

const defaultDurable = "writeback"

// ConsumerName is the durable this replica consumes with: Durable, or
// writeback-<zone> for an edge replica left at the default, so an edge
// replica never shares (and splits) the central durable's deliveries.
func (c Config) ConsumerName() string {
	if c.Zone != "" && c.Durable == defaultDurable {
		return defaultDurable + "-" + c.Zone
	}
	return c.Durable
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Durable == "" || strings.ContainsAny(c.Durable, ".*> ") {
		errs = append(errs, errors.New("WRITEBACK_DURABLE must be a plain name"))
	}
	if c.Zone != "" && !connector.ValidZone(c.Zone) {
		errs = append(errs, errors.New("WRITEBACK_ZONE must be 1-32 lowercase letters, digits and '-', starting with a letter"))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, errors.New("WRITEBACK_MAX_DELIVER must be at least 1"))
	}
	if c.AckWait < time.Second || c.RetryBase <= 0 || c.RetryMax < c.RetryBase || c.StepTimeout <= 0 {
		errs = append(errs, errors.New("WRITEBACK_ACK_WAIT (≥1s), WRITEBACK_RETRY_BASE, WRITEBACK_RETRY_MAX (≥ base) and WRITEBACK_STEP_TIMEOUT must be positive"))
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, errors.New("WRITEBACK_DRAIN_TIMEOUT must be positive"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, errors.New("WRITEBACK_CONCURRENCY must be at least 1"))
	}
	if c.PerConnector < 1 {
		errs = append(errs, errors.New("WRITEBACK_PER_CONNECTOR must be at least 1"))
	}
	if c.MaxPending < c.Concurrency {
		errs = append(errs, errors.New("WRITEBACK_MAX_PENDING must be at least WRITEBACK_CONCURRENCY"))
	}
	if !strings.Contains(c.PRTitleTemplate, "$title") {
		errs = append(errs, errors.New("WRITEBACK_PR_TITLE_TEMPLATE must contain $title"))
	}
	return errors.Join(errs...)
}
