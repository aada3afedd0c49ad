package main

import (
	"encoding/json"
	"math"
	"testing"
)

func TestGCBetween(t *testing.T) {
	start := gcSample{cycles: 3, gc: 1, gcIdle: 0.5, total: 10, idleCPU: 4}
	tests := []struct {
		name   string
		end    gcSample
		cycles uint64
		share  float64
	}{
		{name: "no collection ended", end: start, cycles: 0, share: 0},
		// 4 s used, 1 s of it collecting.
		{name: "busy processors", end: gcSample{cycles: 5, gc: 2, gcIdle: 0.5, total: 14, idleCPU: 4}, cycles: 2, share: 0.25},
		// Of the 2 s the collector took, 1 s ran on processors that had
		// nothing else to do: neither it nor its processors count.
		{name: "idle processors marking", end: gcSample{cycles: 4, gc: 3, gcIdle: 1.5, total: 20, idleCPU: 9}, cycles: 1, share: 1.0 / 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cycles, share := gcBetween(start, tt.end)
			if cycles != tt.cycles || math.Abs(share-tt.share) > 1e-9 {
				t.Errorf("gcBetween: %d cycles, share %v; want %d, %v", cycles, share, tt.cycles, tt.share)
			}
		})
	}
}

// TestBenchGC: a run that allocates enough to collect reports how many
// collections it ran and their share of its CPU.
func TestBenchGC(t *testing.T) {
	code, out, errs := runApp(t, "bench", "--scenario", "sequence", "--events", "200000", "--json")
	if code != 0 {
		t.Fatalf("cep bench exited %d: %s", code, errs)
	}
	var r struct {
		Extra map[string]any `json:"extra"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cycles, _ := r.Extra["gc_cycles"].(float64)
	share, ok := r.Extra["gc_cpu_share"].(float64)
	if cycles < 1 || !ok || share <= 0 || share >= 1 {
		t.Errorf("gc_cycles %v, gc_cpu_share %v: want at least one collection, and a share between 0 and 1", r.Extra["gc_cycles"], r.Extra["gc_cpu_share"])
	}
}
