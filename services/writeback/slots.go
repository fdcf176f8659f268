package writeback

import (
	"context"
	"errors"
	"sync"
)

// slots decides when a result held by this replica may be written, so
// that one connector's results never hold up another's:
//
//   - per connector, at most perConnector results are written at once, in
//     arrival order; the others wait without holding anything else;
//   - then a result takes one of the writers shared by all connectors,
//     except on a tracker that paces its writes (GitHub: one mutation a
//     second per token). Such a result spends most of its time waiting
//     for the pace, at most one per connector, and taking a shared writer
//     for that wait would let a few slow connectors hold every writer.
//
// The consumer holds up to WRITEBACK_MAX_PENDING results (its ack-pending
// limit); waiting ones are kept alive with in-progress acks like running ones.
type slots struct {
	perConnector int
	writers      chan struct{}

	mu    sync.Mutex
	conns map[string]*connSlots
}

// connSlots are one connector's: how many of its results are being written
// and who waits, first come first served.
type connSlots struct {
	busy    int
	waiters []chan struct{}
}

// errStopping: the replica is stopping, a result still waiting for its turn
// is left for a redelivery.
var errStopping = errors.New("writeback is stopping; the result is left for a redelivery")

func newSlots(writers, perConnector int) *slots {
	return &slots{perConnector: perConnector, writers: make(chan struct{}, writers), conns: map[string]*connSlots{}}
}

// acquire waits for the connector's turn (limit at once; 0: perConnector)
// and then, unless paced, for a shared writer. It gives up when ctx ends or
// stopping is closed, holding nothing. release gives back what it took.
func (s *slots) acquire(ctx context.Context, stopping <-chan struct{}, connectorID string, limit int, paced bool) (release func(), err error) {
	if limit <= 0 {
		limit = s.perConnector
	}
	if err := s.takeConnector(ctx, stopping, connectorID, limit); err != nil {
		return nil, err
	}
	if paced {
		return func() { s.giveConnector(connectorID, limit) }, nil
	}
	select {
	case s.writers <- struct{}{}:
	case <-ctx.Done():
		s.giveConnector(connectorID, limit)
		return nil, ctx.Err()
	case <-stopping:
		s.giveConnector(connectorID, limit)
		return nil, errStopping
	}
	return func() {
		<-s.writers
		s.giveConnector(connectorID, limit)
	}, nil
}

func (s *slots) takeConnector(ctx context.Context, stopping <-chan struct{}, id string, limit int) error {
	s.mu.Lock()
	c := s.conns[id]
	if c == nil {
		c = &connSlots{}
		s.conns[id] = c
	}
	if c.busy < limit && len(c.waiters) == 0 {
		c.busy++
		s.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	c.waiters = append(c.waiters, turn)
	s.mu.Unlock()

	var err error
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stopping:
		err = errStopping
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-turn:
		// Our turn came as we gave up: pass it on.
		s.passLocked(id, c, limit)
	default:
		for i, w := range c.waiters {
			if w == turn {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				break
			}
		}
		s.forgetLocked(id, c)
	}
	return err
}

// giveConnector ends one of the connector's writes: the next waiter's turn.
func (s *slots) giveConnector(id string, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conns[id]; c != nil {
		s.passLocked(id, c, limit)
	}
}

// passLocked hands a finished write's place to the first waiter, or frees it.
func (s *slots) passLocked(id string, c *connSlots, limit int) {
	if len(c.waiters) > 0 && c.busy <= limit {
		next := c.waiters[0]
		c.waiters = c.waiters[1:]
		close(next) // busy stays: the place moves to next
		return
	}
	c.busy--
	s.forgetLocked(id, c)
}

func (s *slots) forgetLocked(id string, c *connSlots) {
	if c.busy <= 0 && len(c.waiters) == 0 {
		delete(s.conns, id)
	}
}

// waiting is how many results wait for their connector's turn (for tests).
func (s *slots) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conns {
		n += len(c.waiters)
	}
	return n
}
