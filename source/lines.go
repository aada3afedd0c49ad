// Package source reads events: JSON lines from files (followed like
// tail -F, resumable from a checkpointed position), standard input, and
// Kafka topics (an offset per partition in checkpoints, committed to the
// consumer group once durable, partitions merged in event time).
// Sources hand the runtime batches of events with the position after
// them; see docs/ARCHITECTURE.md for how positions enter checkpoints.
package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/cep-project/cep/event"
)

// Spec describes one input stream.
type Spec struct {
	// Name identifies the input in logs: a path, "-" or a source name.
	Name string
	// Stream is the stream its events belong to.
	Stream string
	// TimeField and IDField override the event defaults (see event.Decoder).
	TimeField string
	IDField   string
	// Decoder holds the rest of the stream's decoding options (time
	// fields, formats and zone, accepted time range, limits, projection);
	// each reader decodes with a copy of it.
	Decoder event.Decoder
	// Projection, when set, overrides Decoder.Project with the stream's
	// current projection, which may change while the source runs.
	Projection *Projection
	// Prepare, when set, holds what each decoding goroutine runs on the
	// events it has decoded (see Preparation).
	Prepare *Preparation
	// Decoders is how many goroutines decode the lines of a file or a
	// reader (0: DefaultDecoders).
	Decoders int
}

// Counters are what a reader has seen. They are updated atomically so a
// progress line can read them while the reader runs.
type Counters struct {
	Lines     atomic.Uint64
	Events    atomic.Uint64
	Malformed atomic.Uint64
	Bytes     atomic.Uint64
	// Lost counts input deleted upstream before it was read (a Kafka
	// partition's messages removed by retention while cep lagged).
	Lost atomic.Uint64
	// Rekeyed counts copies written to repartition topics (scale-out);
	// Duplicates copies read from one and skipped, written twice.
	Rekeyed, Duplicates atomic.Uint64
	// Screened counts the events decoded with their screen's fields
	// only (event.Screen), which no rule could reach.
	Screened atomic.Uint64
	// Starting is set while the source has not begun to read: a Kafka
	// source finding its partitions and offsets, or waiting for brokers
	// that do not answer. Readiness is false meanwhile.
	Starting atomic.Bool
	// Lag is, for a source of several lanes that knows how far behind it
	// reads (Kafka's partitions), each lane's lag in messages.
	Lag LagTable
}

// AddCounts adds c's counts (not its Starting and Lag, which say how a
// source is now, not what it did) to o's.
func (o *Counters) AddCounts(c *Counters) {
	o.Lines.Add(c.Lines.Load())
	o.Events.Add(c.Events.Load())
	o.Malformed.Add(c.Malformed.Load())
	o.Bytes.Add(c.Bytes.Load())
	o.Lost.Add(c.Lost.Load())
	o.Rekeyed.Add(c.Rekeyed.Load())
	o.Duplicates.Add(c.Duplicates.Load())
	o.Screened.Add(c.Screened.Load())
}

// LagTable holds a source's lag by lane; the zero value is empty.
type LagTable struct {
	mu sync.Mutex
	m  map[string]int64
}

// Set records a lane's lag.
func (t *LagTable) Set(lane string, n int64) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]int64{}
	}
	t.m[lane] = n
	t.mu.Unlock()
}

// Snapshot returns the lag of every lane reported so far.
func (t *LagTable) Snapshot() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.m)
}

// Reader decodes JSON lines into events. A malformed line is counted,
// logged with its stream and line number, and skipped; it never stops the
// input.
type Reader struct {
	spec Spec
	br   *bufio.Reader
	dec  event.Decoder
	line int
	// off is the byte offset just past the last line consumed.
	off int64
	log *slog.Logger
	// seq numbers events in arrival order, carried across restarts by
	// positions. A pipeline's emitter writes it for every event while
	// the reading goroutine writes line and off for every line: on one
	// cache line, two cores pass it back and forth, and the reader's next
	// atomic counter update waits for it: up to 7% of a filter run's CPU
	// in profiles of cep bench.
	_    [64]byte
	seq  uint64
	_    [56]byte
	long []byte
	// maxLine is the longest line decoded; a longer one is counted,
	// skipped, and not buffered past this.
	maxLine int
	// lines and bytes are read but not yet added to Counts (see publish).
	lines, bytes uint64
	Counts       *Counters
	// OnMalformed, when set, also receives every malformed line's error.
	OnMalformed func(error)
}

// NewReader reads events of spec from r; with a nil r, it only decodes,
// counts and logs the lines its caller reads (see fileRun.drain).
func NewReader(r io.Reader, spec Spec, log *slog.Logger) *Reader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dec := spec.Decoder
	dec.Stream = spec.Stream
	if spec.TimeField != "" {
		dec.TimeField = spec.TimeField
	}
	if spec.IDField != "" {
		dec.IDField = spec.IDField
	}
	rd := &Reader{
		spec:    spec,
		dec:     dec,
		log:     log,
		Counts:  new(Counters),
		maxLine: dec.MaxLineSize(),
	}
	// The file and Kafka sources read their input themselves and pass
	// nil: their Reader decodes, counts and logs, and needs no buffer.
	if r != nil {
		rd.br = bufio.NewReaderSize(r, 256*1024)
	}
	return rd
}

// Buffered reports whether input is waiting in the reader's buffer, so a
// caller batching events knows whether the next one is at hand.
func (r *Reader) Buffered() bool { return r.br.Buffered() > 0 }

// Spec returns the reader's input spec.
func (r *Reader) Spec() Spec { return r.spec }

// Offset returns the byte offset just past the last line consumed.
func (r *Reader) Offset() int64 { return r.off }

// LineError is a line that could not be decoded.
type LineError struct {
	Input  string
	Stream string
	Line   int
	Err    error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: stream %s: %v", e.Input, e.Line, e.Stream, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Next returns the next event, or io.EOF at the end of the input. Other
// errors are read errors of the underlying reader.
func (r *Reader) Next() (*event.Event, error) {
	for {
		b, tooLong, err := r.nextLine()
		r.publish()
		if err != nil {
			return nil, err
		}
		if tooLong {
			r.malformed(errTooLong(r.maxLine), r.line)
			continue
		}
		ev, derr := r.dec.Decode(b)
		if derr != nil {
			r.malformed(derr, r.line)
			continue
		}
		ev.Line = r.line
		r.seq++
		ev.Seq = r.seq
		r.Counts.Events.Add(1)
		return ev, nil
	}
}

func errTooLong(max int) error { return fmt.Errorf("line longer than %d bytes (max_line_size)", max) }

// nextLine returns the next line that is not blank, without its newline
// and valid until the next call, r.line being its number; tooLong, and no
// bytes, when it is longer than the line limit. At the end of the input,
// or on a read error, it returns the error and no line.
func (r *Reader) nextLine() (b []byte, tooLong bool, err error) {
	for {
		b, n, err := r.readLine()
		if n == 0 && err != nil {
			return nil, false, err
		}
		r.off += int64(n)
		r.line++
		r.lines++
		r.bytes += uint64(n)
		if len(bytes.TrimSpace(b)) == 0 {
			if err != nil {
				return nil, false, err
			}
			continue
		}
		if len(b) > r.maxLine {
			return nil, true, nil
		}
		return b, false, nil
	}
}

// publish adds the lines and bytes read since it was last called to
// Counts. A pipeline calls it once per chunk it cuts, and Next once per
// line: two atomic adds per line, on the cache line where the decoders
// count events, took 3% of the filter scenario's CPU.
func (r *Reader) publish() {
	if r.lines != 0 || r.bytes != 0 {
		r.Counts.Lines.Add(r.lines)
		r.Counts.Bytes.Add(r.bytes)
		r.lines, r.bytes = 0, 0
	}
}

func (r *Reader) malformed(err error, line int) {
	n := r.Counts.Malformed.Add(1)
	le := &LineError{Input: r.spec.Name, Stream: r.spec.Stream, Line: line, Err: err}
	if r.OnMalformed != nil {
		r.OnMalformed(le)
	}
	// The first hundred are logged one by one, then every hundredth, so a
	// broken producer cannot flood the log; the count is always exact.
	if n <= 100 || n%100 == 0 {
		r.log.Warn("malformed event line skipped", "input", r.spec.Name, "stream", r.spec.Stream, "line", line, "error", err.Error(), "malformed_so_far", n)
	}
}

// readLine returns one line without its newline, and how many bytes of
// input it took. Lines longer than the buffer are gathered (up to just
// past the line limit, so an oversized line is recognised and the rest of it
// discarded, though its length is still counted).
func (r *Reader) readLine() ([]byte, int, error) {
	b, err := r.br.ReadSlice('\n')
	if err == nil {
		return trimEOL(b), len(b), nil
	}
	r.long = r.long[:0]
	n := 0
	for {
		n += len(b)
		if len(r.long) <= r.maxLine {
			r.long = append(r.long, b...)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
		b, err = r.br.ReadSlice('\n')
	}
	return trimEOL(r.long), n, err
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
