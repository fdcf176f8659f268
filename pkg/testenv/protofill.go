package testenv

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FillProto sets every field of m from seed, recursively, each list with
// three elements: a test that compares a hand-written encoder or hash with
// the protobuf library's sees any field the hand-written code leaves out.
// Strings carry quotes, escapes, a control byte and non-ASCII text;
// timestamps are valid ones (zero, milli-, micro- and nanosecond nanos by
// turn). A kind it has no value for panics, naming the field: teach it here
// and in the code under test.
func FillProto(m protoreflect.Message, seed int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		val := func(k int) protoreflect.Value {
			switch fd.Kind() {
			case protoreflect.StringKind:
				return protoreflect.ValueOfString(fmt.Sprintf("%s %d \"q\" \\ \n\t\x01 ü € 😀 <&>", fd.Name(), seed+k))
			case protoreflect.EnumKind:
				return protoreflect.ValueOfEnum(protoreflect.EnumNumber(1 + (seed+k)%2))
			case protoreflect.Int64Kind:
				return protoreflect.ValueOfInt64(int64(1234567890123 + seed + k))
			case protoreflect.Int32Kind:
				return protoreflect.ValueOfInt32(int32(123456789 + seed + k))
			case protoreflect.MessageKind:
				if fd.Message().FullName() == "google.protobuf.Timestamp" {
					nanos := []int{0, 123000000, 123456000, 123456789}[(seed+k)%4]
					ts := timestamppb.New(time.Date(2026, 12, 3, 10, 4, 5, nanos, time.UTC).Add(time.Duration(seed+k) * time.Hour))
					return protoreflect.ValueOfMessage(ts.ProtoReflect())
				}
				sub := m.NewField(fd)
				if fd.IsList() {
					sub = m.Mutable(fd).List().NewElement()
				}
				FillProto(sub.Message(), seed+k+1)
				return sub
			}
			panic(fmt.Sprintf("field %s: kind %s has no test value: teach testenv.FillProto and the code under test", fd.FullName(), fd.Kind()))
		}
		if fd.IsList() {
			l := m.Mutable(fd).List()
			for k := range 3 {
				l.Append(val(k))
			}
			continue
		}
		m.Set(fd, val(0))
	}
}
