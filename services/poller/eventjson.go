package poller

import (
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// Ticket events are encoded here by hand rather than by protojson.Marshal,
// which walks every message by reflection and was the largest cost of
// building an event (issue 9). The output is protojson's mapping exactly
// (field order by number, lowerCamelCase names, zero values left out, enums
// by name, int64 as strings, RFC 3339 timestamps), compact and
// deterministic; eventjson_test.go fills every field of every message by
// reflection and checks the bytes against protojson's, so a field added to
// the schema and not here fails the test. Anything this encoder does not
// vouch for (invalid UTF-8, an unknown enum value, a timestamp out of range)
// returns nil, and protojson encodes the event (or reports its error).

// encodeTicketEvent is the bus.WithEncoder of ticket.discovered/updated.
func encodeTicketEvent(m proto.Message) ([]byte, error) {
	var e jsonEnc
	switch ev := m.(type) {
	case *chv1.TicketDiscovered:
		e.b = make([]byte, 0, sizeHint(ev.Ticket, nil))
	case *chv1.TicketUpdated:
		e.b = make([]byte, 0, sizeHint(ev.Ticket, ev.ChangedFields)+len(ev.Actor))
	}
	switch ev := m.(type) {
	case *chv1.TicketDiscovered:
		e.open()
		if ev.Ticket != nil {
			e.key("ticket")
			e.ticket(ev.Ticket)
		}
		e.close()
	case *chv1.TicketUpdated:
		e.open()
		if ev.Ticket != nil {
			e.key("ticket")
			e.ticket(ev.Ticket)
		}
		e.strings("changedFields", ev.ChangedFields)
		e.str("actor", ev.Actor)
		e.close()
	default:
		return nil, nil
	}
	if e.bad {
		return nil, nil
	}
	return e.b, nil
}

// sizeHint is about the encoded size of a ticket event: its texts, an
// eighth more for escapes, and room for the names and punctuation, so a
// ticket with a long description or many comments is encoded in one buffer
// rather than one doubled and copied along the way.
func sizeHint(t *chv1.Ticket, changed []string) int {
	n := 512 + 16*len(changed)
	if t == nil {
		return n
	}
	n += len(t.ConnectorId) + len(t.Key) + len(t.Url) + len(t.Summary) + len(t.DescriptionText) + len(t.DescriptionMarkdown) + len(t.Status) + len(t.Priority)
	for _, l := range t.Labels {
		n += len(l) + 3
	}
	for _, c := range t.Comments {
		n += len(c.BodyMarkdown) + 128
		if c.Author != nil {
			n += len(c.Author.DisplayName) + len(c.Author.Login) + len(c.Author.Email) + len(c.Author.Id)
		}
	}
	n += 192 * (len(t.Subtasks) + len(t.Siblings) + len(t.Attachments))
	return n + n/8
}

// jsonEnc appends protobuf JSON to b; bad says a value needs protojson.
type jsonEnc struct {
	b     []byte
	first bool
	bad   bool
}

func (e *jsonEnc) open()  { e.b, e.first = append(e.b, '{'), true }
func (e *jsonEnc) close() { e.b, e.first = append(e.b, '}'), false }

func (e *jsonEnc) key(k string) {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *jsonEnc) str(k, v string) {
	if v == "" {
		return
	}
	e.key(k)
	e.quote(v)
}

func (e *jsonEnc) strings(k string, vs []string) {
	if len(vs) == 0 {
		return
	}
	e.key(k)
	e.b = append(e.b, '[')
	for i, v := range vs {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.quote(v)
	}
	e.b = append(e.b, ']')
}

// quote escapes as protojson does: '"', '\\' and control characters only.
// Eight bytes that are all plain ASCII are passed over at once (plainWord):
// descriptions and comments are mostly such text, and testing each byte
// was a sixth of encoding a ticket (issue 9 req. 4).
func (e *jsonEnc) quote(s string) {
	e.b = append(e.b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plainWord(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
			continue
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				e.bad = true // protojson refuses invalid UTF-8
				return
			}
			i += n
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		e.b = append(e.b, s[start:i]...)
		switch c {
		case '"', '\\':
			e.b = append(e.b, '\\', c)
		case '\b':
			e.b = append(e.b, '\\', 'b')
		case '\f':
			e.b = append(e.b, '\\', 'f')
		case '\n':
			e.b = append(e.b, '\\', 'n')
		case '\r':
			e.b = append(e.b, '\\', 'r')
		case '\t':
			e.b = append(e.b, '\\', 't')
		default:
			e.b = append(e.b, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		}
		i++
		start = i
	}
	e.b = append(e.b, s[start:]...)
	e.b = append(e.b, '"')
}

// plainWord reports whether the eight bytes of w are all ASCII that JSON
// needs no escape for (not below 0x20, not '"', not '\\'). Byte-parallel
// tests (x - 0x01…01·n) &^ x & 0x80…80 is nonzero exactly when some byte
// of x is below n (n ≤ 0x80); n = 1 on x = w ^ c·0x01…01 finds a byte
// equal to c. A false "not plain" only sends the word to the byte loop.
// Written by hand: neither the standard library nor a JSON package
// exposes such a scan for protojson's escaping rules.
func plainWord(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := (w - ones*0x20) &^ w
	q := w ^ ones*'"'
	q = (q - ones) &^ q
	bs := w ^ ones*'\\'
	bs = (bs - ones) &^ bs
	return (ctl|q|bs|w)&highs == 0
}

// minTimestamp and maxTimestamp are the range protojson accepts.
var (
	minTimestamp = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxTimestamp = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// timestamp writes RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits.
func (e *jsonEnc) timestamp(k string, ts *timestamppb.Timestamp) {
	if ts == nil {
		return
	}
	s, n := ts.GetSeconds(), ts.GetNanos()
	if s < minTimestamp || s > maxTimestamp || n < 0 || n >= 1e9 {
		e.bad = true
		return
	}
	e.key(k)
	t := time.Unix(s, int64(n)).UTC()
	e.b = append(e.b, '"')
	// RFC3339 has a fast path in AppendFormat (a custom layout is parsed
	// chunk by chunk, a tenth of encoding a ticket, issue 9 req. 4); t is
	// UTC, so it ends in 'Z', which goes after the fraction.
	e.b = t.AppendFormat(e.b, time.RFC3339)
	e.b = e.b[:len(e.b)-1]
	switch {
	case n == 0:
	case n%1e6 == 0:
		e.b = append(e.b, '.')
		e.b = appendPadded(e.b, int(n/1e6), 3)
	case n%1e3 == 0:
		e.b = append(e.b, '.')
		e.b = appendPadded(e.b, int(n/1e3), 6)
	default:
		e.b = append(e.b, '.')
		e.b = appendPadded(e.b, int(n), 9)
	}
	e.b = append(e.b, 'Z', '"')
}

func appendPadded(b []byte, v, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

func (e *jsonEnc) user(k string, u *chv1.User) {
	if u == nil {
		return
	}
	e.key(k)
	e.open()
	e.str("id", u.Id)
	e.str("login", u.Login)
	e.str("displayName", u.DisplayName)
	e.str("email", u.Email)
	e.close()
}

func (e *jsonEnc) ref(r *chv1.TicketRef) {
	e.open()
	e.str("key", r.Key)
	e.str("url", r.Url)
	e.str("summary", r.Summary)
	e.str("status", r.Status)
	e.close()
}

func (e *jsonEnc) refs(k string, rs []*chv1.TicketRef) {
	if len(rs) == 0 {
		return
	}
	e.key(k)
	e.b = append(e.b, '[')
	for i, r := range rs {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.ref(r)
	}
	e.b = append(e.b, ']')
}

func (e *jsonEnc) ticket(t *chv1.Ticket) {
	e.open()
	e.str("connectorId", t.ConnectorId)
	if t.System != 0 {
		v := t.System.Descriptor().Values().ByNumber(t.System.Number())
		if v == nil {
			e.bad = true
			return
		}
		e.key("system")
		e.quote(string(v.Name()))
	}
	e.str("key", t.Key)
	e.str("url", t.Url)
	e.str("summary", t.Summary)
	e.str("descriptionText", t.DescriptionText)
	e.str("descriptionMarkdown", t.DescriptionMarkdown)
	e.str("status", t.Status)
	e.str("priority", t.Priority)
	e.strings("labels", t.Labels)
	e.user("reporter", t.Reporter)
	e.user("assignee", t.Assignee)
	e.timestamp("createTime", t.CreateTime)
	e.timestamp("updateTime", t.UpdateTime)
	if t.Parent != nil {
		e.key("parent")
		e.ref(t.Parent)
	}
	e.refs("subtasks", t.Subtasks)
	if len(t.Comments) > 0 {
		e.key("comments")
		e.b = append(e.b, '[')
		for i, c := range t.Comments {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.open()
			e.str("id", c.Id)
			e.user("author", c.Author)
			e.str("bodyMarkdown", c.BodyMarkdown)
			e.timestamp("createTime", c.CreateTime)
			e.close()
		}
		e.b = append(e.b, ']')
	}
	if len(t.Attachments) > 0 {
		e.key("attachments")
		e.b = append(e.b, '[')
		for i, a := range t.Attachments {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.open()
			e.str("id", a.Id)
			e.str("filename", a.Filename)
			e.str("mediaType", a.MediaType)
			if a.SizeBytes != 0 {
				e.key("sizeBytes")
				e.b = append(e.b, '"')
				e.b = strconv.AppendInt(e.b, a.SizeBytes, 10)
				e.b = append(e.b, '"')
			}
			e.str("url", a.Url)
			e.close()
		}
		e.b = append(e.b, ']')
	}
	e.refs("siblings", t.Siblings)
	e.strings("components", t.Components)
	e.close()
}
