package writeback

import (
	"errors"
	"sync/atomic"
)

// crashSwitch is a Deps.AfterStep hook: once armed with a step, it stops
// the delivery right after that step's tracker call, before the ledger
// records it — a crash at the worst moment.
type crashSwitch struct{ step atomic.Value } // string

var errCrash = errors.New("simulated crash")

func (c *crashSwitch) afterStep(step string) error {
	if crash, _ := c.step.Load().(string); crash == step {
		return errCrash
	}
	return nil
}

// crashAfterStep arms the switch for step; "" disarms it.
func (c *crashSwitch) crashAfterStep(step string) { c.step.Store(step) }
