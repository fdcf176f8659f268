package poller

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return out.String()
}

func TestEncodeTicketEventMatchesProtojson(t *testing.T) {
	t.Parallel()
	full := func(m proto.Message) proto.Message { testenv.FillProto(m.ProtoReflect(), 0); return m }
	cases := map[string]proto.Message{
		"discovered, every field set":         full(&chv1.TicketDiscovered{}),
		"updated, every field set":            full(&chv1.TicketUpdated{}),
		"discovered, empty":                   &chv1.TicketDiscovered{},
		"discovered, empty ticket":            &chv1.TicketDiscovered{Ticket: &chv1.Ticket{}},
		"empty nested messages":               &chv1.TicketDiscovered{Ticket: &chv1.Ticket{Reporter: &chv1.User{}, Parent: &chv1.TicketRef{}, Comments: []*chv1.Comment{{}}, Attachments: []*chv1.Attachment{{}}}},
		"zero timestamp, epoch":               &chv1.TicketDiscovered{Ticket: &chv1.Ticket{CreateTime: &timestamppb.Timestamp{}, UpdateTime: timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC))}},
		"ticket from TicketToProto, jira key": &chv1.TicketDiscovered{Ticket: TicketToProto(benchConnector(), benchTicket())},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := encodeTicketEvent(m)
			if err != nil || got == nil {
				t.Fatalf("encodeTicketEvent = %q, %v; want JSON", got, err)
			}
			want, err := protojson.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := string(got), compact(t, want); g != w {
				t.Fatalf("differs from protojson:\n got %s\nwant %s", g, w)
			}
			back := m.ProtoReflect().New().Interface()
			if err := protojson.Unmarshal(got, back); err != nil || !proto.Equal(back, m) {
				t.Fatalf("does not read back: %v", err)
			}
		})
	}
}

// What the encoder does not vouch for goes to protojson (nil, no error).
func TestEncodeTicketEventFallsBack(t *testing.T) {
	t.Parallel()
	cases := map[string]proto.Message{
		"invalid UTF-8":          &chv1.TicketDiscovered{Ticket: &chv1.Ticket{Summary: "a\xffb"}},
		"unknown enum value":     &chv1.TicketDiscovered{Ticket: &chv1.Ticket{System: 99}},
		"timestamp out of range": &chv1.TicketDiscovered{Ticket: &chv1.Ticket{UpdateTime: &timestamppb.Timestamp{Seconds: 1 << 40}}},
		"nanos out of range":     &chv1.TicketDiscovered{Ticket: &chv1.Ticket{UpdateTime: &timestamppb.Timestamp{Nanos: -1}}},
		"another message":        &chv1.TicketClosed{Key: "A-1"},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got, err := encodeTicketEvent(m); got != nil || err != nil {
				t.Fatalf("encodeTicketEvent = %q, %v; want nil, nil (protojson decides)", got, err)
			}
		})
	}
}

func benchConnector() connector.Connector {
	return connector.Connector{ID: "bench-jira", System: connector.Jira}
}

func benchTicket() trackers.Ticket {
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	return trackers.Ticket{
		Key: "PROJ-12", URL: "https://example.atlassian.net/browse/PROJ-12", Summary: "Export drops the last row",
		DescriptionText: "Steps to reproduce:\n\n1. Open the report page", DescriptionMarkdown: "Steps to reproduce:\n\n1. Open the **report** page",
		Status: "To Do", Priority: "High", Labels: []string{"bench", "csv"},
		Reporter: trackers.User{ID: "r1", DisplayName: "Rita"}, Assignee: trackers.User{ID: "a1", Email: "dev@example.com"},
		Created: at.Add(-time.Hour), Updated: at,
		Comments: []trackers.Comment{{ID: "1", Author: trackers.User{ID: "r1"}, Markdown: "Still there.", Created: at}},
	}
}

// BenchmarkTicketEvent compares building one ticket's event payload with
// protojson and with the hand-written encoder.
func BenchmarkTicketEvent(b *testing.B) {
	ev := &chv1.TicketDiscovered{Ticket: TicketToProto(benchConnector(), benchTicket())}
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := protojson.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encodeTicketEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeTicketEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A ticket event is encoded into one buffer, a long description and many
// comments included (sizeHint leaves it room).
func TestEncodeTicketEventAllocatesOnce(t *testing.T) {
	big := benchTicket()
	big.DescriptionMarkdown = strings.Repeat("A line with \"quotes\" and a tab\t.\n", 600)
	big.DescriptionText = big.DescriptionMarkdown
	for i := range 40 {
		big.Comments = append(big.Comments, trackers.Comment{ID: fmt.Sprint(i), Author: trackers.User{ID: "u", DisplayName: "Rita Q"}, Markdown: strings.Repeat("ok\n", 50), Created: big.Updated})
	}
	for name, tk := range map[string]trackers.Ticket{"small": benchTicket(), "large": big} {
		ev := &chv1.TicketDiscovered{Ticket: TicketToProto(benchConnector(), tk)}
		if allocs := testing.AllocsPerRun(10, func() { _, _ = encodeTicketEvent(ev) }); allocs != 1 {
			t.Errorf("%s ticket: %.0f allocations, want 1", name, allocs)
		}
	}
}

// quoteByByte is jsonEnc.quote without plainWord's eight-byte steps.
func quoteByByte(s string) (string, bool) {
	var b []byte
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return "", true
			}
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < ' ':
			b = append(b, fmt.Sprintf("\\u%04x", c)...)
		default:
			b = append(b, c)
		}
		i++
	}
	return string(append(b, '"')), false
}

// Every byte value, at every offset within and across an eight-byte word,
// in runs of plain text of every length up to three words: quote escapes
// exactly what the byte-by-byte loop does.
func TestQuoteEscapesEveryByteAtEveryOffset(t *testing.T) {
	t.Parallel()
	specials := []string{"ü", "€", "😀", "\u2028"}
	for c := range 256 {
		specials = append(specials, string([]byte{byte(c)}))
	}
	for _, sp := range specials {
		for n := range 25 {
			for at := 0; at <= n; at++ {
				s := strings.Repeat("a", at) + sp + strings.Repeat("Z", n-at)
				var e jsonEnc
				e.quote(s)
				want, bad := quoteByByte(s)
				if e.bad != bad || !bad && string(e.b) != want {
					t.Fatalf("quote(%q) = %q (bad %v), want %q (bad %v)", s, e.b, e.bad, want, bad)
				}
			}
		}
	}
	if !plainWord(0x4141414141414141) || plainWord(0x4141414141414122) || plainWord(0x1f41414141414141) || plainWord(0x41415c4141414141) || plainWord(0x41414141c3414141) {
		t.Fatal("plainWord misjudges a word")
	}
}
