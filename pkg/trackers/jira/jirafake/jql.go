package jirafake

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The fake's JQL is a subset: clauses joined by AND, then an optional ORDER
// BY. It covers what connectorhub sends and answers anything else the way
// Jira answers a query it cannot run (HTTP 400 with errorMessages).
//
//	assignee = "x" | currentUser()   assignee is EMPTY
//	reporter = "x" | currentUser()
//	resolution = Unresolved          resolution is EMPTY
//	project = "KEY"                  project in ("A", "B")
//	status = "S"   status in (...)   status != "S"   status not in (...)
//	labels = "l"   labels in (...)
//	priority = | >= | > | <= | < "High"   priority in (...)
//	updated, created  >= > <= < = "yyyy/MM/dd HH:mm" | "yyyy-MM-dd" | "-5d"
//	parent = "KEY"   key = "KEY"   key in (...)
//	ORDER BY updated | created | key | priority [ASC|DESC], ...
//
// Dates are read as wall time in the time zone of the user running the query
// (the instance's default zone for anonymous users), as Jira does.

// JQLError is a query the fake refuses; its message is Jira's wording.
type JQLError struct{ Msg string }

func (e *JQLError) Error() string { return e.Msg }

func jqlErrorf(format string, args ...any) error {
	return &JQLError{Msg: fmt.Sprintf(format, args...)}
}

type tokKind int

const (
	tokWord tokKind = iota // unquoted word: field, keyword, bare value
	tokString
	tokOp
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// tokenize splits a JQL query. Quoted strings take backslash escapes
// (\" \' \\ \n \t \r \uXXXX; any other escaped character stands for itself).
func tokenize(q string) ([]token, error) {
	var out []token
	rs := []rune(q)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(':
			out = append(out, token{tokLParen, "(", i})
			i++
		case r == ')':
			out = append(out, token{tokRParen, ")", i})
			i++
		case r == ',':
			out = append(out, token{tokComma, ",", i})
			i++
		case r == '"' || r == '\'':
			quote := r
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(rs) {
				c := rs[i]
				if c == quote {
					closed = true
					i++
					break
				}
				if c == '\\' {
					if i+1 >= len(rs) {
						return nil, jqlErrorf("Error in the JQL Query: The quoted string starting at character %d is not terminated.", start)
					}
					i++
					switch e := rs[i]; e {
					case 'n':
						b.WriteRune('\n')
					case 't':
						b.WriteRune('\t')
					case 'r':
						b.WriteRune('\r')
					case 'u':
						if i+4 >= len(rs) {
							return nil, jqlErrorf("Error in the JQL Query: Illegal Unicode escape at character %d.", i)
						}
						n, err := strconv.ParseUint(string(rs[i+1:i+5]), 16, 32)
						if err != nil {
							return nil, jqlErrorf("Error in the JQL Query: Illegal Unicode escape at character %d.", i)
						}
						b.WriteRune(rune(n))
						i += 4
					default:
						b.WriteRune(e)
					}
					i++
					continue
				}
				if c == '\n' || c == '\r' {
					return nil, jqlErrorf("Error in the JQL Query: The quoted string starting at character %d contains a newline.", start)
				}
				b.WriteRune(c)
				i++
			}
			if !closed {
				return nil, jqlErrorf("Error in the JQL Query: The quoted string starting at character %d is not terminated.", start)
			}
			out = append(out, token{tokString, b.String(), start})
		case strings.ContainsRune("=!<>~", r):
			start := i
			i++
			if i < len(rs) && (rs[i] == '=' || rs[i] == '~') && r != '=' && r != '~' {
				i++
			}
			op := string(rs[start:i])
			if op == "!" {
				return nil, jqlErrorf("Error in the JQL Query: The character '!' is a reserved JQL character (at %d).", start)
			}
			out = append(out, token{tokOp, op, start})
		default:
			start := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) && !strings.ContainsRune("()=,!<>~\"'", rs[i]) {
				i++
			}
			out = append(out, token{tokWord, string(rs[start:i]), start})
		}
	}
	return out, nil
}

// operand is one right-hand value: a string (quoted or bare) or a function call.
type operand struct {
	text   string
	fn     bool // currentUser()
	quoted bool
}

type clause struct {
	field  string // lower case
	op     string // "=", "!=", ">=", ">", "<=", "<", "in", "not in", "is", "is not"
	values []operand
}

type orderKey struct {
	field string
	desc  bool
}

// Query is a parsed JQL query.
type Query struct {
	clauses []clause
	order   []orderKey
}

// Strings lists every string operand of the query in order, as parsed (the
// fuzz tests of the client's JQL builder check them).
func (q Query) Strings() []string {
	var out []string
	for _, c := range q.clauses {
		for _, v := range c.values {
			if v.quoted {
				out = append(out, v.text)
			}
		}
	}
	return out
}

var knownFields = map[string]bool{
	"assignee": true, "reporter": true, "resolution": true, "project": true, "status": true, "labels": true,
	"priority": true, "updated": true, "created": true, "parent": true, "key": true, "issuekey": true,
	"updateddate": true, "createddate": true,
}

// ParseJQL parses the fake's JQL subset.
func ParseJQL(q string) (Query, error) {
	toks, err := tokenize(q)
	if err != nil {
		return Query{}, err
	}
	p := &parser{toks: toks}
	return p.query()
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() (token, bool) {
	if p.i >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.i], true
}

func (p *parser) next() (token, bool) {
	t, ok := p.peek()
	if ok {
		p.i++
	}
	return t, ok
}

func (p *parser) keyword(word string) bool {
	t, ok := p.peek()
	if ok && t.kind == tokWord && strings.EqualFold(t.text, word) {
		p.i++
		return true
	}
	return false
}

func (p *parser) query() (Query, error) {
	var q Query
	if _, ok := p.peek(); !ok {
		return q, nil
	}
	if !p.isOrderBy() {
		for {
			c, err := p.clause()
			if err != nil {
				return Query{}, err
			}
			q.clauses = append(q.clauses, c)
			if p.keyword("and") {
				continue
			}
			if t, ok := p.peek(); ok && t.kind == tokWord && (strings.EqualFold(t.text, "or") || strings.EqualFold(t.text, "not")) {
				return Query{}, jqlErrorf("Error in the JQL Query: the fake Jira supports AND only ('%s' at character %d).", t.text, t.pos)
			}
			break
		}
	}
	if p.isOrderBy() {
		p.i += 2
		for {
			t, ok := p.next()
			if !ok || t.kind != tokWord {
				return Query{}, jqlErrorf("Error in the JQL Query: Expecting a field name after 'order by'.")
			}
			f := strings.ToLower(t.text)
			if !slices.Contains([]string{"updated", "created", "key", "issuekey", "priority"}, f) {
				return Query{}, jqlErrorf("Not able to sort using field '%s'.", t.text)
			}
			k := orderKey{field: f}
			if p.keyword("desc") {
				k.desc = true
			} else {
				p.keyword("asc")
			}
			q.order = append(q.order, k)
			if t, ok := p.peek(); ok && t.kind == tokComma {
				p.i++
				continue
			}
			break
		}
	}
	if t, ok := p.peek(); ok {
		return Query{}, jqlErrorf("Error in the JQL Query: Expecting either 'OR' or 'AND' but got '%s' (at character %d).", t.text, t.pos)
	}
	return q, nil
}

func (p *parser) isOrderBy() bool {
	if p.i+1 >= len(p.toks) {
		return false
	}
	a, b := p.toks[p.i], p.toks[p.i+1]
	return a.kind == tokWord && b.kind == tokWord && strings.EqualFold(a.text, "order") && strings.EqualFold(b.text, "by")
}

func (p *parser) clause() (clause, error) {
	t, ok := p.next()
	if !ok {
		return clause{}, jqlErrorf("Error in the JQL Query: Expecting a field name at the end of the query.")
	}
	if t.kind != tokWord && t.kind != tokString {
		return clause{}, jqlErrorf("Error in the JQL Query: Expecting a field name but got '%s' (at character %d).", t.text, t.pos)
	}
	c := clause{field: strings.ToLower(t.text)}
	if !knownFields[c.field] {
		return clause{}, jqlErrorf("Field '%s' does not exist or you do not have permission to view it.", t.text)
	}
	switch c.field {
	case "issuekey":
		c.field = "key"
	case "updateddate":
		c.field = "updated"
	case "createddate":
		c.field = "created"
	}
	op, ok := p.next()
	if !ok {
		return clause{}, jqlErrorf("Error in the JQL Query: Expecting an operator after '%s'.", t.text)
	}
	switch {
	case op.kind == tokOp && slices.Contains([]string{"=", "!=", ">=", ">", "<=", "<"}, op.text):
		c.op = op.text
	case op.kind == tokOp:
		return clause{}, jqlErrorf("The operator '%s' is not supported by the '%s' field.", op.text, t.text)
	case op.kind == tokWord && strings.EqualFold(op.text, "in"):
		c.op = "in"
	case op.kind == tokWord && strings.EqualFold(op.text, "not") && p.keyword("in"):
		c.op = "not in"
	case op.kind == tokWord && strings.EqualFold(op.text, "is"):
		c.op = "is"
		if p.keyword("not") {
			c.op = "is not"
		}
	default:
		return clause{}, jqlErrorf("Error in the JQL Query: Expecting operator but got '%s' (at character %d).", op.text, op.pos)
	}
	if c.op == "in" || c.op == "not in" {
		if t, ok := p.next(); !ok || t.kind != tokLParen {
			return clause{}, jqlErrorf("Error in the JQL Query: Expecting '(' after '%s'.", c.op)
		}
		for {
			v, err := p.operand()
			if err != nil {
				return clause{}, err
			}
			c.values = append(c.values, v)
			t, ok := p.next()
			if ok && t.kind == tokComma {
				continue
			}
			if ok && t.kind == tokRParen {
				break
			}
			return clause{}, jqlErrorf("Error in the JQL Query: Expecting ',' or ')' in the list.")
		}
		return c, nil
	}
	if c.op == "is" || c.op == "is not" {
		if !p.keyword("empty") && !p.keyword("null") {
			return clause{}, jqlErrorf("Error in the JQL Query: Expecting 'EMPTY' after '%s'.", c.op)
		}
		return c, nil
	}
	v, err := p.operand()
	if err != nil {
		return clause{}, err
	}
	c.values = []operand{v}
	return c, nil
}

func (p *parser) operand() (operand, error) {
	t, ok := p.next()
	if !ok {
		return operand{}, jqlErrorf("Error in the JQL Query: Expecting either a value, list or function but got the end of the query.")
	}
	switch t.kind {
	case tokString:
		return operand{text: t.text, quoted: true}, nil
	case tokWord:
		if n, ok := p.peek(); ok && n.kind == tokLParen {
			p.i++
			if c, ok := p.next(); !ok || c.kind != tokRParen {
				return operand{}, jqlErrorf("Error in the JQL Query: the fake Jira supports functions without arguments only.")
			}
			if !strings.EqualFold(t.text, "currentUser") {
				return operand{}, jqlErrorf("Unable to find JQL function '%s()'.", t.text)
			}
			return operand{text: "currentUser", fn: true}, nil
		}
		if reserved[strings.ToLower(t.text)] {
			return operand{}, jqlErrorf("Error in the JQL Query: '%s' is a reserved JQL word. You must surround it in quotation marks to use it in a query.", t.text)
		}
		return operand{text: t.text}, nil
	}
	return operand{}, jqlErrorf("Error in the JQL Query: Expecting either a value, list or function but got '%s'.", t.text)
}

var reserved = map[string]bool{"and": true, "or": true, "not": true, "in": true, "is": true, "order": true, "by": true, "empty": true, "null": true}

// evalContext is what a query is evaluated against.
type evalContext struct {
	me  *User // nil for anonymous
	loc *time.Location
	now time.Time
	s   *Server // locked by the caller
}

var relativeDate = regexp.MustCompile(`^([-+]?)(\d+)([mhdw])$`)

// parseDate reads a JQL date operand as wall time in loc.
func parseDate(v string, loc *time.Location, now time.Time, field string) (time.Time, error) {
	for _, layout := range []string{"2006/01/02 15:04", "2006-01-02 15:04", "2006/01/02", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	if m := relativeDate.FindStringSubmatch(v); m != nil {
		n, _ := strconv.Atoi(m[2])
		unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[3]]
		d := time.Duration(n) * unit
		if m[1] == "-" {
			d = -d
		}
		return now.Add(d), nil
	}
	return time.Time{}, jqlErrorf("Date value '%s' for field '%s' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.", v, field)
}

// validate checks values against what the instance knows (projects,
// statuses, priorities, users), as Jira does before running a query.
func (q Query) validate(ec evalContext) error {
	for _, c := range q.clauses {
		for _, v := range c.values {
			switch c.field {
			case "project":
				if _, ok := ec.s.projectByRef(v.text); !ok {
					return jqlErrorf("The value '%s' does not exist for the field 'project'.", v.text)
				}
			case "status":
				if !ec.s.knownStatus(v.text) {
					return jqlErrorf("The value '%s' does not exist for the field 'status'.", v.text)
				}
			case "priority":
				if priorityRank(v.text) == 0 {
					return jqlErrorf("The value '%s' does not exist for the field 'priority'.", v.text)
				}
			case "resolution":
				if !strings.EqualFold(v.text, "Unresolved") && !ec.s.knownResolution(v.text) {
					return jqlErrorf("The value '%s' does not exist for the field 'resolution'.", v.text)
				}
			case "assignee", "reporter":
				if v.fn {
					if ec.me == nil {
						// Anonymous: currentUser() matches nobody, as on Jira.
						continue
					}
					continue
				}
				if ec.s.userByRef(v.text) == nil {
					return jqlErrorf("The value '%s' does not exist for the field '%s'.", v.text, c.field)
				}
			case "updated", "created":
				if _, err := parseDate(v.text, ec.loc, ec.now, c.field); err != nil {
					return err
				}
			}
		}
		if slices.Contains([]string{">", ">=", "<", "<="}, c.op) && !slices.Contains([]string{"priority", "updated", "created"}, c.field) {
			return jqlErrorf("The operator '%s' is not supported by the '%s' field.", c.op, c.field)
		}
	}
	return nil
}

// match reports whether an issue satisfies every clause.
func (q Query) match(ec evalContext, is *issue) bool {
	for _, c := range q.clauses {
		if !c.match(ec, is) {
			return false
		}
	}
	return true
}

func (c clause) match(ec evalContext, is *issue) bool {
	t := &is.t
	switch c.op {
	case "is", "is not":
		empty := false
		switch c.field {
		case "assignee":
			empty = t.Assignee == ""
		case "resolution":
			empty = t.Resolution == ""
		case "labels":
			empty = len(t.Labels) == 0
		case "parent":
			empty = t.Parent == ""
		default:
			empty = false
		}
		return empty == (c.op == "is")
	}
	anyOf := func(pred func(operand) bool) bool { return slices.ContainsFunc(c.values, pred) }
	var hit bool
	switch c.field {
	case "assignee", "reporter":
		ref := t.Assignee
		if c.field == "reporter" {
			ref = t.Reporter
		}
		u := ec.s.userByRef(ref)
		hit = u != nil && anyOf(func(v operand) bool {
			if v.fn {
				return ec.me != nil && sameUser(*ec.me, *u)
			}
			w := ec.s.userByRef(v.text)
			return w != nil && sameUser(*w, *u)
		})
	case "resolution":
		hit = anyOf(func(v operand) bool {
			if strings.EqualFold(v.text, "Unresolved") && !v.quoted {
				return t.Resolution == ""
			}
			return strings.EqualFold(v.text, t.Resolution)
		})
	case "project":
		hit = anyOf(func(v operand) bool {
			p, ok := ec.s.projectByRef(v.text)
			return ok && strings.EqualFold(p.Key, t.Project)
		})
	case "status":
		hit = anyOf(func(v operand) bool { return strings.EqualFold(v.text, t.Status) })
	case "labels":
		// Labels match exactly, case-sensitively, as on Jira.
		hit = anyOf(func(v operand) bool { return slices.Contains(t.Labels, v.text) })
	case "parent":
		hit = anyOf(func(v operand) bool { return strings.EqualFold(v.text, t.Parent) })
	case "key":
		hit = anyOf(func(v operand) bool { return strings.EqualFold(v.text, t.Key) })
	case "priority":
		have := priorityRank(t.Priority)
		want := priorityRank(c.values[0].text)
		switch c.op {
		case ">=":
			return have != 0 && have <= want // rank 1 is the highest
		case ">":
			return have != 0 && have < want
		case "<=":
			return have != 0 && have >= want
		case "<":
			return have != 0 && have > want
		}
		hit = anyOf(func(v operand) bool { return strings.EqualFold(v.text, t.Priority) })
	case "updated", "created":
		at := t.Updated
		if c.field == "created" {
			at = t.Created
		}
		d, err := parseDate(c.values[0].text, ec.loc, ec.now, c.field)
		if err != nil {
			return false
		}
		switch c.op {
		case ">=":
			return !at.Before(d)
		case ">":
			return at.After(d)
		case "<=":
			return !at.After(d)
		case "<":
			return at.Before(d)
		case "=":
			return at.Equal(d)
		case "!=":
			return !at.Equal(d)
		}
	}
	switch c.op {
	case "!=", "not in":
		return !hit
	}
	return hit
}

func sameUser(a, b User) bool {
	return a.AccountID == b.AccountID && a.Name == b.Name && a.Email == b.Email
}

// less orders two issues by the query's ORDER BY (creation order when none).
func (q Query) less(a, b *issue) int {
	for _, k := range q.order {
		var c int
		switch k.field {
		case "updated":
			c = a.t.Updated.Compare(b.t.Updated)
		case "created":
			c = a.t.Created.Compare(b.t.Created)
		case "key", "issuekey":
			c = compareKeys(a.t.Key, b.t.Key)
		case "priority":
			c = priorityRank(b.t.Priority) - priorityRank(a.t.Priority)
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return a.id - b.id
}

// compareKeys orders issue keys by project, then by number.
func compareKeys(a, b string) int {
	pa, na := splitKey(a)
	pb, nb := splitKey(b)
	if c := strings.Compare(pa, pb); c != 0 {
		return c
	}
	return na - nb
}

func splitKey(k string) (string, int) {
	i := strings.LastIndex(k, "-")
	if i < 0 {
		return k, 0
	}
	n, _ := strconv.Atoi(k[i+1:])
	return k[:i], n
}
