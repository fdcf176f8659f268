package trackers

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// ErrEndpointRefused reports a tracker URL (or the address it resolves to) that
// the endpoint policy does not let a connector reach.
var ErrEndpointRefused = trackerhttp.ErrEndpointRefused

// ErrInvalidHTTPConfig reports a proxy URL or CA bundle that cannot be used.
var ErrInvalidHTTPConfig = errors.New("invalid HTTP configuration")

// EndpointPolicy refuses URLs that would let a connector reach internal
// metadata services (SSRF). Loopback and private ranges are allowed, because
// self-hosted trackers live there.
type EndpointPolicy struct {
	// Allow lists ranges that are reachable even though they would be refused
	// by default (e.g. a tracker on a link-local address).
	Allow []netip.Prefix
	// Deny lists further ranges to refuse, e.g. an operator who wants no
	// connector to reach private ranges. Deny wins over Allow.
	Deny []netip.Prefix
}

// AllowEndpointsEnv is the one setting with which every service lets tracker
// endpoints into ranges the policy refuses by default (link-local, metadata,
// unspecified, multicast): CIDR prefixes, comma separated, e.g.
// "169.254.10.0/24". Loopback and private ranges need no entry.
const AllowEndpointsEnv = "HUB_ALLOW_ENDPOINTS"

// ParseAllowList reads the entries of HUB_ALLOW_ENDPOINTS into EndpointPolicy.Allow
// prefixes; blank entries are skipped. The error names the setting and the
// entry that is not a CIDR prefix.
func ParseAllowList(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range entries {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a CIDR prefix", AllowEndpointsEnv, s)
		}
		out = append(out, p)
	}
	return out, nil
}

// metadataHosts are host names of cloud instance metadata services.
var metadataHosts = map[string]bool{
	"metadata":                   true,
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"metadata.azure.com":         true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
}

// metadataAddrs are metadata-service addresses outside the link-local range
// (those inside it are refused as link-local anyway, but named precisely).
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OCI, OpenStack
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task metadata
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast4  = netip.MustParseAddr("255.255.255.255")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052 well-known prefix
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215 local-use prefix
	ipv4Compat  = netip.MustParsePrefix("::/96")
	ipv4Transl  = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 IPv4-translated
	sixToFour   = netip.MustParsePrefix("2002::/16")
	teredo      = netip.MustParsePrefix("2001::/32")
)

// CheckURL checks a tracker base URL before any connection is made: http or
// https only, a host, no user info, and no literal address the policy refuses.
// Host names are checked by name here and by resolved address at dial time
// (see NewHTTPClient).
func (p EndpointPolicy) CheckURL(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return fmt.Errorf("%w: empty URL", ErrEndpointRefused)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which may carry user info: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w: malformed URL: %v", ErrEndpointRefused, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q is not http or https", ErrEndpointRefused, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: URL must not carry user info; give credentials separately", ErrEndpointRefused)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return fmt.Errorf("%w: URL has no host", ErrEndpointRefused)
	}
	if metadataHosts[host] {
		return fmt.Errorf("%w: %s is a cloud metadata host", ErrEndpointRefused, host)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if looksNumeric(host) {
			// 2852039166, 0xa9fea9fe, 0251.0376.0251.0376: resolvers differ on
			// these encodings, so refuse rather than guess which address it is.
			return fmt.Errorf("%w: %s is not a canonical IP address", ErrEndpointRefused, host)
		}
		return nil // a host name: its addresses are checked at dial time
	}
	return p.CheckAddr(addr)
}

// CheckAddr checks one IP address against the policy.
func (p EndpointPolicy) CheckAddr(addr netip.Addr) error {
	addr = addr.WithZone("")
	for _, a := range candidates(addr) {
		for _, d := range p.Deny {
			if d.Contains(a) {
				return fmt.Errorf("%w: %s is in denied range %s", ErrEndpointRefused, addr, d)
			}
		}
	}
	for _, a := range candidates(addr) {
		if p.allowed(a) {
			continue
		}
		if reason := refusedReason(a); reason != "" {
			return fmt.Errorf("%w: %s is %s", ErrEndpointRefused, addr, reason)
		}
	}
	return nil
}

func (p EndpointPolicy) allowed(a netip.Addr) bool {
	for _, pr := range p.Allow {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// candidates returns any IPv4 address embedded in a (IPv4-mapped,
// IPv4-translated, IPv4-compatible, NAT64 with the well-known or a local-use
// prefix, 6to4, Teredo's server and client, ISATAP), then a itself, since a
// dial to those forms can end up at the IPv4 address. The embedded addresses
// come first so a refusal names what it really is.
func candidates(a netip.Addr) []netip.Addr {
	if !a.Is6() {
		return []netip.Addr{a}
	}
	if a.Is4In6() {
		return []netip.Addr{a.Unmap(), a}
	}
	b := a.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	var out []netip.Addr
	switch {
	case ipv4Transl.Contains(a), nat64.Contains(a), nat64Local.Contains(a),
		ipv4Compat.Contains(a) && !a.IsUnspecified() && !a.IsLoopback():
		out = append(out, v4(12))
	case sixToFour.Contains(a):
		out = append(out, v4(2))
	case teredo.Contains(a):
		// Server at bits 32-63; the client's address is bits 96-127, inverted.
		client := [4]byte{b[12] ^ 0xff, b[13] ^ 0xff, b[14] ^ 0xff, b[15] ^ 0xff}
		out = append(out, v4(4), netip.AddrFrom4(client))
	}
	// ISATAP: an interface identifier of 0000:5efe or 0200:5efe carries the
	// IPv4 address in its last 32 bits, whatever the prefix.
	if (b[8] == 0 || b[8] == 2) && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe {
		out = append(out, v4(12))
	}
	return append(out, a)
}

func refusedReason(a netip.Addr) string {
	switch {
	case metadataAddrs[a]:
		return "a cloud metadata address"
	case a.IsUnspecified(), a.Is4() && thisNetwork.Contains(a):
		return "an unspecified address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "a multicast address"
	case a == broadcast4:
		return "the broadcast address"
	}
	return ""
}

// looksNumeric reports whether every dot-separated label is a number in some
// base, i.e. the host is an IP address written in a non-canonical form.
func looksNumeric(host string) bool {
	for label := range strings.SplitSeq(host, ".") {
		if label == "" {
			return false
		}
		digits := label
		hex := false
		if l := strings.ToLower(label); strings.HasPrefix(l, "0x") {
			digits, hex = l[2:], true
		}
		for _, r := range digits {
			isDigit := r >= '0' && r <= '9'
			isHex := hex && r >= 'a' && r <= 'f'
			if !isDigit && !isHex {
				return false
			}
		}
	}
	return true
}

// control re-checks the address actually dialled, after DNS resolution, so a
// host name that resolves (or re-resolves) to a refused address is caught.
func (p EndpointPolicy) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address: %v", ErrEndpointRefused, err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: dialled address %q is not an IP address", ErrEndpointRefused, host)
	}
	return p.CheckAddr(addr)
}

// DefaultTimeout bounds a whole tracker request when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// NewHTTPClient builds the HTTP client a connector talks to its tracker with:
// the connector's proxy (no proxy from the environment, so what an operator
// configured is what runs), its CA bundle appended to the system roots, a
// timeout, a User-Agent, redirects re-checked against the policy, and a dialer
// that refuses resolved addresses the policy refuses.
//
// Through a proxy the dial-time check applies to the proxy's address; the
// tracker host is then only checked by CheckURL, since the proxy resolves it.
func NewHTTPClient(c connector.Connector, opts Options) (*http.Client, error) {
	policy := opts.Policy
	var proxy *url.URL
	if c.HTTPProxyURL != "" {
		p, err := url.Parse(c.HTTPProxyURL)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https" && p.Scheme != "socks5") || p.Host == "" {
			return nil, fmt.Errorf("%w: proxy URL must be http://, https:// or socks5:// with a host", ErrInvalidHTTPConfig)
		}
		proxy = p
	}
	build := func() (*http.Transport, error) {
		return newTransport(c, policy, proxy, opts.idleConnTimeout(), opts.maxIdleConnsPerHost())
	}
	var transport http.RoundTripper
	var err error
	if opts.RoundTripper != nil {
		transport = opts.RoundTripper
	} else if opts.Transports != nil {
		transport, err = opts.Transports.get(transportKeyOf(c), build)
	} else {
		transport, err = build()
	}
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Transport: userAgentTransport{next: transport, ua: opts.userAgent()},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			// A credential or cookie never follows a redirect to another
			// host (Go's client keeps them for the same host name on another
			// port, and for subdomains).
			if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
				req.Header.Del("Authorization")
				req.Header.Del("Cookie")
				req.Header.Del("Private-Token")
			}
			return policy.CheckURL(req.URL.String())
		},
	}, nil
}

// newTransport builds the transport of one (host, proxy, CA bundle): the
// dialer refuses what the policy refuses, the CA bundle is appended to the
// system roots, and idle keep-alive connections close after idle.
func newTransport(c connector.Connector, policy EndpointPolicy, proxy *url.URL, idle time.Duration, idlePerHost int) (*http.Transport, error) {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   policy.control,
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CABundlePEM != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(c.CABundlePEM)) {
			return nil, fmt.Errorf("%w: CA bundle holds no PEM certificate", ErrInvalidHTTPConfig)
		}
		tlsConf.RootCAs = pool
	}
	transport := &http.Transport{
		DialContext:       dialer.DialContext,
		TLSClientConfig:   tlsConf,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      max(100, idlePerHost),
		// Connectors sharing a host share the transport: keep as many idle
		// connections as requests run against one host at once.
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       idle,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if proxy != nil {
		transport.Proxy = http.ProxyURL(proxy)
	}
	return transport, nil
}

// DefaultUserAgent is sent when Options.UserAgent is empty.
const DefaultUserAgent = "connectorhub"

type userAgentTransport struct {
	next http.RoundTripper
	ua   string
}

// RoundTrip sends req as it is when it already carries the User-Agent
// (Session.NewRequest sets it), and a copy with it otherwise (the vendor
// libraries set their own): a RoundTripper must not change its request,
// and the copy (Request.Clone: the header map, the URL) is the one
// allocation-heavy step of the chain.
func (t userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if v := req.Header["User-Agent"]; len(v) == 1 && v[0] == t.ua {
		return t.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", t.ua)
	return t.next.RoundTrip(req)
}

func (o Options) userAgent() string {
	if o.UserAgent != "" {
		return o.UserAgent
	}
	return DefaultUserAgent
}

// logger returns the options' logger or one that discards.
func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}
