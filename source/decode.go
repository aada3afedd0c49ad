package source

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cep-project/cep/event"
)

// Decoding is most of what reading costs, and lines decode independently,
// so a source decodes on several goroutines: its reader cuts the input
// into chunks of whole lines (at most batchEvents lines or batchBytes
// bytes, or fewer when no more input is at hand), decoders take chunks as
// they come, and an emitter hands each chunk's events on as one batch, in
// the order the chunks were cut. Event numbers, line numbers, malformed
// lines (counted and logged) and positions come out exactly as one
// goroutine would have made them. Lines are read (a file's) or copied
// (other inputs') into pooled buffers, which are reused once decoded (an
// event owns a copy of its line), so the memory in flight is bounded by
// the chunks queued: a few per decoder.

// Projection is a stream's current projection (event.Decoder.Project),
// shared by the sources of the stream. It may change while they run, as
// when the rules are reloaded: each decoder takes the new one at its next
// chunk. A nil projection decodes every field.
type Projection struct {
	p atomic.Pointer[event.Projection]
}

// NewProjection returns a Projection holding p.
func NewProjection(p *event.Projection) *Projection {
	sp := &Projection{}
	sp.p.Store(p)
	return sp
}

// Store sets the projection of the lines decoded from now on.
func (sp *Projection) Store(p *event.Projection) { sp.p.Store(p) }

// Load returns the current projection.
func (sp *Projection) Load() *event.Projection { return sp.p.Load() }

// Preparation holds the work a stream's consumer wants done on every
// event on the decoding goroutines, off its own, such as the engine's
// stateless rule conditions (correlate.Engine.Preparer): a maker of one
// function per goroutine, so that each may keep scratch space of its own,
// which takes a chunk's events at once (nil for a line that did not
// decode), so that it may work on them in steps.
// It may change while the sources run, as when the rules are reloaded;
// each decoder takes the new one at its next chunk. Nil prepares nothing.
// A decoder prepares a chunk unless the decoders are the slower side
// (chunks wait for them and the consumer does not), where preparing
// would only slow them.
//
// It holds the consumer's screens too (event.Screen): a maker of one
// screen per goroutine and stream, which every decoder uses, behind or
// not, since screening saves the decoders' own work.
type Preparation struct {
	p       atomic.Pointer[func() func([]*event.Event)]
	screens atomic.Pointer[func(stream string) *event.Screen]
}

// StoreScreens sets what screens the events decoded from now on; nil
// stops.
func (sp *Preparation) StoreScreens(mk func(stream string) *event.Screen) {
	if mk == nil {
		sp.screens.Store(nil)
		return
	}
	sp.screens.Store(&mk)
}

// loadScreens returns the current maker of screens, or nil.
func (sp *Preparation) loadScreens() *func(stream string) *event.Screen {
	if sp == nil {
		return nil
	}
	return sp.screens.Load()
}

// countScreened adds to counts what dec screened out since it had
// screened out last, and returns what it has now.
func countScreened(dec *event.Decoder, counts *Counters, last uint64) uint64 {
	only, _ := dec.Screened()
	counts.Screened.Add(only - last)
	return only
}

// screen sets dec's screen to what mk makes for its stream, and returns
// mk to remember.
func screen(dec *event.Decoder, mk *func(stream string) *event.Screen) *func(stream string) *event.Screen {
	if mk == nil {
		dec.SetScreen(nil)
	} else {
		dec.SetScreen((*mk)(dec.Stream))
	}
	return mk
}

// Store sets what prepares the events decoded from now on; nil stops.
func (sp *Preparation) Store(mk func() func([]*event.Event)) {
	if mk == nil {
		sp.p.Store(nil)
		return
	}
	sp.p.Store(&mk)
}

// load returns the current maker, or nil.
func (sp *Preparation) load() *func() func([]*event.Event) {
	if sp == nil {
		return nil
	}
	return sp.p.Load()
}

// DefaultDecoders is how many goroutines decode one source's lines when
// its spec does not say: one per processor the Go runtime may use.
func DefaultDecoders() int { return runtime.GOMAXPROCS(0) }

// chunk is a run of lines from one input and, once decoded, their events.
type chunk struct {
	buf   []byte
	lines []lineRef
	evs   []*event.Event
	errs  []error
	// What the batch carries: the position after the chunk (pos fills in
	// the event count), and whether the input ended there.
	pos func(seq uint64) []byte
	end bool
	err error
	// dropped: the source stopped before the chunk reached a decoder.
	dropped bool
	done    chan struct{}
}

// lineRef is one line of a chunk: its bytes in buf, and its number; a
// line too long to decode has no bytes.
type lineRef struct {
	start, end int
	line       int
	tooLong    bool
}

// keepChunkBytes bounds the buffer a free chunk keeps: a chunk holds at
// most batchBytes of lines, plus one line of up to the line limit.
const keepChunkBytes = 2 * batchBytes

// newChunk takes a free chunk of the pipeline, or makes one: a pipeline
// has at most its queues' worth of chunks, each keeping its buffers.
func (p *pipeline) newChunk() *chunk {
	var c *chunk
	select {
	case c = <-p.free:
	default:
		c = &chunk{done: make(chan struct{}, 1), buf: make([]byte, 0, p.bufCap)}
	}
	c.buf, c.lines, c.evs, c.errs = c.buf[:0], c.lines[:0], c.evs[:0], c.errs[:0]
	c.pos, c.end, c.err, c.dropped = nil, false, nil, false
	return c
}

func (p *pipeline) freeChunk(c *chunk) {
	if cap(c.buf) > keepChunkBytes {
		c.buf = nil
	}
	clear(c.evs[:cap(c.evs)])
	clear(c.errs[:cap(c.errs)])
	select {
	case p.free <- c:
	default:
	}
}

// pipeline decodes one input's lines on several goroutines and sends their
// batches, in order, to out.
type pipeline struct {
	r      *Reader
	name   string
	out    chan<- Batch
	jobs   chan *chunk
	order  chan *chunk
	cur    *chunk
	free   chan *chunk
	done   chan struct{}
	closed bool
	// behind is set when the emitter's last hand-over waited for the
	// consumer: it is then the slower side (see decode).
	behind atomic.Bool
	// bufCap is the room a new chunk starts with: the most lines' bytes
	// a chunk has held, at least 64 KiB. Growing each chunk from 64 KiB
	// instead was a fifth of what a short replay of Windows events
	// allocated.
	bufCap int
}

// startPipeline starts n decoders (n < 1: DefaultDecoders) and the
// emitter. The reader r supplies the decoder, the counters, the log and
// the event numbering; the caller feeds lines with add and cuts batches
// with flush, then calls close.
func startPipeline(ctx context.Context, r *Reader, name string, n int, out chan<- Batch) *pipeline {
	if n < 1 {
		n = DefaultDecoders()
	}
	p := &pipeline{
		r: r, name: name, out: out,
		jobs: make(chan *chunk, n),
		// Chunks wait here in order to be emitted; the bound keeps the
		// decoders at most a few chunks ahead of the engine.
		order:  make(chan *chunk, 2*n),
		free:   make(chan *chunk, 3*n+2),
		done:   make(chan struct{}),
		bufCap: 64 << 10,
	}
	p.cur = p.newChunk()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { p.decode(r.dec) })
	}
	go func() {
		p.emit(ctx)
		wg.Wait()
		close(p.done)
	}()
	return p
}

// add copies a line into the current chunk; tooLong marks a line beyond
// the line limit, which is counted as malformed in its turn.
func (p *pipeline) add(b []byte, line int, tooLong bool) {
	c := p.cur
	if len(c.buf)+len(b) > cap(c.buf) {
		c.buf = growChunk(c.buf, len(b), len(c.lines))
	}
	start := len(c.buf)
	c.buf = append(c.buf, b...)
	c.lines = append(c.lines, lineRef{start: start, end: len(c.buf), line: line, tooLong: tooLong})
}

// growChunk returns buf, of a chunk of lines lines so far, with room for
// n more bytes and for as many as the rest of the chunk will take if its
// lines go on as long as they were: a chunk is cut at batchEvents lines
// or past batchBytes. Grown by doubling, a pipeline's first chunk of
// Windows events (2–3 KB each) was copied several times on its way up,
// and a later chunk a little longer than the longest before it doubled
// again, each copy into memory new to the process, which the machine
// faults in page by page: with chunks of up to 1 MiB, 18% of the CPU of
// one pass over the OTRF recordings.
func growChunk(buf []byte, n, lines int) []byte {
	avg := (len(buf) + n) / (lines + 1)
	size := max(min(avg*batchEvents, batchBytes)+avg, len(buf)+n)
	grown := make([]byte, len(buf), size)
	copy(grown, buf)
	if testHookGrow != nil {
		testHookGrow(len(buf))
	}
	return grown
}

// testHookGrow, when set, is told the bytes each growChunk copies.
var testHookGrow func(copied int)

// cutRather reports whether a chunk whose whole lines take whole bytes
// is cut where its next line starts rather than grown, a copy into
// memory new to the process, to take that line: once half full.
func cutRather(whole int) bool { return whole >= batchBytes/2 }

// cutBefore reports whether the current chunk should be cut before a
// line of n bytes, which it has no room for (see cutRather).
func (p *pipeline) cutBefore(n int) bool {
	c := p.cur
	return len(c.buf)+n > cap(c.buf) && cutRather(len(c.buf))
}

// full reports whether the current chunk should be cut.
func (p *pipeline) full() bool {
	return len(p.cur.lines) >= batchEvents || len(p.cur.buf) >= batchBytes
}

// pending reports whether the current chunk holds lines.
func (p *pipeline) pending() bool { return len(p.cur.lines) > 0 }

// flush hands the current chunk to the decoders as one batch, with the
// position after it (pos: nil for a source that cannot resume), and
// whether the input ends there (with err: why it ended early). It
// reports false when ctx ended first.
func (p *pipeline) flush(ctx context.Context, pos func(seq uint64) []byte, end bool, err error) bool {
	p.r.publish()
	c := p.cur
	c.pos, c.end, c.err = pos, end, err
	p.bufCap = min(max(p.bufCap, len(c.buf)), keepChunkBytes)
	select {
	case p.order <- c:
	case <-ctx.Done():
		return false
	}
	// The emitter owns the chunk now, and frees it.
	p.cur = p.newChunk()
	select {
	case p.jobs <- c:
	case <-ctx.Done():
		// The emitter waits for every chunk it was given.
		c.dropped = true
		c.done <- struct{}{}
		return false
	}
	return true
}

// close ends the pipeline once every chunk flushed has been emitted (or
// ctx has ended).
func (p *pipeline) close() {
	if p.closed {
		return
	}
	p.closed = true
	close(p.jobs)
	close(p.order)
	<-p.done
	p.freeChunk(p.cur)
}

// decodeRun is how many lines of a chunk a decoder decodes and prepares
// before it yields its processor. A chunk takes a few hundred
// microseconds, and a consumer woken meanwhile (a service's engine, by a
// batch) waits for a processor until one is free: on two cores, with the
// collector's mark worker on the other, for the rest of the chunk. That
// was most of a sequence's p99 latency as a service at 410,000 events/s;
// the yield, every 20–40 µs, costs no throughput measured.
const decodeRun = 32

// decode is one decoder: its own copy of the stream's decoder, which
// follows the stream's projection as it changes.
func (p *pipeline) decode(dec event.Decoder) {
	live := p.r.spec.Projection
	var last *event.Projection
	if live != nil {
		last = live.Load()
		dec.SetProject(last)
	}
	var (
		made     *func() func([]*event.Event)
		prepare  func([]*event.Event)
		screened *func(stream string) *event.Screen
		// screenedOut is what dec.Screened said last.
		screenedOut uint64
	)
	for c := range p.jobs {
		if live != nil {
			if cur := live.Load(); cur != last {
				dec.SetProject(cur)
				last = cur
			}
		}
		if cur := p.r.spec.Prepare.loadScreens(); cur != screened {
			screened = screen(&dec, cur)
		}
		if cur := p.r.spec.Prepare.load(); cur != made {
			made, prepare = cur, nil
			if cur != nil {
				prepare = (*cur)()
			}
		}
		// Preparing costs the decoders only when they are the slower
		// side: chunks wait for them while the consumer takes every batch
		// at once. Then the consumer does the work itself. Otherwise it
		// moves here: while batches wait for the consumer (the emitter's
		// last hand-over tells, whether out has room for batches or, as
		// the runtime's forwarders of several sources have, none), and
		// while the decoders have nothing else to do, as a live source's
		// have between its batches, where the consumer's time is what
		// the next batch waits for. Either way the results are the same.
		prep := prepare
		if !p.behind.Load() && len(p.jobs) > 0 {
			prep = nil
		}
		for lo := 0; lo < len(c.lines); lo += decodeRun {
			hi := min(lo+decodeRun, len(c.lines))
			for _, l := range c.lines[lo:hi] {
				if l.tooLong {
					c.evs, c.errs = append(c.evs, nil), append(c.errs, errTooLong(p.r.maxLine))
					continue
				}
				ev, err := dec.Decode(c.buf[l.start:l.end])
				c.evs, c.errs = append(c.evs, ev), append(c.errs, err)
			}
			if prep != nil {
				prep(c.evs[lo:hi])
			}
			if hi < len(c.lines) {
				runtime.Gosched()
			}
		}
		screenedOut = countScreened(&dec, p.r.Counts, screenedOut)
		c.done <- struct{}{}
	}
}

// emit hands each chunk's events on, in the order the chunks were cut,
// numbering events and reporting malformed lines as they come.
func (p *pipeline) emit(ctx context.Context) {
	r := p.r
	stopped := false
	for c := range p.order {
		<-c.done
		if stopped || c.dropped {
			stopped = true
			p.freeChunk(c)
			continue
		}
		evs := make([]*event.Event, 0, len(c.lines))
		for i, l := range c.lines {
			if err := c.errs[i]; err != nil {
				r.malformed(err, l.line)
				continue
			}
			ev := c.evs[i]
			ev.Line = l.line
			r.seq++
			ev.Seq = r.seq
			evs = append(evs, ev)
		}
		r.Counts.Events.Add(uint64(len(evs)))
		b := Batch{Source: p.name, Events: evs, End: c.end, Err: c.err}
		if c.pos != nil {
			b.Pos = c.pos(r.seq)
		}
		p.freeChunk(c)
		// A chunk of malformed lines only still moves the position on.
		if len(evs) == 0 && !b.End && b.Pos == nil {
			continue
		}
		select {
		case p.out <- b:
			p.behind.Store(false)
			continue
		default:
		}
		p.behind.Store(true)
		select {
		case p.out <- b:
		case <-ctx.Done():
			stopped = true
		}
	}
}
