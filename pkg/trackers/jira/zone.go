package jira

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Jira names IANA zones; release images are FROM scratch with no zoneinfo

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// Jira reads a JQL date literal as wall time in the time zone of the user
// running the query, not UTC (what lost tickets for DevLake #4902 and Airbyte
// #48492). Discovery therefore writes its cursor in that zone: it reads the
// user's timeZone from /myself once and caches it per connector, base URL and
// login for jiraZoneTTL, so a profile change is picked up within the hour.

const jiraZoneTTL = time.Hour

type jiraZoneKey struct {
	connectorID, baseURL, user string
	auth                       connector.AuthMode
}

type jiraZoneEntry struct {
	loc     *time.Location
	fetched time.Time
}

var jiraZones = struct {
	sync.Mutex
	m map[jiraZoneKey]jiraZoneEntry
}{m: map[jiraZoneKey]jiraZoneEntry{}}

// jiraQueryZone is the zone Jira reads this session's JQL dates in.
// Anonymous sessions have no user: see anonymousJQLZone.
func jiraQueryZone(ctx context.Context, s *trackers.Session) (*time.Location, error) {
	if s.Connector.AuthMode == connector.AuthAnonymous {
		return anonymousJQLZone, nil
	}
	key := jiraZoneKey{connectorID: s.Connector.ID, baseURL: s.BaseURL.String(), user: s.Connector.Username, auth: s.Connector.AuthMode}
	now := time.Now()
	jiraZones.Lock()
	e, ok := jiraZones.m[key]
	jiraZones.Unlock()
	if ok && now.Sub(e.fetched) < jiraZoneTTL {
		return e.loc, nil
	}
	var me struct {
		TimeZone string `json:"timeZone"`
	}
	if err := newJiraClient(s).do(ctx, "GET", "myself", nil, nil, &me); err != nil {
		return nil, fmt.Errorf("reading the user's time zone: %w", err)
	}
	loc, err := loadJiraZone(me.TimeZone)
	if err != nil {
		// Safe but wide: a cursor written in UTC-12 is never read later than it is.
		newJiraClient(s).logger().WarnContext(ctx, "jira user time zone unknown; discovery uses a wider lookback", "time_zone", me.TimeZone, "error", err)
		loc = anonymousJQLZone
	}
	jiraZones.Lock()
	jiraZones.m[key] = jiraZoneEntry{loc: loc, fetched: now}
	jiraZones.Unlock()
	return loc, nil
}

// loadJiraZone loads a Java time zone id: an IANA name, or a custom
// GMT+hh:mm / UTC-hh:mm offset.
func loadJiraZone(id string) (*time.Location, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, fmt.Errorf("no timeZone in /myself")
	}
	for _, prefix := range []string{"GMT", "UTC"} {
		rest, ok := strings.CutPrefix(id, prefix)
		if !ok || rest == "" || (rest[0] != '+' && rest[0] != '-') {
			continue
		}
		sign := 1
		if rest[0] == '-' {
			sign = -1
		}
		hh, mm, _ := strings.Cut(rest[1:], ":")
		h, err1 := strconv.Atoi(hh)
		m := 0
		var err2 error
		if mm != "" {
			m, err2 = strconv.Atoi(mm)
		}
		if err1 != nil || err2 != nil || h > 18 || m > 59 {
			return nil, fmt.Errorf("bad offset zone %q", id)
		}
		return time.FixedZone(id, sign*(h*3600+m*60)), nil
	}
	return time.LoadLocation(id)
}
