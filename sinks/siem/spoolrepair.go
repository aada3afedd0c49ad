package siem

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// scanFrames walks the frames of b and returns the offset where valid data
// ends and, if it ends before len(b), why.
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

// span is a byte range [off, end) of a segment.
type span struct {
	off, end int
	why      string // for a damaged span
}

// scanSegment walks the frames of a segment from start and sorts them into
// good frames — whole, with a matching checksum, and valid (sealed
// records open) — and damaged spans. After damage it resynchronises: the
// next offset at which a good frame starts is where reading goes on, so
// that one changed byte costs one record, not the rest of the segment.
func scanSegment(b []byte, start int, valid func(payload []byte) bool) (good, bad []span) {
	off := start
	for off < len(b) {
		p, n, err := parseFrame(b[off:])
		if err == nil && n > 0 && valid(p) {
			good = append(good, span{off: off, end: off + n})
			off += n
			continue
		}
		why := "torn write"
		switch {
		case err != nil:
			why = err.Error()
		case n > 0:
			why = "record does not authenticate"
		}
		next := len(b)
		for q := off + 1; q+frameHeader <= len(b); q++ {
			if p, n, err := parseFrame(b[q:]); err == nil && n > 0 && valid(p) {
				next = q
				break
			}
		}
		bad = append(bad, span{off: off, end: next, why: why})
		off = next
	}
	return good, bad
}

// quarantine moves the damaged spans of segment n (read as b), one after
// the other, to a file of their own under quarantine/, fsync'd, and only then rewrites the segment
// with what precedes start and the good frames. It returns the segment's
// new content. Nothing is deleted: every byte is in the segment or in
// quarantine.
func (s *diskSpool) quarantine(n uint64, b []byte, start int, good, bad []span) ([]byte, error) {
	if len(bad) > 0 {
		// One file (and one fsync) per repair, not per span: a damaged
		// segment can hold hundreds of small bad spans between good
		// records.
		var all []byte
		for _, d := range bad {
			all = append(all, b[d.off:d.end]...)
		}
		name, err := s.quarantineBytes(fmt.Sprintf("%s.%d.bad", segName(n), bad[0].off), all)
		if err != nil {
			return nil, fmt.Errorf("spool quarantine: %w", err)
		}
		s.recMu.Lock()
		s.rec.QuarantinedBytes += int64(len(all))
		s.rec.Quarantined = append(s.rec.Quarantined, name)
		at := 0
		for _, d := range bad {
			s.rec.Problems = append(s.rec.Problems, fmt.Sprintf("%s: %d bytes at offset %d unreadable (%s); moved to %s (from its byte %d), reading resumed at the next valid record", segName(n), d.end-d.off, d.off, d.why, name, at))
			at += d.end - d.off
		}
		s.recMu.Unlock()
	}
	out := slices.Clone(b[:start])
	for _, g := range good {
		out = append(out, b[g.off:g.end]...)
	}
	if err := writeFileAtomic(s.path(n), out); err != nil {
		return nil, err
	}
	return out, nil
}

// quarantineSegment sets aside a whole segment whose header is damaged.
func (s *diskSpool) quarantineSegment(n uint64, b []byte) error {
	name, err := s.quarantineBytes(segName(n)+".bad", b)
	if err != nil {
		return fmt.Errorf("spool quarantine: %w", err)
	}
	if err := os.Remove(s.path(n)); err != nil {
		return err
	}
	s.segs = slices.DeleteFunc(s.segs, func(x uint64) bool { return x == n })
	delete(s.info, n)
	s.recMu.Lock()
	s.rec.QuarantinedBytes += int64(len(b))
	s.rec.Quarantined = append(s.rec.Quarantined, name)
	s.rec.Problems = append(s.rec.Problems, fmt.Sprintf("%s: header damaged; the whole segment (%d bytes) moved to %s", segName(n), len(b), name))
	s.recMu.Unlock()
	return syncDir(s.dir)
}

// quarantineBytes writes b to a new file under quarantine/, never over an
// existing one, and returns its path relative to the spool directory.
func (s *diskSpool) quarantineBytes(name string, b []byte) (string, error) {
	dir := filepath.Join(s.dir, quarantineDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	for i := 0; ; i++ {
		file := name
		if i > 0 {
			file = fmt.Sprintf("%s.%d", name, i)
		}
		f, err := os.OpenFile(filepath.Join(dir, file), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return "", err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return "", err
		}
		if err := f.Close(); err != nil {
			return "", err
		}
		return filepath.Join(quarantineDir, file), syncDir(dir)
	}
}
