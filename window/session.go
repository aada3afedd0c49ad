package window

import (
	"slices"

	"github.com/cep-project/cep/event"
)

// sessKey is one key's sessions, by start. A session continues while the
// gap between consecutive events is at most the gap (events exactly gap
// apart are one session, as in Kafka Streams and Flink), so sessions are
// more than a gap apart: an event within gap of two of them joins them.
type sessKey struct {
	timing
	memo
	sess []session
}

type session struct {
	start, last int64
	acc         acc
	emitted     bool
	// dirty: emitted, then changed by a late event (LateCorrect).
	dirty bool
	// prev holds what was emitted for the sessions merged into this one,
	// while they can still be corrected.
	prev []*Result
}

func (k *sessKey) timer() *timing { return &k.timing }

func (a *Aggregator) addSession(key string, t int64, args []Arg, ev *event.Event) Status {
	var k *sessKey
	if ks, ok := a.keys[key]; ok {
		k = ks.(*sessKey)
		key = k.key
	}
	// Sessions within gap of t, both sides included, form the run [i, j).
	i, j := 0, 0
	if k != nil {
		for i < len(k.sess) && k.sess[i].last+a.gap < t {
			i++
		}
		j = i
		for j < len(k.sess) && k.sess[j].start <= t+a.gap {
			j++
		}
	}
	// An event behind the watermark that joins no open session starts its
	// own, as in Flink, while that session is open: lateness is judged per
	// window. (A session of the key that closed before may have been its
	// own; it was forgotten, so nobody can tell.)
	st := Applied
	if i == j && t+a.gap < a.wm {
		// On its own the event makes a session that has already closed.
		if a.cfg.Late != LateCorrect || t+a.gap+a.lateness < a.wm {
			a.stats.Late++
			return Late
		}
		st = Corrected
	}
	if k == nil {
		if !a.newKey() {
			return DroppedKey
		}
		k = &sessKey{}
		key = a.insert(key, k)
	}
	if i == j {
		if a.cfg.MaxWindowsPerKey > 0 && len(k.sess) >= a.cfg.MaxWindowsPerKey {
			a.stats.DroppedWindows++
			if len(k.sess) == 0 {
				delete(a.keys, key)
			}
			return DroppedWindow
		}
		k.sess = slices.Insert(k.sess, i, session{start: t, last: t, acc: newAcc(a.plan)})
	} else {
		s := &k.sess[i]
		s.start, s.last = min(s.start, t), max(s.last, t)
		for _, o := range k.sess[i+1 : j] {
			s.last = max(s.last, o.last)
			a.stats.DroppedDistinct += s.acc.merge(a.plan, &o.acc, true)
			s.prev = append(s.prev, o.prev...)
			s.emitted = s.emitted || o.emitted
		}
		k.sess = slices.Delete(k.sess, i+1, j)
	}
	s := &k.sess[i]
	a.stats.DroppedDistinct += s.acc.add(a.plan, args, ev)
	if s.emitted {
		s.dirty = true
		st = Corrected
	}
	switch st {
	case Corrected:
		a.stats.LateCorrected++
	case Late:
		a.stats.Late++
	}
	a.schedule(key, &k.timing, s.last+a.gap+1)
	a.account(key, k)
	return st
}

func (k *sessKey) close(a *Aggregator, key string, wm int64) (int64, bool) {
	n := 0
	for _, s := range k.sess {
		// An event at the session's end would still extend it, and the
		// watermark lets through events at its own time: the session
		// closes once the watermark has passed its end.
		end := s.last + a.gap
		if end < wm && (!s.emitted || s.dirty) {
			r := &Result{Key: key, Start: s.start, End: end, Count: s.acc.n, Values: s.acc.values(a.plan, nil), Evidence: s.acc.ev}
			if a.lateness > 0 {
				// The session stays for corrections, and its evidence
				// may change; without lateness it is forgotten below,
				// and the result takes its evidence as it is.
				r.Evidence = slices.Clone(s.acc.ev)
			}
			if s.emitted {
				r.Corrects = s.prev
				for _, p := range s.prev {
					r.Revision = max(r.Revision, p.Revision+1)
				}
			}
			a.collect(r)
			s.emitted, s.dirty, s.prev = true, false, nil
			if a.lateness > 0 {
				s.prev = []*Result{r.kept()}
			}
		}
		if s.emitted && !s.dirty && end+a.lateness < wm {
			continue // past correction: forget it
		}
		k.sess[n] = s
		n++
	}
	clear(k.sess[n:])
	k.sess = k.sess[:n]
	return k.deadline(a), n > 0
}

// deadline is the watermark at which the key next has something to do: a
// session to close, or an emitted one to forget, once the watermark has
// passed its end.
func (k *sessKey) deadline(a *Aggregator) int64 {
	next := int64(1<<63 - 1)
	for _, s := range k.sess {
		end := s.last + a.gap
		if s.emitted && !s.dirty {
			end += a.lateness
		}
		next = min(next, end+1)
	}
	return next
}
