package runtime

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
	"github.com/cep-project/cep/source"
)

// DefaultSortBytes is the memory a replay sorts in before it spills sorted
// runs to disk.
const DefaultSortBytes = 256 << 20

// sortedReplay reads every source to its end, then pushes all events in
// event-time order whatever order the files were in: real log exports are
// grouped by channel or written newest first, and a replay must not drop
// most of them as late. Events are sorted in memory up to the sort budget;
// beyond it, sorted runs are spilled to temporary files and merged.
func (rt *Runtime) sortedReplay(ctx, srcCtx context.Context) (bool, error) {
	open, bySource := rt.streams()
	feed := make(chan source.Batch, 2*len(rt.cfg.Sources))
	for _, s := range rt.cfg.Sources {
		go func() { _ = s.Run(srcCtx, nil, feed) }()
	}
	budget := rt.cfg.SortBytes
	if budget <= 0 {
		budget = DefaultSortBytes
	}
	s := &sorter{budget: budget, dir: rt.cfg.SpillDir}
	defer s.cleanup()
	var ended []source.Batch
	for remaining := len(rt.cfg.Sources); remaining > 0; {
		select {
		case b := <-feed:
			for _, ev := range b.Events {
				if err := s.add(ev); err != nil {
					return false, err
				}
			}
			if b.End {
				remaining--
				ended = append(ended, b)
			}
		case <-ctx.Done():
			return true, nil
		}
	}
	rt.res.SortRuns = s.spilled()
	if s.spilled() > 0 {
		rt.log.Info("replay sorted on disk", "runs", s.spilled(), "sort_budget_bytes", budget)
	}
	var zero time.Time
	n := 0
	chunk := make([]*event.Event, 0, pushChunk)
	flush := func() {
		rt.pushTimed(chunk, zero)
		clear(chunk)
		chunk = chunk[:0]
	}
	err := s.each(func(ev *event.Event) bool {
		if chunk = append(chunk, ev); len(chunk) == pushChunk {
			flush()
		}
		n++
		if rt.cfg.OnEvents != nil && n%8192 == 0 {
			flush()
			rt.cfg.OnEvents(rt.eng)
		}
		if n%1024 == 0 && ctx.Err() != nil {
			return false
		}
		return true
	})
	flush()
	if err != nil {
		return false, err
	}
	if ctx.Err() != nil {
		return true, nil
	}
	for _, b := range ended {
		rt.endOfSource(b, open, bySource)
	}
	return false, nil
}

// sorter sorts events in memory up to a byte budget, spilling sorted runs
// to temporary files beyond it.
type sorter struct {
	budget int64
	dir    string
	mem    []*event.Event
	bytes  int64
	runs   []*os.File
}

func (s *sorter) spilled() int { return len(s.runs) }

func (s *sorter) add(ev *event.Event) error {
	s.mem = append(s.mem, ev)
	s.bytes += eventCost(ev)
	if s.bytes > s.budget {
		return s.spill()
	}
	return nil
}

// eventCost estimates an event's memory, as the engine's reorder buffer
// does.
func eventCost(ev *event.Event) int64 {
	return int64(2*len(ev.Raw) + 48*len(ev.Fields) + 160)
}

func byTime(a, b *event.Event) int {
	if a.Before(b) {
		return -1
	}
	if b.Before(a) {
		return 1
	}
	return 0
}

// spill writes the events in memory, sorted, as one run.
func (s *sorter) spill() error {
	slices.SortStableFunc(s.mem, byTime)
	f, err := os.CreateTemp(s.dir, "cep-sort-*.run")
	if err != nil {
		return fmt.Errorf("sorting the replay on disk: %w", err)
	}
	// Unlinked at once: the run lives only as long as the open file.
	_ = os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	var enc wire.Enc
	var lb [binary.MaxVarintLen64]byte
	for _, ev := range s.mem {
		enc.B = enc.B[:0]
		enc.Event(ev)
		if _, err := w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(enc.B)))]); err != nil {
			f.Close()
			return fmt.Errorf("sorting the replay on disk: %w", err)
		}
		if _, err := w.Write(enc.B); err != nil {
			f.Close()
			return fmt.Errorf("sorting the replay on disk: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("sorting the replay on disk: %w", err)
	}
	s.runs = append(s.runs, f)
	clear(s.mem)
	s.mem, s.bytes = s.mem[:0], 0
	return nil
}

// each calls f with every event in order, until f returns false.
func (s *sorter) each(f func(*event.Event) bool) error {
	slices.SortStableFunc(s.mem, byTime)
	if len(s.runs) == 0 {
		for i, ev := range s.mem {
			s.mem[i] = nil
			if !f(ev) {
				return nil
			}
		}
		return nil
	}
	var h runHeap
	for _, f := range s.runs {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r := &runReader{r: bufio.NewReaderSize(f, 256<<10)}
		if err := r.next(); err != nil {
			return err
		}
		if r.head != nil {
			h = append(h, r)
		}
	}
	if len(s.mem) > 0 {
		h = append(h, &runReader{mem: s.mem, head: s.mem[0], pos: 1})
	}
	heap.Init(&h)
	for len(h) > 0 {
		r := h[0]
		ev := r.head
		if err := r.next(); err != nil {
			return err
		}
		if r.head == nil {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
		if !f(ev) {
			return nil
		}
	}
	return nil
}

func (s *sorter) cleanup() {
	for _, f := range s.runs {
		f.Close()
	}
	s.runs = nil
}

// runReader reads one sorted run: a spilled file, or the events still in
// memory.
type runReader struct {
	r    *bufio.Reader
	mem  []*event.Event
	pos  int
	head *event.Event
	buf  []byte
}

func (r *runReader) next() error {
	if r.r == nil {
		r.head = nil
		if r.pos < len(r.mem) {
			r.head = r.mem[r.pos]
			r.mem[r.pos] = nil
			r.pos++
		}
		return nil
	}
	n, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		r.head = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading a sorted run back: %w", err)
	}
	r.buf = slices.Grow(r.buf[:0], int(n))[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return fmt.Errorf("reading a sorted run back: %w", err)
	}
	d := &wire.Dec{B: r.buf}
	ev := &event.Event{Stream: d.Str(), ID: d.Str(), Time: d.Time(), Seq: d.Uvarint(), Line: int(d.Varint())}
	ev.Raw, ev.Fields = d.Raw("spilled event")
	if d.Err != nil {
		return fmt.Errorf("reading a sorted run back: %w", d.Err)
	}
	r.head = ev
	return nil
}

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].head.Before(h[j].head) }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
