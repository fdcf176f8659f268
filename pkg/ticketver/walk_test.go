package ticketver

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/testenv"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// randomTicket sets each field of a Ticket or not, with values that test
// the encoding's edges: empty strings in lists, zero and negative numbers,
// long texts, messages present but empty.
func randomTicket(r *rand.Rand) *chv1.Ticket {
	str := func() string {
		switch r.IntN(5) {
		case 0:
			return ""
		case 1:
			return string(make([]byte, r.IntN(3000))) // across crcWriter's buffer
		default:
			return fmt.Sprintf("v%d é", r.IntN(1000))
		}
	}
	strs := func() []string {
		var out []string
		for range r.IntN(4) {
			out = append(out, str())
		}
		return out
	}
	user := func() *chv1.User {
		if r.IntN(3) == 0 {
			return nil
		}
		return &chv1.User{Id: str(), Login: str(), DisplayName: str(), Email: str()}
	}
	ts := func() *timestamppb.Timestamp {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return &timestamppb.Timestamp{}
		case 2:
			return &timestamppb.Timestamp{Seconds: -r.Int64N(math.MaxInt64), Nanos: -r.Int32N(1e9)}
		default:
			return timestamppb.New(time.Unix(r.Int64N(1e10), r.Int64N(1e9)))
		}
	}
	ref := func() *chv1.TicketRef { return &chv1.TicketRef{Key: str(), Url: str(), Summary: str(), Status: str()} }
	refs := func() []*chv1.TicketRef {
		var out []*chv1.TicketRef
		for range r.IntN(3) {
			out = append(out, ref())
		}
		return out
	}
	t := &chv1.Ticket{ConnectorId: str(), System: chv1.System(r.IntN(3)), Key: str(), Url: str(), Summary: str(),
		DescriptionText: str(), DescriptionMarkdown: str(), Status: str(), Priority: str(), Labels: strs(),
		Reporter: user(), Assignee: user(), CreateTime: ts(), UpdateTime: ts(), Subtasks: refs(), Siblings: refs(), Components: strs()}
	if r.IntN(2) == 0 {
		t.Parent = ref()
	}
	for range r.IntN(3) {
		t.Comments = append(t.Comments, &chv1.Comment{Id: str(), Author: user(), BodyMarkdown: str(), CreateTime: ts()})
	}
	for range r.IntN(3) {
		sz := int64(0)
		if r.IntN(2) == 0 {
			sz = r.Int64N(1<<40) - 1<<39
		}
		t.Attachments = append(t.Attachments, &chv1.Attachment{Id: str(), Filename: str(), MediaType: str(), SizeBytes: sz, Url: str()})
	}
	return t
}

func TestHashDirectIsTheMarshalledHashes(t *testing.T) {
	if !directSchema {
		t.Fatal("directSchema is false: the generated Ticket is not the one hashDirect writes (update walk.go)")
	}
	full := &chv1.Ticket{}
	testenv.FillProto(full.ProtoReflect(), 0)
	cases := fingerprintCases()
	cases["every field set"] = full
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		cases[fmt.Sprint("random ", i)] = randomTicket(r)
	}
	for name, tk := range cases {
		var direct, marshalled [64]uint32
		dm, ok := hashDirect(tk, &direct)
		if !ok {
			t.Fatalf("%s: hashDirect gave up", name)
		}
		mm, ok := hashMarshalled(tk, &marshalled, func(protowire.Number, []byte) { t.Fatalf("%s: a field numbered 64 or more", name) })
		if !ok || dm != mm || direct != marshalled {
			t.Fatalf("%s: hashDirect = %b %v, the marshal %b %v", name, dm, direct, mm, marshalled)
		}
	}
	// The filled ticket sets every versioned field.
	if got, want := len(Fingerprint(full)), full.ProtoReflect().Descriptor().Fields().Len()-4; got != want {
		t.Fatalf("every field set: %d hashes, want %d", got, want)
	}
}

// What hashDirect does not vouch for goes to the marshal, which gives
// what it always did.
func TestHashDirectLeavesTheUnusualToTheMarshal(t *testing.T) {
	unknown := &chv1.Ticket{Summary: "s"}
	unknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	nestedUnknown := &chv1.Ticket{Assignee: &chv1.User{Id: "u"}}
	nestedUnknown.Assignee.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1))
	for name, tk := range map[string]*chv1.Ticket{
		"unknown field":        unknown,
		"nested unknown field": nestedUnknown,
		"nil comment":          {Summary: "s", Comments: []*chv1.Comment{{Id: "1"}, nil}},
		"nil sub-task":         {Subtasks: []*chv1.TicketRef{nil}},
	} {
		var h [64]uint32
		if _, ok := hashDirect(tk, &h); ok {
			t.Errorf("%s: hashDirect vouched for it", name)
		}
		if got, want := Print(tk), referenceFingerprint(tk).Encode(); got != want {
			t.Errorf("%s: Print = %q, the marshal's %q", name, got, want)
		}
	}
}
