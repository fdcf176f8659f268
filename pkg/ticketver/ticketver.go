// Package ticketver keeps, per ticket, what the events need to say what
// really happened (bus.BucketTicketVersions):
//
//   - the poller's record of the version it last published: one FNV-1a hash
//     per Ticket field (a few hundred bytes, not the ticket), from which the
//     next version's TicketUpdated.changed_fields are derived;
//   - the writeback's record of its own changes: which fields it changed and
//     the ticket's update time once they were made, from which the poller
//     recognises their echo at the next poll and marks it actor "self".
//
// Both live in one KV bucket under keys <connector-id>.<kind>.<hash of the
// ticket key> (ticket keys hold characters KV keys do not allow), each kind
// written by one service only.
package ticketver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/connectorhub/connectorhub/pkg/bus"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// ActorSelf is TicketUpdated.actor for the connector's own changes.
const ActorSelf = "self"

// Fields maps a Ticket field number to the hash of its value. A field that
// is unset has no entry.
type Fields map[int32]uint32

// unversioned are the Ticket fields a change is never reported for:
// update_time moves at every change, and the ids say nothing of the ticket.
var unversioned = func() map[protowire.Number]bool {
	fields := (&chv1.Ticket{}).ProtoReflect().Descriptor().Fields()
	out := map[protowire.Number]bool{}
	for _, name := range []protoreflect.Name{"update_time", "connector_id", "system", "key"} {
		out[fields.ByName(name).Number()] = true
	}
	return out
}()

// Fingerprint hashes every field of t: t is encoded once (deterministic
// protobuf) and the bytes of each field's records (every element of a
// repeated field, in order) go through FNV-1a 32. A collision hides a
// change with odds of 1 in 4 billion per field; that is the price of
// keeping no copy of the ticket.
func Fingerprint(t *chv1.Ticket) Fields {
	bp := marshalBufs.Get().(*[]byte)
	defer marshalBufs.Put(bp)
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*bp)[:0], t)
	if err != nil {
		return Fields{} // cannot happen for a valid message; nothing is then known
	}
	*bp = b[:0] // keep the grown buffer for the next ticket
	// FNV-1a 32 by hand: its state after some bytes is the hash of them, so
	// a field's records (in whatever order they come) continue its entry,
	// with no hash.Hash32 allocated per field (issue 9: Fingerprint was a
	// tenth of the poller's CPU per ticket). fingerprint_test.go checks the
	// hashes against hash/fnv's.
	out := make(Fields, 16)
	for len(b) > 0 {
		num, _, n := protowire.ConsumeField(b)
		if n < 0 {
			break
		}
		if !unversioned[num] {
			h, ok := out[int32(num)]
			if !ok {
				h = fnvOffset32
			}
			for _, c := range b[:n] {
				h ^= uint32(c)
				h *= fnvPrime32
			}
			out[int32(num)] = h
		}
		b = b[n:]
	}
	return out
}

// FNV-1a 32 (hash/fnv's offset32 and prime32).
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

// marshalBufs reuses Fingerprint's encoding buffers.
var marshalBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Changed lists the fields of Ticket, by proto name in field order, whose
// hash differs between prev and next (set, cleared or changed).
func Changed(prev, next Fields) []string {
	fields := (&chv1.Ticket{}).ProtoReflect().Descriptor().Fields()
	var out []string
	for i := range fields.Len() {
		fd := fields.Get(i)
		n := int32(fd.Number())
		a, inA := prev[n]
		b, inB := next[n]
		if inA != inB || a != b {
			out = append(out, string(fd.Name()))
		}
	}
	return out
}

// Self is what the connector's writeback last changed on a ticket.
type Self struct {
	// Updated is the ticket's update time read after the changes were made:
	// a version not newer than it may be their echo.
	Updated time.Time `json:"updated"`
	// Fields are the Ticket fields (proto names) the writeback changed.
	Fields []string `json:"fields"`
	// Until, when set, says a writeback of Fields is under way and may
	// change the ticket until then: with webhooks the poll runs within
	// milliseconds of each of its changes, before Updated can be read
	// back, so a version updated before Until that changes only Fields is
	// taken for its echo too. The writeback's final record clears it.
	Until time.Time `json:"until,omitzero"`
}

// IsEcho says whether a ticket version updated at updated, whose changed
// fields are changed (nil: unknown), is the echo of the writeback's own
// changes: not newer than what the writeback read back after them, and
// changing nothing the writeback did not change. A person's edit made
// after the writeback read the ticket back is newer, so it is never an
// echo; one made between the writeback's change and that read, to a field
// the writeback also changed, is taken for an echo (a window of one
// request).
func IsEcho(self Self, updated time.Time, changed []string) bool {
	limit := self.Updated
	if self.Until.After(limit) {
		limit = self.Until
	}
	if limit.IsZero() || updated.After(limit) {
		return false
	}
	for _, f := range changed {
		if !slices.Contains(self.Fields, f) {
			return false
		}
	}
	return true
}

// Store reads and writes the records.
type Store struct{ kv jetstream.KeyValue }

// NewStore wraps the ticket_versions bucket.
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Open binds to the bucket, which bus.Provision creates.
func Open(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, bus.BucketTicketVersions)
	if err != nil {
		return nil, fmt.Errorf("ticket versions bucket: %w", err)
	}
	return NewStore(kv), nil
}

const (
	kindFields = "f"
	kindSelf   = "w"
)

// Key is the KV key of a ticket's record of a kind.
func Key(connectorID, kind, ticketKey string) string {
	return connectorID + "." + kind + "." + bus.EventID(ticketKey)
}

// Fields returns the hashes of the version last published; ok false when
// there is none.
func (s *Store) Fields(ctx context.Context, connectorID, ticketKey string) (f Fields, ok bool, err error) {
	ok, err = s.get(ctx, Key(connectorID, kindFields, ticketKey), &f)
	return f, ok, err
}

// FieldsMsg is the KV write that records f as the version last published,
// as a message for an asynchronous JetStream publish (the poller sends it
// with the page's events and waits for all their acks together).
func FieldsMsg(connectorID, ticketKey string, f Fields) (*nats.Msg, error) {
	return &nats.Msg{Subject: "$KV." + bus.BucketTicketVersions + "." + Key(connectorID, kindFields, ticketKey), Data: appendFields(nil, f)}, nil
}

// appendFields appends f as encoding/json writes a map[int32]uint32 (keys
// as strings in string order), without its reflection and per-key
// allocations; fingerprint_test.go compares the bytes with json.Marshal's.
func appendFields(b []byte, f Fields) []byte {
	var keys [64][12]byte // field numbers as text; a Ticket has fewer fields
	names := make([][]byte, 0, len(f))
	i := 0
	for n := range f {
		var k []byte
		if i < len(keys) {
			k = strconv.AppendInt(keys[i][:0], int64(n), 10)
		} else {
			k = strconv.AppendInt(nil, int64(n), 10)
		}
		names = append(names, k)
		i++
	}
	slices.SortFunc(names, bytes.Compare)
	b = append(b, '{')
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		n, _ := strconv.ParseInt(string(k), 10, 32)
		b = strconv.AppendUint(b, uint64(f[int32(n)]), 10)
	}
	return append(b, '}')
}

// Self returns what the writeback last changed; ok false when nothing.
func (s *Store) Self(ctx context.Context, connectorID, ticketKey string) (self Self, ok bool, err error) {
	ok, err = s.get(ctx, Key(connectorID, kindSelf, ticketKey), &self)
	return self, ok, err
}

// MarkSelf records the writeback's changes. Changes already recorded at
// an update time not later than self's are kept with it, so two results
// written back one after the other are both recognised.
func (s *Store) MarkSelf(ctx context.Context, connectorID, ticketKey string, self Self) error {
	key := Key(connectorID, kindSelf, ticketKey)
	for range 5 {
		var prev Self
		entry, err := s.kv.Get(ctx, key)
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("ticket versions: read %s: %w", key, err)
		default:
			rev = entry.Revision()
			if err := json.Unmarshal(entry.Value(), &prev); err != nil {
				prev = Self{}
			}
		}
		next := self
		if !prev.Updated.IsZero() && (!prev.Updated.After(self.Updated) || !self.Until.IsZero()) {
			for _, f := range prev.Fields {
				if !slices.Contains(next.Fields, f) {
					next.Fields = append(next.Fields, f)
				}
			}
		}
		if prev.Updated.After(self.Updated) {
			next.Updated = prev.Updated
		}
		slices.Sort(next.Fields)
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		var apiErr *jetstream.APIError
		if errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			continue // another writer in between: read again
		}
		if err != nil {
			return fmt.Errorf("ticket versions: write %s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("ticket versions: %s kept changing", key)
}

func (s *Store) get(ctx context.Context, key string, v any) (bool, error) {
	entry, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ticket versions: read %s: %w", key, err)
	}
	if err := json.Unmarshal(entry.Value(), v); err != nil {
		return false, nil // unreadable: as if absent (the next write replaces it)
	}
	return true, nil
}
