package siem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// spool is a sink's queue of undelivered records, oldest first. Only the
// sink's sender goroutine calls it, except for the stats, which health
// reads.
type spool interface {
	// append adds payloads at the tail, all or none; errSpoolFull when they
	// do not fit.
	append(payloads [][]byte) error
	// peek returns up to n payloads from the head without removing them.
	peek(n int) ([][]byte, error)
	// commit removes the first n payloads of the last peek.
	commit(n int) error
	// dropOldest removes payloads from the head until need more bytes fit,
	// and returns how many it removed.
	dropOldest(need int64) (int, error)
	stats() (records int, bytes int64)
	// unbound lifts max_bytes, for what must be spooled at shutdown.
	unbound()
	close() error
}

var errSpoolFull = errors.New("spool full")

// frameHeader is the length and CRC-32C of each record on disk.
const frameHeader = 8

// minSpoolBytes keeps a spool large enough for at least a few batches.
const minSpoolBytes = 64 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame writes one length-prefixed, checksummed record.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// maxFrame bounds a record's length field, so that a corrupt length is
// caught as corruption rather than read as a huge allocation.
const maxFrame = 64 << 20

// parseFrame reads one frame from the start of b. It returns the payload
// and the frame's length, or n == 0 when b holds no complete valid frame:
// the frame is truncated (ok) or corrupt (err).
func parseFrame(b []byte) (payload []byte, n int, err error) {
	if len(b) < frameHeader {
		return nil, 0, nil
	}
	l := binary.LittleEndian.Uint32(b)
	if l > maxFrame {
		return nil, 0, fmt.Errorf("record length %d exceeds %d", l, maxFrame)
	}
	if uint64(len(b)) < frameHeader+uint64(l) {
		return nil, 0, nil
	}
	p := b[frameHeader : frameHeader+int(l)]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errors.New("record checksum mismatch")
	}
	return p, frameHeader + int(l), nil
}

// scanFrames walks the frames of a segment and returns the offset where
// valid data ends and, if it ends before len(b), why.
func scanFrames(b []byte, fn func(payload []byte)) (end int, err error) {
	for end < len(b) {
		p, n, err := parseFrame(b[end:])
		if err != nil {
			return end, err
		}
		if n == 0 {
			return end, io.ErrUnexpectedEOF
		}
		if fn != nil {
			fn(p)
		}
		end += n
	}
	return end, nil
}

// Recovery describes what opening a spool found wrong and repaired.
type Recovery struct {
	// TruncatedBytes were cut from the ends of segments: a torn write at
	// the tail after a crash, or corruption.
	TruncatedBytes int64
	// Problems says where and why, one entry per repaired segment.
	Problems []string
}

// pos is a place in the spool: a segment and an offset in it.
type pos struct {
	seg uint64
	off int64
}

// diskSpool keeps records in numbered segment files with a head file that
// says where the oldest undelivered record starts. Appends are fsync'd
// before they return, so an accepted alert survives a crash; the head moves
// only after a delivery, so a crash re-delivers rather than loses (ids make
// that idempotent downstream).
type diskSpool struct {
	dir    string
	max    int64
	segMax int64

	segs   []uint64 // segment numbers, ascending; the last is the tail
	sizes  map[uint64]int64
	head   pos
	tail   *os.File
	ends   []pos // end of each payload of the last peek
	count  atomic.Int64
	nbytes atomic.Int64
}

const headFile = "head"

func segName(n uint64) string { return fmt.Sprintf("%020d.seg", n) }

// openDiskSpool opens or creates the spool in dir, checking every record
// from the head on; corrupt or torn data is cut off and reported.
func openDiskSpool(dir string, maxBytes int64) (*diskSpool, Recovery, error) {
	var rec Recovery
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, rec, err
	}
	s := &diskSpool{dir: dir, max: maxBytes, sizes: map[uint64]int64{}}
	s.segMax = min(max(maxBytes/8, minSpoolBytes/4), 64<<20)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, rec, err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil {
			continue
		}
		s.segs = append(s.segs, n)
	}
	slices.Sort(s.segs)
	if err := s.readHead(&rec); err != nil {
		return nil, rec, err
	}
	// Segments before the head were delivered; a crash may have left them.
	for len(s.segs) > 0 && s.segs[0] < s.head.seg {
		_ = os.Remove(filepath.Join(dir, segName(s.segs[0])))
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.segs[0] != s.head.seg {
		s.head = pos{seg: s.head.seg}
		if len(s.segs) > 0 {
			s.head.seg = s.segs[0]
		}
	}
	for _, n := range s.segs {
		if err := s.check(n, &rec); err != nil {
			return nil, rec, err
		}
	}
	if len(s.segs) == 0 {
		s.segs = []uint64{max(s.head.seg, 1)}
		s.head = pos{seg: s.segs[0]}
	}
	last := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(filepath.Join(dir, segName(last)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, rec, err
	}
	s.tail = f
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, rec, err
	}
	return s, rec, nil
}

// check validates one segment from where the head says reading starts,
// truncates whatever follows the last valid record, and counts the rest.
func (s *diskSpool) check(n uint64, rec *Recovery) error {
	path := filepath.Join(s.dir, segName(n))
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	start := 0
	if n == s.head.seg {
		if s.head.off > int64(len(b)) {
			rec.Problems = append(rec.Problems, fmt.Sprintf("%s: head offset %d is past the end (%d); reading from the start", segName(n), s.head.off, len(b)))
			s.head.off = 0
		}
		start = int(s.head.off)
	}
	// Frames before the head were delivered but are still checked, so that
	// the boundary the head points at is a real frame boundary.
	if end, _ := scanFrames(b[:start], nil); end != start {
		rec.Problems = append(rec.Problems, fmt.Sprintf("%s: head offset %d is not a record boundary; reading from the start", segName(n), start))
		start, s.head.off = 0, 0
	}
	end, err := scanFrames(b[start:], func(p []byte) {
		s.count.Add(1)
		s.nbytes.Add(int64(len(p) + frameHeader))
	})
	end += start
	if err != nil {
		cut := int64(len(b) - end)
		rec.TruncatedBytes += cut
		why := "torn write"
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			why = err.Error()
		}
		rec.Problems = append(rec.Problems, fmt.Sprintf("%s: %d bytes after offset %d cut (%s)", segName(n), cut, end, why))
		if err := os.Truncate(path, int64(end)); err != nil {
			return err
		}
	}
	s.sizes[n] = int64(end)
	return nil
}

func (s *diskSpool) readHead(rec *Recovery) error {
	b, err := os.ReadFile(filepath.Join(s.dir, headFile))
	if errors.Is(err, os.ErrNotExist) {
		if len(s.segs) > 0 {
			s.head = pos{seg: s.segs[0]}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if len(b) != 20 || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		rec.Problems = append(rec.Problems, "head file corrupt; re-reading from the oldest segment (some alerts may be sent again)")
		if len(s.segs) > 0 {
			s.head = pos{seg: s.segs[0]}
		}
		return nil
	}
	s.head = pos{seg: binary.LittleEndian.Uint64(b), off: int64(binary.LittleEndian.Uint64(b[8:]))}
	return nil
}

func (s *diskSpool) writeHead() error {
	b := binary.LittleEndian.AppendUint64(nil, s.head.seg)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.head.off))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp := filepath.Join(s.dir, headFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, headFile)); err != nil {
		return err
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *diskSpool) stats() (int, int64) { return int(s.count.Load()), s.nbytes.Load() }

func (s *diskSpool) append(payloads [][]byte) error {
	need := int64(0)
	for _, p := range payloads {
		need += int64(len(p) + frameHeader)
	}
	if s.nbytes.Load()+need > s.max {
		return errSpoolFull
	}
	last := s.segs[len(s.segs)-1]
	if s.sizes[last] >= s.segMax {
		if err := s.rotate(); err != nil {
			return err
		}
		last = s.segs[len(s.segs)-1]
	}
	buf := make([]byte, 0, need)
	for _, p := range payloads {
		buf = appendFrame(buf, p)
	}
	if _, err := s.tail.Write(buf); err != nil {
		// A partial write is cut off by the next open's check; until then
		// the size is unknown, so stop using this segment.
		_ = s.rotate()
		return err
	}
	if err := s.tail.Sync(); err != nil {
		return err
	}
	s.sizes[last] += int64(len(buf))
	s.count.Add(int64(len(payloads)))
	s.nbytes.Add(need)
	return nil
}

func (s *diskSpool) rotate() error {
	next := s.segs[len(s.segs)-1] + 1
	f, err := os.OpenFile(filepath.Join(s.dir, segName(next)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.tail.Close()
	s.tail = f
	s.segs = append(s.segs, next)
	s.sizes[next] = 0
	return nil
}

func (s *diskSpool) peek(n int) ([][]byte, error) {
	s.ends = s.ends[:0]
	var out [][]byte
	p := s.head
	for _, seg := range s.segs {
		if seg < p.seg {
			continue
		}
		if len(out) >= n {
			break
		}
		if seg > p.seg {
			p = pos{seg: seg}
		}
		size := s.sizes[seg]
		if p.off >= size {
			continue
		}
		f, err := os.Open(filepath.Join(s.dir, segName(seg)))
		if err != nil {
			return nil, err
		}
		// Read a bounded window, not the whole segment: a drain needs one
		// batch at a time.
		window := min(size-p.off, int64(n)*4096+frameHeader)
		for len(out) < n && p.off < size {
			buf := make([]byte, window)
			k, err := f.ReadAt(buf, p.off)
			if err != nil && !errors.Is(err, io.EOF) {
				f.Close()
				return nil, err
			}
			buf = buf[:k]
			progressed := false
			for len(out) < n {
				payload, fl, err := parseFrame(buf)
				if err != nil {
					f.Close()
					return nil, fmt.Errorf("spool %s at %d: %w", segName(seg), p.off, err)
				}
				if fl == 0 {
					break
				}
				out = append(out, payload)
				buf = buf[fl:]
				p.off += int64(fl)
				s.ends = append(s.ends, p)
				progressed = true
			}
			if !progressed {
				// The next frame is larger than the window.
				window = min(size-p.off, window*2)
				if window <= 0 {
					break
				}
			}
		}
		f.Close()
	}
	return out, nil
}

func (s *diskSpool) commit(n int) error {
	if n == 0 {
		return nil
	}
	if n > len(s.ends) {
		return fmt.Errorf("spool: commit of %d records, %d peeked", n, len(s.ends))
	}
	freed := int64(0)
	prev := s.head
	for _, e := range s.ends[:n] {
		if e.seg != prev.seg {
			prev = pos{seg: e.seg}
		}
		freed += e.off - prev.off
		prev = e
	}
	s.head = s.ends[n-1]
	s.ends = s.ends[:0]
	// A head at the end of a finished segment moves to the next one, so
	// the finished one can go.
	for len(s.segs) > 1 && s.head.seg == s.segs[0] && s.head.off >= s.sizes[s.segs[0]] {
		s.head = pos{seg: s.segs[1]}
	}
	if err := s.writeHead(); err != nil {
		return err
	}
	for len(s.segs) > 1 && s.segs[0] < s.head.seg {
		if err := os.Remove(filepath.Join(s.dir, segName(s.segs[0]))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		delete(s.sizes, s.segs[0])
		s.segs = s.segs[1:]
	}
	s.count.Add(-int64(n))
	s.nbytes.Add(-freed)
	return nil
}

func (s *diskSpool) dropOldest(need int64) (int, error) {
	dropped := 0
	for s.nbytes.Load()+need > s.max && s.count.Load() > 0 {
		ps, err := s.peek(64)
		if err != nil {
			return dropped, err
		}
		k, freed := 0, int64(0)
		for _, p := range ps {
			if s.nbytes.Load()-freed+need <= s.max {
				break
			}
			freed += int64(len(p) + frameHeader)
			k++
		}
		if err := s.commit(k); err != nil {
			return dropped, err
		}
		dropped += k
	}
	return dropped, nil
}

func (s *diskSpool) unbound() { s.max = 1<<63 - 1 }

func (s *diskSpool) close() error { return s.tail.Close() }

// memSpool is the spool of a sink without a spool directory: the same
// ordering and bounds, lost on restart.
type memSpool struct {
	max    int64
	items  [][]byte
	peeked int
	count  atomic.Int64
	nbytes atomic.Int64
}

func newMemSpool(maxBytes int64) *memSpool { return &memSpool{max: maxBytes} }

func (m *memSpool) stats() (int, int64) { return int(m.count.Load()), m.nbytes.Load() }

func (m *memSpool) append(payloads [][]byte) error {
	need := int64(0)
	for _, p := range payloads {
		need += int64(len(p) + frameHeader)
	}
	if m.nbytes.Load()+need > m.max {
		return errSpoolFull
	}
	for _, p := range payloads {
		m.items = append(m.items, slices.Clone(p))
	}
	m.count.Add(int64(len(payloads)))
	m.nbytes.Add(need)
	return nil
}

func (m *memSpool) peek(n int) ([][]byte, error) {
	n = min(n, len(m.items))
	m.peeked = n
	return m.items[:n:n], nil
}

func (m *memSpool) commit(n int) error {
	if n > m.peeked {
		return fmt.Errorf("spool: commit of %d records, %d peeked", n, m.peeked)
	}
	freed := int64(0)
	for _, p := range m.items[:n] {
		freed += int64(len(p) + frameHeader)
	}
	m.items = slices.Delete(m.items, 0, n)
	m.peeked = 0
	m.count.Add(-int64(n))
	m.nbytes.Add(-freed)
	return nil
}

func (m *memSpool) dropOldest(need int64) (int, error) {
	k := 0
	freed := int64(0)
	for k < len(m.items) && m.nbytes.Load()-freed+need > m.max {
		freed += int64(len(m.items[k]) + frameHeader)
		k++
	}
	m.peeked = k
	return k, m.commit(k)
}

func (m *memSpool) unbound() { m.max = 1<<63 - 1 }

func (m *memSpool) close() error { return nil }
