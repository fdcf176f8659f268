package trackers

import "time"

// WritePacer is a tracker that spaces the writes of one credential on one
// host (GitHub: a second between mutations), waiting inside the write call.
// It is not a feature: frameworks read it so that a write waiting for its
// pace never holds a resource other connectors need (services/writeback
// gives such writes no shared writer, see its slots.go).
type WritePacer interface {
	WriteGap() time.Duration
}
