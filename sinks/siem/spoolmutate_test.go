package siem

import (
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSpoolOpenSurvivesMutations opens segments mutated at random (a fixed
// seed: bytes changed, inserted, deleted, cut) and drains them: none
// panics or hangs. CI runs it in place of FuzzSpoolOpen, whose fuzzing
// workers stall after a few executions (see scripts/fuzz).
func TestSpoolOpenSurvivesMutations(t *testing.T) {
	ps := alertPayloads(3)
	var body []byte
	for _, p := range ps {
		body = appendFrame(body, p)
	}
	seeds := [][]byte{slices.Concat(appendSegHeader(nil, ""), body), body, []byte(segMagic), appendSegHeader(nil, "0011223344556677")}
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 400; i++ {
		seg := slices.Clone(seeds[r.Intn(len(seeds))])
		for k := 0; k < 1+r.Intn(6); k++ {
			switch r.Intn(4) {
			case 0:
				if len(seg) > 0 {
					seg[r.Intn(len(seg))] = byte(r.Intn(256))
				}
			case 1:
				at := r.Intn(len(seg) + 1)
				ins := make([]byte, r.Intn(16))
				r.Read(ins)
				seg = slices.Insert(seg, at, ins...)
			case 2:
				if len(seg) > 1 {
					a := r.Intn(len(seg))
					b := a + r.Intn(len(seg)-a)
					seg = slices.Delete(seg, a, b)
				}
			case 3:
				seg = seg[:r.Intn(len(seg)+1)]
			}
		}
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segName(1)), seg, 0o640)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s, _, err := openDiskSpool(dir, 1<<30, nil)
			if err == nil {
				for j := 0; j < 1000; j++ {
					ps, err := s.peek(10)
					if err != nil || len(ps) == 0 {
						break // damage met while reading is reported, not fatal
					}
					if err := s.commit(len(ps)); err != nil {
						break
					}
				}
				s.close()
			}
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("segment %d did not open and drain within 3s: %q", i, seg)
		}
	}
}
