package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// TestSandboxChangesArriveByWebhookBeforeThePoll runs the all-in-one
// sandbox: its GitHub and GitLab connectors get their hooks created on the
// fakes by the registry; with the poll interval then set to an hour, a
// person's edit on either fake reaches the bus as ticket.updated through
// the fake's signed delivery, the receiver and the poller's targeted poll,
// and the connector's status shows the delivery.
func TestSandboxChangesArriveByWebhookBeforeThePoll(t *testing.T) {
	st, logs := startSandboxHub(t)
	token, err := os.ReadFile(st.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(st.RegistryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := chv1.NewRegistryServiceClient(conn)
	rctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(token)))
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

	for _, tc := range []struct {
		system, id string
		urlOf      *regexp.Regexp
		edit       func(base, key, title string) *http.Request
	}{
		{"github", "sandbox-github", regexp.MustCompile(`tracker=github url=(http://[0-9.:]+)`), func(base, key, title string) *http.Request {
			_, n, _ := strings.Cut(key, "#")
			req, _ := http.NewRequest(http.MethodPatch, base+"/repos/"+githubfake.SandboxRepo+"/issues/"+n, strings.NewReader(fmt.Sprintf(`{"title":%q}`, title)))
			req.Header.Set("Authorization", "Bearer "+githubfake.SandboxToken)
			return req
		}},
		{"gitlab", "sandbox-gitlab", regexp.MustCompile(`tracker=gitlab url=(http://[0-9.:]+)`), func(base, key, title string) *http.Request {
			_, n, _ := strings.Cut(key, "#")
			req, _ := http.NewRequest(http.MethodPut, base+"/api/v4/projects/42/issues/"+n, strings.NewReader(fmt.Sprintf(`{"title":%q}`, title)))
			req.Header.Set("PRIVATE-TOKEN", gitlabfake.SandboxToken)
			return req
		}},
	} {
		var key string
		waitFor(t, 90*time.Second, "a discovered "+tc.system+" ticket", logs, func() bool {
			for _, m := range messages(t, js, bus.StreamTickets, "ticket.discovered."+tc.system+"."+tc.id) {
				var ev chv1.TicketDiscovered
				if protojson.Unmarshal(m.Data, &ev) == nil {
					key = ev.GetTicket().GetKey()
					return true
				}
			}
			return false
		})
		var c *chv1.Connector
		waitFor(t, 60*time.Second, tc.id+"'s hook registered", logs, func() bool {
			got, err := client.GetConnector(rctx, &chv1.GetConnectorRequest{Id: tc.id})
			c = got.GetConnector()
			return err == nil && c.GetStatus().GetWebhookRegistration() == "registered"
		})
		if !c.GetWebhook() || !strings.HasSuffix(c.GetStatus().GetWebhookUrl(), "/webhooks/"+tc.id) {
			t.Fatalf("%s: webhook %v, url %q", tc.id, c.GetWebhook(), c.GetStatus().GetWebhookUrl())
		}
		// From now on the poll alone would take an hour.
		if _, err := client.UpdateConnector(rctx, &chv1.UpdateConnectorRequest{Connector: &chv1.Connector{Id: tc.id, PollInterval: durationpb.New(time.Hour)},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"poll_interval"}}}); err != nil {
			t.Fatal(err)
		}
		m := tc.urlOf.FindStringSubmatch(logs.String())
		if m == nil {
			t.Fatalf("sandbox %s URL not logged", tc.system)
		}
		title := "Retitled by a person on " + tc.system
		req := tc.edit(m[1], key, title)
		req.Header.Set("Content-Type", "application/json")
		edited := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s edit: HTTP %d", tc.system, resp.StatusCode)
		}
		var took time.Duration
		waitFor(t, 60*time.Second, tc.system+" edit published by the webhook", logs, func() bool {
			for _, m := range messages(t, js, bus.StreamTickets, "ticket.updated."+tc.system+"."+tc.id) {
				var ev chv1.TicketUpdated
				if protojson.Unmarshal(m.Data, &ev) == nil && ev.GetTicket().GetKey() == key && ev.GetTicket().GetSummary() == title {
					took = time.Since(edited)
					return true
				}
			}
			return false
		})
		t.Logf("%s: edit → ticket.updated in %s (poll interval 1h)", tc.system, took.Round(time.Millisecond))
		waitFor(t, 30*time.Second, tc.id+"'s status shows the delivery", logs, func() bool {
			got, err := client.GetConnector(rctx, &chv1.GetConnectorRequest{Id: tc.id})
			last := got.GetConnector().GetStatus().GetLastDeliveryTime()
			return err == nil && last != nil && !last.AsTime().Before(edited.Add(-time.Second))
		})
	}
}
