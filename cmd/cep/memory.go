package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/cep-project/cep/correlate"
)

// machineMemory is the memory this process may use: the cgroup's limit
// when there is one, else the machine's total; 0 when neither is known.
func machineMemory() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v < 1<<50 {
				return v
			}
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if kb, ok := statusKB(sc.Text(), "MemTotal:"); ok {
			return kb << 10
		}
	}
	return 0
}

// defaultMemoryLimit is half the memory cep may use, or 4 GiB when that
// is unknown.
func defaultMemoryLimit() int64 {
	if m := machineMemory(); m > 0 {
		return m / 2
	}
	return 4 << 30
}

// memoryPlan shares one memory limit out: half for detector state, an
// eighth for the reorder buffer (at most 256 MiB) and an eighth for
// sorting a replay; the rest is for events in flight, sink queues and the
// runtime. It also tells the Go runtime the limit (unless GOMEMLIMIT is
// set), so the collector works harder before the process grows past it.
type memoryPlan struct {
	limit, state, buffer, sort int64
}

func planMemory(limit int64) memoryPlan {
	if limit <= 0 {
		limit = defaultMemoryLimit()
	}
	return memoryPlan{
		limit:  limit,
		state:  limit / 2,
		buffer: min(limit/8, correlate.DefaultMaxBufferBytes),
		sort:   limit / 8,
	}
}

func (m memoryPlan) apply() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(m.limit)
	}
}

// peakRSS is the most resident memory the process has held, in bytes.
// It reads VmHWM, the high-water mark of this process's own memory:
// getrusage's maxrss also keeps what the parent held when it forked us
// (Linux carries it across exec), so a cep started by a large test or
// supervisor process would report that process's size.
func peakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		if kb, ok := statusKB(string(b), "VmHWM:"); ok {
			return kb << 10
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	// Linux reports kilobytes.
	return ru.Maxrss << 10
}

// statusKB reads a "Name:   123 kB" line of a /proc status file.
func statusKB(status, name string) (int64, bool) {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, name); ok {
			v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}
