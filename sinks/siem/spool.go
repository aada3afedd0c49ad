package siem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync/atomic"
)

// spool is a sink's queue of undelivered records, oldest first. Only the
// sink's sender goroutine calls it, except for stats and recovery, which
// health reads.
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
	// recovery reports what was found damaged and set aside.
	recovery() Recovery
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

// Recovery describes what a spool found damaged — on open, or later while
// reading — and what it did about it.
type Recovery struct {
	// QuarantinedBytes could not be read: a torn write at the end of a
	// segment after a crash, or bytes changed on disk. They were moved,
	// unchanged, to files under quarantine/ in the spool directory, which
	// cep never deletes; reading resumed at the next valid record.
	QuarantinedBytes int64 `json:"quarantined_bytes"`
	// Quarantined lists those files.
	Quarantined []string `json:"quarantined_files,omitempty"`
	// Problems says where and why, one entry per repair.
	Problems []string `json:"problems,omitempty"`
}

func (r Recovery) empty() bool { return r.QuarantinedBytes == 0 && len(r.Problems) == 0 }

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

func (m *memSpool) recovery() Recovery { return Recovery{} }

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
