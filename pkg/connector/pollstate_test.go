package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

func newStateKV(t testing.TB) jetstream.KeyValue {
	t.Helper()
	_, js := testenv.NATS(t)
	kv, err := js.KeyValue(context.Background(), bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// partBytes sums the sizes of the part keys of a connector with revision
// above rev: what the saves after rev wrote besides the head.
func partBytes(t *testing.T, kv jetstream.KeyValue, id string, after uint64) (n, keys int) {
	t.Helper()
	lister, err := kv.ListKeysFiltered(context.Background(), id+".k.>")
	if err != nil {
		t.Fatal(err)
	}
	for k := range lister.Keys() {
		e, err := kv.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if e.Revision() > after {
			n += len(e.Value())
			keys++
		}
	}
	return n, keys
}

func TestPollStateWith100000KnownSavesOnlyWhatAPageChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := newStateKV(t)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const total = 100_000
	st := connector.PollState{Cursor: base}
	for i := range total {
		st.SetKnown(fmt.Sprintf("PROJ-%d", i), base.Add(time.Duration(i)*time.Millisecond))
	}
	st, err := s.Put(ctx, "jira-big", st)
	if err != nil {
		t.Fatal(err)
	}
	head, err := kv.Get(ctx, "jira-big")
	if err != nil {
		t.Fatal(err)
	}
	if len(head.Value()) > 4096 {
		t.Fatalf("the head holds %d bytes with 100,000 known tickets; the known set belongs in parts", len(head.Value()))
	}

	// Pages of 100: each save writes about what the page changed.
	for page := range 30 {
		rev := st.Revision
		st, err = s.Load(ctx, "jira-big")
		if err != nil || len(st.Known) != total+page*50 {
			t.Fatalf("page %d: load: %d known, %v", page, len(st.Known), err)
		}
		for i := range 50 {
			st.SetKnown(fmt.Sprintf("PROJ-%d", page*50+i), base.Add(time.Hour))   // updated
			st.SetKnown(fmt.Sprintf("NEW-%d-%d", page, i), base.Add(2*time.Hour)) // new
		}
		st.Cursor = base.Add(2 * time.Hour)
		if st, err = s.Put(ctx, "jira-big", st); err != nil {
			t.Fatal(err)
		}
		n, keys := partBytes(t, kv, "jira-big", rev)
		if keys != 1 || n > 100*80 {
			t.Fatalf("page %d wrote %d parts, %d bytes; want one part of about 100 entries", page, keys, n)
		}
	}
	// A page recorded with fingerprints (~60 characters each, as the
	// poller's) still writes one part of about the page.
	rev := st.Revision
	for i := range 100 {
		st.SetKnownVersion(fmt.Sprintf("PROJ-%d", 5000+i), base.Add(time.Hour), benchPrint)
	}
	if st, err = s.Put(ctx, "jira-big", st); err != nil {
		t.Fatal(err)
	}
	if n, keys := partBytes(t, kv, "jira-big", rev); keys != 1 || n > 100*200 {
		t.Fatalf("a page with fingerprints wrote %d parts, %d bytes; want one part of about 100 entries", keys, n)
	}
	got, err := s.Load(ctx, "jira-big")
	if err != nil {
		t.Fatal(err)
	}
	if got.KnownPrint("PROJ-5099") != benchPrint || got.KnownPrint("PROJ-4999") != "" {
		t.Fatalf("prints read back as %q, %q", got.KnownPrint("PROJ-5099"), got.KnownPrint("PROJ-4999"))
	}
	if len(got.Known) != total+30*50 || got.KnownCount != len(got.Known) {
		t.Fatalf("%d known (count %d), want %d", len(got.Known), got.KnownCount, total+30*50)
	}
	if !got.Known["PROJ-0"].Equal(base.Add(time.Hour)) || !got.Known["PROJ-99999"].Equal(base.Add(99999*time.Millisecond)) || !got.Known["NEW-29-49"].Equal(base.Add(2*time.Hour)) {
		t.Fatalf("wrong times: %v %v %v", got.Known["PROJ-0"], got.Known["PROJ-99999"], got.Known["NEW-29-49"])
	}
	if h, err := s.Head(ctx, "jira-big"); err != nil || h.Known != nil || h.KnownCount != total+30*50 || !h.Cursor.Equal(base.Add(2*time.Hour)) {
		t.Fatalf("head = %d known, count %d, cursor %v, %v", len(h.Known), h.KnownCount, h.Cursor, err)
	}
}

func TestPollStateForgetsAndCompacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := newStateKV(t)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := connector.PollState{}
	want := map[string]time.Time{}
	var err error
	// Many small saves: runs pile up until a compaction rewrites the base;
	// every load in between sees exactly the set written.
	for i := range 700 {
		k := fmt.Sprintf("o/r#%d", i)
		st.SetKnown(k, base.Add(time.Duration(i)*time.Second))
		want[k] = base.Add(time.Duration(i) * time.Second)
		if i%3 == 0 && i > 0 {
			gone := fmt.Sprintf("o/r#%d", i-1)
			st.ForgetKnown(gone)
			delete(want, gone)
		}
		if st, err = s.Put(ctx, "gh-many", st); err != nil {
			t.Fatal(err)
		}
		if i%97 == 0 || i == 699 {
			got, err := s.Load(ctx, "gh-many")
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Known) != len(want) {
				t.Fatalf("save %d: %d known, want %d", i, len(got.Known), len(want))
			}
			for k, v := range want {
				if !got.Known[k].Equal(v) {
					t.Fatalf("save %d: %s = %v, want %v", i, k, got.Known[k], v)
				}
			}
			st = got
		}
	}
	// Parts no head lists are deleted: what remains is bounded by the layout.
	lister, err := kv.ListKeysFiltered(ctx, "gh-many.k.>")
	if err != nil {
		t.Fatal(err)
	}
	parts := 0
	for range lister.Keys() {
		parts++
	}
	if parts > 16 {
		t.Fatalf("%d part keys left after 700 saves", parts)
	}
	if err := s.Delete(ctx, "gh-many"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.ListKeysFiltered(ctx, "gh-many.>"); err == nil {
		lister, _ := kv.ListKeysFiltered(ctx, "gh-many.>")
		for k := range lister.Keys() {
			t.Fatalf("key %s survived Delete", k)
		}
	}
	if got, err := s.Load(ctx, "gh-many"); err != nil || got.Revision != 0 || len(got.Known) != 0 {
		t.Fatalf("after delete: %+v, %v", got, err)
	}
}

func TestPollStateReadsTheOldSingleValueFormatAndUpgradesIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := newStateKV(t)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := map[string]any{
		"cursor": base, "cycles": 7, "owner": "r1",
		"known": map[string]time.Time{"PROJ-1": base, "PROJ-2": base.Add(time.Minute)},
	}
	data, _ := json.Marshal(old)
	if _, err := kv.Create(ctx, "jira-old", data); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load(ctx, "jira-old")
	if err != nil || len(st.Known) != 2 || st.Cycles != 7 || !st.Known["PROJ-2"].Equal(base.Add(time.Minute)) {
		t.Fatalf("old format read as %+v, %v", st, err)
	}
	if h, err := s.Head(ctx, "jira-old"); err != nil || h.KnownCount != 2 {
		t.Fatalf("head of the old format: count %d, %v", h.KnownCount, err)
	}
	st.SetKnown("PROJ-3", base.Add(2*time.Minute))
	if _, err := s.Put(ctx, "jira-old", st); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "jira-old")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(e.Value(), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["known"]; ok {
		t.Fatal("the upgraded head still holds the known set")
	}
	if _, ok := raw["known_layout"]; !ok {
		t.Fatal("the upgraded head has no layout")
	}
	got, err := s.Load(ctx, "jira-old")
	if err != nil || len(got.Known) != 3 || got.Cycles != 7 || got.Owner != "r1" {
		t.Fatalf("after the upgrade: %+v, %v", got, err)
	}
}

func TestPollStateDamagedLayoutIsReportedNotTrusted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tamper := map[string]func(t *testing.T, kv jetstream.KeyValue, part string){
		"part missing": func(t *testing.T, kv jetstream.KeyValue, part string) {
			if err := kv.Purge(ctx, part); err != nil {
				t.Fatal(err)
			}
		},
		"part rewritten": func(t *testing.T, kv jetstream.KeyValue, part string) {
			if _, err := kv.Put(ctx, part, []byte(`{"set":{"X-1":"2026-01-01T00:00:00Z"}}`)); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, change := range tamper {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			kv := newStateKV(t)
			s := connector.NewStateStore(kv)
			st := connector.PollState{Cursor: base}
			st.SetKnown("PROJ-1", base)
			st.SetKnown("PROJ-2", base)
			st, err := s.Put(ctx, "jira-dmg", st)
			if err != nil {
				t.Fatal(err)
			}
			lister, err := kv.ListKeysFiltered(ctx, "jira-dmg.k.>")
			if err != nil {
				t.Fatal(err)
			}
			var part string
			for k := range lister.Keys() {
				part = k
			}
			change(t, kv, part)
			got, err := s.Load(ctx, "jira-dmg")
			if !errors.Is(err, connector.ErrStateDamaged) {
				t.Fatalf("load of a damaged state: %v, want ErrStateDamaged", err)
			}
			if len(got.Known) != 0 || !got.Cursor.Equal(base) || got.Revision != st.Revision {
				t.Fatalf("damaged state read as %+v", got)
			}
			// A save rewrites it whole, and it reads back clean.
			got.SetKnown("PROJ-9", base)
			if _, err := s.Put(ctx, "jira-dmg", got); err != nil {
				t.Fatal(err)
			}
			again, err := s.Load(ctx, "jira-dmg")
			if err != nil || len(again.Known) != 1 {
				t.Fatalf("after the rewrite: %d known, %v", len(again.Known), err)
			}
		})
	}
}

func TestPollStateStaleWriterLosesAndLeavesNoParts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := newStateKV(t)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := connector.PollState{}
	st.SetKnown("A-1", base)
	st, err := s.Put(ctx, "jira-race", st)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Load(ctx, "jira-race")
	b, _ := s.Load(ctx, "jira-race")
	a.SetKnown("A-2", base)
	b.SetKnown("B-2", base)
	if _, err := s.Put(ctx, "jira-race", a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "jira-race", b); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale save: %v, want ErrConflict", err)
	}
	got, err := s.Load(ctx, "jira-race")
	if err != nil || len(got.Known) != 2 || got.Known["B-2"] != (time.Time{}) {
		t.Fatalf("after the race: %v, %v", got.Known, err)
	}
	lister, _ := kv.ListKeysFiltered(ctx, "jira-race.k.>")
	n := 0
	for range lister.Keys() {
		n++
	}
	if n != 2 {
		t.Fatalf("%d parts, want the base and A's run", n)
	}
	// A save that died between its run and its head leaves the slot taken:
	// the next save from the same head reuses it.
	c, _ := s.Load(ctx, "jira-race")
	if _, err := kv.Put(ctx, "jira-race.k.r1", []byte(`{"set":{"DEAD-1":"2026-01-01T00:00:00Z"}}`)); err != nil {
		t.Fatal(err)
	}
	c.SetKnown("C-3", base)
	if _, err := s.Put(ctx, "jira-race", c); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load(ctx, "jira-race")
	if err != nil || len(got.Known) != 3 || got.Known["DEAD-1"] != (time.Time{}) {
		t.Fatalf("after reusing a dead save's slot: %v, %v", got.Known, err)
	}
	if _, err := s.Put(ctx, "jira-race", mustHead(t, s, "jira-race")); err == nil {
		t.Fatal("a state read with Head was saved")
	}
}

func mustHead(t *testing.T, s *connector.StateStore, id string) connector.PollState {
	t.Helper()
	h, err := s.Head(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPollStatePageCachesAreWrittenOnlyWhenReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := newStateKV(t)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = fmt.Sprintf("o/r#%d", i)
	}
	st := connector.PollState{Pages: []connector.PageCache{{ETag: `"a"`, Next: "2", Keys: keys}}, IncrementalPages: []connector.PageCache{{Since: base, ETag: `"b"`}}}
	st, err := s.Put(ctx, "gh-pages", st)
	if err != nil {
		t.Fatal(err)
	}
	st, err = s.Load(ctx, "gh-pages")
	if err != nil || len(st.Pages) != 1 || len(st.Pages[0].Keys) != 5000 || st.IncrementalPages[0].ETag != `"b"` || !st.IncrementalPages[0].Since.Equal(base) {
		t.Fatalf("pages read back as %d pages, %v", len(st.Pages), err)
	}
	// A save that did not replace the page caches writes the head alone.
	rev := st.Revision
	st.SetKnown("o/r#1", base)
	if st, err = s.Put(ctx, "gh-pages", st); err != nil {
		t.Fatal(err)
	}
	if n, _ := partBytes(t, kv, "gh-pages", rev); n > 200 {
		t.Fatalf("a save with unchanged page caches wrote %d bytes of parts", n)
	}
	if h, _ := kv.Get(ctx, "gh-pages"); len(h.Value()) > 1024 {
		t.Fatalf("the head holds %d bytes: the page caches belong in a part", len(h.Value()))
	}
	// A listing replaces them: the next save writes them.
	st.IncrementalPages = []connector.PageCache{{Since: base.Add(time.Hour), ETag: `"c"`}}
	if _, err = s.Put(ctx, "gh-pages", st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, "gh-pages")
	if err != nil || got.IncrementalPages[0].ETag != `"c"` || len(got.Pages[0].Keys) != 5000 || len(got.Known) != 1 {
		t.Fatalf("after replacing: %+v, %v", got.IncrementalPages, err)
	}
}

// BenchmarkPollStateSavePage: one page of 100 changed tickets saved on top
// of a known set of 1,000 or 100,000; the cost should not grow with the set.
func BenchmarkPollStateSavePage(b *testing.B) {
	for _, known := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(known), func(b *testing.B) {
			ctx := context.Background()
			s := connector.NewStateStore(newStateKV(b))
			base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			st := connector.PollState{}
			for i := range known {
				st.SetKnown(fmt.Sprintf("PROJ-%d", i), base)
			}
			st, err := s.Put(ctx, "jira-bench", st)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for n := range b.N {
				for i := range 100 {
					st.SetKnown(fmt.Sprintf("PROJ-%d", (n*100+i)%known), base.Add(time.Duration(n+1)*time.Second))
				}
				if st, err = s.Put(ctx, "jira-bench", st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestPollStateReplacedKnownMapIsRewrittenWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := connector.NewStateStore(newStateKV(t))
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := connector.PollState{}
	st.SetKnown("12", base)
	st.SetKnown("13", base)
	st, err := s.Put(ctx, "gh-moved", st)
	if err != nil {
		t.Fatal(err)
	}
	// Same size, other keys, a new map: nothing went through SetKnown.
	st.Known = map[string]time.Time{"o/r#12": base, "o/r#13": base}
	if _, err := s.Put(ctx, "gh-moved", st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, "gh-moved")
	if _, ok := got.Known["o/r#12"]; err != nil || !ok || len(got.Known) != 2 {
		t.Fatalf("after replacing the map: %v, %v", got.Known, err)
	}
}

// BenchmarkPollStateLoad: what every cycle of a connector with 10,000
// known tickets pays before it asks the tracker anything (an idle cycle is
// mostly this). state-B/ticket is the stored size of its parts per known
// ticket (the page caches' keys included).
func BenchmarkPollStateLoad(b *testing.B) {
	ctx := context.Background()
	kv := newStateKV(b)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	const known = 10_000
	st := connector.PollState{}
	for i := range known {
		setKnownForBench(&st, fmt.Sprintf("octo-org/service-%d#%d", i%40, 1000+i), base.Add(time.Duration(i)*time.Second))
	}
	// A conditional tracker's whole-set pages (100 tickets each) with their keys.
	for pg := range known / 100 {
		pc := connector.PageCache{Token: fmt.Sprint(pg), ETag: fmt.Sprintf(`W/"%x"`, pg*7919), Next: fmt.Sprint(pg + 1)}
		for i := pg * 100; i < (pg+1)*100; i++ {
			pc.Keys = append(pc.Keys, fmt.Sprintf("octo-org/service-%d#%d", i%40, 1000+i))
		}
		st.Pages = append(st.Pages, pc)
	}
	st, err := s.Put(ctx, "gh-load", st)
	if err != nil {
		b.Fatal(err)
	}
	// Some saves of a page each, as cycles leave it: a base and runs.
	for n := range 20 {
		for i := range 100 {
			k := (n*337 + i*7) % known
			setKnownForBench(&st, fmt.Sprintf("octo-org/service-%d#%d", k%40, 1000+k), base.Add(time.Duration(known+n*100+i)*time.Second))
		}
		if st, err = s.Put(ctx, "gh-load", st); err != nil {
			b.Fatal(err)
		}
	}
	size := 0
	lister, err := kv.ListKeysFiltered(ctx, "gh-load.k.>")
	if err != nil {
		b.Fatal(err)
	}
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			b.Fatal(err)
		}
		size += len(e.Value())
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for range b.N {
		got, err := s.Load(ctx, "gh-load")
		if err != nil || len(got.Known) != known {
			b.Fatalf("%d known, %v", len(got.Known), err)
		}
	}
	// CPU rather than wall time (the machine is shared): this process's,
	// the in-process NATS server's included.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(size)/known, "state-B/ticket")
}

func TestPollStateKeepsFingerprintsWithTheKnownVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := newStateKV(t)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := connector.PollState{}
	st.SetKnownVersion("o/r#1", base, "fp-1")
	st.SetKnownVersion("o/r#2", base, "fp-2")
	st.SetKnownVersion("o/r#3", base, "fp-3")
	st.SetKnown("o/r#4", base) // a version recorded without one
	st, err := s.Put(ctx, "gh-fp", st)
	if err != nil {
		t.Fatal(err)
	}
	// Runs: a new version, one without a print (it clears the old one),
	// one forgotten, one moved to another print.
	st.SetKnownVersion("o/r#1", base.Add(time.Minute), "fp-1b")
	st.SetKnown("o/r#2", base.Add(time.Minute))
	st.ForgetKnown("o/r#3")
	st.SetKnownVersion("o/r#4", base.Add(time.Minute), "fp-4")
	if st, err = s.Put(ctx, "gh-fp", st); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"o/r#1": "fp-1b", "o/r#2": "", "o/r#3": "", "o/r#4": "fp-4"}
	check := func(name string, got connector.PollState) {
		t.Helper()
		for k, fp := range want {
			if got.KnownPrint(k) != fp {
				t.Fatalf("%s: print of %s = %q, want %q", name, k, got.KnownPrint(k), fp)
			}
		}
		if len(got.Known) != 3 {
			t.Fatalf("%s: %d known, want 3", name, len(got.Known))
		}
	}
	check("after the saves", st)
	// Read by this store (parts cached) and by another replica's.
	for name, store := range map[string]*connector.StateStore{"same store": s, "another store": connector.NewStateStore(kv)} {
		got, err := store.Load(ctx, "gh-fp")
		if err != nil {
			t.Fatal(err)
		}
		check(name, got)
	}
	// A compaction (a full rewrite) keeps them too.
	got, _ := s.Load(ctx, "gh-fp")
	got.Known = maps.Clone(got.Known)
	if _, err := s.Put(ctx, "gh-fp", got); err != nil {
		t.Fatal(err)
	}
	again, err := connector.NewStateStore(kv).Load(ctx, "gh-fp")
	if err != nil {
		t.Fatal(err)
	}
	check("after a full rewrite", again)
}

// TestPollStateChangedByAnotherWriterIsReadAgain: a store keeps the parts
// it decoded, but a state another replica saved since (a new head, new
// runs, a new base in a reused key) is what the next load returns.
func TestPollStateChangedByAnotherWriterIsReadAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := newStateKV(t)
	mine, theirs := connector.NewStateStore(kv), connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := connector.PollState{}
	for i := range 50 {
		st.SetKnownVersion(fmt.Sprintf("PROJ-%d", i), base, "mine")
	}
	if _, err := mine.Put(ctx, "jira-other", st); err != nil {
		t.Fatal(err)
	}
	if _, err := mine.Load(ctx, "jira-other"); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		// The other replica takes over and saves: a run, then (a replaced
		// map) a full rewrite into the other base set, then into the same
		// base keys the first one used.
		other, err := theirs.Load(ctx, "jira-other")
		if err != nil {
			t.Fatal(err)
		}
		if round > 0 {
			other.Known = maps.Clone(other.Known)
		}
		want := fmt.Sprint("theirs-", round)
		for i := range 50 {
			other.SetKnownVersion(fmt.Sprintf("PROJ-%d", i), base.Add(time.Duration(round+1)*time.Hour), want)
		}
		if _, err := theirs.Put(ctx, "jira-other", other); err != nil {
			t.Fatal(err)
		}
		got, err := mine.Load(ctx, "jira-other")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			k := fmt.Sprintf("PROJ-%d", i)
			if !got.Known[k].Equal(base.Add(time.Duration(round+1)*time.Hour)) || got.KnownPrint(k) != want {
				t.Fatalf("round %d: %s read as %v %q, want the other writer's %v %q", round, k, got.Known[k], got.KnownPrint(k), base.Add(time.Duration(round+1)*time.Hour), want)
			}
		}
	}
}

// TestPollStatePartsStayBelowThePayloadLimit: with 100-character keys and
// a fingerprint each, an entry is ~350 bytes; no base chunk, run or merged
// run may come near NATS's 1 MB payload limit (the server refuses it: the
// state could then never be saved again).
func TestPollStatePartsStayBelowThePayloadLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := newStateKV(t)
	s := connector.NewStateStore(kv)
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	key := func(i int) string {
		k := fmt.Sprintf("a-rather-long-organisation-name-of-thirty-nine/a-repository-with-a-long-name#%d", 100000+i)
		return k + strings.Repeat("x", 100-len(k))
	}
	const known = 10_000
	st := connector.PollState{}
	for i := range known {
		st.SetKnownVersion(key(i), base, benchPrint+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") // the largest fingerprint: 99 characters
	}
	if len(key(0)) != 100 {
		t.Fatalf("key of %d characters", len(key(0)))
	}
	st, err := s.Put(ctx, "gh-long", st)
	if err != nil {
		t.Fatal(err)
	}
	// Saves of 3,000 changes each make large runs and merges of them.
	for n := range 8 {
		for i := range 3000 {
			k := (n*1234 + i) % known
			st.SetKnownVersion(key(k), base.Add(time.Duration(n+1)*time.Minute), benchPrint)
		}
		if st, err = s.Put(ctx, "gh-long", st); err != nil {
			t.Fatalf("save %d: %v", n, err)
		}
	}
	biggest := 0
	lister, err := kv.ListKeysFiltered(ctx, "gh-long.k.>")
	if err != nil {
		t.Fatal(err)
	}
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		biggest = max(biggest, len(e.Value()))
	}
	if biggest > 512<<10 {
		t.Fatalf("a part of %d bytes: want every part well below the 1 MB payload limit", biggest)
	}
	got, err := connector.NewStateStore(kv).Load(ctx, "gh-long")
	if err != nil || len(got.Known) != known || got.KnownPrint(key(1)) != benchPrint {
		t.Fatalf("%d known, print %q, %v", len(got.Known), got.KnownPrint(key(1)), err)
	}
	t.Logf("biggest part: %d bytes", biggest)
}
