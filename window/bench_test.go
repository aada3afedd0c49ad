package window

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// benchInput is a pre-generated stream over nKeys keys: key indexes,
// values and distinct-value strings, with event time advancing by step.
type benchInput struct {
	keys []string
	key  []string // per event, as the engine computes a key per event
	// keyBytes is key as the decoders hand it to Touch.
	keyBytes [][]byte
	val      []float64
	str      []string
}

func newBenchInput(nKeys, n, distinct int) *benchInput {
	r := rand.New(rand.NewPCG(1, 1))
	in := &benchInput{keys: make([]string, nKeys), key: make([]string, n), keyBytes: make([][]byte, n), val: make([]float64, n), str: make([]string, n)}
	for i := range in.keys {
		in.keys[i] = fmt.Sprintf("user-%06d", i)
	}
	pool := make([]string, distinct)
	for i := range pool {
		pool[i] = fmt.Sprintf("card-%08d", i)
	}
	for i := range n {
		in.key[i] = string([]byte(in.keys[r.IntN(nKeys)]))
		in.keyBytes[i] = []byte(in.key[i])
		in.val[i] = float64(r.IntN(100000)) / 100
		in.str[i] = pool[r.IntN(distinct)]
	}
	return in
}

// runBench feeds b.N events, advancing the watermark every 1024 events as
// an engine would, and reports events/s and heap bytes per live key. With
// touch, each batch of 256 events' keys is read ahead first (Touch), as
// the engine does with the keys the decoders worked out.
func runBench(b *testing.B, cfg Config, in *benchInput, step time.Duration, touch bool, arg func(i int, args []Arg)) {
	a := mustNew(b, cfg)
	args := make([]Arg, len(cfg.Measures))
	drop := func(*Result) {}
	var batch [][]byte
	var touched uintptr
	// Fill the windows to steady state first, so the numbers describe a
	// running engine rather than one growing its state.
	t := int64(0)
	feed := func(n int) {
		for i := range n {
			j := i % len(in.key)
			if touch && i%256 == 0 {
				batch = batch[:0]
				for k := j; k < min(j+256, len(in.key)); k++ {
					batch = append(batch, in.keyBytes[k])
				}
				touched += a.Touch(batch)
			}
			arg(j, args)
			t += int64(step)
			a.Add(in.key[j], t, args, nil)
			if i&1023 == 0 {
				a.Advance(t, drop, nil)
			}
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	feed(len(in.key))
	runtime.GC()
	runtime.ReadMemStats(&after)
	keys := a.Stats().Keys
	estimate := a.Bytes()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	feed(b.N)
	b.StopTimer()
	// CPU time rather than wall time: on a shared machine the process may
	// wait for a core, and with -cpu 1 only one thread runs Go code.
	cpu := float64(cpuTime()-cpu0) / float64(b.N)
	b.ReportMetric(cpu, "cpu-ns/event")
	b.ReportMetric(1e9/cpu, "events/cpu-s")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(keys), "bytes/key")
	// The aggregator's own estimate (Bytes), at the same point.
	b.ReportMetric(float64(estimate)/float64(keys), "est-bytes/key")
	b.ReportMetric(float64(keys), "keys")
	runtime.KeepAlive(a)
	runtime.KeepAlive(touched)
}

// BenchmarkSlidingSum: a 10-minute sliding sum, each key with about 10
// events in its window, over 100,000 keys (the goal: state far larger than
// the CPU caches) and over 1,000 keys (the cost of the algorithm itself),
// each batch's keys read ahead (touch=true) or not.
func BenchmarkSlidingSum(b *testing.B) {
	for _, keys := range []int{100_000, 1_000} {
		for _, touch := range []bool{false, true} {
			b.Run(fmt.Sprintf("keys=%d/touch=%v", keys, touch), func(b *testing.B) {
				in := newBenchInput(keys, 2_000_000, 1)
				cfg := Config{Window: Spec{Kind: Sliding, Size: 10 * time.Minute}, Measures: []Measure{{Name: "total", Func: Sum}}}
				step := 600 * time.Microsecond * time.Duration(100_000/keys)
				runBench(b, cfg, in, step, touch, func(i int, args []Arg) { args[0].Num = in.val[i] })
			})
		}
	}
}

// BenchmarkCountDistinct: distinct cards per device over 1-hour tumbling
// windows, 100,000 devices with about 50 events per window, values drawn
// from 1,000 cards.
func BenchmarkCountDistinct(b *testing.B) {
	for _, approx := range []bool{false, true} {
		name := "exact"
		if approx {
			name = "approx"
		}
		for _, touch := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/touch=%v", name, touch), func(b *testing.B) {
				in := newBenchInput(100_000, 5_000_000, 1000)
				cfg := Config{Window: Spec{Kind: Tumbling, Size: time.Hour}, Evidence: -1,
					Measures: []Measure{{Name: "cards", Func: CountDistinct, Approx: approx}}}
				runBench(b, cfg, in, 720*time.Microsecond, touch, func(i int, args []Arg) { args[0].Str = in.str[i] })
			})
		}
	}
}

// cpuTime is the process's user and system time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
