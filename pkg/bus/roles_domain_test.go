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
		if r == RoleOperator || r.LeafNode() {
			continue // the leaf: TestTheLeafRoleCrossesInDomainFormOnly
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

// The leaf's requests cross in their domain form only, with the rights of
// an edge poller and writeback and not the connectors writes; the hub may
// send it only those services' replies.
func TestTheLeafRoleCrossesInDomainFormOnly(t *testing.T) {
	t.Parallel()
	p := RoleLeaf.Permissions()
	for _, s := range slices.Concat(p.Publish.Allow, p.Publish.Deny) {
		if strings.HasPrefix(s, jsAPI) || strings.HasPrefix(s, "$KV.") {
			t.Errorf("the leaf may send %s, a subject without a domain", s)
		}
	}
	for _, want := range []string{"$JS.*.API.$KV.poll_leases.>", "$JS.*.API.CONSUMER.MSG.NEXT.RESULTS.>", "ticket.discovered.>", "writeback.>", "$JS.*.API.DIRECT.GET.KV_connectors.>"} {
		if !slices.Contains(p.Publish.Allow, want) {
			t.Errorf("the leaf may not send %s", want)
		}
	}
	for _, not := range []string{"$JS.*.API.$KV.connectors.>", "result.ready.>", "audit.>", "connector.test.>", "$JS.*.API.STREAM.CREATE.KV_connectors"} {
		if slices.Contains(p.Publish.Allow, not) {
			t.Errorf("the leaf may send %s", not)
		}
	}
	if got := strings.Join(p.Subscribe.Allow, " "); got != "_INBOX_poller.> _INBOX_writeback.>" {
		t.Errorf("the leaf receives %s, want the edge poller's and writeback's inboxes only", got)
	}
	if p.Response != nil {
		t.Error("the leaf answers requests")
	}
}
