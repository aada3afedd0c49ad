package main

import (
	"os"
	"testing"
)

func TestStatusKB(t *testing.T) {
	status := "Name:\tcep\nVmPeak:\t  812345 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n"
	tests := []struct {
		name string
		want int64
		ok   bool
	}{
		{"VmHWM:", 40960, true},
		{"VmRSS:", 20480, true},
		{"MemTotal:", 0, false},
	}
	for _, tt := range tests {
		got, ok := statusKB(status, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("statusKB(%q) = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// The high-water mark is at least what the process holds now.
func TestPeakRSSCoversCurrent(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc on this system")
	}
	rss, ok := statusKB(string(b), "VmRSS:")
	if !ok {
		t.Fatal("no VmRSS in /proc/self/status")
	}
	if peak := peakRSS(); peak < rss<<10 {
		t.Fatalf("peakRSS() = %d, below the current RSS of %d", peak, rss<<10)
	}
}
