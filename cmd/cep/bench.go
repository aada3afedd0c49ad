package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

type benchParams struct {
	scenario string
	rules    int
	events   int
	keys     int
	cpu      int
	seed     uint64
	json     bool
	profile  string
	lateness time.Duration
	latency  bool
}

// benchResult is printed as JSON with --json; its field names are stable.
type benchResult struct {
	Scenario       string  `json:"scenario"`
	Rules          int     `json:"rules"`
	Events         int     `json:"events"`
	Keys           int     `json:"keys,omitempty"`
	CPU            int     `json:"gomaxprocs"`
	Seconds        float64 `json:"seconds"`
	EventsPerSec   float64 `json:"events_per_sec"`
	NsPerEvent     float64 `json:"ns_per_event"`
	CPUNsPerEvent  float64 `json:"cpu_ns_per_event"`
	AllocsPerEvent float64 `json:"allocs_per_event"`
	BytesPerEvent  float64 `json:"bytes_per_event"`
	PeakHeapMiB    float64 `json:"peak_heap_mib"`
	Alerts         uint64  `json:"alerts"`
	LatencyP50Us   float64 `json:"latency_p50_us,omitempty"`
	LatencyP99Us   float64 `json:"latency_p99_us,omitempty"`
	Extra          any     `json:"extra,omitempty"`
}

func (a *app) benchCmd() *cobra.Command {
	var p benchParams
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput on generated load",
		Long: `Generate events and rules for a scenario in memory, then time decoding,
routing, evaluation and detection through the engine on GOMAXPROCS=--cpu
(default 1: one core). Generation is not timed. Reports events/s,
ns/event, allocations and bytes allocated per event, the peak heap, and the
alerts produced.

Scenarios:
  filter     N filter rules of the fraud example's shape (a merchant watch
             list: event.type == "card_auth" && event.merchant == "m-…" &&
             event.amount > X) over card authorisations.
  sequence   N copies of a 3-step sequence (a, then b, then c within 10m)
             over --keys distinct keys: reports live partial matches, their
             memory, and the latency from the completing event to the alert.
  aggregate  N copies of a sliding 10-minute sum with having, and of a
             1-hour count_distinct, over --keys keys: reports state bytes
             per key.`,
		Example: `  cep bench --scenario filter --rules 1000 --events 1000000
  cep bench --scenario filter --rules 10000 --events 1000000 --json
  cep bench --scenario sequence --rules 1 --keys 1000000 --events 3000000
  cep bench --scenario aggregate --rules 1 --keys 100000 --events 2000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("rules") && p.scenario != "filter" {
				p.rules = 1
			}
			return a.runBench(p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.scenario, "scenario", "filter", "scenario: filter")
	f.IntVar(&p.rules, "rules", 1000, "number of rules (default 1000 for filter, 1 for the others)")
	f.IntVar(&p.events, "events", 1000000, "number of events")
	f.IntVar(&p.keys, "keys", 100000, "number of distinct keys (cards, users)")
	f.IntVar(&p.cpu, "cpu", 1, "GOMAXPROCS during the timed run")
	f.Uint64Var(&p.seed, "seed", 1, "random seed")
	f.BoolVar(&p.json, "json", false, "print the result as JSON")
	f.StringVar(&p.profile, "cpuprofile", "", "write a CPU profile of the timed run to this file")
	f.DurationVar(&p.lateness, "allowed-lateness", 0, "the engine's allowed lateness; 0 releases each event at once, so latency is processing time")
	f.BoolVar(&p.latency, "latency", true, "measure the latency from event to alert (p50, p99)")
	return cmd
}

type benchScenario struct {
	rules   []string // rule files
	lines   [][]byte
	streams []string
}

func (a *app) runBench(p benchParams) error {
	if p.rules < 1 || p.events < 1 || p.keys < 1 || p.cpu < 1 {
		return exitWith(exitUsage, "--rules, --events, --keys and --cpu must be positive")
	}
	var sc benchScenario
	switch p.scenario {
	case "filter":
		sc = filterScenario(p)
	case "sequence":
		sc = sequenceScenario(p)
	case "aggregate":
		sc = aggregateScenario(p)
	default:
		return exitWith(exitUsage, "unknown scenario %q (filter, sequence or aggregate)", p.scenario)
	}
	c, err := rules.NewCompiler(rules.Options{Logger: a.log})
	if err != nil {
		return exitWith(exitRuntime, "%v", err)
	}
	var rs []*rules.Rule
	for i, src := range sc.rules {
		r, errs := c.CompileFile(fmt.Sprintf("bench-%d.yaml", i), []byte(src))
		if r == nil {
			return exitWith(exitRuntime, "generated rule does not compile: %v", errs)
		}
		rs = append(rs, r)
	}
	var alerts uint64
	// Latency is measured from the push of the event that completed a
	// detection to the alert, in processing time: pushed[seq] holds when
	// each event went in.
	pushed := make([]int64, len(sc.lines)+1)
	var lat []time.Duration
	eng, err := correlate.New(rs, correlate.Config{AllowedLateness: p.lateness, Streams: sc.streams, Logger: a.log}, func(al *alert.Alert) {
		alerts++
		// Only alerts the last event completed count: a closing window's
		// alert is due to the watermark, not to its events.
		if n := len(al.Events); n > 0 && al.Events[n-1].Event != nil && al.Time.UnixNano() == al.Events[n-1].Event.Time {
			if seq := al.Events[n-1].Event.Seq; seq < uint64(len(pushed)) && pushed[seq] != 0 {
				lat = append(lat, time.Duration(time.Now().UnixNano()-pushed[seq]))
			}
		}
	})
	if err != nil {
		return exitWith(exitRuntime, "%v", err)
	}
	decoders := map[string]*event.Decoder{}
	for _, s := range sc.streams {
		decoders[s] = &event.Decoder{Stream: s}
	}
	dec := decoders[sc.streams[0]]

	prev := runtime.GOMAXPROCS(p.cpu)
	defer runtime.GOMAXPROCS(prev)
	runtime.GC()
	debug.FreeOSMemory()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := before.HeapInuse
	var zero time.Time
	if p.profile != "" {
		f, err := os.Create(p.profile)
		if err != nil {
			return exitWith(exitUsage, "--cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return exitWith(exitRuntime, "--cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuTime()
	start := time.Now()
	for i, line := range sc.lines {
		ev, err := dec.Decode(line)
		if err != nil {
			return exitWith(exitRuntime, "generated event does not decode: %v", err)
		}
		if p.latency && ev.Seq < uint64(len(pushed)) {
			pushed[ev.Seq] = time.Now().UnixNano()
		}
		eng.Push(ev, zero)
		if i&0xffff == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	took := time.Since(start)
	// State still held before the end of input fires every timer: what
	// the detectors keep for live keys and partial matches.
	live := eng.Stats()
	runtime.GC()
	var held runtime.MemStats
	runtime.ReadMemStats(&held)
	cpu1 := cpuTime()
	closeStart := time.Now()
	eng.Close()
	took += time.Since(closeStart)
	cpuTook := cpu1 - cpu0 + (cpuTime() - cpu1)
	runtime.ReadMemStats(&after)
	peak = max(peak, after.HeapInuse)
	n := float64(len(sc.lines))
	res := benchResult{
		Scenario: p.scenario, Rules: len(rs), Events: len(sc.lines), Keys: p.keys, CPU: p.cpu,
		Seconds:        took.Seconds(),
		EventsPerSec:   n / took.Seconds(),
		NsPerEvent:     float64(took.Nanoseconds()) / n,
		CPUNsPerEvent:  float64(cpuTook.Nanoseconds()) / n,
		AllocsPerEvent: float64(after.Mallocs-before.Mallocs) / n,
		BytesPerEvent:  float64(after.TotalAlloc-before.TotalAlloc) / n,
		PeakHeapMiB:    float64(peak) / (1 << 20),
		Alerts:         alerts,
	}
	if len(lat) > 0 {
		res.LatencyP50Us = float64(percentile(lat, 0.50).Nanoseconds()) / 1e3
		res.LatencyP99Us = float64(percentile(lat, 0.99).Nanoseconds()) / 1e3
	}
	stateBytes := int64(held.HeapAlloc) - int64(before.HeapAlloc)
	extra := map[string]any{"state_heap_mib": float64(stateBytes) / (1 << 20)}
	if live.Partials > 0 {
		extra["live_partials"] = live.Partials
		extra["partial_bytes_estimate"] = live.PartialBytes
		extra["bytes_per_partial_estimate"] = float64(live.PartialBytes) / float64(live.Partials)
	}
	if p.scenario == "aggregate" {
		extra["state_bytes_per_key"] = float64(stateBytes) / float64(p.keys)
	}
	res.Extra = extra
	if p.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(a.stdout, "scenario %s: %d rules, %d events, GOMAXPROCS=%d\n", res.Scenario, res.Rules, res.Events, res.CPU)
	fmt.Fprintf(a.stdout, "  %.0f events/s, %.0f ns/event (%.0f CPU ns/event), %.1f allocs/event, %.0f B/event, peak heap %.1f MiB, %d alerts\n",
		res.EventsPerSec, res.NsPerEvent, res.CPUNsPerEvent, res.AllocsPerEvent, res.BytesPerEvent, res.PeakHeapMiB, res.Alerts)
	if res.LatencyP50Us > 0 {
		fmt.Fprintf(a.stdout, "  latency from event to alert: p50 %.1f µs, p99 %.1f µs\n", res.LatencyP50Us, res.LatencyP99Us)
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(a.stdout, "  %s: %v\n", k, extra[k])
	}
	return nil
}

// filterScenario: a watch list of merchants, one rule per merchant, over
// card authorisations spread across many more merchants than rules. Every
// event is decoded, routed through the index and, when its merchant is
// watched, evaluated; about one event in a thousand alerts.
func filterScenario(p benchParams) benchScenario {
	rnd := rand.New(rand.NewPCG(p.seed, 7))
	merchants := max(10000, p.rules)
	var sc benchScenario
	sc.streams = []string{"payments"}
	for i := 0; i < p.rules; i++ {
		m := i * merchants / p.rules
		sc.rules = append(sc.rules, fmt.Sprintf(`id: bench.watch-%d
title: Watched merchant %d, large approval
severity: medium
streams: [payments]
by: [event.card_id]
match: event.type == "card_auth" && event.merchant == "m-%05d" && event.result == "approved" && event.amount > %d.0
alert:
  fields:
    card: event.card_id
    amount: event.amount
`, i, m, m, 900+i%50))
	}
	t := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixMilli()
	countries := []string{"DE", "FR", "GB", "NL", "US", "ES"}
	results := []string{"approved", "approved", "approved", "declined"}
	for i := 0; i < p.events; i++ {
		t += int64(rnd.IntN(20))
		amount := float64(rnd.IntN(100000)) / 100
		line := `{"id":"p` + strconv.Itoa(i) + `","ts":` + strconv.FormatInt(t, 10) +
			`,"type":"card_auth","card_id":"c-` + strconv.Itoa(rnd.IntN(p.keys)) +
			`","merchant":"m-` + fmt.Sprintf("%05d", rnd.IntN(merchants)) +
			`","mcc":"5411","amount":` + strconv.FormatFloat(amount, 'f', 2, 64) +
			`,"currency":"EUR","country":"` + countries[rnd.IntN(len(countries))] +
			`","result":"` + results[rnd.IntN(len(results))] + `"}`
		sc.lines = append(sc.lines, []byte(line))
	}
	return sc
}

// sequenceScenario: a 3-step sequence with a 10-minute window over many
// keys. Events of types a, b and c come in random order per key, 1 ms of
// event time apart, so most keys hold a live partial match.
func sequenceScenario(p benchParams) benchScenario {
	rnd := rand.New(rand.NewPCG(p.seed, 11))
	var sc benchScenario
	sc.streams = []string{"events"}
	for i := 0; i < p.rules; i++ {
		sc.rules = append(sc.rules, fmt.Sprintf(`id: bench.seq-%d
title: a then b then c
streams: [events]
by: [event.k]
sequence:
  within: 10m
  steps:
    - {name: a, where: event.t == "a"}
    - {name: b, where: event.t == "b"}
    - {name: c, where: event.t == "c"}
alert:
  fields: {k: a.k}
`, i))
	}
	t := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixMilli()
	types := []string{"a", "b", "c"}
	for i := 0; i < p.events; i++ {
		t++
		line := `{"id":"e` + strconv.Itoa(i) + `","ts":` + strconv.FormatInt(t, 10) +
			`,"k":"k` + strconv.Itoa(rnd.IntN(p.keys)) + `","t":"` + types[rnd.IntN(3)] + `"}`
		sc.lines = append(sc.lines, []byte(line))
	}
	return sc
}

// aggregateScenario: a sliding 10-minute sum per key and a 1-hour distinct
// count per key over transfers 1 ms of event time apart.
func aggregateScenario(p benchParams) benchScenario {
	rnd := rand.New(rand.NewPCG(p.seed, 13))
	var sc benchScenario
	sc.streams = []string{"payments"}
	for i := 0; i < p.rules; i++ {
		sc.rules = append(sc.rules, fmt.Sprintf(`id: bench.sum-%d
title: sliding sum
streams: [payments]
by: [event.user]
aggregate:
  window: {type: sliding, size: 10m}
  measures: {total: sum(event.amount)}
  having: total > 40000.0
`, i), fmt.Sprintf(`id: bench.distinct-%d
title: distinct devices per hour
streams: [payments]
by: [event.user]
aggregate:
  window: {type: tumbling, size: 1h}
  measures: {devices: count_distinct(event.device)}
  having: devices >= 20
`, i))
	}
	t := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixMilli()
	for i := 0; i < p.events; i++ {
		t++
		line := `{"id":"t` + strconv.Itoa(i) + `","ts":` + strconv.FormatInt(t, 10) +
			`,"user":"u` + strconv.Itoa(rnd.IntN(p.keys)) + `","device":"d` + strconv.Itoa(rnd.IntN(50)) +
			`","amount":` + strconv.Itoa(rnd.IntN(5000)) + `}`
		sc.lines = append(sc.lines, []byte(line))
	}
	return sc
}

// percentile returns the p-th percentile of d, which it sorts.
func percentile(d []time.Duration, p float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(p*float64(len(d)-1))]
}

// cpuTime is the process's user and system CPU time: with the garbage
// collector's background work, what the run cost, less sensitive than wall
// time to other load on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
