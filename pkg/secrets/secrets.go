// Package secrets encrypts tracker credentials so that only ciphertext is
// ever stored. Two implementations share one interface: Vault transit with a
// derived key (production) and a local AES-256-GCM keyring (the all-in-one
// default). In both, the key context (the connector id) is bound into the
// ciphertext, so a ciphertext of connector A never decrypts as connector B.
//
// Errors returned by this package never contain plaintext or tokens.
package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Cipher encrypts credentials bound to a key context (the connector id).
type Cipher interface {
	Encrypt(ctx context.Context, keyContext string, plaintext []byte) (string, error)
	Decrypt(ctx context.Context, keyContext, ciphertext string) ([]byte, error)
	Rewrap(ctx context.Context, keyContext, ciphertext string) (string, error)
}

// RewrapItem is one ciphertext to move to the newest key version.
type RewrapItem struct {
	KeyContext string
	Ciphertext string
}

// Sentinel errors. Test with errors.Is.
var (
	// ErrUnavailable means the backend could not be reached, is sealed, or
	// did not answer in time. Retrying later may succeed.
	ErrUnavailable = errors.New("secrets backend unavailable")
	// ErrPermissionDenied means the backend's policy forbids the operation
	// for the credentials in use (e.g. the registry asking to decrypt).
	ErrPermissionDenied = errors.New("secrets operation not permitted")
	// ErrInvalidCiphertext means the ciphertext was tampered with, belongs
	// to another key context, comes from another backend or keyring, or is
	// malformed.
	ErrInvalidCiphertext = errors.New("invalid ciphertext")
	// ErrEmptyKeyContext means an operation was called without a key context.
	ErrEmptyKeyContext = errors.New("key context must not be empty")
	// ErrKeyNotFound means the configured encryption key does not exist in
	// the backend (run EnsureKey or the deploy/vault setup).
	ErrKeyNotFound = errors.New("encryption key not found")
	// ErrNotSetUp means the backend lacks what the configuration names, e.g.
	// no transit engine at the configured mount. An operator must set it up.
	ErrNotSetUp = errors.New("secrets backend not set up")
)

// Ciphertext prefixes; every ciphertext names the backend that made it.
const (
	kindVault   = "vault"
	kindLocal   = "local"
	prefixVault = kindVault + ":v"
	prefixLocal = kindLocal + ":v"
)

// Kind reports which backend produced a ciphertext: "vault", "local", or ""
// when the prefix is not recognised.
func Kind(ciphertext string) string {
	switch {
	case strings.HasPrefix(ciphertext, prefixVault):
		return kindVault
	case strings.HasPrefix(ciphertext, prefixLocal):
		return kindLocal
	default:
		return ""
	}
}

// fingerprintDomain separates fingerprints from any other SHA-256 use of the
// same value, so a fingerprint cannot be matched against a plain hash.
const fingerprintDomain = "connectorhub/secret-fingerprint/v1\x00"

// Fingerprint returns a short one-way fingerprint of a secret (12 hex
// characters of a domain-separated SHA-256), safe to show in API responses
// and logs so an operator can tell two credentials apart without seeing them.
func Fingerprint(secret []byte) string {
	h := sha256.New()
	h.Write([]byte(fingerprintDomain))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// opError carries a readable message plus the sentinel (and, when present,
// the underlying cause) for errors.Is / errors.As. The message is built by
// this package and never contains plaintext or tokens.
type opError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *opError) Error() string { return e.msg }

func (e *opError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.sentinel != nil {
		errs = append(errs, e.sentinel)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

func newError(sentinel, cause error, format string, args ...any) error {
	return &opError{msg: fmt.Sprintf(format, args...), sentinel: sentinel, cause: cause}
}

// BatchError reports the items of a RewrapBatch that failed. The results
// slice returned alongside it holds "" at the failed positions and the new
// ciphertext everywhere else, so callers can store what succeeded.
type BatchError struct {
	// Failed maps an item index to its error.
	Failed map[int]error
}

func (e *BatchError) Error() string {
	idx := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	fmt.Fprintf(&b, "rewrap batch: %d item(s) failed", len(idx))
	const show = 5
	for n, i := range idx {
		if n == show {
			fmt.Fprintf(&b, "; and %d more", len(idx)-show)
			break
		}
		fmt.Fprintf(&b, "; item %d: %v", i, e.Failed[i])
	}
	return b.String()
}

// Unwrap exposes every item error, so errors.Is(err, ErrInvalidCiphertext)
// holds when any item was invalid.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		errs = append(errs, err)
	}
	return errs
}

func checkKeyContext(keyContext string) error {
	if keyContext == "" {
		return ErrEmptyKeyContext
	}
	return nil
}
