package pagerduty

import (
	"unicode/utf8"
	"unsafe"

	json "github.com/goccy/go-json"
)

// Why a hand-written reader for the two hot answers (an incident page and
// GET /incidents/{id}) and not go-json alone: on a first listing PagerDuty
// decodes a page and then every incident once more, and go-json copies each
// whole answer before decoding it, allocates a zeroed element for every
// slice element (the page's incidents, each incident's assignments) besides
// the slice, every pointer (body, agent) and a map for body.details: about a
// dozen allocations and a copy of every byte per incident
// (BenchmarkPagerDutyDiscoverPage). encoding/json and go-json have no mode
// that decodes in place; jsonv2 is still an experiment in Go 1.26.
//
// The reader decodes only the fields `incident` and `incidentList` hold,
// in one pass, its strings pointing into the answer (ReadBody's slice,
// which nothing writes to afterwards, as go-json's strings point into its
// copy). It checks the syntax of every value it skips. Whatever it does not
// expect — a key that differs from a field's only by case (go-json matches
// those), a value of another type, a key with escapes, deep nesting, bad
// syntax — makes the caller decode the whole answer with go-json, so the
// library decides every unusual answer, its errors included. A string with
// escapes or bytes that are not UTF-8, and body.details unless it is one
// text under a usual key, are decoded by go-json from their own bytes.
// decode_internal_test.go and FuzzIncidentDecoding compare both decodings.

// decodeJSON is implemented by the answers read by the hand-written reader;
// call uses it instead of json.Unmarshal.
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
	r := reader{b: raw}
	if r.incidentAnswer(a.in) && r.end() {
		return nil
	}
	*a.in = incident{}
	return json.Unmarshal(raw, &struct {
		Incident *incident `json:"incident"`
	}{a.in})
}

func (l *incidentList) decodeJSON(raw []byte) error {
	r := reader{b: raw}
	if r.incidentList(l) && r.end() {
		return nil
	}
	*l = incidentList{}
	return json.Unmarshal(raw, l)
}

// maxDepth bounds the nesting the reader skips; deeper answers go to go-json.
const maxDepth = 64

// reader reads JSON from b at i. Its methods return false on anything they
// do not take (the caller then falls back to go-json).
type reader struct {
	b []byte
	i int
}

func (r *reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek is the next byte after white space, 0 at the end.
func (r *reader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *reader) consume(c byte) bool {
	if r.peek() == c {
		r.i++
		return true
	}
	return false
}

// end: only white space is left.
func (r *reader) end() bool {
	r.ws()
	return r.i == len(r.b)
}

// literal takes the word w (true, false, null) at the next position.
func (r *reader) literal(w string) bool {
	r.ws()
	if len(r.b)-r.i >= len(w) && string(r.b[r.i:r.i+len(w)]) == w {
		r.i += len(w)
		return true
	}
	return false
}

// null takes a null if one is next.
func (r *reader) null() bool { return r.peek() == 'n' && r.literal("null") }

// rawString takes a string and returns its bytes between the quotes, and
// whether they need decoding (escapes, or bytes that are not UTF-8).
func (r *reader) rawString() (raw []byte, decode, ok bool) {
	if r.peek() != '"' {
		return nil, false, false
	}
	start := r.i + 1
	high := false
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			raw = r.b[start:j]
			return raw, decode || (high && !utf8.Valid(raw)), true
		case c == '\\':
			decode = true
			j++
			if j >= len(r.b) {
				return nil, false, false
			}
			switch r.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(r.b) {
					return nil, false, false
				}
				for _, h := range r.b[j+1 : j+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return nil, false, false
					}
				}
				j += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		case c >= 0x80:
			high = true
		}
	}
	return nil, false, false
}

// str decodes a string into dst (null leaves dst as it is, as go-json does).
func (r *reader) str(dst *string) bool {
	if r.null() {
		return true
	}
	r.ws()
	start := r.i
	raw, decode, ok := r.rawString()
	switch {
	case !ok:
		return false
	case decode:
		return json.Unmarshal(r.b[start:r.i], dst) == nil
	case len(raw) == 0:
		*dst = ""
	default:
		*dst = unsafe.String(&raw[0], len(raw))
	}
	return true
}

// number takes a JSON number and returns its bytes.
func (r *reader) number() ([]byte, bool) {
	r.ws()
	start, j := r.i, r.i
	digits := func() bool {
		k := j
		for j < len(r.b) && '0' <= r.b[j] && r.b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(r.b) && r.b[j] == '-' {
		j++
	}
	switch {
	case j < len(r.b) && r.b[j] == '0':
		j++
	case !digits():
		return nil, false
	}
	if j < len(r.b) && r.b[j] == '.' {
		j++
		if !digits() {
			return nil, false
		}
	}
	if j < len(r.b) && (r.b[j] == 'e' || r.b[j] == 'E') {
		j++
		if j < len(r.b) && (r.b[j] == '+' || r.b[j] == '-') {
			j++
		}
		if !digits() {
			return nil, false
		}
	}
	r.i = j
	return r.b[start:j], true
}

// integer decodes a whole number of at most 18 digits into dst (null
// leaves it; anything else goes to go-json).
func (r *reader) integer(dst *int64) bool {
	if r.null() {
		return true
	}
	n, ok := r.number()
	if !ok {
		return false
	}
	neg := n[0] == '-'
	if neg {
		n = n[1:]
	}
	if len(n) == 0 || len(n) > 18 {
		return false
	}
	var v int64
	for _, c := range n {
		if c < '0' || c > '9' {
			return false // a fraction or an exponent
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	*dst = v
	return true
}

func (r *reader) boolean(dst *bool) bool {
	switch r.peek() {
	case 't':
		*dst = true
		return r.literal("true")
	case 'f':
		*dst = false
		return r.literal("false")
	}
	return r.null()
}

// skip takes any value, checking its syntax.
func (r *reader) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch r.peek() {
	case '"':
		_, _, ok := r.rawString()
		return ok
	case '{':
		r.i++
		if r.consume('}') {
			return true
		}
		for {
			if _, _, ok := r.rawString(); !ok || !r.consume(':') || !r.skip(depth+1) {
				return false
			}
			if !r.consume(',') {
				return r.consume('}')
			}
		}
	case '[':
		r.i++
		if r.consume(']') {
			return true
		}
		for {
			if !r.skip(depth + 1) {
				return false
			}
			if !r.consume(',') {
				return r.consume(']')
			}
		}
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	_, ok := r.number()
	return ok
}

// object reads an object (null: nothing), calling field for each key; a
// key with escapes, or one field does not take, is refused.
func (r *reader) object(field func(key string) bool) bool {
	if r.null() {
		return true
	}
	if !r.consume('{') {
		return false
	}
	if r.consume('}') {
		return true
	}
	for {
		key, decode, ok := r.rawString()
		if !ok || decode || !r.consume(':') {
			return false
		}
		if !field(unsafe.String(unsafe.SliceData(key), len(key))) {
			return false
		}
		if !r.consume(',') {
			return r.consume('}')
		}
	}
}

// other skips the value of a key no field has, unless the key matches a
// field's name but for case (go-json would decode it into that field).
func (r *reader) other(key string, fields ...string) bool {
	for _, f := range fields {
		if len(key) == len(f) && foldEqual(key, f) {
			return false
		}
	}
	return r.skip(1)
}

// foldEqual is ASCII case folding; a key with other bytes that go-json
// would fold onto a field name (the Kelvin sign onto k, ſ onto s) is
// caught by the caller's check of non-ASCII keys.
func foldEqual(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 0x80 {
			return true // let go-json decide
		}
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

var referenceFields = []string{"id", "type", "summary", "html_url", "name", "email"}

func (r *reader) reference(ref *reference) bool {
	return r.object(func(k string) bool {
		switch k {
		case "id":
			return r.str(&ref.ID)
		case "type":
			return r.str(&ref.Type)
		case "summary":
			return r.str(&ref.Summary)
		case "html_url":
			return r.str(&ref.HTMLURL)
		case "name":
			return r.str(&ref.Name)
		case "email":
			return r.str(&ref.Email)
		}
		return r.otherFolded(k, referenceFields)
	})
}

// otherFolded is other for a field list, also refusing any non-ASCII key
// of the same length in bytes or less (a case-folded match in go-json's
// sense may be shorter in bytes than the field name... or longer: every
// non-ASCII key is left to go-json).
func (r *reader) otherFolded(key string, fields []string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= 0x80 {
			return false
		}
	}
	return r.other(key, fields...)
}

var incidentFields = []string{"id", "incident_number", "title", "summary", "html_url", "status", "urgency", "created_at", "updated_at",
	"service", "priority", "assignments", "first_trigger_log_entry", "body"}

func (r *reader) incident(in *incident) bool {
	if r.peek() != '{' {
		return false // null or another type: go-json's rules
	}
	return r.object(func(k string) bool {
		switch k {
		case "id":
			return r.str(&in.ID)
		case "incident_number":
			return r.integer(&in.IncidentNumber)
		case "title":
			return r.str(&in.Title)
		case "summary":
			return r.str(&in.Summary)
		case "html_url":
			return r.str(&in.HTMLURL)
		case "status":
			return r.str(&in.Status)
		case "urgency":
			return r.str(&in.Urgency)
		case "created_at":
			return r.str(&in.Created)
		case "updated_at":
			return r.str(&in.Updated)
		case "service":
			return r.reference(&in.Service)
		case "priority":
			return r.reference(&in.Priority)
		case "assignments":
			return r.assignments(in)
		case "first_trigger_log_entry":
			return r.firstTrigger(in)
		case "body":
			return r.body(in)
		}
		return r.otherFolded(k, incidentFields)
	})
}

var assignmentFields = []string{"assignee"}

func (r *reader) assignments(in *incident) bool {
	if r.null() {
		in.Assignments = nil
		return true
	}
	if !r.consume('[') {
		return false
	}
	// A new slice each time, as go-json decodes into a fresh one here.
	out := in.Assignments[:0:0]
	if out == nil {
		out = make([]struct {
			Assignee reference `json:"assignee"`
		}, 0, 1) // one assignee is the usual case
	}
	if r.consume(']') {
		in.Assignments = out
		return true
	}
	for {
		if r.peek() != '{' {
			return false
		}
		out = append(out, struct {
			Assignee reference `json:"assignee"`
		}{})
		a := &out[len(out)-1]
		if !r.object(func(k string) bool {
			if k == "assignee" {
				return r.reference(&a.Assignee)
			}
			return r.otherFolded(k, assignmentFields)
		}) {
			return false
		}
		if !r.consume(',') {
			in.Assignments = out
			return r.consume(']')
		}
	}
}

var firstTriggerFields = []string{"agent"}

func (r *reader) firstTrigger(in *incident) bool {
	return r.object(func(k string) bool {
		if k != "agent" {
			return r.otherFolded(k, firstTriggerFields)
		}
		if r.null() {
			in.FirstTrigger.Agent = nil
			return true
		}
		if r.peek() != '{' {
			return false
		}
		if in.FirstTrigger.Agent == nil {
			in.FirstTrigger.Agent = new(reference)
		}
		return r.reference(in.FirstTrigger.Agent)
	})
}

var bodyFields = []string{"details"}

func (r *reader) body(in *incident) bool {
	if r.null() {
		in.Body = nil
		return true
	}
	if r.peek() != '{' {
		return false
	}
	if in.Body == nil {
		in.Body = new(incidentBody)
	}
	b := in.Body
	return r.object(func(k string) bool {
		if k != "details" {
			return r.otherFolded(k, bodyFields)
		}
		return r.details(b)
	})
}

// details reads body.details. One text under a usual key, the common case,
// is kept as that text (description renders both the same); anything else
// is decoded by go-json from its own bytes, as before.
func (r *reader) details(b *incidentBody) bool {
	r.ws()
	start := r.i
	if text, ok := r.oneText(); ok {
		b.Details = text
		return true
	}
	r.i = start
	if !r.skip(1) {
		return false
	}
	var v any
	if json.Unmarshal(r.b[start:r.i], &v) != nil {
		return false
	}
	b.Details = v
	return true
}

// oneText takes an object of one key, description, details or summary,
// holding a string, and returns the string; false leaves r anywhere.
func (r *reader) oneText() (string, bool) {
	if !r.consume('{') {
		return "", false
	}
	key, decode, ok := r.rawString()
	if !ok || decode || !r.consume(':') || r.peek() != '"' {
		return "", false
	}
	switch string(key) {
	case "description", "details", "summary":
	default:
		return "", false
	}
	var text string
	if !r.str(&text) || !r.consume('}') {
		return "", false
	}
	return text, true
}

var listFields = []string{"incidents", "offset", "limit", "more"}

func (r *reader) incidentList(l *incidentList) bool {
	if r.peek() != '{' {
		return false
	}
	return r.object(func(k string) bool {
		switch k {
		case "incidents":
			return r.incidents(l)
		case "offset", "limit":
			var v int64
			if r.peek() == 'n' {
				return r.null()
			}
			if !r.integer(&v) || v != int64(int(v)) {
				return false
			}
			if k == "offset" {
				l.Offset = int(v)
			} else {
				l.Limit = int(v)
			}
			return true
		case "more":
			return r.boolean(&l.More)
		}
		return r.otherFolded(k, listFields)
	})
}

func (r *reader) incidents(l *incidentList) bool {
	if r.null() {
		l.Incidents = nil
		return true
	}
	if !r.consume('[') {
		return false
	}
	// Sized for the page: an incident takes about a kilobyte of a page
	// (never less than a few hundred bytes), a full page holds PageSize.
	out := make([]incident, 0, min(PageSize, len(r.b)/256+1))
	if r.consume(']') {
		l.Incidents = out
		return true
	}
	for {
		out = append(out, incident{})
		if !r.incident(&out[len(out)-1]) {
			return false
		}
		if !r.consume(',') {
			l.Incidents = out
			return r.consume(']')
		}
	}
}

var answerFields = []string{"incident"}

func (r *reader) incidentAnswer(in *incident) bool {
	if r.peek() != '{' {
		return false
	}
	return r.object(func(k string) bool {
		if k == "incident" {
			return r.incident(in)
		}
		return r.otherFolded(k, answerFields)
	})
}
