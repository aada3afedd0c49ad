package window

import (
	"slices"

	"github.com/cep-project/cep/event"
)

// Tumbling and hopping windows are made of panes of gcd(size, slide): an
// event updates one pane, and a window is the merge of its size/pane panes
// when it closes. A tumbling window is a single pane.
type paneKey struct {
	timing
	memo
	panes []pane // by start
	done  int64  // windows ending at or before done have been emitted
	// LateCorrect only: results still correctable, by End, and the ends of
	// emitted windows that late events have changed since.
	prev []*Result
	redo []int64
}

type pane struct {
	start int64
	acc   acc
}

func (k *paneKey) timer() *timing { return &k.timing }

// firstEnd and lastEnd are the ends of the first and last window holding
// the pane that starts at pt.
func (a *Aggregator) firstEnd(pt int64) int64 {
	return alignDown(pt-a.size, a.slide) + a.slide + a.size
}
func (a *Aggregator) lastEnd(pt int64) int64 { return alignDown(pt, a.slide) + a.size }

// endAfter is the end of the first window that ends after x.
func (a *Aggregator) endAfter(x int64) int64 {
	if x-a.size > x {
		return MinTime // x is so early that every window ends after it
	}
	return alignDown(x-a.size, a.slide) + a.slide + a.size
}

func (a *Aggregator) addPanes(key string, t int64, args []Arg, ev *event.Event) Status {
	pt := alignDown(t, a.pane)
	fe, le := a.firstEnd(pt), a.lastEnd(pt)
	if le+a.lateness <= a.wm {
		a.stats.Late++
		return Late
	}
	var k *paneKey
	if ks, ok := a.keys[key]; ok {
		k = ks.(*paneKey)
		key = k.key
	} else {
		if !a.newKey() {
			return DroppedKey
		}
		k = &paneKey{done: a.wm}
		key = a.insert(key, k)
	}
	if a.cfg.Late == LateCount {
		// Windows that closed while the key had no events in them stay
		// closed: a late event does not bring them out after the fact.
		k.done = max(k.done, a.wm)
	}
	i, found := slices.BinarySearchFunc(k.panes, pt, func(p pane, t int64) int {
		switch {
		case p.start < t:
			return -1
		case p.start > t:
			return 1
		}
		return 0
	})
	if !found {
		if a.cfg.MaxWindowsPerKey > 0 && len(k.panes) >= a.cfg.MaxWindowsPerKey {
			a.stats.DroppedWindows++
			if len(k.panes) == 0 && len(k.prev) == 0 {
				delete(a.keys, key)
			}
			return DroppedWindow
		}
		k.panes = slices.Insert(k.panes, i, pane{start: pt, acc: newAcc(a.plan)})
	}
	a.stats.DroppedDistinct += k.panes[i].acc.add(a.plan, args, ev)

	st := Applied
	if fe <= a.wm {
		if a.cfg.Late == LateCorrect {
			// Windows already emitted for this key are redone; those that
			// closed while the key had nothing in them come out as first
			// results with the next Advance.
			lost, fixed := false, fe > k.done
			for e := fe; e <= min(le, k.done); e += a.slide {
				if e+a.lateness <= a.wm {
					lost = true
					continue
				}
				fixed = true
				if j, ok := slices.BinarySearch(k.redo, e); !ok {
					k.redo = slices.Insert(k.redo, j, e)
				}
			}
			st = Late
			if lost {
				a.stats.Late++
			}
			if fixed {
				a.stats.LateCorrected++
				st = Corrected
				a.schedule(key, &k.timing, a.wm)
			}
		} else {
			a.stats.Late++
			st = Late
		}
	}
	a.schedule(key, &k.timing, max(fe, a.endAfter(a.wm)))
	a.account(key, k)
	return st
}

func (k *paneKey) close(a *Aggregator, key string, wm int64) (int64, bool) {
	for _, e := range k.redo {
		r := a.paneResult(k, key, e)
		if r == nil {
			continue
		}
		j, ok := slices.BinarySearchFunc(k.prev, e, func(p *Result, e int64) int { return cmpInt(p.End, e) })
		if ok {
			r.Revision = k.prev[j].Revision + 1
			r.Corrects = []*Result{k.prev[j]}
			k.prev[j] = r.kept()
		} else {
			k.prev = slices.Insert(k.prev, j, r.kept())
		}
		a.collect(r)
	}
	k.redo = k.redo[:0]

	if len(k.panes) > 0 {
		e := max(a.endAfter(k.done), a.firstEnd(k.panes[0].start))
		for e <= wm {
			if r := a.paneResult(k, key, e); r != nil {
				if a.lateness > 0 {
					k.prev = append(k.prev, r.kept())
				}
				a.collect(r)
				e += a.slide
				continue
			}
			// No pane in this window: skip to the first window of the next
			// pane.
			i := firstPaneFrom(k.panes, e)
			if i == len(k.panes) {
				break
			}
			e = a.firstEnd(k.panes[i].start)
		}
	}
	k.done = wm

	n := 0
	for n < len(k.panes) && a.lastEnd(k.panes[n].start)+a.lateness <= wm {
		n++
	}
	k.panes = slices.Delete(k.panes, 0, n)
	n = 0
	for n < len(k.prev) && k.prev[n].End+a.lateness <= wm {
		n++
	}
	k.prev = slices.Delete(k.prev, 0, n)
	if len(k.panes) == 0 && len(k.prev) == 0 {
		return 0, false
	}

	return k.deadline(a, wm), true
}

// deadline is when the key next has something to do after watermark wm: a
// window to close, state to forget, or corrections to emit.
func (k *paneKey) deadline(a *Aggregator, wm int64) int64 {
	if len(k.redo) > 0 {
		return wm
	}
	next := int64(1<<63 - 1)
	for _, p := range k.panes {
		if le := a.lastEnd(p.start); le > wm {
			next = min(next, max(a.firstEnd(p.start), a.endAfter(wm)))
			break
		}
	}
	if len(k.panes) > 0 {
		next = min(next, a.lastEnd(k.panes[0].start)+a.lateness)
	}
	if len(k.prev) > 0 {
		next = min(next, k.prev[0].End+a.lateness)
	}
	return next
}

// paneResult merges the panes of the window ending at e, or returns nil
// when none has events.
func (a *Aggregator) paneResult(k *paneKey, key string, e int64) *Result {
	start := e - a.size
	i := firstPaneFrom(k.panes, start)
	j := firstPaneFrom(k.panes, e)
	if i == j {
		return nil
	}
	r := &Result{Key: key, Start: start, End: e}
	if j == i+1 {
		// A tumbling window, or a hopping one with a single busy pane.
		p := &k.panes[i].acc
		r.Count, r.Values = p.n, p.values(a.plan, nil)
		if a.pane == a.size && a.cfg.Late != LateCorrect {
			// The pane is in this window alone, and without corrections
			// (and so without lateness) close drops it next: its evidence
			// moves to the result, where copying it took the engine of
			// the fraud example's replay 2–3% of its time.
			r.Evidence, p.ev, p.evBytes = p.ev, nil, 0
			return r
		}
		r.Evidence = slices.Clone(p.ev)
		return r
	}
	w := newAcc(a.plan)
	for _, p := range k.panes[i:j] {
		w.merge(a.plan, &p.acc, false)
	}
	r.Count, r.Values, r.Evidence = w.n, w.values(a.plan, nil), w.ev
	return r
}

func firstPaneFrom(ps []pane, t int64) int {
	i, _ := slices.BinarySearchFunc(ps, t, func(p pane, t int64) int { return cmpInt(p.start, t) })
	return i
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// kept is the copy of an emitted result that waits for corrections: the
// chain of earlier corrections is dropped so memory stays bounded.
func (r *Result) kept() *Result {
	c := *r
	c.Corrects = nil
	c.keepEvidence()
	return &c
}
