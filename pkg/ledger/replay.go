package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// ErrNotFailed means a replay was asked for a result that is not dead-lettered.
var ErrNotFailed = errors.New("result is not dead-lettered")

// KeyNormalizer turns a result's ticket key into the key the ticket events
// carry for that connector, or says why it names no ticket of it.
type KeyNormalizer func(ctx context.Context, connectorID, key string) (string, error)

// Replay re-publishes a dead-lettered result on result.ready with a new event
// id and clears its failed mark and those of its refused steps, so the
// writeback resumes from the steps its ledger records as done and tries the
// failed ones again. With a KeyNormalizer, the ticket key is normalised
// first (and kept so in the ledger); an error from it refuses the replay and
// leaves the result dead-lettered. It returns the subject published to and
// the number of replays so far.
func Replay(ctx context.Context, js jetstream.JetStream, store *Store, resultID string, normalize ...KeyNormalizer) (string, int, error) {
	e, err := store.Get(ctx, resultID)
	if err != nil {
		return "", 0, err
	}
	if !e.Failed {
		state := "in progress"
		if e.Completed {
			state = "completed"
		}
		return "", 0, fmt.Errorf("%w: %s is %s", ErrNotFailed, resultID, state)
	}
	var r chv1.ResultReady
	if err := protojson.Unmarshal(e.Result, &r); err != nil {
		return "", 0, fmt.Errorf("ledger %s holds an undecodable result: %w", resultID, err)
	}
	for _, n := range normalize {
		key, err := n(ctx, r.GetConnectorId(), r.GetTicketKey())
		if err != nil {
			return "", 0, fmt.Errorf("result %s cannot be replayed: %w", resultID, err)
		}
		if key != r.GetTicketKey() {
			r.TicketKey = key
			if e.Result, err = protojson.Marshal(&r); err != nil {
				return "", 0, fmt.Errorf("encode result %s: %w", resultID, err)
			}
		}
	}
	e.Failed = false
	e.Reason = ""
	for name, st := range e.Steps {
		if st.State == Failed {
			delete(e.Steps, name)
		}
	}
	e.Replays++
	e.Attempts = 0
	if e, err = store.Put(ctx, e); err != nil {
		return "", 0, err
	}
	system := e.System
	if system == "" {
		system = systemToken(r.GetSystem())
	}
	subject, err := bus.ResultSubject(system, r.GetConnectorId())
	if err != nil {
		return "", 0, err
	}
	id := bus.EventID("result.replay", resultID, strconv.Itoa(e.Replays))
	if _, err := bus.Publish(ctx, js, subject, &r, bus.WithID(id), bus.WithSource(bus.Source(bus.ProducerReplay, r.GetConnectorId())), bus.WithSubject(r.GetTicketKey())); err != nil {
		return "", 0, fmt.Errorf("republish %s: %w", resultID, err)
	}
	return subject, e.Replays, nil
}

func systemToken(s chv1.System) string {
	if sys, ok := connectorpb.SystemFromProto(s); ok {
		return string(sys)
	}
	return "unknown"
}
