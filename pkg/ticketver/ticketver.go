// Package ticketver keeps, per ticket, what the events need to say what
// really happened (bus.BucketTicketVersions):
//
//   - the poller's record of the version it last published: one CRC-32C
//     hash per Ticket field (Fields, not the ticket), from which the next
//     version's TicketUpdated.changed_fields are derived. Since issue 9 it
//     lives in the connector's poll state beside the ticket's known version
//     (Fields.Encode, ~60 bytes; pkg/connector PollState.SetKnownVersion),
//     so a page of tickets costs one state write, not one bus write per
//     ticket. Pollers before that wrote FNV-1a hashes to the
//     ticket_versions bucket (kind "f"), and until issue 9 req. 4 to the
//     poll state: neither compares with CRC-32C hashes, so they are not
//     read (the first update of a ticket after the upgrade has no
//     changed_fields, as when its record expired) and the bucket's records
//     expire unread;
//   - the writeback's record of its own changes: which fields it changed and
//     the ticket's update time once they were made, from which the poller
//     recognises their echo at the next poll and marks it actor "self".
//
// The ticket_versions records live under keys <connector-id>.<kind>.<hash
// of the ticket key> (ticket keys hold characters KV keys do not allow),
// each kind written by one service only.
package ticketver

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"slices"
	"sync"
	"time"

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
// A bit set (all four are numbered below 64): hashFields tests it per
// record.
var unversioned = func() uint64 {
	fields := (&chv1.Ticket{}).ProtoReflect().Descriptor().Fields()
	var out uint64
	for _, name := range []protoreflect.Name{"update_time", "connector_id", "system", "key"} {
		out |= 1 << fields.ByName(name).Number()
	}
	return out
}()

// Fingerprint hashes every field of t: the bytes of each field's records
// in t's deterministic protobuf encoding (every element of a repeated
// field, in order; hashDirect writes them without encoding the whole
// ticket) go through CRC-32C (Castagnoli), one hash per field continued
// across its records (crc32.Update of a field's hash with
// its next record is the hash of both). A 32-bit CRC of a changed value
// equals the old one with odds of 1 in 2^32 (4 billion) per field, and it
// never misses a change confined to 32 consecutive bits; that is the price
// of keeping no copy of the ticket.
//
// CRC-32C rather than FNV-1a (before issue 9 req. 4): FNV multiplies once
// per byte, serially, ~5 µs a ticket; the standard library computes
// CRC-32C with the CPU's CRC instructions (SSE 4.2, ARMv8), several bytes
// a cycle. Hashes of the two kinds are told apart by Encode's version
// marker, so a print stored by the old code reads as unknown (Decode).
func Fingerprint(t *chv1.Ticket) Fields {
	out := make(Fields, 16)
	var hashes [64]uint32
	mask, ok := hashFields(t, &hashes, func(num protowire.Number, rec []byte) {
		out[int32(num)] = crc32.Update(out[int32(num)], castagnoli, rec)
	})
	if !ok {
		return Fields{} // cannot happen for a valid message; nothing is then known
	}
	for m := mask; m != 0; m &= m - 1 {
		n := bits.TrailingZeros64(m)
		out[int32(n)] = hashes[n]
	}
	return out
}

// hashFields hashes each versioned field of t's deterministic protobuf
// encoding below 64 into hashes (by hashDirect when it can, else through
// the encoding itself), returning the set of those present; each
// record of a field numbered 64 or more (none in Ticket today) goes to high.
// ok is false when t does not marshal.
func hashFields(t *chv1.Ticket, hashes *[64]uint32, high func(protowire.Number, []byte)) (mask uint64, ok bool) {
	if mask, ok := hashDirect(t, hashes); ok {
		return mask, true
	}
	*hashes = [64]uint32{} // what hashDirect wrote before it gave up
	return hashMarshalled(t, hashes, high)
}

// hashMarshalled is hashFields by the deterministic protobuf encoding.
func hashMarshalled(t *chv1.Ticket, hashes *[64]uint32, high func(protowire.Number, []byte)) (mask uint64, ok bool) {
	bp := marshalBufs.Get().(*[]byte)
	defer marshalBufs.Put(bp)
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*bp)[:0], t)
	if err != nil {
		return 0, false
	}
	*bp = b[:0] // keep the grown buffer for the next ticket
	for len(b) > 0 {
		num, _, n := protowire.ConsumeField(b)
		if n < 0 {
			break
		}
		switch {
		case num >= 64:
			high(num, b[:n])
		case unversioned&(1<<num) == 0:
			// A field's first record starts from 0 (crc32's initial state):
			// hashes starts zeroed.
			hashes[num] = crc32.Update(hashes[num], castagnoli, b[:n])
			mask |= 1 << num
		}
		b = b[n:]
	}
	return mask, true
}

// castagnoli is the CRC-32C table; making it also selects the hardware
// implementation crc32.Update uses for it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Print is Fingerprint(t).Encode() without the map between them: what the
// poller records for every published version (issue 9: the map and its
// encoding were ~2 allocations and ~1 µs a ticket, and only an update
// needs the map, which Decode gives). A field numbered 64 or more (none in
// Ticket today) takes the general path.
func Print(t *chv1.Ticket) string {
	var hashes [64]uint32
	general := false
	mask, ok := hashFields(t, &hashes, func(protowire.Number, []byte) { general = true })
	if !ok {
		return Fields{}.Encode()
	}
	if general {
		return Fingerprint(t).Encode()
	}
	var raw [rawMax]byte
	e := binary.AppendUvarint(raw[:0], mask|crcMarker)
	for m := mask; m != 0; m &= m - 1 {
		e = binary.BigEndian.AppendUint32(e, hashes[bits.TrailingZeros64(m)])
	}
	var out [EncodedMax]byte
	n := base64.RawStdEncoding.EncodedLen(len(e))
	base64.RawStdEncoding.Encode(out[:n], e)
	return string(out[:n])
}

// crcMarker is bit 0 of an encoded fingerprint's field set: no protobuf
// field has number 0, so the bit is free to say the hashes are CRC-32C.
// Prints without it are FNV-1a 32 (pollers before issue 9 req. 4), whose
// values cannot be compared with CRC-32C's: Decode refuses them, and those
// pollers' Decode refused any set with bit 0, so a print is never compared
// across the two in either direction.
const crcMarker = 1

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

// kindSelf is the writeback's records ("f", the poller's field hashes
// before issue 9, is no longer read or written).
const kindSelf = "w"

// Key is the KV key of a ticket's record of a kind.
func Key(connectorID, kind, ticketKey string) string {
	return connectorID + "." + kind + "." + bus.EventID(ticketKey)
}

// Encode packs f into the compact text the poll state keeps with a known
// ticket (opaque to pkg/connector): an unsigned varint bit set of the field
// numbers below 64 (bit 0 set: crcMarker), then each of those fields' hash (4 bytes, big endian)
// in field order, then any field number from 64 up as a varint followed by
// its hash; all in unpadded base64. A Ticket (20 fields, 16 hashed) encodes
// in at most EncodedMax characters, typically ~60.
func (f Fields) Encode() string {
	var raw [rawMax]byte
	b := raw[:0]
	var mask uint64
	var high []int32
	for n := range f {
		if n > 0 && n < 64 {
			mask |= 1 << n
		} else {
			high = append(high, n)
		}
	}
	b = binary.AppendUvarint(b, mask|crcMarker)
	for m := mask; m != 0; m &= m - 1 {
		b = binary.BigEndian.AppendUint32(b, f[int32(bits.TrailingZeros64(m))])
	}
	slices.Sort(high)
	for _, n := range high {
		b = binary.AppendUvarint(b, uint64(uint32(n)))
		b = binary.BigEndian.AppendUint32(b, f[n])
	}
	var out [EncodedMax]byte
	dst := out[:]
	n := base64.RawStdEncoding.EncodedLen(len(b))
	if n > len(dst) {
		dst = make([]byte, n) // fields beyond a Ticket's: still encoded
	}
	base64.RawStdEncoding.Encode(dst[:n], b)
	return string(dst[:n])
}

const (
	// rawMax: a bit set of fields 1..63 (≤ 10 bytes) and 16 hashes.
	rawMax = binary.MaxVarintLen64 + 4*16
	// EncodedMax bounds Encode's length for a Ticket's fingerprint
	// (TestEncodedFingerprintIsSmall).
	EncodedMax = (rawMax*8 + 5) / 6
)

// Decode reads what Encode wrote; ok false when s is not such a text, or
// when it is one written before issue 9 req. 4 (FNV-1a hashes, no
// crcMarker): the last version's hashes are then unknown, as for a ticket
// known without a fingerprint, and the next Print replaces it.
func Decode(s string) (f Fields, ok bool) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	mask, n := binary.Uvarint(b)
	if n <= 0 || mask&crcMarker == 0 {
		return nil, false // not a fingerprint, or FNV-1a hashes (crcMarker)
	}
	mask &^= crcMarker
	b = b[n:]
	f = make(Fields, bits.OnesCount64(mask))
	for m := mask; m != 0; m &= m - 1 {
		if len(b) < 4 {
			return nil, false
		}
		f[int32(bits.TrailingZeros64(m))] = binary.BigEndian.Uint32(b)
		b = b[4:]
	}
	for len(b) > 0 {
		num, n := binary.Uvarint(b)
		if n <= 0 || num < 64 || num > 1<<29 || len(b) < n+4 {
			return nil, false
		}
		f[int32(num)] = binary.BigEndian.Uint32(b[n:])
		b = b[n+4:]
	}
	return f, true
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
