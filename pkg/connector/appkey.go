package connector

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
)

// ParseRSAPrivateKey reads a GitHub App's private key: the PEM GitHub
// offers for download (PKCS #1, "RSA PRIVATE KEY") or a PKCS #8 conversion
// of it. Its errors never quote the key.
func ParseRSAPrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("more than one PEM block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("malformed PKCS #1 RSA private key")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("malformed PKCS #8 private key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("not an RSA key (GitHub Apps sign with RS256)")
		}
		return rk, nil
	default:
		return nil, errors.New("PEM block is " + block.Type + ", not a private key")
	}
}

// PoolTokens splits a credential into the tokens of a token pool
// (comma-separated, Airbyte's form); a single token is a pool of one.
func PoolTokens(s Secret) []string {
	v := s.Reveal()
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
