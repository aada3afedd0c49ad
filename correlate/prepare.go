package correlate

import (
	"slices"
	"unsafe"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/nfa"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// The engine is one goroutine, and with many filter rules evaluating their
// conditions is most of its work. A filter's condition reads the event
// alone, so it may be evaluated anywhere, before the engine sees the
// event: Preparer makes functions that the decoding goroutines run on each
// event they decode (source.Preparation). Each routes the event through
// its own router over the preparable filters only, tests their conditions
// and writes into event.Prepared which filters the event reached and which
// matched. The engine then routes the event only to its other detectors,
// merges the two lists by detector index and, for a filter that matched,
// computes the key and builds the alert as before.
//
// A sequence's matcher keeps its state in event order on the engine, but
// two things it needs of each event read the event alone: its key, when
// the key is of plain fields, and the verdicts of the steps whose guards
// read only the event, from their native forms. The decoders work those
// out too (prepareKeys), and the matcher takes them as decided
// (nfa.Matcher.ProcessDecided); for an aggregate, its key and its where.
// A guard the native form cannot answer, or that fails, and a key that
// is not there are left to the engine, which asks a guard only when a
// partial match needs it, so errors are counted as without preparation.
// Before stepping a batch, the engine reads the state of each prepared
// key (touchKeys), so that with many keys their cache misses overlap.
//
// Nothing that depends on the order of events moves off the engine's
// goroutine: alerts, dedup, facts and every detector's state stay on it,
// in event-time order, so the alerts, their order and every counter are
// those of a run without preparation. An event nobody prepared, or
// prepared for another engine (one a reload replaced), is routed and
// evaluated on the engine as before.

// preparable reports whether a detector's whole verdict on an event
// depends on the event alone: a filter without baselines (which learn
// from the events before it), whose condition calls no function reading
// facts or context data (which other events' alerts change).
func preparable(d detector) bool {
	f, ok := d.(*filter)
	if !ok || len(f.r.Baselines) > 0 {
		return false
	}
	return !f.r.Match.CallsFacts()
}

// Preparer returns what makes, for each decoding goroutine, the function
// that evaluates the engine's preparable filters on the events of a chunk
// (nil for its lines that did not decode; see above);
// nil when there is nothing to prepare or when explaining, which wants
// every rule's reasons written in event order. The functions may run
// concurrently with the engine and with each other.
func (e *Engine) Preparer() func() func([]*event.Event) { return e.preparer(true) }

// preparer is Preparer; with pack, its functions also pack the lines of
// the events that keyed detectors may hold while the engine is packing
// (see packAheadFor).
func (e *Engine) preparer(pack bool) func() func([]*event.Event) {
	if e.prepBy == 0 {
		return nil
	}
	var (
		packs   map[string]*event.Packer
		holds   map[string]*event.Projection
		holding []holdsAhead
	)
	if pack {
		packs = e.packAheadFor()
		holds, holding = e.holdAheadFor()
	}
	packing := &e.packing
	by, dets, idx, keyed, unscreened, verdictOf := e.prepBy, e.dets, e.prepIndex, e.prepKeyed, e.unscreened, e.verdictOf
	// Most events reach no filter at all: they share one verdict.
	none := &event.Prepared{By: by}
	// chains holds, by detector, a filter's condition when it is a chain
	// (rules.Program.NativeChain), read by every preparer.
	chains := make([]*celenv.Chain, len(dets))
	for i, d := range dets {
		if f, ok := d.(*filter); ok && f.match != nil {
			chains[i] = f.match.NativeChain()
		}
	}
	// test is the verdict of candidate i's condition on ev, from its
	// chain when that decides.
	test := func(i int32, ev *event.Event) bool {
		if c := chains[i]; c != nil {
			switch c.Test(ev) {
			case celenv.True:
				return true
			case celenv.False:
				return false
			}
		}
		f := dets[i].(*filter)
		return f.match != nil && f.match.Test(rules.EventActivation{Ev: ev})
	}
	return func() func([]*event.Event) {
		var rt *router
		if idx != nil {
			rt = newRouter(idx)
		}
		var (
			cands []int32 // the candidates of every event, one after the other
			ends  []int32 // where each event's candidates end in cands
			// touched keeps the touches below from being compiled away.
			touched uintptr
			keyBuf  []byte
			// The keyed detectors of the stream seen last: a chunk's
			// lines are mostly of one stream.
			keyedStream string
			keyedDets   []int32
			keyedPack   *event.Packer
			keyedHold   *event.Projection
			packBuf     []byte
		)
		return func(evs []*event.Event) {
			cands, ends = cands[:0], ends[:0]
			for _, ev := range evs {
				// An event this engine's screen turned away reaches no
				// detector; it keeps its mark (see Screens).
				if ev != nil && rt != nil && ev.Prepared != unscreened {
					for _, i := range rt.route(ev) {
						cands = append(cands, int32(i))
					}
				}
				ends = append(ends, int32(len(cands)))
			}
			// With thousands of rules each candidate is a random one,
			// and reaching it costs cache misses; touched here, one
			// after another, their misses overlap, where the tests
			// below would take them one at a time.
			for _, i := range cands {
				if c := chains[i]; c != nil {
					touched += c.Touch()
				} else if m := dets[i].(*filter).match; m != nil {
					touched += m.Touch()
				}
			}
			start := int32(0)
			for k, ev := range evs {
				idx := cands[start:ends[k]]
				start = ends[k]
				if ev == nil || ev.Prepared == unscreened {
					continue
				}
				if keyedDets == nil || ev.Stream != keyedStream {
					keyedStream, keyedDets, keyedPack, keyedHold = ev.Stream, keyed.of(ev.Stream), packs[ev.Stream], holds[ev.Stream]
				}
				if len(keyedDets) == 0 {
					switch len(idx) {
					case 0:
						ev.Prepared = none
						continue
					case 1:
						// With many rules most events have one
						// candidate: its verdict is one of the engine's
						// two for that filter, not allocated for each
						// event.
						v := verdictMiss
						if test(idx[0], ev) {
							v = verdictHit
						}
						ev.Prepared = verdictOf(idx[0], v)
						continue
					}
				}
				in := arenaOf(ev)
				p, room := newPrepared(len(idx), len(keyedDets), in)
				p.By = by
				hits := p.Hits
				for j, i := range idx {
					if test(i, ev) {
						hits[j] = i
					} else {
						hits[j] = ^i
					}
				}
				if len(keyedDets) > 0 {
					keyBuf = prepareKeys(p, room, keyedDets, dets, ev, keyBuf)
					if keyedPack != nil && packing.Load() {
						p.Packed, packBuf = keyedPack.Prepack(ev.Raw, ev.ID, packBuf)
					} else if keyedHold != nil && in != nil && sureHeld(p.Keys, holding) {
						// Copied here, its line is in this core's
						// cache; on the engine's, a third of the time
						// it took went to reaching it.
						if h := ev.Hold(keyedHold, nil); h != ev {
							p.Held = h
						}
					}
				}
				ev.Prepared = p
			}
		}
	}
}

// holdAheadFor returns, by stream, what the held copies of its events
// keep (heldProjection) for the streams the decoders make the held
// copies of (event.Prepared.Held), and by detector what makes it sure
// to hold an event (holdsAhead). The decoders make the copy of an event
// a detector is sure to hold; the engine takes it when it holds the
// event and is not packing.
func (e *Engine) holdAheadFor() (map[string]*event.Projection, []holdsAhead) {
	if e.prepKeyed == nil || len(e.held.rules) == 0 {
		return nil, nil
	}
	holding := make([]holdsAhead, len(e.dets))
	some := false
	for i, d := range e.dets {
		switch q := d.(type) {
		case *sequence:
			if slices.Contains(e.held.rules, q.r) {
				holding[i], some = holdsAhead{starts: q.nfa}, true
			}
		case *aggregate:
			if slices.Contains(e.held.rules, q.r) && q.agg.Holds() {
				holding[i], some = holdsAhead{adds: true, where: q.r.Aggregate.Where != nil}, true
			}
		}
	}
	if !some {
		return nil, nil
	}
	projs := map[string]*event.Projection{}
	for _, stream := range e.keyedStreams(func(i int32) bool { return holding[i].any() }) {
		projs[stream] = e.heldProjection(stream)
	}
	return projs, holding
}

// holdsAhead is what makes a detector sure to hold an event, from what
// the decoders prepared of it for that detector (event.PreparedKey): a
// sequence that holds events holds one that its first step takes, which
// starts a partial match (nfa.NFA.Starts); a window that keeps evidence
// holds every event it adds, one whose key is known and whose where,
// if any, holds.
type holdsAhead struct {
	starts *nfa.NFA
	adds   bool
	where  bool
}

func (h holdsAhead) any() bool { return h.starts != nil || h.adds }

func (h holdsAhead) holds(k event.PreparedKey) bool {
	switch {
	case k.Key == nil:
		return false
	case h.starts != nil:
		return h.starts.Starts(nfa.Decided(k.Decided))
	case h.adds:
		return !h.where || k.Decided == whereTrue
	}
	return false
}

// sureHeld reports whether a detector of holding is sure to hold the
// event of keys.
func sureHeld(keys []event.PreparedKey, holding []holdsAhead) bool {
	for _, k := range keys {
		if holding[k.Det].holds(k) {
			return true
		}
	}
	return false
}

// packAheadFor returns the Packers whose lines the decoders pack ahead
// (event.Packer.Prepack), by stream: those of the streams a keyed
// detector that holds events reads. Holding is most of what packing
// costs the engine's goroutine (a microsecond a line, against a fifth of
// that to decode it), and the decoders run beside it; an event held
// nowhere has its line packed for nothing, on their time.
func (e *Engine) packAheadFor() map[string]*event.Packer {
	if e.prepKeyed == nil {
		return nil
	}
	packs := map[string]*event.Packer{}
	for _, stream := range e.keyedStreams(func(i int32) bool { return slices.Contains(e.held.rules, e.dets[i].rule()) }) {
		packs[stream] = e.packer(stream)
	}
	return packs
}

// keyedStreams returns the streams that a keyed detector the decoders
// prepare for, and of which holds says yes, reads. A rule of every stream
// reads the streams declared; events of any other are the engine's.
func (e *Engine) keyedStreams(holds func(det int32) bool) []string {
	var out []string
	for stream, dets := range e.prepKeyed.byStream {
		if slices.ContainsFunc(dets, holds) {
			out = append(out, stream)
		}
	}
	if slices.ContainsFunc(e.prepKeyed.all, holds) {
		out = append(out, e.cfg.Streams...)
	}
	return out
}

// newPrepared returns a Prepared with Hits for hits filters and room for
// the verdicts of keys keyed detectors, and room for their keys' bytes:
// in one block when there are up to four filters and eight keyed
// detectors, as on all but the widest streams. Grown key by key, the
// payments of the fraud example (five keyed rules) took six allocations
// each, a fifth of all the bytes the replay allocated. With an arena the
// block is one of its slab's (see slabArena).
func newPrepared(hits, keys int, ar *slabArena) (*event.Prepared, []byte) {
	switch {
	case hits == 0:
		return preparedWith[[0]int32](0, hits, keys, ar)
	case hits == 1:
		return preparedWith[[1]int32](1, hits, keys, ar)
	case hits <= 4:
		return preparedWith[[4]int32](2, hits, keys, ar)
	}
	p, room := preparedWith[[0]int32](0, 0, keys, ar)
	p.Hits = make([]int32, hits)
	return p, room
}

// preparedWith is newPrepared with room for H hits, the shape hs of
// three.
func preparedWith[H any](hs, hits, keys int, ar *slabArena) (*event.Prepared, []byte) {
	shape := hs * keyShapes
	switch {
	case keys == 0:
		return takeBlock[H, [0]event.PreparedKey, [0]byte](ar, shape, hits)
	case keys == 1:
		return takeBlock[H, [1]event.PreparedKey, [24]byte](ar, shape+1, hits)
	case keys == 2:
		return takeBlock[H, [2]event.PreparedKey, [48]byte](ar, shape+2, hits)
	case keys <= 4:
		return takeBlock[H, [4]event.PreparedKey, [64]byte](ar, shape+3, hits)
	case keys <= 6:
		// The fraud example's payments (five keyed rules): 416 bytes
		// where room for eight took 576.
		return takeBlock[H, [6]event.PreparedKey, [96]byte](ar, shape+4, hits)
	case keys <= 8:
		return takeBlock[H, [8]event.PreparedKey, [128]byte](ar, shape+5, hits)
	}
	p, _ := takeBlock[H, [0]event.PreparedKey, [0]byte](ar, shape, hits)
	p.Keys = make([]event.PreparedKey, 0, keys)
	return p, nil
}

// keyShapes is the number of preparedWith's shapes of keys.
const keyShapes = 6

// preparedBlock is a Prepared with its hits, keys and the keys' bytes.
type preparedBlock[H, K, R any] struct {
	p    event.Prepared
	hits H
	keys K
	room R
}

// slabArena hands out the blocks of the events of one decoder's slab,
// and goes back to its pool with the slab (event.SlabAux): when the slab
// is taken again, every event it held was released, and neither a
// released event (event.Release) nor a copy (event.Event.Detach, a held
// copy) keeps its Prepared, so the blocks are taken again too. A block
// of its own for each event was a third of all the sequence scenario
// allocated; a chunk of them for each preparer, left to the collector,
// still as many bytes.
type slabArena struct {
	// chunks holds, by shape, a *blockChunk of that shape's type.
	chunks [3 * keyShapes]blockReuser
}

type blockReuser interface {
	reuse()
	poison()
}

// Reuse implements event.SlabAux. The blocks given out are cleared now,
// not as they are taken again: a cleared block no longer keeps the held
// copy it pointed to.
func (a *slabArena) Reuse() {
	for _, c := range a.chunks {
		if c != nil {
			c.reuse()
		}
	}
}

// Poison overwrites the blocks given out, as event poisons a slab whose
// every event was released: a reader that kept a prepared key's bytes
// past its event's release reads 'Z's.
func (a *slabArena) Poison() {
	for _, c := range a.chunks {
		if c != nil {
			c.poison()
		}
	}
}

// arenaOf returns the arena of ev's slab, nil when ev is no slab's own.
func arenaOf(ev *event.Event) *slabArena {
	aux, ok := event.SlabAuxOf(ev)
	if !ok {
		return nil
	}
	a, _ := aux.(*slabArena)
	if a == nil {
		a = new(slabArena)
		event.SetSlabAux(ev, a)
	}
	return a
}

// blockChunk is a slab's blocks of one shape, n of them given out.
type blockChunk[H, K, R any] struct {
	blocks [event.SlabEvents]preparedBlock[H, K, R]
	n      int
}

func (c *blockChunk[H, K, R]) reuse() {
	clear(c.blocks[:c.n])
	c.n = 0
}

func (c *blockChunk[H, K, R]) poison() {
	for i := range c.blocks[:c.n] {
		b := &c.blocks[i]
		b.p, b.keys = event.Prepared{}, *new(K)
		room := unsafe.Slice((*byte)(unsafe.Pointer(&b.room)), unsafe.Sizeof(b.room))
		for j := range room {
			room[j] = 'Z'
		}
	}
}

// takeBlock returns a block of its shape from ar, or a block of its own
// without an arena.
func takeBlock[H, K, R any](ar *slabArena, shape, hits int) (*event.Prepared, []byte) {
	if ar == nil {
		return fillBlock(new(preparedBlock[H, K, R]), hits)
	}
	c, _ := ar.chunks[shape].(*blockChunk[H, K, R])
	if c == nil {
		c = new(blockChunk[H, K, R])
		ar.chunks[shape] = c
	}
	if c.n == len(c.blocks) {
		// A slab holds no more events than a chunk has blocks; should
		// its events take more, the rest are allocated alone.
		return fillBlock(new(preparedBlock[H, K, R]), hits)
	}
	b := &c.blocks[c.n]
	c.n++
	return fillBlock(b, hits)
}

func fillBlock[H, K, R any](b *preparedBlock[H, K, R], hits int) (*event.Prepared, []byte) {
	if n := unsafe.Sizeof(b.hits) / unsafe.Sizeof(int32(0)); n > 0 {
		b.p.Hits = unsafe.Slice((*int32)(unsafe.Pointer(&b.hits)), n)[:hits:hits]
	}
	if n := unsafe.Sizeof(b.keys) / unsafe.Sizeof(event.PreparedKey{}); n > 0 {
		b.p.Keys = unsafe.Slice((*event.PreparedKey)(unsafe.Pointer(&b.keys)), n)[:0:n]
	}
	var room []byte
	if n := unsafe.Sizeof(b.room); n > 0 {
		room = unsafe.Slice((*byte)(unsafe.Pointer(&b.room)), n)
	}
	return &b.p, room
}

// prepareKeys adds to p.Keys what the decoders work out for each keyed
// detector of dets: a sequence's key of ev, when it is of plain fields
// (plainKey), and the verdicts of the steps whose guards read only the
// event (rules.Sequence.Decide); an aggregate's where, from its native
// form, and its key unless the where is false. The keys go into room
// while they fit. The engine works out the rest itself, as it does for
// events nobody prepared, and so also counts and explains what is wrong
// with a key. It returns the scratch buffer buf, grown.
func prepareKeys(p *event.Prepared, room []byte, keyed []int32, dets []detector, ev *event.Event, buf []byte) []byte {
	for _, i := range keyed {
		var (
			r       *rules.Rule
			decided uint64
			agg     bool
			untaken bool
		)
		switch d := dets[i].(type) {
		case *sequence:
			r, decided = d.r, uint64(d.r.Sequence.Decide(ev))
			untaken = d.nfa.Untaken(nfa.Decided(decided))
		case *aggregate:
			r, agg = d.r, true
			if w := r.Aggregate.Where; w != nil {
				if ok, sure := w.DecideEvent(ev); sure && !ok {
					p.Keys = append(p.Keys, event.PreparedKey{Det: i, Decided: whereFalse})
					continue
				} else if sure {
					decided = whereTrue
				}
			}
		}
		key, ok := plainKey(r, ev, buf)
		buf = key
		if !ok {
			// An aggregate's where holds, its key is the engine's to find.
			if agg && decided == whereTrue {
				p.Keys = append(p.Keys, event.PreparedKey{Det: i, Decided: decided})
			}
			continue
		}
		if untaken {
			// No step of the sequence takes the event, and none notices
			// one it does not take: the engine leaves it out, once its
			// key is known to be there (an event without one is counted
			// as it was). A sequence's prepared key without Key says so.
			p.Keys = append(p.Keys, event.PreparedKey{Det: i, Decided: decided})
			continue
		}
		var kb []byte
		if len(key) <= len(room) {
			kb, room = room[:len(key):len(key)], room[len(key):]
		} else {
			kb = make([]byte, len(key))
		}
		copy(kb, key)
		p.Keys = append(p.Keys, event.PreparedKey{Det: i, Decided: decided, Key: kb})
	}
	return buf
}

// An aggregate's prepared where (event.PreparedKey.Decided): 0 when the
// engine is to test it.
const (
	whereTrue  = 1
	whereFalse = 2
)

// preparedKey returns what the decoders worked out of ev for detector
// det, or nil.
func (e *Engine) preparedKey(ev *event.Event, det int32) *event.PreparedKey {
	p := ev.Prepared
	if p == nil || p.By != e.prepBy || e.prepBy == 0 {
		return nil
	}
	for i := range p.Keys {
		if p.Keys[i].Det == det {
			return &p.Keys[i]
		}
	}
	return nil
}

// keyedPlan lists, by stream, the sequences and aggregates whose keys and
// verdicts the decoders work out (prepareKeys), in detector order.
type keyedPlan struct {
	byStream map[string][]int32
	all      []int32 // those of a rule that names no stream
}

// of returns the keyed detectors of a stream; never nil, so that a
// caller may tell "none" from "not looked up".
func (k *keyedPlan) of(stream string) []int32 {
	if k == nil {
		return noneKeyed
	}
	if l, ok := k.byStream[stream]; ok {
		return l
	}
	if k.all != nil {
		return k.all
	}
	return noneKeyed
}

var noneKeyed = []int32{}

// planPreparedKeys finds the sequences and aggregates to prepare: those of
// one matcher or aggregator (a sharded rule's shards work out their own
// keys), and of an aggregate only when its where reads no facts, which
// other events' alerts change.
func (e *Engine) planPreparedKeys() *keyedPlan {
	k := &keyedPlan{byStream: map[string][]int32{}}
	for i, d := range e.dets {
		switch d := d.(type) {
		case *sequence:
		case *aggregate:
			if d.r.Aggregate.Where.CallsFacts() {
				continue
			}
		default:
			continue
		}
		ss := d.rule().Streams
		if len(ss) == 0 {
			k.all = append(k.all, int32(i))
		}
		for _, s := range ss {
			k.byStream[s] = append(k.byStream[s], int32(i))
		}
	}
	if len(k.byStream) == 0 && k.all == nil {
		return nil
	}
	for s, l := range k.byStream {
		l = append(l, k.all...)
		slices.Sort(l)
		k.byStream[s] = slices.Compact(l)
	}
	return k
}

// touchKeys reaches, ahead of dispatching a batch, the state of each key
// its prepared events will step (nfa.Matcher.Touch), so that the cache
// misses of a hundred thousand keys overlap rather than come one at a
// time as each event is processed.
func (e *Engine) touchKeys(evs []*event.Event) {
	for _, ev := range evs {
		if p := ev.Prepared; e.preparedHere(p) {
			for _, k := range p.Keys {
				if k.Key == nil {
					continue
				}
				d, ok := e.dets[k.Det].(keyToucher)
				if !ok {
					continue
				}
				if d.gather(k.Key) {
					e.touching = append(e.touching, d)
				}
			}
		}
	}
	for _, d := range e.touching {
		e.touched += d.touchGathered()
	}
	clear(e.touching)
	e.touching = e.touching[:0]
}

// keyToucher is a keyed detector whose state of a batch's keys touchKeys
// reads ahead: gather adds a key, and reports whether it is the batch's
// first; touchGathered reads the keys' state and forgets them.
type keyToucher interface {
	gather(key []byte) (first bool)
	touchGathered() uintptr
}

// gathered are the prepared keys of a batch whose state a keyed detector
// reads ahead (touchKeys).
type gathered [][]byte

func (g *gathered) gather(key []byte) bool {
	*g = append(*g, key)
	return len(*g) == 1
}

// take hands the keys to touch, and forgets them.
func (g *gathered) take(touch func([][]byte) uintptr) uintptr {
	t := touch(*g)
	clear(*g)
	*g = (*g)[:0]
	return t
}

func (d *sequence) touchGathered() uintptr { return d.take(d.m.Touch) }

func (d *aggregate) touchGathered() uintptr { return d.take(d.agg.Touch) }

// preparePlan finds the preparable detectors and, when there are any,
// builds the router of the others; called once by New.
func (e *Engine) preparePlan() {
	if e.cfg.Explain != nil {
		return
	}
	e.prepKeyed = e.planPreparedKeys()
	mask := make([]bool, len(e.dets))
	byStream := map[string]int{}
	n, all := 0, 0
	for i, d := range e.dets {
		if !preparable(d) {
			continue
		}
		mask[i], n = true, n+1
		ss := d.rule().Streams
		if len(ss) == 0 {
			all++
		}
		for _, s := range ss {
			byStream[s]++
		}
	}
	if n == 0 {
		if e.prepKeyed != nil {
			e.rest, e.prepBy = e.router, event.NewPreparedBy()
		}
		return
	}
	// A filter of every stream counts for each.
	for s := range byStream {
		byStream[s] += all
	}
	rest := make([]bool, len(e.dets))
	for i := range rest {
		rest[i] = !mask[i]
	}
	e.prepMask, e.prepByStream, e.prepAllStreams = mask, byStream, all
	if n == len(e.dets) && !e.router.idx.all {
		// Every rule is prepared: the router's index is the same, and
		// sharing it builds one index and keeps one in the caches.
		e.prepIndex = e.router.idx
	} else {
		e.prepIndex = newRouteIndex(e.dets, mask, false)
	}
	e.rest = newRouter(newRouteIndex(e.dets, rest, false))
	e.prepBy = event.NewPreparedBy()
	e.verdicts = make([]event.Prepared, 2*len(e.dets))
	e.verdictHits = make([]int32, 2*len(e.dets))
	for i := range e.dets {
		e.verdictHits[2*i+verdictMiss], e.verdictHits[2*i+verdictHit] = ^int32(i), int32(i)
	}
	for k := range e.verdicts {
		e.verdicts[k] = event.Prepared{By: e.prepBy, Hits: e.verdictHits[k : k+1 : k+1]}
	}
}

// verdictOf is the Prepared of the events whose only candidate is
// detector i, a filter, with verdict v (verdictMiss or verdictHit).
func (e *Engine) verdictOf(i int32, v int) *event.Prepared {
	return &e.verdicts[2*int(i)+v]
}

// verdictAt returns where p is in verdicts, when it is one of the
// engine's verdicts, from its address alone.
func (e *Engine) verdictAt(p *event.Prepared) (int, bool) {
	if len(e.verdicts) == 0 {
		return 0, false
	}
	off := uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(&e.verdicts[0]))
	size := unsafe.Sizeof(e.verdicts[0])
	return int(off / size), off < uintptr(len(e.verdicts))*size
}

// preparedHere reports whether p is what this engine's preparers made of
// an event: a verdict is known by its address, without a cache miss.
func (e *Engine) preparedHere(p *event.Prepared) bool {
	if e.prepBy == 0 || p == nil {
		return false
	}
	_, ok := e.verdictAt(p)
	return ok || p.By == e.prepBy
}

// hitsOf is p.Hits of a Prepared of this engine, read for a verdict from
// verdictHits, which stays in the cache.
func (e *Engine) hitsOf(p *event.Prepared) []int32 {
	if k, ok := e.verdictAt(p); ok {
		return e.verdictHits[k : k+1 : k+1]
	}
	return p.Hits
}

// dispatchPrepared hands a prepared event to the detectors it concerns in
// detector order, as dispatch does: the others through the engine's
// router, the prepared filters from their verdicts. It reports whether
// any of the others saw the event (see dispatch).
func (e *Engine) dispatchPrepared(ev *event.Event) (kept bool) {
	rest := e.rest.route(ev)
	kept = e.keepsAny(rest)
	hits := e.hitsOf(ev.Prepared)
	for len(rest) > 0 || len(hits) > 0 {
		if len(hits) == 0 || (len(rest) > 0 && rest[0] < detIndex(hits[0])) {
			e.processIn(rest[0], ev)
			rest = rest[1:]
			continue
		}
		h := hits[0]
		hits = hits[1:]
		i := detIndex(h)
		e.evaluated[i]++
		if h >= 0 {
			e.dets[i].(*filter).fire(ev, nil)
		}
	}
	return kept
}

// dispatchLatePrepared is dispatchLate for a prepared event: a filter
// takes a late event only under late: process, as there.
func (e *Engine) dispatchLatePrepared(ev *event.Event) (taken, kept bool) {
	rest := e.rest.route(ev)
	kept = e.keepsAny(rest)
	hits := e.hitsOf(ev.Prepared)
	for len(rest) > 0 || len(hits) > 0 {
		if len(hits) == 0 || (len(rest) > 0 && rest[0] < detIndex(hits[0])) {
			taken = e.processLate(rest[0], ev) || taken
			rest = rest[1:]
			continue
		}
		h := hits[0]
		hits = hits[1:]
		i := detIndex(h)
		if e.lateFor(e.dets[i].rule()) == LateDrop {
			continue
		}
		taken = true
		e.evaluated[i]++
		if h >= 0 {
			e.dets[i].(*filter).fire(ev, nil)
		}
	}
	if taken {
		e.stats.Processed++
	}
	e.applyFacts()
	return taken, kept
}

// detIndex is the detector of a prepared verdict: its index when it
// matched, the index's complement when it did not.
func detIndex(h int32) int {
	if h < 0 {
		return int(^h)
	}
	return int(h)
}

// routeAfterFilters returns the detectors, other than prepared filters,
// that dispatch will hand ev to, in detector order: the router's answer
// for the router dispatch uses. The slice is the router's until its next
// route.
func (e *Engine) routeAfterFilters(ev *event.Event) []int {
	if e.preparedHere(ev.Prepared) {
		return e.rest.route(ev)
	}
	return e.router.route(ev)
}

// prepareRest prepares the events of a batch that the decoders left
// unprepared, as they would have, when the engine has thousands of
// filters (selfPrepMin). In a batch, the candidate rules of all its
// events are reached ahead of their tests and their cache misses overlap,
// where dispatching event by event takes them one at a time: at 10,000
// rules (cep bench --scenario filter) this made the engine 6–14% faster.
// With fewer rules, which stay in the cache, the extra pass over the
// batch cost 1–3%, so PushBatch calls it only for a stream with
// thousands (manyFilters).
func (e *Engine) prepareRest(evs []*event.Event) {
	e.unprep = e.unprep[:0]
	for _, ev := range evs {
		if !e.preparedHere(ev.Prepared) {
			e.unprep = append(e.unprep, ev)
		}
	}
	if len(e.unprep) < 2 {
		return
	}
	if e.selfPrep == nil {
		// The engine packs what it holds itself; ahead of that it
		// would pack lines it may not hold.
		e.selfPrep = e.preparer(false)()
	}
	e.selfPrep(e.unprep)
	clear(e.unprep)
}

// touchFiring reaches, ahead of dispatching a batch, the counters its
// prepared events will count and the rules whose alerts they will raise
// (rules.Rule.TouchAlerting), so that their cache misses overlap as the
// candidates' do in preparation.
func (e *Engine) touchFiring(evs []*event.Event) {
	// The batch's hits first, then their reads in a loop of their own:
	// among the events, one in eighteen alerts at 10,000 rules, and the
	// processor's window of reads in flight spanned too few of those to
	// overlap their misses.
	firing := e.firing[:0]
	for _, ev := range evs {
		if p := ev.Prepared; e.preparedHere(p) {
			for _, h := range e.hitsOf(p) {
				if h < 0 {
					e.touched += uintptr(e.evaluated[^h])
					continue
				}
				firing = append(firing, h)
			}
		}
	}
	for _, h := range firing {
		// The filter, its counters and its rule from three arrays:
		// their misses overlap, where reaching the rule through the
		// filter waited on one and then the other.
		e.touched += uintptr(e.evaluated[h]) + uintptr(e.detStats[h].Alerts) +
			uintptr(unsafe.Pointer(e.dets[h].(*filter).handle)) + e.detRules[h].TouchAlerting()
	}
	e.firing = firing[:0]
}

// manyFilters reports whether a stream has selfPrepMin preparable filters
// or more: thousands of filters of other streams, which its events never
// reach, do not make its batches worth preparing.
func (e *Engine) manyFilters(stream string) bool {
	n, ok := e.prepByStream[stream]
	if !ok {
		n = e.prepAllStreams
	}
	return n >= selfPrepMin
}

// selfPrepMin is how many preparable filters make the engine prepare
// what the decoders did not: about where their conditions no longer fit
// in the processor's caches. A variable for tests.
var selfPrepMin = 2048
