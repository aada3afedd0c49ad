package main

import "runtime/metrics"

// gcMetrics are what gcSample reads. The runtime updates its CPU classes
// only as a collection ends, so two samples compare the runs of the
// collections between them; they are estimates, compared only with each
// other.
var gcMetrics = []string{
	"/gc/cycles/automatic:gc-cycles",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/gc/mark/idle:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
}

// gcSample is what the collector had done by the end of its last cycle.
type gcSample struct {
	cycles                     uint64
	gc, gcIdle, total, idleCPU float64
}

func sampleGC() gcSample {
	s := make([]metrics.Sample, len(gcMetrics))
	for i, name := range gcMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	f := func(i int) float64 {
		if s[i].Value.Kind() != metrics.KindFloat64 {
			return 0
		}
		return s[i].Value.Float64()
	}
	var g gcSample
	if s[0].Value.Kind() == metrics.KindUint64 {
		g.cycles = s[0].Value.Uint64()
	}
	g.gc, g.gcIdle, g.total, g.idleCPU = f(1), f(2), f(3), f(4)
	return g
}

// gcBetween is how many collections the runtime started of itself
// between a and b, and the share of the CPU the process used meanwhile
// that went to them: their CPU less what they did on processors with
// nothing else to run, over the CPU used less that. The share is 0 when
// no collection ended between the two.
func gcBetween(a, b gcSample) (cycles uint64, share float64) {
	cycles = b.cycles - a.cycles
	used := (b.total - a.total) - (b.idleCPU - a.idleCPU) - (b.gcIdle - a.gcIdle)
	if cycles == 0 || used <= 0 {
		return cycles, 0
	}
	return cycles, ((b.gc - a.gc) - (b.gcIdle - a.gcIdle)) / used
}
