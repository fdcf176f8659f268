package knowledge_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/services/knowledge"
)

// confluenceLatency is what each fake Confluence request costs, so the
// figures show what the cache saves against a remote site.
const confluenceLatency = 20 * time.Millisecond

func slowConfluence(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(confluenceLatency)
		next.ServeHTTP(w, r)
	})
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

var benchSeq atomic.Int64

// BenchmarkEnrichment measures ticket.discovered -> ticket.enriched on
// embedded NATS against a fake Confluence answering in 20ms, with 16 tickets
// in flight. "cache": tickets share four texts, so after the first four
// every search is a cache hit; "nocache": every ticket has its own words.
func BenchmarkEnrichment(b *testing.B) {
	h := newHarness(b, slowConfluence)
	h.addWiki("wiki-eng", "ENG", "OPS")
	cfg := testConfig()
	cfg.Concurrency = 16
	h.start(cfg, nil)

	var (
		mu      sync.Mutex
		sent    = map[string]time.Time{}
		arrived = make(chan time.Duration, 1024)
	)
	sub, err := h.nc.Subscribe("ticket.enriched.>", func(m *nats.Msg) {
		key := m.Header.Get(bus.HeaderSubject)
		mu.Lock()
		t0, ok := sent[key]
		delete(sent, key)
		mu.Unlock()
		if ok {
			arrived <- time.Since(t0)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Unsubscribe() })

	for _, mode := range []string{"cache", "nocache"} {
		b.Run(mode, func(b *testing.B) {
			searchesBefore := h.fake.Searches()
			lat := make([]time.Duration, 0, b.N)
			window := make(chan struct{}, 16)
			done := make(chan struct{})
			go func() {
				for range b.N {
					d := <-arrived
					lat = append(lat, d)
					<-window
				}
				close(done)
			}()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				n := benchSeq.Add(1)
				summary := fmt.Sprintf("Payment gateway settlement variant%d", n%4)
				if mode == "nocache" {
					summary = fmt.Sprintf("Payment gateway settlement unique%d", n)
				}
				key := fmt.Sprintf("BENCH-%d", n)
				window <- struct{}{}
				mu.Lock()
				sent[key] = time.Now()
				mu.Unlock()
				h.publishDiscovered(ticket(key, summary, "", updated))
			}
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				b.Fatal("enrichments did not all arrive")
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99_ms")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "enrichments/s")
			b.ReportMetric(float64(h.fake.Searches()-searchesBefore)/float64(b.N), "confluence_calls/op")
		})
	}
}

// BenchmarkSearch measures Service.Search (what the NATS and gRPC endpoints
// call) from 8 goroutines: "cache" repeats one query, "nocache" never does.
func BenchmarkSearch(b *testing.B) {
	h := newHarness(b, slowConfluence)
	h.addWiki("wiki-eng", "ENG", "OPS")
	r := h.start(testConfig(), nil)
	ctx := context.Background()

	for _, mode := range []string{"cache", "nocache"} {
		b.Run(mode, func(b *testing.B) {
			var (
				mu  sync.Mutex
				lat []time.Duration
			)
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					terms := []string{"payment", "gateway"}
					if mode == "nocache" {
						terms = append(terms, fmt.Sprintf("unique%d", benchSeq.Add(1)))
					}
					t0 := time.Now()
					if _, err := r.svc.Search(ctx, knowledge.Query{Terms: terms, Limit: 5}); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99_ms")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "searches/s")
		})
	}
}
