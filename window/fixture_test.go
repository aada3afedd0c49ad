package window

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

// The snapshot fixtures testdata/aggregator-v1-*.bin were written by the
// version 1 codec (the code of commit 6c3bf2e) for fixtureConfigs, each fed
// 120 events by feed with the seed (its index, 5).
func fixtureConfigs() []Config {
	return []Config{
		{Window: Spec{Kind: Tumbling, Size: 10 * time.Second}, Measures: allMeasures, Late: LateCorrect, AllowedLateness: 20 * time.Second, Evidence: 3},
		{Window: Spec{Kind: Session, Gap: 5 * time.Second}, Measures: allMeasures},
		{Window: Spec{Kind: Sliding, Size: 15 * time.Second}, Measures: allMeasures},
	}
}

func fixtureName(cfg Config) string {
	return fmt.Sprintf("testdata/aggregator-v1-%s.bin", cfg.Window.Kind)
}

// TestReadsVersion1 restores the fixtures written by the version 1 codec:
// each holds what the same input gives this build, so it encodes to the
// same bytes as a fresh run, and goes on alike.
func TestReadsVersion1(t *testing.T) {
	for i, cfg := range fixtureConfigs() {
		t.Run(cfg.Window.Kind.String(), func(t *testing.T) {
			b, err := os.ReadFile(fixtureName(cfg))
			if err != nil {
				t.Fatal(err)
			}
			if b[len(codecMagic)] != 1 {
				t.Fatalf("fixture is version %d, not 1", b[len(codecMagic)])
			}
			restored := mustNew(t, cfg)
			if err := restored.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			fresh := mustNew(t, cfg)
			var log []string
			t1 := feed(t, fresh, rand.New(rand.NewPCG(uint64(i), 5)), 0, 120, &log)
			// The build that wrote the fixture reported a late event that
			// starts a session of its own as late (while counting it);
			// this one does not: the counters may differ there, the state
			// may not.
			if r, f := restored.Stats(), fresh.Stats(); r.Late < f.Late || r.Keys != f.Keys {
				t.Fatalf("restored %+v, fresh %+v", r, f)
			}
			restored.stats = fresh.stats
			x, _ := restored.MarshalBinary()
			y, _ := fresh.MarshalBinary()
			if !bytes.Equal(x, y) {
				t.Fatal("the restored state differs from a fresh run's")
			}
			checkBytes(t, restored)
			var la, lb []string
			feed(t, restored, rand.New(rand.NewPCG(uint64(i), 6)), t1, 100, &la)
			feed(t, fresh, rand.New(rand.NewPCG(uint64(i), 6)), t1, 100, &lb)
			if !slices.Equal(la, lb) {
				t.Error("the restored aggregator goes on differently")
			}
		})
	}
}
