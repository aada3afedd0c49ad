// Package correlate is the engine: it orders events in event time, routes
// them by stream and key to the detectors compiled from rules, keeps their
// state, and turns what they find into alerts.
//
// The engine never reads the wall clock for detection. Event time comes
// from the events; the processing time used to mark a source idle is passed
// in by the caller (cmd/cep), so every test is deterministic.
package correlate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/ml"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// Late-event policies.
const (
	LateDrop    = "drop"
	LateProcess = "process"
	LateCorrect = "correct"
)

// Defaults for Config.
const (
	DefaultAllowedLateness = 5 * time.Second
	DefaultIdleTimeout     = time.Minute
	DefaultCorrectWithin   = time.Hour
)

// Config configures an Engine.
type Config struct {
	// AllowedLateness is how far behind the newest event of its stream an
	// event may arrive and still be processed in order.
	AllowedLateness time.Duration
	// IdleTimeout is the processing time after which a silent stream stops
	// holding back the watermark; 0 disables idleness.
	IdleTimeout time.Duration
	// Late is the policy for events later than that: drop (count and log)
	// or process (out of order). Windowed rules may also correct.
	Late string
	// Streams are declared up front: each holds the watermark back until
	// its first event.
	Streams []string
	// Logger receives counted problems (late events, key errors).
	Logger *slog.Logger
	// Explain, when set, receives a line per step of every detector: why a
	// rule did or did not fire.
	Explain io.Writer
	// ExplainRule limits Explain to one rule id; empty explains all.
	ExplainRule string
	// Limits bound detector state.
	Limits Limits
	// CorrectWithin is how long after a window's end a rule with
	// late: correct still corrects it; default DefaultCorrectWithin.
	CorrectWithin time.Duration
	// Priority weighs severity, score and criticality; the zero value
	// means alert.DefaultPriorityWeights.
	Priority alert.Priority
	// Criticality, when set, gives the criticality (0–1) of the entity an
	// alert's key names, from context data.
	Criticality func(alert.Key) (float64, bool)
	// MaxFuture is how far ahead of its stream's newest event (and, when
	// Push is given the processing time, of the wall clock) an event may
	// be stamped and be believed at once; 0 means DefaultMaxFuture, and
	// a negative value trusts every time. See futureGuard.
	MaxFuture time.Duration
	// Quarantine, when set, receives every event set aside because its
	// time cannot be believed, with the reason.
	Quarantine func(ev *event.Event, why string)
	// MaxBufferBytes bounds the reorder buffer's memory (an estimate);
	// 0 means DefaultMaxBufferBytes.
	MaxBufferBytes int64
	// Prepare, when set, is given the Preparer of every engine made from
	// this configuration: by New, and by Reload once the new engine
	// replaces the old (source.Preparation.Store fits).
	Prepare func(func() func([]*event.Event))
	// Screen, when set, is given the Screens of every engine made from
	// this configuration, as Prepare is given its Preparer
	// (source.Preparation.StoreScreens fits).
	Screen func(func(stream string) *event.Screen)
	// Shards, above one, splits the keys of each sequence, aggregate and
	// join rule that reads nothing but its events among that many
	// detectors, which step in parallel in PushBatch (shard.go); the
	// alerts are the same.
	Shards int
}

// DefaultMaxBufferBytes bounds the reorder buffer unless configured.
const DefaultMaxBufferBytes = 256 << 20

// Limits bound the state the engine keeps; what they shed is counted.
type Limits struct {
	// MaxPartialsPerKey and MaxPartials bound live partial sequence
	// matches per key and in total; the oldest is dropped on overflow.
	MaxPartialsPerKey int
	MaxPartials       int
	// MaxKeys bounds the keys one windowed or joined rule keeps.
	MaxKeys int
	// MaxJoinBuffer bounds the events a join keeps per key and side.
	MaxJoinBuffer int
	// MaxDistinct bounds the values an exact count_distinct keeps per key
	// and window.
	MaxDistinct int
	// MaxJoinMatches bounds the combinations one event can complete in a
	// join; the rest are counted, not emitted.
	MaxJoinMatches int
	// MaxStateBytes bounds the estimated memory of all detector state;
	// past it the largest rules shed their oldest state. 0 is unbounded.
	MaxStateBytes int64
}

// Stats are the engine's counters.
type Stats struct {
	Events      uint64 // events pushed
	Processed   uint64 // events released to detectors
	Late        uint64 // events behind the watermark
	LateDropped uint64
	Alerts      uint64
	Deduped     uint64 // alerts suppressed by alert.dedup
	KeyErrors   uint64 // events whose key could not be computed
	KeyMissing  uint64 // events without a stateful rule's key field
	// LateInWindow counts events that reached a window or join after it
	// had closed; Shed counts events dropped by state limits.
	LateInWindow uint64
	Shed         uint64
	// Quarantined counts events set aside for a time far in the future.
	Quarantined uint64
	// StateShed counts partial matches, window keys and buffered events
	// dropped to keep detector state within its budget; StateBytes is
	// the state's estimated memory at the last look.
	StateShed  uint64
	StateBytes int64
	// ReleasedEarly counts events the reorder buffer let go before the
	// watermark passed them, to stay within its byte budget.
	ReleasedEarly uint64
	// LinesPacked counts the lines of held events packed while the state
	// was past a quarter of its budget (see holder).
	LinesPacked uint64
	// BufferedBytes estimates the reorder buffer's memory.
	BufferedBytes int64
	StateErrors   uint64
	// Partials, PartialBytes, PartialsDropped and PartialsExpired describe
	// the sequence detectors' live partial matches.
	Partials        int
	PartialBytes    int64
	PartialsDropped uint64
	PartialsExpired uint64
	Watermark       int64
	Buffered        int
}

// detector is one compiled rule at run time.
type detector interface {
	rule() *rules.Rule
	// constraints are the equality tests every event the detector can use
	// meets; nil means it must see every event of its streams.
	constraints() []rules.Constraint
	// process takes an event of the detector's streams, with the rule's
	// anomaly z-scores for it when the rule keeps baselines (else nil).
	process(ev *event.Event, anomaly *celenv.Scores)
	// advance tells the detector that every event with time < wm has been
	// processed: windows close and timeouts fire. Only detectors that
	// report timed are advanced, so stateless filters cost nothing here.
	advance(wm int64)
	timed() bool
	// snapshot writes the detector's state for a checkpoint as keyed
	// entries; restore reads one back into a new detector of the same rule.
	snapshot(put func(key string, val []byte) error) error
	restore(key string, val []byte) error
	// stateBytes estimates the memory of the detector's state; shed drops
	// its oldest state until it is at most target, and says how much.
	stateBytes() int64
	shed(target int64) int
}

// Engine runs detectors over events in event-time order. It is not safe for
// concurrent use: one goroutine pushes events and ticks.
type Engine struct {
	cfg     Config
	out     func(*alert.Alert)
	dets    []detector
	timed   []detector
	router  *router
	reorder *reorder
	// detWM is the time every detector has been advanced to.
	detWM   int64
	stats   Stats
	log     *slog.Logger
	explain io.Writer
	// header is the pending explain line of the current event, written
	// before the first line a detector explains about it.
	header string
	// alerts ranks candidate alerts and applies dedup, group and throttle.
	alerts    *alert.Pipeline
	act       rules.Activation
	keyBuf    []any
	dedupBuf  []byte
	scorers   map[*ml.Model]*ml.Scorer
	fvals     []rules.FeatureValue
	feats     []ml.Feature
	baselines map[*rules.Rule]*baselines
	// detBaselines are the baselines of each detector's rule, by the
	// detector's index, nil for most: looked up in baselines for every
	// rule an event was routed to, they were 3% of the CPU with 10,000
	// filter rules, a cache miss on the detector and one in the map.
	detBaselines []*baselines
	online       map[string]*online
	feedback     map[string][]*online
	future       *futureGuard
	// stateBytes is the detectors' estimated memory at the last budget
	// check; sinceCheck counts events released since.
	stateBytes int64
	sinceCheck int
	shedRounds uint64
	byID       map[string]*rules.Rule
	ruleStats  map[string]*RuleStats
	// detStats are the same counters by detector index, for the hot path:
	// one array, so that counting an event for a rule is one cache miss,
	// where a counter of its own for each rule took a pointer's too.
	detStats []RuleStats
	// evaluated are the detectors' Evaluated counts not yet in detStats,
	// counted apart because every event counts one for each candidate rule:
	// 8 bytes a rule stay in the cache where RuleStats' 56 did not (at
	// 10,000 filters the increment was 4% of the CPU, a miss per event).
	evaluated []uint64
	// carried holds counters of the engines a reload replaced.
	carried carried
	// factQ are the facts remembered while the current event is
	// processed, factOf the rule of each (applyFacts).
	factQ  []facts.Write
	factOf []*rules.Rule
	// prefetch reads ahead the facts a batch of events will look up
	// (rules.FactPrefetch); nil when no rule reads facts from Redis.
	prefetch func([]*event.Event)
	batch    []*event.Event
	// prepBy names the engine's preparation of events (prepare.go), 0
	// when it prepares none; prepMask marks the filters it evaluates,
	// prepIndex routes to them (one index for all its preparers), and
	// rest routes to the other detectors.
	prepBy    uint64
	prepMask  []bool
	prepIndex *routeIndex
	// verdicts are the Prepared of the events whose only candidate is
	// one filter, and that no keyed detector reads, two for each
	// detector (verdictOf), and verdictHits their Hits: with many rules
	// most events have one candidate, and its verdict, shared, is not
	// allocated for each. In one array, the engine tells a verdict and
	// its filter by the pointer alone (verdictAt), without reading a
	// Prepared that, with thousands of filters, is a cache miss.
	verdicts    []event.Prepared
	verdictHits []int32
	// detRules is each detector's rule, for touchFiring to reach without
	// waiting on the detector first.
	detRules []*rules.Rule
	// released releases the events nothing keeps once dispatched (see
	// dispatch).
	released event.Releaser
	// mayKeep marks the detectors that may keep an event, or a string of
	// its memory, past its dispatch (see keepPlan); nil marks them all.
	mayKeep []bool
	// unscreened is the Prepared of the events a screen of this engine
	// found no detector for (see Screens).
	unscreened *event.Prepared
	// prepByStream counts the filters prepMask marks by the stream they
	// read (those of every stream in each), prepAllStreams those that
	// read every stream. selfPrep prepares, on the engine's goroutine,
	// the events of a batch the decoders did not (see prepareRest); made
	// on first use.
	prepByStream   map[string]int
	prepAllStreams int
	// prepKeyed is the sequences and aggregates whose keys the decoders
	// work out, nil when none; touching is touchKeys' scratch.
	prepKeyed *keyedPlan
	touching  []keyToucher
	selfPrep  func([]*event.Event)
	unprep    []*event.Event
	// offering is the counters of the rule whose alert emitTo offers
	// to the pipeline, while it does (see deliver).
	offering *RuleStats
	// touched keeps touchFiring's reads from being compiled away; firing
	// is its scratch list of the detectors a batch alerts on.
	touched uintptr
	firing  []int32
	rest    *router
	// packers pack the lines of the events detectors hold, one per
	// stream, shared by the rules (see hold.go), while packing: the state
	// was past 1/packFrom of its budget at the last look.
	packers map[string]*event.Packer
	// packing is read by the decoders too, which then pack the lines of
	// the events a keyed detector may hold as they prepare them. They
	// read it for every such event, so it has a cache line to itself:
	// beside the fields the engine writes for every event it holds, each
	// of those reads missed (1.8% of the sequence scenario's CPU).
	_       [64]byte
	packing atomic.Bool
	_       [64]byte
	// What detectors keep of the events they hold, one copy however many
	// rules hold an event (hold.go).
	held heldCopies
	// holdMu guards held while sharded rules run in parallel.
	holdMu sync.Mutex
	// sharded are the rules split by key (shard.go); steps, what release
	// will do, noted while deferring (in PushBatch) or planning.
	sharded []shardedRule
	// shardIndexed: some sharded rule is reached through the router's
	// index, so planning asks the router.
	shardIndexed bool
	steps        []step
	deferring    bool
	// shardHeld are the copies each shard held in the plan it runs.
	shardHeld []map[*event.Event]*event.Event
	// shardsBusy is set while shards run a plan, which shardWG awaits.
	shardsBusy bool
	shardWG    sync.WaitGroup
}

// New builds an engine for the rules; alerts are passed to out in a
// deterministic order.
func New(rs []*rules.Rule, cfg Config, out func(*alert.Alert)) (*Engine, error) {
	e, err := newEngine(rs, cfg, out)
	if err != nil {
		return nil, err
	}
	e.announce()
	e.logShards()
	return e, nil
}

// announce hands the engine's Preparer to Config.Prepare and its
// Screens to Config.Screen.
func (e *Engine) announce() {
	if e.cfg.Prepare != nil {
		e.cfg.Prepare(e.Preparer())
	}
	if e.cfg.Screen != nil {
		e.cfg.Screen(e.Screens())
	}
}

func newEngine(rs []*rules.Rule, cfg Config, out func(*alert.Alert)) (*Engine, error) {
	if cfg.AllowedLateness < 0 {
		return nil, fmt.Errorf("allowed lateness must not be negative")
	}
	if cfg.Shards < 0 {
		return nil, fmt.Errorf("shards must not be negative, got %d", cfg.Shards)
	}
	switch cfg.Late {
	case "":
		cfg.Late = LateDrop
	case LateDrop, LateProcess:
	default:
		return nil, fmt.Errorf("late must be drop or process, got %q", cfg.Late)
	}
	if cfg.CorrectWithin == 0 {
		cfg.CorrectWithin = DefaultCorrectWithin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:       cfg,
		out:       out,
		reorder:   newReorder(cfg.AllowedLateness, cfg.IdleTimeout, cfg.MaxBufferBytes),
		detWM:     math.MinInt64,
		log:       cfg.Logger,
		explain:   cfg.Explain,
		scorers:   map[*ml.Model]*ml.Scorer{},
		baselines: map[*rules.Rule]*baselines{},
		online:    map[string]*online{},
		feedback:  map[string][]*online{},
		byID:      map[string]*rules.Rule{},
		ruleStats: map[string]*RuleStats{},
	}
	e.alerts = alert.NewPipeline(cfg.Priority, cfg.Criticality, e.deliver)
	e.prefetch = rules.FactPrefetch(rs)
	switch {
	case cfg.MaxFuture == 0:
		e.future = &futureGuard{max: int64(DefaultMaxFuture), pending: map[string]*suspects{}}
	case cfg.MaxFuture > 0:
		e.future = &futureGuard{max: int64(cfg.MaxFuture), pending: map[string]*suspects{}}
	}
	for _, s := range cfg.Streams {
		e.reorder.declare(s)
	}
	for range cfg.Shards {
		e.shardHeld = append(e.shardHeld, map[*event.Event]*event.Event{})
	}
	e.detStats = make([]RuleStats, len(rs))
	e.evaluated = make([]uint64, len(rs))
	for i, r := range rs {
		d, err := e.newDetector(r)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		e.dets = append(e.dets, d)
		e.detRules = append(e.detRules, r)
		switch q := d.(type) {
		case *sequence:
			q.det = int32(len(e.dets) - 1)
		case *aggregate:
			q.det = int32(len(e.dets) - 1)
		}
		if sr, ok := d.(shardedRule); ok {
			e.sharded = append(e.sharded, sr)
			sr.calls().det = len(e.dets) - 1
			e.shardIndexed = e.shardIndexed || len(d.constraints()) > 0
		}
		if d.timed() {
			e.timed = append(e.timed, d)
		}
		var bl *baselines
		if len(r.Baselines) > 0 {
			bl = newBaselines(r)
			e.baselines[r] = bl
		}
		e.detBaselines = append(e.detBaselines, bl)
		e.byID[r.ID] = r
		e.ruleStats[r.ID] = &e.detStats[i]
		h := alert.Handling{Dedup: r.Dedup}
		if g := r.Group; g != nil {
			h.Group = &alert.Group{By: g.By, For: g.For}
		}
		if t := r.Throttle; t != nil {
			h.Throttle = &alert.Throttle{Max: t.Max, Per: t.Per}
		}
		e.alerts.Add(r.ID, h)
		if f, ok := d.(*filter); ok {
			f.handle, f.stats = e.alerts.Handle(r.ID), &e.detStats[i]
		}
	}
	if err := e.prepareOnline(); err != nil {
		return nil, err
	}
	e.router = newRouter(newRouteIndex(e.dets, nil, cfg.Explain != nil))
	e.unscreened = &event.Prepared{}
	e.preparePlan()
	e.keepPlan()
	e.buildRoutes()
	return e, nil
}

// buildRoutes builds, in every index the engine routes by, the route of
// each stream a rule names, which would otherwise be built on the
// stream's first event. At 10,000 rules an index took about 0.1 s of a
// core to build, and the first events, and the decoders' screens,
// waited for it; a reload, which makes a new engine, now pays it before
// the new rules take over. A stream no rule names (read by rules that
// name none) still has its route built on first use.
func (e *Engine) buildRoutes() {
	var streams []string
	for _, d := range e.dets {
		streams = append(streams, d.rule().Streams...)
	}
	slices.Sort(streams)
	streams = slices.Compact(streams)
	idxs := []*routeIndex{e.router.idx}
	if e.prepIndex != nil && e.prepIndex != e.router.idx {
		idxs = append(idxs, e.prepIndex)
	}
	if e.rest != nil && e.rest != e.router {
		idxs = append(idxs, e.rest.idx)
	}
	for _, ix := range idxs {
		ix.streamsOf(streams)
	}
}

func (e *Engine) newDetector(r *rules.Rule) (detector, error) {
	if e.shardable(r) {
		return e.newShardedRule(r)
	}
	switch r.Kind {
	case rules.KindMatch:
		return &filter{e: e, r: r, match: r.Match}, nil
	case rules.KindAggregate:
		return e.newAggregate(r)
	case rules.KindJoin:
		return e.newJoin(r)
	case rules.KindSequence:
		return e.newSequence(r)
	}
	return nil, fmt.Errorf("%s rules are not supported by this engine", r.Kind)
}

// Push hands the engine one event; now is the processing time, used only
// to tell idle sources and events stamped in the future (zero in a replay).
func (e *Engine) Push(ev *event.Event, now time.Time) {
	e.stats.Events++
	if e.future == nil {
		e.push(ev, now)
		return
	}
	if e.future.plain(ev, e.reorder, now) {
		e.push(ev, now)
		return
	}
	admit, bad, why := e.future.offer(ev, e.reorder, now)
	for _, q := range bad {
		e.quarantine(q, why)
	}
	for _, a := range admit {
		e.push(a, now)
	}
}

// quarantine sets aside an event whose time cannot be trusted.
func (e *Engine) quarantine(ev *event.Event, why string) {
	e.flushSteps()
	e.stats.Quarantined++
	if logged(e.stats.Quarantined) {
		e.logCounted(e.stats.Quarantined, "event quarantined: its time is not believable", "stream", ev.Stream, "id", ev.ID, "line", ev.Line, "time", ev.Timestamp(), "why", why)
	}
	if e.cfg.Quarantine != nil {
		e.cfg.Quarantine(ev, why)
	}
}

func (e *Engine) push(ev *event.Event, now time.Time) {
	if !e.reorder.add(ev, now) {
		// A late event is dispatched now, after what was released before.
		e.flushSteps()
		e.stats.Late++
		taken, kept := e.dispatchLate(ev)
		if !taken {
			e.stats.LateDropped++
			if logged(e.stats.LateDropped) {
				e.logCounted(e.stats.LateDropped, "late event dropped (older than the watermark; raise allowed_lateness or set late: process)",
					"stream", ev.Stream, "id", ev.ID, "line", ev.Line, "time", ev.Timestamp(), "watermark", time.Unix(0, e.reorder.wm).UTC())
			}
		}
		if !kept {
			// As in dispatch: a late event nothing keeps was left in
			// its slab, and each slab kept for the collector meant a
			// fresh one for the decoder (out-of-order Windows logs:
			// 40% of the events).
			e.releaseEvent(ev)
		}
		return
	}
	e.release(e.reorder.advance())
	for e.reorder.overBudget() {
		e.stats.ReleasedEarly++
		if logged(e.stats.ReleasedEarly) {
			e.logCounted(e.stats.ReleasedEarly, "reorder buffer over its byte budget: its oldest events are released before every stream has passed them; events of the stream holding event time back may now arrive late",
				"slowest_stream", e.reorder.laggard(), "buffered_bytes", e.reorder.bytes, "max_buffer_bytes", e.reorder.maxBytes)
		}
		e.release(e.reorder.forceOldest())
	}
}

// Tick lets the engine mark idle streams at processing time now.
func (e *Engine) Tick(now time.Time) {
	if e.future != nil {
		for _, s := range e.future.stale(now, e.cfg.IdleTimeout) {
			for _, ev := range e.future.release(s) {
				e.push(ev, now)
			}
		}
	}
	e.reorder.tick(now)
	e.release(e.reorder.advance())
}

// EndStream says a stream will deliver no more events.
func (e *Engine) EndStream(stream string) {
	if e.future != nil {
		for _, ev := range e.future.release(stream) {
			e.push(ev, time.Time{})
		}
	}
	e.reorder.finish(stream)
	e.release(e.reorder.advance())
}

// Close ends the input: every buffered event is processed and event time
// runs to the end, so every pending window and timeout fires.
func (e *Engine) Close() {
	if e.future != nil {
		for _, s := range sortedKeys(e.future.pending) {
			for _, ev := range e.future.release(s) {
				e.push(ev, time.Time{})
			}
		}
	}
	e.release(MaxTime)
	e.reorder.wm = MaxTime
	e.released.Flush()
}

// RuleStats are one rule's counters.
type RuleStats struct {
	// Evaluated counts events handed to the rule's detector.
	Evaluated uint64
	// Alerts counts alerts delivered (after dedup, group and throttle);
	// Shadow those of them marked shadow (status: experimental).
	Alerts, Shadow uint64
	// Shed counts events its state limits dropped.
	Shed uint64
	// Bytes estimates the memory of its detector's state; ShedBytes is
	// what the state budget made it drop, in ShedItems partial matches,
	// window keys or buffered events.
	Bytes                int64
	ShedBytes, ShedItems uint64
}

// RuleStats returns every rule's counters by rule id.
func (e *Engine) RuleStats() map[string]RuleStats {
	out := make(map[string]RuleStats, len(e.ruleStats))
	for id, s := range e.ruleStats {
		out[id] = *s
	}
	for i, d := range e.dets {
		s := out[d.rule().ID]
		s.Evaluated += e.evaluated[i]
		s.Bytes = d.stateBytes()
		out[d.rule().ID] = s
	}
	return out
}

// foldEvaluated moves the Evaluated counts kept apart into detStats.
func (e *Engine) foldEvaluated() {
	for i, n := range e.evaluated {
		e.detStats[i].Evaluated += n
		e.evaluated[i] = 0
	}
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Watermark = e.reorder.wm
	s.Buffered = e.reorder.buffered()
	s.BufferedBytes = e.reorder.bytes
	s.StateBytes = e.stateBytes
	s.Deduped = e.alerts.Deduplicated() + e.carried.deduped
	for _, pk := range e.packers {
		s.LinesPacked += pk.Packed()
	}
	q := e.sequenceStats()
	s.Partials, s.PartialBytes = q.Partials, q.Bytes
	s.PartialsDropped, s.PartialsExpired = q.DroppedPerKey+q.DroppedTotal+e.carried.partialsDropped, q.Expired+e.carried.partialsExpired
	return s
}

func (e *Engine) release(wm int64) {
	if e.sharded != nil {
		e.releaseSteps(wm)
		return
	}
	if e.prefetch != nil {
		e.releaseBatches(wm)
		return
	}
	for {
		ev := e.reorder.pop(wm)
		if ev == nil {
			break
		}
		if ev.Time > e.detWM {
			e.advanceDetectors(ev.Time)
		}
		e.dispatch(ev)
	}
	if wm > e.detWM {
		e.advanceDetectors(wm)
	}
}

// prefetchBatch is how many released events share one prefetch of facts.
const prefetchBatch = 512

// releaseBatches releases as release does, in batches whose facts are
// read ahead in one round trip per batch: rules that read facts from
// Redis then find them in the cache.
func (e *Engine) releaseBatches(wm int64) {
	for {
		e.batch = e.batch[:0]
		for len(e.batch) < prefetchBatch {
			ev := e.reorder.pop(wm)
			if ev == nil {
				break
			}
			e.batch = append(e.batch, ev)
		}
		if len(e.batch) == 0 {
			break
		}
		e.prefetch(e.batch)
		for i, ev := range e.batch {
			if ev.Time > e.detWM {
				e.advanceDetectors(ev.Time)
			}
			e.dispatch(ev)
			e.batch[i] = nil
		}
	}
	if wm > e.detWM {
		e.advanceDetectors(wm)
	}
}

func (e *Engine) advanceDetectors(wm int64) {
	e.detWM = wm
	for _, d := range e.timed {
		d.advance(wm)
	}
	e.alerts.Advance(wm)
	for _, bl := range e.baselines {
		bl.expire(wm)
	}
	e.applyFacts()
}

func (e *Engine) dispatch(ev *event.Event) {
	e.stats.Processed++
	if e.sinceCheck++; e.sinceCheck >= checkBudgetEvery {
		e.sinceCheck = 0
		e.enforceBudget()
	}
	if e.explain != nil {
		e.header = fmt.Sprintf("event %s stream=%s time=%s line=%d", ev.ID, ev.Stream, ev.Timestamp().Format(time.RFC3339Nano), ev.Line)
	}
	learners := e.feedback[ev.Stream]
	for _, o := range learners {
		e.learn(o, ev)
	}
	// kept is whether a detector that may keep the event (mayKeep) saw
	// it, or a model learned from it: only such a reader may keep the
	// event, or a string of its line, past its dispatch.
	kept := len(learners) > 0
	switch {
	case ev.Prepared == e.unscreened:
		// The router would find no detector: the screen asked it.
	case e.preparedHere(ev.Prepared):
		kept = e.dispatchPrepared(ev) || kept
	default:
		for _, i := range e.router.route(ev) {
			kept = kept || e.keeps(i)
			e.processIn(i, ev)
		}
	}
	e.applyFacts()
	if !kept {
		// Nothing reads the event again, so its decoder may reuse its
		// memory.
		e.releaseEvent(ev)
	}
}

// releaseEvent releases an event nothing keeps (see dispatch). The held
// copy made of it last is forgotten: the next event may be decoded at
// the same address.
func (e *Engine) releaseEvent(ev *event.Event) {
	if e.held.last == ev {
		e.held.last, e.held.lastCopy = nil, nil
	}
	e.released.Release(ev)
}

// processIn hands ev to one detector, with the rule's anomaly z-scores when
// it has baselines; the baselines learn the event after the detector has
// seen it, so an event is never compared with itself.
func (e *Engine) processIn(i int, ev *event.Event) {
	d := e.dets[i]
	e.evaluated[i]++
	bl := e.detBaselines[i]
	if bl == nil {
		d.process(ev, nil)
		return
	}
	anomaly := bl.score(e, ev)
	if e.explaining(d.rule()) {
		e.explainf(d.rule(), "anomaly %s", anomaly)
	}
	d.process(ev, anomaly)
	bl.update(ev)
}

// lateFor is the late-event policy of a rule: its own, or the engine's.
func (e *Engine) lateFor(r *rules.Rule) string {
	if r.Late != "" {
		return r.Late
	}
	return e.cfg.Late
}

// dispatchLate hands a late event to the detectors whose rules take late
// events (late: process or correct); it reports whether any did, and
// whether any that may keep the event saw it (see dispatch).
//
// Windows and joins judge lateness themselves, per window and per buffer
// as Flink does: an event behind the watermark still counts while its
// window is open (or its join buffer can still meet it), whatever the
// rule's late policy. Sequences and filters take late events only under
// late: process or correct, since their order matters.
func (e *Engine) dispatchLate(ev *event.Event) (taken, kept bool) {
	if ev.Prepared == e.unscreened {
		e.applyFacts()
		return false, false
	}
	if e.preparedHere(ev.Prepared) {
		return e.dispatchLatePrepared(ev)
	}
	for _, i := range e.router.route(ev) {
		kept = kept || e.keeps(i)
		taken = e.processLate(i, ev) || taken
	}
	if taken {
		e.stats.Processed++
	}
	e.applyFacts()
	return taken, kept
}

// processLate hands a late event to detector i when its rule takes it,
// and reports whether it did.
func (e *Engine) processLate(i int, ev *event.Event) bool {
	d := e.dets[i]
	judges := false
	switch d.(type) {
	case *aggregate, *shardedAggregate, *joinDet, *shardedJoin:
		judges = true
	}
	if !judges && e.lateFor(d.rule()) == LateDrop {
		return false
	}
	before := e.stats.LateInWindow
	e.processIn(i, ev)
	// When its window had closed, the detector did not use it.
	return !judges || e.lateFor(d.rule()) != LateDrop || e.stats.LateInWindow == before
}

// keyFailed counts an event a rule skipped because its key failed.
func (e *Engine) keyFailed(r *rules.Rule, ev *event.Event) {
	e.stats.KeyErrors++
	if logged(e.stats.KeyErrors) {
		e.logCounted(e.stats.KeyErrors, "event skipped by a rule: its key could not be computed", "rule", r.ID, "stream", ev.Stream, "id", ev.ID, "error", r.Health.LastError())
	}
	if e.explaining(r) {
		e.explainf(r, "key could not be computed: %s", r.Health.LastError())
	}
}

// lateInWindow counts an event that reached a windowed detector after its
// window had been emitted (and could not be corrected).
func (e *Engine) lateInWindow(r *rules.Rule, ev *event.Event) {
	e.stats.LateInWindow++
	if logged(e.stats.LateInWindow) {
		e.logCounted(e.stats.LateInWindow, "late event not counted in an already emitted window (set late: correct on the rule to emit corrections)",
			"rule", r.ID, "stream", ev.Stream, "id", ev.ID, "time", ev.Timestamp())
	}
	if e.explaining(r) {
		e.explainf(r, "event %s is late for its window", ev.ID)
	}
}

// stateError counts a failure of the state store; the event's effect on
// that rule is lost, and said so.
func (e *Engine) stateError(r *rules.Rule, err error) {
	e.stats.StateErrors++
	if logged(e.stats.StateErrors) {
		e.logCounted(e.stats.StateErrors, "state store error: the rule's state for this event is lost", "rule", r.ID, "error", err.Error())
	}
}

// shed counts an event a detector could not keep because of a limit.
func (e *Engine) shed(r *rules.Rule, ev *event.Event, why string) {
	e.ruleStats[r.ID].Shed++
	e.stats.Shed++
	if logged(e.stats.Shed) {
		e.logCounted(e.stats.Shed, "event shed by a state limit", "rule", r.ID, "stream", ev.Stream, "id", ev.ID, "why", why)
	}
	if e.explaining(r) {
		e.explainf(r, "event %s shed: %s", ev.ID, why)
	}
}

// emit hands a candidate alert to the alert pipeline.
func (e *Engine) emit(r *rules.Rule, a *alert.Alert, dedupKey string) {
	e.emitTo(r, e.alerts.Handle(r.ID), nil, a, dedupKey)
}

// emitTo is emit with the rule's alert handling (alert.Pipeline.Handle)
// and counters, which the caller kept rather than have each alert look
// them up by the rule's id: a filter, of which there may be thousands.
// Without counters (rs nil), deliver looks them up.
func (e *Engine) emitTo(r *rules.Rule, rh *alert.RuleHandle, rs *RuleStats, a *alert.Alert, dedupKey string) {
	if !r.Emits() {
		return
	}
	// What the pipeline delivers while it takes this alert is of this
	// rule (alert.Pipeline.OfferTo).
	e.offering = rs
	o := e.alerts.OfferTo(rh, a, dedupKey)
	e.offering = nil
	if o != alert.Delivered && e.explaining(r) {
		e.explainf(r, "alert %s %s", a.ID, o)
	}
}

// deliver receives what the alert pipeline lets through.
func (e *Engine) deliver(a *alert.Alert) {
	e.stats.Alerts++
	rs := e.offering
	if rs == nil {
		rs = e.ruleStats[a.Rule]
	}
	if rs != nil {
		rs.Alerts++
		if a.Shadow {
			rs.Shadow++
		}
	}
	// At 10,000 rules a lookup by rule id is a cache miss: only when
	// explaining.
	if e.explain != nil {
		if r := e.byID[a.Rule]; r != nil && e.explaining(r) {
			e.explainf(r, "ALERT %s at %s", a.ID, a.Time.Format(time.RFC3339Nano))
		}
	}
	e.out(a)
}

// explaining reports whether lines about r are wanted.
func (e *Engine) explaining(r *rules.Rule) bool {
	return e.explain != nil && (e.cfg.ExplainRule == "" || e.cfg.ExplainRule == r.ID)
}

func (e *Engine) explainf(r *rules.Rule, format string, args ...any) {
	if !e.explaining(r) {
		return
	}
	if e.header != "" {
		fmt.Fprintln(e.explain, e.header)
		e.header = ""
	}
	fmt.Fprintf(e.explain, "  %s: "+format+"\n", append([]any{r.ID}, args...)...)
}

// logged reports whether the nth occurrence of a counted problem is
// logged: the 1st, 10th, 100th, … Callers test it before building the
// log line's arguments, which would otherwise be allocated for every
// occurrence, logged or not: a stream of late events paid two
// allocations each for a line written a few times.
func logged(n uint64) bool {
	for p := uint64(1); p <= n; p *= 10 {
		if p == n {
			return true
		}
		if p > n/10 {
			return false
		}
	}
	return false
}

// logCounted logs the nth occurrence of a counted problem, with its
// count; see logged.
func (e *Engine) logCounted(n uint64, msg string, args ...any) {
	e.log.Warn(msg, append(args, "count", n)...)
}

// keyOf computes a filter rule's key for ev, in into's memory when it
// has room, and with dedup the string its dedup is keyed by. A missing
// key field gives a null part: the condition matched, so the alert
// stands. A failing key expression is counted and skips the event for
// the rule.
func (e *Engine) keyOf(r *rules.Rule, ev *event.Event, into alert.Key, dedup bool) (alert.Key, string, bool) {
	vals, st := r.KeyOf(ev, &e.act, e.keyBuf)
	e.keyBuf = vals
	if st == rules.KeyError {
		e.keyFailed(r, ev)
		return nil, "", false
	}
	// Only a rule's dedup reads the encoded key, and most rules have
	// no alert handling at all: it is not made for them.
	var k string
	if dedup {
		e.dedupBuf = encodeKey(e.dedupBuf[:0], vals)
		k = string(e.dedupBuf)
	}
	return makeKeyIn(into, r.KeyNames, vals), k, true
}

// encodedKey appends to buf the encoded key (encodeKey's bytes) a stateful
// detector partitions ev by; false when the event has none (see
// partitionKey). A key of plain fields holding strings, numbers or
// booleans is written straight from the event, which saves boxing each
// value on the hot path of sequences and windows.
func (e *Engine) encodedKey(r *rules.Rule, ev *event.Event, buf []byte) ([]byte, bool) {
	if b, ok := plainKey(r, ev, buf); ok {
		return b, true
	}
	// The slow path counts and explains a key that is not there.
	return e.slowKey(r, ev, buf)
}

// plainKey is encodedKey for a key of plain fields holding strings,
// numbers or booleans; false for any other, which encodedKey leaves to
// slowKey. It reads nothing but the event, so the decoders may call it
// (prepare.go).
func plainKey(r *rules.Rule, ev *event.Event, buf []byte) ([]byte, bool) {
	progs := r.KeyPrograms(ev.Stream)
	b := append(buf[:0], '[')
	for i, p := range progs {
		path := p.Path()
		if path == nil {
			return buf[:0], false
		}
		v, ok := ev.Path(path...)
		if !ok {
			return buf[:0], false
		}
		if i > 0 {
			b = append(b, ',')
		}
		switch v.Kind() {
		case event.String:
			b = jsonx.AppendString(b, v.Str())
		case event.Number:
			var err error
			if b, err = jsonx.AppendFloat(b, v.Num(), 64); err != nil {
				return buf[:0], false
			}
		case event.Bool:
			b = strconv.AppendBool(b, v.Bool())
		default:
			return buf[:0], false
		}
	}
	return append(b, ']'), true
}

func (e *Engine) slowKey(r *rules.Rule, ev *event.Event, buf []byte) ([]byte, bool) {
	vals, ok := e.partitionKey(r, ev, r.KeyOf)
	if !ok {
		return buf[:0], false
	}
	return encodeKey(buf[:0], vals), true
}

// partitionKey computes the key a stateful detector partitions by. An
// event without the key's field concerns no entity of the rule: it is
// counted (KeyMissing) and skipped, without a warning, as events of other
// kinds share streams. A failing key expression is an error.
func (e *Engine) partitionKey(r *rules.Rule, ev *event.Event, keyOf func(*event.Event, *rules.Activation, []any) ([]any, rules.KeyStatus)) ([]any, bool) {
	vals, st := keyOf(ev, &e.act, e.keyBuf)
	e.keyBuf = vals
	switch st {
	case rules.KeyMissing:
		e.stats.KeyMissing++
		if e.explaining(r) {
			e.explainf(r, "event %s has no key field: not for this rule", ev.ID)
		}
		return nil, false
	case rules.KeyError:
		e.keyFailed(r, ev)
		return nil, false
	}
	return vals, true
}

// makeKeyIn makes the alert key of names and their values, in into's
// memory when it has room.
func makeKeyIn(into alert.Key, names []string, vals []any) alert.Key {
	if len(names) == 0 {
		return alert.Key{}
	}
	key := into[:0]
	if cap(key) < len(vals) {
		key = make(alert.Key, 0, len(vals))
	}
	for i, v := range vals {
		key = append(key, alert.KeyPart{Expr: names[i], Value: v})
	}
	return key
}

// alertBlock is an alert with its id's bytes and room for a key of one
// part and one piece of evidence: a filter's alert, the commonest, in
// one allocation where it took four. At 10,000 rules, where one event in
// eighteen alerts, allocating was three fifths of building an alert.
type alertBlock struct {
	a   alert.Alert
	id  [alert.IDLen]byte
	key [1]alert.KeyPart
	ev  [1]alert.Evidence
}

// newAlert builds an alert of r; act must bind what the rule's alert
// fields read.
func (e *Engine) newAlert(r *rules.Rule, key alert.Key, t int64, evidence []alert.Evidence, act rules.Vars, idExtra ...string) *alert.Alert {
	return e.fillAlert(new(alertBlock), r, key, t, evidence, act, idExtra...)
}

// fillAlert is newAlert in b, a new block (its alert is zero), whose key
// and evidence may hold key and evidence.
func (e *Engine) fillAlert(b *alertBlock, r *rules.Rule, key alert.Key, t int64, evidence []alert.Evidence, act rules.Vars, idExtra ...string) *alert.Alert {
	alert.PutID(&b.id, r.ID, key, evidence, idExtra...)
	a := &b.a
	// Set field by field where it stays: an alert.Alert literal was built
	// on the stack and copied into the block, sixteen bytes at a time
	// over its fields' eight-byte stores (loads the processor cannot
	// forward from its store buffer).
	a.ID = unsafe.String(&b.id[0], len(b.id)) // its bytes are never written again
	a.Rule, a.RuleVersion, a.Title = r.ID, r.VersionLabel(), r.Title
	a.Severity, a.Tags = alert.Severity(r.Severity), r.Tags
	a.Time = time.Unix(0, t).UTC()
	a.Key, a.Events, a.Fields = key, evidence, map[string]any{}
	a.Shadow = r.Shadow()
	if a.Tags == nil {
		a.Tags = []string{}
	}
	for _, f := range r.Fields {
		if f.Prog == nil {
			continue
		}
		v, err := f.Prog.Value(act)
		if err != nil {
			a.Fields[f.Name] = nil
			continue
		}
		a.Fields[f.Name] = v
	}
	if r.Score != nil {
		e.score(r, a, act)
	}
	// A rule remembers when it produces an alert, before dedup and
	// throttling, which shape what is forwarded, not what happened. A
	// shadow rule's facts would change what stable rules see, so it
	// remembers nothing.
	if len(r.Remember) > 0 && !a.Shadow {
		n := len(e.factQ)
		e.factQ = r.FactWrites(act, t, e.factQ)
		for range len(e.factQ) - n {
			e.factOf = append(e.factOf, r)
		}
	}
	return a
}

// flushFacts writes the facts remembered so far to their stores, so that
// a checkpoint covers no event whose facts a crash could lose: the events
// after it are processed again after a restore, and remember again.
func (e *Engine) flushFacts() error {
	var done []facts.Store
	for _, d := range e.dets {
		r := d.rule()
		if len(r.Remember) == 0 {
			continue
		}
		s := r.Facts()
		if slices.Contains(done, s) {
			continue
		}
		done = append(done, s)
		if err := s.Flush(context.Background()); err != nil {
			return fmt.Errorf("writing the facts rules remembered: %w", err)
		}
	}
	return nil
}

// applyFacts hands the facts remembered while an event was processed to
// their stores, once every rule has judged the event: a rule never sees
// a fact learnt from the event it judges, whatever the rules' order.
func (e *Engine) applyFacts() {
	if len(e.factQ) == 0 {
		return
	}
	for i, w := range e.factQ {
		e.factOf[i].Facts().Remember(w)
		e.factOf[i] = nil
	}
	e.factQ, e.factOf = e.factQ[:0], e.factOf[:0]
}

// score runs the rule's model; a failure leaves the alert unscored, never
// lost, and is counted against the rule.
func (e *Engine) score(r *rules.Rule, a *alert.Alert, act rules.Vars) {
	e.fvals = r.Score.FeatureValues(act, e.fvals)
	if r.Score.Online != nil {
		e.scoreOnline(r, a, e.fvals)
		return
	}
	e.scorePMML(r, a, r.Score.Model, e.fvals)
}

func (e *Engine) scorePMML(r *rules.Rule, a *alert.Alert, m *ml.Model, vals []rules.FeatureValue) {
	s := e.scorers[m]
	if s == nil {
		s = m.NewScorer()
		e.scorers[m] = s
	}
	res, err := rules.ScorePMML(m, s, vals)
	if err != nil {
		r.Health.Fail(r.Spec.Pos, fmt.Errorf("scoring with model %s: %w", m.Name, err))
		if e.explaining(r) {
			e.explainf(r, "scoring failed: %v", err)
		}
		return
	}
	sc := res.Score
	a.Score = &sc
	a.Reasons = res.Reasons
	a.Model = &alert.Model{Name: m.Name, Version: m.Version}
	if e.explaining(r) {
		e.explainf(r, "score %.4g by model %s", sc, m.Name)
	}
}
