package registry_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// TestRegistryLatenciesAtScale measures the registry's API with 10,000
// connectors stored (each with a poll state), through gRPC on loopback with
// the local keyring. Opt-in, it takes about a minute:
//
//	REGISTRY_SCALE=1 go test -count=1 -run TestRegistryLatenciesAtScale -v ./services/registry/
//
// REGISTRY_SCALE_N changes the number of connectors. It fails when a
// figure misses the target of issue 9 (list of all < 200 ms, a page of 500
// < 20 ms, Get p99 < 1 ms, Create p99 < 10 ms).
func TestRegistryLatenciesAtScale(t *testing.T) {
	if os.Getenv("REGISTRY_SCALE") == "" {
		t.Skip("opt-in: set REGISTRY_SCALE=1")
	}
	n := 10000
	if v := os.Getenv("REGISTRY_SCALE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("REGISTRY_SCALE_N=%q", v)
		}
	}
	srv := registrytest.Start(t, registrytest.WithTester(&recordingTester{}))
	admin := srv.Dial(t, srv.AdminToken)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Fill: n connectors through the API, 8 callers at once, and a poll
	// state for each (as pollers would write it).
	kv, err := srv.JS.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	states := connector.NewStateStore(kv)
	fillStart := time.Now()
	polled := time.Now().UTC()
	fill := func(i int) error {
		id := fmt.Sprintf("gh-scale-%05d", i)
		if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: id, Credential: "ghp_scale0000000000000000001"}); err != nil {
			return err
		}
		_, err := states.Put(ctx, id, connector.PollState{LastPoll: polled, LastSuccess: polled, NextPoll: polled.Add(time.Minute), Known: map[string]time.Time{"1": polled, "2": polled}})
		return err
	}
	var (
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 8)
		errOnce  sync.Once
		firstErr error
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fill(i); err != nil {
				errOnce.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("fill: %v", firstErr)
	}
	t.Logf("stored %d connectors and poll states in %v", n, time.Since(fillStart).Round(time.Millisecond))

	// The list of all, 500 a page (the largest page), 5 times.
	var lists, pages []time.Duration
	for range 5 {
		start := time.Now()
		token, seen := "", 0
		for {
			p0 := time.Now()
			resp, err := admin.ListConnectors(ctx, &chv1.ListConnectorsRequest{PageSize: 500, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, time.Since(p0))
			seen += len(resp.GetConnectors())
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		lists = append(lists, time.Since(start))
		if seen != n {
			t.Fatalf("listed %d connectors, want %d", seen, n)
		}
	}
	resp, err := admin.ListConnectors(ctx, &chv1.ListConnectorsRequest{PageSize: 500})
	if err != nil || resp.GetConnectors()[0].GetStatus().GetTicketsKnown() != 2 {
		t.Fatalf("listed status = %v, %v; want 2 tickets known", resp.GetConnectors()[0].GetStatus(), err)
	}

	// Get: 2,000 random connectors, one at a time.
	var gets []time.Duration
	for range 2000 {
		id := fmt.Sprintf("gh-scale-%05d", rand.IntN(n))
		start := time.Now()
		if _, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
		gets = append(gets, time.Since(start))
	}

	// Create: 500 more, one at a time, each read back at once (read-your-writes).
	var creates []time.Duration
	for i := range 500 {
		id := fmt.Sprintf("gh-extra-%05d", i)
		start := time.Now()
		if _, err := admin.CreateConnector(ctx, &chv1.CreateConnectorRequest{Connector: githubConnector(), ConnectorId: id, Credential: "ghp_scale0000000000000000001"}); err != nil {
			t.Fatal(err)
		}
		creates = append(creates, time.Since(start))
		if _, err := admin.GetConnector(ctx, &chv1.GetConnectorRequest{Id: id}); err != nil {
			t.Fatalf("get right after create: %v", err)
		}
	}

	type row struct {
		what        string
		figures     []time.Duration
		pick        float64 // the percentile held to the target
		target      time.Duration
		targetLabel string
	}
	rows := []row{
		{fmt.Sprintf("ListConnectors, all %d (pages of 500)", n), lists, 0.5, 200 * time.Millisecond, "median < 200ms"},
		{"ListConnectors, one page of 500", pages, 0.5, 20 * time.Millisecond, "median < 20ms"},
		{"GetConnector", gets, 0.99, time.Millisecond, "p99 < 1ms"},
		{"CreateConnector (local keyring)", creates, 0.99, 10 * time.Millisecond, "p99 < 10ms"},
	}
	t.Logf("| call | calls | p50 | p99 | max | target |")
	t.Logf("| --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		t.Logf("| %s | %d | %v | %v | %v | %s |", r.what, len(r.figures), pct(r.figures, 0.5), pct(r.figures, 0.99), pct(r.figures, 1), r.targetLabel)
		if got := pct(r.figures, r.pick); got >= r.target {
			t.Errorf("%s: %v, want %s", r.what, got, r.targetLabel)
		}
	}
}

// pct is the p-th percentile (nearest rank) of ds, rounded for reading.
func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(int(p*float64(len(s))+0.5), len(s)) - 1
	return s[max(i, 0)].Round(10 * time.Microsecond)
}
