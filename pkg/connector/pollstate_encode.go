package connector

import (
	"encoding/json"
	"slices"
	"time"
)

// marshalPart is json.Marshal of a stored part, byte for byte, with
// encodePart for the known tickets' parts.
func marshalPart(p any) ([]byte, error) {
	if kp, ok := p.(*part); ok {
		return encodePart(kp)
	}
	return json.Marshal(p)
}

// encodePart writes a part as encoding/json does (keys sorted, strings
// escaped the same way, times as Time.MarshalJSON). It is hand-written
// because encoding/json's map encoder costs about 13 allocations per ticket
// (a reflect copy of every key and value, Time.MarshalJSON's buffer, the
// sort's key slice), the largest share of a discovered ticket's allocations
// after the tracker's own conversion (issue 9, Jira window profile); no
// library in the module graph writes maps without reflection. Anything it
// does not spell itself (a string that needs escaping, a time out of
// RFC 3339's range) is handed to encoding/json; TestEncodePartIsJSONMarshal
// and FuzzEncodePart compare both.
// sortedKeys is slices.Sorted(maps.Keys(m)) in one slice of the right size
// (Collect grows its slice by doubling: a part's keys were allocated about
// twice over, issue 9 req. 4).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func encodePart(p *part) ([]byte, error) {
	size := 2
	for k := range p.Set {
		size += entryBytes(k, "")
	}
	for k, fp := range p.Prints {
		size += len(k) + len(fp) + 8
	}
	for _, k := range p.Del {
		size += len(k) + 3
	}
	b := make([]byte, 0, size+24)
	b = append(b, '{')
	if len(p.Set) > 0 {
		b = append(b, `"set":{`...)
		for i, k := range sortedKeys(p.Set) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var ok bool
			if b, ok = appendJSONTime(b, p.Set[k]); !ok {
				return json.Marshal(p) // and its error
			}
		}
		b = append(b, '}')
	}
	if len(p.Prints) > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"fp":{`...)
		for i, k := range sortedKeys(p.Prints) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, p.Prints[k])
		}
		b = append(b, '}')
	}
	if len(p.Del) > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"del":[`...)
		for i, k := range p.Del {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendJSONString quotes s as encoding/json does: printable ASCII other
// than the characters it escapes (quote, backslash, and <, > and & for
// HTML) is written as is; any other string is encoded by encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime is Time.MarshalJSON appended to b; false where that fails
// (a year outside 0–9999, a zone offset of a day or more).
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}
