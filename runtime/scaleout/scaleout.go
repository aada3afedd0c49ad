// Package scaleout shares the partitions of Kafka topics between several
// cep processes of one consumer group, as Kafka Streams does: the unit of
// work is a task, partition number N of every input topic (the topics are
// co-partitioned: the same number of partitions, keyed the same way), and
// each task is a runtime of its own, with its own engine and its own
// checkpoints in the shared state store (Redis). The group's coordinator
// hands tasks to processes; on a rebalance every process stops its tasks
// gracefully — a last checkpoint, the sinks flushed, the offsets committed
// and the task's lease released — and then runs the tasks of the new
// assignment, each restored from its newest checkpoint. A process killed
// without a stop leaves its tasks' last periodic checkpoints, which their
// new owners restore once the killed process's leases expire; alerts of
// the interval after that checkpoint are made again, with the same ids.
//
// See docs/ARCHITECTURE.md, "Scale-out".
package scaleout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
)

// Defaults for Config.
const (
	DefaultSessionTimeout    = 10 * time.Second
	DefaultHeartbeatInterval = time.Second
)

// RoleRebalancing is the status of a process between two assignments.
const RoleRebalancing = "rebalancing"

// Config says how a process joins its group and runs a task.
type Config struct {
	// Group is the Kafka consumer group the processes share; it also
	// receives the offsets of durable checkpoints.
	Group   string
	Brokers []string
	// Topics are every input topic; they must have the same partitions.
	Topics []string
	Dialer *kafka.Dialer
	// SessionTimeout is how long the group waits for a silent process
	// before it gives its tasks to others; default DefaultSessionTimeout.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the group waits for every process to
	// finish its tasks and rejoin; default the base config's stop timeout
	// plus 10 s, so that a last checkpoint fits.
	RebalanceTimeout time.Duration
	// Base is the runtime configuration every task starts from (Service
	// mode, the engine and the sink); Units makes a task's runtimes from
	// it and the rules that run, filling in what is the task's own: its
	// sources, state stores and leases.
	Base  runtime.Config
	Units func(t Task, rs []*rules.Rule, base runtime.Config) ([]Unit, error)
	Log   *slog.Logger
}

// Task is one partition number of the topics, run by one member of the
// group in one generation.
type Task struct {
	ID     int
	Member source.GroupMember
	// Of is how many tasks this process runs in the generation.
	Of int
}

// Counters are what the group did, for metrics.
type Counters struct {
	// Rebalances counts the assignments this process received.
	Rebalances atomic.Uint64
	// TasksStarted and TasksStopped count task runs begun and ended.
	TasksStarted, TasksStopped atomic.Uint64
	// JoinErrors counts failed attempts to join the group.
	JoinErrors atomic.Uint64
}

// Group is this process's membership of the group and the tasks it runs.
type Group struct {
	cfg    Config
	log    *slog.Logger
	counts Counters
	// stopping is set once the process stops: what its tasks leave
	// undone from then on makes the process's result.
	stopping atomic.Bool

	mu      sync.Mutex
	rules   []*rules.Rule
	running map[string]*task
	// reload is closed by Swap to restart the tasks on new rules.
	reload chan struct{}
	owned  []int
	role   string
	res    runtime.Result
	runs   int
	// ended holds the counters of the task runs that have ended, so that
	// the process's counters do not fall back when tasks restart.
	ended *runtime.Statistics
}

// task is one runtime of a task (a Unit).
type task struct {
	id   int
	name string
	rt   *runtime.Runtime
	ctl  *runtime.Control
}

// Unit is one runtime of a task: its rules, sources and state scope. A
// task has one, or more when some rules read events re-keyed through
// repartition topics (see the README's "Kafka and scale-out").
type Unit struct {
	// Name tells a task's units apart in logs; "" for the only one.
	Name   string
	Config runtime.Config
}

// New checks cfg.
func New(cfg Config) (*Group, error) {
	switch {
	case cfg.Group == "":
		return nil, errors.New("scale-out: no consumer group")
	case len(cfg.Brokers) == 0:
		return nil, errors.New("scale-out: no brokers")
	case len(cfg.Topics) == 0:
		return nil, errors.New("scale-out: no topics")
	case cfg.Units == nil:
		return nil, errors.New("scale-out: no task builder")
	case cfg.Base.Sink == nil:
		return nil, errors.New("scale-out: no sink")
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = min(DefaultHeartbeatInterval, cfg.SessionTimeout/3)
	}
	if cfg.RebalanceTimeout <= 0 {
		stop := cfg.Base.StopTimeout
		if stop <= 0 {
			stop = runtime.DefaultStopTimeout
		}
		cfg.RebalanceTimeout = stop + 10*time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Group{cfg: cfg, log: cfg.Log, rules: cfg.Base.Rules, running: map[string]*task{}, reload: make(chan struct{}), role: runtime.RoleStarting}, nil
}

// Counts returns the group's counters.
func (g *Group) Counts() *Counters { return &g.counts }

// Tasks returns the tasks this process runs now.
func (g *Group) Tasks() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []int
	for _, t := range g.running {
		if !slices.Contains(ids, t.id) {
			ids = append(ids, t.id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Run joins the group and runs the tasks it is given until ctx is done or
// a task fails; then it stops them gracefully and leaves the group. The
// result sums every task run's.
func (g *Group) Run(ctx context.Context) (*runtime.Result, error) {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                g.cfg.Group,
		Brokers:           g.cfg.Brokers,
		Dialer:            g.cfg.Dialer,
		Topics:            g.cfg.Topics,
		GroupBalancers:    []kafka.GroupBalancer{balancer{g}},
		SessionTimeout:    g.cfg.SessionTimeout,
		HeartbeatInterval: g.cfg.HeartbeatInterval,
		RebalanceTimeout:  g.cfg.RebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		// A topic given more partitions changes the tasks: a rebalance.
		WatchPartitionChanges: true,
		Logger:                kafka.LoggerFunc(func(f string, a ...any) { g.log.Debug("kafka group: " + fmt.Sprintf(f, a...)) }),
		ErrorLogger:           kafka.LoggerFunc(func(f string, a ...any) { g.log.Warn("kafka group: " + fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return nil, fmt.Errorf("scale-out: %w", err)
	}
	// A task that fails ends the process: its partitions then move to
	// the others, as they would if it had crashed.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	closed := make(chan struct{})
	go func() {
		<-ctx.Done()
		g.stopping.Store(true)
		// Closing ends the generation: every task stops gracefully and
		// commits before the process leaves the group.
		_ = cg.Close()
		close(closed)
	}()
	for ctx.Err() == nil {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			g.counts.JoinErrors.Add(1)
			lvl := slog.LevelWarn
			if errors.Is(err, kafka.RebalanceInProgress) {
				// Another member joined or left meanwhile: the next join
				// is the usual way on.
				lvl = slog.LevelInfo
			}
			g.log.Log(context.Background(), lvl, "joining the consumer group failed; retrying", "group", g.cfg.Group, "error", err)
			continue
		}
		g.counts.Rebalances.Add(1)
		ids, err := tasksOf(gen.Assignments, g.cfg.Topics)
		if err != nil {
			cancel(err)
			break
		}
		g.log.Info("tasks assigned", "group", g.cfg.Group, "generation", gen.ID, "member", gen.MemberID, "tasks", ids)
		m := source.GroupMember{Generation: gen.ID, ID: gen.MemberID}
		gen.Start(func(gctx context.Context) {
			if err := g.runGeneration(gctx, m, ids); err != nil {
				cancel(err)
			}
		})
	}
	cancel(nil)
	<-closed
	g.setRole(runtime.RoleStopped)
	g.mu.Lock()
	defer g.mu.Unlock()
	res := g.res
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return &res, err
	}
	return &res, nil
}

// tasksOf reads an assignment: the partition numbers, which must be the
// same for every topic.
func tasksOf(as map[string][]kafka.PartitionAssignment, topics []string) ([]int, error) {
	var ids []int
	for i, t := range topics {
		var ps []int
		for _, p := range as[t] {
			ps = append(ps, p.ID)
		}
		slices.Sort(ps)
		if i == 0 {
			ids = ps
			continue
		}
		if !slices.Equal(ps, ids) {
			return nil, fmt.Errorf("scale-out: the group assigned partitions %v of %s but %v of %s: the topics must have the same number of partitions", ids, topics[0], ps, t)
		}
	}
	return ids, nil
}

// runGeneration runs the tasks of one assignment until the generation
// ends, then stops them; it returns the first task's failure. A reload
// (Swap) stops the tasks and starts them again on the new rules, from the
// checkpoints their stop wrote: the rules decide which runtimes a task
// has (see Unit).
func (g *Group) runGeneration(ctx context.Context, m source.GroupMember, ids []int) error {
	g.mu.Lock()
	g.owned = slices.Clone(ids)
	g.role = runtime.RoleActive
	g.mu.Unlock()
	defer g.setRole(RoleRebalancing)
	for {
		restart, err := g.runTasks(ctx, m, ids)
		if err != nil || !restart {
			return err
		}
		g.log.Info("restarting the tasks on the reloaded rules", "tasks", ids)
	}
}

// runTasks runs every unit of the tasks until the generation ends, one
// fails, or a reload asks for a restart.
func (g *Group) runTasks(ctx context.Context, m source.GroupMember, ids []int) (bool, error) {
	// The generation's context says ErrGenerationEnded when it ends; the
	// tasks see a plain cancellation, which is how a runtime is told to
	// stop gracefully.
	tctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	defer context.AfterFunc(ctx, stop)()
	g.mu.Lock()
	reload := g.reload
	g.mu.Unlock()
	var restart atomic.Bool
	go func() {
		select {
		case <-reload:
			restart.Store(true)
			stop()
		case <-tctx.Done():
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop()
	}
	for _, id := range ids {
		units, err := g.units(Task{ID: id, Member: m, Of: len(ids)})
		if err != nil {
			fail(err)
			break
		}
		for _, u := range units {
			wg.Go(func() {
				res, err := u.rt.Run(tctx)
				g.finish(u, res)
				if err == nil && res.Fenced != nil {
					err = res.Fenced
				}
				if err != nil {
					fail(fmt.Errorf("%s: %w", u.name, err))
				}
			})
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return false, err
	default:
	}
	if restart.Load() || ctx.Err() != nil {
		return restart.Load(), nil
	}
	// Every task ended before the generation did (bounded sources): hold
	// on to the assignment, so that the group does not move the
	// partitions while they are done.
	select {
	case <-ctx.Done():
		return false, nil
	case <-reload:
		return true, nil
	}
}

// units builds and registers the runtimes of a task.
func (g *Group) units(t Task) ([]*task, error) {
	g.mu.Lock()
	rs := g.rules
	g.mu.Unlock()
	base := g.cfg.Base
	base.Rules = rs
	base.Sink = taskSink{g.cfg.Base.Sink}
	us, err := g.cfg.Units(t, rs, base)
	if err != nil {
		return nil, fmt.Errorf("task %d: %w", t.ID, err)
	}
	var out []*task
	for _, u := range us {
		name := fmt.Sprintf("task %d", t.ID)
		if u.Name != "" {
			name += " " + u.Name
		}
		cfg := u.Config
		cfg.Engine.Streams = slices.Clone(cfg.Engine.Streams)
		cfg.Control = runtime.NewControl()
		cfg.Log = g.log.With("task", t.ID, "unit", u.Name)
		rt, err := runtime.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, &task{id: t.ID, name: name, rt: rt, ctl: cfg.Control})
	}
	g.mu.Lock()
	for _, u := range out {
		g.running[u.name] = u
	}
	g.mu.Unlock()
	g.counts.TasksStarted.Add(1)
	return out, nil
}

// finish adds a task run's result to the group's.
func (g *Group) finish(t *task, res *runtime.Result) {
	g.counts.TasksStopped.Add(1)
	last := countersOf(t.rt.Stats())
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.running, t.name)
	if last != nil {
		g.ended = runtime.MergeStatistics([]*runtime.Statistics{g.ended, last})
	}
	if res == nil {
		return
	}
	r := &g.res
	if g.runs == 0 {
		r.Stats.Watermark = res.Stats.Watermark
	}
	g.runs++
	runtime.AddStats(&r.Stats, res.Stats)
	r.Interrupted = r.Interrupted || res.Interrupted
	if res.Restored != nil {
		r.Restored = res.Restored
	}
	r.Checkpoints += res.Checkpoints
	r.CheckpointErrors += res.CheckpointErrors
	r.EngineBusy += res.EngineBusy
	if res.LastCheckpoint != nil {
		r.LastCheckpoint = res.LastCheckpoint
	}
	r.SendErrors += res.SendErrors
	r.SourceErrors = append(r.SourceErrors, res.SourceErrors...)
	for _, l := range res.Left {
		if !g.stopping.Load() {
			// A hand-over, not the process's stop: the next owner
			// restores the checkpoint before, and the process goes on.
			g.log.Warn("stopping a task for a rebalance left work undone", "task", t.name, "left", l)
			continue
		}
		r.Left = append(r.Left, fmt.Sprintf("%s: %s", t.name, l))
	}
	if res.Fenced != nil {
		r.Fenced = res.Fenced
	}
}

func (g *Group) setRole(role string) {
	g.mu.Lock()
	g.role = role
	g.mu.Unlock()
}

func (g *Group) tasks() []*task {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*task, 0, len(g.running))
	for _, id := range slices.Sorted(maps.Keys(g.running)) {
		out = append(out, g.running[id])
	}
	return out
}

// Stats merges the statistics of the tasks running now with the counters
// of those that ran before.
func (g *Group) Stats() *runtime.Statistics {
	var all []*runtime.Statistics
	for _, t := range g.tasks() {
		all = append(all, t.rt.Stats())
	}
	g.mu.Lock()
	all = append(all, g.ended)
	g.mu.Unlock()
	return runtime.MergeStatistics(all)
}

// countersOf keeps what only grows of a task run's statistics: the
// gauges (state, buffers, watermark, lag) belong to whoever runs the task
// now.
func countersOf(s *runtime.Statistics) *runtime.Statistics {
	if s == nil {
		return nil
	}
	c := *s
	e := &c.Engine
	e.StateBytes, e.BufferedBytes, e.Partials, e.PartialBytes, e.Buffered = 0, 0, 0, 0, 0
	e.Watermark = math.MaxInt64
	c.RuleStats = map[string]correlate.RuleStats{}
	for id, r := range s.RuleStats {
		r.Bytes = 0
		c.RuleStats[id] = r
	}
	c.RuleStates, c.Streams, c.LastCheckpoint = nil, nil, nil
	c.Sources = map[string]*source.Counters{}
	for name, sc := range s.Sources {
		n := &source.Counters{}
		n.AddCounts(sc)
		c.Sources[name] = n
	}
	return &c
}

// Status merges the tasks' statuses. Between two assignments the role is
// rebalancing, and a process given no task is idle: neither reads.
func (g *Group) Status() runtime.Status {
	ts := g.tasks()
	g.mu.Lock()
	role := g.role
	g.mu.Unlock()
	if role != runtime.RoleActive || len(ts) == 0 {
		why := "the consumer group is assigning partitions"
		switch role {
		case runtime.RoleActive:
			role, why = "idle", "the consumer group gave this process no partition"
		case runtime.RoleStopped:
			why = ""
		}
		return runtime.Status{Role: role, Why: why}
	}
	all := make([]runtime.Status, len(ts))
	for i, t := range ts {
		all[i] = t.rt.Status()
	}
	return runtime.MergeStatus(all)
}

// Swap runs rs from now on: the tasks stop, each with a last checkpoint,
// and start again on rs, restoring the state of every rule whose state
// keeps its meaning (correlate.Engine.Reload's rules). Restarting rather
// than swapping in place lets the rules change which runtimes a task has.
func (g *Group) Swap(ctx context.Context, rs []*rules.Rule) (runtime.SwapResult, error) {
	start := time.Now()
	g.mu.Lock()
	g.rules = rs
	close(g.reload)
	g.reload = make(chan struct{})
	g.mu.Unlock()
	return runtime.SwapResult{Took: time.Since(start)}, nil
}

// taskSink is the process's sink as one task sees it: closing it when the
// task stops waits for the task's alerts to be delivered, so that the next
// owner of its partitions cannot overtake them, and leaves the sink open
// for the other tasks.
type taskSink struct{ runtime.Sink }

func (s taskSink) Close(ctx context.Context) error { return s.Wait(ctx, s.Mark()) }

var _ runtime.Sink = taskSink{}
