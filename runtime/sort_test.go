package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cep-project/cep/source"
)

// Real exports come newest first or grouped by channel: a sorted replay
// gives the alerts of the same events in order, in memory or spilled to
// disk, and drops nothing as late.
func TestSortedReplayWhateverTheFileOrder(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 3000)
	ordered, _ := runReplay(t, dir, false, 0)
	// Reverse every file and interleave its halves.
	for _, st := range []string{"auth", "payments", "account"} {
		p := filepath.Join(dir, st+".jsonl")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		slices.Reverse(lines)
		half := len(lines) / 2
		mixed := append(append([]string{}, lines[half:]...), lines[:half]...)
		if err := os.WriteFile(p, []byte(strings.Join(mixed, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, budget := range []int64{0, 32 << 10} {
		t.Run(fmt.Sprintf("budget %d", budget), func(t *testing.T) {
			got, res := runReplay(t, dir, true, budget)
			if budget > 0 && res.SortRuns < 2 {
				t.Errorf("%d runs spilled with a %d-byte budget", res.SortRuns, budget)
			}
			if !sameSet(got.ids(), ordered.ids()) || len(got.ids()) != len(ordered.ids()) {
				t.Errorf("%d alerts from the shuffled files, %d from the ordered ones", len(got.ids()), len(ordered.ids()))
			}
		})
	}
	unsorted, _ := runReplay(t, dir, false, 0)
	if len(unsorted.ids()) >= len(ordered.ids()) {
		t.Errorf("without sorting the shuffled files still gave %d of %d alerts: the test proves nothing", len(unsorted.ids()), len(ordered.ids()))
	}
}

func runReplay(t *testing.T, dir string, sort bool, budget int64) (*memSink, *Result) {
	t.Helper()
	sink := &memSink{}
	var srcs []source.Source
	for _, st := range []string{"account", "auth", "payments"} {
		srcs = append(srcs, &source.File{Spec: source.Spec{Name: st, Stream: st}, Path: filepath.Join(dir, st+".jsonl")})
	}
	rt, err := New(Config{Mode: Replay, Rules: compile(t), Sources: srcs, Sink: sink, Sort: sort, SortBytes: budget, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rt.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sort && res.Stats.Late != 0 {
		t.Errorf("a sorted replay had %d late events", res.Stats.Late)
	}
	return sink, res
}
