package azuredevops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var (
	_ trackers.LeaveExplainer      = Tracker{}
	_ trackers.StateMetadataCacher = Tracker{}
)

// leaveFields are the fields WhyLeft reads: what discovery's WIQL selects on.
var leaveFields = []string{"System.Id", "System.State", "System.WorkItemType", "System.AssignedTo", "System.TeamProject"}

// WhyLeft reads the work item (GET …/workitems/{id}?fields=…), or for a
// review ticket (organization/project!id) the pull request:
//   - missing (404), or unreadable (401/403) while the credential itself
//     still works (connectionData answers), is deleted;
//   - a state in the Completed or Removed category of its type (the
//     project's state categories, cached with discovery's: StateCacheTTL)
//     is resolved; a pull request no longer active is resolved;
//   - assigned to nobody or to someone else (the connector's assignee when
//     set, else the PAT's account), or a pull request without the account
//     among its reviewers, is unassigned;
//   - otherwise it left the rest of the WIQL (the project).
//
// Requests: one for the work item; one for the account when the item is
// open and assigned and the connector names no assignee (once per
// session); one for the types' states when the project's cache is cold.
func (t Tracker) WhyLeft(ctx context.Context, s *trackers.Session, key string) (string, error) {
	id, isPR, err := splitKey(s, key)
	if err != nil {
		return "", err
	}
	if isPR {
		return prWhyLeft(ctx, s, key, id)
	}
	var w workItem
	q := url.Values{"fields": {strings.Join(leaveFields, ",")}}
	err = call(ctx, s, http.MethodGet, apiPath(s, true, "_apis", "wit", "workitems", strconv.FormatInt(id, 10)), q, nil, "", &w, "work item "+key)
	if gone, err := missing(ctx, s, err); err != nil || gone {
		return deleted(err)
	}
	closed, err := t.states.closed(ctx, s)
	if err != nil {
		return "", err
	}
	if closed.closes(w.Fields.Type, w.Fields.State) {
		return trackers.LeftResolved, nil
	}
	mine, err := assignedToConnector(ctx, s, w.Fields.AssignedTo)
	switch {
	case err != nil:
		return "", err
	case !mine:
		return trackers.LeftUnassigned, nil
	}
	return trackers.LeftOutOfScope, nil
}

// missing tells from a failed read whether the ticket is gone: a 404, or a
// 401/403 for it while the credential reads its own account (so the
// refusal concerns the item alone: an area the account may no longer
// read). Other errors, and a refused credential, are returned as errors.
func missing(ctx context.Context, s *trackers.Session, err error) (bool, error) {
	switch {
	case err == nil:
		return false, nil
	case isNotFound(err):
		return true, nil
	case errors.Is(err, trackers.ErrUnauthorized):
		if _, aerr := account(ctx, s); aerr != nil {
			return false, err
		}
		return true, nil
	}
	return false, err
}

// deleted is the answer once missing has decided: deleted, or the error.
func deleted(err error) (string, error) {
	if err != nil {
		return "", err
	}
	return trackers.LeftDeleted, nil
}

// CachesStateMetadata: the project's state categories, which tell a
// resolved work item from an open one, are read once and kept
// (StateCacheTTL), so only a cold cache costs WhyLeft a request more. The
// zero Tracker keeps none.
func (t Tracker) CachesStateMetadata() bool { return t.states != nil }

// prWhyLeft explains a pull request under review: missing is deleted, not
// active (completed, abandoned) is resolved, without the account among its
// reviewers is unassigned (discovery lists pull requests by the account's
// identity, whatever the connector's assignee), else out of scope.
func prWhyLeft(ctx context.Context, s *trackers.Session, key string, id int64) (string, error) {
	p, err := getPR(ctx, s, key, id)
	switch {
	case errors.Is(err, trackers.ErrTicketNotFound):
		return trackers.LeftDeleted, nil
	case err != nil:
		_, err = missing(ctx, s, err)
		return deleted(err)
	case !strings.EqualFold(p.Status, "active"):
		return trackers.LeftResolved, nil
	}
	me, err := account(ctx, s)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(p.Reviewers, func(r identityRef) bool { return me.is(&r) }) {
		return trackers.LeftUnassigned, nil
	}
	return trackers.LeftOutOfScope, nil
}

// closes says whether state is closed for discovery in work item type typ.
func (c closedStates) closes(typ, state string) bool {
	eq := func(v string) bool { return strings.EqualFold(v, state) }
	if slices.ContainsFunc(c.Names, eq) {
		return true
	}
	for name, types := range c.PerType {
		if eq(name) && slices.ContainsFunc(types, func(t string) bool { return strings.EqualFold(t, typ) }) {
			return true
		}
	}
	return false
}

// assignedToConnector says whether a work item assigned to who is in the
// connector's set: who matches the connector's assignee as WIQL matches an
// identity (display name, unique name, "Display <unique>" or id), else
// the PAT's own account.
func assignedToConnector(ctx context.Context, s *trackers.Session, who *identityRef) (bool, error) {
	if who == nil {
		return false, nil
	}
	if a := strings.TrimSpace(s.Connector.Assignee); a != "" {
		return slices.ContainsFunc([]string{who.DisplayName, who.UniqueName, who.ID, who.DisplayName + " <" + who.UniqueName + ">"},
			func(v string) bool { return v != "" && strings.EqualFold(v, a) }), nil
	}
	me, err := account(ctx, s)
	if err != nil {
		return false, err
	}
	return me.is(who), nil
}

// me is the PAT's account as connectionData names it.
type me struct{ id, unique string }

func (m me) is(r *identityRef) bool {
	return r != nil && (strings.EqualFold(r.ID, m.id) || m.unique != "" && strings.EqualFold(r.UniqueName, m.unique))
}

// conn is what the tracker keeps per Session: the account, read once (a
// session is one connector with one credential).
type conn struct {
	mu sync.Mutex
	me *me
}

var conns sync.Map // weak.Pointer[Session] → *conn

func connFor(s *trackers.Session) *conn {
	key := weak.Make(s)
	if c, ok := conns.Load(key); ok {
		return c.(*conn)
	}
	c, loaded := conns.LoadOrStore(key, &conn{})
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[trackers.Session]) { conns.Delete(k) }, key)
	}
	return c.(*conn)
}

// account is the PAT's account (GET {org}/_apis/connectionData), once per
// session.
func account(ctx context.Context, s *trackers.Session) (me, error) {
	c := connFor(s)
	c.mu.Lock()
	got := c.me
	c.mu.Unlock()
	if got != nil {
		return *got, nil
	}
	var cd connectionData
	if err := call(ctx, s, http.MethodGet, apiPath(s, false, "_apis", "connectionData"), nil, nil, "", &cd, "connection data"); err != nil {
		return me{}, err
	}
	u := cd.AuthenticatedUser
	if u.ID == "" || u.ID == anonymousID {
		return me{}, fmt.Errorf("%w: connection data: anonymous identity (PAT not accepted)", trackers.ErrUnauthorized)
	}
	m := me{id: u.ID, unique: u.Properties.Account.Value}
	c.mu.Lock()
	c.me = &m
	c.mu.Unlock()
	return m, nil
}
