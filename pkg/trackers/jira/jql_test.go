package jira

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestDiscoveryJQL(t *testing.T) {
	t.Parallel()
	la := mustZone(t, "America/Los_Angeles")
	since := time.Date(2026, 3, 1, 10, 15, 42, 0, time.UTC)
	tests := []struct {
		name  string
		scope jiraScope
		since time.Time
		want  string
	}{
		{
			name: "current user when no assignee",
			want: `assignee = currentUser() AND resolution = Unresolved ORDER BY updated ASC, key ASC`,
		},
		{
			name:  "full scope, every value quoted",
			scope: jiraScope{Account: "mia@example.com", Project: "ABC", Statuses: []string{"To Do", "In Progress"}, Labels: []string{"agent", "backend"}, MinPriority: "High"},
			since: since,
			want: `assignee = "mia@example.com" AND resolution = Unresolved AND project = "ABC" AND status in ("To Do", "In Progress")` +
				` AND labels = "agent" AND labels = "backend" AND priority >= "High" AND updated >= "2026/03/01 02:15" ORDER BY updated ASC, key ASC`,
		},
		{
			name:  "quotes and backslashes are escaped, JQL words stay literal",
			scope: jiraScope{Account: `x" OR assignee is EMPTY OR "`, Labels: []string{`a\b`, `ORDER BY`}},
			want: `assignee = "x\" OR assignee is EMPTY OR \"" AND resolution = Unresolved AND labels = "a\\b" AND labels = "ORDER BY"` +
				` ORDER BY updated ASC, key ASC`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := discoveryJQL(tt.scope, tt.since, la)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("JQL =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDiscoveryJQLRefusesUnsafeValues(t *testing.T) {
	t.Parallel()
	for name, sc := range map[string]jiraScope{
		"newline in assignee": {Account: "mia\nOR 1=1"},
		"NUL in a label":      {Labels: []string{"a\x00b"}},
		"empty label":         {Labels: []string{""}},
		"blank status":        {Statuses: []string{"Done", "  "}},
		"invalid UTF-8":       {Project: "AB\xffC"},
		"line separator":      {MinPriority: "High\u2028"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			jql, err := discoveryJQL(sc, time.Time{}, time.UTC)
			if !errors.Is(err, trackers.ErrInvalidConfig) {
				t.Fatalf("JQL %q, err %v; want ErrInvalidConfig", jql, err)
			}
		})
	}
}

func TestJQLTimeIsTheUsersWallTimeTruncatedToTheMinute(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 3, 1, 10, 15, 42, 0, time.UTC)
	for zone, want := range map[string]string{
		"UTC":                 "2026/03/01 10:15",
		"America/Los_Angeles": "2026/03/01 02:15",
		"Pacific/Auckland":    "2026/03/01 23:15",
		"Asia/Kolkata":        "2026/03/01 15:45",
		"Asia/Kathmandu":      "2026/03/01 16:00", // +05:45
	} {
		if got := jqlTime(since, mustZone(t, zone)); got != want {
			t.Errorf("%s: %s, want %s", zone, got, want)
		}
	}
}

// readings are the instants a JQL literal may denote in loc (two in a fold).
func readings(t testing.TB, literal string, loc *time.Location) []time.Time {
	t.Helper()
	wall, err := time.Parse(jqlDateLayout, literal)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, off := range []int{-14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14} {
		for _, extra := range []int{0, 30, 45} {
			c := wall.Add(-time.Duration(off)*time.Hour - time.Duration(extra)*time.Minute)
			if c.In(loc).Format(jqlDateLayout) == literal && !slices.ContainsFunc(out, c.Equal) {
				out = append(out, c)
			}
		}
	}
	return out
}

func TestJQLTimeInAFoldIsNeverReadLater(t *testing.T) {
	t.Parallel()
	berlin := mustZone(t, "Europe/Berlin")
	// 02:30 on 2026-10-25 happens twice in Berlin (CEST, then CET).
	since := time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC) // 02:30 CEST, the first one
	lit := jqlTime(since, berlin)
	rs := readings(t, lit, berlin)
	if len(rs) == 0 {
		t.Fatalf("%s has no reading in Berlin", lit)
	}
	for _, r := range rs {
		if r.After(since) {
			t.Errorf("%s can be read as %v, after the cursor %v", lit, r, since)
		}
	}
	if naive := since.In(berlin).Format(jqlDateLayout); naive == lit {
		t.Errorf("fold not handled: %s is ambiguous", lit)
	}
}

// TestJQLTimeNeverLaterThanTheCursor walks across the 2026 DST changes of
// zones east and west of UTC: every reading of the literal is at or before
// the cursor, and the overlap stays bounded.
func TestJQLTimeNeverLaterThanTheCursor(t *testing.T) {
	t.Parallel()
	zones := []string{"UTC", "America/Los_Angeles", "America/Sao_Paulo", "Europe/Berlin", "Pacific/Auckland", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham", "America/St_Johns"}
	for _, name := range zones {
		loc := mustZone(t, name)
		start := time.Date(2026, 1, 1, 0, 0, 7, 0, time.UTC)
		for since := start; since.Year() == 2026; since = since.Add(97*time.Minute + 13*time.Second) {
			lit := jqlTime(since, loc)
			rs := readings(t, lit, loc)
			if len(rs) == 0 {
				t.Fatalf("%s: %s (for %v) is not a wall time there", name, lit, since)
			}
			for _, r := range rs {
				if r.After(since) {
					t.Fatalf("%s: %s can be read as %v, after the cursor %v", name, lit, r, since)
				}
				if since.Sub(r) > 2*time.Hour+time.Minute {
					t.Fatalf("%s: %s reads as %v, more than 2h before %v", name, lit, r, since)
				}
			}
		}
		// Anonymous: written in UTC-12, read in any zone, never later.
		since := time.Date(2026, 7, 1, 12, 34, 56, 0, time.UTC)
		lit := jqlTime(since, anonymousJQLZone)
		for _, r := range readings(t, lit, loc) {
			if r.After(since) {
				t.Errorf("anonymous literal %s read in %s as %v, after %v", lit, name, r, since)
			}
		}
	}
}

func TestLoadJiraZone(t *testing.T) {
	t.Parallel()
	for id, off := range map[string]int{"Pacific/Auckland": 13 * 3600, "GMT+05:30": 5*3600 + 1800, "UTC-03": -3 * 3600, "GMT": 0} {
		loc, err := loadJiraZone(id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if _, got := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC).In(loc).Zone(); got != off {
			t.Errorf("%s: offset %d, want %d", id, got, off)
		}
	}
	for _, bad := range []string{"", "Mars/Olympus", "GMT+99:00"} {
		if _, err := loadJiraZone(bad); err == nil {
			t.Errorf("%q loaded", bad)
		}
	}
}

// jqlTok is a token of the test's own tiny JQL tokenizer: a string literal
// (unescaped), or anything else verbatim.
type jqlTok struct {
	lit  bool
	text string
}

// tokenizeJQL reads what discoveryJQL writes: words, operators, parens,
// commas and double-quoted strings whose only escapes are \" and \\.
func tokenizeJQL(q string) ([]jqlTok, error) {
	var out []jqlTok
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ':
			i++
		case c == '"':
			var b strings.Builder
			i++
			for {
				if i >= len(q) {
					return nil, fmt.Errorf("unterminated string")
				}
				if q[i] == '"' {
					i++
					break
				}
				if q[i] == '\\' {
					if i+1 >= len(q) || (q[i+1] != '"' && q[i+1] != '\\') {
						return nil, fmt.Errorf("bad escape at %d", i)
					}
					b.WriteByte(q[i+1])
					i += 2
					continue
				}
				b.WriteByte(q[i])
				i++
			}
			out = append(out, jqlTok{lit: true, text: b.String()})
		case strings.IndexByte("(),", c) >= 0:
			out = append(out, jqlTok{text: string(c)})
			i++
		case strings.IndexByte("=<>!", c) >= 0:
			j := i + 1
			for j < len(q) && strings.IndexByte("=<>", q[j]) >= 0 {
				j++
			}
			out = append(out, jqlTok{text: q[i:j]})
			i = j
		default:
			j := i
			for j < len(q) && strings.IndexByte(` "(),=<>!`, q[j]) < 0 {
				j++
			}
			out = append(out, jqlTok{text: q[i:j]})
			i = j
		}
	}
	return out, nil
}

// skeleton is the query with every literal replaced by ?.
func skeleton(toks []jqlTok) (string, []string) {
	var parts, lits []string
	for _, tk := range toks {
		if tk.lit {
			parts = append(parts, "?")
			lits = append(lits, tk.text)
		} else {
			parts = append(parts, tk.text)
		}
	}
	return strings.Join(parts, " "), lits
}

func jqlSafe(v string) bool {
	if !utf8.ValidString(v) || strings.TrimSpace(v) == "" {
		return false
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// FuzzJQL: whatever the connector's values, the builder either refuses them
// (ErrInvalidConfig, only for values it cannot quote) or writes a query of
// the expected shape whose literals read back as exactly those values, in
// order, both with the test's tokenizer and with the fake Jira's parser.
func FuzzJQL(f *testing.F) {
	f.Add("mia@example.com", "ABC", "In Progress", "Done", "agent", "High", int64(1767225600))
	f.Add(`x" OR assignee is EMPTY OR "`, `A\B`, `"`, `\`, `ORDER BY key`, `\"`, int64(0))
	f.Add("", "", "", "", "", "", int64(-1))
	f.Add("ünï😀", "p", "s", "t", "l\u00a0l", "Lowest", int64(4102444800))
	la := mustZone(f, "America/Los_Angeles")
	f.Fuzz(func(t *testing.T, account, project, status1, status2, label, priority string, unix int64) {
		sc := jiraScope{Account: account, Project: project, Statuses: []string{status1, status2}, Labels: []string{label}, MinPriority: priority}
		var since time.Time
		if unix > 0 && unix < 1<<35 {
			since = time.Unix(unix, 0)
		}
		// Empty optional values mean "not set", as in a connector's scope.
		if project == "" {
			sc.Project = ""
		}
		if priority == "" {
			sc.MinPriority = ""
		}
		jql, err := discoveryJQL(sc, since, la)

		var want []string
		skel := []string{"assignee", "=", "currentUser", "(", ")", "AND", "resolution", "=", "Unresolved"}
		if account != "" {
			want = append(want, account)
			skel = []string{"assignee", "=", "?", "AND", "resolution", "=", "Unresolved"}
		}
		if sc.Project != "" {
			want = append(want, project)
			skel = append(skel, "AND", "project", "=", "?")
		}
		want = append(want, status1, status2, label)
		skel = append(skel, "AND", "status", "in", "(", "?", ",", "?", ")", "AND", "labels", "=", "?")
		if sc.MinPriority != "" {
			want = append(want, priority)
			skel = append(skel, "AND", "priority", ">=", "?")
		}
		if !since.IsZero() {
			want = append(want, jqlTime(since, la))
			skel = append(skel, "AND", "updated", ">=", "?")
		}
		skel = append(skel, "ORDER", "BY", "updated", "ASC", ",", "key", "ASC")

		ok := true
		for _, v := range want {
			ok = ok && jqlSafe(v)
		}
		if !ok {
			if !errors.Is(err, trackers.ErrInvalidConfig) {
				t.Fatalf("unsafe values gave %q, %v; want ErrInvalidConfig", jql, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("safe values refused: %v", err)
		}
		toks, err := tokenizeJQL(jql)
		if err != nil {
			t.Fatalf("%q does not tokenize: %v", jql, err)
		}
		gotSkel, lits := skeleton(toks)
		if gotSkel != strings.Join(skel, " ") {
			t.Fatalf("shape of %q is\n%s\nwant\n%s", jql, gotSkel, strings.Join(skel, " "))
		}
		if !slices.Equal(lits, want) {
			t.Fatalf("literals of %q = %q, want %q", jql, lits, want)
		}
		q, err := jirafake.ParseJQL(jql)
		if err != nil {
			t.Fatalf("the fake Jira cannot parse %q: %v", jql, err)
		}
		if got := q.Strings(); !slices.Equal(got, want) {
			t.Fatalf("the fake Jira reads the literals of %q as %q, want %q", jql, got, want)
		}
	})
}
