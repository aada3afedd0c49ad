package correlate

import (
	"fmt"
	"slices"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/window"
)

// An aggregate rule splits by key as a sequence rule does (shard.go):
// each shard keeps its keys' windows in an aggregator of its own. The
// engine computes an event's where and key when it plans; the shard works
// out the measures, adds the event and, for a sliding or length window,
// evaluates having and fires. Closing windows at an advance comes from
// every shard, merged into the order one aggregator emits them in
// (window.CompareResults), and the engine ranks each window's results for
// a top-N report as one aggregator would (window.Aggregator.Rank). Each
// shard bounds its keys to its share of Limits.MaxKeys.

// aggResult is what a shard's aggregator said to one call: Add's status
// and a result to alert with (the window that fired at the event, or one
// that closed at an advance).
type aggResult struct {
	op  int32
	st  window.Status
	res *window.Result
}

func (r aggResult) opIndex() int32 { return r.op }

// aggRun is one aggregate shard's collection while it runs a plan.
type aggRun struct {
	res  []aggResult
	next int
	_    [64]byte // its own cache line: shards run in parallel
}

// shardedAggregate is an aggregate rule whose keys are split among
// shards.
type shardedAggregate struct {
	shardCalls
	shards []*aggregate
	runs   [2][]aggRun
	// out alerts on the engine's goroutine; its aggregator holds no keys
	// and ranks the shards' results.
	out   *aggregate
	merge []*window.Result
}

func (e *Engine) newShardedAggregate(r *rules.Rule) (*shardedAggregate, error) {
	n := e.cfg.Shards
	sa := &shardedAggregate{shardCalls: shardCalls{e: e, r: r, n: n}}
	for i := range sa.runs {
		sa.runs[i] = make([]aggRun, n)
	}
	hold := e.holder(r)
	for s := range n {
		d, err := e.newAggregateWith(r, shareOf(e.cfg.Limits.MaxKeys, n), &rules.Activation{}, e.heldOnce(s, hold))
		if err != nil {
			return nil, err
		}
		sa.shards = append(sa.shards, d)
	}
	out, err := e.newAggregateWith(r, 0, &e.act, nil)
	if err != nil {
		return nil, err
	}
	sa.out = out
	return sa, nil
}

func (sa *shardedAggregate) constraints() []rules.Constraint { return sa.r.Constraints }

func (sa *shardedAggregate) reset(p int) {
	sa.resetCalls(p)
	for i := range sa.runs[p] {
		run := &sa.runs[p][i]
		clear(run.res)
		run.res, run.next = run.res[:0], 0
	}
}

// planProcess leaves out, as process would, an event the rule's where
// rejects; its key comes next.
func (sa *shardedAggregate) planProcess(p int, ev *event.Event) {
	if w := sa.r.Aggregate.Where; w != nil && !w.Test(rules.EventActivation{Ev: ev}) {
		pl := &sa.plans[p]
		pl.ops = append(pl.ops, shardOp{ev: ev, shard: -1})
		return
	}
	sa.planKeyed(p, ev)
}

func (sa *shardedAggregate) run(p, s int) {
	pl := &sa.plans[p]
	d, run := sa.shards[s], &sa.runs[p][s]
	for i := range pl.ops {
		op := &pl.ops[i]
		if op.advance {
			d.agg.Advance(op.wm, func(res *window.Result) {
				run.res = append(run.res, aggResult{op: int32(i), res: res})
			}, nil)
			continue
		}
		if int(op.shard) != s {
			continue
		}
		st, res := d.add(viewString(op.key), op.ev)
		if st != window.Applied && st != window.Corrected || res != nil {
			run.res = append(run.res, aggResult{op: int32(i), st: st, res: res})
		}
	}
}

func (sa *shardedAggregate) process(ev *event.Event, _ *celenv.Scores) { sa.processOrNow(sa, ev) }
func (sa *shardedAggregate) advance(wm int64)                          { sa.advanceOrNow(sa, wm) }

func (sa *shardedAggregate) deliver() {
	i, op := sa.take()
	runs := sa.runs[sa.cur]
	if !op.advance {
		if op.shard < 0 {
			return
		}
		run := &runs[op.shard]
		for _, r := range forOp(run.res, &run.next, i) {
			sa.out.added(op.ev, r.st, r.res)
		}
		return
	}
	sa.merge = sa.merge[:0]
	for s := range runs {
		run := &runs[s]
		for _, r := range forOp(run.res, &run.next, i) {
			sa.merge = append(sa.merge, r.res)
		}
	}
	// Keys are unique among shards, so this is one aggregator's order.
	slices.SortFunc(sa.merge, window.CompareResults)
	for j := 0; j < len(sa.merge); {
		k := j + 1
		for k < len(sa.merge) && sa.merge[k].End == sa.merge[j].End && sa.merge[k].Start == sa.merge[j].Start {
			k++
		}
		for _, res := range sa.merge[j:k] {
			sa.out.closed(res)
		}
		if rep := sa.out.agg.Rank(sa.merge[j:k]); rep != nil {
			sa.out.report(rep)
		}
		j = k
	}
	clear(sa.merge)
}

// The state is the one one aggregator holding every key would write, so
// a checkpoint moves between numbers of shards.
func (sa *shardedAggregate) snapshot(put func(string, []byte) error) error {
	b, err := window.MarshalParts(sa.aggs())
	if err != nil {
		return err
	}
	return put("window", b)
}

func (sa *shardedAggregate) restore(key string, val []byte) error {
	if key != "window" {
		return fmt.Errorf("an aggregate rule has no state %q", key)
	}
	return window.UnmarshalParts(val, sa.aggs(), func(key string) int { return int(sa.shardOf([]byte(key))) })
}

func (sa *shardedAggregate) aggs() []*window.Aggregator {
	as := make([]*window.Aggregator, len(sa.shards))
	for i, d := range sa.shards {
		as[i] = d.agg
	}
	return as
}

func aggBytes(d *aggregate) int64 { return d.agg.Bytes() }

func (sa *shardedAggregate) stateBytes() int64 { return stateOf(sa.shards, aggBytes) }

func (sa *shardedAggregate) shed(target int64) int {
	return shedShares(sa.shards, target, aggBytes, func(_ int, d *aggregate, t int64) int { return d.agg.Shed(t) })
}

// keys counts the keys of every shard.
func (sa *shardedAggregate) keys() int {
	n := 0
	for _, d := range sa.shards {
		n += d.agg.Stats().Keys
	}
	return n
}
