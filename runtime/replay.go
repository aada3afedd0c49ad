package runtime

import (
	"container/heap"
	"context"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/source"
)

// pushChunk is how many events the replay hands the engine at once.
const pushChunk = 512

// pushTimed pushes a replay's chunk, counting the engine's time.
func (rt *Runtime) pushTimed(chunk []*event.Event, now time.Time) {
	start := time.Now()
	rt.eng.PushBatch(chunk, now)
	rt.busy += time.Since(start)
}

// replay is the Replay loop: every source reads on its own goroutine, and
// a k-way merge on the head event of each pushes events in event-time
// order (each source's own order is kept; disorder inside one source is
// the engine's reorder buffer's to fix, within the allowed lateness).
func (rt *Runtime) replay(ctx, srcCtx context.Context) (bool, error) {
	open, bySource := rt.streams()
	var h mergeHeap
	for _, s := range rt.cfg.Sources {
		in := &mergeInput{name: s.Name(), ch: make(chan source.Batch, 4)}
		go func() { _ = s.Run(srcCtx, rt.from[s.Name()], in.ch) }()
		h = append(h, in)
	}
	live := h[:0]
	for _, in := range h {
		if rt.fill(in, open, bySource) {
			live = append(live, in)
		}
	}
	h = live
	heap.Init(&h)
	var zero time.Time
	n := 0
	done := ctx.Done()
	// Events go to the engine a chunk at a time, which lets it step its
	// sharded rules in parallel (correlate.Engine.PushBatch); anything
	// else the engine is told waits for the chunk before it.
	chunk := make([]*event.Event, 0, pushChunk)
	flush := func() {
		rt.pushTimed(chunk, zero)
		clear(chunk)
		chunk = chunk[:0]
	}
	defer flush()
	for len(h) > 0 {
		in := h[0]
		chunk = append(chunk, in.batch.Events[in.pos])
		in.batch.Events[in.pos] = nil
		in.pos++
		n++
		if len(chunk) == pushChunk {
			flush()
		}
		if rt.cfg.OnEvents != nil && n%8192 == 0 {
			flush()
			rt.cfg.OnEvents(rt.eng)
		}
		if n%1024 == 0 {
			select {
			case <-done:
				return true, nil
			default:
			}
		}
		if in.pos < len(in.batch.Events) {
			heap.Fix(&h, 0)
			continue
		}
		flush()
		if rt.fill(in, open, bySource) {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return false, nil
}

type mergeInput struct {
	name  string
	ch    chan source.Batch
	batch source.Batch
	pos   int
}

// fill makes sure in has a head event; false when its source has ended,
// which the engine then learns, after the source's last event. Replay
// takes no checkpoints, so positions are not recorded.
func (rt *Runtime) fill(in *mergeInput, open map[string]int, bySource map[string][]string) bool {
	for in.pos >= len(in.batch.Events) {
		if in.batch.End {
			rt.endOfSource(in.batch, open, bySource)
			return false
		}
		in.batch, in.pos = <-in.ch, 0
	}
	return true
}

func (in *mergeInput) head() *event.Event { return in.batch.Events[in.pos] }

type mergeHeap []*mergeInput

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return h[i].head().Before(h[j].head()) }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(*mergeInput)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
