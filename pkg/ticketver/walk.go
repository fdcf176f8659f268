package ticketver

import (
	"encoding/binary"
	"hash/crc32"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// hashDirect is hashFields without marshalling t: it writes each field's
// records, byte for byte as the deterministic protobuf encoding lays them
// out (tag, length, value, fields in number order, zero values left out),
// straight into that field's CRC-32C, so the hashes are the same and the
// encoding of the whole ticket into a buffer, then parsing it back into
// records, is not done (issue 9 req. 4: two thirds of Print's cost after
// the move to CRC-32C). It is written by hand because the protobuf
// library exposes no per-field encoding of a message without reflection.
//
// It covers the Ticket schema as generated (directSchema checks it at
// start, TestHashDirectIsTheMarshalledHashes over every field filled by
// reflection); ok false sends t to hashFields: a schema that changed, a
// message holding unknown fields or a nil element in a repeated field.
// Unlike the marshal it does not refuse invalid UTF-8 (no fingerprint
// then) but hashes the bytes as they are.
func hashDirect(t *chv1.Ticket, hashes *[64]uint32) (mask uint64, ok bool) {
	if !directSchema || hasUnknown(t) {
		return 0, false
	}
	// The buffer escapes (crc32 calls through a function variable): pooled.
	bp := marshalBufs.Get().(*[]byte)
	defer marshalBufs.Put(bp)
	w := crcWriter{buf: (*bp)[:cap(*bp)]}
	field := func(num protowire.Number) {
		if w.used {
			w.flush()
			hashes[num] = w.crc
			mask |= 1 << num
		}
		w.crc, w.n, w.used = 0, 0, false
	}
	// 1 connector_id, 2 system, 3 key: unversioned.
	w.str(4, t.Url)
	field(4)
	w.str(5, t.Summary)
	field(5)
	w.str(6, t.DescriptionText)
	field(6)
	w.str(7, t.DescriptionMarkdown)
	field(7)
	w.str(8, t.Status)
	field(8)
	w.str(9, t.Priority)
	field(9)
	for _, l := range t.Labels {
		w.record(10, l)
	}
	field(10)
	w.user(11, t.Reporter)
	field(11)
	w.user(12, t.Assignee)
	field(12)
	w.timestamp(13, t.CreateTime)
	field(13)
	// 14 update_time: unversioned.
	w.ref(15, t.Parent)
	field(15)
	for _, r := range t.Subtasks {
		w.element(r == nil)
		w.ref(16, r)
	}
	field(16)
	for _, c := range t.Comments {
		w.element(c == nil)
		w.comment(17, c)
	}
	field(17)
	for _, a := range t.Attachments {
		w.element(a == nil)
		w.attachment(18, a)
	}
	field(18)
	for _, r := range t.Siblings {
		w.element(r == nil)
		w.ref(19, r)
	}
	field(19)
	for _, c := range t.Components {
		w.record(20, c)
	}
	field(20)
	if w.bad {
		return 0, false
	}
	return mask, true
}

// crcWriter gathers a field's records in a buffer and hands it to CRC-32C
// a buffer at a time (crc32.Update per string would cost a call each).
type crcWriter struct {
	crc  uint32
	n    int
	used bool // a record was written
	bad  bool // something hashDirect does not vouch for
	buf  []byte
}

func (w *crcWriter) flush() {
	w.crc = crc32.Update(w.crc, castagnoli, w.buf[:w.n])
	w.n = 0
}

func (w *crcWriter) varint(v uint64) {
	if w.n > len(w.buf)-binary.MaxVarintLen64 {
		w.flush()
	}
	if v < 0x80 { // every tag here, most lengths
		w.buf[w.n] = byte(v)
		w.n++
		return
	}
	// Protobuf's varint is binary.Uvarint's encoding.
	w.n += len(binary.AppendUvarint(w.buf[w.n:w.n], v))
}

func (w *crcWriter) bytes(s string) {
	for {
		c := copy(w.buf[w.n:], s)
		w.n += c
		if s = s[c:]; s == "" {
			return
		}
		w.flush()
	}
}

func (w *crcWriter) tag(num protowire.Number, typ protowire.Type) {
	w.used = true
	w.varint(protowire.EncodeTag(num, typ))
}

// record writes a length-delimited record: a repeated string's element,
// written even when empty.
func (w *crcWriter) record(num protowire.Number, s string) {
	w.tag(num, protowire.BytesType)
	w.varint(uint64(len(s)))
	w.bytes(s)
}

// str writes a singular string field, left out when empty.
func (w *crcWriter) str(num protowire.Number, s string) {
	if s != "" {
		w.record(num, s)
	}
}

func (w *crcWriter) int(num protowire.Number, v int64) {
	if v != 0 {
		w.tag(num, protowire.VarintType)
		w.varint(uint64(v))
	}
}

// element notes a repeated message's element: a nil one goes to the
// marshal, whatever it makes of it.
func (w *crcWriter) element(isNil bool) {
	if isNil {
		w.bad = true
	}
}

// message writes the tag and length of a message field of size bytes.
func (w *crcWriter) message(num protowire.Number, size int) {
	w.tag(num, protowire.BytesType)
	w.varint(uint64(size))
}

func strSize(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func intSize(num protowire.Number, v int64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(uint64(v))
}

func msgSize(num protowire.Number, size int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(size)
}

func userSize(u *chv1.User) int {
	return strSize(1, u.Id) + strSize(2, u.Login) + strSize(3, u.DisplayName) + strSize(4, u.Email)
}

func (w *crcWriter) user(num protowire.Number, u *chv1.User) {
	if u == nil {
		return
	}
	w.bad = w.bad || hasUnknown(u)
	w.message(num, userSize(u))
	w.str(1, u.Id)
	w.str(2, u.Login)
	w.str(3, u.DisplayName)
	w.str(4, u.Email)
}

func (w *crcWriter) ref(num protowire.Number, r *chv1.TicketRef) {
	if r == nil {
		return
	}
	w.bad = w.bad || hasUnknown(r)
	w.message(num, strSize(1, r.Key)+strSize(2, r.Url)+strSize(3, r.Summary)+strSize(4, r.Status))
	w.str(1, r.Key)
	w.str(2, r.Url)
	w.str(3, r.Summary)
	w.str(4, r.Status)
}

func timestampSize(t *timestamppb.Timestamp) int {
	// nanos is an int32: a negative one is sign-extended, as the marshal does.
	return intSize(1, t.Seconds) + intSize(2, int64(t.Nanos))
}

func (w *crcWriter) timestamp(num protowire.Number, t *timestamppb.Timestamp) {
	if t == nil {
		return
	}
	w.bad = w.bad || hasUnknown(t)
	w.message(num, timestampSize(t))
	w.int(1, t.Seconds)
	w.int(2, int64(t.Nanos))
}

func (w *crcWriter) comment(num protowire.Number, c *chv1.Comment) {
	if c == nil {
		return
	}
	w.bad = w.bad || hasUnknown(c)
	size := strSize(1, c.Id) + strSize(3, c.BodyMarkdown)
	if c.Author != nil {
		size += msgSize(2, userSize(c.Author))
	}
	if c.CreateTime != nil {
		size += msgSize(4, timestampSize(c.CreateTime))
	}
	w.message(num, size)
	w.str(1, c.Id)
	w.user(2, c.Author)
	w.str(3, c.BodyMarkdown)
	w.timestamp(4, c.CreateTime)
}

func (w *crcWriter) attachment(num protowire.Number, a *chv1.Attachment) {
	if a == nil {
		return
	}
	w.bad = w.bad || hasUnknown(a)
	w.message(num, strSize(1, a.Id)+strSize(2, a.Filename)+strSize(3, a.MediaType)+intSize(4, a.SizeBytes)+strSize(5, a.Url))
	w.str(1, a.Id)
	w.str(2, a.Filename)
	w.str(3, a.MediaType)
	w.int(4, a.SizeBytes)
	w.str(5, a.Url)
}

type reflected interface{ ProtoReflect() protoreflect.Message }

func hasUnknown(m reflected) bool { return len(m.ProtoReflect().GetUnknown()) > 0 }

// directSchema says the generated messages are the ones hashDirect writes:
// the same field numbers, kinds and cardinalities. A schema changed
// without hashDirect makes every ticket take the marshal (and fails
// TestHashDirectCoversTheSchema).
var directSchema = func() bool {
	str, msg, i64, i32, enum := protoreflect.StringKind, protoreflect.MessageKind, protoreflect.Int64Kind, protoreflect.Int32Kind, protoreflect.EnumKind
	type f struct {
		kind     protoreflect.Kind
		repeated bool
	}
	want := map[protoreflect.Message][]f{
		(&chv1.Ticket{}).ProtoReflect(): {{str, false}, {enum, false}, {str, false}, {str, false}, {str, false}, {str, false},
			{str, false}, {str, false}, {str, false}, {str, true}, {msg, false}, {msg, false}, {msg, false}, {msg, false},
			{msg, false}, {msg, true}, {msg, true}, {msg, true}, {msg, true}, {str, true}},
		(&chv1.User{}).ProtoReflect():             {{str, false}, {str, false}, {str, false}, {str, false}},
		(&chv1.TicketRef{}).ProtoReflect():        {{str, false}, {str, false}, {str, false}, {str, false}},
		(&chv1.Comment{}).ProtoReflect():          {{str, false}, {msg, false}, {str, false}, {msg, false}},
		(&chv1.Attachment{}).ProtoReflect():       {{str, false}, {str, false}, {str, false}, {i64, false}, {str, false}},
		(&timestamppb.Timestamp{}).ProtoReflect(): {{i64, false}, {i32, false}},
	}
	for m, fields := range want {
		fds := m.Descriptor().Fields()
		if fds.Len() != len(fields) || m.Descriptor().Oneofs().Len() != 0 {
			return false
		}
		for i, w := range fields {
			fd := fds.ByNumber(protowire.Number(i + 1))
			if fd == nil || fd.Kind() != w.kind || fd.IsList() != w.repeated || fd.HasPresence() && fd.Kind() != msg || fd.IsMap() {
				return false
			}
		}
	}
	// The messages of message fields, by number.
	ticket := (&chv1.Ticket{}).ProtoReflect().Descriptor().Fields()
	names := []protoreflect.FullName{"connectorhub.v1.User", "connectorhub.v1.User", "google.protobuf.Timestamp", "google.protobuf.Timestamp",
		"connectorhub.v1.TicketRef", "connectorhub.v1.TicketRef", "connectorhub.v1.Comment", "connectorhub.v1.Attachment", "connectorhub.v1.TicketRef"}
	for i, name := range names {
		if ticket.ByNumber(protowire.Number(11+i)).Message().FullName() != name {
			return false
		}
	}
	comment := (&chv1.Comment{}).ProtoReflect().Descriptor().Fields()
	return comment.ByNumber(2).Message().FullName() == "connectorhub.v1.User" &&
		comment.ByNumber(4).Message().FullName() == "google.protobuf.Timestamp" &&
		unversioned == 1<<1|1<<2|1<<3|1<<14
}()
