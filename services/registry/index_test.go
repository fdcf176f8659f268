package registry_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// Reads come from an index that a KV watch keeps; a caller must still see
// its own writes at once: every read waits for the index to reach the
// revision of the registry's latest write.
func TestReadsSeeTheCallersOwnWritesAtOnce(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 15 {
				id := fmt.Sprintf("gh-ryw-%d-%d", w, i)
				created, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: id, Credential: "ghp_ryw00000000000000000001"})
				if err != nil {
					errs <- err
					return
				}
				if _, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id}); err != nil {
					errs <- fmt.Errorf("get %s right after create: %w", id, err)
					return
				}
				upd := &chv1.Connector{Id: id, DisplayName: "renamed", Etag: created.GetConnector().GetEtag()}
				u, err := admin.UpdateConnector(ctx, &chv1.UpdateConnectorRequest{Connector: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
				if err != nil {
					errs <- fmt.Errorf("update %s: %w", id, err)
					return
				}
				got, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id})
				if err != nil || got.GetConnector().GetDisplayName() != "renamed" || got.GetConnector().GetEtag() != u.GetConnector().GetEtag() {
					errs <- fmt.Errorf("get %s right after update = %v, %v", id, got.GetConnector(), err)
					return
				}
				if i%3 == 0 {
					if _, err := admin.DeleteConnector(ctx, &chv1.DeleteConnectorRequest{Id: id}); err != nil {
						errs <- err
						return
					}
					if _, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id}); status.Code(err) != codes.NotFound {
						errs <- fmt.Errorf("get %s right after delete: %v, want NotFound", id, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Paging by id range, with a system filter: every survivor exactly once, in order.
	if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: jiraConnector(), ConnectorId: "jira-ryw", Credential: "atl-token-0000000000000009"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	token := ""
	for {
		resp, err := admin.ListConnectors(ctx, &chv1.ListConnectorsRequest{System: chv1.System_SYSTEM_GITHUB, PageSize: 7, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.GetConnectors() {
			ids = append(ids, c.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(ids) != 8*10 {
		t.Errorf("listed %d github connectors, want %d", len(ids), 8*10)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Errorf("list out of order or repeated: %s then %s", ids[i-1], ids[i])
		}
	}
}

// A record written to the bucket by someone else (another registry
// replica) shows up through the watch.
func TestTheIndexFollowsWritesMadeElsewhere(t *testing.T) {
	t.Parallel()
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx := ctxT(t)
	kv, err := srv.JS.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	store := connector.NewStore(kv)
	c := connector.Connector{ID: "gh-elsewhere", System: connector.GitHub, Deployment: connector.Cloud, AuthMode: connector.AuthAnonymous, Project: "acme/widgets", PollInterval: time.Minute}
	if _, err := store.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "a connector stored elsewhere in the registry's answers", func() bool {
		_, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "gh-elsewhere"})
		return err == nil
	})
	if err := store.Delete(ctx, "gh-elsewhere", 0); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "a connector deleted elsewhere gone from the registry's answers", func() bool {
		_, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: "gh-elsewhere"})
		return status.Code(err) == codes.NotFound
	})
}
