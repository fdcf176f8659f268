package azuredevops

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// StateCacheTTL is how long discovery reuses a project's work item types and
// the categories of their states before reading them again: a process
// change (a new custom state) is seen within this time.
const StateCacheTTL = 10 * time.Minute

// closedCategory says whether a state category is closed for discovery.
// Completed and Removed are; Resolved is not (a resolved bug awaits
// verification and stays assigned work, as on the Boards' own backlogs),
// nor Proposed and InProgress.
func closedCategory(c string) bool {
	return strings.EqualFold(c, "Completed") || strings.EqualFold(c, "Removed")
}

// workItemType is one type of GET {org}/{project}/_apis/wit/workitemtypes;
// its states carry their category (WorkItemStateColor).
type workItemType struct {
	Name   string          `json:"name"`
	States []workItemState `json:"states"`
}

// closedStates is what discovery's WIQL excludes: state names closed in
// every type that has them (Names), and names closed in some types but open
// in others (PerType: name → the types where it is closed). WIQL has no
// operator on state categories, so the categories are read once per project
// (StateCacheTTL) and turned into names.
type closedStates struct {
	Names   []string
	PerType map[string][]string
}

// defaultClosed are the closed states of the default processes (Agile,
// Scrum, CMMI, Basic): used only when the project lists no work item type
// with states (never on Services; an old Server may omit them).
var defaultClosed = closedStates{Names: []string{"Closed", "Done", "Removed", "Completed", "Cut"}}

// closedFromTypes derives the exclusions from the types' states.
func closedFromTypes(types []workItemType) closedStates {
	closedIn := map[string][]string{} // lower-case name → types where closed
	open := map[string]bool{}
	spelled := map[string]string{}
	seen := false
	for _, t := range types {
		for _, st := range t.States {
			seen = true
			k := strings.ToLower(st.Name)
			spelled[k] = st.Name
			if closedCategory(st.Category) {
				closedIn[k] = append(closedIn[k], t.Name)
			} else {
				open[k] = true
			}
		}
	}
	if !seen {
		return defaultClosed
	}
	var c closedStates
	for _, k := range slices.Sorted(maps.Keys(closedIn)) {
		if !open[k] {
			c.Names = append(c.Names, spelled[k])
			continue
		}
		if c.PerType == nil {
			c.PerType = map[string][]string{}
		}
		c.PerType[spelled[k]] = slices.Sorted(slices.Values(closedIn[k]))
	}
	return c
}

// wiql is the clause excluding the closed states ("" when nothing is).
func (c closedStates) wiql() string {
	var b strings.Builder
	if len(c.Names) > 0 {
		b.WriteString(" AND [System.State] NOT IN (")
		for i, st := range c.Names {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(wiqlString(st))
		}
		b.WriteString(")")
	}
	for _, name := range slices.Sorted(maps.Keys(c.PerType)) {
		b.WriteString(" AND NOT ([System.State] = " + wiqlString(name) + " AND [System.WorkItemType] IN (")
		for i, t := range c.PerType[name] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(wiqlString(t))
		}
		b.WriteString("))")
	}
	return b.String()
}

// listTypes reads the project's work item types with their states. A type
// listed without states (older Server versions) has them read from
// GET …/workitemtypes/{type}/states.
func listTypes(ctx context.Context, s *trackers.Session) ([]workItemType, error) {
	var res struct {
		Value []workItemType `json:"value"`
	}
	if err := call(ctx, s, http.MethodGet, apiPath(s, true, "_apis", "wit", "workitemtypes"), nil, nil, "", &res, "work item types"); err != nil {
		return nil, err
	}
	for i, t := range res.Value {
		if t.Name == "" {
			return nil, fmt.Errorf("%w: work item type without a name", trackers.ErrMalformedResponse)
		}
		if len(t.States) > 0 {
			continue
		}
		sts, err := typeStates(ctx, s, t.Name)
		if err != nil {
			return nil, err
		}
		res.Value[i].States = sts
	}
	return res.Value, nil
}

// stateCache keeps each project's closed states for StateCacheTTL, keyed by
// base URL and organization/project (the categories belong to the project's
// process, not to the account).
type stateCache struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cachedClosed
}

type cachedClosed struct {
	at     time.Time
	closed closedStates
}

func newStateCache(now func() time.Time) *stateCache {
	return &stateCache{now: now, m: map[string]cachedClosed{}}
}

// closed returns the project's closed states, reading the types when the
// cached value is missing or older than StateCacheTTL. A nil cache reads
// every time. Two cycles that miss together both read (harmless: the value
// is the same), rather than holding the lock over a request.
func (c *stateCache) closed(ctx context.Context, s *trackers.Session) (closedStates, error) {
	if c == nil {
		types, err := listTypes(ctx, s)
		if err != nil {
			return closedStates{}, err
		}
		return closedFromTypes(types), nil
	}
	key := s.BaseURL.String() + "\x00" + s.Connector.Project
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < StateCacheTTL {
		return e.closed, nil
	}
	types, err := listTypes(ctx, s)
	if err != nil {
		return closedStates{}, err
	}
	cl := closedFromTypes(types)
	c.mu.Lock()
	c.m[key] = cachedClosed{at: c.now(), closed: cl}
	c.mu.Unlock()
	return cl, nil
}
