package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/azuredevops/azuredevopsfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket/bitbucketfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty/pagerdutyfake"
	"github.com/connectorhub/connectorhub/services/poller"
)

// Discovery: one poller (poller.Run, in this process) against one fake
// tracker on an embedded JetStream. First discovery of n tickets, then idle
// cycles, then n raw publishes of the same average size to the same server.

// handler is a fake tracker: an HTTP handler that counts requests.
type handler interface {
	http.Handler
	Requests() int
}

// fake is one tracker under test.
type fake struct {
	system connector.System
	// name tells a second deployment of a system apart (jira-dc); such a
	// case runs only when -trackers names it.
	name      string
	optIn     bool
	handler   handler
	points    func() int // rate-limit points used so far; nil when the tracker has none
	connector func(url string) connector.Connector
	seed      func(n int, now time.Time)
}

// label names the case: its system, or its name when it has one.
func (f fake) label() string {
	if f.name != "" {
		return f.name
	}
	return string(f.system)
}

func fakes() []fake {
	jira := jirafake.NewSandbox(connector.Cloud)
	jiraDC := jirafake.NewSandbox(connector.SelfHosted)
	gh := githubfake.NewSandbox()
	gl := gitlabfake.NewSandbox()
	az := azuredevopsfake.NewSandbox()
	bb := bitbucketfake.NewSandbox()
	pd := pagerdutyfake.NewSandbox()
	return []fake{
		{
			system: connector.Jira, handler: jira,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.Jira, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBasic,
					Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject, Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					jira.AddTicket(jirafake.Ticket{Summary: fmt.Sprintf("Bench ticket %d", i), Description: benchDescription,
						Labels: []string{"bench"}, Assignee: jirafake.SandboxEmail, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
		{
			// Jira Data Center: REST v2 with startAt paging, wiki markup bodies.
			system: connector.Jira, name: "jira-dc", optIn: true, handler: jiraDC,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.Jira, Deployment: connector.SelfHosted, BaseURL: url, AuthMode: connector.AuthBearer,
					Project: jirafake.SandboxProject, Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					jiraDC.AddTicket(jirafake.Ticket{Summary: fmt.Sprintf("Bench ticket %d", i), Description: benchDescription,
						Labels: []string{"bench"}, Assignee: jirafake.SandboxEmail, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
		{
			system: connector.GitHub, handler: gh, points: gh.RateLimitUsed,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: url + "/api/v3/", AuthMode: connector.AuthBearer,
					Project: githubfake.SandboxRepo, Credential: connector.Credential{Ciphertext: githubfake.SandboxToken}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					gh.AddIssue(githubfake.SandboxRepo, githubfake.Issue{Title: fmt.Sprintf("Bench issue %d", i), Body: benchDescription, Labels: []string{"bench"},
						Assignees: []string{githubfake.SandboxLogin}, Author: "rita", Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
		{
			system: connector.GitLab, handler: gl,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.GitLab, Deployment: connector.SelfHosted, BaseURL: url, AuthMode: connector.AuthBearer,
					Project: gitlabfake.SandboxProject, Credential: connector.Credential{Ciphertext: gitlabfake.SandboxToken}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					gl.AddIssue(gitlabfake.Issue{ProjectID: 42, Title: fmt.Sprintf("Bench issue %d", i), Description: benchDescription, Labels: []string{"bench"},
						Assignees: []string{gitlabfake.SandboxUser}, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
		{
			system: connector.AzureDevOps, handler: az,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.AzureDevOps, Deployment: connector.SelfHosted, BaseURL: url, AuthMode: connector.AuthBearer,
					Project:    azuredevopsfake.SandboxOrganization + "/" + azuredevopsfake.SandboxProject,
					Credential: connector.Credential{Ciphertext: azuredevopsfake.SandboxPAT}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					az.AddWorkItem(azuredevopsfake.WorkItem{Title: fmt.Sprintf("Bench work item %d", i), Description: benchDescription, Tags: []string{"bench"},
						AssignedTo: azuredevopsfake.SandboxUser, CreatedBy: "rita@acme.example", Created: now.Add(-2 * time.Hour),
						Changed: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
		{
			system: connector.Bitbucket, handler: bb,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.Bitbucket, Deployment: connector.Cloud, BaseURL: url + "/2.0", AuthMode: connector.AuthBasic,
					Username: bitbucketfake.SandboxEmail, Project: bitbucketfake.SandboxRepo, Credential: connector.Credential{Ciphertext: bitbucketfake.SandboxToken}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					bb.AddIssue(bitbucketfake.Issue{Repo: bitbucketfake.SandboxRepo, Title: fmt.Sprintf("Bench issue %d", i), Content: benchDescription, Kind: "bug",
						Assignee: bitbucketfake.SandboxUUID, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
		{
			system: connector.PagerDuty, handler: pd,
			connector: func(url string) connector.Connector {
				return connector.Connector{System: connector.PagerDuty, Deployment: connector.Cloud, BaseURL: url, AuthMode: connector.AuthBearer,
					Credential: connector.Credential{Ciphertext: pagerdutyfake.SandboxKey}}
			},
			seed: func(n int, now time.Time) {
				for i := range n {
					pd.AddIncident(pagerdutyfake.Incident{Title: fmt.Sprintf("Bench incident %d", i), Details: benchDescription, ServiceID: "PSVC001",
						Assignees: []string{pagerdutyfake.SandboxUserID}, Created: now.Add(-2 * time.Hour), Updated: now.Add(-time.Hour + time.Duration(i)*time.Millisecond)})
				}
			},
		},
	}
}

const benchDescription = "Steps to reproduce:\n\n1. Open the **report** page\n2. Export as `CSV`\n\nThe last row is missing. See [the guide](https://example.com/guide)."

type discoveryRow struct {
	discover, raw          time.Duration
	discoverCPU, rawCPU    time.Duration // the process's CPU time (all of it: poller, fake, NATS server, bench) in each window
	discoverMallocs        uint64        // heap allocations in the discovery window (the whole process)
	avgBytes               int           // a discovery event's stored size (subject, headers, payload)
	rawBytes               int           // a raw message's stored size, the same when the bench is right
	incremental, reconcile cycleCost
}

// cycleCost sums what idle cycles of one kind cost.
type cycleCost struct {
	cycles, requests, points int
}

func runDiscovery(ctx context.Context, o options, rep *report, progress func(string, ...any)) error {
	var known []string
	for _, f := range fakes() {
		known = append(known, f.label())
	}
	for _, sys := range o.systems {
		if !slices.Contains(known, sys) {
			return fmt.Errorf("-trackers: unknown system %q (known: %s)", sys, strings.Join(known, ", "))
		}
	}
	for _, n := range o.tickets {
		for _, f := range fakes() {
			if len(o.systems) > 0 && !slices.Contains(o.systems, f.label()) || len(o.systems) == 0 && f.optIn {
				continue
			}
			r, err := measureDiscovery(ctx, f, n, o.idle, o.idleInterval, o.profileDir)
			if err != nil {
				return fmt.Errorf("%s, %d tickets: %w", f.label(), n, err)
			}
			cas := fmt.Sprintf("%s, %d tickets", f.label(), n)
			disc, raw := float64(n)/r.discover.Seconds(), float64(n)/r.raw.Seconds()
			rep.add("discovery", cas, metric{"discovery (tickets/s)", "%.0f"}, disc)
			rep.add("discovery", cas, metric{"raw publish, same size (msgs/s)", "%.0f"}, raw)
			rep.add("discovery", cas, metric{"discovery / raw", "%.1f%%"}, 100*disc/raw)
			rep.add("discovery", cas, metric{"event (bytes)", "%.0f"}, float64(r.avgBytes))
			rep.add("discovery", cas, metric{"raw message (bytes)", "%.0f"}, float64(r.rawBytes))
			dcpu, rcpu := r.discoverCPU.Seconds()*1e6/float64(n), r.rawCPU.Seconds()*1e6/float64(n)
			rep.add("discovery", cas, metric{"discovery CPU (µs/ticket)", "%.0f"}, dcpu)
			rep.add("discovery", cas, metric{"raw CPU (µs/msg)", "%.0f"}, rcpu)
			rep.add("discovery", cas, metric{"discovery allocs / ticket", "%.0f"}, float64(r.discoverMallocs)/float64(n))
			if dcpu > 0 {
				rep.add("discovery", cas, metric{"CPU raw / discovery", "%.1f%%"}, 100*rcpu/dcpu)
			}
			if c := r.incremental; c.cycles > 0 {
				rep.add("discovery", cas, metric{"idle incremental cycle (req)", "%.1f"}, float64(c.requests)/float64(c.cycles))
			}
			if c := r.reconcile; c.cycles > 0 {
				rep.add("discovery", cas, metric{"idle reconcile cycle, every 10th (req)", "%.1f"}, float64(c.requests)/float64(c.cycles))
			}
			if f.points != nil {
				c := r.incremental
				c.points += r.reconcile.points
				c.cycles += r.reconcile.cycles
				rep.add("discovery", cas, metric{"rate-limit points per idle cycle", "%.1f"}, float64(c.points)/float64(max(c.cycles, 1)))
			}
			progress("discovery %s: %.0f tickets/s, raw %.0f msgs/s; CPU %.0f µs/ticket, raw %.0f µs/msg", cas, disc, raw, dcpu, rcpu)
		}
	}
	rep.note("discovery", "Discovery: a fake tracker over loopback HTTP to persisted ticket.discovered events, one poller (poller.Run) in the bench process; "+
		"raw: async JetStream publishes of messages of the same size to the same embedded server, in the same run. "+
		"Idle cycles: nothing changed at the tracker, after the first reconcile (steady state); GitHub counts rate-limit points, a 304 costs none.")
	return nil
}

// measureDiscovery runs one poller against one fake: first discovery of n
// tickets, then idle cycles; then publishes n raw messages of the same
// average size.
func measureDiscovery(ctx context.Context, f fake, n int, idle, interval time.Duration, profileDir string) (discoveryRow, error) {
	var r discoveryRow
	env, err := startBus(ctx, "")
	if err != nil {
		return r, err
	}
	defer env.close()
	js := env.js
	f.seed(n, time.Now())
	clock := &firstRequest{next: f.handler}
	ts := httptest.NewServer(clock)
	defer ts.Close()

	kv, err := js.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		return r, err
	}
	store := connector.NewStore(kv)
	c := f.connector(ts.URL)
	// The idle interval from the start: the first cycle's length does not
	// depend on it, and changing the interval mid-run could meet the race
	// of issue 9 (a shortened interval lost after a cycle).
	c.ID, c.Enabled, c.PollInterval = "bench-"+f.label(), true, interval
	c.ApplyDefaults(all.Registry())
	if c, err = store.Create(ctx, c); err != nil {
		return r, err
	}
	// The fake encodes each ticket once and serves it from a cache after:
	// one untimed listing fills it, so the timed discovery does not count
	// the fake tracker's own JSON encoding (a real tracker does that on its
	// own machine, not on the poller's cores).
	if err := warmFake(ctx, c); err != nil {
		return r, fmt.Errorf("warming the fake: %w", err)
	}
	stopProfile, err := windowProfile(profileDir, fmt.Sprintf("discovery-%s-%d", f.label(), n))
	if err != nil {
		return r, err
	}
	defer stopProfile()
	cpu0, mallocs0 := processCPU(), mallocs()
	clock.arm()
	states, err := newStateWatch(ctx, js)
	if err != nil {
		return r, err
	}
	defer states.stop()
	stream, err := js.Stream(ctx, bus.StreamTickets)
	if err != nil {
		return r, err
	}

	cfg := poller.DefaultConfig()
	cfg.ReplicaID, cfg.Tick, cfg.ReconcileEvery = "bench", 10*time.Millisecond, 10
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- poller.Run(pctx, cfg, poller.Deps{JS: js, Decrypter: plain{}, Logger: slog.New(slog.DiscardHandler), Trackers: all.Registry()})
	}()
	var stopOnce sync.Once
	stopPoller := func() { stopOnce.Do(func() { cancel(); <-done }) }
	defer stopPoller()

	// 1. First discovery: until the first cycle has published every ticket
	// and recorded itself. The events are counted on the stream (a cheap
	// info call); the poll state is read only when it changes.
	if err := waitEvents(ctx, stream, uint64(n)); err != nil {
		return r, err
	}
	r.discoverCPU, r.discoverMallocs = processCPU()-cpu0, mallocs()-mallocs0
	stopProfile()
	st, err := states.wait(ctx, c.ID, func(st connector.PollState) bool { return st.Cycles >= 1 })
	if err != nil {
		return r, err
	}
	// From the cycle's first request to the tracker to the last event
	// stored (the server's timestamp): the poller's start, its lease and
	// its first tick are not discovery, as connecting and creating the
	// stream are not part of the raw figure.
	if r.discover, err = clock.until(ctx, stream); err != nil {
		return r, err
	}
	if st.KnownCount < n {
		return r, fmt.Errorf("first cycle knows %d tickets, want at least %d (last error %q)", st.KnownCount, n, st.LastError)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return r, err
	}
	if info.State.Msgs == 0 {
		return r, errors.New("no events were persisted")
	}
	r.avgBytes = int(info.State.Bytes / info.State.Msgs)

	// 2. Idle cycles: nothing changes at the tracker.
	// Start counting after the first reconcile listing, which fills the ETag
	// cache of whole-set pages: from then on every cycle is steady state.
	before, err := states.wait(ctx, c.ID, func(st connector.PollState) bool { return st.Cycles > int64(cfg.ReconcileEvery) })
	if err != nil {
		return r, err
	}
	// Read the state each time it changes to attribute requests to each
	// cycle, split into incremental cycles and whole-set reconcile cycles.
	points := func() int {
		if f.points == nil {
			return 0
		}
		return f.points()
	}
	lastCycles, lastReqs, lastPts := before.Cycles, f.handler.Requests(), points()
	end := time.Now().Add(idle)
	for time.Now().Before(end) {
		if !states.changed(ctx, time.Until(end)) {
			break
		}
		st, err := states.store.Head(ctx, c.ID) // one read, not the known tickets
		if err != nil || st.Cycles == lastCycles {
			continue
		}
		reqs, pts := f.handler.Requests(), points()
		if st.Cycles == lastCycles+1 { // one cycle completed since the last sample
			idx := st.Cycles - 1
			k := &r.incremental
			if idx%int64(cfg.ReconcileEvery) == int64(cfg.ReconcileEvery-1) {
				k = &r.reconcile
			}
			k.cycles++
			k.requests += reqs - lastReqs
			k.points += pts - lastPts
		}
		lastCycles, lastReqs, lastPts = st.Cycles, reqs, pts
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if r.incremental.cycles == 0 {
		return r, errors.New("no idle cycle was observed")
	}
	if info2, err := stream.Info(ctx); err == nil && info2.State.Msgs != info.State.Msgs {
		return r, fmt.Errorf("idle cycles published %d events", info2.State.Msgs-info.State.Msgs)
	}
	// 3. Raw JetStream publish of n messages of the same size, same server.
	// The poller stops first: its idle cycles would be charged to the raw
	// window's CPU.
	stopPoller()
	stopRaw, err := windowProfile(profileDir, fmt.Sprintf("raw-%s-%d", f.label(), n))
	if err != nil {
		return r, err
	}
	defer stopRaw()
	cpu0 = processCPU()
	r.raw, r.rawBytes, err = rawPublish(ctx, js, n, r.avgBytes)
	r.rawCPU = processCPU() - cpu0
	return r, err
}

// mallocs is the number of heap allocations so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// processCPU is the CPU time (user and system) this process used so far.
// On a machine shared with other work, CPU per ticket compares two windows
// better than their wall-clock times do.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// windowProfile starts a CPU profile of the whole process into dir/name.prof
// when dir is set; stop ends it (once; later calls do nothing).
func windowProfile(dir, name string) (stop func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, name+".prof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	// The allocations of the window: `go tool pprof -sample_index=alloc_space
	// -base name.allocs0.prof name.allocs1.prof`.
	writeAllocs := func(suffix string) {
		// The profile is as of the last GC: one now leaves out what came
		// before the window (profiling only; the timed figures then differ
		// from a run without -window-profiles by a collection).
		runtime.GC()
		if a, err := os.Create(filepath.Join(dir, name+suffix)); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(a, 0)
			a.Close()
		}
	}
	writeAllocs(".allocs0.prof")
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
			writeAllocs(".allocs1.prof")
		})
	}, nil
}

// firstRequest passes requests to next and, once armed, notes when the
// first one arrived: the start of the timed discovery.
type firstRequest struct {
	next  http.Handler
	armed atomic.Bool
	first atomic.Int64 // unix nanoseconds
}

func (h *firstRequest) arm() { h.armed.Store(true) }

func (h *firstRequest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.armed.Load() {
		h.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	h.next.ServeHTTP(w, r)
}

// until is the time from the first request to the last event stored in stream.
func (h *firstRequest) until(ctx context.Context, stream jetstream.Stream) (time.Duration, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	last, err := stream.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		return 0, err
	}
	first := h.first.Load()
	d := last.Time.Sub(time.Unix(0, first))
	if first == 0 || d <= 0 {
		return 0, fmt.Errorf("no plausible discovery time (first request %d, last event %s)", first, last.Time)
	}
	return d, nil
}

// warmFake lists every ticket of c once through its tracker (nothing is
// published), so the fake's per-ticket encoding cache is full.
func warmFake(ctx context.Context, c connector.Connector) error {
	reg := all.Registry()
	tr, ok := reg.Lookup(c.System)
	if !ok {
		return fmt.Errorf("no tracker for %s", c.System)
	}
	d, ok := tr.(trackers.Discoverer)
	if !ok {
		return fmt.Errorf("%s has no discovery", c.System)
	}
	sess, err := trackers.NewSessions(reg, plain{}, trackers.Options{}).Get(ctx, c)
	if err != nil {
		return err
	}
	token := ""
	for range 100000 {
		page, err := d.Discover(ctx, sess, trackers.DiscoveryQuery{PageToken: token, Full: true})
		if err != nil {
			return err
		}
		if page.NextPageToken == "" {
			return nil
		}
		token = page.NextPageToken
	}
	return errors.New("the listing does not end")
}

// waitEvents waits until stream holds at least n messages.
func waitEvents(ctx context.Context, stream jetstream.Stream, n uint64) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		info, err := stream.Info(ctx)
		if err == nil && info.State.Msgs >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %d events", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		// Each look is a JetStream API request the server answers in the
		// timed window; the discovery time is taken from the last event's
		// stored time, so looking less often costs it no precision.
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// stateWatch reads poll states only when the poll_state bucket changed: a
// watch without values tells when (whatever keys the poller writes), and
// StateStore.Head reads the state's head (not its known tickets) then.
type stateWatch struct {
	store *connector.StateStore
	w     jetstream.KeyWatcher
}

func newStateWatch(ctx context.Context, js jetstream.JetStream) (*stateWatch, error) {
	kv, err := js.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.MetaOnly(), jetstream.UpdatesOnly())
	if err != nil {
		return nil, err
	}
	return &stateWatch{store: connector.NewStateStore(kv), w: w}, nil
}

func (s *stateWatch) stop() { _ = s.w.Stop() }

// changed waits up to d for a change, then drains the changes already
// queued; false when d passed or ctx ended without one.
func (s *stateWatch) changed(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	case <-s.w.Updates():
	}
	for {
		select {
		case <-s.w.Updates():
		default:
			return true
		}
	}
}

// wait reads the state of id after each change until ok holds.
func (s *stateWatch) wait(ctx context.Context, id string, ok func(connector.PollState) bool) (connector.PollState, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		st, err := s.store.Head(ctx, id) // one read, not the known tickets
		if err == nil && ok(st) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("timed out (last error %q)", st.LastError)
		}
		// A second is the fallback should a change be missed.
		s.changed(ctx, time.Second)
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
	}
}

// rawPublish publishes n messages of size bytes to a scratch stream
// configured as TICKETS, asynchronously with all acks awaited — the
// ceiling discovery is compared with. At most the client's default of
// pending publishes are in flight; a publish waits for room.
//
// size is a stored message's size as the stream counts it (its subject,
// headers and payload, plus the store's record overhead): the payload is
// what is left of it beside the raw message's own subject and Nats-Msg-Id,
// so raw and discovery messages are the same size stored, headers counted
// the same way. stored is the raw messages' average size as stored.
func rawPublish(ctx context.Context, js jetstream.JetStream, n, size int) (d time.Duration, stored int, err error) {
	// The TICKETS stream's own configuration (limits, duplicate window,
	// storage), under another name and subject.
	var cfg jetstream.StreamConfig
	for _, sc := range (bus.ProvisionOptions{}).StreamConfigs() {
		if sc.Name == bus.StreamTickets {
			cfg = sc
		}
	}
	cfg.Name, cfg.Description, cfg.Subjects = "BENCH", "raw publishes of the discovery bench", []string{"bench.>"}
	stream, err := js.CreateStream(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	const subject = "bench.raw"
	id := func(i int) string { return fmt.Sprintf("raw-%08d", i) } // one length for all
	payload := []byte(strings.Repeat("x", max(size-storedOverhead(subject, nats.Header{jetstream.MsgIDHeader: {id(0)}}), 0)))
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, id(i))
		f, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(time.Minute))
		if err != nil {
			return 0, 0, err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, 0, err
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	d = time.Since(start)
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	if info.State.Msgs == 0 {
		return 0, 0, errors.New("no raw message was stored")
	}
	return d, int(info.State.Bytes / info.State.Msgs), nil
}

// storedOverhead is what a message of this subject and header counts in a
// stream's bytes beside its payload: the file store's record (22 bytes of
// lengths and sequence, 4 of header length, 8 of hash), the subject, and the
// header as sent ("NATS/1.0\r\n", a line per value, a blank line).
func storedOverhead(subject string, h nats.Header) int {
	n := 22 + 4 + 8 + len(subject) + len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

// busEnv is an embedded NATS JetStream server, provisioned, in a scratch directory.
type busEnv struct {
	dir string
	srv *bus.Embedded
	nc  *nats.Conn
	js  jetstream.JetStream
}

// startBus starts the server; listen is a TCP address for other processes
// ("127.0.0.1:0"), or empty for in-process connections only.
func startBus(ctx context.Context, listen string) (*busEnv, error) {
	dir, err := os.MkdirTemp("", "connectorhub-bench-")
	if err != nil {
		return nil, err
	}
	e := &busEnv{dir: dir}
	if e.srv, err = bus.StartEmbedded(ctx, bus.EmbeddedConfig{StoreDir: dir + "/nats", Listen: listen}); err != nil {
		e.close()
		return nil, err
	}
	if e.nc, err = e.srv.Connect(); err != nil {
		e.close()
		return nil, err
	}
	if e.js, err = jetstream.New(e.nc); err != nil {
		e.close()
		return nil, err
	}
	if err := bus.Provision(ctx, e.js, bus.ProvisionOptions{}); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *busEnv) close() {
	if e.nc != nil {
		e.nc.Close()
	}
	if e.srv != nil {
		e.srv.Shutdown()
	}
	_ = os.RemoveAll(e.dir)
}
