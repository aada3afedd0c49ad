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
	"sync"
	"sync/atomic"

	"github.com/cep-project/cep/internal/seal"
)

// A disk spool is a directory of numbered segment files and a head file
// that says where the oldest undelivered record starts.
//
// Segment format, version 2:
//
//	header  "CEPSPOOL" | version (1 byte, 2) | flags (bit 0: sealed) |
//	        key id length (1 byte) | key id | CRC-32C of the header so far (4, LE)
//	frame   payload length (u32 LE) | CRC-32C of the payload (u32 LE) | payload
//
// A payload is a record (record.go). In a sealed segment it is the record
// sealed with AES-256-GCM under the key the header names (nonce and
// ciphertext, internal/seal); the CRC covers the sealed bytes, so damage
// is found, and skipped, without the key. Segments of version 1 (before
// the header existed) are read as they are; a version this cep does not
// know is refused by name, never guessed at.
const (
	segMagic   = "CEPSPOOL"
	segVersion = 2
	segSealed  = 1
)

// spoolAAD is authenticated with every sealed record, so that a sealed
// record cannot pass for other sealed data of cep.
var spoolAAD = []byte("cep spool record v2")

var errBadSegHeader = errors.New("segment header damaged")

// segHeader is what a segment's header says.
type segHeader struct {
	version int
	keyID   string // "" for plaintext
	size    int    // bytes of the header (0 for version 1)
}

func appendSegHeader(dst []byte, keyID string) []byte {
	start := len(dst)
	dst = append(dst, segMagic...)
	flags := byte(0)
	if keyID != "" {
		flags = segSealed
	}
	dst = append(dst, segVersion, flags, byte(len(keyID)))
	dst = append(dst, keyID...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func readSegHeader(b []byte) (segHeader, error) {
	if len(b) < len(segMagic) || string(b[:len(segMagic)]) != segMagic {
		// A version 1 segment starts with a frame, whose length can never
		// spell the magic (it would exceed maxFrame).
		return segHeader{version: 1}, nil
	}
	const fixed = len(segMagic) + 3
	if len(b) < fixed {
		return segHeader{}, errBadSegHeader
	}
	v, flags, idLen := b[len(segMagic)], b[len(segMagic)+1], int(b[len(segMagic)+2])
	end := fixed + idLen + 4
	if len(b) < end || crc32.Checksum(b[:end-4], castagnoli) != binary.LittleEndian.Uint32(b[end-4:]) {
		return segHeader{}, errBadSegHeader
	}
	if v != segVersion {
		return segHeader{}, fmt.Errorf("format version %d, which this cep does not know (a newer cep wrote it); refusing to read it", v)
	}
	h := segHeader{version: segVersion, size: end}
	if flags&segSealed != 0 {
		h.keyID = string(b[fixed : fixed+idLen])
	}
	return h, nil
}

// pos is a place in the spool: a segment and an offset in its file.
type pos struct {
	seg uint64
	off int64
}

// segment is what the spool knows of one segment file.
type segment struct {
	size int64     // bytes in the file
	hdr  int64     // bytes of its header
	key  *seal.Key // the key its records are sealed with; nil for plaintext
}

// diskSpool keeps records in segment files. Appends are fsync'd before
// they return, so an accepted alert survives a crash; the head moves only
// after a delivery, so a crash re-delivers rather than loses (ids make that
// idempotent downstream). Segments wholly delivered are deleted, and when
// the spool is drained the last one too (a fresh one takes its place), so
// delivered alerts do not stay on disk. Bytes that cannot be read are moved
// to quarantine/, never destroyed, and reading resumes at the next valid
// record.
type diskSpool struct {
	dir    string
	max    int64
	segMax int64
	keys   *seal.Keyring // nil: new segments are plaintext

	segs  []uint64 // segment numbers, ascending; the last is the tail
	info  map[uint64]*segment
	head  pos
	tail  *os.File
	ends  []pos // end of each payload of the last peek
	count atomic.Int64
	bytes atomic.Int64

	recMu sync.Mutex
	rec   Recovery
}

const (
	headFile      = "head"
	quarantineDir = "quarantine"
)

func segName(n uint64) string { return fmt.Sprintf("%020d.seg", n) }

func (s *diskSpool) path(n uint64) string { return filepath.Join(s.dir, segName(n)) }

// openDiskSpool opens or creates the spool in dir, checking every record
// from the head on: damaged bytes are quarantined and reported. keys, when
// set, seal new segments; sealed segments need their key in keys.
func openDiskSpool(dir string, maxBytes int64, keys *seal.Keyring) (*diskSpool, Recovery, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, Recovery{}, err
	}
	s := &diskSpool{dir: dir, max: maxBytes, keys: keys, info: map[uint64]*segment{}}
	s.segMax = min(max(maxBytes/8, minSpoolBytes/4), 64<<20)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Recovery{}, err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".seg.tmp") {
			// A repair that did not finish; the segment itself is intact.
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
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
	s.readHead()
	// Segments before the head were delivered; a crash may have left them.
	for len(s.segs) > 0 && s.segs[0] < s.head.seg {
		_ = os.Remove(s.path(s.segs[0]))
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.segs[0] != s.head.seg {
		s.head = pos{seg: s.head.seg}
		if len(s.segs) > 0 {
			s.head.seg = s.segs[0]
		}
	}
	for _, n := range slices.Clone(s.segs) {
		if err := s.check(n); err != nil {
			return nil, s.recovery(), err
		}
	}
	if len(s.segs) > 0 && s.head.seg != s.segs[0] {
		s.head = pos{seg: s.segs[0], off: s.info[s.segs[0]].hdr}
	}
	if err := s.openTail(); err != nil {
		return nil, s.recovery(), err
	}
	return s, s.recovery(), nil
}

// openTail opens the last segment for appending, or starts a new one when
// there is none, or when the last one is sealed otherwise than new records
// are to be (encryption turned on, off, or a key rotated) or is of an
// older version.
func (s *diskSpool) openTail() error {
	want := ""
	if s.keys != nil {
		want = s.keys.Primary().ID()
	}
	if len(s.segs) > 0 {
		last := s.segs[len(s.segs)-1]
		si := s.info[last]
		if si.hdr > 0 && keyID(si.key) == want {
			f, err := os.OpenFile(s.path(last), os.O_WRONLY|os.O_APPEND, 0o640)
			if err != nil {
				return err
			}
			s.tail = f
			return syncDir(s.dir)
		}
	}
	return s.rotate()
}

func keyID(k *seal.Key) string {
	if k == nil {
		return ""
	}
	return k.ID()
}

// segmentKey returns the key a segment's header names.
func (s *diskSpool) segmentKey(n uint64, h segHeader) (*seal.Key, error) {
	if h.keyID == "" {
		return nil, nil
	}
	if s.keys == nil {
		return nil, fmt.Errorf("spool segment %s is encrypted with key %s, but spool.encryption is not configured; configure that key (as key or under previous) to read it", segName(n), h.keyID)
	}
	k, err := s.keys.Key(h.keyID)
	if err != nil {
		return nil, fmt.Errorf("spool segment %s: %w; add that key under spool.encryption.previous to read it", segName(n), err)
	}
	return k, nil
}

// check reads segment n from where the head says reading starts, moves
// what cannot be read to quarantine, and counts the rest.
func (s *diskSpool) check(n uint64) error {
	b, err := os.ReadFile(s.path(n))
	if err != nil {
		return err
	}
	h, err := readSegHeader(b)
	if errors.Is(err, errBadSegHeader) {
		// Without a header, nothing in the file can be trusted to be read
		// right: all of it is set aside.
		return s.quarantineSegment(n, b)
	}
	if err != nil {
		return fmt.Errorf("spool segment %s: %w", segName(n), err)
	}
	key, err := s.segmentKey(n, h)
	if err != nil {
		return err
	}
	si := &segment{hdr: int64(h.size), key: key}
	s.info[n] = si
	start := h.size
	if n == s.head.seg {
		off := s.head.off
		if off > int64(len(b)) {
			s.problem("%s: head offset %d is past the end (%d); reading from the start", segName(n), off, len(b))
			off = 0
		}
		start = max(int(off), h.size)
	}
	// Frames before the head were delivered but are still checked, so that
	// the boundary the head points at is a real frame boundary.
	if end, _ := scanFrames(b[h.size:start], nil); h.size+end != start {
		s.problem("%s: head offset %d is not a record boundary; reading from the start (some alerts may be sent again)", segName(n), start)
		start = h.size
	}
	if n == s.head.seg {
		s.head.off = int64(start)
	}
	good, bad := scanSegment(b, start, s.validator(key))
	if len(bad) > 0 {
		if b, err = s.quarantine(n, b, start, good, bad); err != nil {
			return err
		}
	}
	si.size = int64(len(b))
	for _, g := range good {
		s.count.Add(1)
		s.bytes.Add(int64(g.end - g.off))
	}
	return nil
}

// validator tells whether a frame's payload reads: always, in plaintext,
// and when it opens, in a sealed segment.
func (s *diskSpool) validator(key *seal.Key) func([]byte) bool {
	if key == nil {
		return func([]byte) bool { return true }
	}
	return func(p []byte) bool {
		_, err := key.OpenFrame(nil, p, spoolAAD)
		return err == nil
	}
}

// readHead reads the head file; a damaged one sends reading back to the
// oldest segment, which may deliver some alerts again.
func (s *diskSpool) readHead() {
	b, err := os.ReadFile(filepath.Join(s.dir, headFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.problem("head file unreadable (%v); re-reading from the oldest segment (some alerts may be sent again)", err)
		}
		if len(s.segs) > 0 {
			s.head = pos{seg: s.segs[0]}
		}
		return
	}
	if len(b) != 20 || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		s.problem("head file corrupt; re-reading from the oldest segment (some alerts may be sent again)")
		if len(s.segs) > 0 {
			s.head = pos{seg: s.segs[0]}
		}
		return
	}
	s.head = pos{seg: binary.LittleEndian.Uint64(b), off: int64(binary.LittleEndian.Uint64(b[8:]))}
}

func (s *diskSpool) writeHead() error {
	b := binary.LittleEndian.AppendUint64(nil, s.head.seg)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.head.off))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return writeFileAtomic(filepath.Join(s.dir, headFile), b)
}

// writeFileAtomic replaces path with b: written to a temporary file,
// fsync'd, renamed over, and the directory fsync'd.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
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
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *diskSpool) stats() (int, int64) { return int(s.count.Load()), s.bytes.Load() }

func (s *diskSpool) problem(format string, args ...any) {
	s.recMu.Lock()
	s.rec.Problems = append(s.rec.Problems, fmt.Sprintf(format, args...))
	s.recMu.Unlock()
}

func (s *diskSpool) recovery() Recovery {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	r := s.rec
	r.Problems = slices.Clone(r.Problems)
	r.Quarantined = slices.Clone(r.Quarantined)
	return r
}

func (s *diskSpool) append(payloads [][]byte) error {
	last := s.segs[len(s.segs)-1]
	key := s.info[last].key
	need := int64(0)
	stored := make([][]byte, len(payloads))
	for i, p := range payloads {
		if key != nil {
			p = key.SealFrame(nil, p, spoolAAD)
		}
		stored[i] = p
		need += int64(len(p) + frameHeader)
	}
	if s.bytes.Load()+need > s.max {
		return errSpoolFull
	}
	if s.info[last].size >= s.segMax {
		if err := s.rotate(); err != nil {
			return err
		}
		if s.info[s.segs[len(s.segs)-1]].key != key {
			// A new key since: seal again.
			return s.append(payloads)
		}
	}
	buf := make([]byte, 0, need)
	for _, p := range stored {
		buf = appendFrame(buf, p)
	}
	if _, err := s.tail.Write(buf); err != nil {
		// A partial write is quarantined by the next open's check; until
		// then the size is unknown, so stop using this segment.
		_ = s.rotate()
		return err
	}
	if err := s.tail.Sync(); err != nil {
		return err
	}
	s.info[s.segs[len(s.segs)-1]].size += int64(len(buf))
	s.count.Add(int64(len(payloads)))
	s.bytes.Add(need)
	return nil
}

// rotate starts a new tail segment, sealed with the primary key if any.
func (s *diskSpool) rotate() error {
	next := uint64(1)
	if len(s.segs) > 0 {
		next = s.segs[len(s.segs)-1] + 1
	}
	next = max(next, s.head.seg)
	var key *seal.Key
	if s.keys != nil {
		key = s.keys.Primary()
	}
	hdr := appendSegHeader(nil, keyID(key))
	f, err := os.OpenFile(s.path(next), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	if s.tail != nil {
		s.tail.Close()
	}
	s.tail = f
	s.segs = append(s.segs, next)
	s.info[next] = &segment{size: int64(len(hdr)), hdr: int64(len(hdr)), key: key}
	if len(s.segs) == 1 {
		s.head = pos{seg: next, off: int64(len(hdr))}
	}
	return nil
}

func (s *diskSpool) peek(n int) ([][]byte, error) {
	out, err := s.read(n)
	var dmg *damageError
	if errors.As(err, &dmg) {
		// Damage found while reading (the disk changed under the spool):
		// set it aside as opening would, then read again.
		if err := s.repair(dmg.seg); err != nil {
			return nil, err
		}
		return s.read(n)
	}
	return out, err
}

// damageError is a frame that does not read at a place the spool had
// checked.
type damageError struct {
	seg uint64
	off int64
	err error
}

func (e *damageError) Error() string {
	return fmt.Sprintf("spool %s at %d: %v", segName(e.seg), e.off, e.err)
}

func (s *diskSpool) read(n int) ([][]byte, error) {
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
		si := s.info[seg]
		if seg > p.seg {
			p = pos{seg: seg, off: si.hdr}
		}
		if p.off >= si.size {
			continue
		}
		f, err := os.Open(s.path(seg))
		if err != nil {
			return nil, err
		}
		// Read a bounded window, not the whole segment: a drain needs one
		// batch at a time.
		window := min(si.size-p.off, int64(n)*4096+frameHeader)
		for len(out) < n && p.off < si.size {
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
				if err == nil && fl == 0 && len(buf) > 0 && int64(len(buf)) >= si.size-p.off {
					// The segment ends inside a frame.
					err = io.ErrUnexpectedEOF
				}
				if err == nil && fl > 0 && si.key != nil {
					payload, err = si.key.OpenFrame(nil, payload, spoolAAD)
				}
				if err != nil {
					f.Close()
					return nil, &damageError{seg: seg, off: p.off, err: err}
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
				window = min(si.size-p.off, window*2)
				if window <= 0 {
					break
				}
			}
		}
		f.Close()
	}
	return out, nil
}

// repair re-checks segment seg as opening the spool would, quarantining
// what does not read, and counts the spool again.
func (s *diskSpool) repair(seg uint64) error {
	tail := seg == s.segs[len(s.segs)-1]
	if tail {
		s.tail.Close()
		s.tail = nil
	}
	if err := s.check(seg); err != nil {
		return err
	}
	if tail {
		if err := s.openTail(); err != nil {
			return err
		}
	}
	return s.recount()
}

// recount counts the undelivered records and their bytes from the head.
func (s *diskSpool) recount() error {
	var n, b int64
	for _, seg := range s.segs {
		if seg < s.head.seg {
			continue
		}
		data, err := os.ReadFile(s.path(seg))
		if err != nil {
			return err
		}
		start := s.info[seg].hdr
		if seg == s.head.seg {
			start = max(start, s.head.off)
		}
		if start > int64(len(data)) {
			continue
		}
		end, _ := scanFrames(data[start:], func([]byte) { n++ })
		b += int64(end)
	}
	s.count.Store(n)
	s.bytes.Store(b)
	return nil
}

// frames returns the on-disk size of each payload of the last peek.
func (s *diskSpool) frames() []int64 {
	out := make([]int64, len(s.ends))
	prev := s.head
	for i, e := range s.ends {
		if e.seg != prev.seg {
			prev = pos{seg: e.seg, off: s.info[e.seg].hdr}
		}
		out[i] = e.off - prev.off
		prev = e
	}
	return out
}

func (s *diskSpool) commit(n int) error {
	if n == 0 {
		return nil
	}
	if n > len(s.ends) {
		return fmt.Errorf("spool: commit of %d records, %d peeked", n, len(s.ends))
	}
	freed := int64(0)
	for _, f := range s.frames()[:n] {
		freed += f
	}
	s.head = s.ends[n-1]
	s.ends = s.ends[:0]
	s.count.Add(-int64(n))
	s.bytes.Add(-freed)
	// A head at the end of a finished segment moves to the next one, so
	// the finished one can go; a drained spool starts a fresh segment, so
	// that no delivered alert stays on disk.
	for len(s.segs) > 1 && s.head.seg == s.segs[0] && s.head.off >= s.info[s.segs[0]].size {
		s.head = pos{seg: s.segs[1], off: s.info[s.segs[1]].hdr}
	}
	if s.count.Load() == 0 && s.head.off > s.info[s.head.seg].hdr {
		if err := s.rotate(); err != nil {
			return err
		}
		last := s.segs[len(s.segs)-1]
		s.head = pos{seg: last, off: s.info[last].hdr}
	}
	if err := s.writeHead(); err != nil {
		return err
	}
	for len(s.segs) > 1 && s.segs[0] < s.head.seg {
		if err := os.Remove(s.path(s.segs[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		delete(s.info, s.segs[0])
		s.segs = s.segs[1:]
	}
	return nil
}

func (s *diskSpool) dropOldest(need int64) (int, error) {
	dropped := 0
	for s.bytes.Load()+need > s.max && s.count.Load() > 0 {
		if _, err := s.peek(64); err != nil {
			return dropped, err
		}
		k, freed := 0, int64(0)
		for _, f := range s.frames() {
			if s.bytes.Load()-freed+need <= s.max {
				break
			}
			freed += f
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

func (s *diskSpool) close() error {
	if s.tail == nil {
		return nil
	}
	return s.tail.Close()
}
