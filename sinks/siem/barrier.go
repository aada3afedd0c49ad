package siem

import (
	"context"
	"sync"
	"sync/atomic"
)

// A checkpoint of the runtime may only cover alerts that can no longer be
// lost with this process: delivered, rejected (dead-lettered or logged),
// or written to a disk spool. The barrier tells when that holds for every
// alert a sink accepted up to a mark.
//
// Records leave a sink's queue in order, and each one taken is, when the
// sender is done with it, delivered, rejected or spooled; only spooling
// into memory (a sink without a spool directory) or holding records while
// a disk spool is full leaves them at risk. So "the first n accepted are
// safe" is: at least n were taken and handled, and nothing is held in
// memory.
type barrier struct {
	accepted atomic.Uint64
	handled  atomic.Uint64
	held     atomic.Int64
	mu       sync.Mutex
	changed  chan struct{}
}

func (b *barrier) notify() {
	b.mu.Lock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	b.mu.Unlock()
}

// wait returns once the first mark accepted records are safe.
func (b *barrier) wait(ctx context.Context, mark uint64) error {
	for {
		b.mu.Lock()
		if b.handled.Load() >= mark && (b.held.Load() == 0 || mark == 0) {
			b.mu.Unlock()
			return nil
		}
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handedOver counts records the sender is done with, and republishes what
// it holds in memory.
func (s *sender) handedOver(n int) {
	s.bar.handled.Add(uint64(n))
	s.publishHeld()
}

func (s *sender) publishHeld() {
	held := int64(len(s.pending))
	if _, mem := s.sp.(*memSpool); mem {
		n, _ := s.sp.stats()
		held += int64(n)
	}
	s.bar.held.Store(held)
	s.bar.notify()
}

// Mark returns a mark covering every alert sent to the router so far.
func (r *Router) Mark() uint64 {
	r.mmu.Lock()
	defer r.mmu.Unlock()
	counts := make([]uint64, len(r.sinks))
	for i, s := range r.sinks {
		counts[i] = s.snd.bar.accepted.Load()
	}
	r.nextMark++
	if r.marks == nil {
		r.marks = map[uint64][]uint64{}
	}
	r.marks[r.nextMark] = counts
	return r.nextMark
}

// Wait returns once every alert sent before mark was delivered, rejected
// or written to a disk spool by every sink that accepted it.
func (r *Router) Wait(ctx context.Context, mark uint64) error {
	r.mmu.Lock()
	counts, ok := r.marks[mark]
	delete(r.marks, mark)
	r.mmu.Unlock()
	if !ok {
		return nil
	}
	for i, s := range r.sinks {
		if err := s.snd.bar.wait(ctx, counts[i]); err != nil {
			return err
		}
	}
	return nil
}
