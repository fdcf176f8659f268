// Package pagerduty is the PagerDuty tracker: incidents assigned to the
// connector's user are its tickets (discovery by user_ids[] with statuses
// triggered and acknowledged); writeback acknowledges and resolves them
// (PUT /incidents/{id} with the From header) and adds notes.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Tracker talks to PagerDuty's REST API v2 with a user or account API key
// ("Authorization: Token token=<key>"). The connector's auth mode is
// "bearer" (a token without a username); the client sends PagerDuty's own
// scheme.
type Tracker struct{}

var (
	_ trackers.Tracker         = Tracker{}
	_ trackers.IdentityChecker = Tracker{}
	_ trackers.Discoverer      = Tracker{}
	_ trackers.TicketReader    = Tracker{}
	_ trackers.StatusWriter    = Tracker{}
	_ trackers.Commenter       = Tracker{}
	_ trackers.KeyNormalizer   = Tracker{}
)

// New returns the PagerDuty tracker.
func New() Tracker { return Tracker{} }

// DefaultBaseURL is PagerDuty's US service region; EU accounts set
// https://api.eu.pagerduty.com as the connector's base URL.
const DefaultBaseURL = "https://api.pagerduty.com"

// Rules: PagerDuty is SaaS only. A user API key acts as its user; an account
// (general access) key has no user, so the connector names the user id to
// discover for (assignee) and the email writes are made as (username, the
// From header). Scoped OAuth tokens need the scopes below; classic API keys
// carry none and are checked through the user's role instead.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:          connector.PagerDuty,
		Deployments:     []connector.Deployment{connector.Cloud},
		AuthModes:       map[connector.Deployment][]connector.AuthMode{connector.Cloud: {connector.AuthBearer}},
		DefaultBaseURLs: map[connector.Deployment]string{connector.Cloud: DefaultBaseURL},
		RequiredScopes:  []string{"incidents.read", "incidents.write", "users.read"},
	}
}

// account is who the connector acts for: the user whose incidents are
// discovered and the email writes send as From.
type account struct {
	userID, email, name string
}

// conn is what the tracker keeps per Session (the account, read once).
type conn struct {
	mu  sync.Mutex
	acc *account
	// bodies caches each incident's body.details, rendered, by its updated_at, so a
	// listing with full payloads reads the body (one GET per incident,
	// PagerDuty's list does not carry it) only of incidents that changed.
	bodies map[string]cachedBody
	// prefix and ua: see base.
	baseDone bool
	prefix   string
	ua       []string
}

// base returns the session's base URL as a prefix ending in '/' that a
// plain path is appended to, and its User-Agent header value; "" when
// requests must go through s.NewRequest (newRequest). Both are made once
// per session.
func (c *conn) base(s *trackers.Session) (string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.baseDone {
		c.baseDone = true
		if s.Connector.AuthMode == connector.AuthBearer {
			// JoinPath as NewRequest does it, with a last segment to cut
			// off: what is left is the prefix of every joined path.
			u := s.BaseURL.JoinPath("x")
			u.RawQuery, u.Fragment = "", ""
			if p, ok := strings.CutSuffix(u.String(), "/x"); ok && u.Path != "" {
				c.prefix = p + "/"
			}
		}
		if ua := s.UserAgent(); ua != "" {
			c.ua = []string{ua}
		}
	}
	return c.prefix, c.ua
}

type cachedBody struct {
	updated time.Time // the incident's updated_at when its body was read
	text    string    // its body.details rendered (description)
}

// maxCachedBodies bounds the body cache; past it the cache starts afresh.
const maxCachedBodies = 10000

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

// errAccountKey: GET /users/me refuses an account key (400, "requires a user
// token"); such a connector must name the user and the From email itself.
var errAccountKey = errors.New("the key is an account (general access) key: set the connector's assignee to the PagerDuty user id and its username to that user's email")

// accountOf resolves the account: the connector's assignee and username
// when both are set, else GET /users/me once per session.
func accountOf(ctx context.Context, s *trackers.Session) (account, error) {
	c := connFor(s)
	c.mu.Lock()
	acc := c.acc
	c.mu.Unlock()
	if acc != nil {
		return *acc, nil
	}
	got := account{userID: s.Connector.Assignee, email: s.Connector.Username}
	if got.userID == "" || got.email == "" {
		me, err := currentUser(ctx, s)
		if err != nil {
			return account{}, err
		}
		if got.userID == "" {
			got.userID = me.ID
		}
		if got.email == "" {
			got.email = me.Email
		}
		got.name = me.Name
	}
	c.mu.Lock()
	c.acc = &got
	c.mu.Unlock()
	return got, nil
}

func currentUser(ctx context.Context, s *trackers.Session) (user, error) {
	var out struct {
		User user `json:"user"`
	}
	err := call(ctx, s, http.MethodGet, "users/me", nil, nil, &out, "", "current user")
	switch {
	case errors.Is(err, trackers.ErrRejected):
		return user{}, fmt.Errorf("%w: %w", trackers.ErrInvalidConfig, errAccountKey)
	case err != nil:
		return user{}, err
	case out.User.ID == "" || out.User.Email == "":
		return user{}, fmt.Errorf("%w: current user lacks id or email", trackers.ErrMalformedResponse)
	}
	return out.User, nil
}

// readOnlyRoles cannot acknowledge, resolve or add notes.
var readOnlyRoles = []string{"observer", "read_only_user", "read_only_limited_user", "restricted_access"}

// CheckIdentity: who the key is (GET /users/me, or the connector's assignee
// with an account key), whether its role may write (acknowledge, resolve,
// notes), and whether incidents can be listed for the user.
func (Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	me, err := currentUser(ctx, s)
	switch {
	case s.TransportFailed():
		return
	case errors.Is(err, trackers.ErrInvalidConfig):
		if s.Connector.Assignee == "" || s.Connector.Username == "" {
			r.Fail(trackers.CheckIdentity, "%s", errAccountKey)
			return
		}
		r.Identity = s.Connector.Username
		r.Pass(trackers.CheckIdentity, "account key; acting for user %s as %s", s.Connector.Assignee, s.Connector.Username)
		r.Pass(trackers.CheckWriteAccess, "account keys may acknowledge, resolve and add notes (as %s)", s.Connector.Username)
	case errors.Is(err, trackers.ErrUnauthorized):
		r.Fail(trackers.CheckIdentity, "%s (PagerDuty API keys are sent as \"Token token=<key>\"; create one under User Settings → API Access or Integrations → API Access Keys)", trackerMessage(err))
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%s", trackerMessage(err))
		return
	default:
		r.Identity = me.Email
		r.Pass(trackers.CheckIdentity, "authenticated as %s (%s, user %s)", me.Name, me.Email, me.ID)
		if slices.Contains(readOnlyRoles, me.Role) {
			r.Fail(trackers.CheckWriteAccess, "role %s cannot acknowledge, resolve or add notes: ask for the Responder (limited_user) role or higher", me.Role)
		} else {
			r.Pass(trackers.CheckWriteAccess, "role %s may acknowledge, resolve and add notes", me.Role)
		}
	}

	acc, err := accountOf(ctx, s)
	if err != nil {
		r.Fail(trackers.CheckProject, "%s", trackerMessage(err))
		return
	}
	var page incidentList
	err = call(ctx, s, http.MethodGet, "incidents", listQuery(acc.userID, 0, 1), nil, &page, "", "incidents of user "+acc.userID)
	switch {
	case s.TransportFailed():
	case errors.Is(err, trackers.ErrUnauthorized):
		r.Fail(trackers.CheckProject, "cannot list incidents: the key lacks incidents.read (%s)", trackerMessage(err))
	case err != nil:
		r.Fail(trackers.CheckProject, "%s", trackerMessage(err))
	default:
		r.Pass(trackers.CheckProject, "incidents of user %s visible", acc.userID)
	}
}

func trackerMessage(err error) string { return err.Error() }
