package correlate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/nfa"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// shardResult is a match (or an error) a sequence's shard collected for
// an op; at and round place an advance's match among the other shards'
// (see nfa.Options.OnDue).
type shardResult struct {
	op    int32
	round int32
	at    int64
	m     nfa.Match
	err   error
}

func (r shardResult) opIndex() int32 { return r.op }

// shardRun is one sequence shard's collection while it runs a plan.
type shardRun struct {
	op    int32
	at    int64
	round int32
	res   []shardResult
	next  int
	_     [64]byte // its own cache line: shards run in parallel
}

// shardedSequence is a sequence rule whose keys are split among shards.
type shardedSequence struct {
	shardCalls
	shards []*sequence
	runs   [2][]shardRun
	// active is the run each shard collects into.
	active []*shardRun
	// out emits matches on the engine's goroutine, with an activation of
	// its own: the shards' may be in use.
	out   *sequence
	merge []shardResult
}

func (e *Engine) newShardedSequence(r *rules.Rule) (*shardedSequence, error) {
	n := e.cfg.Shards
	sd := &shardedSequence{shardCalls: shardCalls{e: e, r: r, n: n}, active: make([]*shardRun, n)}
	for i := range sd.runs {
		sd.runs[i] = make([]shardRun, n)
	}
	hold := e.holder(r)
	maxPartials := e.cfg.Limits.MaxPartials
	if maxPartials <= 0 {
		maxPartials = nfa.DefaultMaxPartials
	}
	for s := range n {
		d, err := e.newSequenceWith(r, e.heldOnce(s, hold), shareOf(maxPartials, n), func(at int64) {
			run := sd.active[s]
			if at == run.at && run.round >= 0 {
				run.round++
			} else {
				run.at, run.round = at, 0
			}
		})
		if err != nil {
			return nil, err
		}
		d.emitFn = func(m nfa.Match) {
			run := sd.active[s]
			m.Events = slices.Clone(m.Events)
			run.res = append(run.res, shardResult{op: run.op, at: run.at, round: run.round, m: m})
		}
		sd.shards = append(sd.shards, d)
	}
	sd.out = &sequence{e: e, r: r, act: r.Sequence.NewSeqActivation()}
	return sd, nil
}

func (sd *shardedSequence) constraints() []rules.Constraint { return nil }

func (sd *shardedSequence) reset(p int) {
	sd.resetCalls(p)
	for i := range sd.runs[p] {
		run := &sd.runs[p][i]
		clear(run.res)
		run.res, run.next = run.res[:0], 0
	}
}

func (sd *shardedSequence) planProcess(p int, ev *event.Event) { sd.planKeyed(p, ev) }

func (sd *shardedSequence) run(p, s int) {
	pl := &sd.plans[p]
	d, run := sd.shards[s], &sd.runs[p][s]
	sd.active[s] = run
	for i := range pl.ops {
		op := &pl.ops[i]
		if !op.advance && int(op.shard) != s {
			continue
		}
		run.op, run.at, run.round = int32(i), 0, -1
		var err error
		if op.advance {
			err = d.m.Advance(op.wm, d.emitFn)
		} else {
			err = d.m.ProcessBytes(op.key, op.ev, d.emitFn)
		}
		if err != nil {
			run.res = append(run.res, shardResult{op: int32(i), err: err})
		}
	}
}

func (sd *shardedSequence) process(ev *event.Event, _ *celenv.Scores) { sd.processOrNow(sd, ev) }
func (sd *shardedSequence) advance(wm int64)                          { sd.advanceOrNow(sd, wm) }

// deliver emits an event's matches from its key's shard, and an advance's
// from every shard merged into the order one matcher fires timers in: by
// deadline, then round, then key.
func (sd *shardedSequence) deliver() {
	i, op := sd.take()
	runs := sd.runs[sd.cur]
	if !op.advance {
		if op.shard >= 0 {
			sd.emitRun(&runs[op.shard], i)
		}
		return
	}
	sd.merge = sd.merge[:0]
	for s := range runs {
		run := &runs[s]
		sd.merge = append(sd.merge, forOp(run.res, &run.next, i)...)
	}
	slices.SortStableFunc(sd.merge, func(a, b shardResult) int {
		if a.err != nil || b.err != nil {
			// Errors after the matches, as one matcher stops at its first.
			return cmp.Compare(errRank(a), errRank(b))
		}
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.round, b.round), strings.Compare(a.m.Key, b.m.Key))
	})
	for j := range sd.merge {
		sd.emitResult(&sd.merge[j])
	}
	clear(sd.merge)
}

func errRank(r shardResult) int {
	if r.err != nil {
		return 1
	}
	return 0
}

// emitRun emits a run's results for op i.
func (sd *shardedSequence) emitRun(run *shardRun, i int32) {
	rs := forOp(run.res, &run.next, i)
	for j := range rs {
		sd.emitResult(&rs[j])
	}
}

func (sd *shardedSequence) emitResult(r *shardResult) {
	if r.err != nil {
		sd.e.stateError(sd.r, r.err)
		return
	}
	sd.out.emit(r.m)
}

// A sharded rule's state is its shards' entries, in key order as one
// matcher writes them.
func (sd *shardedSequence) snapshot(put func(string, []byte) error) error {
	type entry struct {
		key string
		val []byte
	}
	var all []entry
	for _, d := range sd.shards {
		if err := d.snapshot(func(k string, v []byte) error {
			all = append(all, entry{k, slices.Clone(v)})
			return nil
		}); err != nil {
			return err
		}
	}
	slices.SortFunc(all, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, en := range all {
		if err := put(en.key, en.val); err != nil {
			return err
		}
	}
	return nil
}

func (sd *shardedSequence) restore(key string, val []byte) error {
	k, ok := strings.CutPrefix(key, "k/")
	if !ok {
		return fmt.Errorf("a sequence rule has no state %q", key)
	}
	return sd.shards[sd.shardOf([]byte(k))].restore(key, val)
}

func seqBytes(d *sequence) int64 { return d.stateBytes() }

func (sd *shardedSequence) stateBytes() int64 { return stateOf(sd.shards, seqBytes) }

// shed sheds each shard to its share of target; what that emits
// (emit_timeouts) comes shard by shard. The budget is checked while no
// shard runs.
func (sd *shardedSequence) shed(target int64) int {
	run := &sd.runs[sd.cur][0]
	return shedShares(sd.shards, target, seqBytes, func(s int, d *sequence, t int64) int {
		sd.active[s] = run
		run.op = 0
		n := d.shed(t)
		sd.emitRun(run, 0)
		clear(run.res)
		run.res, run.next = run.res[:0], 0
		return n
	})
}

// stats sums the shards' matcher statistics.
func (sd *shardedSequence) stats() nfa.Stats {
	var s nfa.Stats
	for _, d := range sd.shards {
		s = addStats(s, d.m.Stats())
	}
	return s
}

func addStats(s, x nfa.Stats) nfa.Stats {
	s.Keys += x.Keys
	s.Partials += x.Partials
	s.Held += x.Held
	s.Nodes += x.Nodes
	s.Bytes += x.Bytes
	s.Matches += x.Matches
	s.TimedOut += x.TimedOut
	s.Expired += x.Expired
	s.DroppedPerKey += x.DroppedPerKey
	s.DroppedTotal += x.DroppedTotal
	return s
}

// shardFor returns the shard that keeps key.
func (sd *shardedSequence) shardFor(key string) *sequence {
	return sd.shards[sd.shardOf([]byte(key))]
}
