package poller

// crashOnStop makes Run return without releasing its leases, as a killed
// replica would.
func (p *Poller) crashOnStop() { p.crash = true }
