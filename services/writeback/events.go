package writeback

import chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"

// stepsToProto translates step outcomes for writeback.completed and
// writeback.failed (the bus port, beside bus.go).
func stepsToProto(steps []stepOutcome) []*chv1.WritebackStep {
	out := make([]*chv1.WritebackStep, 0, len(steps))
	for _, st := range steps {
		ps := &chv1.WritebackStep{Name: st.Name, Outcome: st.Outcome, Reason: st.Reason}
		if st.Outcome == StepApplied {
			ps.Link = &chv1.Link{Kind: st.Link.Kind, Url: st.Link.URL, Key: st.Link.Key}
		}
		out = append(out, ps)
	}
	return out
}
