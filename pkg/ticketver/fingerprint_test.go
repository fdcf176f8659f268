package ticketver

import (
	"encoding/base64"
	"hash"
	"hash/fnv"
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// referenceFingerprint is Fingerprint as first written, with hash/fnv: the
// stored hashes must not change with the faster code, or every ticket's
// next version would report every field changed.
func referenceFingerprint(t *chv1.Ticket) Fields {
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
		if !unversioned[num] {
			h, ok := hashes[num]
			if !ok {
				h = fnv.New32a()
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

func TestFingerprintKeepsTheHashesOfHashFNV(t *testing.T) {
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
	for b.Loop() {
		Print(tk)
	}
}

func TestEncodedFingerprintIsSmall(t *testing.T) {
	// Every hashed Ticket field set: the largest fingerprint a ticket has.
	all := Fields{}
	fields := (&chv1.Ticket{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if n := fields.Get(i).Number(); !unversioned[n] {
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
		"field zero":           base64.RawStdEncoding.EncodeToString([]byte{1, 0, 0, 0, 0}),
		"high number below 64": base64.RawStdEncoding.EncodeToString([]byte{0, 5, 0, 0, 0, 0}),
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
