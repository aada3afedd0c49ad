package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/cep-project/cep/internal/wire"
)

// Batches are cut at this many events or bytes, whichever comes first, so
// that read-ahead is bounded in bytes as well as in count. The bytes are
// what a chunk's buffer holds, and each buffer is memory the machine
// faults in, page by page, the first time it is filled: with 1 MiB, a
// pipeline's few chunks of Windows events (2–3 KB each) cost one pass
// over the OTRF recordings a third of its time, and with 128 KiB one
// pass ran 35–45% faster and ten copies of it 6% faster (64 KiB and
// 256 KiB were slower at one or the other). Lines of a few hundred
// bytes are cut at the count, as before.
const (
	batchEvents = 256
	batchBytes  = 128 << 10
)

// DefaultPoll is how often a followed file at its end is checked for new
// lines, rotation and truncation.
const DefaultPoll = 500 * time.Millisecond

// File reads JSON lines from a file. With Follow it keeps reading as the
// file grows, like tail -F: it notices when the file is renamed away and a
// new one takes its path (reading the old one to its end first) and when
// it is truncated in place (copytruncate), and starts the new content
// from its beginning. Its position is the file's identity, byte offset,
// line number and event count, so a restart resumes exactly after the
// last line the engine saw.
type File struct {
	Spec   Spec
	Path   string
	Follow bool
	// Poll is how often a followed file is checked at its end; 0 means
	// DefaultPoll.
	Poll time.Duration
	Log  *slog.Logger
	// OnMalformed, when set, also receives every malformed line's error.
	OnMalformed func(error)

	counts Counters
}

// Name implements Source.
func (f *File) Name() string { return f.Spec.Name }

// Streams implements Source.
func (f *File) Streams() []string { return []string{f.Spec.Stream} }

// Counts implements Source.
func (f *File) Counts() *Counters { return &f.counts }

func (f *File) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

// filePos is a file source's position.
type filePos struct {
	path     string
	dev, ino uint64
	off      int64
	line     int
	seq      uint64
}

const filePosVersion = 1

func (p filePos) encode() []byte {
	e := &wire.Enc{B: []byte{filePosVersion}}
	e.Str(p.path)
	e.Uvarint(p.dev)
	e.Uvarint(p.ino)
	e.Varint(p.off)
	e.Varint(int64(p.line))
	e.Uvarint(p.seq)
	return e.B
}

func decodeFilePos(b []byte) (filePos, error) {
	d := &wire.Dec{B: b}
	if v := d.Byte(); v != filePosVersion {
		return filePos{}, fmt.Errorf("file position version %d; this cep reads version %d", v, filePosVersion)
	}
	p := filePos{path: d.Str(), dev: d.Uvarint(), ino: d.Uvarint(), off: d.Varint(), line: int(d.Varint()), seq: d.Uvarint()}
	if d.Err != nil {
		return p, fmt.Errorf("file position: %w", d.Err)
	}
	if p.off < 0 || p.line < 0 {
		return p, errors.New("file position: negative offset")
	}
	return p, nil
}

// identity returns a file's device and inode numbers.
func identity(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}

// Run implements Source.
func (f *File) Run(ctx context.Context, from Positions, out chan<- Batch) error {
	r := NewReader(nil, f.Spec, f.Log)
	r.Counts = &f.counts
	r.OnMalformed = f.OnMalformed
	fr := &fileRun{f: f, r: r, poll: f.Poll}
	if fr.poll <= 0 {
		fr.poll = DefaultPoll
	}
	fr.p = startPipeline(ctx, r, f.Name(), f.Spec.Decoders, out)
	err := fr.run(ctx, from[""])
	if fr.file != nil {
		fr.file.Close()
	}
	if ctx.Err() == nil && err != nil {
		err = fmt.Errorf("%s: %w", f.Path, err)
		fr.send(ctx, true, err)
	}
	fr.p.close()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type fileRun struct {
	f    *File
	r    *Reader
	p    *pipeline
	poll time.Duration
	file *os.File
	dev  uint64
	ino  uint64
	// The file is read straight into the pipeline's current chunk (see
	// drain). Its bytes from part on are the start of a line not yet
	// read to its newline, looked through up to scanned. Of a line
	// longer than the limit the bytes read are dropped as they come
	// (skip): skipped counts them, and text tells whether any was not
	// white space. carry takes the partial line across a cut.
	part, scanned int
	skipped       int
	text          bool
	carry         []byte
	// avg is the bytes per line of the last chunk cut, which sizes the
	// reads so that a chunk's last read ends near its last line.
	avg int
}

// minRead is the least a read asks the file for.
const minRead = 4 << 10

func (fr *fileRun) pos() filePos {
	return filePos{path: fr.f.Path, dev: fr.dev, ino: fr.ino, off: fr.r.off, line: fr.r.line}
}

// send cuts a batch with the position after it; false when ctx ended
// first. A line read in part goes on to the next chunk.
func (fr *fileRun) send(ctx context.Context, end bool, err error) bool {
	p := fr.pos()
	c := fr.p.cur
	if n := len(c.lines); n > 0 {
		fr.avg = max(1, fr.part/n)
	}
	fr.carry = append(fr.carry[:0], c.buf[fr.part:]...)
	c.buf = c.buf[:fr.part]
	ok := fr.p.flush(ctx, func(seq uint64) []byte {
		p.seq = seq
		return p.encode()
	}, end, err)
	next := fr.p.cur
	next.buf = append(next.buf, fr.carry...)
	fr.scanned -= fr.part
	fr.part = 0
	return ok
}

// use makes file the one being read, from byte offset off.
func (fr *fileRun) use(file *os.File, off int64, line int) error {
	fi, err := file.Stat()
	if err != nil {
		return err
	}
	if _, err := file.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if fr.file != nil && fr.file != file {
		fr.file.Close()
	}
	fr.file = file
	fr.dev, fr.ino = identity(fi)
	fr.r.off, fr.r.line = off, line
	// A line the last file left without its end is dropped, as the
	// Reader drops it.
	c := fr.p.cur
	c.buf = c.buf[:fr.part]
	fr.scanned, fr.skipped, fr.text = fr.part, 0, false
	return nil
}

func (fr *fileRun) run(ctx context.Context, from []byte) error {
	f := fr.f
	var p *filePos
	if from != nil {
		pos, err := decodeFilePos(from)
		if err != nil {
			return err
		}
		if pos.path != f.Path {
			f.log().Warn("the source's path changed since the checkpoint: reading it from the start", "source", f.Name(), "was", pos.path, "path", f.Path)
		} else {
			p = &pos
		}
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	if p == nil {
		if err := fr.use(file, 0, 0); err != nil {
			file.Close()
			return err
		}
		return fr.loop(ctx)
	}
	fr.r.seq = p.seq
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return err
	}
	dev, ino := identity(fi)
	switch {
	case dev == p.dev && ino == p.ino && fi.Size() >= p.off:
		if err := fr.use(file, p.off, p.line); err != nil {
			file.Close()
			return err
		}
		return fr.loop(ctx)
	case dev == p.dev && ino == p.ino:
		f.log().Warn("the file was truncated since the checkpoint: reading it from the start; lines written before the truncation and after the checkpoint are lost",
			"source", f.Name(), "path", f.Path, "checkpoint_offset", p.off, "size", fi.Size())
	default:
		// Rotated while cep was down: finish the old file, if it is still
		// beside the new one, then read the new one from its start.
		if old := findFile(filepath.Dir(f.Path), p.dev, p.ino); old != "" {
			f.log().Info("the file was rotated since the checkpoint: reading the rest of the old one first", "source", f.Name(), "old", old, "path", f.Path)
			if err := fr.finish(ctx, old, p); err != nil {
				file.Close()
				return err
			}
		} else {
			f.log().Warn("the file was rotated since the checkpoint and the old one is gone: lines written to it after the checkpoint are lost; reading the new file from its start",
				"source", f.Name(), "path", f.Path, "checkpoint_offset", p.off)
		}
	}
	if err := fr.use(file, 0, 0); err != nil {
		file.Close()
		return err
	}
	return fr.loop(ctx)
}

// finish reads a rotated file from the checkpointed offset to its end.
func (fr *fileRun) finish(ctx context.Context, path string, p *filePos) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := fr.use(file, p.off, p.line); err != nil {
		file.Close()
		return err
	}
	return fr.drain(ctx, true)
}

// findFile looks in dir for the file with the given identity.
func findFile(dir string, dev, ino uint64) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if d, i := identity(fi); d == dev && i == ino {
			return filepath.Join(dir, e.Name())
		}
	}
	return ""
}

// drain reads what the current file holds up to its end, cutting full
// batches. With last, a held partial line is taken as the file's last.
//
// It reads the file straight into the pipeline's current chunk and cuts
// lines where they fall, where reading through a bufio.Reader copied
// every line out of the reader's buffer into the chunk: a tenth of the
// filter scenario's CPU. Lines, their numbers, the offset after the last
// whole line, what is counted blank or too long, and a partial last line
// (held while following, else taken as a line) come out as the Reader
// makes them for other sources (TestFileLinesAsReader).
func (fr *fileRun) drain(ctx context.Context, last bool) error {
	r, p := fr.r, fr.p
	for {
		c := p.cur
		if fr.scanned < len(c.buf) {
			fr.scan(c)
		}
		if fr.full() {
			if !fr.send(ctx, false, nil) {
				return ctx.Err()
			}
			continue
		}
		// A read asks for about what the chunk's remaining lines take,
		// at least minRead, into the room the chunk has; a chunk short
		// of room grows to what its lines so far say it will hold (at
		// most batchBytes and a line), as pipeline.add grows one.
		want := minRead
		if fr.avg > 0 {
			want = max(minRead, fr.avg*(batchEvents-len(c.lines)+1))
		}
		if cap(c.buf)-len(c.buf) < minRead {
			if cutRather(fr.part) {
				// The partial line goes to the next chunk. Grown by a
				// read's worth instead, a chunk ending in a PowerShell
				// script block of 16–32 KB was copied whole four to
				// eight times: a third of what one pass over the
				// OTRF recordings allocated.
				if !fr.send(ctx, false, nil) {
					return ctx.Err()
				}
				continue
			}
			// A partial line longer than a read grows by its own
			// length so far, so that a long one is not copied for
			// every read.
			c.buf = growChunk(c.buf, max(minRead, len(c.buf)-fr.part), len(c.lines))
		}
		room := c.buf[len(c.buf):cap(c.buf)]
		if len(room) > want {
			room = room[:want]
		}
		n, err := fr.file.Read(room)
		if n > 0 {
			c.buf = c.buf[:len(c.buf)+n]
			continue
		}
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) && (fr.part < len(c.buf) || fr.skipped > 0) && (last || !fr.f.Follow) {
			// The file's last line has no newline: it is a line all the same.
			fr.endLine(c, len(c.buf), len(c.buf))
		}
		// Blank lines at the end are in no chunk, and a followed file
		// may wait long for the next.
		r.publish()
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
}

// full reports whether the current chunk's whole lines fill it (the
// bytes after them are the next chunk's).
func (fr *fileRun) full() bool {
	return len(fr.p.cur.lines) >= batchEvents || fr.part >= batchBytes
}

// scan cuts the lines that the bytes read into c end, until c is full;
// the bytes after its last line are then cut in the next chunk.
func (fr *fileRun) scan(c *chunk) {
	for !fr.full() {
		i := bytes.IndexByte(c.buf[fr.scanned:], '\n')
		if i >= 0 {
			nl := fr.scanned + i
			fr.endLine(c, nl, nl+1)
			continue
		}
		fr.scanned = len(c.buf)
		if len(c.buf)-fr.part > fr.r.maxLine {
			fr.skip(c)
		}
		return
	}
}

// skip drops the bytes read of a line longer than the limit, noting
// whether any of them is text (not white space), but for a rune they end
// in the middle of, which waits for the rest of it: a line is blank when
// all of it is white space, however long.
func (fr *fileRun) skip(c *chunk) {
	b := c.buf[fr.part:]
	cut := len(b)
	// The last rune's start, if it is among the last UTFMax bytes.
	for i := len(b) - 1; i >= max(0, len(b)-utf8.UTFMax); i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	if !fr.text && len(bytes.TrimSpace(b[:cut])) > 0 {
		fr.text = true
	}
	fr.skipped += cut
	c.buf = append(c.buf[:fr.part], b[cut:]...)
	fr.scanned = len(c.buf)
}

// endLine takes the line from fr.part to end, its input ending at next
// (past its newline, if it has one), as the Reader's nextLine does.
func (fr *fileRun) endLine(c *chunk, end, next int) {
	r := fr.r
	n := next - fr.part + fr.skipped
	r.off += int64(n)
	r.line++
	r.lines++
	r.bytes += uint64(n)
	b := c.buf[fr.part:end]
	if end < next && len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	switch {
	case !fr.text && len(bytes.TrimSpace(b)) == 0:
	case len(b) > r.maxLine || fr.skipped > 0:
		c.lines = append(c.lines, lineRef{line: r.line, tooLong: true})
	default:
		c.lines = append(c.lines, lineRef{start: fr.part, end: fr.part + len(b), line: r.line})
	}
	fr.part, fr.scanned, fr.skipped, fr.text = next, next, 0, false
}

func (fr *fileRun) loop(ctx context.Context) error {
	f := fr.f
	for {
		if err := fr.drain(ctx, false); err != nil {
			return err
		}
		if !f.Follow {
			if !fr.send(ctx, true, nil) {
				return ctx.Err()
			}
			return nil
		}
		if fr.p.pending() && !fr.send(ctx, false, nil) {
			return ctx.Err()
		}
		switched, err := fr.rotate(ctx)
		if err != nil {
			return err
		}
		if switched {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(fr.poll):
		}
	}
}

// rotate notices a truncated file or a new file at the path; it reports
// whether reading moved to new content.
func (fr *fileRun) rotate(ctx context.Context) (bool, error) {
	f := fr.f
	cur, err := fr.file.Stat()
	if err != nil {
		return false, err
	}
	if cur.Size() < fr.r.off {
		f.log().Warn("followed file truncated: reading it from the start", "source", f.Name(), "path", f.Path, "offset", fr.r.off, "size", cur.Size())
		return true, fr.use(fr.file, 0, 0)
	}
	fi, err := os.Stat(f.Path)
	if err != nil || os.SameFile(fi, cur) {
		// Gone for now (between a rename and the new file's creation), or
		// unchanged.
		return false, nil
	}
	next, err := os.Open(f.Path)
	if err != nil {
		return false, nil
	}
	// The writer may have added lines to the old file between the last
	// read and the rename: read it to its end once more.
	if err := fr.drain(ctx, true); err != nil {
		next.Close()
		return false, err
	}
	f.log().Info("followed file rotated: reading the new file from its start", "source", f.Name(), "path", f.Path)
	return true, fr.use(next, 0, 0)
}
