package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

func TestTruncateTextSaysHowMuchWasLeftOutAndKeepsRunesWhole(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("é", 5000) // 10,000 bytes
	got := truncateText(s, 1000)
	if len(got) > 1000 || !utf8.ValidString(got) {
		t.Fatalf("%d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	kept := strings.Count(got, "é") * 2
	if want := fmt.Sprintf("%d of 10000 bytes left out]", 10000-kept); !strings.HasSuffix(got, want) {
		t.Fatalf("marker %q, want suffix %q", got[len(got)-60:], want)
	}
	if truncateText("short", 1000) != "short" {
		t.Fatal("a text within the cap was changed")
	}
}

// TestOversizedJiraTicketIsCappedAndDoesNotBlockItsConnector: a Jira ticket
// with 6,000 comments and a 200 kB description is published within the
// event cap (newest comments kept, a marker for the rest), and the
// connector's other tickets and later updates still flow.
func TestOversizedJiraTicketIsCappedAndDoesNotBlockItsConnector(t *testing.T) {
	t.Parallel()
	jira := jirafake.NewSandbox(connector.Cloud)
	now := time.Now()
	big := jira.AddTicket(jirafake.Ticket{Summary: "Huge", Description: strings.Repeat("long text ", 20_000),
		Assignee: jirafake.SandboxEmail, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour)})
	const comments = 6000
	for i := range comments {
		jira.AddComment(big, jirafake.SandboxEmail, fmt.Sprintf("comment %d: %s", i, strings.Repeat("words ", 40)))
	}
	small := jira.AddTicket(jirafake.Ticket{Summary: "Small", Description: "fine",
		Assignee: jirafake.SandboxEmail, Created: now.Add(-2 * time.Hour), Updated: now.Add(-30 * time.Minute)})
	srv := httptest.NewServer(jira)
	t.Cleanup(srv.Close)

	e := newEnv(t, time.Second)
	c := connector.Connector{ID: "jira-big", System: connector.Jira, Deployment: connector.Cloud, BaseURL: srv.URL, Project: jirafake.SandboxProject,
		Enabled: true, PollInterval: 200 * time.Millisecond, IndexComments: true, AuthMode: connector.AuthBasic, Username: jirafake.SandboxEmail,
		Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
	c.ApplyDefaults(all.Registry())
	if _, err := e.store.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	e.mem = nil
	const maxEvent = 256 << 10
	_, _ = e.startReal(t, "r1", func(cfg *Config) { cfg.MaxEventBytes, cfg.MaxBodyBytes = maxEvent, 64<<10 })

	testenv.Eventually(t, 60*time.Second, "both tickets discovered", func() bool {
		d := e.events(t)["discovered"]
		return d[big] == 1 && d[small] == 1
	})
	data, size := ticketEventOf(t, e, big)
	if size > maxEvent {
		t.Fatalf("the event of %s is %d bytes, above the %d cap", big, size, maxEvent)
	}
	var ev struct {
		Ticket struct {
			DescriptionMarkdown string `json:"descriptionMarkdown"`
			Comments            []struct {
				ID           string `json:"id"`
				BodyMarkdown string `json:"bodyMarkdown"`
			} `json:"comments"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	desc := ev.Ticket.DescriptionMarkdown
	if len(desc) > 64<<10 || !strings.Contains(desc, "bytes left out]") {
		t.Fatalf("description of %d bytes ends %q; want it cut at 64 KiB with a marker", len(desc), desc[max(len(desc)-80, 0):])
	}
	cms := ev.Ticket.Comments
	if len(cms) < 100 || cms[0].ID != TruncatedCommentID || !strings.Contains(cms[0].BodyMarkdown, "older comments") {
		t.Fatalf("%d comments, first %+v; want a marker then the newest comments", len(cms), cms[:min(len(cms), 1)])
	}
	kept := len(cms) - 1
	if want := fmt.Sprintf("[… %d older comments", comments-kept); !strings.HasPrefix(cms[0].BodyMarkdown, want) {
		t.Fatalf("marker %q, want it to start %q", cms[0].BodyMarkdown, want)
	}
	if last := cms[len(cms)-1].BodyMarkdown; !strings.HasPrefix(last, fmt.Sprintf("comment %d:", comments-1)) {
		t.Fatalf("the last comment kept is %q, want the newest", last[:min(len(last), 30)])
	}
	// The connector is not blocked: a later update still flows.
	jira.Touch(small, time.Now())
	testenv.Eventually(t, 60*time.Second, "the small ticket's update", func() bool { return e.events(t)["updated"][small] == 1 })
	if st := e.pollState(t, "jira-big"); st.LastError != "" {
		t.Fatalf("last error %q", st.LastError)
	}
}

// ticketEventOf returns the payload of the discovered event of key and the
// size of the message as counted against the payload limit.
func ticketEventOf(t *testing.T, e *env, key string) ([]byte, int) {
	t.Helper()
	st, err := e.js.Stream(context.Background(), bus.StreamTickets)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		if m, err := st.GetMsg(context.Background(), seq); err == nil && m.Header.Get(bus.HeaderSubject) == key {
			n := len(m.Data) + len(m.Subject)
			for k, vs := range m.Header {
				for _, v := range vs {
					n += len(k) + len(v)
				}
			}
			return m.Data, n
		}
	}
	t.Fatalf("no event for %s", key)
	return nil, 0
}
