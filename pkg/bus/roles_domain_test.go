package bus

import (
	"slices"
	"strings"
	"testing"
)

// An edge service reaches the central streams through a leaf node as
// JetStream domain "hub" ($JS.hub.API.…, $JS.hub.API.$KV.…): each role's
// domain forms are exactly its own rights, the durables' denies included.
func TestRolesHaveTheSameRightsThroughAJetStreamDomain(t *testing.T) {
	t.Parallel()
	has := func(list []string, s string) bool { return slices.Contains(list, s) }
	for _, r := range Roles() {
		if r == RoleOperator {
			continue
		}
		p := r.Permissions()
		for _, s := range p.Publish.Allow {
			if rest, ok := strings.CutPrefix(s, jsAPI); ok && !has(p.Publish.Allow, "$JS.*.API."+rest) {
				t.Errorf("%s may publish %s but not through a domain", r, s)
			}
			if strings.HasPrefix(s, "$KV.") && !has(p.Publish.Allow, "$JS.*.API."+s) {
				t.Errorf("%s may put %s but not through a domain", r, s)
			}
			if rest, ok := strings.CutPrefix(s, "$JS.*.API."); ok && !has(p.Publish.Allow, jsAPI+rest) && !has(p.Publish.Allow, rest) {
				t.Errorf("%s may publish %s through a domain only", r, s)
			}
		}
		for _, s := range p.Publish.Deny {
			if rest, ok := strings.CutPrefix(s, jsAPI); ok && !has(p.Publish.Deny, "$JS.*.API."+rest) {
				t.Errorf("%s is denied %s but not through a domain", r, s)
			}
		}
	}
	// The writeback's durable stays the writeback's in any domain.
	if !has(RoleReader.Permissions().Publish.Deny, "$JS.*.API.CONSUMER.MSG.NEXT.RESULTS.writeback") {
		t.Error("a reader may pull the writeback durable through a domain")
	}
	if has(RolePoller.Permissions().Publish.Allow, "$JS.*.API.STREAM.DELETE.TICKETS") {
		t.Error("the poller may delete TICKETS through a domain")
	}
}
