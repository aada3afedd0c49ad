package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cep-project/cep/internal/schedtrace"
)

// benchTrace is the summary of --trace's execution trace, in --json's
// units: milliseconds and percentages of the waited time.
type benchTrace struct {
	WaitOverMs       float64 `json:"wait_over_ms"`
	Waits            int     `json:"waits"`
	WaitedMs         float64 `json:"waited_ms"`
	MarkingShare     float64 `json:"behind_mark_worker_pct"`
	AllMarkingShare  float64 `json:"behind_mark_workers_only_pct"`
	BusyShare        float64 `json:"behind_goroutines_pct"`
	IdleShare        float64 `json:"processor_idle_pct"`
	WorkerRuns       int     `json:"mark_worker_runs"`
	WorkerP50Ms      float64 `json:"mark_worker_run_p50_ms"`
	WorkerP90Ms      float64 `json:"mark_worker_run_p90_ms"`
	WorkerLongestMs  float64 `json:"mark_worker_run_longest_ms"`
	Stretches        int     `json:"all_marking_stretches"`
	StretchMs        float64 `json:"all_marking_ms"`
	StretchLongestMs float64 `json:"all_marking_longest_ms"`
}

// readBenchTrace summarises the trace the run wrote to path.
func readBenchTrace(path string, over time.Duration) (*benchTrace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := schedtrace.Read(bufio.NewReaderSize(f, 1<<20), over)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &benchTrace{
		WaitOverMs:       msOf(s.Over),
		Waits:            s.Waits,
		WaitedMs:         msOf(s.Waited),
		MarkingShare:     s.Share(s.Marking),
		AllMarkingShare:  s.Share(s.AllMarking),
		BusyShare:        s.Share(s.Busy),
		IdleShare:        s.Share(s.Idle),
		WorkerRuns:       s.WorkerRuns,
		WorkerP50Ms:      msOf(s.WorkerP50),
		WorkerP90Ms:      msOf(s.WorkerP90),
		WorkerLongestMs:  msOf(s.WorkerLong),
		Stretches:        s.Stretches,
		StretchMs:        msOf(s.StretchTime),
		StretchLongestMs: msOf(s.StretchLong),
	}, nil
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func printBenchTrace(w io.Writer, t *benchTrace) {
	fmt.Fprintf(w, "  trace: %d waits of %.3g ms or more for a processor, %.1f ms in all: a mark worker on a processor %.0f%% of that time (on every processor %.0f%%), every processor on other goroutines %.0f%%, a processor idle %.0f%%\n",
		t.Waits, t.WaitOverMs, t.WaitedMs, t.MarkingShare, t.AllMarkingShare, t.BusyShare, t.IdleShare)
	fmt.Fprintf(w, "  trace: mark workers ran %d times, p50 %.2f ms, p90 %.2f ms, longest %.2f ms; every processor marking %d times, %.1f ms in all, longest %.2f ms\n",
		t.WorkerRuns, t.WorkerP50Ms, t.WorkerP90Ms, t.WorkerLongestMs, t.Stretches, t.StretchMs, t.StretchLongestMs)
}
