package connector_test

import (
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

func setKnownForBench(st *connector.PollState, key string, t time.Time) { st.SetKnown(key, t) }
