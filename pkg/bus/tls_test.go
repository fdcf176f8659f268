package bus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir, and returns their paths.
type testPKI struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	p := testPKI{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

// TestTheListenerSpeaksTLSWhenConfigured: with a certificate, key and CA, TCP
// clients need TLS, a client certificate and a credential; in-process
// connections keep working without TLS.
func TestTheListenerSpeaksTLSWhenConfigured(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	creds, err := bus.LoadOrCreateCredentials(filepath.Join(dir, "creds"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.StartEmbedded(context.Background(), bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Credentials: creds,
		TLSCert: pki.serverCert, TLSKey: pki.serverKey, TLSCA: pki.ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	connect := func(a bus.ClientAuth) error {
		opts, err := a.Options()
		if err != nil {
			return err
		}
		nc, err := nats.Connect(srv.ClientURL(), append(opts, nats.Timeout(10*time.Second), quiet)...)
		if err == nil {
			nc.Close()
		}
		return err
	}
	seed := creds.File(bus.RoleReader)
	if err := connect(bus.ClientAuth{CredsFile: seed, TLSCA: pki.ca, TLSCert: pki.clientCert, TLSKey: pki.clientKey}); err != nil {
		t.Errorf("TLS with a client certificate and the reader's seed: %v", err)
	}
	if err := connect(bus.ClientAuth{CredsFile: seed}); err == nil {
		t.Error("a plain-text client was accepted")
	}
	if err := connect(bus.ClientAuth{CredsFile: seed, TLSCA: pki.ca}); err == nil {
		t.Error("a client without a certificate was accepted")
	}
	if err := connect(bus.ClientAuth{TLSCA: pki.ca, TLSCert: pki.clientCert, TLSKey: pki.clientKey}); err == nil {
		t.Error("a TLS client without a credential was accepted")
	}
	opt, _ := creds.Option(bus.RoleReader)
	nc, err := srv.Connect(opt)
	if err != nil {
		t.Fatalf("in-process connection with TLS configured: %v", err)
	}
	nc.Close()
}
