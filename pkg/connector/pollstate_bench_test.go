package connector_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// benchPrint is the size of a typical ticket's fingerprint
// (ticketver.Fields.Encode of ~11 hashed fields: 62 characters).
const benchPrint = "hwyAAEc2vIvXwFUcmhEjwLP2hmL1aXWOpgoc5Qyqp1ZxsAWKXNk7xjwTmpWQeNBN"

func setKnownForBench(st *connector.PollState, key string, t time.Time) {
	st.SetKnownVersion(key, t, benchPrint)
}

// processCPU is the user and system CPU time this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
