package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/source"
)

// Control lets other goroutines (the admin API, signal handlers, a rules
// poller) have the service loop do something between two batches: swap
// the rule set, or look at the engine. The loop is the only goroutine that
// touches the engine, so everything that reads or changes it goes through
// here.
type Control struct {
	ch chan request
}

// NewControl returns a Control to put in Config.Control.
func NewControl() *Control { return &Control{ch: make(chan request)} }

func (c *Control) requests() <-chan request {
	if c == nil {
		return nil
	}
	return c.ch
}

type request interface {
	serve(ctx context.Context, rt *Runtime)
}

// ErrNotRunning is returned when no service loop takes the request.
var ErrNotRunning = errors.New("the service loop is not running")

func (c *Control) send(ctx context.Context, r request) error {
	if c == nil {
		return ErrNotRunning
	}
	select {
	case c.ch <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the service loop did not take the request: %w", ctx.Err())
	}
}

// SwapResult is what swapping the rule set did.
type SwapResult struct {
	Report *correlate.ReloadReport
	// Checkpoint is the id of the checkpoint started right after the
	// swap; 0 without a state store.
	Checkpoint uint64
	// Took is how long the loop was paused for the swap (moving every
	// rule's state through its snapshot form).
	Took time.Duration
}

type swapRequest struct {
	rules []*rules.Rule
	done  chan swapReply
}

type swapReply struct {
	res SwapResult
	err error
}

// Swap has the loop replace the engine by one running rs that carries on
// from the current state (correlate.Engine.Reload), then take a
// checkpoint at once, so that a restart after a reload starts from the
// new rule set. On error the old rules keep running.
func (c *Control) Swap(ctx context.Context, rs []*rules.Rule) (SwapResult, error) {
	req := swapRequest{rules: rs, done: make(chan swapReply, 1)}
	if err := c.send(ctx, req); err != nil {
		return SwapResult{}, err
	}
	// Once the loop has the request it finishes it: waiting for the
	// reply keeps the caller's view in step with what runs.
	r := <-req.done
	return r.res, r.err
}

func (q swapRequest) serve(ctx context.Context, rt *Runtime) {
	start := time.Now()
	ne, rep, err := rt.eng.Reload(q.rules)
	if err != nil {
		q.done <- swapReply{err: err}
		return
	}
	rt.eng = ne
	rt.cfg.Rules = q.rules
	res := SwapResult{Report: rep, Took: time.Since(start)}
	rt.log.Info("rules reloaded", "rules", len(q.rules), "unchanged", len(rep.Same), "changed_state_kept", len(rep.Kept),
		"changed_state_fresh", len(rep.Fresh), "added", len(rep.Added), "removed", len(rep.Removed), "seconds", fmt.Sprintf("%.3f", res.Took.Seconds()))
	for _, id := range rep.Fresh {
		rt.log.Info("rule changed: its state starts empty", "rule", id)
	}
	if rt.cfg.Store != nil {
		if rt.inflight {
			rt.collect(ctx)
		}
		res.Checkpoint = rt.nextID
		if err := rt.checkpoint(ctx); err != nil {
			rt.res.CheckpointErrors++
			res.Checkpoint = 0
			rt.log.Error("checkpoint after the reload failed", "error", err)
		}
	}
	rt.publish(time.Now())
	q.done <- swapReply{res: res}
}

type inspectRequest struct {
	fn   func(*correlate.Engine)
	done chan struct{}
}

// Inspect runs fn on the loop with the engine, between two batches; fn
// must not keep the engine.
func (c *Control) Inspect(ctx context.Context, fn func(*correlate.Engine)) error {
	req := inspectRequest{fn: fn, done: make(chan struct{})}
	if err := c.send(ctx, req); err != nil {
		return err
	}
	<-req.done
	return nil
}

func (q inspectRequest) serve(_ context.Context, rt *Runtime) {
	defer close(q.done)
	q.fn(rt.eng)
}

// Statistics are what the loop publishes about itself about once a
// second, for metrics and the admin API; Stats reads them from any
// goroutine.
type Statistics struct {
	// Time is the wall time of publication.
	Time   time.Time
	Engine correlate.Stats
	// Rules are the rules running, in load order.
	Rules []*rules.Rule
	// RuleStats and RuleStates are per rule id.
	RuleStats  map[string]correlate.RuleStats
	RuleStates map[string]correlate.RuleState
	// Streams are the streams' clocks by name.
	Streams map[string]correlate.StreamClock
	// Sources are the sources' counters by name.
	Sources map[string]*source.Counters
	// Checkpoints and CheckpointErrors count checkpoints committed and
	// failed; LastCheckpoint describes the newest.
	Checkpoints, CheckpointErrors int
	LastCheckpoint                *CheckpointStats
	// EngineBusy is Result.EngineBusy so far, summed over the engines
	// of merged statistics.
	EngineBusy time.Duration
}

type published struct {
	mu sync.Mutex
	s  *Statistics
}

// Stats returns the statistics published last, or nil before the first.
func (rt *Runtime) Stats() *Statistics {
	rt.pub.mu.Lock()
	defer rt.pub.mu.Unlock()
	return rt.pub.s
}

// publish records the loop's statistics; called from the loop.
func (rt *Runtime) publish(now time.Time) {
	s := &Statistics{
		Time:             now,
		Engine:           rt.eng.Stats(),
		Rules:            rt.cfg.Rules,
		RuleStats:        rt.eng.RuleStats(),
		RuleStates:       rt.eng.RuleStates(),
		Streams:          rt.eng.StreamClocks(),
		Sources:          map[string]*source.Counters{},
		Checkpoints:      rt.res.Checkpoints,
		CheckpointErrors: rt.res.CheckpointErrors,
		EngineBusy:       rt.busy,
	}
	if lc := rt.res.LastCheckpoint; lc != nil {
		c := *lc
		s.LastCheckpoint = &c
	}
	for _, src := range rt.cfg.Sources {
		s.Sources[src.Name()] = src.Counts()
	}
	rt.pub.mu.Lock()
	rt.pub.s = s
	rt.pub.mu.Unlock()
}
