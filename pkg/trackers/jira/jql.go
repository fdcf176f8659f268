package jira

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// errJQLValue reports a value that cannot be put into JQL safely.
var errJQLValue = errors.New("value cannot be used in JQL")

// jqlString renders v as a double-quoted JQL string literal: backslash and
// double quote are escaped, everything else is literal. Control characters
// and invalid UTF-8 are refused rather than escaped: no tracker name, label
// or status contains them, and refusing keeps the literal unambiguous.
func jqlString(v string) (string, error) {
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("%w: invalid UTF-8", errJQLValue)
	}
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return "", fmt.Errorf("%w: control character %U", errJQLValue, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// jqlDateLayout is JQL's date-time literal format (minute precision).
const jqlDateLayout = "2006/01/02 15:04"

// anonymousJQLZone is the zone a cursor is written in when there is no user
// whose time zone Jira would read it in (anonymous access reads it in the
// instance's default user zone, which no anonymous API reveals). UTC-12 is
// the westmost offset in use: a wall time written there denotes, in any zone
// Jira may read it in, an instant at or before the cursor. The price is a
// wider lookback for anonymous connectors (up to 26 hours of overlap), which
// the poller's dedup ids make harmless.
var anonymousJQLZone = time.FixedZone("UTC-12", -12*60*60)

// jqlTime renders since as a JQL date literal that Jira, reading it as wall
// time in loc, resolves to an instant at or before since: the time is
// truncated down to the minute (JQL has no seconds), and a wall time that a
// daylight-saving fold makes ambiguous is moved back until every reading of
// it is at or before since.
func jqlTime(since time.Time, loc *time.Location) string {
	t := since.In(loc).Truncate(time.Minute)
	for range 4 {
		if !laterReading(t, since, loc) {
			break
		}
		t = t.Add(-time.Hour)
	}
	return t.Format(jqlDateLayout)
}

// laterReading reports whether the wall time of t has a reading in loc (an
// instant whose wall time in loc it is) after since. Outside a fold the only
// reading is t itself.
func laterReading(t, since time.Time, loc *time.Location) bool {
	wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
	for _, probe := range []time.Duration{-3 * time.Hour, 0, 3 * time.Hour} {
		_, off := t.Add(probe).In(loc).Zone()
		reading := wall.Add(-time.Duration(off) * time.Second)
		if reading.In(loc).Format(jqlDateLayout) == t.Format(jqlDateLayout) && reading.After(since) {
			return true
		}
	}
	return false
}

// jiraScope is what discovery selects: the connector's account and scope.
type jiraScope struct {
	// Account is the assignee (account id, email or username); "" means the
	// authenticated user (currentUser()).
	Account     string
	Project     string
	Statuses    []string
	Labels      []string
	MinPriority string
}

func scopeOf(c connector.Connector) jiraScope {
	return jiraScope{
		Account:     c.Assignee,
		Project:     c.Project,
		Statuses:    c.Scope.Statuses,
		Labels:      c.Scope.Labels,
		MinPriority: c.Scope.MinPriority,
	}
}

// jqlBuilder joins clauses with AND; the first quoting error sticks.
type jqlBuilder struct {
	clauses []string
	err     error
}

func (b *jqlBuilder) clause(field, op string, values ...string) {
	if b.err != nil {
		return
	}
	quoted := make([]string, len(values))
	for i, v := range values {
		if strings.TrimSpace(v) == "" {
			b.err = fmt.Errorf("%w: empty %s", errJQLValue, field)
			return
		}
		q, err := jqlString(v)
		if err != nil {
			b.err = fmt.Errorf("%s: %w", field, err)
			return
		}
		quoted[i] = q
	}
	rhs := strings.Join(quoted, ", ")
	if op == "in" {
		rhs = "(" + rhs + ")"
	}
	b.clauses = append(b.clauses, field+" "+op+" "+rhs)
}

// discoveryJQL builds the discovery query: assigned to the account,
// unresolved, inside the scope, updated at or after since (when not zero, as
// a wall time in loc, the zone Jira reads it in), ordered for stable paging.
// Every value is quoted by jqlString; nothing is pasted in.
func discoveryJQL(sc jiraScope, since time.Time, loc *time.Location) (string, error) {
	var b jqlBuilder
	if sc.Account == "" {
		b.clauses = append(b.clauses, "assignee = currentUser()")
	} else {
		b.clause("assignee", "=", sc.Account)
	}
	b.clauses = append(b.clauses, "resolution = Unresolved")
	if sc.Project != "" {
		b.clause("project", "=", sc.Project)
	}
	if len(sc.Statuses) > 0 {
		b.clause("status", "in", sc.Statuses...)
	}
	for _, l := range sc.Labels {
		b.clause("labels", "=", l)
	}
	if sc.MinPriority != "" {
		b.clause("priority", ">=", sc.MinPriority)
	}
	if !since.IsZero() {
		if loc == nil {
			loc = anonymousJQLZone
		}
		b.clause("updated", ">=", jqlTime(since, loc))
	}
	if b.err != nil {
		return "", fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, b.err)
	}
	return strings.Join(b.clauses, " AND ") + " ORDER BY updated ASC, key ASC", nil
}
