package correlate

import (
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
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
// computes the key and builds the alert as before. Nothing that depends
// on the order of events moves off the engine's goroutine: keys, alerts,
// dedup, facts and every stateful detector stay on it, in event-time
// order, so the alerts and their order are those of a run without
// preparation. An event nobody prepared, or prepared for another engine
// (one a reload replaced), is routed and evaluated on the engine as
// before.

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
func (e *Engine) Preparer() func() func([]*event.Event) {
	if e.prepBy == 0 {
		return nil
	}
	by, dets, idx := e.prepBy, e.dets, e.prepIndex
	// Most events reach no filter at all: they share one verdict.
	none := &event.Prepared{By: by}
	return func() func([]*event.Event) {
		rt := newRouter(idx)
		var (
			cands []int32 // the candidates of every event, one after the other
			ends  []int32 // where each event's candidates end in cands
			// touched keeps the touches below from being compiled away.
			touched uintptr
		)
		return func(evs []*event.Event) {
			cands, ends = cands[:0], ends[:0]
			for _, ev := range evs {
				if ev != nil {
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
				if m := dets[i].(*filter).match; m != nil {
					touched += m.Touch()
				}
			}
			start := int32(0)
			for k, ev := range evs {
				idx := cands[start:ends[k]]
				start = ends[k]
				if ev == nil {
					continue
				}
				if len(idx) == 0 {
					ev.Prepared = none
					continue
				}
				var p *event.Prepared
				switch {
				case len(idx) == 1:
					// The common case of an indexed rule set, in one allocation.
					b := new(preparedOne)
					b.p.Hits, p = b.hits[:], &b.p
				case len(idx) <= len(preparedFew{}.hits):
					// A few candidates, in one allocation too.
					b := new(preparedFew)
					b.p.Hits, p = b.hits[:len(idx)], &b.p
				default:
					p = &event.Prepared{Hits: make([]int32, len(idx))}
				}
				p.By = by
				hits := p.Hits
				for j, i := range idx {
					f := dets[i].(*filter)
					if f.match != nil && f.match.Test(rules.EventActivation{Ev: ev}) {
						hits[j] = i
					} else {
						hits[j] = ^i
					}
				}
				ev.Prepared = p
			}
		}
	}
}

// preparedOne is a verdict on one filter with its room.
type preparedOne struct {
	p    event.Prepared
	hits [1]int32
}

// preparedFew is a verdict on up to four filters with its room.
type preparedFew struct {
	p    event.Prepared
	hits [4]int32
}

// preparePlan finds the preparable detectors and, when there are any,
// builds the router of the others; called once by New.
func (e *Engine) preparePlan() {
	if e.cfg.Explain != nil {
		return
	}
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
	e.prepIndex = newRouteIndex(e.dets, mask, false)
	e.rest = newRouter(newRouteIndex(e.dets, rest, false))
	e.prepBy = event.NewPreparedBy()
}

// dispatchPrepared hands a prepared event to the detectors it concerns in
// detector order, as dispatch does: the others through the engine's
// router, the prepared filters from their verdicts.
func (e *Engine) dispatchPrepared(ev *event.Event) {
	rest := e.rest.route(ev)
	hits := ev.Prepared.Hits
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
}

// dispatchLatePrepared is dispatchLate for a prepared event: a filter
// takes a late event only under late: process, as there.
func (e *Engine) dispatchLatePrepared(ev *event.Event) bool {
	taken := false
	rest := e.rest.route(ev)
	hits := ev.Prepared.Hits
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
	return taken
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
	if e.prepBy != 0 && ev.Prepared != nil && ev.Prepared.By == e.prepBy {
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
		if ev.Prepared == nil || ev.Prepared.By != e.prepBy {
			e.unprep = append(e.unprep, ev)
		}
	}
	if len(e.unprep) < 2 {
		return
	}
	if e.selfPrep == nil {
		e.selfPrep = e.Preparer()()
	}
	e.selfPrep(e.unprep)
	clear(e.unprep)
}

// touchFiring reaches, ahead of dispatching a batch, the counters its
// prepared events will count and the rules whose alerts they will raise
// (rules.Rule.TouchAlerting), so that their cache misses overlap as the
// candidates' do in preparation.
func (e *Engine) touchFiring(evs []*event.Event) {
	for _, ev := range evs {
		if p := ev.Prepared; p != nil && p.By == e.prepBy {
			for _, h := range p.Hits {
				if h < 0 {
					e.touched += uintptr(e.evaluated[^h])
					continue
				}
				e.touched += uintptr(e.evaluated[h]) + e.dets[h].(*filter).r.TouchAlerting()
			}
		}
	}
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
