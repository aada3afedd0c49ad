package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/cep-project/cep/source"
	"github.com/spf13/cobra"
)

// A paced bench run's events come, with --feed process, from another
// process over a pipe, as a live source's come from the network: the
// feeder sleeps between its batches and takes no processor from cep,
// where the in-process pacer yields its processor in a loop and is one
// more goroutine the scheduler shares two cores with. An execution trace
// of a paced sequence run at 320,000 events/s on the 2-core VM had the
// in-process pacer waiting for a processor 3.2 s of the run's 4.7, and
// five in six of the alerts slower than 200 µs came from batches it
// handed over late, in a burst, behind which they queued.
//
// The feeder is this program run again (cep bench-feed). It writes the
// scenario's lines in batches due every 50 µs, stamping each batch with
// the time just before its write; after the last line it closes the
// pipe and writes its stamps on a second one, which the bench joins to
// the alerts by line number once the run is over. Its latency is the
// service's own: from the write, through the pipe, the decoders and the
// engine, to the alert.

// feedFD is the feeder's descriptor for its stamps (its ExtraFiles[0]).
const feedFD = 3

// feedSource reads the lines a feeder process writes, as cep run reads
// standard input.
type feedSource struct {
	in   *source.Reading
	cmd  *exec.Cmd
	gate io.WriteCloser // a byte on it starts the feeder's clock
	out  io.ReadCloser
	// stamps are read once the feeder is done.
	stamps  *os.File
	start   int64       // the feeder's clock's start, Unix ns
	batches []feedStamp // in the order of their lines
	// read is closed once Run has read the stamps: the run ends with the
	// last batch, before them.
	read chan struct{}
}

type feedStamp struct {
	first uint64 // the batch's first line number
	at    int64  // when it was written, Unix ns
}

// startFeed starts the feeder on path's lines at rate, ready to write
// once Run begins: the feeder reads the file before the clock starts.
func startFeed(ctx context.Context, spec source.Spec, path string, rate float64, stderr io.Writer) (*feedSource, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("--feed process: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "bench-feed", "--rate", strconv.FormatFloat(rate, 'g', -1, 64), "--lines", path)
	cmd.Stderr = stderr
	gate, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	sr, sw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{sw}
	if err := cmd.Start(); err != nil {
		_ = sr.Close()
		_ = sw.Close()
		return nil, fmt.Errorf("--feed process: %w", err)
	}
	_ = sw.Close()
	return &feedSource{in: &source.Reading{Spec: spec, R: out}, cmd: cmd, gate: gate, out: out, stamps: sr, read: make(chan struct{})}, nil
}

func (s *feedSource) Name() string             { return s.in.Name() }
func (s *feedSource) Streams() []string        { return s.in.Streams() }
func (s *feedSource) Counts() *source.Counters { return s.in.Counts() }

// Run starts the feeder's clock and passes on what it writes until it
// ends, then reads its stamps.
func (s *feedSource) Run(ctx context.Context, pos source.Positions, out chan<- source.Batch) error {
	defer close(s.read)
	if _, err := s.gate.Write([]byte{1}); err != nil {
		return fmt.Errorf("starting the feeder: %w", err)
	}
	_ = s.gate.Close()
	err := s.in.Run(ctx, pos, out)
	_ = s.out.Close()
	stampErr := s.readStamps()
	_ = s.stamps.Close()
	if werr := s.cmd.Wait(); werr != nil && err == nil && ctx.Err() == nil {
		err = fmt.Errorf("the feeder: %w", werr)
	}
	if err == nil && ctx.Err() == nil {
		err = stampErr
	}
	return err
}

func (s *feedSource) readStamps() error {
	b, err := io.ReadAll(s.stamps)
	if err == nil {
		s.start, s.batches, err = decodeStamps(b)
	}
	if err != nil {
		return fmt.Errorf("the feeder's stamps: %w", err)
	}
	return nil
}

// decodeStamps reads what feed writes on its stamps: its clock's start,
// then each batch's first line and when it was written, eight bytes
// each, little-endian.
func decodeStamps(b []byte) (start int64, batches []feedStamp, err error) {
	if len(b) < 8 || (len(b)-8)%16 != 0 {
		return 0, nil, fmt.Errorf("%d bytes: want a start and 16-byte records", len(b))
	}
	start = int64(binary.LittleEndian.Uint64(b))
	for r := b[8:]; len(r) > 0; r = r[16:] {
		batches = append(batches, feedStamp{binary.LittleEndian.Uint64(r), int64(binary.LittleEndian.Uint64(r[8:]))})
	}
	return start, batches, nil
}

// written returns when the line numbered line was written, and when it
// was due (rate lines a second from the feeder's start, the first due
// at 1/rate). It waits for Run to have read the stamps.
func (s *feedSource) written(line uint64, rate float64) (at, due int64, ok bool) {
	<-s.read
	i := batchOf(s.batches, line, func(b feedStamp) uint64 { return b.first })
	if i < 0 {
		return 0, 0, false
	}
	return s.batches[i].at, s.start + int64(dueAfter(line, rate)), true
}

// dueAfter is when the line numbered line is due, from the feed's start.
func dueAfter(line uint64, rate float64) time.Duration {
	return time.Duration(math.Round(float64(line) * float64(time.Second) / rate))
}

// benchFeedCmd is the feeder: hidden, run by cep bench --feed process.
func (a *app) benchFeedCmd() *cobra.Command {
	var rate float64
	var lines string
	cmd := &cobra.Command{
		Use:    "bench-feed",
		Short:  "Write a file's lines to standard output at a rate (for cep bench --feed process)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if rate <= 0 {
				return fmt.Errorf("--rate must be positive")
			}
			data, err := os.ReadFile(lines)
			if err != nil {
				return err
			}
			stamps := os.NewFile(feedFD, "stamps")
			if stamps == nil {
				return fmt.Errorf("no descriptor %d for the stamps", feedFD)
			}
			defer stamps.Close()
			// The clock starts when the bench's source starts reading.
			var b [1]byte
			if _, err := io.ReadFull(a.stdin, b[:]); err != nil {
				return fmt.Errorf("waiting for the start: %w", err)
			}
			return feed(data, rate, a.stdout, stamps)
		},
	}
	cmd.Flags().Float64Var(&rate, "rate", 0, "lines per second")
	cmd.Flags().StringVar(&lines, "lines", "", "file of lines")
	return cmd
}

// feed writes data's lines to w at rate, in batches of the lines due
// every 50 µs (as the in-process pacer hands them over), and then the
// stamps of its batches to stamps.
func feed(data []byte, rate float64, w io.Writer, stamps io.Writer) error {
	lockForPacing()
	var ends []int // ends[i] is where line i+1 ends
	for off := 0; off < len(data); {
		n := bytes.IndexByte(data[off:], '\n')
		if n < 0 {
			ends = append(ends, len(data))
			break
		}
		off += n + 1
		ends = append(ends, off)
	}
	step := max(1, int(rate/20000))
	rec := make([]byte, 0, 8+16*(len(ends)/step+1))
	start := time.Now()
	rec = binary.LittleEndian.AppendUint64(rec, uint64(start.UnixNano()))
	for sent := 0; sent < len(ends); {
		next := min(sent+step, len(ends))
		sleepUntil(start.Add(dueAfter(uint64(next), rate)))
		// A late wake sends every line due by now, as a socket's buffer
		// would hold them.
		due := int(time.Since(start).Seconds() * rate)
		upto := min(max(next, due), len(ends))
		from := 0
		if sent > 0 {
			from = ends[sent-1]
		}
		at := time.Now().UnixNano()
		if _, err := w.Write(data[from:ends[upto-1]]); err != nil {
			return err
		}
		rec = binary.LittleEndian.AppendUint64(rec, uint64(sent+1))
		rec = binary.LittleEndian.AppendUint64(rec, uint64(at))
		sent = upto
	}
	if c, ok := w.(io.Closer); ok {
		if err := c.Close(); err != nil {
			return err
		}
	}
	_, err := stamps.Write(rec)
	return err
}
