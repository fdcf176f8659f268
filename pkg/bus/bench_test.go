package bus_test

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	connectorhubv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// BenchmarkPublish measures synchronous Publish of ~1 KiB TicketDiscovered
// events to an embedded, file-backed JetStream: marshal, headers, round trip
// and the stream's dedup check. Later changes compare against it.
func BenchmarkPublish(b *testing.B) {
	js := newBus(b)
	subj, _ := bus.TicketSubject(bus.TicketDiscovered, "jira", "c1")
	msg := testTicket()
	msg.Ticket.DescriptionText = strings.Repeat("x", 1024-len(mustJSON(b, msg)))
	size := len(mustJSON(b, msg))

	b.Run("serial", func(b *testing.B) {
		b.SetBytes(int64(size))
		i := 0
		for b.Loop() {
			i++
			if _, err := bus.Publish(b.Context(), js, subj, msg, bus.WithID(bus.EventID("serial", strconv.Itoa(i)))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(int64(size))
		var n atomic.Int64
		b.SetParallelism(8) // several publishes in flight per core
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := bus.EventID("parallel", strconv.FormatInt(n.Add(1), 10))
				if _, err := bus.Publish(b.Context(), js, subj, msg, bus.WithID(id)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func mustJSON(b *testing.B, msg *connectorhubv1.TicketDiscovered) []byte {
	data, err := protojson.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
