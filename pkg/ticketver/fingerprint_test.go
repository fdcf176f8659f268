package ticketver

import (
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"hash/fnv"
	"maps"
	"math/bits"
	"slices"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// referenceFingerprint is Fingerprint written plainly, with a hash.Hash32
// of hash/crc32 per field: the faster code must give the same hashes.
func referenceFingerprint(t *chv1.Ticket) Fields {
	return referenceHashes(t, func() hash.Hash32 { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) })
}

// fnvFingerprint is the hashes pollers before issue 9 req. 4 recorded
// (FNV-1a 32), and fnvEncode their encoding (no crcMarker): what a poll
// state written by them holds.
func fnvFingerprint(t *chv1.Ticket) Fields {
	return referenceHashes(t, func() hash.Hash32 { return fnv.New32a() })
}

func fnvEncode(f Fields) string {
	var mask uint64
	for n := range f {
		mask |= 1 << n
	}
	b := binary.AppendUvarint(nil, mask)
	for m := mask; m != 0; m &= m - 1 {
		b = binary.BigEndian.AppendUint32(b, f[int32(bits.TrailingZeros64(m))])
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

func referenceHashes(t *chv1.Ticket, newHash func() hash.Hash32) Fields {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	if err != nil {
		return Fields{}
	}
	hashes := map[protowire.Number]hash.Hash32{}
	for len(b) > 0 {
		num, _, n := protowire.ConsumeField(b)
		if n < 0 {
			break
		}
		fd := t.ProtoReflect().Descriptor().Fields().ByNumber(num) // nil for an unknown field
		if fd == nil || !slices.Contains([]protoreflect.Name{"update_time", "connector_id", "system", "key"}, fd.Name()) {
			h, ok := hashes[num]
			if !ok {
				h = newHash()
				hashes[num] = h
			}
			h.Write(b[:n])
		}
		b = b[n:]
	}
	out := make(Fields, len(hashes))
	for num, h := range hashes {
		out[int32(num)] = h.Sum32()
	}
	return out
}

func fingerprintCases() map[string]*chv1.Ticket {
	full := &chv1.Ticket{ConnectorId: "c", System: chv1.System_SYSTEM_JIRA, Key: "PROJ-1", Url: "https://x.example/browse/PROJ-1", Summary: "s",
		DescriptionText: "text", DescriptionMarkdown: "**md** é", Status: "To Do", Priority: "High", Labels: []string{"a", "b", "c"},
		Reporter: &chv1.User{Id: "r", Login: "rita"}, Assignee: &chv1.User{Id: "u1", Email: "u@x.example"},
		CreateTime: timestamppb.New(time.Unix(50, 0)), UpdateTime: timestamppb.New(time.Unix(100, 7)),
		Parent: &chv1.TicketRef{Key: "PROJ-0"}, Subtasks: []*chv1.TicketRef{{Key: "PROJ-2"}, {Key: "PROJ-3", Status: "Done"}},
		Components: []string{"api"}, Comments: []*chv1.Comment{{Id: "1", BodyMarkdown: "a comment"}, {Id: "2", BodyMarkdown: string(make([]byte, 3000))}},
		Attachments: []*chv1.Attachment{{Id: "9", Filename: "f.txt", SizeBytes: 12}}}
	return map[string]*chv1.Ticket{
		"empty":   {},
		"minimal": {Key: "o/r#1", Summary: "x"},
		"full":    full,
	}
}

func TestFingerprintIsCRC32CPerField(t *testing.T) {
	for name, tk := range fingerprintCases() {
		t.Run(name, func(t *testing.T) {
			got, want := Fingerprint(tk), referenceFingerprint(tk)
			if !maps.Equal(got, want) {
				t.Fatalf("Fingerprint = %v, want %v", got, want)
			}
			if name != "empty" && len(got) == 0 {
				t.Fatal("no field hashed")
			}
		})
	}
}

// A poll state written before issue 9 req. 4 holds FNV-1a prints: decoded
// as CRC-32C hashes they would report every field of the ticket's next
// version changed, so they read as unknown, as a missing print does.
func TestAnFNVPrintReadsAsUnknown(t *testing.T) {
	for name, tk := range fingerprintCases() {
		if name == "empty" {
			continue
		}
		old := fnvEncode(fnvFingerprint(tk))
		if f, ok := Decode(old); ok {
			t.Errorf("%s: Decode(FNV print %q) = %v, ok; want unknown", name, old, f)
		}
		// The other way: those pollers refused a field set with bit 0, so
		// a downgraded poller reads a CRC-32C print as unknown too.
		b, err := base64.RawStdEncoding.DecodeString(Print(tk))
		if err != nil || len(b) == 0 || b[0]&1 == 0 {
			t.Errorf("%s: Print's field set lacks bit 0 (crcMarker): %x, %v", name, b, err)
		}
		if maps.Equal(fnvFingerprint(tk), Fingerprint(tk)) {
			t.Errorf("%s: the FNV and CRC-32C hashes are equal: the test shows nothing", name)
		}
	}
}

func TestEncodeDecodeRoundTrips(t *testing.T) {
	many := Fields{}
	for i := range int32(80) { // field numbers past the bit set's 63
		many[i*7+1] = uint32(i) * 2654435761
	}
	cases := map[string]Fields{"none": {}, "nil": nil, "many": many, "only high": {64: 1, 1000: 2}, "zero hash": {5: 0}}
	for name, tk := range fingerprintCases() {
		cases[name] = Fingerprint(tk)
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			s := f.Encode()
			if s == "" {
				t.Fatal("empty encoding: the poll state would read it as no fingerprint")
			}
			back, ok := Decode(s)
			if !ok || !maps.Equal(back, f) {
				t.Fatalf("Decode(%q) = %v, %v; want %v", s, back, ok, f)
			}
			if again := back.Encode(); again != s {
				t.Fatalf("encoding is not deterministic: %q then %q", s, again)
			}
		})
	}
}

func TestPrintIsFingerprintEncoded(t *testing.T) {
	for name, tk := range fingerprintCases() {
		if got, want := Print(tk), referenceFingerprint(tk).Encode(); got != want {
			t.Errorf("%s: Print = %q, want %q", name, got, want)
		}
	}
}

func BenchmarkPrint(b *testing.B) {
	tk := fingerprintCases()["full"]
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		Print(tk)
	}
	// CPU time rather than wall clock: on a shared machine ns/op counts
	// the time slices other processes took.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is this process's CPU time (user and system, GC included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestEncodedFingerprintIsSmall(t *testing.T) {
	// Every hashed Ticket field set: the largest fingerprint a ticket has.
	all := Fields{}
	fields := (&chv1.Ticket{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if n := fields.Get(i).Number(); unversioned&(1<<n) == 0 {
			all[int32(n)] = 0xffffffff
		}
	}
	if got := len(all.Encode()); got > EncodedMax || got > 100 {
		t.Fatalf("a Ticket with every field encodes in %d characters, want ≤ EncodedMax (%d) and ≤ 100", got, EncodedMax)
	}
	full := Fingerprint(fingerprintCases()["full"])
	if got := len(full.Encode()); got > 4+6*len(full) {
		t.Fatalf("%d fields encode in %d characters, want ≤ %d", len(full), got, 4+6*len(full))
	}
}

func TestDecodeRefusesWhatEncodeDoesNotWrite(t *testing.T) {
	for name, s := range map[string]string{
		"empty": "", "not base64": "!!", "hash cut short": Fields{3: 7}.Encode()[:4],
		"field zero":           base64.RawStdEncoding.EncodeToString([]byte{1, 0, 0, 0, 0, 0}),
		"high number below 64": base64.RawStdEncoding.EncodeToString([]byte{1, 5, 0, 0, 0, 0}),
		"no crcMarker (FNV)":   base64.RawStdEncoding.EncodeToString([]byte{4, 0, 0, 0, 7}),
	} {
		if f, ok := Decode(s); ok {
			t.Errorf("%s: Decode(%q) = %v, ok", name, s, f)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	f := Fingerprint(fingerprintCases()["full"])
	b.ReportAllocs()
	for b.Loop() {
		if f.Encode() == "" {
			b.Fatal("empty")
		}
	}
}
