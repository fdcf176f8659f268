package trackers

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// TestSessionsShareATransportPerHostProxyAndCA: two connectors on one host
// share a transport; another host, another proxy or a CA bundle gets its own.
func TestSessionsShareATransportPerHostProxyAndCA(t *testing.T) {
	t.Parallel()
	pool := NewTransportPool()
	opts := Options{Transports: pool}
	transportOf := func(c connector.Connector) *http.Transport {
		t.Helper()
		hc, err := NewHTTPClient(c, opts)
		if err != nil {
			t.Fatal(err)
		}
		return hc.Transport.(userAgentTransport).next.(*http.Transport)
	}
	a := transportOf(connector.Connector{ID: "a", System: connector.GitHub, BaseURL: "https://ghe.example.com/api/v3"})
	b := transportOf(connector.Connector{ID: "b", System: connector.GitHub, BaseURL: "https://GHE.example.com/api/v3"})
	if a != b {
		t.Error("two connectors on one host have two transports")
	}
	if a.IdleConnTimeout != DefaultIdleConnTimeout || a.MaxIdleConnsPerHost < 8 {
		t.Errorf("idle timeout %v, %d idle connections per host", a.IdleConnTimeout, a.MaxIdleConnsPerHost)
	}
	others := []connector.Connector{
		{ID: "c", System: connector.GitHub, BaseURL: "https://other.example.com/api/v3"},
		{ID: "d", System: connector.GitHub, BaseURL: "https://ghe.example.com/api/v3", HTTPProxyURL: "http://proxy.example.com:3128"},
		{ID: "e", System: connector.GitHub, BaseURL: "https://ghe.example.com/api/v3", CABundlePEM: caPEMForPool(t)},
	}
	for _, c := range others {
		if transportOf(c) == a {
			t.Errorf("connector %s shares the transport of another host, proxy or CA bundle", c.ID)
		}
	}
	if pool.Len() != 4 {
		t.Errorf("%d transports in the pool, want 4", pool.Len())
	}
	// Without a pool, every client has its own.
	c1, _ := NewHTTPClient(connector.Connector{BaseURL: "https://x.example.com"}, Options{})
	c2, _ := NewHTTPClient(connector.Connector{BaseURL: "https://x.example.com"}, Options{})
	if c1.Transport.(userAgentTransport).next == c2.Transport.(userAgentTransport).next {
		t.Error("clients without a pool share a transport")
	}
}

func caPEMForPool(t *testing.T) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}
