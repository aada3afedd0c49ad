//go:build unix

package sinktest

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPU is the CPU time this process has used. Benchmarks report it
// per operation beside wall time, because on a shared machine wall time
// measures the neighbours as much as the code.
func ProcessCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
