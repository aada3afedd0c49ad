package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
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
  filter   N filter rules of the fraud example's shape (a merchant watch
           list: event.type == "card_auth" && event.merchant == "m-…" &&
           event.amount > X) over card authorisations.`,
		Example: `  cep bench --scenario filter --rules 1000 --events 1000000
  cep bench --scenario filter --rules 10000 --events 1000000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runBench(p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.scenario, "scenario", "filter", "scenario: filter")
	f.IntVar(&p.rules, "rules", 1000, "number of rules")
	f.IntVar(&p.events, "events", 1000000, "number of events")
	f.IntVar(&p.keys, "keys", 100000, "number of distinct keys (cards, users)")
	f.IntVar(&p.cpu, "cpu", 1, "GOMAXPROCS during the timed run")
	f.Uint64Var(&p.seed, "seed", 1, "random seed")
	f.BoolVar(&p.json, "json", false, "print the result as JSON")
	f.StringVar(&p.profile, "cpuprofile", "", "write a CPU profile of the timed run to this file")
	return cmd
}

type benchScenario struct {
	rules   []string // rule files
	lines   [][]byte
	streams []string
	extra   func(*correlate.Engine) any
}

func (a *app) runBench(p benchParams) error {
	if p.rules < 1 || p.events < 1 || p.keys < 1 || p.cpu < 1 {
		return exitWith(exitUsage, "--rules, --events, --keys and --cpu must be positive")
	}
	var sc benchScenario
	switch p.scenario {
	case "filter":
		sc = filterScenario(p)
	default:
		return exitWith(exitUsage, "unknown scenario %q (filter)", p.scenario)
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
	eng, err := correlate.New(rs, correlate.Config{AllowedLateness: correlate.DefaultAllowedLateness, Streams: sc.streams, Logger: a.log}, func(*alert.Alert) { alerts++ })
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
	start := time.Now()
	for i, line := range sc.lines {
		ev, err := dec.Decode(line)
		if err != nil {
			return exitWith(exitRuntime, "generated event does not decode: %v", err)
		}
		eng.Push(ev, zero)
		if i&0xffff == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	eng.Close()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	peak = max(peak, after.HeapInuse)
	n := float64(len(sc.lines))
	res := benchResult{
		Scenario: p.scenario, Rules: len(rs), Events: len(sc.lines), Keys: p.keys, CPU: p.cpu,
		Seconds:        took.Seconds(),
		EventsPerSec:   n / took.Seconds(),
		NsPerEvent:     float64(took.Nanoseconds()) / n,
		AllocsPerEvent: float64(after.Mallocs-before.Mallocs) / n,
		BytesPerEvent:  float64(after.TotalAlloc-before.TotalAlloc) / n,
		PeakHeapMiB:    float64(peak) / (1 << 20),
		Alerts:         alerts,
	}
	if sc.extra != nil {
		res.Extra = sc.extra(eng)
	}
	if p.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(a.stdout, "scenario %s: %d rules, %d events, GOMAXPROCS=%d\n", res.Scenario, res.Rules, res.Events, res.CPU)
	fmt.Fprintf(a.stdout, "  %.0f events/s, %.0f ns/event, %.1f allocs/event, %.0f B/event, peak heap %.1f MiB, %d alerts\n",
		res.EventsPerSec, res.NsPerEvent, res.AllocsPerEvent, res.BytesPerEvent, res.PeakHeapMiB, res.Alerts)
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
