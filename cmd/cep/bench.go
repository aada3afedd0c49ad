package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
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
	// trace receives an execution trace of the timed run.
	trace string
	// traceWait is the least wait for a processor the trace's summary
	// counts.
	traceWait time.Duration
	// memProfile receives an allocation profile of the run.
	memProfile string
	lateness   time.Duration
	latency    bool
	// checkpoint, when set, runs as a service taking checkpoints at this
	// interval into stateDir (a temporary directory when empty).
	checkpoint time.Duration
	stateDir   string
	// decoders decode the generated lines (0: --cpu of them); project
	// decodes only what the rules read, as cep run does.
	decoders int
	project  bool
	// prepare evaluates the filters' conditions on the decoders.
	prepare bool
	// screen decodes events first with the fields rules are indexed by
	// (event.Screen).
	screen bool
	// shards splits the keys of sequence, window and join rules among
	// detectors that step in parallel.
	shards int
	// busyPoll is runtime.Config.BusyPoll, for a paced (--rate) run.
	busyPoll time.Duration
	// stallProbe is how long a paced run spins a thread before it is
	// timed, to see the machine's own stalls (see probeStalls); 0 skips.
	stallProbe time.Duration
	// rate, when positive, paces the source at this many events per
	// second of wall time, for latency below peak load.
	rate float64
	// feed is where a paced run's events come from: inline (a goroutine
	// of this process) or process (another process, over a pipe).
	feed string
	// compare times a hand-written single-threaded scanner of the same
	// logic over the same lines (filter and sequence).
	compare bool
	// inputs are files of JSON lines for the windows scenario, and
	// rulesFrom a rules directory to run instead of generated rules.
	inputs    []string
	rulesFrom string
	// copies repeats the inputs, each copy a year after the one before
	// (see shiftYears).
	copies int
	// idleRules are filter rules of the scenario's shape on a stream no
	// event comes from: what merely holding rules costs a run.
	idleRules int
}

// benchResult is printed as JSON with --json; its field names are stable.
type benchResult struct {
	Scenario       string  `json:"scenario"`
	Rules          int     `json:"rules"`
	IdleRules      int     `json:"idle_rules,omitempty"`
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
	Bytes          int64   `json:"bytes"`
	MBPerSec       float64 `json:"mb_per_sec"`
	LatencyP50Us   float64 `json:"latency_p50_us,omitempty"`
	LatencyP99Us   float64 `json:"latency_p99_us,omitempty"`
	// LatencyDue* are paced runs' latencies from each event's due time
	// (see benchSource.due).
	LatencyDueP50Us float64 `json:"latency_due_p50_us,omitempty"`
	LatencyDueP99Us float64 `json:"latency_due_p99_us,omitempty"`
	Extra           any     `json:"extra,omitempty"`
	// EngineBusy is the share of the run the engine's goroutine was
	// busy (runtime.Result.EngineBusy): near 1, it bounds the rate.
	EngineBusy float64 `json:"engine_busy_share"`
	// Handwritten is the hand-written scanner's run, with
	// --compare-handwritten.
	Handwritten *handwrittenResult `json:"handwritten,omitempty"`
	// Trace is what --trace's trace says the long waits for a processor
	// waited behind.
	Trace *benchTrace `json:"trace,omitempty"`
	// Stalls is what a paced run's stall probe saw of the machine.
	Stalls *stallResult `json:"machine_stalls,omitempty"`
}

func (a *app) benchCmd() *cobra.Command {
	var p benchParams
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput on generated load",
		Long: `Generate events and rules for a scenario in memory, then time decoding,
routing, evaluation and detection through the engine on GOMAXPROCS=--cpu
(default 1: one core). Generation, compiling the rules and making the
engine (indexing the rules and building their streams' routes, reported
as engine_build_seconds) are not timed. Reports events/s, ns/event,
allocations and bytes allocated per event, the peak heap, the alerts
produced, the share of the run the engine's goroutine was busy (near
100%, the engine bounds the rate; well under it, the decoders do), and
the collections the run started with their share of the CPU it used
(gc_cycles, gc_cpu_share: the runtime's estimates as of the last
collection, less what the collector did on processors that had nothing
else to run).

Scenarios:
  filter     N filter rules of the fraud example's shape (a merchant watch
             list: event.type == "card_auth" && event.merchant == "m-…" &&
             event.amount > X) over card authorisations.
  sequence   N copies of a 3-step sequence (a, then b, then c within 10m)
             over --keys distinct keys: reports live partial matches, their
             memory, and the latency from the completing event to the alert.
  aggregate  N copies of a sliding 10-minute sum with having, and of a
             1-hour count_distinct, over --keys keys: reports state bytes
             per key.
  windows    N rules of Sigma's shape (channel, event id, then case-
             insensitive tests of image, command line, registry paths)
             over the JSON lines of --input (Windows telemetry such as the
             OTRF recordings); --rules-from runs a rules directory instead
             (an import of SigmaHQ). Events are processed in file order,
             late ones too; --copies N reads the inputs N times, a year
             apart, for a run long enough to be past the warm-up.

--rate paces the input as a live source would deliver it, in small
batches at their due times, and runs the engine as a service does
(cep run --config); --busy-poll is that service's engine.busy_poll.
The latency is measured from an event's hand-over to its alert, and in
a paced run from its due time too: a source that falls behind its
schedule (its batches wait for the engine, or it waits for a
processor) hands events over late, and the first measure leaves out
that wait, where a live source's events would have queued.

By default (--feed inline) the paced source is a goroutine of this
process that hands over batches it has already decoded, yielding its
processor between them. --feed process runs the pacing in another
process (cep bench-feed), which sleeps between batches and writes the
lines to a pipe that cep reads as it reads standard input: the latency
is then measured from each batch's write, through the pipe, the
decoders and the engine, as a live source's events take it.

A paced run first spins one thread for --stall-probe (1 s) and reports
the machine's own stalls: the share of that time the thread's processor
was taken away (on a virtual machine, by its host), the gaps over 100 µs
and 1 ms, and the p99 latency a consumer taking no time at all would
have had on that thread. No pipeline's p99 on the machine is below it,
and an engine busy part of the time adds to every stall the events that
queued during it. With --cpu 2 or more it then wakes a goroutine that
has waited 1 ms on a channel, once every 2 ms of the probe's time, and
reports how long each hand-over took to reach it: a goroutine of the
pipeline that had nothing to do pays that before it runs.

--trace writes an execution trace of the timed run (go tool trace) and
reads it back for where a slow alert's time went: every wait of
--trace-wait or more between a goroutine becoming runnable and running,
and what the processors did meanwhile: a mark worker of the collector
on one of them (on two processors Go marks with a fractional worker on
each, in stretches that grow with the mark, and a goroutine queued
behind one waits it out), other goroutines on all of them, or one idle
(its thread not yet woken by the kernel). The mark workers' runs and the
times every processor marked at once are reported too, and the waits by
goroutine, each named by the function it was started with (a closure
with the function it calls; main.main is the main goroutine, where the
engine's loop runs).

Lines are generated (or read) into memory first; the timed run decodes
them on --decoders goroutines, as a file source does, keeping only the
fields the rules read (--project=false decodes every field), and of an
event no rule can reach only the fields rules are indexed by
(--screen=false decodes every event with the rules' fields).

--compare-handwritten times, on the same lines, a hand-written
single-threaded Go program of the same logic (filter and sequence): it
finds the few fields it needs with byte searches and keeps per-key
state in a map. The matches of both must be identical; cep's wall time
is reported as a ratio of the scanner's.`,
		Example: `  cep bench --scenario filter --rules 1000 --events 1000000 --cpu 2 --compare-handwritten
  cep bench --scenario sequence --rules 1 --cpu 2 --checkpoint-interval 1s --rate 300000
  cep bench --scenario sequence --cpu 2 --rate 230000 --events 1500000 --busy-poll 100us
  cep bench --scenario sequence --cpu 2 --rate 320000 --events 1500000 --busy-poll 100us --feed process
  cep bench --scenario sequence --cpu 2 --rate 100000 --events 600000 --busy-poll 100us --feed process --trace /tmp/fed.trace
  cep bench --scenario windows --rules 20 --cpu 2 --input otrf/a.json --input otrf/b.json
  cep bench --scenario windows --rules 20 --cpu 2 --copies 10 --input otrf/a.json --input otrf/b.json
  cep bench --scenario filter --rules 1000 --events 1000000
  cep bench --scenario filter --rules 10000 --events 1000000 --json
  cep bench --scenario filter --rules 10 --idle-rules 9990 --events 6000000 --cpu 2
  cep bench --scenario sequence --rules 1 --keys 1000000 --events 3000000
  cep bench --scenario aggregate --rules 1 --keys 100000 --events 2000000
  cep bench --scenario sequence --keys 1000000 --events 3000000 --checkpoint-interval 10s --state redis://127.0.0.1:6379/0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("rules") {
				switch p.scenario {
				case "filter":
				case "windows":
					p.rules = 20
				default:
					p.rules = 1
				}
			}
			switch {
			case p.feed == "inline":
			case p.feed != "process":
				return fmt.Errorf("--feed: inline or process, not %q", p.feed)
			case p.rate <= 0:
				return fmt.Errorf("--feed process paces the events: it needs --rate")
			case p.checkpoint > 0:
				return fmt.Errorf("--feed process runs until its feed ends: it does not take --checkpoint-interval")
			}
			if cmd.Flags().Changed("stall-probe") && (p.rate <= 0 || p.stallProbe < 0) {
				return fmt.Errorf("--stall-probe is how long a paced run probes the machine's stalls: it needs --rate, and a duration of 0 or more")
			}
			if cmd.Flags().Changed("trace-wait") && (p.trace == "" || p.traceWait <= 0) {
				return fmt.Errorf("--trace-wait is the least wait --trace's summary counts: it needs --trace, and a duration over 0")
			}
			if p.idleRules < 0 || (p.idleRules > 0 && p.scenario != "filter") {
				return fmt.Errorf("--idle-rules takes a number of rules, for the filter scenario")
			}
			return a.runBench(p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.scenario, "scenario", "filter", "scenario: filter, sequence or aggregate (see above)")
	f.IntVar(&p.rules, "rules", 1000, "number of rules (default 1000 for filter, 1 for the others)")
	f.IntVar(&p.events, "events", 1000000, "number of events")
	f.IntVar(&p.keys, "keys", 100000, "number of distinct keys (cards, users)")
	f.IntVar(&p.cpu, "cpu", 1, "GOMAXPROCS during the timed run")
	f.Uint64Var(&p.seed, "seed", 1, "random seed")
	f.BoolVar(&p.json, "json", false, "print the result as JSON")
	f.StringVar(&p.profile, "cpuprofile", "", "write a CPU profile of the timed run to this file")
	f.StringVar(&p.trace, "trace", "", "write an execution trace of the timed run to this file (go tool trace) and print what the goroutines that waited long for a processor waited behind: where the latency goes")
	f.DurationVar(&p.traceWait, "trace-wait", time.Millisecond, "with --trace: the least wait for a processor the summary counts")
	f.StringVar(&p.memProfile, "memprofile", "", "write an allocation profile of the timed run to this file (go tool pprof -sample_index=alloc_space)")
	f.DurationVar(&p.lateness, "allowed-lateness", 0, "the engine's allowed lateness; 0 releases each event at once, so latency is processing time")
	f.BoolVar(&p.latency, "latency", true, "measure the latency from event to alert (p50, p99)")
	f.DurationVar(&p.checkpoint, "checkpoint-interval", 0, "run as a service taking checkpoints this often; reports checkpoint size and time, and times a restore of the last one")
	f.StringVar(&p.stateDir, "state", "", "where --checkpoint-interval's checkpoints go: a directory (default: a temporary one), or redis://host:port/db for Redis (under a key prefix of its own, deleted afterwards)")
	f.IntVar(&p.decoders, "decoders", 0, "goroutines decoding the lines (0: --cpu)")
	f.BoolVar(&p.project, "project", true, "decode only the fields the rules read (false: every field)")
	f.BoolVar(&p.prepare, "prepare", true, "evaluate filter rules' conditions on the decoding goroutines (false: on the engine's)")
	f.BoolVar(&p.screen, "screen", true, "decode each event first with only the fields rules are indexed by, and in full only when it may reach a rule")
	f.IntVar(&p.shards, "shards", 1, "split each sequence, window and join rule's keys among this many detectors, stepped in parallel")
	f.Float64Var(&p.rate, "rate", 0, "pace the input at this many events per second, run as a service is (0: as fast as it goes, as a replay is)")
	f.StringVar(&p.feed, "feed", "inline", "with --rate: where the events come from: inline (a goroutine of cep's, handing over decoded batches) or process (another process writing lines to a pipe, as a live source's arrive)")
	f.DurationVar(&p.busyPoll, "busy-poll", 0, "with --rate or --checkpoint-interval: how long the service loop polls for the next batch before it sleeps (as engine.busy_poll)")
	f.DurationVar(&p.stallProbe, "stall-probe", time.Second, "with --rate: spin one thread this long before the timed run and report the machine's own stalls, against which the latency is read (0: skip)")
	f.BoolVar(&p.compare, "compare-handwritten", false, "also time a hand-written single-threaded scanner of the same logic (filter, sequence) and check the matches are identical")
	f.StringArrayVar(&p.inputs, "input", nil, "file of JSON lines for the windows scenario (repeatable)")
	f.IntVar(&p.copies, "copies", 1, "windows scenario: read the inputs this many times, each copy's @timestamp a year after the one before, so that every copy is processed as the first is")
	f.StringVar(&p.rulesFrom, "rules-from", "", "run the rules of this directory instead of generated ones (windows scenario)")
	f.IntVar(&p.idleRules, "idle-rules", 0, "filter scenario: also load this many rules of the same shape on a stream no event comes from, which no event reaches: what holding rules costs (the collector marks them on every cycle)")
	return cmd
}

type benchScenario struct {
	rules   []string // rule files
	lines   *lineFile
	streams []string
	// late processes late events (input not in time order).
	late bool
}

// lineFile is a temporary file of the scenario's lines. The timed run
// reads it as cep run reads its input, through a file source: lines held
// in memory instead would make the garbage collector's heap, and so its
// work, many times what a run's is.
type lineFile struct {
	f     *os.File
	w     *bufio.Writer
	err   error
	n     int
	bytes int64
}

// add appends one line.
func (sc *benchScenario) add(line string) {
	if sc.lines == nil {
		sc.lines = &lineFile{}
		sc.lines.f, sc.lines.err = os.CreateTemp("", "cep-bench-*.jsonl")
		if sc.lines.err != nil {
			return
		}
		sc.lines.w = bufio.NewWriterSize(sc.lines.f, 1<<20)
	}
	l := sc.lines
	if l.err != nil {
		return
	}
	l.w.WriteString(line)
	l.err = l.w.WriteByte('\n')
	l.n++
	l.bytes += int64(len(line)) + 1
}

// finish flushes the file and reports a failure to write it.
func (l *lineFile) finish() error {
	if l == nil {
		return errors.New("the scenario has no lines")
	}
	if l.err == nil {
		l.err = l.w.Flush()
	}
	return l.err
}

func (l *lineFile) remove() {
	if l != nil && l.f != nil {
		l.f.Close()
		_ = os.Remove(l.f.Name())
	}
}

func (a *app) runBench(p benchParams) error {
	if p.rules < 1 || p.events < 1 || p.keys < 1 || p.cpu < 1 || p.decoders < 0 || p.rate < 0 || p.copies < 1 {
		return exitWith(exitUsage, "--rules, --events, --keys and --cpu must be positive, --decoders and --rate not negative")
	}
	if p.compare && p.scenario != "filter" && p.scenario != "sequence" {
		return exitWith(exitUsage, "--compare-handwritten has a hand-written scanner for the filter and sequence scenarios")
	}
	if p.compare && p.scenario == "sequence" && p.rules != 1 {
		return exitWith(exitUsage, "--compare-handwritten: the sequence scanner runs one rule (--rules 1)")
	}
	if (len(p.inputs) > 0 || p.rulesFrom != "") != (p.scenario == "windows") {
		return exitWith(exitUsage, "--input and --rules-from go with --scenario windows, which needs --input")
	}
	var sc benchScenario
	switch p.scenario {
	case "filter":
		sc = filterScenario(p)
	case "sequence":
		sc = sequenceScenario(p)
	case "aggregate":
		sc = aggregateScenario(p)
	case "windows":
		var err error
		if sc, err = windowsScenario(p); err != nil {
			return exitWith(exitUsage, "%v", err)
		}
	default:
		return exitWith(exitUsage, "unknown scenario %q (filter, sequence, aggregate or windows)", p.scenario)
	}
	defer sc.lines.remove()
	if err := sc.lines.finish(); err != nil {
		return exitWith(exitRuntime, "writing the scenario's lines: %v", err)
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
	if p.rulesFrom != "" {
		set := c.Load(p.rulesFrom)
		if len(set.Errors) > 0 || len(set.Rules) == 0 {
			return exitWith(exitUsage, "--rules-from %s: %d rules, errors: %v", p.rulesFrom, len(set.Rules), errors.Join(set.Errors...))
		}
		rs = set.Rules
	}
	rules.Compact(rs)
	n := sc.lines.n
	var matches []string
	var alerts uint64
	// Latency is measured from the hand-over of the batch holding the
	// event that completed a detection to the alert, in processing time.
	handovers := &handoverLog{}
	var lat, latDue []time.Duration
	feeding := p.feed == "process"
	var emitted []emission
	sink := &benchSink{onAlert: func(al *alert.Alert) {
		alerts++
		if p.compare {
			matches = append(matches, matchOf(al))
		}
		// Only alerts the last event completed count: a closing window's
		// alert is due to the watermark, not to its events.
		if k := len(al.Events); k > 0 && al.Events[k-1].Event != nil && al.Time.UnixNano() == al.Events[k-1].Event.Time {
			if feeding {
				// The feeder's stamps come when it is done.
				if p.latency {
					emitted = append(emitted, emission{uint64(al.Events[k-1].Event.Line), time.Now().UnixNano()})
				}
			} else if h, ok := handovers.of(al.Events[k-1].Event.Seq); ok {
				now := time.Now().UnixNano()
				lat = append(lat, time.Duration(now-h.at))
				if h.due != 0 {
					latDue = append(latDue, time.Duration(now-h.due))
				}
			}
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	decoders := p.decoders
	if decoders == 0 {
		decoders = p.cpu
	}
	spec := source.Spec{Name: "bench", Stream: sc.streams[0], Decoders: decoders}
	if p.prepare || p.screen {
		spec.Prepare = &source.Preparation{}
	}
	if p.project {
		spec.Decoder.Project = rules.Projection(rs, sc.streams[0])
	}
	var src source.Source
	var feed *feedSource
	if feeding {
		f, err := startFeed(ctx, spec, sc.lines.f.Name(), p.rate, a.stderr)
		if err != nil {
			return exitWith(exitRuntime, "%v", err)
		}
		src, feed = f, f
	} else {
		bs := &benchSource{spec: spec, path: sc.lines.f.Name(), hold: p.checkpoint > 0, rate: p.rate}
		if p.latency {
			bs.handovers = handovers
		}
		src = bs
	}
	prev := goruntime.GOMAXPROCS(p.cpu)
	defer goruntime.GOMAXPROCS(prev)
	goruntime.GC()
	debug.FreeOSMemory()
	var stalls *stallResult
	if p.rate > 0 && p.stallProbe > 0 {
		r := summariseStalls(probeStalls(p.stallProbe))
		// With one processor the woken goroutine runs only once the
		// sender yields it: there is no idle processor to wake.
		if n := int(p.stallProbe / (2 * wakeIdle)); p.cpu > 1 && n > 0 {
			w := probeWakes(n)
			r.Wakes = len(w)
			r.WakeP50Us = float64(percentile(w, 0.50).Nanoseconds()) / 1e3
			r.WakeP99Us = float64(percentile(w, 0.99).Nanoseconds()) / 1e3
		}
		stalls = &r
	}
	var before, held, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	peak := before.HeapInuse
	samplePeak := func() {
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	// The state held when the last event is in, before the end of input
	// fires every timer, is what the detectors keep for live keys; it is
	// measured off the clock.
	var live correlate.Stats
	var untimed time.Duration
	var calls int
	// The collector's work is sampled again before the forced collection
	// at the end of input, which is not the run's.
	var gcStart gcSample
	var gcEnd *gcSample
	atEnd := func(eng *correlate.Engine) {
		t := time.Now()
		live = eng.Stats()
		samplePeak()
		g := sampleGC()
		gcEnd = &g
		goruntime.GC()
		goruntime.ReadMemStats(&held)
		untimed += time.Since(t)
	}
	cfg := runtime.Config{
		Mode:         runtime.Replay,
		Rules:        rs,
		Engine:       correlate.Config{AllowedLateness: p.lateness, Logger: a.log, Late: lateFor(sc), Shards: p.shards},
		Sources:      []source.Source{src},
		Sink:         sink,
		Log:          a.log,
		AtEndOfInput: atEnd,
		// OnEvents comes every 8,192 events; the peak is sampled every
		// eighth time. Counting the calls, not asking the engine's Stats,
		// which sums every rule's dedup counters: at 10,000 rules that
		// was 1.6% of the run's CPU.
		OnEvents: func(*correlate.Engine) {
			if calls++; calls%8 == 1 {
				samplePeak()
			}
		},
	}
	if p.prepare {
		cfg.Engine.Prepare = spec.Prepare.Store
	}
	if p.screen {
		cfg.Engine.Screen = spec.Prepare.StoreScreens
	}
	// A paced source is a live one: its events are taken as a service
	// takes them, as they come, not merged in event time with others'.
	if p.rate > 0 {
		cfg.Mode = runtime.Service
		cfg.BusyPoll = p.busyPoll
	}
	var store state.Store
	var redisStore *state.Redis
	if p.checkpoint > 0 {
		switch dir := p.stateDir; {
		case strings.HasPrefix(dir, "redis://") || strings.HasPrefix(dir, "rediss://"):
			rs, err := benchRedis(dir, a)
			if err != nil {
				return exitWith(exitUsage, "--state: %v", err)
			}
			defer func() {
				if err := rs.Drop(context.Background()); err != nil {
					a.log.Warn("deleting the bench's keys from Redis", "error", err)
				}
				_ = rs.Close()
			}()
			store, redisStore = rs, rs
		case dir == "":
			tmp, err := os.MkdirTemp("", "cep-bench-state-")
			if err != nil {
				return exitWith(exitRuntime, "%v", err)
			}
			defer func() { _ = os.RemoveAll(tmp) }()
			store = &state.Dir{Path: tmp}
		default:
			store = &state.Dir{Path: dir}
		}
		cfg.Mode = runtime.Service
		cfg.BusyPoll = p.busyPoll
		cfg.Store = store
		cfg.Interval = p.checkpoint
		cfg.StopTimeout = time.Hour
		// The source holds on after its last event, so the run is stopped
		// once every event is in: the last checkpoint then holds the live
		// state, and a restore of it is timed.
		cfg.OnTick = func(s correlate.Stats) {
			if s.Events >= uint64(n) {
				cancel()
			}
		}
	}
	// Making the engine indexes the rules and builds the routes of their
	// streams, off the clock as compiling them is: reported, since at
	// 10,000 rules the routes were built on the first event, in the run.
	built := time.Now()
	rt, err := runtime.New(cfg)
	if err != nil {
		return exitWith(exitRuntime, "%v", err)
	}
	buildTook := time.Since(built)
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
	stopTrace := func() error { return nil }
	if p.trace != "" {
		f, err := os.Create(p.trace)
		if err != nil {
			return exitWith(exitUsage, "--trace: %v", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return exitWith(exitRuntime, "--trace: %v", err)
		}
		// Stopped after the timed run, so that the trace can be read
		// back; on an early return, by the deferred call.
		stopTrace = func() error {
			stopTrace = func() error { return nil }
			trace.Stop()
			return f.Close()
		}
		defer func() { _ = stopTrace() }()
	}
	gcStart = sampleGC()
	cpu0 := cpuTime()
	start := time.Now()
	run, err := rt.Run(ctx)
	if err != nil {
		return exitWith(exitRuntime, "%v", err)
	}
	took := time.Since(start) - untimed
	cpuTook := cpuTime() - cpu0
	if gcEnd == nil {
		g := sampleGC()
		gcEnd = &g
	}
	if err := stopTrace(); err != nil {
		return exitWith(exitRuntime, "--trace: %v", err)
	}
	if p.memProfile != "" {
		if err := writeHeapProfile(p.memProfile); err != nil {
			return exitWith(exitRuntime, "--memprofile: %v", err)
		}
	}
	goruntime.ReadMemStats(&after)
	peak = max(peak, after.HeapInuse)
	for _, e := range emitted {
		if at, due, ok := feed.written(e.line, p.rate); ok {
			lat = append(lat, time.Duration(e.at-at))
			latDue = append(latDue, time.Duration(e.at-due))
		}
	}
	if store != nil {
		live = run.Stats
		goruntime.GC()
		goruntime.ReadMemStats(&held)
	}
	nf := float64(n)
	res := benchResult{
		Scenario: p.scenario, Rules: len(rs) - p.idleRules, IdleRules: p.idleRules, Events: n, Keys: p.keys, CPU: p.cpu,
		Bytes: sc.lines.bytes, MBPerSec: float64(sc.lines.bytes) / took.Seconds() / 1e6,
		Seconds:        took.Seconds(),
		EventsPerSec:   nf / took.Seconds(),
		NsPerEvent:     float64(took.Nanoseconds()) / nf,
		CPUNsPerEvent:  float64(cpuTook.Nanoseconds()) / nf,
		AllocsPerEvent: float64(after.Mallocs-before.Mallocs) / nf,
		BytesPerEvent:  float64(after.TotalAlloc-before.TotalAlloc) / nf,
		PeakHeapMiB:    float64(peak) / (1 << 20),
		Alerts:         alerts,
		EngineBusy:     run.EngineBusy.Seconds() / took.Seconds(),
		Stalls:         stalls,
	}
	if len(lat) > 0 {
		res.LatencyP50Us = float64(percentile(lat, 0.50).Nanoseconds()) / 1e3
		res.LatencyP99Us = float64(percentile(lat, 0.99).Nanoseconds()) / 1e3
	}
	if len(latDue) > 0 {
		res.LatencyDueP50Us = float64(percentile(latDue, 0.50).Nanoseconds()) / 1e3
		res.LatencyDueP99Us = float64(percentile(latDue, 0.99).Nanoseconds()) / 1e3
	}
	stateBytes := int64(held.HeapAlloc) - int64(before.HeapAlloc)
	extra := map[string]any{"state_heap_mib": float64(stateBytes) / (1 << 20), "engine_build_seconds": buildTook.Seconds()}
	cycles, share := gcBetween(gcStart, *gcEnd)
	extra["gc_cycles"] = cycles
	if cycles > 0 {
		extra["gc_cpu_share"] = share
	}
	if live.Partials > 0 {
		extra["live_partials"] = live.Partials
		extra["partial_bytes_estimate"] = live.PartialBytes
		extra["bytes_per_partial_estimate"] = float64(live.PartialBytes) / float64(live.Partials)
	}
	if p.scenario == "aggregate" {
		extra["state_bytes_per_key"] = float64(stateBytes) / float64(p.keys)
	}
	if store != nil {
		extra["checkpoints"] = run.Checkpoints
		extra["checkpoint_interval"] = p.checkpoint.String()
		if c := run.LastCheckpoint; c != nil {
			extra["checkpoint_bytes"] = c.Bytes
			extra["checkpoint_snapshot_seconds"] = c.Snapshot.Seconds()
			extra["checkpoint_seconds"] = c.Took.Seconds()
		}
		if redisStore != nil {
			benchRedisStats(redisStore, extra)
		}
		restore, err := timeRestore(rs, p, store, a)
		if err != nil {
			return exitWith(exitRuntime, "restore: %v", err)
		}
		extra["restore_seconds"] = restore.Seconds()
	}
	if m := src.Counts().Malformed.Load(); m > 0 {
		extra["malformed_lines"] = m
	}
	extra["decoders"] = decoders
	extra["projected"] = spec.Decoder.Project != nil
	extra["prepared"] = p.prepare
	extra["screened"] = p.screen
	if n := src.Counts().Screened.Load(); n > 0 {
		extra["screened_out"] = n
	}
	extra["shards"] = max(p.shards, 1)
	res.Extra = extra
	if p.trace != "" {
		t, err := readBenchTrace(p.trace, p.traceWait)
		if err != nil {
			return exitWith(exitRuntime, "--trace: %v", err)
		}
		res.Trace = t
	}
	if p.compare {
		goruntime.GC()
		hw, err := runHandwritten(p, sc, matches)
		if err != nil {
			return exitWith(exitRuntime, "%v", err)
		}
		hw.WallRatio = res.Seconds / hw.Seconds
		hw.CPURatio = float64(cpuTook.Nanoseconds()) / float64(hw.CPUSeconds*1e9)
		res.Handwritten = hw
	}
	if p.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	idle := ""
	if res.IdleRules > 0 {
		idle = fmt.Sprintf(" (and %d idle)", res.IdleRules)
	}
	fmt.Fprintf(a.stdout, "scenario %s: %d rules%s, %d events, GOMAXPROCS=%d\n", res.Scenario, res.Rules, idle, res.Events, res.CPU)
	fmt.Fprintf(a.stdout, "  %.0f events/s (%.1f MB/s), %.0f ns/event (%.0f CPU ns/event), %.1f allocs/event, %.0f B/event, peak heap %.1f MiB, %d alerts\n",
		res.EventsPerSec, res.MBPerSec, res.NsPerEvent, res.CPUNsPerEvent, res.AllocsPerEvent, res.BytesPerEvent, res.PeakHeapMiB, res.Alerts)
	fmt.Fprintf(a.stdout, "  engine busy %.0f%% of the run\n", 100*res.EngineBusy)
	if hw := res.Handwritten; hw != nil {
		fmt.Fprintf(a.stdout, "  hand-written scanner: %.3f s (%.3f CPU s), %.0f events/s, %d matches, identical: %v\n", hw.Seconds, hw.CPUSeconds, hw.EventsPerSec, hw.Matches, hw.Identical)
		fmt.Fprintf(a.stdout, "  cep / scanner: %.2f× wall time, %.2f× CPU time\n", hw.WallRatio, hw.CPURatio)
	}
	if res.LatencyP50Us > 0 {
		fmt.Fprintf(a.stdout, "  latency from event to alert: p50 %.1f µs, p99 %.1f µs\n", res.LatencyP50Us, res.LatencyP99Us)
	}
	if res.LatencyDueP50Us > 0 {
		fmt.Fprintf(a.stdout, "  from the event's due time: p50 %.1f µs, p99 %.1f µs\n", res.LatencyDueP50Us, res.LatencyDueP99Us)
	}
	if s := res.Stalls; s != nil {
		fmt.Fprintf(a.stdout, "  machine stalls, one thread spinning %.1f s before the run: %.1f%% of its time lost, %d gaps over 100 µs (%d over 1 ms), longest %.0f µs; a consumer taking no time would have a p99 of %.1f µs\n",
			s.Seconds, 100*s.Share, s.Over100us, s.Over1ms, s.LongestUs, s.FloorP99Us)
		if s.Wakes > 0 {
			fmt.Fprintf(a.stdout, "  machine wake-ups: a goroutine handed a value after waiting %v on an idle processor ran p50 %.1f µs, p99 %.1f µs later (%d hand-overs)\n",
				wakeIdle, s.WakeP50Us, s.WakeP99Us, s.Wakes)
		}
	}
	if t := res.Trace; t != nil {
		printBenchTrace(a.stdout, t)
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
		sc.rules = append(sc.rules, merchantWatch(fmt.Sprint("bench.watch-", i), "payments", i*merchants/p.rules, 900+i%50))
	}
	for i := range p.idleRules {
		sc.rules = append(sc.rules, merchantWatch(fmt.Sprint("bench.idle-", i), "idle", i%merchants, 900+i%50))
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
		sc.add(line)
	}
	return sc
}

// merchantWatch is a rule of the filter scenario: an approval above a
// threshold at one merchant, in stream.
func merchantWatch(id, stream string, merchant, threshold int) string {
	return fmt.Sprintf(`id: %s
title: Watched merchant %d, large approval
severity: medium
streams: [%s]
by: [event.card_id]
match: event.type == "card_auth" && event.merchant == "m-%05d" && event.result == "approved" && event.amount > %d.0
alert:
  fields:
    card: event.card_id
    amount: event.amount
`, id, merchant, stream, merchant, threshold)
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
		sc.add(line)
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
		sc.add(line)
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

// benchSource reads the scenario's lines as cep run reads a file: a
// file source decoding on several goroutines, whose batches
// it passes on, noting when each is handed over (for latency) and, with
// rate, holding each back until its time. With hold it stays open after
// its last line until stopped, as a service's source does.
type benchSource struct {
	spec      source.Spec
	path      string
	handovers *handoverLog
	hold      bool
	rate      float64
	counts    source.Counters
}

func (s *benchSource) Name() string             { return s.spec.Name }
func (s *benchSource) Streams() []string        { return []string{s.spec.Stream} }
func (s *benchSource) Counts() *source.Counters { return &s.counts }
func (s *benchSource) Run(ctx context.Context, _ source.Positions, out chan<- source.Batch) error {
	in := &source.File{Spec: s.spec, Path: s.path}
	ch := make(chan source.Batch, 2)
	errc := make(chan error, 1)
	go func() { errc <- in.Run(ctx, nil, ch) }()
	start := time.Now()
	sent := 0
	for {
		var b source.Batch
		select {
		case b = <-ch:
		case <-ctx.Done():
			return nil
		}
		// The restore that is timed after a service run reads the
		// checkpoints without this source: keep positions out of them.
		b.Pos = nil
		end := b.End
		if end && s.hold {
			b.End = false
		}
		// Paced, events go in small batches at their due times, as they
		// would arrive from a network source at that rate.
		step := max(1, len(b.Events))
		if s.rate > 0 {
			step = max(1, int(s.rate/20000))
		}
		for i := 0; i == 0 || i < len(b.Events); i += step {
			part := b
			if i+step < len(b.Events) {
				part.Events, part.End = b.Events[i:i+step], false
			} else {
				part.Events = b.Events[i:]
			}
			var due int64
			if s.rate > 0 && len(part.Events) > 0 {
				at := start.Add(time.Duration(float64(sent+len(part.Events)) / s.rate * float64(time.Second)))
				paceUntil(at)
				due = at.UnixNano()
			}
			sent += len(part.Events)
			if s.handovers != nil && len(part.Events) > 0 {
				s.handovers.add(part.Events[0].Seq, time.Now().UnixNano(), due)
			}
			select {
			case out <- part:
			case <-ctx.Done():
				return nil
			}
		}
		if end {
			c := in.Counts()
			s.counts.Events.Store(c.Events.Load())
			s.counts.Malformed.Store(c.Malformed.Load())
			s.counts.Lines.Store(c.Lines.Load())
			s.counts.Bytes.Store(c.Bytes.Load())
			s.counts.Screened.Store(c.Screened.Load())
			err := <-errc
			if s.hold {
				<-ctx.Done()
			}
			return err
		}
	}
}

// An emission is an alert's last event's line and when the alert came.
type emission struct {
	line uint64
	at   int64
}

// A handoverLog keeps when each batch of events was handed over, by the
// number of its first event: the source numbers a file's events one after
// the other, so a batch is a run of numbers. A stamp for every event cost
// the filter scenario a twentieth of its CPU (a store for each event into
// an array of them all, faulted in as the run went), which the
// hand-written scanner it is compared with does not pay.
type handoverLog struct {
	mu sync.Mutex
	hs []handover
}

type handover struct {
	first uint64 // the number of the batch's first event
	// at is when the batch was handed over; due, for a paced source,
	// when it was due, which it was handed over at or after.
	at, due int64
}

// add notes a batch whose first event is numbered first; batches come in
// the order of their numbers.
func (l *handoverLog) add(first uint64, at, due int64) {
	l.mu.Lock()
	l.hs = append(l.hs, handover{first, at, due})
	l.mu.Unlock()
}

// of returns the hand-over of the batch that held the event numbered seq.
func (l *handoverLog) of(seq uint64) (handover, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := batchOf(l.hs, seq, func(h handover) uint64 { return h.first })
	if i < 0 {
		return handover{}, false
	}
	return l.hs[i], true
}

// batchOf returns the index of the batch that holds the event (or line)
// numbered n among batches in the order of their first numbers: the last
// whose first is at or below n; -1 when there is none.
func batchOf[B any](batches []B, n uint64, first func(B) uint64) int {
	i, found := slices.BinarySearchFunc(batches, n, func(b B, n uint64) int { return cmp.Compare(first(b), n) })
	if !found {
		i--
	}
	return i
}

// paceUntil waits until t. A timer wakes a sleeper a millisecond late at
// best on some machines (1.1 ms for any sleep under that on the CI VM),
// which turned a paced source's steady rate into bursts of a
// millisecond's events: the last waited for the others, and the latency
// measured was the burst's. So the last stretch is spent yielding the
// processor, which lets the engine and the decoders run meanwhile.
func paceUntil(t time.Time) {
	const timerSlack = 2 * time.Millisecond
	if d := time.Until(t); d > timerSlack {
		time.Sleep(d - timerSlack)
	}
	for time.Now().Before(t) {
		goruntime.Gosched()
	}
}

// lateFor is the scenario's late-event policy: input out of time order
// (recorded telemetry) is processed, not dropped.
func lateFor(sc benchScenario) string {
	if sc.late {
		return correlate.LateProcess
	}
	return ""
}

// benchSink counts alerts as they come; they are done at once.
type benchSink struct {
	onAlert func(*alert.Alert)
}

func (s *benchSink) Send(_ context.Context, a *alert.Alert) error { s.onAlert(a); return nil }
func (s *benchSink) Mark() uint64                                 { return 0 }
func (s *benchSink) Wait(context.Context, uint64) error           { return nil }
func (s *benchSink) Close(context.Context) error                  { return nil }

// timeRestore times restoring the newest checkpoint into a new engine.
func timeRestore(rs []*rules.Rule, p benchParams, store state.Store, a *app) (time.Duration, error) {
	rt, err := runtime.New(runtime.Config{
		Mode: runtime.Service, Rules: rs, Store: store, Sink: &benchSink{onAlert: func(*alert.Alert) {}},
		Engine: correlate.Config{AllowedLateness: p.lateness, Logger: a.log}, Log: a.log,
	})
	if err != nil {
		return 0, err
	}
	goruntime.GC()
	start := time.Now()
	if err := rt.Restore(context.Background()); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// writeHeapProfile writes the allocations since the start of the process;
// the untimed generation of lines shows under its own functions.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
