package main

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// TestSandboxWritebackEchoIsMarkedAndAPersonsEditIsNot runs the whole hub:
// a result written back to a GitHub issue (a status label and a comment)
// comes back at the next poll as ticket.updated marked actor "self", never
// unmarked, and is not enriched again; a person's edit after it is
// published unmarked, naming the field that changed, with a ce-source of
// the one scheme.
func TestSandboxWritebackEchoIsMarkedAndAPersonsEditIsNot(t *testing.T) {
	st, logs := startSandboxHub(t)
	auth, err := bus.ClientAuth{CredsFile: st.NATSCredsFile}.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(st.NATSURL, auth...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)

	var target *chv1.Ticket
	waitFor(t, 60*time.Second, "a discovered GitHub ticket", logs, func() bool {
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered.github.sandbox-github") {
			var ev chv1.TicketDiscovered
			if protojson.Unmarshal(m.Data, &ev) == nil {
				target = ev.GetTicket()
				if got := m.Header.Get(bus.HeaderSource); got != "connectorhub://poller/sandbox-github" {
					t.Fatalf("ce-source = %q, want connectorhub://poller/sandbox-github", got)
				}
				return true
			}
		}
		return false
	})
	key := target.GetKey()
	updates := func() (self, other []*chv1.TicketUpdated) {
		for _, m := range messages(t, js, bus.StreamTickets, "ticket.updated.github.sandbox-github") {
			var ev chv1.TicketUpdated
			if protojson.Unmarshal(m.Data, &ev) != nil || ev.GetTicket().GetKey() != key {
				continue
			}
			if ev.GetActor() == ticketver.ActorSelf {
				self = append(self, &ev)
			} else {
				other = append(other, &ev)
			}
		}
		return self, other
	}

	r := &chv1.ResultReady{ResultId: "echo-1", ConnectorId: "sandbox-github", System: chv1.System_SYSTEM_GITHUB,
		TicketKey: key, TargetStatus: "In Review", CommentMarkdown: "Ready for review."}
	subject, _ := bus.ResultSubject("github", "sandbox-github")
	if _, err := bus.Publish(context.Background(), js, subject, r, bus.WithID(r.GetResultId())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the writeback's echo marked actor self", logs, func() bool {
		self, _ := updates()
		return len(self) > 0
	})
	self, other := updates()
	if len(other) > 0 {
		t.Fatalf("the writeback's change was published unmarked: %v", other)
	}
	if got := self[0].GetChangedFields(); len(got) == 0 || slices.ContainsFunc(got, func(f string) bool { return f != "labels" && f != "status" && f != "comments" }) {
		t.Errorf("echo changed_fields = %v, want only the writeback's (labels, status, comments)", got)
	}
	echoAt := self[len(self)-1].GetTicket().GetUpdateTime().AsTime()

	// A person retitles the issue after the writeback.
	m := regexp.MustCompile(`tracker=github url=(http://[0-9.:]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatal("sandbox GitHub URL not logged")
	}
	_, n, _ := strings.Cut(key, "#")
	req, _ := http.NewRequest(http.MethodPatch, m[1]+"/repos/"+githubfake.SandboxRepo+"/issues/"+n, strings.NewReader(`{"title":"Retitled by a person"}`))
	req.Header.Set("Authorization", "Bearer "+githubfake.SandboxToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("retitle: HTTP %d", resp.StatusCode)
	}
	var edit *chv1.TicketUpdated
	waitFor(t, 60*time.Second, "the person's edit published unmarked", logs, func() bool {
		_, other := updates()
		if len(other) > 0 {
			edit = other[0]
			return true
		}
		return false
	})
	if !slices.Contains(edit.GetChangedFields(), "summary") || edit.GetTicket().GetSummary() != "Retitled by a person" {
		t.Errorf("the person's edit: changed_fields %v, summary %q", edit.GetChangedFields(), edit.GetTicket().GetSummary())
	}
	// The knowledge service enriched no version the writeback produced.
	for _, m := range messages(t, js, bus.StreamTickets, "ticket.enriched.github.sandbox-github") {
		var ev chv1.TicketEnriched
		if protojson.Unmarshal(m.Data, &ev) == nil && ev.GetTicketKey() == key {
			for _, s := range self {
				if ev.GetTicketUpdateTime().AsTime().Equal(s.GetTicket().GetUpdateTime().AsTime()) {
					t.Errorf("the writeback's echo at %v was enriched again", echoAt)
				}
			}
		}
	}
}
