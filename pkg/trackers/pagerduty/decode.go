package pagerduty

import (
	"errors"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// Why not go-json alone for the two hot answers (an incident page and
// GET /incidents/{id}): on a first listing PagerDuty decodes a page and
// then every incident once more, and go-json copies each whole answer
// before decoding it, allocates a zeroed element for every slice element
// (the page's incidents, each incident's assignments) besides the slice,
// every pointer (body, agent) and a map for body.details: about a dozen
// allocations and a copy of every byte per incident
// (BenchmarkPagerDutyDiscoverPage). encoding/json and go-json have no mode
// that decodes in place; jsonv2 is still an experiment in Go 1.26.
//
// They are read with trackerhttp.Scanner, the listing reader the other
// trackers use; this file only maps PagerDuty's fields. Strings are views
// of the answer (Scanner.RawString: ReadBody's slice, which nothing writes
// to afterwards, as go-json's strings point into its copy). The rule for
// what the Scanner reads and what go-json decides:
//   - any scan error — bad syntax, a value of another type than the
//     field's, deeper nesting than the Scanner follows, data after the
//     value — or anything this mapping does not expect — a key that
//     differs from a field's only by case (go-json matches those), a
//     non-ASCII key, a key with escapes, null or a non-object where an
//     incident, an assignment or an agent is expected — makes the caller
//     decode the whole answer with go-json, so the library decides every
//     unusual answer, its errors included;
//   - a string with escapes or bytes that are not UTF-8, and body.details
//     unless it is one text under a usual key, are decoded by go-json from
//     their own bytes (Scanner.RawString, Scanner.Capture).
//
// One change from the hand-written reader this replaced: nesting is
// followed to the Scanner's depth (1,000), not 64, before go-json takes
// the answer (go-json decodes such answers alike; a test covers 500).
//
// decode_internal_test.go and FuzzIncidentDecoding compare both decodings.

// decodeJSON is implemented by the answers read with the Scanner; call
// uses it instead of json.Unmarshal.
type decodeJSON interface {
	decodeJSON(raw []byte) error
}

var (
	_ decodeJSON = (*incidentList)(nil)
	_ decodeJSON = incidentAnswer{}
)

// incidentAnswer is GET /incidents/{id}'s answer, decoded into *in. It
// holds only a pointer, so passing it as an interface allocates nothing,
// and the incident is decoded where the caller keeps it.
type incidentAnswer struct {
	in *incident
}

func (a incidentAnswer) decodeJSON(raw []byte) error {
	*a.in = incident{}
	if scanAnswer(raw, a.in) == nil {
		return nil
	}
	*a.in = incident{}
	return json.Unmarshal(raw, &struct {
		Incident *incident `json:"incident"`
	}{a.in})
}

func (l *incidentList) decodeJSON(raw []byte) error {
	if scanList(raw, l) == nil {
		return nil
	}
	*l = incidentList{}
	return json.Unmarshal(raw, l)
}

// scanAnswer and scanList read an answer with the Scanner; an error means
// go-json decides it. Strict: a control character in a skipped string
// sends the answer to go-json (which refuses a NUL there and takes the
// others; the reader this replaced refused them all too).
// The Scanner is a local (Reset, not Decode): no allocation per answer.
func scanAnswer(raw []byte, in *incident) error {
	var s trackerhttp.Scanner
	s.Reset(raw)
	s.Strict()
	readAnswer(&s, in)
	return s.Finish()
}

func scanList(raw []byte, l *incidentList) error {
	var s trackerhttp.Scanner
	s.Reset(raw)
	s.Strict()
	readList(&s, l, len(raw))
	return s.Finish()
}

// errUnexpected stops a scan on what the mapping leaves to go-json.
var errUnexpected = errors.New("left to go-json")

// str reads a string into dst; null leaves dst as it is, as go-json does.
func str(s *trackerhttp.Scanner, name string, dst *string) {
	raw, plain := s.RawString(name)
	switch {
	case raw == nil: // null, or the scan failed
	case !plain:
		if json.Unmarshal(raw, dst) != nil {
			s.Fail(errUnexpected)
		}
	case len(raw) == 2:
		*dst = ""
	default:
		*dst = unsafe.String(&raw[1], len(raw)-2)
	}
}

// integer reads a whole number into dst; null leaves dst as it is.
func integer(s *trackerhttp.Scanner, name string, dst *int64) {
	if !s.Null() {
		*dst = s.Int64(name)
	}
}

// other skips the value of a key no field has, unless go-json could decode
// it into a field: a key with escapes, a non-ASCII key (go-json folds the
// Kelvin sign onto k, ſ onto s), or one that matches a field's name but
// for ASCII case.
func other(s *trackerhttp.Scanner, key []byte, fields []string) {
	if s.KeyEscaped() {
		s.Fail(errUnexpected)
		return
	}
	for _, c := range key {
		if c >= 0x80 {
			s.Fail(errUnexpected)
			return
		}
	}
	for _, f := range fields {
		if len(key) == len(f) && foldEqual(key, f) {
			s.Fail(errUnexpected)
			return
		}
	}
	s.Skip()
}

// known is key, unless it had escapes (then "": go-json's rules decide).
func known(s *trackerhttp.Scanner, key []byte) string {
	if s.KeyEscaped() {
		return ""
	}
	return unsafe.String(unsafe.SliceData(key), len(key))
}

// foldEqual is ASCII case folding (the key is ASCII, see other).
func foldEqual(a []byte, b string) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// object reads an object or null; anything else is left to go-json.
func object(s *trackerhttp.Scanner, name string, each func(key []byte)) {
	if k := s.Kind(); k != '{' && k != 'n' {
		s.Fail(errUnexpected)
		return
	}
	s.Object(name, each)
}

var referenceFields = []string{"id", "type", "summary", "html_url", "name", "email"}

func readReference(s *trackerhttp.Scanner, ref *reference) {
	object(s, "reference", func(k []byte) {
		switch known(s, k) {
		case "id":
			str(s, "id", &ref.ID)
		case "type":
			str(s, "type", &ref.Type)
		case "summary":
			str(s, "summary", &ref.Summary)
		case "html_url":
			str(s, "html_url", &ref.HTMLURL)
		case "name":
			str(s, "name", &ref.Name)
		case "email":
			str(s, "email", &ref.Email)
		default:
			other(s, k, referenceFields)
		}
	})
}

var incidentFields = []string{"id", "incident_number", "title", "summary", "html_url", "status", "urgency", "created_at", "updated_at",
	"service", "priority", "assignments", "first_trigger_log_entry", "body"}

func readIncident(s *trackerhttp.Scanner, in *incident) {
	if s.Kind() != '{' {
		s.Fail(errUnexpected) // null or another type: go-json's rules
		return
	}
	s.Object("incident", func(k []byte) {
		switch known(s, k) {
		case "id":
			str(s, "id", &in.ID)
		case "incident_number":
			integer(s, "incident_number", &in.IncidentNumber)
		case "title":
			str(s, "title", &in.Title)
		case "summary":
			str(s, "summary", &in.Summary)
		case "html_url":
			str(s, "html_url", &in.HTMLURL)
		case "status":
			str(s, "status", &in.Status)
		case "urgency":
			str(s, "urgency", &in.Urgency)
		case "created_at":
			str(s, "created_at", &in.Created)
		case "updated_at":
			str(s, "updated_at", &in.Updated)
		case "service":
			readReference(s, &in.Service)
		case "priority":
			readReference(s, &in.Priority)
		case "assignments":
			readAssignments(s, in)
		case "first_trigger_log_entry":
			readFirstTrigger(s, in)
		case "body":
			readBody(s, in)
		default:
			other(s, k, incidentFields)
		}
	})
}

var assignmentFields = []string{"assignee"}

func readAssignments(s *trackerhttp.Scanner, in *incident) {
	if s.Null() {
		in.Assignments = nil
		return
	}
	if s.Kind() != '[' {
		s.Fail(errUnexpected)
		return
	}
	// A new slice each time, as go-json decodes into a fresh one here.
	out := in.Assignments[:0:0]
	if out == nil {
		out = make([]struct {
			Assignee reference `json:"assignee"`
		}, 0, 1) // one assignee is the usual case
	}
	s.Array("assignments", func() {
		if s.Kind() != '{' {
			s.Fail(errUnexpected)
			return
		}
		out = append(out, struct {
			Assignee reference `json:"assignee"`
		}{})
		a := &out[len(out)-1]
		s.Object("assignment", func(k []byte) {
			if known(s, k) == "assignee" {
				readReference(s, &a.Assignee)
				return
			}
			other(s, k, assignmentFields)
		})
	})
	in.Assignments = out
}

var firstTriggerFields = []string{"agent"}

func readFirstTrigger(s *trackerhttp.Scanner, in *incident) {
	object(s, "first_trigger_log_entry", func(k []byte) {
		if known(s, k) != "agent" {
			other(s, k, firstTriggerFields)
			return
		}
		switch s.Kind() {
		case 'n':
			s.Null()
			in.FirstTrigger.Agent = nil
		case '{':
			if in.FirstTrigger.Agent == nil {
				in.FirstTrigger.Agent = new(reference)
			}
			readReference(s, in.FirstTrigger.Agent)
		default:
			s.Fail(errUnexpected)
		}
	})
}

var bodyFields = []string{"details"}

func readBody(s *trackerhttp.Scanner, in *incident) {
	switch s.Kind() {
	case 'n':
		s.Null()
		in.Body = nil
		return
	case '{':
	default:
		s.Fail(errUnexpected)
		return
	}
	if in.Body == nil {
		in.Body = new(incidentBody)
	}
	b := in.Body
	s.Object("body", func(k []byte) {
		if known(s, k) != "details" {
			other(s, k, bodyFields)
			return
		}
		readDetails(s, b)
	})
}

// readDetails reads body.details. One text under a usual key (description,
// details or summary), the common case, is kept as that text (description
// renders both the same); anything else is decoded by go-json from its own
// bytes.
func readDetails(s *trackerhttp.Scanner, b *incidentBody) {
	var text []byte // the text's JSON string
	plain := false
	keys, one := 0, s.Kind() == '{'
	raw := s.Capture(func() {
		if !one {
			s.Skip()
			return
		}
		s.Object("details", func(k []byte) {
			keys++
			switch known(s, k) {
			case "description", "details", "summary":
				if keys == 1 && s.Kind() == '"' {
					text, plain = s.RawString("details")
					return
				}
			}
			one = false
			s.Skip()
		})
	})
	if s.Err() != nil {
		return
	}
	if one && keys == 1 {
		if plain {
			b.Details = unsafe.String(unsafe.SliceData(text[1:]), len(text)-2)
			return
		}
		// str's go-json path, apart: a local string str fills would
		// escape to the heap on every call, not only on this path.
		var v string
		if json.Unmarshal(text, &v) != nil {
			s.Fail(errUnexpected)
			return
		}
		b.Details = v
		return
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		s.Fail(errUnexpected)
		return
	}
	b.Details = v
}

var listFields = []string{"incidents", "offset", "limit", "more"}

func readList(s *trackerhttp.Scanner, l *incidentList, size int) {
	if s.Kind() != '{' {
		s.Fail(errUnexpected)
		return
	}
	s.Object("list", func(k []byte) {
		switch known(s, k) {
		case "incidents":
			readIncidents(s, l, size)
		case "offset", "limit":
			if s.Null() {
				return
			}
			v := s.Int64("offset or limit")
			if v != int64(int(v)) {
				s.Fail(errUnexpected)
				return
			}
			if k[0] == 'o' {
				l.Offset = int(v)
			} else {
				l.Limit = int(v)
			}
		case "more":
			if !s.Null() {
				l.More = s.Bool("more")
			}
		default:
			other(s, k, listFields)
		}
	})
}

// size is the answer's length.
func readIncidents(s *trackerhttp.Scanner, l *incidentList, size int) {
	if s.Null() {
		l.Incidents = nil
		return
	}
	if s.Kind() != '[' {
		s.Fail(errUnexpected)
		return
	}
	// Sized for the page: an incident takes about a kilobyte of a page
	// (never less than a few hundred bytes), a full page holds PageSize.
	out := make([]incident, 0, min(PageSize, size/256+1))
	s.Array("incidents", func() {
		out = append(out, incident{})
		readIncident(s, &out[len(out)-1])
	})
	l.Incidents = out
}

var answerFields = []string{"incident"}

func readAnswer(s *trackerhttp.Scanner, in *incident) {
	if s.Kind() != '{' {
		s.Fail(errUnexpected)
		return
	}
	s.Object("answer", func(k []byte) {
		if known(s, k) == "incident" {
			readIncident(s, in)
			return
		}
		other(s, k, answerFields)
	})
}
