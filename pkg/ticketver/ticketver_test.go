package ticketver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func ticket() *chv1.Ticket {
	return &chv1.Ticket{ConnectorId: "c", Key: "PROJ-1", Summary: "s", Status: "To Do", Labels: []string{"a"},
		Assignee: &chv1.User{Id: "u1"}, UpdateTime: timestamppb.New(time.Unix(100, 0))}
}

func TestChangedNamesTheFieldsThatDifferBySchemaName(t *testing.T) {
	t.Parallel()
	base := ticketver.Fingerprint(ticket())
	cases := map[string]struct {
		edit func(*chv1.Ticket)
		want []string
	}{
		"nothing but the update time": {func(tk *chv1.Ticket) { tk.UpdateTime = timestamppb.New(time.Unix(200, 0)) }, nil},
		"summary":                     {func(tk *chv1.Ticket) { tk.Summary = "t" }, []string{"summary"}},
		"status and labels":           {func(tk *chv1.Ticket) { tk.Status, tk.Labels = "Done", []string{"a", "b"} }, []string{"status", "labels"}},
		"assignee cleared":            {func(tk *chv1.Ticket) { tk.Assignee = nil }, []string{"assignee"}},
		"comment added":               {func(tk *chv1.Ticket) { tk.Comments = []*chv1.Comment{{Id: "1"}} }, []string{"comments"}},
		"description set":             {func(tk *chv1.Ticket) { tk.DescriptionMarkdown = "d" }, []string{"description_markdown"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tk := ticket()
			tc.edit(tk)
			if got := ticketver.Changed(base, ticketver.Fingerprint(tk)); !slices.Equal(got, tc.want) {
				t.Errorf("Changed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsEchoOnlyForTheWritebacksOwnFieldsUpToItsReadBack(t *testing.T) {
	t.Parallel()
	at := time.Unix(1000, 0)
	self := ticketver.Self{Updated: at, Fields: []string{"comments", "status"}}
	cases := map[string]struct {
		self    ticketver.Self
		updated time.Time
		changed []string
		want    bool
	}{
		"its transition":            {self, at, []string{"status"}, true},
		"an earlier step of it":     {self, at.Add(-time.Second), []string{"comments"}, true},
		"changes unknown":           {self, at, nil, true},
		"a later human edit":        {self, at.Add(time.Millisecond), []string{"status"}, false},
		"a field it did not change": {self, at, []string{"status", "summary"}, false},
		"no writeback at all":       {ticketver.Self{}, at, []string{"status"}, false},
		// A writeback under way (webhooks poll between its steps).
		"a step of a writeback under way":    {ticketver.Self{Until: at, Fields: []string{"labels", "status"}}, at.Add(-time.Second), []string{"labels", "status"}, true},
		"after the writeback's window":       {ticketver.Self{Until: at, Fields: []string{"labels", "status"}}, at.Add(time.Second), []string{"status"}, false},
		"another field during the writeback": {ticketver.Self{Until: at, Fields: []string{"labels", "status"}}, at.Add(-time.Second), []string{"summary"}, false},
	}
	for name, tc := range cases {
		if got := ticketver.IsEcho(tc.self, tc.updated, tc.changed); got != tc.want {
			t.Errorf("%s: IsEcho = %v, want %v", name, got, tc.want)
		}
	}
}

func TestStoreMergesSelfRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, js := testenv.NATS(t)
	st, err := ticketver.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := time.Unix(10, 0).UTC(), time.Unix(20, 0).UTC()
	if err := st.MarkSelf(ctx, "c", "o/r#1", ticketver.Self{Updated: t1, Fields: []string{"status"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkSelf(ctx, "c", "o/r#1", ticketver.Self{Updated: t2, Fields: []string{"comments"}}); err != nil {
		t.Fatal(err)
	}
	self, ok, err := st.Self(ctx, "c", "o/r#1")
	if !ok || err != nil || !self.Updated.Equal(t2) || !slices.Equal(self.Fields, []string{"comments", "status"}) {
		t.Fatalf("Self = %+v, %v, %v; want both results' fields at %v", self, ok, err, t2)
	}
}

func BenchmarkFingerprint(b *testing.B) {
	tk := ticket()
	tk.DescriptionMarkdown = string(make([]byte, 2000))
	tk.Comments = []*chv1.Comment{{Id: "1", BodyMarkdown: "a comment"}, {Id: "2", BodyMarkdown: "another"}}
	for b.Loop() {
		ticketver.Fingerprint(tk)
	}
}
