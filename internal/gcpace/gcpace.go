// Package gcpace paces the Go collector by the live heap. A stream
// processor that keeps little state allocates an event per line and
// frees it soon after: there a collection at three times the live heap
// (GOGC=200) costs a third less collector time than at twice, for a few
// tens of megabytes. A processor that holds much state — twelve hours of
// logins, hour windows of a million cards — would pay twice its state in
// headroom at GOGC=200 where GOGC=100 costs it a few percent more
// collector time. After each collection Start sets GOGC from the live
// heap the collection found (see Percent).
package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

const (
	// MaxPercent is the GOGC of a small live heap.
	MaxPercent = 200
	// MinPercent is the GOGC of a large one: headroom as large as the
	// live heap.
	MinPercent = 100
	// Headroom is the headroom past which the heap grows only by its live
	// size: a live heap up to half of it gets MaxPercent, one from
	// Headroom on MinPercent, and one between grows by Headroom. At 128
	// MiB the sequence benchmark (a live heap of 90 MB) ran 3–6% slower
	// and its p99 rose by 10–20 µs; at 192 MiB it runs as at GOGC=200
	// while the fraud example's replay (135 MB live) peaks at 350 MB of
	// RSS instead of 440.
	Headroom = 192 << 20
)

// Percent is the GOGC for a live heap of live bytes: the heap may grow by
// twice the live heap up to Headroom, and by the live heap beyond.
func Percent(live uint64) int {
	if live == 0 {
		return MaxPercent
	}
	room := max(min(2*live, Headroom), live)
	return min(max(int(room*100/live), MinPercent), MaxPercent)
}

// liveHeap is the runtime metric of the heap the last collection marked.
const liveHeap = "/gc/heap/live:bytes"

var start sync.Once

// Start sets GOGC to MaxPercent and, after every collection from then on,
// to Percent of the live heap it found, for the rest of the process. It
// does nothing when the GOGC environment variable is set: an operator's
// setting wins. Calls after the first do nothing.
func Start(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	start.Do(func() {
		p := &pacer{set: debug.SetGCPercent, sample: []metrics.Sample{{Name: liveHeap}}}
		p.set(MaxPercent)
		p.percent = MaxPercent
		p.arm()
	})
}

// pacer runs on the runtime's cleanup goroutine, one call at a time.
type pacer struct {
	set     func(int) int
	sample  []metrics.Sample
	percent int
}

// sentinel is an object that becomes garbage as soon as it is made; its
// cleanup runs after the collection that frees it. It holds a pointer so
// that the allocator does not pack it with other small objects, whose
// lives would keep it.
type sentinel struct{ _ *int }

func (p *pacer) arm() {
	runtime.AddCleanup(new(sentinel), func(p *pacer) { p.pace(); p.arm() }, p)
}

func (p *pacer) pace() {
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if pc := Percent(p.sample[0].Value.Uint64()); pc != p.percent {
		p.set(pc)
		p.percent = pc
	}
}
