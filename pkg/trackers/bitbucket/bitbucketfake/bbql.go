package bitbucketfake

import (
	"errors"
	"slices"
	"strings"
)

// A small BBQL evaluator for the forms connectorhub sends: terms joined by
// AND, each `field = "value"`, `field IN ("a", "b")` or `field >= value` /
// `field > value` (values compared as strings: RFC 3339 times in UTC compare
// in time order). Anything else is refused (400), as Bitbucket refuses what
// it cannot parse.
type term struct {
	field, op string
	values    []string
}

type bbql []term

func parseBBQL(q string) (bbql, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	var out bbql
	for _, part := range splitAnd(q) {
		part = strings.TrimSpace(part)
		var t term
		switch {
		case strings.Contains(part, " IN ("):
			f, rest, _ := strings.Cut(part, " IN (")
			rest = strings.TrimSuffix(strings.TrimSpace(rest), ")")
			t = term{field: strings.TrimSpace(f), op: "in"}
			for _, v := range strings.Split(rest, ",") {
				s, err := unquote(strings.TrimSpace(v))
				if err != nil {
					return nil, err
				}
				t.values = append(t.values, s)
			}
		case strings.Contains(part, ">="):
			f, v, _ := strings.Cut(part, ">=")
			t = term{field: strings.TrimSpace(f), op: ">=", values: []string{strings.Trim(strings.TrimSpace(v), `"`)}}
		case strings.Contains(part, ">"):
			f, v, _ := strings.Cut(part, ">")
			t = term{field: strings.TrimSpace(f), op: ">", values: []string{strings.Trim(strings.TrimSpace(v), `"`)}}
		case strings.Contains(part, "="):
			f, v, _ := strings.Cut(part, "=")
			s, err := unquote(strings.TrimSpace(v))
			if err != nil {
				return nil, err
			}
			t = term{field: strings.TrimSpace(f), op: "=", values: []string{s}}
		default:
			return nil, errors.New("unsupported expression " + part)
		}
		out = append(out, t)
	}
	return out, nil
}

// splitAnd splits at " AND " outside quotes.
func splitAnd(q string) []string {
	var parts []string
	inQuote, start := false, 0
	for i := 0; i < len(q); i++ {
		switch {
		case q[i] == '\\' && inQuote:
			i++
		case q[i] == '"':
			inQuote = !inQuote
		case !inQuote && strings.HasPrefix(q[i:], " AND "):
			parts = append(parts, q[start:i])
			start = i + len(" AND ")
			i += len(" AND ") - 1
		}
	}
	return append(parts, q[start:])
}

func unquote(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errors.New("expected a quoted string, got " + v)
	}
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(v[1 : len(v)-1]), nil
}

func (q bbql) match(fields map[string]string) bool { return q.matchMulti(fields, nil) }

// matchMulti: multi holds fields with several values (reviewers.uuid), which
// match when any value does.
func (q bbql) matchMulti(fields map[string]string, multi map[string][]string) bool {
	for _, t := range q {
		vals, ok := multi[t.field]
		if !ok {
			vals = []string{fields[t.field]}
		}
		if !slices.ContainsFunc(vals, t.matches) {
			return false
		}
	}
	return true
}

func (t term) matches(v string) bool {
	switch t.op {
	case "=":
		return v == t.values[0]
	case "in":
		return slices.Contains(t.values, v)
	case ">=":
		return v >= t.values[0]
	case ">":
		return v > t.values[0]
	}
	return false
}
