package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The known tickets of a connector do not live in its head key: a save after
// one page must cost what the page changed, not what the connector knows
// (100,000 open tickets would be ~6 MB, beyond a KV value).
//
// Layout in the poll_state bucket, for connector <id>:
//
//	<id>               head: every PollState field but Known and the page
//	                   caches, plus knownLayout
//	<id>.k.a<i>, b<i>  base chunks: two sets of slices of a snapshot of Known
//	                   (at most knownChunk entries and partBudget bytes
//	                   each), used in turn
//	<id>.k.r<j>        runs: each holds the changes of one save (or a merge
//	                   of several), in the lowest free slot; a save whose
//	                   changes exceed one part's bounds writes several
//	<id>.k.p0, p1      the page caches, used in turn
//
// A save with changes writes run j (the first slot the head does not list)
// and then the head, conditionally on the head's revision; the head lists
// the parts with the revision each was written at, so a part changed or
// lost behind the head's back is detected (ErrStateDamaged) rather than read
// as truth. When the runs hold as many entries as the base, the next save
// writes a fresh base into the set the head does not use (compaction); its
// cost, O(known), is spread over at least as many changed entries. When
// there are too many runs (8, or one per 256 known tickets), the next
// save merges them into one (a cost spread over those saves). So a save
// costs O(page) amortized, and a load reads the base and a bounded number
// of runs. A writer only
// ever writes keys the head it read does not list, so a save that loses the
// race or dies half-way damages nothing (run slots are claimed with Create,
// so a writer holding a stale head gets ErrConflict); keys are reused, so
// the bucket holds a bounded number of keys per connector and no delete
// markers pile up (a purged run slot is rewritten by a later save). A state stored in the old single-value format
// (Known inside the head) is read as such and rewritten in this layout by
// its next save.
//
// A known ticket's entry is its update time and, since issue 9, the
// fingerprint of the version published (pkg/ticketver's field hashes, ~60
// bytes): part.Set and part.Prints, one key in both. A part written before
// holds no prints: its tickets read back without one (the poller then has
// no changed fields for their next version). A binary from before reads a
// part with prints and ignores them.

const (
	knownLayoutVersion = 2
	// knownChunk bounds the entries of a part, partBudget its estimated
	// size (entryBytes): an entry with a fingerprint is ~150 bytes with
	// short keys (4096 of them: ~600 KB) but ~350 bytes with 100-character
	// keys, so the byte budget keeps every part well below NATS's 1 MB
	// payload limit whatever the keys (TestPollStatePartsStayBelowThePayloadLimit).
	knownChunk = 4096
	partBudget = 256 << 10
	// minRuns and runsPer: a state of n known tickets keeps at most
	// max(minRuns, n/runsPer) runs; at that many, the next save merges them
	// into one. A merge writes at most every ticket the runs touched (≤ n),
	// once per n/runsPer saves: O(page) amortized, and a load reads the
	// base and at most that many runs.
	minRuns = 8
	runsPer = 256
	maxRuns = 1024
)

// ErrStateDamaged means the stored poll state is inconsistent: its head names
// a part that is missing or was rewritten, or the parts do not add up to the
// count the head recorded. The head's fields are still returned, with an
// empty Known set; a save rewrites the whole state.
var ErrStateDamaged = errors.New("poll state damaged")

// knownLayout is the head's description of where Known is stored.
type knownLayout struct {
	Version int `json:"v"`
	// Set is the base set in use, "a" or "b".
	Set        string    `json:"set,omitempty"`
	Base       []partRef `json:"base,omitempty"`
	Runs       []partRef `json:"runs,omitempty"`
	RunEntries int       `json:"run_entries,omitempty"`
	// Pages names the part holding Pages and IncrementalPages: the keys of
	// whole-set pages grow with the known set, so they are written only
	// when a listing replaced them, not with every save.
	Pages *partRef `json:"pages,omitempty"`
}

// pagesPart is the stored form of the page caches.
type pagesPart struct {
	Pages            []PageCache `json:"pages,omitempty"`
	IncrementalPages []PageCache `json:"incremental_pages,omitempty"`
}

// pagesSig identifies the page slices a state holds: the poller replaces
// them whole after a listing, so the same first element and length means
// unchanged.
type pagesSig struct {
	pages, incremental     *PageCache
	nPages, nIncrementalPg int
}

func sigOf(st *PollState) pagesSig {
	sig := pagesSig{nPages: len(st.Pages), nIncrementalPg: len(st.IncrementalPages)}
	if len(st.Pages) > 0 {
		sig.pages = &st.Pages[0]
	}
	if len(st.IncrementalPages) > 0 {
		sig.incremental = &st.IncrementalPages[0]
	}
	return sig
}

// partRef names one part and the KV revision it was written at.
type partRef struct {
	Key string `json:"k"`
	Rev uint64 `json:"r"`
}

// part is a stored base chunk or run: tickets set (key → update time, and
// key → fingerprint for those that have one) and tickets forgotten. A run
// that sets a ticket without a print clears the print an earlier part gave
// it.
type part struct {
	Set    map[string]time.Time `json:"set,omitempty"`
	Prints map[string]string    `json:"fp,omitempty"`
	Del    []string             `json:"del,omitempty"`
}

// entryBytes over-estimates the JSON size of one ticket's entry in a part:
// the key twice (set and fp), the time (≤ 37 bytes quoted), the print and
// the punctuation.
func entryBytes(key, fp string) int { return 2*len(key) + len(fp) + 56 }

// head is the stored form of a head key.
type head struct {
	PollState
	Layout *knownLayout `json:"known_layout,omitempty"`
}

// knownTrack follows the changes of Known since it was loaded or saved, so a
// save writes only them. It is shared by copies of a PollState.
type knownTrack struct {
	layout knownLayout
	stored bool // layout describes what is stored (false: rewrite all)
	count  int  // len(Known) as the tracked changes leave it
	// known is the map the changes were tracked on: a state whose Known was
	// replaced by another map is rewritten whole.
	known   map[string]time.Time
	changed map[string]struct{}
	// touched: the tickets the stored runs set or forget.
	touched map[string]struct{}
	pages   pagesSig // the page caches as stored
	// headOnly: read by Head, without the known tickets.
	headOnly bool
}

// SetKnownVersion records that the event of ticket key at version updated
// was published; fp is that version's fingerprint ("" for none), which
// KnownPrint returns until the ticket's next version or ForgetKnown.
// Changes made through SetKnownVersion, SetKnown and ForgetKnown are what a
// save writes; a Known map changed otherwise is rewritten whole.
func (st *PollState) SetKnownVersion(key string, updated time.Time, fp string) {
	if st.Known == nil {
		st.Known = map[string]time.Time{}
	}
	tr := st.tracker()
	if _, ok := st.Known[key]; !ok {
		tr.count++
	}
	st.Known[key] = updated
	st.setPrint(key, fp)
	tr.changed[key] = struct{}{}
}

// SetKnown is SetKnownVersion without a fingerprint.
func (st *PollState) SetKnown(key string, updated time.Time) { st.SetKnownVersion(key, updated, "") }

// KnownPrint is the fingerprint recorded with ticket key's known version;
// "" when there is none (not known, or recorded without one).
func (st *PollState) KnownPrint(key string) string {
	if fp, ok := st.prints[key]; ok {
		return fp
	}
	if _, ok := st.Known[key]; !ok {
		return ""
	}
	for i := len(st.printSrc) - 1; i >= 0; i-- {
		if p := st.printSrc[i]; p.Set != nil {
			if _, ok := p.Set[key]; ok {
				return p.Prints[key]
			}
		}
	}
	return ""
}

func (st *PollState) setPrint(key, fp string) {
	if st.prints == nil {
		st.prints = map[string]string{}
	}
	st.prints[key] = fp
}

// mergedPrints is every print the parts from printSrc[from:] give, with the
// changes since applied: what a save that rewrites many entries looks
// them up in (one pass, rather than a search of the parts per entry).
func (st *PollState) mergedPrints(from int) map[string]string {
	out := map[string]string{}
	for _, p := range st.printSrc[min(from, len(st.printSrc)):] {
		for k := range p.Set {
			if fp, ok := p.Prints[k]; ok {
				out[k] = fp
			} else {
				delete(out, k)
			}
		}
		for _, k := range p.Del {
			delete(out, k)
		}
	}
	for k, fp := range st.prints {
		if fp == "" {
			delete(out, k)
		} else {
			out[k] = fp
		}
	}
	return out
}

// ForgetKnown removes ticket key from the known set.
func (st *PollState) ForgetKnown(key string) {
	tr := st.tracker()
	if _, ok := st.Known[key]; ok {
		tr.count--
		delete(st.Known, key)
	}
	if st.prints != nil || len(st.printSrc) > 0 {
		st.setPrint(key, "")
	}
	tr.changed[key] = struct{}{}
}

func (st *PollState) tracker() *knownTrack {
	if st.track == nil || st.track.changed == nil {
		headOnly := st.track != nil && st.track.headOnly
		st.track = &knownTrack{count: len(st.Known), changed: map[string]struct{}{}, headOnly: headOnly}
	}
	return st.track
}

// Load reads the state of a connector with its known tickets; a connector
// never polled has a zero state. A damaged layout returns the head's fields,
// an empty Known and an error wrapping ErrStateDamaged.
func (s *StateStore) Load(ctx context.Context, id string) (PollState, error) {
	st, layout, err := s.readHead(ctx, id)
	if err != nil || layout == nil {
		// Missing, or the old single-value format: Known came with the head
		// and the next save writes the new layout.
		return st, err
	}
	known := make(map[string]time.Time, st.KnownCount)
	touched := map[string]struct{}{}
	damaged := func(format string, args ...any) (PollState, error) {
		s.cache.drop(id)
		st.Known, st.prints, st.printSrc = map[string]time.Time{}, nil, nil
		st.track = &knownTrack{changed: map[string]struct{}{}} // stored=false: the next save rewrites all
		return st, fmt.Errorf("%w: %s: %s", ErrStateDamaged, id, fmt.Sprintf(format, args...))
	}
	if ref := layout.Pages; ref != nil {
		pp, err := cachedRead[pagesPart](ctx, s, id, *ref)
		if errors.Is(err, ErrStateDamaged) {
			return damaged("%v", err)
		} else if err != nil {
			return PollState{}, err
		}
		// Shared with the cache: the poller replaces page caches whole and
		// never edits one (clipped, so an append copies).
		st.Pages, st.IncrementalPages = slices.Clip(pp.Pages), slices.Clip(pp.IncrementalPages)
	}
	refs := slices.Concat(layout.Base, layout.Runs)
	srcs := make([]*part, 0, len(refs))
	for i, ref := range refs {
		p, err := cachedRead[part](ctx, s, id, ref)
		if errors.Is(err, ErrStateDamaged) {
			return damaged("%v", err)
		} else if err != nil {
			return PollState{}, err
		}
		run := i >= len(layout.Base)
		if !run && len(p.Del) > 0 {
			return damaged("base part %s forgets tickets", ref.Key)
		}
		for k, t := range p.Set {
			known[k] = t
			if run {
				touched[k] = struct{}{}
			}
		}
		for _, k := range p.Del {
			delete(known, k)
			touched[k] = struct{}{}
		}
		srcs = append(srcs, p)
	}
	if len(known) != st.KnownCount {
		return damaged("parts hold %d tickets, the head counted %d", len(known), st.KnownCount)
	}
	if layout.Pages != nil {
		refs = append(refs, *layout.Pages)
	}
	s.cache.keep(id, refs)
	st.Known, st.prints, st.printSrc = known, nil, srcs
	st.track = &knownTrack{layout: *layout, stored: true, count: len(known), known: known, changed: map[string]struct{}{}, touched: touched, pages: sigOf(&st)}
	return st, nil
}

// readPart reads a part named by the head into v; ErrStateDamaged when it
// is missing, rewritten or unreadable.
func (s *StateStore) readPart(ctx context.Context, ref partRef, v any) error {
	e, err := s.fetchPart(ctx, ref)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return fmt.Errorf("%w: part %s: %v", ErrStateDamaged, ref.Key, err)
	}
	return nil
}

// cachedRead reads a part named by the head (a base chunk, a run or the
// page caches). The decoded part is cached by key and revision (a revision
// is never written twice, so the pair names one content): the part is
// still read, so a part missing or rewritten behind the head's back is
// ErrStateDamaged as before, but only a part not decoded before costs its
// JSON decoding (issue 9: at 10,000 known tickets that decoding was most
// of an idle cycle).
func cachedRead[T part | pagesPart](ctx context.Context, s *StateStore, id string, ref partRef) (*T, error) {
	if cached, ok := s.cache.get(id, ref).(*T); ok {
		if err := s.checkPart(ctx, ref); err != nil {
			return nil, err
		}
		return cached, nil
	}
	v := new(T)
	if err := s.readPart(ctx, ref, v); err != nil {
		return nil, err
	}
	s.cache.put(id, ref, v)
	return v, nil
}

// checkPart is readPart without decoding: the part is there at the
// revision the head wrote.
func (s *StateStore) checkPart(ctx context.Context, ref partRef) error {
	_, err := s.fetchPart(ctx, ref)
	return err
}

// fetchPart reads the entry of a part named by the head: ErrStateDamaged
// when it is missing or at another revision than the head wrote.
func (s *StateStore) fetchPart(ctx context.Context, ref partRef) (jetstream.KeyValueEntry, error) {
	e, err := s.kv.Get(ctx, ref.Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: part %s is missing", ErrStateDamaged, ref.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("read poll state %s: %w", ref.Key, err)
	}
	if e.Revision() != ref.Rev {
		return nil, fmt.Errorf("%w: part %s is at revision %d, the head wrote %d", ErrStateDamaged, ref.Key, e.Revision(), ref.Rev)
	}
	return e, nil
}

// readHead reads the head key. layout is nil for a missing state and for the
// old single-value format.
func (s *StateStore) readHead(ctx context.Context, id string) (PollState, *knownLayout, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return PollState{}, nil, nil
	}
	if err != nil {
		return PollState{}, nil, fmt.Errorf("read poll state %s: %w", id, err)
	}
	var h head
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return PollState{}, nil, fmt.Errorf("decode poll state %s: %w", id, err)
	}
	st := h.PollState
	st.Revision = e.Revision()
	if h.Layout == nil {
		st.KnownCount = len(st.Known)
		return st, nil, nil
	}
	if h.Layout.Version != knownLayoutVersion {
		return st, nil, fmt.Errorf("%w: %s: layout version %d", ErrStateDamaged, id, h.Layout.Version)
	}
	return st, h.Layout, nil
}

// save writes the changed known tickets (or all of them), then the head.
func (s *StateStore) save(ctx context.Context, id string, st PollState) (PollState, error) {
	tr := st.track
	full := tr == nil || !tr.stored || tr.count != len(st.Known) || !sameMap(tr.known, st.Known)
	var layout knownLayout
	if !full {
		layout = tr.layout
		layout.Base = slices.Clone(layout.Base)
		layout.Runs = slices.Clone(layout.Runs)
		if n := len(tr.changed); n > 0 && layout.RunEntries+n > max(len(st.Known), knownChunk) {
			full = true
		}
	}
	writePart := func(key string, p any) (partRef, error) {
		data, err := marshalPart(p)
		if err != nil {
			return partRef{}, err
		}
		key = id + ".k." + key
		rev, err := s.kv.Put(ctx, key, data)
		if err != nil {
			return partRef{}, fmt.Errorf("write poll state %s: %w", key, err)
		}
		ref := partRef{Key: key, Rev: rev}
		s.cache.put(id, ref, p)
		return ref, nil
	}
	old := knownLayout{}
	if tr != nil && tr.stored {
		old = tr.layout
	}
	// srcs: the parts the saved state's prints are read from (printSrc).
	var srcs []*part
	switch {
	case full:
		set := "a"
		if old.Set == "a" {
			set = "b"
		}
		layout = knownLayout{Version: knownLayoutVersion, Set: set, Pages: old.Pages}
		keys := make([]string, 0, len(st.Known))
		for k := range st.Known {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		all := st.mergedPrints(0)
		for i, p := range st.parts(keys, func(k string) string { return all[k] }) {
			ref, err := writePart(set+strconv.Itoa(i), p)
			if err != nil {
				return st, err
			}
			layout.Base = append(layout.Base, ref)
			srcs = append(srcs, p)
		}
	case len(tr.changed) > 0:
		keys := tr.changed
		printOf := st.KnownPrint
		srcs = st.printSrc
		if len(layout.Runs) >= min(max(minRuns, len(st.Known)/runsPer), maxRuns) {
			// Merge: one run with every ticket the runs and this save touched.
			keys = maps.Clone(tr.touched)
			maps.Copy(keys, tr.changed)
			layout.Runs, layout.RunEntries = nil, 0
			runs := st.mergedPrints(len(layout.Base))
			printOf = func(k string) string { return runs[k] }
			srcs = st.printSrc[:min(len(layout.Base), len(st.printSrc))]
		}
		srcs = slices.Clip(srcs)
		// A run too large for one part (a big merge, a save after many
		// pages) goes into several slots, each bounded like a base chunk.
		for _, p := range st.parts(slices.Sorted(maps.Keys(keys)), printOf) {
			ref, err := s.writeRun(ctx, id, st.Revision, freeSlot(old.Runs, layout.Runs), p)
			if err != nil {
				return st, err
			}
			layout.Runs = append(layout.Runs, ref)
			srcs = append(srcs, p)
		}
		layout.RunEntries += len(keys)
	}
	if tr == nil || !tr.stored || sigOf(&st) != tr.pages || (layout.Pages == nil) != (len(st.Pages)+len(st.IncrementalPages) == 0) {
		slot := "p0"
		if old.Pages != nil && strings.HasSuffix(old.Pages.Key, ".p0") {
			slot = "p1"
		}
		layout.Pages = nil
		if len(st.Pages)+len(st.IncrementalPages) > 0 {
			ref, err := writePart(slot, &pagesPart{Pages: slices.Clip(st.Pages), IncrementalPages: slices.Clip(st.IncrementalPages)})
			if err != nil {
				return st, err
			}
			layout.Pages = &ref
		}
	}
	hs := st
	hs.Known, hs.Pages, hs.IncrementalPages = nil, nil, nil
	hs.KnownCount = len(st.Known)
	data, err := json.Marshal(head{PollState: hs, Layout: &layout})
	if err != nil {
		return st, fmt.Errorf("encode poll state %s: %w", id, err)
	}
	var rev uint64
	if st.Revision == 0 {
		rev, err = s.kv.Create(ctx, id, data)
	} else {
		rev, err = s.kv.Update(ctx, id, data, st.Revision)
	}
	if err != nil {
		if isWrongRevision(err) {
			return st, fmt.Errorf("%w: poll state %s", ErrConflict, id)
		}
		return st, fmt.Errorf("write poll state %s: %w", id, err)
	}
	// Runs the new head no longer lists (taken into a base or merged) are
	// free slots again: emptied, so a later save can claim them exclusively.
	for _, r := range old.Runs {
		if !slices.Contains(layout.Runs, r) {
			_ = s.kv.Purge(ctx, r.Key)
		}
	}
	kept := slices.Concat(layout.Base, layout.Runs)
	if layout.Pages != nil {
		kept = append(kept, *layout.Pages)
	}
	s.cache.keep(id, kept)
	touched := map[string]struct{}{}
	if !full {
		// In place: a superset after a failed save only makes a merge write
		// a few current values again.
		if tr.touched != nil {
			touched = tr.touched
		}
		maps.Copy(touched, tr.changed)
	}
	if full || len(tr.changed) > 0 {
		st.prints, st.printSrc = nil, srcs
	}
	st.Revision = rev
	st.KnownCount = len(st.Known)
	st.track = &knownTrack{layout: layout, stored: true, count: len(st.Known), known: st.Known, changed: map[string]struct{}{}, touched: touched, pages: sigOf(&st)}
	return st, nil
}

// parts splits sorted keys into parts of at most knownChunk entries and
// partBudget bytes: each key set to its Known time (and print), or
// forgotten when Known no longer has it.
func (st *PollState) parts(keys []string, printOf func(string) string) []*part {
	var out []*part
	var p *part
	n, size := 0, 0
	for _, k := range keys {
		fp := printOf(k)
		b := entryBytes(k, fp)
		if p == nil || n == knownChunk || size+b > partBudget && n > 0 {
			p = &part{Set: map[string]time.Time{}}
			out = append(out, p)
			n, size = 0, 0
		}
		n++
		size += b
		t, ok := st.Known[k]
		if !ok {
			p.Del = append(p.Del, k)
			continue
		}
		p.Set[k] = t
		if fp != "" {
			if p.Prints == nil {
				p.Prints = map[string]string{}
			}
			p.Prints[k] = fp
		}
	}
	return out
}

// freeSlot is the lowest run slot neither the stored head nor the new one
// lists, so a state uses at most maxRuns+1 run keys.
func freeSlot(lists ...[]partRef) int {
	used := map[string]bool{}
	for _, l := range lists {
		for _, r := range l {
			used[r.Key[strings.LastIndex(r.Key, ".k.r")+len(".k.r"):]] = true
		}
	}
	for i := 0; ; i++ {
		if !used[strconv.Itoa(i)] {
			return i
		}
	}
}

// writeRun claims a run slot for p. Slots are claimed exclusively (Create):
// a writer holding a stale head finds the slot taken by the newer head and
// gets ErrConflict without touching it. A slot left behind by a save that
// died before its head write is reused when the head is still the one read.
func (s *StateStore) writeRun(ctx context.Context, id string, headRev uint64, slot int, p *part) (ref partRef, err error) {
	data, err := encodePart(p)
	if err != nil {
		return partRef{}, err
	}
	key := id + ".k.r" + strconv.Itoa(slot)
	defer func() {
		if err == nil {
			s.cache.put(id, ref, p)
		}
	}()
	rev, err := s.kv.Create(ctx, key, data)
	if err == nil {
		return partRef{Key: key, Rev: rev}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return partRef{}, fmt.Errorf("write poll state %s: %w", key, err)
	}
	h, herr := s.kv.Get(ctx, id)
	if herr != nil || h.Revision() != headRev {
		return partRef{}, fmt.Errorf("%w: poll state %s", ErrConflict, id)
	}
	orphan, err := s.kv.Get(ctx, key)
	if err != nil {
		return partRef{}, fmt.Errorf("read poll state %s: %w", key, err)
	}
	rev, err = s.kv.Update(ctx, key, data, orphan.Revision())
	if isWrongRevision(err) {
		return partRef{}, fmt.Errorf("%w: poll state %s", ErrConflict, id)
	}
	if err != nil {
		return partRef{}, fmt.Errorf("write poll state %s: %w", key, err)
	}
	return partRef{Key: key, Rev: rev}, nil
}

// deleteParts removes every part key of a connector.
func (s *StateStore) deleteParts(ctx context.Context, id string) error {
	lister, err := s.kv.ListKeysFiltered(ctx, id+".k.>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list poll state parts %s: %w", id, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := s.kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("delete poll state %s: %w", k, err)
		}
	}
	return nil
}

// sameMap reports whether a and b are the same map (not equal contents).
func sameMap(a, b map[string]time.Time) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
