package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/services/poller"
)

// The telemetry option (-telemetry) measures first discovery with tracing
// off (no tracer provider: the API's no-op, as in a process without OTEL_*
// variables) and on (the SDK with a batching OTLP/HTTP exporter sending to
// an in-process collector that decodes every export), alternating in the
// same run, and prints discovery throughput of each (median and best of the
// runs: on a shared machine the best is the least disturbed), the ratios,
// and the process's CPU time per ticket, the steadier measure of the cost.

// collector is an in-process OTLP/HTTP trace receiver. It keeps the export
// requests and decodes them only when asked (spans), outside the measured
// window: in production the collector's work is done on another machine.
type collector struct {
	srv *httptest.Server

	mu     sync.Mutex
	bodies [][]byte
}

func newCollector() *collector {
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.bodies = append(c.bodies, body)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	return c
}

// spans decodes the exports received so far and returns how many spans
// they held, and how many ticket.discovered messages their send spans
// covered (a batch's messaging.batch.message_count, 1 for a single
// message); an undecodable export is an error.
func (c *collector) spans() (n, sent int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bodies {
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			return 0, 0, fmt.Errorf("collector: undecodable export: %w", err)
		}
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				n += int64(len(ss.GetSpans()))
				for _, s := range ss.GetSpans() {
					if s.GetName() != "send ticket.discovered" {
						continue
					}
					count := int64(1)
					for _, a := range s.GetAttributes() {
						if a.GetKey() == "messaging.batch.message_count" {
							count = a.GetValue().GetIntValue()
						}
					}
					sent += count
				}
			}
		}
	}
	c.bodies = nil
	return n, sent, nil
}

// tracingOn installs a tracer provider exporting to c, as
// telemetry.SetupTracing does for OTEL_EXPORTER_OTLP_ENDPOINT; the returned
// func flushes and uninstalls it.
func tracingOn(ctx context.Context, c *collector) (func() error, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.srv.URL+"/v1/traces"))
	if err != nil {
		return nil, err
	}
	tp, err := telemetry.NewTracerProvider(ctx, "connectorhub-bench", sdktrace.WithBatcher(exp))
	if err != nil {
		return nil, err
	}
	telemetry.Install(tp)
	return func() error {
		err := tp.Shutdown(ctx) // flushes: the collector has every span
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		return err
	}, nil
}

// runTelemetry prints, per tracker, first discovery of n tickets with
// tracing off and on: reps runs of each, alternating, medians compared.
func runTelemetry(ctx context.Context, n, reps int, systems []string, stdout, stderr io.Writer) error {
	col := newCollector()
	defer col.srv.Close()
	fmt.Fprintf(stderr, "bench: telemetry off vs on, %d tickets per tracker, %d runs of each\n", n, reps)
	fmt.Fprintf(stdout, "connectorhub bench -telemetry, %s, %d tickets, %d on/off pairs; %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), n, reps, loadAverage())
	fmt.Fprintln(stdout, "| system | tickets | tracing off (tickets/s, median / best) | tracing on (tickets/s, median / best) | on / off (median / best) | on / off per pair (median, min–max) | CPU per ticket, off / on (µs, median) | spans exported per run |")
	fmt.Fprintln(stdout, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for i, f := range fakes() {
		if len(systems) > 0 && !slices.Contains(systems, f.label()) || len(systems) == 0 && f.optIn {
			continue
		}
		var off, on, cpuOff, cpuOn []float64
		var spans, sent int64
		for r := range reps {
			// Alternate which goes first, so a drift in the machine's load
			// during a pair weighs on both.
			for _, traced := range []bool{r%2 == 1, r%2 == 0} {
				var stop func() error
				if traced {
					var err error
					if stop, err = tracingOn(ctx, col); err != nil {
						return err
					}
				}
				cpu0 := cpuTime()
				d, err := timeDiscovery(ctx, fakes()[i], n)
				if stop != nil {
					if serr := stop(); err == nil { // flushed: the export's cost is counted
						err = serr
					}
				}
				cpu := float64((cpuTime() - cpu0).Microseconds()) / float64(n)
				if err != nil {
					return fmt.Errorf("%s (tracing %v): %w", f.label(), traced, err)
				}
				rate := float64(n) / d.Seconds()
				if traced {
					if spans, sent, err = col.spans(); err != nil {
						return err
					}
					on, cpuOn = append(on, rate), append(cpuOn, cpu)
				} else {
					off, cpuOff = append(off, rate), append(cpuOff, cpu)
				}
			}
		}
		if sent < int64(n) {
			return fmt.Errorf("%s: the collector's send spans covered %d ticket.discovered messages of %d (%d spans): tracing was not on", f.label(), sent, n, spans)
		}
		mOff, mOn, bOff, bOn := median(off), median(on), slices.Max(off), slices.Max(on)
		// Each pair ran back to back under about the same load: its ratio
		// is the fairest single comparison, and their spread shows the noise.
		pairs := make([]float64, len(on))
		for i := range on {
			pairs[i] = 100 * on[i] / off[i]
		}
		fmt.Fprintf(stdout, "| %s | %d | %.0f / %.0f | %.0f / %.0f | %.1f%% / %.1f%% | %.1f%% (%.1f–%.1f%%) | %.0f / %.0f (%+.0f%%) | %d |\n", f.label(), n, mOff, bOff, mOn, bOn, 100*mOn/mOff, 100*bOn/bOff,
			median(pairs), slices.Min(pairs), slices.Max(pairs), median(cpuOff), median(cpuOn), 100*(median(cpuOn)/median(cpuOff)-1), spans)
		fmt.Fprintf(stderr, "bench: %s off %v on %v\n", f.label(), off, on)
	}
	return nil
}

// cpuTime is the CPU time (user and system) the whole bench process has
// used: the poller, NATS, the fake tracker and the collector all run in it.
// Unlike wall time it barely depends on what else the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// timeDiscovery runs a poller against f on a fresh embedded JetStream and
// returns how long it took until n ticket events were persisted.
func timeDiscovery(ctx context.Context, f fake, n int) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "connectorhub-bench-otel-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{StoreDir: dir})
	if err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	if err := bus.Provision(ctx, js, bus.ProvisionOptions{}); err != nil {
		return 0, err
	}
	f.seed(n, time.Now())
	ts := httptest.NewServer(f.handler)
	defer ts.Close()
	kv, err := js.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		return 0, err
	}
	c := f.connector(ts.URL)
	c.ID, c.Enabled, c.PollInterval = "bench-"+f.label(), true, time.Hour
	c.ApplyDefaults(all.Registry())
	if _, err := connector.NewStore(kv).Create(ctx, c); err != nil {
		return 0, err
	}
	if err := warmFake(ctx, c); err != nil { // as in discovery.go: the fake's encoding is not timed
		return 0, err
	}
	states, err := newStateWatch(ctx, js)
	if err != nil {
		return 0, err
	}
	defer states.stop()
	cfg := poller.DefaultConfig()
	cfg.ReplicaID, cfg.Tick = "bench", 10*time.Millisecond
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- poller.Run(pctx, cfg, poller.Deps{JS: js, Decrypter: plain{}, Logger: slog.New(slog.DiscardHandler), Trackers: all.Registry()})
	}()
	defer func() { cancel(); <-done }()
	// The first cycle's own span, as in discovery.go: read from the poll
	// state when it changes, not by polling the stream.
	st, err := states.wait(ctx, c.ID, func(st connector.PollState) bool { return st.Cycles >= 1 })
	if err != nil {
		return 0, err
	}
	if st.KnownCount < n {
		return 0, fmt.Errorf("first cycle knows %d tickets, want %d (last error %q)", st.KnownCount, n, st.LastError)
	}
	return st.LastSuccess.Sub(st.LastPoll), nil
}
