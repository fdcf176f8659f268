package writeback

// crashAfterStep makes the service stop right after the tracker call of the
// named step, before the ledger records it: a crash at the worst moment.
func (s *Service) crashAfterStep(step string) { s.crashAfter.Store(step) }
