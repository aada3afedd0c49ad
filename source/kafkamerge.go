package source

import (
	"time"

	"github.com/cep-project/cep/event"
)

// Event time per partition. A topic's partitions are written by different
// producers and read at different speeds, so one partition may be minutes
// of event time behind another. The engine keeps one watermark per stream
// (its newest event less the allowed lateness); were a source to hand it
// its partitions' events as they arrive, a partition replayed from an
// hour ago would see its events dropped as late behind a live one. So the
// Kafka source merges its partitions in event-time order, the way a
// replay merges files: an event is released only when every partition
// that still counts has an event at hand, the oldest first. The stream's
// watermark is then the minimum over its partitions, without the engine
// knowing partitions. A partition that has delivered nothing for the idle
// timeout stops counting, so a quiet partition cannot hold time back for
// ever; its next events count again from their arrival.

// partBatch is what one fetch of a partition yields: its events with their
// offsets, and the offset after the last message it covered (malformed
// ones included), which is where the partition resumes once every event
// of the batch is released.
type partBatch struct {
	lane string
	evs  []*event.Event
	offs []int64
	// origins, for a repartition topic read with Dedup, are where each
	// event's copy came from.
	origins []copyRef
	next    int64
	// done: the partition has reached its end (a bounded read).
	done bool
}

// copyRef is the partition and offset a copy was copied from.
type copyRef struct {
	origin string
	from   int64
}

// mergeLane is one partition's queue of fetched batches.
type mergeLane struct {
	name string
	q    []*partBatch
	pos  int
	// seen is when the partition last delivered events (or the merge
	// started); idle is decided from it.
	seen time.Time
	done bool
	// release returns a fetch slot to the partition's reader once a batch
	// is consumed, which bounds what a partition may read ahead.
	release func()
}

// laneMerge releases events of several partitions in event-time order.
// Time comes in as arguments, so tests drive it without a clock.
type laneMerge struct {
	lanes []*mergeLane
	by    map[string]*mergeLane
	idle  time.Duration
	// pos is the resume offset of every partition moved on since the last
	// take.
	pos map[string]int64
	// marks are, by partition, the last copy released from each origin
	// (Dedup): positions carry them.
	marks map[string]map[string]int64
}

func newLaneMerge(idle time.Duration) *laneMerge {
	return &laneMerge{idle: idle, by: map[string]*mergeLane{}, pos: map[string]int64{}, marks: map[string]map[string]int64{}}
}

// addLane registers a partition; it holds time back from now on until it
// delivers, is idle or is done.
func (m *laneMerge) addLane(name string, now time.Time, release func()) {
	l := &mergeLane{name: name, seen: now, release: release}
	m.lanes = append(m.lanes, l)
	m.by[name] = l
}

// add queues a partition's batch.
func (m *laneMerge) add(b *partBatch, now time.Time) {
	l := m.by[b.lane]
	if len(b.evs) > 0 {
		l.seen = now
	}
	l.q = append(l.q, b)
	m.settle(l)
}

// settle drops consumed batches at the head of a lane's queue, moving its
// resume position on.
func (m *laneMerge) settle(l *mergeLane) {
	for len(l.q) > 0 && l.pos >= len(l.q[0].evs) {
		b := l.q[0]
		m.pos[l.name] = b.next
		if b.done {
			l.done = true
		}
		l.q[0] = nil
		l.q = l.q[1:]
		l.pos = 0
		if l.release != nil {
			l.release()
		}
	}
}

func (l *mergeLane) head() (*event.Event, bool) {
	if len(l.q) == 0 {
		return nil, false
	}
	return l.q[0].evs[l.pos], true
}

// idleAt is when an empty lane stops holding time back.
func (m *laneMerge) idleAt(l *mergeLane) time.Time { return l.seen.Add(m.idle) }

// next returns the oldest event that may be released now, and false when
// none may. When a partition that counts has nothing at hand, wait is the
// earliest time such a partition turns idle (zero when none will: the
// idle timeout is off). Ties in time go to the partition added first, so
// the order is the same on every run over the same messages.
func (m *laneMerge) next(now time.Time) (ev *event.Event, ok bool, wait time.Time) {
	blocked := false
	var best *mergeLane
	var bestEv *event.Event
	for _, l := range m.lanes {
		h, has := l.head()
		if has {
			if best == nil || h.Time < bestEv.Time {
				best, bestEv = l, h
			}
			continue
		}
		if l.done {
			continue
		}
		if m.idle <= 0 {
			blocked = true
			continue
		}
		if at := m.idleAt(l); now.Before(at) {
			blocked = true
			if wait.IsZero() || at.Before(wait) {
				wait = at
			}
		}
	}
	if blocked || best == nil {
		return nil, false, wait
	}
	off := best.q[0].offs[best.pos]
	if os := best.q[0].origins; os != nil && os[best.pos].origin != "" {
		r := os[best.pos]
		mk := m.marks[best.name]
		if mk == nil {
			mk = map[string]int64{}
			m.marks[best.name] = mk
		}
		mk[r.origin] = r.from
	}
	best.q[0].evs[best.pos] = nil
	best.pos++
	m.pos[best.name] = off + 1
	m.settle(best)
	return bestEv, true, time.Time{}
}

// allDone reports whether every partition has reached its end.
func (m *laneMerge) allDone() bool {
	for _, l := range m.lanes {
		if !l.done || len(l.q) > 0 {
			return false
		}
	}
	return true
}

// take returns the resume offsets moved on since the last take.
func (m *laneMerge) take() map[string]int64 {
	if len(m.pos) == 0 {
		return nil
	}
	p := m.pos
	m.pos = map[string]int64{}
	return p
}
