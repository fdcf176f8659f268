package trackers

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	allowLinkLocal := EndpointPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.10.0/24")}}
	allowMetadata := EndpointPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}
	denyPrivate := EndpointPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name    string
		policy  EndpointPolicy
		url     string
		refused bool
		reason  string // part of the message when refused
	}{
		{name: "allows a public https host", url: "https://acme.atlassian.net"},
		{name: "allows loopback for self-hosted and tests", url: "http://127.0.0.1:8080/jira"},
		{name: "allows IPv6 loopback", url: "http://[::1]:8080"},
		{name: "allows private ranges", url: "https://10.1.2.3/"},
		{name: "allows localhost by name", url: "http://localhost:8080"},
		{name: "refuses the metadata IP", url: "http://169.254.169.254/latest/meta-data", refused: true, reason: "metadata"},
		{name: "refuses the metadata IP with a trailing dot", url: "http://169.254.169.254./", refused: true, reason: "metadata"},
		{name: "refuses link-local IPv4", url: "http://169.254.1.1", refused: true, reason: "link-local"},
		{name: "refuses link-local IPv6", url: "http://[fe80::1]/", refused: true, reason: "link-local"},
		{name: "refuses link-local IPv6 with a zone", url: "http://[fe80::1%25eth0]/", refused: true, reason: "link-local"},
		{name: "refuses AWS IPv6 metadata", url: "http://[fd00:ec2::254]/", refused: true, reason: "metadata"},
		{name: "refuses IPv4-mapped metadata IP", url: "http://[::ffff:169.254.169.254]/", refused: true, reason: "metadata"},
		{name: "refuses IPv4-mapped metadata IP in hex", url: "http://[::ffff:a9fe:a9fe]/", refused: true, reason: "metadata"},
		{name: "refuses NAT64 metadata IP", url: "http://[64:ff9b::a9fe:a9fe]/", refused: true, reason: "metadata"},
		{name: "refuses 6to4 link-local", url: "http://[2002:a9fe:a9fe::1]/", refused: true, reason: "metadata"},
		{name: "refuses IPv4-translated metadata IP", url: "http://[::ffff:0:a9fe:a9fe]/", refused: true, reason: "metadata"},
		{name: "refuses IPv4-translated metadata IP, dotted", url: "http://[::ffff:0:169.254.169.254]/", refused: true, reason: "metadata"},
		{name: "refuses IPv4-compatible metadata IP", url: "http://[::a9fe:a9fe]/", refused: true, reason: "metadata"},
		{name: "refuses local-use NAT64 metadata IP", url: "http://[64:ff9b:1::a9fe:a9fe]/", refused: true, reason: "metadata"},
		{name: "refuses a Teredo server at the metadata IP", url: "http://[2001:0:a9fe:a9fe::1]/", refused: true, reason: "metadata"},
		{name: "refuses a Teredo client at the metadata IP", url: "http://[2001:0:4136:e378:8000:63bf:5601:5601]/", refused: true, reason: "metadata"},
		{name: "refuses ISATAP metadata IP", url: "http://[fe80::5efe:a9fe:a9fe]/", refused: true, reason: "metadata"},
		{name: "refuses ISATAP metadata IP under a global prefix", url: "http://[2001:db8::200:5efe:a9fe:a9fe]/", refused: true, reason: "metadata"},
		{name: "allows a global IPv6 address", url: "http://[2606:4700::6810:84e5]/"},
		{name: "refuses Alibaba metadata", url: "http://100.100.100.200/", refused: true, reason: "metadata"},
		{name: "refuses GCP metadata host", url: "http://metadata.google.internal/computeMetadata/v1/", refused: true, reason: "metadata"},
		{name: "refuses metadata host in upper case", url: "http://METADATA.GOOGLE.INTERNAL./", refused: true, reason: "metadata"},
		{name: "refuses 0.0.0.0", url: "http://0.0.0.0:8080", refused: true, reason: "unspecified"},
		{name: "refuses the this-network range", url: "http://0.1.2.3", refused: true, reason: "unspecified"},
		{name: "refuses ::", url: "http://[::]:8080", refused: true, reason: "unspecified"},
		{name: "refuses multicast", url: "http://224.0.0.1", refused: true, reason: "multicast"},
		{name: "refuses IPv6 multicast", url: "http://[ff02::1]", refused: true, reason: "multicast"},
		{name: "refuses broadcast", url: "http://255.255.255.255", refused: true, reason: "broadcast"},
		{name: "refuses a decimal-encoded IP", url: "http://2852039166/", refused: true, reason: "canonical"},
		{name: "refuses a hex-encoded IP", url: "http://0xa9fea9fe/", refused: true, reason: "canonical"},
		{name: "refuses an octal-encoded IP", url: "http://0251.0376.0251.0376/", refused: true, reason: "canonical"},
		{name: "refuses user info", url: "https://user:pass@jira.example.com", refused: true, reason: "user info"},
		{name: "refuses ftp", url: "ftp://jira.example.com", refused: true, reason: "scheme"},
		{name: "refuses file", url: "file:///etc/passwd", refused: true, reason: "scheme"},
		{name: "refuses an empty host", url: "https:///rest/api", refused: true, reason: "no host"},
		{name: "refuses an empty URL", url: "", refused: true, reason: "empty"},
		{name: "refuses a malformed URL", url: "http://[::1", refused: true, reason: "malformed"},
		{name: "allows link-local inside Allow", policy: allowLinkLocal, url: "http://169.254.10.5"},
		{name: "refuses link-local outside Allow", policy: allowLinkLocal, url: "http://169.254.11.5", refused: true, reason: "link-local"},
		{name: "allows the metadata IP when explicitly allowed", policy: allowMetadata, url: "http://169.254.169.254"},
		{name: "refuses a denied private range", policy: denyPrivate, url: "http://10.9.9.9", refused: true, reason: "denied"},
		{name: "refuses a denied range in IPv4-mapped form", policy: denyPrivate, url: "http://[::ffff:10.9.9.9]", refused: true, reason: "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.CheckURL(tt.url)
			if !tt.refused {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want allowed", tt.url, err)
				}
				return
			}
			if !errors.Is(err, ErrEndpointRefused) {
				t.Fatalf("CheckURL(%q) = %v, want ErrEndpointRefused", tt.url, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("CheckURL(%q) = %q, want a message naming %q", tt.url, err, tt.reason)
			}
		})
	}
}

func TestCheckURLDoesNotEchoUserInfo(t *testing.T) {
	t.Parallel()
	err := EndpointPolicy{}.CheckURL("https://bob:hunter2@jira.example.com/%zz")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("CheckURL = %v, want a refusal that does not repeat the password", err)
	}
}

func TestDialControlRefusesResolvedAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		address string
		refused bool
	}{
		{name: "metadata IPv4", address: "169.254.169.254:80", refused: true},
		{name: "IPv4-mapped metadata", address: "[::ffff:169.254.169.254]:80", refused: true},
		{name: "unspecified", address: "0.0.0.0:443", refused: true},
		{name: "link-local IPv6", address: "[fe80::1]:443", refused: true},
		{name: "loopback", address: "127.0.0.1:443"},
		{name: "private", address: "192.168.1.10:443"},
		{name: "a name instead of an address", address: "example.com:443", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := EndpointPolicy{}.control("tcp", tt.address, nil)
			if got := errors.Is(err, ErrEndpointRefused); got != tt.refused {
				t.Fatalf("control(%q) = %v, want refused=%v", tt.address, err, tt.refused)
			}
		})
	}
}

// countingServer counts the requests that reach it.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestHTTPClientRefusesAtDialTime proves the resolved address is checked: the
// URL names "localhost", which CheckURL accepts, and a policy denying
// loopback must stop the connection after resolution, before the server sees
// anything.
func TestHTTPClientRefusesAtDialTime(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	target := "http://localhost:" + port + "/"

	deny := EndpointPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	if err := deny.CheckURL(target); err != nil {
		t.Fatalf("CheckURL(%q) = %v: the name must pass the literal check for this test to mean anything", target, err)
	}
	hc, err := NewHTTPClient(connector.Connector{}, Options{Policy: deny})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(target)
	if err == nil {
		resp.Body.Close()
		t.Fatal("GET succeeded, want the dial refused")
	}
	if !errors.Is(err, ErrEndpointRefused) {
		t.Fatalf("GET error = %v, want ErrEndpointRefused", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("server saw %d requests, want 0", hits.Load())
	}

	// The same client without the deny rule reaches the server, so the
	// refusal above came from the policy and not from a broken setup.
	hc, err = NewHTTPClient(connector.Connector{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Get(target)
	if err != nil {
		t.Fatalf("GET without deny rule: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("server saw %d requests, want 1", hits.Load())
	}
}

func TestHTTPClientRefusesRedirectToMetadata(t *testing.T) {
	t.Parallel()
	for _, loc := range []string{"http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/"} {
		srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loc, http.StatusFound)
		})
		hc, err := NewHTTPClient(connector.Connector{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrEndpointRefused) {
			t.Errorf("redirect to %s: err = %v, want ErrEndpointRefused", loc, err)
		}
	}
}

func TestHTTPClientSendsThroughConfiguredProxy(t *testing.T) {
	t.Parallel()
	var seen atomic.Value
	proxy, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String()) // a forward proxy sees the absolute URL
		_, _ = io.WriteString(w, "via proxy")
	})
	hc, err := NewHTTPClient(connector.Connector{HTTPProxyURL: proxy.URL}, Options{UserAgent: "connectorhub-test"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get("http://jira.invalid/rest/api/2/myself")
	if err != nil {
		t.Fatalf("GET through proxy: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if hits.Load() != 1 || string(body) != "via proxy" {
		t.Fatalf("proxy hits=%d body=%q, want the request to go through the proxy", hits.Load(), body)
	}
	if got, _ := seen.Load().(string); got != "http://jira.invalid/rest/api/2/myself" {
		t.Fatalf("proxy saw %q, want the absolute tracker URL", got)
	}
}

func TestNewHTTPClientConfig(t *testing.T) {
	t.Parallel()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshake below is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}))

	tests := []struct {
		name    string
		conn    connector.Connector
		wantErr bool
	}{
		{name: "accepts no CA bundle", conn: connector.Connector{}},
		{name: "accepts a PEM CA bundle", conn: connector.Connector{CABundlePEM: caPEM}},
		{name: "rejects a CA bundle without PEM", conn: connector.Connector{CABundlePEM: "not a certificate"}, wantErr: true},
		{name: "rejects a proxy without scheme", conn: connector.Connector{HTTPProxyURL: "proxy.example.com:3128"}, wantErr: true},
		{name: "rejects a proxy with another scheme", conn: connector.Connector{HTTPProxyURL: "ftp://proxy.example.com"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewHTTPClient(tt.conn, Options{})
			if tt.wantErr != (err != nil) {
				t.Fatalf("NewHTTPClient err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidHTTPConfig) {
				t.Fatalf("err = %v, want ErrInvalidHTTPConfig", err)
			}
		})
	}

	t.Run("trusts a server signed by the CA bundle", func(t *testing.T) {
		t.Parallel()
		hc, err := NewHTTPClient(connector.Connector{CABundlePEM: caPEM}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(tlsSrv.URL)
		if err != nil {
			t.Fatalf("GET with the CA bundle: %v", err)
		}
		resp.Body.Close()
	})
	t.Run("distrusts the same server without the bundle", func(t *testing.T) {
		t.Parallel()
		hc, err := NewHTTPClient(connector.Connector{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(tlsSrv.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatal("GET without the CA bundle succeeded, want an unknown-authority error")
		}
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) && !strings.Contains(trackerhttp.DescribeTransportError(err), "certificate") {
			t.Fatalf("err = %v, want a certificate error", err)
		}
	})
}

func TestHTTPClientSetsUserAgent(t *testing.T) {
	t.Parallel()
	var ua atomic.Value
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
	})
	hc, err := NewHTTPClient(connector.Connector{}, Options{UserAgent: "connectorhub/1.2"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, _ := ua.Load().(string); got != "connectorhub/1.2" {
		t.Fatalf("User-Agent = %q, want connectorhub/1.2", got)
	}
}
