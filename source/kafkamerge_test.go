package source

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// pb builds a partition batch of events at the given seconds, at offsets
// from off on.
func pb(lane string, off int64, secs ...int) *partBatch {
	b := &partBatch{lane: lane, next: off + int64(len(secs))}
	for i, s := range secs {
		b.evs = append(b.evs, &event.Event{ID: lane + "@" + time.Unix(int64(s), 0).UTC().Format("15:04:05"), Stream: "s", Time: int64(s) * 1e9})
		b.offs = append(b.offs, off+int64(i))
	}
	return b
}

// drain releases what may be released now, as "lane@time" ids.
func drain(m *laneMerge, now time.Time) (string, time.Time) {
	var ids []string
	for {
		ev, ok, wait := m.next(now)
		if !ok {
			return strings.Join(ids, " "), wait
		}
		ids = append(ids, ev.ID)
	}
}

// TestLaneMergeWatermarkPerPartition: a partition behind in event time
// holds the others back, and its events come first; a partition with
// nothing at hand holds everything back until it is idle.
func TestLaneMergeWatermarkPerPartition(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	const idle = 10 * time.Second
	for _, tc := range []struct {
		name    string
		batches []*partBatch
		at      time.Duration
		want    string
		// wantWait is the idle deadline reported, relative to t0; -1: none.
		wantWait time.Duration
	}{
		{
			name:     "lagging partition first",
			batches:  []*partBatch{pb("t/0", 0, 600, 601), pb("t/1", 0, 1, 2, 900)},
			want:     "t/1@00:00:01 t/1@00:00:02 t/0@00:10:00 t/0@00:10:01",
			wantWait: idle,
		},
		{
			name:     "empty partition holds back",
			batches:  []*partBatch{pb("t/0", 0, 5)},
			want:     "",
			wantWait: idle,
		},
		{
			name:     "idle partition releases",
			batches:  []*partBatch{pb("t/0", 0, 5, 6)},
			at:       idle,
			want:     "t/0@00:00:05 t/0@00:00:06",
			wantWait: idle,
		},
		{
			name:     "ties go to the first partition",
			batches:  []*partBatch{pb("t/1", 0, 7), pb("t/0", 0, 7)},
			at:       0,
			want:     "t/0@00:00:07", // then t/0 has nothing at hand and holds t/1 back
			wantWait: idle,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newLaneMerge(idle)
			m.addLane("t/0", t0, nil)
			m.addLane("t/1", t0, nil)
			for _, b := range tc.batches {
				m.add(b, t0)
			}
			got, wait := drain(m, t0.Add(tc.at))
			if got != tc.want {
				t.Errorf("released %q, want %q", got, tc.want)
			}
			switch {
			case tc.wantWait < 0 && !wait.IsZero():
				t.Errorf("wait %v, want none", wait)
			case tc.wantWait >= 0 && !wait.Equal(t0.Add(tc.wantWait)) && tc.at < idle:
				t.Errorf("wait %v, want %v", wait, t0.Add(tc.wantWait))
			}
		})
	}
}

// TestLaneMergeIdleRejoins: a partition that was idle holds time back
// again from its next events on, and a delivery restarts its idle clock.
func TestLaneMergeIdleRejoins(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	m := newLaneMerge(5 * time.Second)
	m.addLane("t/0", t0, nil)
	m.addLane("t/1", t0, nil)
	m.add(pb("t/0", 0, 10, 20), t0)
	if got, _ := drain(m, t0.Add(6*time.Second)); got != "t/0@00:00:10 t/0@00:00:20" {
		t.Fatalf("idle t/1 still holds back: %q", got)
	}
	// t/1 delivers, then t/0 falls silent: now t/0 holds back until its
	// own idle timeout from its last delivery.
	now := t0.Add(7 * time.Second)
	m.add(pb("t/1", 0, 15, 30), now)
	got, _ := drain(m, now)
	if got != "t/1@00:00:15 t/1@00:00:30" {
		t.Fatalf("released %q", got)
	}
	m.add(pb("t/1", 2, 40), now)
	m.add(pb("t/0", 2, 35), now)
	got, wait := drain(m, now)
	if got != "t/0@00:00:35" {
		t.Fatalf("released %q, want only t/0's event before t/1's later one", got)
	}
	want := now.Add(5 * time.Second)
	if !wait.Equal(want) {
		t.Fatalf("wait %v, want %v", wait, want)
	}
	if got, _ := drain(m, want); got != "t/1@00:00:40" {
		t.Fatalf("after t/0's idle timeout released %q", got)
	}
}

// TestLaneMergePositions: a partition's position moves past each released
// event, past malformed messages once its batch is consumed, and a batch
// of a partition at its end marks it done.
func TestLaneMergePositions(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	released := 0
	m := newLaneMerge(0)
	m.addLane("t/0", t0, func() { released++ })
	m.addLane("t/1", t0, func() { released++ })
	b := pb("t/0", 10, 1, 2)
	b.next = 15 // three malformed messages after the two events
	m.add(b, t0)
	m.add(pb("t/1", 0, 3), t0)
	ev, ok, _ := m.next(t0)
	if !ok || ev.ID != "t/0@00:00:01" {
		t.Fatalf("first event %v %v", ev, ok)
	}
	if p := m.take(); len(p) != 1 || p["t/0"] != 11 {
		t.Fatalf("positions after one event %v", p)
	}
	if _, ok, _ := m.next(t0); !ok {
		t.Fatal("second event not released")
	}
	if p := m.take(); p["t/0"] != 15 || released != 1 {
		t.Fatalf("positions after t/0's batch %v, released %d", p, released)
	}
	// t/0 has nothing more and no idle timeout: t/1 waits.
	if _, ok, wait := m.next(t0.Add(time.Hour)); ok || !wait.IsZero() {
		t.Fatalf("released past an empty partition without idle timeout (wait %v)", wait)
	}
	m.add(&partBatch{lane: "t/0", next: 15, done: true}, t0)
	if ev, ok, _ := m.next(t0); !ok || ev.ID != "t/1@00:00:03" {
		t.Fatalf("a done partition still holds back: %v %v", ev, ok)
	}
	if m.allDone() {
		t.Fatal("t/1 is not done")
	}
	m.add(&partBatch{lane: "t/1", next: 1, done: true}, t0)
	if !m.allDone() {
		t.Fatal("both partitions are done")
	}
}

// BenchmarkLaneMerge is the cost per event of merging partitions in
// event time (batches of 512 events a partition, interleaved times).
//
//	go test -run '^$' -bench LaneMerge -benchmem ./source/
func BenchmarkLaneMerge(b *testing.B) {
	for _, lanes := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("partitions=%d", lanes), func(b *testing.B) {
			const per = 512
			t0 := time.Unix(1_800_000_000, 0)
			evs := make([][]*event.Event, lanes)
			for l := range lanes {
				for i := range per {
					evs[l] = append(evs[l], &event.Event{Stream: "s", Time: int64(i*lanes+l) * 1e6})
				}
			}
			offs := make([]int64, per)
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n += per * lanes {
				m := newLaneMerge(time.Second)
				for l := range lanes {
					m.addLane(fmt.Sprintf("t/%d", l), t0, nil)
					m.add(&partBatch{lane: fmt.Sprintf("t/%d", l), evs: slices.Clone(evs[l]), offs: offs, next: per, done: true}, t0)
				}
				for {
					if _, ok, _ := m.next(t0); !ok {
						break
					}
				}
			}
		})
	}
}
