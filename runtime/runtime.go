// Package runtime owns the one loop every way of running cep shares —
// bounded replay (`cep run --input`, `cep test`, backtests), the service
// (`cep run --config`) and benchmarks: sources feed the engine, the engine
// hands alerts to a sink, and checkpoints tie the engine's state to the
// sources' positions (see docs/ARCHITECTURE.md, "The runtime").
//
// The loop is the only goroutine that touches the engine. Sources read and
// decode on their own goroutines and hand over batches; a checkpoint is
// taken between two batches, so it is a consistent cut, and it commits only
// once the sink has delivered or spooled every alert produced before it.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
)

// Mode is how sources are read.
type Mode int

const (
	// Replay reads bounded inputs merged in event-time order; when they
	// end, event time runs to the end so every window and timeout fires.
	Replay Mode = iota
	// Service reads sources as their events arrive, takes checkpoints
	// and runs until every source ends or it is stopped.
	Service
)

// Sink receives the engine's alerts.
type Sink interface {
	// Send hands an alert over; it may block for back-pressure.
	Send(ctx context.Context, a *alert.Alert) error
	// Mark returns a mark covering every alert sent so far, and Wait
	// returns once each of them has been delivered or spooled.
	Mark() uint64
	Wait(ctx context.Context, mark uint64) error
	// Close delivers or spools what is in flight, within ctx. It reports
	// alerts that were neither.
	Close(ctx context.Context) error
}

// Defaults for Config.
const (
	DefaultInterval    = 10 * time.Second
	DefaultStopTimeout = 30 * time.Second
	tickEvery          = time.Second
)

// Config says what to run.
type Config struct {
	Mode    Mode
	Rules   []*rules.Rule
	Engine  correlate.Config
	Sources []source.Source
	Sink    Sink
	// Store keeps checkpoints (Service mode); nil takes none.
	Store state.Store
	// Legacy, when there is no checkpoint, restores online models and
	// baselines from a state directory of cep before checkpoints, and in
	// Replay mode is where they are saved at the end.
	Legacy correlate.Store
	// Interval is the time between checkpoints; 0 means DefaultInterval.
	Interval time.Duration
	// Checkpoints, when set, asks for a checkpoint now (a reload, an
	// operator's request, a test).
	Checkpoints <-chan struct{}
	// Control, when set, lets other goroutines swap the rules or look at
	// the engine while a service runs (see control.go).
	Control *Control
	// BusyPoll, in Service mode, is how long the loop keeps looking for
	// the next batch, yielding its processor in between, before it goes
	// to sleep. A loop that sleeps between batches is woken by the
	// source that hands it one, and waking a parked thread, or waiting
	// for a core, is most of the latency of an event that finds the
	// engine idle (see busyPoll). Polling keeps a core busy while the
	// input flows and for BusyPoll after; 0 (the default) sleeps at once.
	BusyPoll time.Duration
	// StopTimeout bounds a graceful stop: the last checkpoint and the
	// sink's flush; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// Writer names the program in checkpoints.
	Writer string
	Log    *slog.Logger
	// OnTick, when set, is called about once a second (and at the end)
	// from the loop, with the engine's counters.
	OnTick func(correlate.Stats)
	// OnEvents, when set, is called from the loop every few thousand
	// events in Replay mode, for progress.
	OnEvents func(*correlate.Engine)
	// AtEndOfInput, when set, sees the engine when every source has ended,
	// before event time runs to the end.
	AtEndOfInput func(*correlate.Engine)
	// Sort makes a replay read every source to its end and process the
	// events in event-time order whatever the files' order; events beyond
	// SortBytes (default DefaultSortBytes) are sorted on disk, in SpillDir
	// (default the system's temporary directory). Without it, each
	// source's own order is kept and the sources are merged.
	Sort      bool
	SortBytes int64
	SpillDir  string
	// Lease, when set, makes the runtime one of several processes sharing
	// Store, active only while it holds the lease (see lease.go).
	Lease Lease
	// MaxFailedCheckpoints is how many checkpoints may fail in a row
	// before reading stops until one succeeds; 0 means
	// DefaultMaxFailedCheckpoints.
	MaxFailedCheckpoints int
}

// Result is what a run did.
type Result struct {
	Stats correlate.Stats
	// Interrupted: stopped before the end of input.
	Interrupted bool
	// Restored is the checkpoint the run started from, if any.
	Restored *state.Meta
	// Checkpoints counts committed checkpoints; CheckpointErrors failed
	// ones.
	Checkpoints, CheckpointErrors int
	// LastCheckpoint describes the newest committed checkpoint.
	LastCheckpoint *CheckpointStats
	// SendErrors counts alerts the sink refused.
	SendErrors uint64
	// SourceErrors are sources that ended with an error.
	SourceErrors []error
	// Left says what a stop could not finish in time; empty when all was
	// done.
	Left []string
	// SortRuns counts the sorted runs a sorted replay spilled to disk.
	SortRuns int
	// Fenced is why the run stopped when another process took the
	// state's lease.
	Fenced error
	// EngineBusy is the wall time the engine's goroutine spent on events
	// and timers: routing, detectors, alerts built and handed to the
	// sink. Against the run's time it says whether the engine bounds the
	// rate (near all of it) or waits for its sources.
	EngineBusy time.Duration
}

// Runtime runs one configuration; Run may be called once.
type Runtime struct {
	cfg       Config
	eng       *correlate.Engine
	log       *slog.Logger
	sendCtx   context.Context
	positions map[string]source.Positions
	from      map[string]source.Positions
	nextID    uint64
	res       Result
	committed chan commitResult
	inflight  bool
	restored  bool
	ended     int
	pub       published
	g         guard
	// busy is the wall time the loop spent in the engine (see
	// Result.EngineBusy); loop-owned.
	busy time.Duration
}

// New builds the engine for cfg.
func New(cfg Config) (*Runtime, error) {
	if cfg.Sink == nil {
		return nil, errors.New("runtime: no sink")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Log
	}
	rt := &Runtime{
		cfg:       cfg,
		log:       cfg.Log,
		positions: map[string]source.Positions{},
		from:      map[string]source.Positions{},
		nextID:    1,
		committed: make(chan commitResult, 1),
		sendCtx:   context.Background(),
	}
	seen := map[string]bool{}
	for _, s := range cfg.Sources {
		if seen[s.Name()] {
			return nil, fmt.Errorf("two sources are named %q: names identify their positions in checkpoints", s.Name())
		}
		seen[s.Name()] = true
		for _, st := range s.Streams() {
			if !slices.Contains(cfg.Engine.Streams, st) {
				cfg.Engine.Streams = append(cfg.Engine.Streams, st)
			}
		}
	}
	eng, err := correlate.New(cfg.Rules, cfg.Engine, rt.emit)
	if err != nil {
		return nil, err
	}
	rt.cfg, rt.eng = cfg, eng
	rt.g.status.Role = RoleStarting
	return rt, nil
}

// Engine returns the runtime's engine, for callers that report on it.
func (rt *Runtime) Engine() *correlate.Engine { return rt.eng }

func (rt *Runtime) emit(a *alert.Alert) {
	if rt.withhold(a) {
		return
	}
	if err := rt.cfg.Sink.Send(rt.sendCtx, a); err != nil {
		rt.res.SendErrors++
		rt.log.Error("alert not handed to its sink", "id", a.ID, "rule", a.Rule, "error", err)
	}
}

// Run runs until the input ends or ctx is done, then stops gracefully:
// the last checkpoint is taken and the sink flushed within the stop
// timeout.
func (rt *Runtime) Run(ctx context.Context) (*Result, error) {
	if active, err := rt.standby(ctx); !active {
		if err != nil {
			return nil, err
		}
		rt.res.Interrupted = true
		rt.stop()
		return &rt.res, nil
	}
	if err := rt.restore(ctx); err != nil {
		return nil, err
	}
	rt.publish(time.Now())
	srcCtx, stopSources := context.WithCancel(context.Background())
	defer stopSources()
	var interrupted bool
	var err error
	switch {
	case rt.cfg.Mode == Replay && rt.cfg.Sort:
		interrupted, err = rt.sortedReplay(ctx, srcCtx)
	case rt.cfg.Mode == Replay:
		interrupted, err = rt.replay(ctx, srcCtx)
	default:
		interrupted, err = rt.serve(ctx, srcCtx)
	}
	stopSources()
	if err != nil {
		return nil, err
	}
	rt.res.Interrupted = interrupted
	if !interrupted {
		// Every source ended: event time runs to the end.
		start := time.Now()
		rt.eng.Close()
		rt.busy += time.Since(start)
	}
	rt.stop()
	return &rt.res, nil
}

// stop finishes a run within the stop timeout: a last checkpoint, then the
// sink's flush; what could not be done is listed in Left.
func (rt *Runtime) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), rt.cfg.StopTimeout)
	defer cancel()
	rt.setRole(RoleStopping)
	if rt.inflight {
		rt.collect(ctx)
	}
	switch {
	case rt.cfg.Store == nil || rt.cfg.Mode != Service || rt.g.lost != nil || !rt.restored:
		// Nothing to save, or not this process's to save.
	case !rt.owns():
		rt.res.CheckpointErrors++
		rt.res.Left = append(rt.res.Left, "last checkpoint: not taken, the state's lease is not confirmed")
	default:
		if err := rt.checkpoint(ctx); err == nil {
			rt.collect(ctx)
		} else {
			rt.res.CheckpointErrors++
			rt.res.Left = append(rt.res.Left, fmt.Sprintf("last checkpoint: %v", err))
		}
	}
	if rt.cfg.Mode == Replay && rt.cfg.Legacy != nil {
		if err := rt.eng.SaveState(rt.cfg.Legacy); err != nil {
			rt.res.Left = append(rt.res.Left, fmt.Sprintf("saving models and baselines: %v", err))
		}
	}
	if err := rt.cfg.Sink.Close(ctx); err != nil {
		rt.res.Left = append(rt.res.Left, fmt.Sprintf("sinks: %v", err))
	}
	rt.release(ctx)
	rt.setRole(RoleStopped)
	rt.res.Stats = rt.eng.Stats()
	rt.res.EngineBusy = rt.busy
	rt.publish(time.Now())
	if rt.cfg.OnTick != nil {
		rt.cfg.OnTick(rt.res.Stats)
	}
}

// collect waits for the checkpoint in flight to commit.
func (rt *Runtime) collect(ctx context.Context) {
	select {
	case r := <-rt.committed:
		rt.committedOne(r)
	case <-ctx.Done():
		rt.res.CheckpointErrors++
		rt.res.Left = append(rt.res.Left, "a checkpoint was still waiting for the sinks to deliver its alerts")
	}
}

// endOfSource handles a source's last batch.
func (rt *Runtime) endOfSource(b source.Batch, open map[string]int, streams map[string][]string) {
	rt.ended++
	if rt.ended == len(rt.cfg.Sources) && rt.cfg.AtEndOfInput != nil {
		rt.cfg.AtEndOfInput(rt.eng)
	}
	if b.Err != nil {
		rt.res.SourceErrors = append(rt.res.SourceErrors, b.Err)
		rt.log.Error("source failed", "source", b.Source, "error", b.Err)
	}
	for _, st := range streams[b.Source] {
		open[st]--
		if open[st] == 0 {
			rt.eng.EndStream(st)
		}
	}
}

func (rt *Runtime) streams() (map[string]int, map[string][]string) {
	open := map[string]int{}
	bySource := map[string][]string{}
	for _, s := range rt.cfg.Sources {
		for _, st := range s.Streams() {
			open[st]++
			bySource[s.Name()] = append(bySource[s.Name()], st)
		}
	}
	return open, bySource
}

// serve is the Service loop: batches are pushed as they arrive, the
// engine learns the processing time once a second (to tell idle sources),
// and checkpoints are taken every interval.
func (rt *Runtime) serve(ctx, srcCtx context.Context) (bool, error) {
	feed := make(chan source.Batch, 2*len(rt.cfg.Sources))
	al := rt.newAligner()
	for _, s := range rt.cfg.Sources {
		if len(rt.cfg.Sources) == 1 {
			// Nothing to align one source with: it hands its batches to
			// the loop itself, which spares each batch a goroutine's
			// wake-up on the way (at 150,000 events/s with busy polling,
			// the 99th percentile of an event's latency went from
			// 270-290 µs to 180-250 µs).
			go func() { _ = s.Run(srcCtx, rt.from[s.Name()], feed) }()
			continue
		}
		// Unbuffered: the forwarder is a hand-over, not a read-ahead; a
		// paused loop stops the source one batch later, as before.
		own := make(chan source.Batch)
		go func() { _ = s.Run(srcCtx, rt.from[s.Name()], own) }()
		go al.forward(srcCtx, s.Name(), own, feed)
	}
	open, bySource := rt.streams()
	remaining := len(rt.cfg.Sources)
	// Ticks come at least as often as checkpoints are due.
	ticker := time.NewTicker(min(tickEvery, rt.cfg.Interval))
	defer ticker.Stop()
	lastCheckpoint := time.Now()
	push := func(b source.Batch) {
		now := time.Now()
		rt.eng.PushBatch(b.Events, now)
		rt.busy += time.Since(now)
		rt.advance(b)
		if b.Pushed != nil {
			b.Pushed()
		}
		if b.End {
			remaining--
			rt.endOfSource(b, open, bySource)
		}
	}
	rt.updateReading(time.Now())
	// polling is whether the loop polls before it sleeps: once a poll
	// finds nothing, it sleeps until the next batch.
	polling := rt.cfg.BusyPoll > 0
	for remaining > 0 {
		// Sources are read only while this process owns the state and its
		// checkpoints succeed; otherwise they wait, unread (lease.go).
		in := feed
		if !rt.updateReading(time.Now()) {
			in = nil
		} else if rt.g.stash != nil {
			b := *rt.g.stash
			rt.g.stash = nil
			push(b)
			continue
		}
		// With busy polling, the select below does not sleep: it takes one
		// of the cases that are ready, chosen at random as ever, and a
		// batch, a tick or a request that is ready now is taken by this
		// or a next turn; the closed channel's case polls the sources.
		var nothingReady <-chan struct{}
		if polling && in != nil {
			nothingReady = closed
		}
		select {
		case b := <-in:
			polling = rt.cfg.BusyPoll > 0
			if !rt.owns() {
				rt.g.stash = &b
				continue
			}
			push(b)
		case <-nothingReady:
			b, ok := busyPoll(in, rt.cfg.BusyPoll)
			if !ok {
				polling = false
				continue
			}
			if !rt.owns() {
				rt.g.stash = &b
				continue
			}
			push(b)
		case now := <-ticker.C:
			if rt.mayTick(now) {
				start := time.Now()
				rt.eng.Tick(now)
				rt.busy += time.Since(start)
			}
			rt.publish(now)
			if rt.cfg.OnTick != nil {
				rt.cfg.OnTick(rt.eng.Stats())
			}
			if rt.checkpointDue(now, lastCheckpoint) {
				lastCheckpoint = now
				if err := rt.checkpoint(ctx); err != nil {
					rt.checkpointFailed(rt.nextID-1, err)
				}
			}
		case <-rt.cfg.Checkpoints:
			if rt.cfg.Store != nil && rt.owns() {
				if rt.inflight {
					rt.collect(ctx)
				}
				lastCheckpoint = time.Now()
				if err := rt.checkpoint(ctx); err != nil {
					rt.checkpointFailed(rt.nextID-1, err)
				}
			}
		case <-rt.leaseSignal():
			if rt.leaseChanged() {
				return true, nil
			}
		case r := <-rt.committed:
			rt.committedOne(r)
			if rt.g.lost != nil {
				return true, nil
			}
		case req := <-rt.cfg.Control.requests():
			req.serve(ctx, rt)
		case <-ctx.Done():
			return true, nil
		}
	}
	return false, nil
}

// closed is ready at once: a select with it among its cases does not
// block, whichever of the others are ready.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// busyPoll looks for a batch on in for up to d, so that a batch handed
// over meanwhile is taken at once rather than after the source's
// goroutine has woken this one's thread (tens of microseconds to a
// millisecond on a virtual machine's idle core) or the scheduler has
// found it a core.
//
// It yields the processor between looks. A goroutine this one readies
// (a source blocked handing over a batch, the batch taken) is queued on
// this processor, and a loop that kept it would keep that goroutine
// waiting while the other processors are taken. On two processors they
// are while the collector marks: an idle mark worker looks for work only
// in its own processor's queue and the global one, so it goes on marking
// while the source waits here. In an execution trace of the sequence
// scenario at 320,000 events/s the paced source then ran for 0.2 ms of
// every 10: each batch waited in the loop's queue until the loop had
// polled its full 100 µs and slept. A yielding loop goes to the global
// queue, which the idle worker does look at. Measured from each event's
// due time, p99 went from 3.3–9.5 ms to 1.1–3.1 ms at 100,000 events/s
// and from 49–135 ms to 25–75 ms at 320,000, with no change from the
// hand-over (docs/PERFORMANCE.md). A loop that kept its processor had
// seemed quicker by that measure alone, which stamps an event when the
// source hands it over: the time the source waited went unseen.
func busyPoll(in <-chan source.Batch, d time.Duration) (source.Batch, bool) {
	deadline := time.Now().Add(d)
	for {
		select {
		case b := <-in:
			return b, true
		default:
		}
		if !time.Now().Before(deadline) {
			return source.Batch{}, false
		}
		goruntime.Gosched()
	}
}

// advance records a batch's position: from now on a checkpoint covers it.
func (rt *Runtime) advance(b source.Batch) {
	if b.Pos == nil && len(b.Lanes) == 0 {
		return
	}
	p := rt.positions[b.Source]
	if p == nil {
		p = source.Positions{}
		rt.positions[b.Source] = p
	}
	if b.Pos != nil {
		p[b.Lane] = b.Pos
	}
	for lane, pos := range b.Lanes {
		p[lane] = pos
	}
}
