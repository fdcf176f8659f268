package bus

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// CloudEvents 1.0 binary-mode header names of the NATS protocol binding.
const (
	HeaderSpecVersion = "ce-specversion"
	HeaderID          = "ce-id"
	HeaderType        = "ce-type"
	HeaderSource      = "ce-source"
	HeaderTime        = "ce-time"
	HeaderSubject     = "ce-subject"
	HeaderContentType = "content-type"

	SpecVersion     = "1.0"
	ContentTypeJSON = "application/json"

	// DefaultSource is ce-source when a publisher sets none. Services set
	// their own with WithSource(Source(producer, connectorID)) (source.go).
	DefaultSource = "/connectorhub"
)

// Envelope holds the CloudEvents attributes of a received event.
type Envelope struct {
	ID      string
	Type    string
	Source  string
	Subject string    // ce-subject, empty when absent
	Time    time.Time // ce-time, zero when absent
	// Header is the message's full NATS header, including trace context.
	Header nats.Header
	// Delivered is JetStream's delivery count (1 on the first delivery), so a
	// handler can tell its last attempt; 0 when the message has no metadata.
	Delivered uint64
}

// EventID derives a deterministic event id from parts, e.g. (connector id,
// ticket key, tracker update time): the same parts always give the same id,
// so JetStream drops a re-published event as a duplicate. Each part is
// length-prefixed before hashing, so ("ab","c") and ("a","bc") differ. The id
// is the first 128 bits of SHA-256 as 32 lowercase hex characters.
//
// The hashed input is assembled in a stack buffer and hashed at once: a
// hash.Hash fed part by part costs an allocation for the digest, one per
// part converted to []byte and two for the sum and its hex (issue 9, per
// event); this way the id string is the only one for inputs up to 256 bytes.
func EventID(parts ...string) string {
	var stack [256]byte
	b := stack[:0]
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	sum := sha256.Sum256(b)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

// randomID is the id of an event published without WithID.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// TypeOf returns the default ce-type of msg: its protobuf full name, which for
// connectorhub events is "connectorhub.v1.<MessageName>".
func TypeOf(msg proto.Message) string {
	return string(msg.ProtoReflect().Descriptor().FullName())
}
