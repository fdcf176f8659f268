package poller

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

// noConn is a JetStream without a connection: ticketEvent asks it only for
// the server's payload limit (none here, so POLLER_MAX_EVENT_BYTES holds).
type noConn struct{ jetstream.JetStream }

func (noConn) Conn() *nats.Conn { return nil }

// BenchmarkTicketToEvent is what every tracker pays per ticket after its
// Discover returns and before the client publishes: the proto payload, the
// caps, the encoding and the CloudEvents message.
func BenchmarkTicketToEvent(b *testing.B) {
	p := &Poller{cfg: DefaultConfig(), js: noConn{}}
	c, tk := benchConnector(), benchTicket()
	ctx := context.Background()
	names, err := newEventNames(c)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if _, err := p.ticketEvent(ctx, bus.TicketDiscovered, &names, tk, newTicketBlock(c, tk), nil, ""); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time rather than wall clock: on a shared machine ns/op counts
	// the time slices other processes took.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is this process's CPU time (user and system, GC included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
