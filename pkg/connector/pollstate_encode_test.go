package connector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// partStrings are keys and prints as trackers make them, and strings that
// encoding/json escapes.
var partStrings = []string{"PROJ-1", "o/r#12", "g/p!3", "1234", "", "a\"b", `back\slash`, "<tag>&amp;", "tab\there",
	"\x00nul", "\x7f", "é", "日本", "\u2028", "bad\xffutf8", "fp:0123456789abcdef", "ctl\x1f"}

func partTimes() []time.Time {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []time.Time{base, base.Add(123456789), base.In(time.FixedZone("x", -5*3600-30*60)), {},
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), base.In(time.FixedZone("s", 3600+7))}
}

func assertSameAsJSON(t *testing.T, p *part) {
	t.Helper()
	want, werr := json.Marshal(p)
	got, gerr := encodePart(p)
	if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("part %+v:\nencodePart %s (%v)\njson       %s (%v)", p, got, gerr, want, werr)
	}
}

func TestEncodePartIsJSONMarshal(t *testing.T) {
	t.Parallel()
	ts := partTimes()
	cases := map[string]*part{
		"empty":          {},
		"empty maps":     {Set: map[string]time.Time{}, Prints: map[string]string{}, Del: []string{}},
		"set only":       {Set: map[string]time.Time{"PROJ-2": ts[0], "PROJ-10": ts[1]}},
		"prints only":    {Prints: map[string]string{"PROJ-2": "abc"}},
		"del only":       {Del: []string{"PROJ-3", "PROJ-1"}},
		"year 10000":     {Set: map[string]time.Time{"k": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		"negative year":  {Set: map[string]time.Time{"k": time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}},
		"offset 24h":     {Set: map[string]time.Time{"k": ts[0].In(time.FixedZone("d", 24*3600))}},
		"offset -23h59m": {Set: map[string]time.Time{"k": ts[0].In(time.FixedZone("d", -(23*3600 + 59*60)))}},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) { assertSameAsJSON(t, p) })
	}
	rng := rand.New(rand.NewPCG(9, 4))
	for i := range 500 {
		p := &part{Set: map[string]time.Time{}, Prints: map[string]string{}}
		for range rng.IntN(6) {
			k := partStrings[rng.IntN(len(partStrings))] + fmt.Sprint(rng.IntN(3))
			p.Set[k] = ts[rng.IntN(len(ts))]
			p.Prints[k] = partStrings[rng.IntN(len(partStrings))]
		}
		for range rng.IntN(3) {
			p.Del = append(p.Del, partStrings[rng.IntN(len(partStrings))])
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { assertSameAsJSON(t, p) })
	}
}

// TestMarshalPartOtherValues: parts other than known tickets' are
// encoding/json's.
func TestMarshalPartOtherValues(t *testing.T) {
	t.Parallel()
	v := &pagesPart{}
	got, err := marshalPart(v)
	want, _ := json.Marshal(v)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("marshalPart %s, %v; want %s", got, err, want)
	}
}

func FuzzEncodePart(f *testing.F) {
	f.Add("PROJ-1", "fp", "PROJ-2", int64(1767322245), int64(5), 0)
	f.Add("<&>", "\x00", "é\xff", int64(-62167219200), int64(0), 3600)
	f.Add("k", "v", "", int64(253402300800), int64(1), 86400)
	f.Fuzz(func(t *testing.T, k1, v1, k2 string, sec, nsec int64, off int) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", off%(200*3600)))
		assertSameAsJSON(t, &part{Set: map[string]time.Time{k1: tm, k2: tm.Add(time.Second)}, Prints: map[string]string{k1: v1, v1: k2}, Del: []string{k2, v1}})
	})
}
