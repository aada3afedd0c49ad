package source

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cep-project/cep/event"
)

// batchSize amortises channel hand-offs between the decoding goroutines
// and the merge.
const batchSize = 512

// Merger decodes several inputs concurrently and yields their events in
// event-time order: a k-way merge on the head of each input. Each input's
// own order is kept; disorder inside one input is left to the engine's
// reorder buffer, which knows the allowed lateness.
type Merger struct {
	inputs []*mergeInput
	heap   headHeap
	mu     sync.Mutex
	errs   []error
	onEnd  func(stream string)
	// ended holds inputs exhausted by the last Next; they are reported at
	// the next call, after the caller has handled that input's last event.
	ended []string
}

type mergeInput struct {
	r     *Reader
	ch    chan []*event.Event
	batch []*event.Event
	pos   int
}

// Merge starts reading every reader. onEnd, when not nil, is called with an
// input's stream as soon as that input is exhausted, so the engine can stop
// waiting for it.
func Merge(onEnd func(stream string), readers ...*Reader) *Merger {
	m := &Merger{onEnd: onEnd}
	for _, r := range readers {
		in := &mergeInput{r: r, ch: make(chan []*event.Event, 4)}
		m.inputs = append(m.inputs, in)
		go m.read(in)
	}
	for _, in := range m.inputs {
		if in.fill() {
			m.heap = append(m.heap, in)
		} else if m.onEnd != nil {
			m.onEnd(in.r.spec.Stream)
		}
	}
	heap.Init(&m.heap)
	return m
}

func (m *Merger) read(in *mergeInput) {
	defer close(in.ch)
	batch := make([]*event.Event, 0, batchSize)
	for {
		ev, err := in.r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				m.mu.Lock()
				m.errs = append(m.errs, fmt.Errorf("%s: %w", in.r.spec.Name, err))
				m.mu.Unlock()
			}
			break
		}
		batch = append(batch, ev)
		if len(batch) == batchSize {
			in.ch <- batch
			batch = make([]*event.Event, 0, batchSize)
		}
	}
	if len(batch) > 0 {
		in.ch <- batch
	}
}

// fill makes sure the input has a head event; false when it is exhausted.
func (in *mergeInput) fill() bool {
	for in.pos >= len(in.batch) {
		b, ok := <-in.ch
		if !ok {
			return false
		}
		in.batch, in.pos = b, 0
	}
	return true
}

func (in *mergeInput) head() *event.Event { return in.batch[in.pos] }

// Next returns the next event in event-time order, or io.EOF when every
// input is exhausted.
func (m *Merger) Next() (*event.Event, error) {
	for _, s := range m.ended {
		m.onEnd(s)
	}
	m.ended = m.ended[:0]
	if len(m.heap) == 0 {
		return nil, io.EOF
	}
	in := m.heap[0]
	ev := in.head()
	in.batch[in.pos] = nil
	in.pos++
	if in.fill() {
		heap.Fix(&m.heap, 0)
	} else {
		heap.Pop(&m.heap)
		if m.onEnd != nil {
			m.ended = append(m.ended, in.r.spec.Stream)
		}
	}
	return ev, nil
}

// Err returns the read errors of inputs that ended early.
func (m *Merger) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

type headHeap []*mergeInput

func (h headHeap) Len() int           { return len(h) }
func (h headHeap) Less(i, j int) bool { return h[i].head().Before(h[j].head()) }
func (h headHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *headHeap) Push(x any)        { *h = append(*h, x.(*mergeInput)) }
func (h *headHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
