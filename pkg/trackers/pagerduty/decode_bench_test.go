package pagerduty

import "testing"

// BenchmarkDecodeAnswers decodes the fake's answers as call does: a page
// of 100 incidents and one GET /incidents/{id} answer 100 times (a first
// listing's decoding, without HTTP).
func BenchmarkDecodeAnswers(b *testing.B) {
	list, one := fakeAnswers(b, PageSize)
	b.SetBytes(int64(len(list) + PageSize*len(one)))
	for b.Loop() {
		var l incidentList
		if err := l.decodeJSON(list); err != nil || len(l.Incidents) != PageSize {
			b.Fatal(len(l.Incidents), err)
		}
		for i := range l.Incidents {
			if err := (incidentAnswer{&l.Incidents[i]}).decodeJSON(one); err != nil {
				b.Fatal(err)
			}
		}
	}
}
