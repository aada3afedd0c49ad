package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
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
	// ByGoroutine is the waits by the function of the goroutines that
	// waited, the longest waited first.
	ByGoroutine []benchTraceGoroutines `json:"by_goroutine"`
}

type benchTraceGoroutines struct {
	Name     string  `json:"name"`
	Waits    int     `json:"waits"`
	WaitedMs float64 `json:"waited_ms"`
}

// traceGoroutinesShown is how many functions' waits the text output
// names; the rest are summed.
const traceGoroutinesShown = 4

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
	by := make([]benchTraceGoroutines, 0, len(s.ByGoroutine))
	for _, g := range s.ByGoroutine {
		by = append(by, benchTraceGoroutines{Name: g.Name, Waits: g.Waits, WaitedMs: msOf(g.Waited)})
	}
	return &benchTrace{
		ByGoroutine:      by,
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
	if len(t.ByGoroutine) == 0 {
		return
	}
	var b strings.Builder
	var rest benchTraceGoroutines
	for i, g := range t.ByGoroutine {
		if i >= traceGoroutinesShown {
			rest.Waits += g.Waits
			rest.WaitedMs += g.WaitedMs
			continue
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.1f ms (%d)", g.Name, g.WaitedMs, g.Waits)
	}
	if rest.Waits > 0 {
		fmt.Fprintf(&b, ", %d more functions %.1f ms (%d)", len(t.ByGoroutine)-traceGoroutinesShown, rest.WaitedMs, rest.Waits)
	}
	fmt.Fprintf(w, "  trace: those waits by goroutine: %s\n", b.String())
}
