// Command bench measures what the README's figures and docs/capacity.md
// quote, in one run, on this machine, with the public APIs of the services
// (so it measures whatever code the branch has):
//
//   - discovery: tickets per second from each fake tracker to persisted
//     ticket.discovered events, beside the raw JetStream publish rate of
//     messages of the same size in the same run, and the cost of an idle
//     poll cycle (discovery.go);
//   - scale: N connectors on R poller replicas (child processes of a built
//     `hub --target poller`) against a loopback fake GitHub answering 304 /
//     empty: polls needed vs done per interval, late polls, RSS and CPU per
//     process (scale.go);
//   - registry: ListConnectors (all pages, one page of 500), GetConnector
//     and CreateConnector latencies over gRPC with N connectors stored
//     (registry.go);
//   - writeback: results written per second against the fake Jira, with the
//     ledger (writeback.go);
//   - latency: tracker change → ticket.updated, p50 and p99, polled and with
//     a signed webhook, in the same run (latency.go).
//
// Every part runs -reps times (3 by default); report.go prints the median
// with the min and max. -quick runs one repetition at smaller sizes.
//
//	go run ./cmd/bench [-quick] [-parts discovery,scale,registry,writeback,latency]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var allParts = []string{"discovery", "scale", "registry", "writeback", "latency"}

// options are the command line, after -quick applied its defaults.
type options struct {
	parts []string
	reps  int

	tickets      []int
	systems      []string // discovery: the trackers measured (empty: all)
	profileDir   string   // discovery: CPU profiles of the timed windows
	idle         time.Duration
	idleInterval time.Duration

	scale         []scaleCase
	scaleInterval time.Duration
	scaleWindow   int // intervals measured after the warm-up
	hubBinary     string
	scaleProfile  string // scale: heap profiles and memory breakdowns of the replicas, into this directory

	registryN int
	samples   int

	results    int
	wbConnects int

	latChanges  int
	latInterval time.Duration

	cpuProfile string // a CPU profile of the whole run, for go tool pprof

	telemetryRuns int // > 0: only discovery with tracing off vs on (telemetry.go)
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "one repetition at smaller sizes (for a first look, or to debug the bench)")
	parts := fs.String("parts", strings.Join(allParts, ","), "parts to run, a comma list of "+strings.Join(allParts, ", "))
	reps := fs.Int("reps", 0, "repetitions of every part (default 3, 1 with -quick)")
	tickets := fs.String("tickets", "", "discovery: tickets per tracker, a comma list (default 1000,10000; -quick 1000)")
	systems := fs.String("trackers", "", "discovery and -telemetry: only these trackers, a comma list of systems (default all; discovery also knows jira-dc, Jira Data Center, run only when named)")
	idle := fs.Duration("idle", 4*time.Second, "discovery: how long to measure idle cycles")
	idleInterval := fs.Duration("interval", 100*time.Millisecond, "discovery: poll interval during the idle measurement")
	scale := fs.String("scale", "", "scale: connectors x replicas, a comma list (default 1000x1,10000x1,10000x3; -quick 300x1,1000x1,1000x3)")
	scaleInterval := fs.Duration("scale-interval", 0, "scale: every connector's poll interval (default 20s, -quick 10s; the registry accepts 10s and up)")
	scaleWindow := fs.Int("scale-window", 0, "scale: intervals measured after one interval of warm-up (default 3, -quick 2)")
	scaleProfile := fs.String("scale-profile", "", "scale: at the window's end, write each replica's heap profile (go tool pprof) and memory breakdown (heap in use, GC headroom, stacks, runtime, RSS) into this directory; the replicas run with HUB_PPROF=true")
	hub := fs.String("hub", "", "scale: a built hub binary (default: go build ./cmd/hub into a temporary directory)")
	registryN := fs.Int("registry-connectors", 0, "registry: connectors stored (default 10000, -quick 1000)")
	samples := fs.Int("registry-samples", 0, "registry: Get and Create calls timed (default 1000, -quick 200)")
	results := fs.Int("results", 0, "writeback: results written (default 3000, -quick 500)")
	wbConnectors := fs.Int("writeback-connectors", 20, "writeback: connectors the results are spread over")
	latChanges := fs.Int("latency-changes", 0, "latency: ticket changes timed (default 40, -quick 10)")
	latInterval := fs.Duration("latency-interval", 5*time.Second, "latency: the poll interval of both connectors")
	windowProfiles := fs.String("window-profiles", "", "discovery: write a CPU profile of each timed window (discovery, raw publish) into this directory (not with -cpuprofile)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	telemetryRuns := fs.Int("telemetry", 0, "instead: discovery with tracing off vs on (OTLP to an in-process collector), this many runs of each, at the first -tickets size (telemetry.go)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{telemetryRuns: *telemetryRuns, reps: *reps, idle: *idle, idleInterval: *idleInterval, scaleInterval: *scaleInterval, scaleWindow: *scaleWindow,
		hubBinary: *hub, scaleProfile: *scaleProfile, registryN: *registryN, samples: *samples, results: *results, wbConnects: *wbConnectors, cpuProfile: *cpuProfile,
		latInterval: *latInterval}
	pick := func(v, full, q int) int {
		switch {
		case v > 0:
			return v
		case *quick:
			return q
		}
		return full
	}
	o.reps = pick(o.reps, 3, 1)
	o.scaleWindow = pick(o.scaleWindow, 3, 2)
	o.registryN = pick(o.registryN, 10000, 1000)
	o.samples = pick(o.samples, 1000, 200)
	o.results = pick(o.results, 3000, 500)
	o.latChanges = pick(*latChanges, 40, 10)
	if o.latInterval < time.Second {
		return o, errors.New("-latency-interval must be at least 1s")
	}
	if o.scaleInterval == 0 {
		o.scaleInterval = 20 * time.Second
		if *quick {
			o.scaleInterval = 10 * time.Second
		}
	}
	for p := range strings.SplitSeq(*parts, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allParts, p) {
			return o, fmt.Errorf("-parts: %q is not one of %s", p, strings.Join(allParts, ", "))
		}
		o.parts = append(o.parts, p)
	}
	for sys := range strings.SplitSeq(*systems, ",") {
		if sys = strings.TrimSpace(sys); sys != "" {
			o.systems = append(o.systems, sys)
		}
	}
	if *tickets == "" {
		*tickets = "1000,10000"
		if *quick {
			*tickets = "1000"
		}
	}
	o.profileDir = *windowProfiles
	if o.profileDir != "" && o.cpuProfile != "" {
		return o, errors.New("-window-profiles and -cpuprofile cannot be used together (one CPU profile at a time)")
	}
	for t := range strings.SplitSeq(*tickets, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-tickets: %q is not a positive number", t)
		}
		o.tickets = append(o.tickets, n)
	}
	if *scale == "" {
		*scale = "1000x1,10000x1,10000x3"
		if *quick {
			*scale = "300x1,1000x1,1000x3"
		}
	}
	for s := range strings.SplitSeq(*scale, ",") {
		c, err := parseScaleCase(strings.TrimSpace(s))
		if err != nil {
			return o, err
		}
		o.scale = append(o.scale, c)
	}
	if o.scaleInterval < 10*time.Second {
		return o, errors.New("-scale-interval: the registry accepts poll intervals of 10s and up")
	}
	if o.wbConnects < 1 {
		return o, errors.New("-writeback-connectors must be at least 1")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.telemetryRuns > 0 {
		return runTelemetry(ctx, o.tickets[0], o.telemetryRuns, o.systems, stdout, stderr)
	}
	rep := newReport()
	defer removeBuiltHub()
	progress := func(format string, a ...any) {
		fmt.Fprintf(stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	for _, part := range o.parts {
		for i := range o.reps {
			progress("%s, repetition %d of %d", part, i+1, o.reps)
			var err error
			switch part {
			case "discovery":
				err = runDiscovery(ctx, o, rep, progress)
			case "scale":
				err = runScale(ctx, o, rep, progress)
			case "registry":
				err = runRegistry(ctx, o, rep, progress)
			case "writeback":
				err = runWriteback(ctx, o, rep, progress)
			case "latency":
				err = runLatency(ctx, o, rep, progress)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", part, err)
			}
		}
	}
	rep.print(stdout, o)
	return nil
}

// plain holds the bench's credentials in clear where a service runs in this
// process: encryption is measured by pkg/secrets, not here.
type plain struct{}

func (plain) Decrypt(_ context.Context, _, ct string) ([]byte, error) { return []byte(ct), nil }
