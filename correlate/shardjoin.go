package correlate

import (
	"fmt"
	"slices"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/join"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// A join rule splits by key as a sequence rule does (shard.go): each
// shard buffers its keys' events in a joiner of its own. An event may be
// on several sides, each with its key, so processing it is one call per
// side; the engine works out each side's where and key when it plans, and
// the key's shard adds the event and collects the combinations it
// completes. An advance's partial matches (outer joins) come from every
// shard, merged by time and key (join.CompareMatches). Each shard bounds
// its keys to its share of Limits.MaxKeys.

// joinResult is what a join shard collected for an op: a match, or (m
// nil) the status Add returned.
type joinResult struct {
	op int32
	m  *join.Match
	st join.Status
}

func (r joinResult) opIndex() int32 { return r.op }

// joinRun is one join shard's collection while it runs a plan.
type joinRun struct {
	op   int32
	res  []joinResult
	next int
	_    [64]byte // its own cache line: shards run in parallel
}

// shardedJoin is a join rule whose keys are split among shards.
type shardedJoin struct {
	shardCalls
	shards []*joinDet
	runs   [2][]joinRun
	// out alerts on the engine's goroutine and works out each side's key.
	out   *joinDet
	merge []*join.Match
}

func (e *Engine) newShardedJoin(r *rules.Rule) (*shardedJoin, error) {
	n := e.cfg.Shards
	sj := &shardedJoin{shardCalls: shardCalls{e: e, r: r, n: n}}
	for i := range sj.runs {
		sj.runs[i] = make([]joinRun, n)
	}
	hold := e.holder(r)
	for s := range n {
		d, err := e.newJoinWith(r, shareOf(e.cfg.Limits.MaxKeys, n), e.heldOnce(s, hold))
		if err != nil {
			return nil, err
		}
		sj.shards = append(sj.shards, d)
	}
	out, err := e.newJoinWith(r, 0, nil)
	if err != nil {
		return nil, err
	}
	sj.out = out
	return sj, nil
}

func (sj *shardedJoin) constraints() []rules.Constraint { return nil }

func (sj *shardedJoin) reset(p int) {
	sj.resetCalls(p)
	for i := range sj.runs[p] {
		run := &sj.runs[p][i]
		clear(run.res)
		run.res, run.next = run.res[:0], 0
	}
}

// planProcess notes one call per side: the side's key and shard, or no
// shard when the event is not on that side.
func (sj *shardedJoin) planProcess(p int, ev *event.Event) {
	for i := range sj.r.Join.Sides {
		op := shardOp{ev: ev, side: int32(i), shard: -1}
		var ok bool
		if sj.keyBuf, ok = sj.out.sideKey(i, ev, sj.keyBuf); ok {
			op = sj.keyed(p, op, sj.keyBuf)
		}
		sj.plans[p].ops = append(sj.plans[p].ops, op)
	}
}

func (sj *shardedJoin) run(p, s int) {
	pl := &sj.plans[p]
	d, run := sj.shards[s], &sj.runs[p][s]
	collect := func(m *join.Match) {
		run.res = append(run.res, joinResult{op: run.op, m: m})
	}
	for i := range pl.ops {
		op := &pl.ops[i]
		run.op = int32(i)
		if op.advance {
			d.j.Advance(op.wm, collect)
			continue
		}
		if int(op.shard) != s {
			continue
		}
		st := d.j.Add(int(op.side), viewString(op.key), op.ev, collect)
		run.res = append(run.res, joinResult{op: int32(i), st: st})
	}
}

func (sj *shardedJoin) process(ev *event.Event, _ *celenv.Scores) { sj.processOrNow(sj, ev) }
func (sj *shardedJoin) advance(wm int64)                          { sj.advanceOrNow(sj, wm) }

// deliver emits, for an event, each side's matches and status in side
// order, as one joiner's Adds come one after the other; for an advance,
// every shard's partial matches merged by time and key.
func (sj *shardedJoin) deliver() {
	runs := sj.runs[sj.cur]
	i, op := sj.take()
	if !op.advance {
		for {
			if op.shard >= 0 {
				run := &runs[op.shard]
				for _, r := range forOp(run.res, &run.next, i) {
					if r.m != nil {
						sj.out.emit(r.m)
					} else {
						sj.out.added(op.ev, r.st)
					}
				}
			}
			if int(op.side) == len(sj.r.Join.Sides)-1 {
				return
			}
			i, op = sj.take()
		}
	}
	sj.merge = sj.merge[:0]
	for s := range runs {
		run := &runs[s]
		for _, r := range forOp(run.res, &run.next, i) {
			sj.merge = append(sj.merge, r.m)
		}
	}
	// A key's matches all come from its shard, in its order.
	slices.SortStableFunc(sj.merge, join.CompareMatches)
	for _, m := range sj.merge {
		sj.out.emit(m)
	}
	clear(sj.merge)
}

// The state is the one one joiner holding every key would write, so a
// checkpoint moves between numbers of shards.
func (sj *shardedJoin) snapshot(put func(string, []byte) error) error {
	b, err := join.MarshalParts(sj.joiners())
	if err != nil {
		return err
	}
	return put("join", b)
}

func (sj *shardedJoin) restore(key string, val []byte) error {
	if key != "join" {
		return fmt.Errorf("a join rule has no state %q", key)
	}
	return join.UnmarshalParts(val, sj.joiners(), func(key string) int { return int(sj.shardOf([]byte(key))) })
}

func (sj *shardedJoin) joiners() []*join.Joiner {
	js := make([]*join.Joiner, len(sj.shards))
	for i, d := range sj.shards {
		js[i] = d.j
	}
	return js
}

func joinBytes(d *joinDet) int64 { return d.j.Bytes() }

func (sj *shardedJoin) stateBytes() int64 { return stateOf(sj.shards, joinBytes) }

func (sj *shardedJoin) shed(target int64) int {
	return shedShares(sj.shards, target, joinBytes, func(_ int, d *joinDet, t int64) int { return d.j.Shed(t) })
}

// stats sums the shards' joiner statistics.
func (sj *shardedJoin) stats() join.Stats {
	var s join.Stats
	for _, d := range sj.shards {
		x := d.j.Stats()
		s.Keys += x.Keys
		s.Buffered += x.Buffered
	}
	return s
}
