package trackers

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// DefaultIdleConnTimeout closes a keep-alive connection idle this long. It is
// below the shortest default poll interval (60 s), so a tracker host polled
// once an interval holds no socket between polls, while a host many
// connectors share keeps its connections busy and open.
const DefaultIdleConnTimeout = 30 * time.Second

// DefaultMaxIdleConnsPerHost is the idle connections kept per host when
// Options.MaxIdleConnsPerHost is zero: the poller's default per-host cap.
const DefaultMaxIdleConnsPerHost = 32

func (o Options) maxIdleConnsPerHost() int {
	if o.MaxIdleConnsPerHost > 0 {
		return o.MaxIdleConnsPerHost
	}
	return DefaultMaxIdleConnsPerHost
}

func (o Options) idleConnTimeout() time.Duration {
	if o.IdleConnTimeout > 0 {
		return o.IdleConnTimeout
	}
	return DefaultIdleConnTimeout
}

// TransportPool shares HTTP transports between connectors that reach the
// same host through the same proxy with the same CA bundle: ten thousand
// connectors on one tracker hold a handful of connections, not one
// transport and keep-alive connection each. The transports are built under
// the policy of the Options the pool is used with; use one pool per Options.
type TransportPool struct {
	mu sync.Mutex
	m  map[transportKey]*http.Transport
}

// NewTransportPool returns an empty pool.
func NewTransportPool() *TransportPool {
	return &TransportPool{m: map[transportKey]*http.Transport{}}
}

// transportKey is what a transport is shared by: the host, the proxy and a
// digest of the CA bundle (the PEM itself need not be kept twice).
type transportKey struct {
	system, host, proxy, ca string
}

func transportKeyOf(c connector.Connector) transportKey {
	k := transportKey{system: string(c.System), proxy: c.HTTPProxyURL}
	if u, err := url.Parse(c.BaseURL); err == nil {
		k.host = strings.ToLower(u.Host)
	}
	if c.CABundlePEM != "" {
		sum := sha256.Sum256([]byte(c.CABundlePEM))
		k.ca = hex.EncodeToString(sum[:])
	}
	return k
}

func (p *TransportPool) get(k transportKey, build func() (*http.Transport, error)) (*http.Transport, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.m[k]; ok {
		return t, nil
	}
	t, err := build()
	if err != nil {
		return nil, err
	}
	p.m[k] = t
	return t, nil
}

// Len is the number of transports in the pool.
func (p *TransportPool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// CloseIdle closes the idle connections of every transport.
func (p *TransportPool) CloseIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.m {
		t.CloseIdleConnections()
	}
}
