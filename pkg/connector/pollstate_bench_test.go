package connector_test

import (
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// benchPrint is the size of a typical ticket's fingerprint
// (ticketver.Fields.Encode of ~11 hashed fields: 62 characters).
const benchPrint = "hwyAAEc2vIvXwFUcmhEjwLP2hmL1aXWOpgoc5Qyqp1ZxsAWKXNk7xjwTmpWQeNBN"

func setKnownForBench(st *connector.PollState, key string, t time.Time) {
	st.SetKnownVersion(key, t, benchPrint)
}
