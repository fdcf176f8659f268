package trackers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// ErrDecrypt wraps a credential that could not be decrypted.
var ErrDecrypt = errors.New("credential cannot be decrypted")

// Decrypter opens a connector's credential, bound to its id (workers' Vault
// policy: decrypt only).
type Decrypter interface {
	Decrypt(ctx context.Context, keyContext, ciphertext string) ([]byte, error)
}

// Sessions builds the tracker session of a saved connector, decrypting its
// credential once per connector revision: the workers (poller, writeback,
// knowledge) keep one Sessions each.
type Sessions struct {
	reg  *Registry
	dec  Decrypter
	opts Options

	mu sync.Mutex
	m  map[string]cachedSession
}

type cachedSession struct {
	revision uint64
	session  *Session
}

// NewSessions returns an empty cache whose sessions use opts and the trackers
// of reg. Its sessions share HTTP transports per (host, proxy, CA bundle)
// unless opts brings its own pool.
func NewSessions(reg *Registry, dec Decrypter, opts Options) *Sessions {
	if opts.Transports == nil {
		opts.Transports = NewTransportPool()
	}
	if opts.Pacer == nil {
		opts.Pacer = NewPacer(PacerConfig{})
	}
	return &Sessions{reg: reg, dec: dec, opts: opts, m: map[string]cachedSession{}}
}

// Get returns the session of c, building it when c changed since the last call.
func (s *Sessions) Get(ctx context.Context, c connector.Connector) (*Session, error) {
	s.mu.Lock()
	cs, ok := s.m[c.ID]
	s.mu.Unlock()
	if ok && cs.revision == c.Revision {
		return cs.session, nil
	}
	var secret connector.Secret
	if c.Credential.Set() {
		clear, err := s.dec.Decrypt(ctx, c.CredentialContext(), c.Credential.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrDecrypt, c.ID, err)
		}
		secret = connector.NewSecret(string(clear))
	}
	sess, err := s.reg.NewSession(c, secret, s.opts)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.m[c.ID] = cachedSession{revision: c.Revision, session: sess}
	s.mu.Unlock()
	return sess, nil
}

// Cached returns the session built for connector id at revision, nil when
// there is none (never built, forgotten, or built for another revision). It
// decrypts nothing.
func (s *Sessions) Cached(id string, revision uint64) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs, ok := s.m[id]; ok && cs.revision == revision {
		return cs.session
	}
	return nil
}

// Forget drops the session of a deleted connector.
func (s *Sessions) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}
