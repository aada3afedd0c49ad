package siem

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/sinks/siem/sinktest"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// alertPayloads are n spool records of about 440 bytes, as alerts are.
func alertPayloads(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		// Fixed widths: every record is the same size.
		r := transport.Record{ID: fmt.Sprintf("a%04d", i), Key: "r|k", Time: 1, Sev: "high",
			Body: fmt.Appendf(nil, `{"id":"a%04d","pad":"%s"}`, i, strings.Repeat("x", 400))}
		out[i] = marshalRecord(nil, &r)
	}
	return out
}

// spoolWith writes payloads to a fresh spool in dir and closes it; it
// returns the segment's path.
func spoolWith(tb testing.TB, dir string, keys *seal.Keyring, ps [][]byte) string {
	tb.Helper()
	s, _, err := openDiskSpool(dir, 64<<20, keys)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.append(ps); err != nil {
		tb.Fatal(err)
	}
	seg := s.path(s.segs[len(s.segs)-1])
	s.close()
	return seg
}

// quarantined returns the bytes of every quarantine file of a spool.
func quarantined(tb testing.TB, dir string) []byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, quarantineDir, "*"))
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// One changed byte in the middle of a segment costs the one record it is
// in: reading resumes at the next record, and the damaged bytes are moved,
// whole and unchanged, to quarantine (the issue: 197 of 1,469 delivered,
// the rest of the segment cut).
func TestSpoolResynchronisesAfterDamage(t *testing.T) {
	ps := alertPayloads(1469)
	frame := len(ps[0]) + frameHeader
	mid := 700 // the record that is damaged
	tests := []struct {
		name    string
		damage  func(b []byte, hdr int) []byte
		lost    []int // records that do not survive
		garbage int   // bytes quarantined beyond whole frames
	}{
		{"a byte of a record's body", func(b []byte, hdr int) []byte { b[hdr+mid*frame+100] ^= 0x01; return b }, []int{mid}, 0},
		{"a byte of a record's length", func(b []byte, hdr int) []byte { b[hdr+mid*frame+1] ^= 0x40; return b }, []int{mid}, 0},
		{"a byte of a record's checksum", func(b []byte, hdr int) []byte { b[hdr+mid*frame+5] ^= 0xff; return b }, []int{mid}, 0},
		{"bytes inserted between records", func(b []byte, hdr int) []byte {
			at := hdr + mid*frame
			return slices.Concat(b[:at], []byte("garbage from a bad disk"), b[at:])
		}, nil, 23},
		{"the last record torn", func(b []byte, hdr int) []byte { return b[:len(b)-10] }, []int{1468}, -10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			seg := spoolWith(t, dir, nil, ps)
			orig, _ := os.ReadFile(seg)
			hdr := len(orig) - len(ps)*frame
			damaged := tc.damage(slices.Clone(orig), hdr)
			if err := os.WriteFile(seg, damaged, 0o640); err != nil {
				t.Fatal(err)
			}
			s, rec, err := openDiskSpool(dir, 64<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			var want [][]byte
			for i, p := range ps {
				if !slices.Contains(tc.lost, i) {
					want = append(want, p)
				}
			}
			if n, _ := s.stats(); n != len(want) {
				t.Fatalf("%d records after repair, want %d", n, len(want))
			}
			if got := drainAll(t, s, 100); !equalPayloads(got, want) {
				t.Fatalf("%d records read, not the %d intact ones in order", len(got), len(want))
			}
			q := quarantined(t, dir)
			if int(rec.QuarantinedBytes) != len(q) || len(q) != frame*len(tc.lost)+tc.garbage || len(rec.Quarantined) != 1 || len(rec.Problems) != 1 {
				t.Fatalf("recovery %+v, %d bytes in quarantine", rec, len(q))
			}
			// Nothing is destroyed: the damaged bytes are in quarantine as
			// they were on disk.
			if !bytes.Contains(damaged, q) {
				t.Fatal("quarantine does not hold the damaged bytes as they were")
			}
		})
	}
}

// Damage that appears while cep runs is found when the drain reaches it:
// the segment is repaired the same way, the rest is delivered, and health
// and metrics say so.
func TestDrainRepairsDamageFoundWhileRunning(t *testing.T) {
	dest := &sinktest.Memory{}
	dest.Down.Store(true)
	c := memConfig("m", dest)
	c.Spool.Dir = t.TempDir()
	m, _ := NewMetrics(nil)
	opts := quietOptions()
	opts.Metrics = m
	s := startSink(t, c, opts)
	all := sinktest.Numbered(50)
	sendAll(t, s, all)
	sinktest.Eventually(t, 5*time.Second, "all spooled", func() bool { return s.snd.health().SpoolRecords == 50 })
	segs, _ := filepath.Glob(filepath.Join(c.Spool.Dir, "*.seg"))
	b, _ := os.ReadFile(segs[0])
	i := bytes.Index(b, []byte(`"a025"`))
	b[i+2] ^= 0x01 // inside alert a025's body
	if err := os.WriteFile(segs[0], b, 0o640); err != nil {
		t.Fatal(err)
	}
	dest.Down.Store(false)
	sinktest.Eventually(t, 10*time.Second, "49 delivered", func() bool { return len(dest.IDs()) == 49 })
	h := s.snd.health()
	stopSink(t, s)
	want := slices.Delete(sinktest.WantIDs(50), 25, 26)
	if !slices.Equal(dest.IDs(), want) {
		t.Fatalf("ids %v", dest.IDs())
	}
	if h.Recovery == nil || h.Recovery.QuarantinedBytes == 0 || len(h.Recovery.Quarantined) != 1 {
		t.Fatalf("health %+v", h)
	}
	if testutil.ToFloat64(m.failed.WithLabelValues("m", "spool_corrupt")) != 1 {
		t.Fatal("repair not counted")
	}
}

// A segment written by an older cep (no header) is read; new records go to
// a new segment of the current version.
func TestSpoolReadsVersion1Segments(t *testing.T) {
	dir := t.TempDir()
	ps := alertPayloads(3)
	var old []byte
	for _, p := range ps {
		old = appendFrame(old, p)
	}
	if err := os.WriteFile(filepath.Join(dir, segName(1)), old, 0o640); err != nil {
		t.Fatal(err)
	}
	s, rec, err := openDiskSpool(dir, 1<<20, nil)
	if err != nil || !rec.empty() {
		t.Fatal(err, rec)
	}
	defer s.close()
	if err := s.append(alertPayloads(4)[3:]); err != nil {
		t.Fatal(err)
	}
	if len(s.segs) != 2 {
		t.Fatalf("segments %v", s.segs)
	}
	if got := drainAll(t, s, 2); !equalPayloads(got, alertPayloads(4)) {
		t.Fatalf("got %d records", len(got))
	}
}

// A segment of a version this cep does not know is refused by name, and a
// damaged header sets the whole segment aside.
func TestSpoolRefusesUnknownVersions(t *testing.T) {
	dir := t.TempDir()
	seg := spoolWith(t, dir, nil, alertPayloads(2))
	b, _ := os.ReadFile(seg)
	newer := slices.Clone(b)
	newer[len(segMagic)] = 3
	crcAt := len(appendSegHeader(nil, "")) - 4
	binary.LittleEndian.PutUint32(newer[crcAt:], crc32Of(newer[:crcAt]))
	if err := os.WriteFile(seg, newer, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openDiskSpool(dir, 1<<20, nil); err == nil || !strings.Contains(err.Error(), "format version 3") {
		t.Fatalf("newer segment: %v", err)
	}
	b[len(segMagic)+1] ^= 0x80 // flags, under the header's checksum
	if err := os.WriteFile(seg, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s, rec, err := openDiskSpool(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if n, _ := s.stats(); n != 0 || rec.QuarantinedBytes != int64(len(b)) || !bytes.Equal(quarantined(t, dir), b) {
		t.Fatalf("%d records, recovery %+v", n, rec)
	}
}

// A drained spool keeps no delivered alert on disk.
func TestDrainedSpoolKeepsNothing(t *testing.T) {
	dir := t.TempDir()
	s, _, err := openDiskSpool(dir, minSpoolBytes*4, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := s.append(alertPayloads(40)[i*4 : i*4+4]); err != nil {
			t.Fatal(err)
		}
	}
	drainAll(t, s, 7)
	s.close()
	assertNotInDir(t, dir, `"pad"`)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("%d segments", len(segs))
	}
}

func crc32Of(b []byte) uint32 {
	var again []byte
	again = appendFrame(again, b)
	return binary.LittleEndian.Uint32(again[4:])
}

// FuzzSpoolOpen: whatever a segment holds, opening the spool neither
// panics nor loses a byte (each is in the segment or in quarantine), and
// what it reads back were whole valid frames of the file.
func FuzzSpoolOpen(f *testing.F) {
	ps := alertPayloads(3)
	var body []byte
	for _, p := range ps {
		body = appendFrame(body, p)
	}
	f.Add(slices.Concat(appendSegHeader(nil, ""), body))
	f.Add(body)
	f.Add(slices.Concat(appendSegHeader(nil, ""), body[:len(body)/2], []byte{0, 0, 0, 0}, body[len(body)/2:]))
	f.Add([]byte(segMagic))
	f.Add(appendSegHeader(nil, "0011223344556677"))
	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		s, rec, err := openDiskSpool(dir, 1<<30, nil)
		if err != nil {
			return // refused by name: a newer version, or sealed without a key
		}
		defer s.close()
		kept, _ := os.ReadFile(filepath.Join(dir, segName(1)))
		if len(rec.Quarantined) == 1 && strings.HasSuffix(rec.Quarantined[0], ".seg.bad") {
			kept = nil // the whole segment went; a fresh one took its name
		}
		if q := quarantined(t, dir); int64(len(kept)+len(q)) != int64(len(seg)) || int64(len(q)) != rec.QuarantinedBytes {
			t.Fatalf("%d bytes in, %d kept, %d quarantined (%d reported)", len(seg), len(kept), len(q), rec.QuarantinedBytes)
		}
		for _, p := range drainAll(t, s, 10) {
			if !bytes.Contains(seg, appendFrame(nil, p)) {
				t.Fatalf("read a record that was not a frame of the segment: %q", p)
			}
		}
	})
}
