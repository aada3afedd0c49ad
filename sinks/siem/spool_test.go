package siem

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cep-project/cep/sinks/siem/transport"
)

func payloads(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "record-%04d-%s", from+i, bytes.Repeat([]byte{'x'}, (from+i)%50))
	}
	return out
}

func drainAll(tb testing.TB, s spool, batch int) [][]byte {
	tb.Helper()
	var out [][]byte
	for {
		ps, err := s.peek(batch)
		if err != nil {
			tb.Fatal(err)
		}
		if len(ps) == 0 {
			return out
		}
		for _, p := range ps {
			out = append(out, slices.Clone(p))
		}
		if err := s.commit(len(ps)); err != nil {
			tb.Fatal(err)
		}
	}
}

func equalPayloads(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

func TestSpoolOrderAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, rec, err := openDiskSpool(dir, minSpoolBytes*4, nil)
	if err != nil || rec.QuarantinedBytes != 0 {
		t.Fatal(err, rec)
	}
	var want [][]byte
	for i := 0; i < 40; i++ {
		p := payloads(i*20, 20)
		want = append(want, p...)
		if err := s.append(p); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) < 2 {
		t.Fatalf("expected rotation, got %d segments", len(segs))
	}
	// Consume part, then reopen: the rest comes back in order.
	first, err := s.peek(137)
	if err != nil || len(first) != 137 {
		t.Fatal(err, len(first))
	}
	if err := s.commit(137); err != nil {
		t.Fatal(err)
	}
	s.close()
	s2, rec, err := openDiskSpool(dir, minSpoolBytes*4, nil)
	if err != nil || rec.QuarantinedBytes != 0 || len(rec.Problems) != 0 {
		t.Fatal(err, rec)
	}
	if n, _ := s2.stats(); n != len(want)-137 {
		t.Fatalf("reopened count %d, want %d", n, len(want)-137)
	}
	got := drainAll(t, s2, 33)
	if !equalPayloads(got, want[137:]) {
		t.Fatalf("got %d records, want %d in order", len(got), len(want)-137)
	}
	if n, b := s2.stats(); n != 0 || b != 0 {
		t.Fatalf("stats after drain %d %d", n, b)
	}
	segs, _ = filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("%d segments left after a full drain", len(segs))
	}
	s2.close()
}

func TestSpoolDetectsCorruptTail(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(b []byte) []byte
		keep    int
		problem bool
	}{
		{"torn last record", func(b []byte) []byte { return b[:len(b)-3] }, 9, true},
		{"flipped byte in last record", func(b []byte) []byte { b[len(b)-2] ^= 0xff; return b }, 9, true},
		{"garbage appended", func(b []byte) []byte { return append(b, 1, 2, 3, 4, 5, 6, 7, 8, 9) }, 10, true},
		{"intact", func(b []byte) []byte { return b }, 10, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _, err := openDiskSpool(dir, 1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := payloads(0, 10)
			if err := s.append(want); err != nil {
				t.Fatal(err)
			}
			s.close()
			seg := filepath.Join(dir, segName(1))
			b, _ := os.ReadFile(seg)
			if err := os.WriteFile(seg, tc.damage(b), 0o640); err != nil {
				t.Fatal(err)
			}
			s2, rec, err := openDiskSpool(dir, 1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.close()
			if (len(rec.Problems) > 0) != tc.problem || tc.problem && rec.QuarantinedBytes == 0 {
				t.Fatalf("recovery %+v", rec)
			}
			if got := drainAll(t, s2, 4); !equalPayloads(got, want[:tc.keep]) {
				t.Fatalf("kept %d records, want %d", len(got), tc.keep)
			}
			// The spool takes appends again after the repair.
			if err := s2.append(payloads(99, 1)); err != nil {
				t.Fatal(err)
			}
			if got := drainAll(t, s2, 4); len(got) != 1 {
				t.Fatalf("after repair got %d", len(got))
			}
		})
	}
}

func TestSpoolFullAndDropOldest(t *testing.T) {
	for _, mk := range []struct {
		name string
		open func(tb testing.TB) spool
	}{
		{"disk", func(tb testing.TB) spool {
			s, _, err := openDiskSpool(tb.TempDir(), minSpoolBytes, nil)
			if err != nil {
				tb.Fatal(err)
			}
			return s
		}},
		{"memory", func(testing.TB) spool { return newMemSpool(minSpoolBytes) }},
	} {
		t.Run(mk.name, func(t *testing.T) {
			s := mk.open(t)
			defer s.close()
			big := bytes.Repeat([]byte{'a'}, 1000)
			n := 0
			for {
				err := s.append([][]byte{fmt.Appendf(slices.Clone(big), "%d", n)})
				if err == errSpoolFull {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if _, b := s.stats(); b > minSpoolBytes {
				t.Fatalf("spool holds %d bytes over its bound", b)
			}
			dropped, err := s.dropOldest(3000)
			if err != nil || dropped != 3 {
				t.Fatalf("dropped %d: %v", dropped, err)
			}
			if err := s.append([][]byte{big, big}); err != nil {
				t.Fatal(err)
			}
			got := drainAll(t, s, 7)
			if len(got) != n-3+2 || !bytes.HasSuffix(got[0], []byte("3")) {
				t.Fatalf("got %d records, first %q", len(got), got[0][len(got[0])-3:])
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := transport.Record{ID: "id-1", Key: "r|k=1", Time: -12345, Sev: "high", Body: []byte("CEF:0|x")}
	got, err := unmarshalRecord(marshalRecord(nil, &r))
	if err != nil || got.ID != r.ID || got.Key != r.Key || got.Time != r.Time || got.Sev != r.Sev || !bytes.Equal(got.Body, r.Body) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// FuzzSpoolFrames feeds arbitrary segment bytes to the frame scanner and
// record decoder: they must never panic, accepted frames must re-encode to
// the same bytes, and accepted records must survive a round trip.
func FuzzSpoolFrames(f *testing.F) {
	var seed []byte
	for _, p := range payloads(0, 3) {
		r := transport.Record{ID: string(p[:6]), Body: p}
		seed = appendFrame(seed, marshalRecord(nil, &r))
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var again []byte
		end, _ := scanFrames(b, func(p []byte) {
			again = appendFrame(again, p)
			if r, err := unmarshalRecord(p); err == nil {
				sameRecord(t, r)
			}
		})
		if !bytes.Equal(again, b[:end]) {
			t.Fatal("frames do not re-encode to the scanned bytes")
		}
	})
}

func FuzzRecord(f *testing.F) {
	f.Add(marshalRecord(nil, &transport.Record{ID: "a", Key: "k", Time: 5, Sev: "low", Body: []byte("{}")}))
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := unmarshalRecord(b)
		if err != nil {
			return
		}
		sameRecord(t, r)
	})
}

// sameRecord checks that a decoded record survives a round trip. Bytes may
// differ (a varint can be written longer than needed), values may not.
func sameRecord(t *testing.T, r transport.Record) {
	t.Helper()
	again, err := unmarshalRecord(marshalRecord(nil, &r))
	if err != nil || again.ID != r.ID || again.Key != r.Key || again.Sev != r.Sev || again.Time != r.Time || !bytes.Equal(again.Body, r.Body) {
		t.Fatalf("round trip of %+v gave %+v, %v", r, again, err)
	}
}
