package join

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// The snapshot fixtures testdata/joiner-v1-*.bin were written by the
// version 1 codec (the code of commit 6c3bf2e) for codecConfigs, each
// driven by drive over 80 events with the seed (its index, 7).
func fixtureName(i int) string { return fmt.Sprintf("testdata/joiner-v1-%d.bin", i) }

// TestReadsVersion1 restores the fixtures written by the version 1 codec:
// each holds what the same input gives this build, so it encodes to the
// same bytes as a fresh run, and goes on alike.
func TestReadsVersion1(t *testing.T) {
	for i, cfg := range codecConfigs() {
		b, err := os.ReadFile(fixtureName(i))
		if err != nil {
			t.Fatal(err)
		}
		if b[len(codecMagic)] != 1 {
			t.Fatalf("fixture %d is version %d, not 1", i, b[len(codecMagic)])
		}
		restored, _ := New(cfg)
		if err := restored.UnmarshalBinary(b); err != nil {
			t.Fatalf("fixture %d: %v", i, err)
		}
		fresh, _ := New(cfg)
		var log []string
		t1 := drive(t, fresh, rand.New(rand.NewPCG(uint64(i), 7)), 0, 80, &log)
		x, _ := restored.MarshalBinary()
		y, _ := fresh.MarshalBinary()
		if !bytes.Equal(x, y) || restored.Stats() != fresh.Stats() {
			t.Fatalf("fixture %d: the restored state differs from a fresh run's: %+v, %+v", i, restored.Stats(), fresh.Stats())
		}
		var la, lb []string
		drive(t, restored, rand.New(rand.NewPCG(uint64(i), 8)), t1, 80, &la)
		drive(t, fresh, rand.New(rand.NewPCG(uint64(i), 8)), t1, 80, &lb)
		if !slices.Equal(la, lb) {
			t.Errorf("fixture %d: the restored joiner goes on differently", i)
		}
	}
}
