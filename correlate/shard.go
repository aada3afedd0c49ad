package correlate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/nfa"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// The engine is one goroutine, and with sequence rules over many keys
// stepping their automata is most of its work. Keys are independent: what
// a sequence does with an event depends on the event and on its key's
// state alone. So with Config.Shards above one, a sequence rule whose
// expressions read nothing but the event (no seen, fact or context, no
// baselines, not the whole event) keeps its keys in that many matchers,
// each key in the one its hash picks, and the matchers step in parallel.
//
// The engine still decides everything in event-time order. It releases
// events as before, but instead of dispatching each at once it notes the
// steps (dispatch this event; advance to this watermark) of up to
// prefetchBatch events. It then plans what the sharded rules will be
// asked in those steps: for each event of their streams, its key and
// shard; for each watermark the detectors will be advanced to, an advance
// of every shard. The shards run their part of the plan in parallel, each
// on its own goroutine, collecting the matches they would have emitted.
// Then the engine runs the steps as a run without shards would, and where
// a sharded rule is asked to process an event or to advance, it emits the
// matches collected for that call instead of computing them: an event's
// matches come from its key's shard, in its order; an advance's from
// every shard, merged into the order one matcher fires timers in (by
// deadline, then key; nfa.Options.OnDue). Alerts, dedup, facts, scores and
// every other detector run on the engine's goroutine in event order as
// before, so the alerts, their order and the counters are those of a run
// without shards.
//
// A plan ends at the event whose dispatch checks the state budget (every
// checkBudgetEvery events), which may shed state or start packing held
// lines: what follows is planned after the check. A call nobody planned (a
// late event under late: process, the event of a budget check) runs on
// the engine's goroutine at once. Two things differ from one matcher, and
// only at limits: each shard bounds its partial matches to its share of
// Limits.MaxPartials, and the state budget sheds each shard to its share
// of the rule's target.

// shardOp is one call a sharded rule is planned to get: process ev (its
// key and shard; shard < 0: the event has no key), or advance to wm.
type shardOp struct {
	ev      *event.Event
	wm      int64
	key     []byte
	shard   int32
	advance bool
}

// shardResult is a match (or an error) a shard collected for an op; at
// and round place an advance's match among the other shards' (see OnDue).
type shardResult struct {
	op    int32
	round int32
	at    int64
	m     nfa.Match
	err   error
}

// shardRun is one shard's collection while it runs a plan.
type shardRun struct {
	op    int32
	at    int64
	round int32
	res   []shardResult
	next  int
	_     [64]byte // its own cache line: shards run in parallel
}

// shardPlan is the calls planned for one chunk of steps, and what each
// shard collected running them.
type shardPlan struct {
	ops  []shardOp
	keys []byte
	runs []shardRun
	next int
}

// shardedSequence is a sequence rule whose keys are split among shards.
// It has two plans: while the engine emits what the shards collected for
// one chunk of steps, the shards may be running the next.
type shardedSequence struct {
	e      *Engine
	r      *rules.Rule
	shards []*sequence
	// active is the run each shard collects into.
	active []*shardRun
	// out emits matches on the engine's goroutine, with an activation of
	// its own: the shards' may be in use.
	out    *sequence
	plans  [2]shardPlan
	cur    int
	keyBuf []byte
	merge  []shardResult
}

// shardable reports whether a sequence rule may be split by key: what it
// does with an event depends on the event and its key's state alone.
func (e *Engine) shardable(r *rules.Rule) bool {
	return e.cfg.Shards > 1 && r.Kind == rules.KindSequence && e.cfg.Explain == nil &&
		len(r.Baselines) == 0 && !r.Reads().Whole && !r.CallsFacts()
}

// whyNotSharded says why a sequence rule keeps its keys in one matcher
// when shards are configured.
func (e *Engine) whyNotSharded(r *rules.Rule) string {
	switch {
	case e.cfg.Explain != nil:
		return "explaining, which wants each rule's reasons in event order"
	case len(r.Baselines) > 0:
		return "it keeps baselines, which learn from every key's events"
	case r.Reads().Whole:
		return "it reads events whole"
	case r.CallsFacts():
		return "it calls seen, fact or context, which other keys' alerts change"
	}
	return ""
}

// logShards says, once, which sequence rules are split by key and why the
// others are not.
func (e *Engine) logShards() {
	if e.cfg.Shards <= 1 {
		return
	}
	var split []string
	for _, d := range e.dets {
		r := d.rule()
		if _, ok := d.(*shardedSequence); ok {
			split = append(split, r.ID)
		} else if r.Kind == rules.KindSequence {
			e.log.Info("sequence rule not split by key: "+e.whyNotSharded(r), "rule", r.ID)
		}
	}
	if len(split) > 0 {
		e.log.Info("sequence rules split by key", "shards", e.cfg.Shards, "rules", strings.Join(split, ","))
	}
}

func (e *Engine) newShardedSequence(r *rules.Rule) (*shardedSequence, error) {
	n := e.cfg.Shards
	sd := &shardedSequence{e: e, r: r, active: make([]*shardRun, n)}
	for i := range sd.plans {
		sd.plans[i].runs = make([]shardRun, n)
	}
	hold := e.holder(r)
	maxPartials := e.cfg.Limits.MaxPartials
	if maxPartials <= 0 {
		maxPartials = nfa.DefaultMaxPartials
	}
	for s := range n {
		d, err := e.newSequenceWith(r, hold, (maxPartials+n-1)/n, func(at int64) {
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

// lockedHold makes hold safe to call from the shards, which run in
// parallel with each other and with the engine: the held copies are the
// engine's, shared by its rules.
func (e *Engine) lockedHold(hold func(*event.Event) *event.Event) func(*event.Event) *event.Event {
	if e.cfg.Shards <= 1 {
		return hold
	}
	return func(ev *event.Event) *event.Event {
		e.holdMu.Lock()
		defer e.holdMu.Unlock()
		return hold(ev)
	}
}

func (sd *shardedSequence) rule() *rules.Rule               { return sd.r }
func (sd *shardedSequence) constraints() []rules.Constraint { return nil }
func (sd *shardedSequence) timed() bool                     { return true }

func (sd *shardedSequence) shardOf(key []byte) int32 {
	return int32(xxhash.Sum64(key) % uint64(len(sd.shards)))
}

// reset forgets plan p, which must have been carried out.
func (sd *shardedSequence) reset(p int) {
	pl := &sd.plans[p]
	if pl.next != len(pl.ops) {
		panic(fmt.Sprintf("correlate: rule %s was planned %d calls and got %d", sd.r.ID, len(pl.ops), pl.next))
	}
	clear(pl.ops)
	pl.ops, pl.next, pl.keys = pl.ops[:0], 0, pl.keys[:0]
	for i := range pl.runs {
		run := &pl.runs[i]
		clear(run.res)
		run.res, run.next = run.res[:0], 0
	}
}

// planProcess notes in plan p that ev will be processed: its key now, on
// the engine's goroutine, as process would compute it.
func (sd *shardedSequence) planProcess(p int, ev *event.Event) {
	pl := &sd.plans[p]
	var ok bool
	sd.keyBuf, ok = sd.e.encodedKey(sd.r, ev, sd.keyBuf)
	op := shardOp{ev: ev, shard: -1}
	if ok {
		start := len(pl.keys)
		pl.keys = append(pl.keys, sd.keyBuf...)
		op.key = pl.keys[start:len(pl.keys):len(pl.keys)]
		op.shard = sd.shardOf(op.key)
	}
	pl.ops = append(pl.ops, op)
}

func (sd *shardedSequence) planAdvance(p int, wm int64) {
	pl := &sd.plans[p]
	pl.ops = append(pl.ops, shardOp{wm: wm, advance: true, shard: -1})
}

// run carries out shard s's part of plan p.
func (sd *shardedSequence) run(p, s int) {
	pl := &sd.plans[p]
	d, run := sd.shards[s], &pl.runs[s]
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

// process emits what the shards collected for ev, or processes it now when
// it was not planned.
func (sd *shardedSequence) process(ev *event.Event, _ *celenv.Scores) {
	pl := &sd.plans[sd.cur]
	if pl.next == len(pl.ops) {
		sd.now(func() { sd.planProcess(sd.cur, ev) })
		return
	}
	if op := &pl.ops[pl.next]; op.advance || op.ev != ev {
		panic(fmt.Sprintf("correlate: rule %s was planned another call than processing event %s", sd.r.ID, ev.ID))
	}
	sd.deliver()
}

func (sd *shardedSequence) advance(wm int64) {
	pl := &sd.plans[sd.cur]
	if pl.next == len(pl.ops) {
		sd.now(func() { sd.planAdvance(sd.cur, wm) })
		return
	}
	if op := &pl.ops[pl.next]; !op.advance || op.wm != wm {
		panic(fmt.Sprintf("correlate: rule %s was planned another call than an advance to %d", sd.r.ID, wm))
	}
	sd.deliver()
}

// now plans one call and carries it out on the engine's goroutine, while
// no shard runs.
func (sd *shardedSequence) now(plan func()) {
	if sd.e.shardsBusy {
		panic(fmt.Sprintf("correlate: rule %s got a call nobody planned while its shards run", sd.r.ID))
	}
	sd.reset(sd.cur)
	plan()
	for s := range sd.shards {
		sd.run(sd.cur, s)
	}
	sd.deliver()
	sd.reset(sd.cur)
}

// deliver emits the matches of the next planned call in one matcher's
// order.
func (sd *shardedSequence) deliver() {
	pl := &sd.plans[sd.cur]
	i := int32(pl.next)
	op := &pl.ops[i]
	pl.next++
	if !op.advance {
		if op.shard >= 0 {
			sd.emitRun(&pl.runs[op.shard], i)
		}
		return
	}
	sd.merge = sd.merge[:0]
	for s := range pl.runs {
		run := &pl.runs[s]
		for run.next < len(run.res) && run.res[run.next].op == i {
			sd.merge = append(sd.merge, run.res[run.next])
			run.next++
		}
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
	for run.next < len(run.res) && run.res[run.next].op == i {
		sd.emitResult(&run.res[run.next])
		run.next++
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

func (sd *shardedSequence) stateBytes() int64 {
	var n int64
	for _, d := range sd.shards {
		n += d.stateBytes()
	}
	return n
}

// shed sheds each shard to its share of target, by its share of the
// state; what that emits (emit_timeouts) comes shard by shard. The budget
// is checked while no shard runs.
func (sd *shardedSequence) shed(target int64) int {
	total := sd.stateBytes()
	if total <= 0 {
		return 0
	}
	n := 0
	run := &sd.plans[sd.cur].runs[0]
	for s, d := range sd.shards {
		b := d.stateBytes()
		sd.active[s] = run
		run.op = 0
		n += d.shed(int64(float64(target) * float64(b) / float64(total)))
		sd.emitRun(run, 0)
		clear(run.res)
		run.res, run.next = run.res[:0], 0
	}
	return n
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

// step is one thing release does: dispatch ev (after advancing the
// detectors to its time), or, with ev nil, advance them to wm.
type step struct {
	ev *event.Event
	wm int64
}

// releaseSteps is release for an engine with sharded rules: it notes the
// steps and, unless a PushBatch is under way, runs them.
func (e *Engine) releaseSteps(wm int64) {
	for {
		ev := e.reorder.pop(wm)
		if ev == nil {
			break
		}
		e.steps = append(e.steps, step{ev: ev})
	}
	e.steps = append(e.steps, step{wm: wm})
	if !e.deferring {
		e.runSteps()
	}
}

// planCursor is where planning has got to: the time the detectors will
// have been advanced to, and the events dispatched since the last budget
// check.
type planCursor struct {
	wm    int64
	since int
}

// runSteps runs the noted steps a chunk at a time: it plans the sharded
// rules' part of a chunk, lets the shards run it, and while the engine
// carries out the chunk's steps, emitting what the shards collected, the
// shards run the next chunk, unless the chunk ends with a check of the
// state budget (which must see the state as it is at that event).
func (e *Engine) runSteps() {
	cur := planCursor{e.detWM, e.sinceCheck}
	p, i := 0, 0
	j, check := e.planSteps(p, e.steps, &cur)
	wait := e.startShards(p)
	for {
		wait()
		var next func()
		nj, nextCheck := j, false
		if !check && j < len(e.steps) {
			nj, nextCheck = e.planSteps(1-p, e.steps[j:], &cur)
			nj += j
			next = e.startShards(1 - p)
		}
		e.carryOut(p, i, j)
		if j >= len(e.steps) {
			break
		}
		i, p = j, 1-p
		if next == nil {
			cur = planCursor{e.detWM, e.sinceCheck}
			j, check = e.planSteps(p, e.steps[i:], &cur)
			j += i
			next = e.startShards(p)
		} else {
			j, check = nj, nextCheck
		}
		wait = next
	}
	clear(e.steps)
	e.steps = e.steps[:0]
}

// carryOut runs steps i to j, whose sharded calls plan p has.
func (e *Engine) carryOut(p, i, j int) {
	if e.prefetch != nil {
		e.batch = e.batch[:0]
		for _, s := range e.steps[i:j] {
			if s.ev != nil {
				e.batch = append(e.batch, s.ev)
			}
		}
		e.prefetch(e.batch)
		clear(e.batch)
	}
	for _, sd := range e.sharded {
		sd.cur = p
	}
	for _, s := range e.steps[i:j] {
		if s.ev == nil {
			if s.wm > e.detWM {
				e.advanceDetectors(s.wm)
			}
			continue
		}
		if s.ev.Time > e.detWM {
			e.advanceDetectors(s.ev.Time)
		}
		e.dispatch(s.ev)
	}
	for _, sd := range e.sharded {
		sd.reset(p)
	}
}

// planSteps plans into plan p the sharded rules' calls in the first
// steps, from cur on, and returns how many steps the plan covers: up to
// prefetchBatch events, and at most up to the event whose dispatch checks
// the state budget (check), whose own processing is left unplanned.
func (e *Engine) planSteps(p int, steps []step, cur *planCursor) (n int, check bool) {
	events := 0
	advance := func(t int64) {
		if t > cur.wm {
			for _, sd := range e.sharded {
				sd.planAdvance(p, t)
			}
			cur.wm = t
		}
	}
	for i, s := range steps {
		if s.ev == nil {
			advance(s.wm)
			continue
		}
		if events == prefetchBatch {
			return i, false
		}
		advance(s.ev.Time)
		events++
		if cur.since++; cur.since >= checkBudgetEvery {
			cur.since = 0
			return i + 1, true
		}
		for _, sd := range e.sharded {
			if sd.r.ReadsStream(s.ev.Stream) {
				sd.planProcess(p, s.ev)
			}
		}
	}
	return len(steps), false
}

// startShards starts running plan p, shard s of every sharded rule on a
// goroutine of its own, and returns what waits for them to finish.
func (e *Engine) startShards(p int) (wait func()) {
	planned := false
	for _, sd := range e.sharded {
		planned = planned || len(sd.plans[p].ops) > 0
	}
	if !planned {
		return func() {}
	}
	e.shardsBusy = true
	e.shardWG.Add(e.cfg.Shards)
	for s := range e.cfg.Shards {
		go func() {
			defer e.shardWG.Done()
			for _, sd := range e.sharded {
				sd.run(p, s)
			}
		}()
	}
	return func() {
		e.shardWG.Wait()
		e.shardsBusy = false
	}
}

// PushBatch pushes events in order, as Push does one by one, letting the
// sharded rules step through their keys in parallel (see above). With no
// sharded rule it is Push in a loop.
func (e *Engine) PushBatch(evs []*event.Event, now time.Time) {
	if e.sharded == nil {
		for _, ev := range evs {
			e.Push(ev, now)
		}
		return
	}
	e.deferring = true
	for _, ev := range evs {
		e.Push(ev, now)
	}
	e.deferring = false
	e.runSteps()
}

// flushSteps runs the steps noted so far, before what must come after them.
func (e *Engine) flushSteps() {
	if len(e.steps) > 0 {
		e.runSteps()
	}
}
