//go:build tools

// The NATS image of the end-to-end test is built from this module's
// nats-server (make e2e: go build github.com/nats-io/nats-server/v2).
package e2e

import _ "github.com/nats-io/nats-server/v2"
