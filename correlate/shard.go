package correlate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// The engine is one goroutine, and with sequence, window or join rules
// over many keys stepping their automata, windows and buffers is most of
// its work. Keys are independent: what such a rule does with an event
// depends on the event and on its key's state alone. So with
// Config.Shards above one, a sequence, aggregate or join rule whose
// expressions read nothing but the event (no seen, fact or context, no
// baselines, not the whole event) keeps its keys in that many matchers,
// aggregators or joiners, each key in the one its hash picks, and they
// step in parallel (shardseq.go, shardagg.go, shardjoin.go).
//
// The engine still decides everything in event-time order. It releases
// events as before, but instead of dispatching each at once it notes the
// steps (dispatch this event; advance to this watermark) of up to
// prefetchBatch events. It then plans what the sharded rules will be
// asked in those steps: for each event the router would hand them, its
// key and shard; for each watermark the detectors will be advanced to, an
// advance of every shard. The shards run their part of the plan in
// parallel, each on its own goroutine, collecting what they would have
// emitted. Then the engine runs the steps as a run without shards would,
// and where a sharded rule is asked to process an event or to advance, it
// emits what was collected for that call instead of computing it: an
// event's matches or windows come from its key's shard; an advance's from
// every shard, merged into the order one detector emits them in.
// Alerts, dedup, facts, scores and every other detector run on the
// engine's goroutine in event order as before, so the alerts, their order
// and the counters are those of a run without shards.
//
// A plan ends at the event whose dispatch checks the state budget (every
// checkBudgetEvery events), which may shed state or start packing held
// lines: what follows is planned after the check. A call nobody planned (a
// late event, the event of a budget check) runs on the engine's goroutine
// at once. Two things differ from one detector, and only at limits: each
// shard bounds its partial matches (Limits.MaxPartials) or keys
// (Limits.MaxKeys) to its share, and the state budget sheds each shard to
// its share of the rule's target.

// shardOp is one call a sharded rule is planned to get: process ev (its
// key and shard; shard < 0: the event has no key, or the rule's where
// left it out), or advance to wm.
type shardOp struct {
	ev    *event.Event
	wm    int64
	key   []byte
	shard int32
	// side is the join side the event is added to (shardjoin.go).
	side    int32
	advance bool
}

// callPlan is the calls planned for one chunk of steps; next is the
// first the engine has not carried out.
type callPlan struct {
	ops  []shardOp
	keys []byte
	next int
}

// shardCalls is what every rule split by key keeps: its calls in two
// plans, so that while the engine carries out one chunk of steps the
// shards may be running the next.
type shardCalls struct {
	e *Engine
	r *rules.Rule
	n int
	// det is the rule's detector index: a rule with constraints is
	// planned only the events the router hands it.
	det    int
	plans  [2]callPlan
	cur    int
	keyBuf []byte
}

// shardedRule is a rule split by key: a sequence, an aggregate or a
// join.
type shardedRule interface {
	detector
	calls() *shardCalls
	// planProcess notes in plan p that ev will be processed.
	planProcess(p int, ev *event.Event)
	// run carries out shard s's part of plan p, on the shard's goroutine.
	run(p, s int)
	// deliver emits, on the engine's goroutine, what the shards collected
	// for the next planned call, in one detector's order.
	deliver()
	// reset forgets plan p, which must have been carried out.
	reset(p int)
}

// shardable reports whether a rule may be split by key: what it does with
// an event depends on the event and its key's state alone.
func (e *Engine) shardable(r *rules.Rule) bool {
	return e.cfg.Shards > 1 && splits(r) && e.whyNotSharded(r) == ""
}

// newShardedRule splits a shardable rule's keys among the shards.
func (e *Engine) newShardedRule(r *rules.Rule) (shardedRule, error) {
	var (
		sr  shardedRule
		err error
	)
	switch r.Kind {
	case rules.KindSequence:
		sr, err = e.newShardedSequence(r)
	case rules.KindAggregate:
		sr, err = e.newShardedAggregate(r)
	case rules.KindJoin:
		sr, err = e.newShardedJoin(r)
	default:
		err = fmt.Errorf("%s rules are not split by key", r.Kind)
	}
	if err != nil {
		return nil, err
	}
	return sr, nil
}

// splits reports whether r is of a kind that keeps state by key.
func splits(r *rules.Rule) bool {
	return r.Kind == rules.KindSequence || r.Kind == rules.KindAggregate || r.Kind == rules.KindJoin
}

// whyNotSharded says why a sequence, aggregate or join rule keeps its
// keys in one detector when shards are configured.
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

// logShards says, once, which rules are split by key and why the other
// sequence, aggregate and join rules are not.
func (e *Engine) logShards() {
	if e.cfg.Shards <= 1 {
		return
	}
	var split []string
	for _, d := range e.dets {
		r := d.rule()
		if _, ok := d.(shardedRule); ok {
			split = append(split, r.ID)
		} else if splits(r) {
			e.log.Info(r.Kind.String()+" rule not split by key: "+e.whyNotSharded(r), "rule", r.ID)
		}
	}
	if len(split) > 0 {
		e.log.Info("rules split by key", "shards", e.cfg.Shards, "rules", strings.Join(split, ","))
	}
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

// heldOnce makes hold, for shard s, take one copy of an event however
// many of the shard's rules hold it, as the rules of one goroutine share
// the copy the last event got (hold.go). A shard runs its rules one after
// the other over a plan, so it remembers the copies of the plan it runs.
func (e *Engine) heldOnce(s int, hold func(*event.Event) *event.Event) func(*event.Event) *event.Event {
	return func(ev *event.Event) *event.Event {
		m := e.shardHeld[s]
		if c, ok := m[ev]; ok {
			return c
		}
		c := hold(ev)
		m[ev] = c
		return c
	}
}

func (sc *shardCalls) calls() *shardCalls { return sc }
func (sc *shardCalls) rule() *rules.Rule  { return sc.r }
func (sc *shardCalls) timed() bool        { return true }

func (sc *shardCalls) shardOf(key []byte) int32 {
	return int32(xxhash.Sum64(key) % uint64(sc.n))
}

// planKeyed notes in plan p that ev will be processed, with its key
// computed now, on the engine's goroutine, as processing would (a key
// that cannot be computed is counted there).
func (sc *shardCalls) planKeyed(p int, ev *event.Event) {
	var ok bool
	sc.keyBuf, ok = sc.e.encodedKey(sc.r, ev, sc.keyBuf)
	op := shardOp{ev: ev, shard: -1}
	if ok {
		op = sc.keyed(p, op, sc.keyBuf)
	}
	sc.plans[p].ops = append(sc.plans[p].ops, op)
}

// keyed gives op a copy of key, kept with plan p, and the key's shard.
func (sc *shardCalls) keyed(p int, op shardOp, key []byte) shardOp {
	pl := &sc.plans[p]
	start := len(pl.keys)
	pl.keys = append(pl.keys, key...)
	op.key = pl.keys[start:len(pl.keys):len(pl.keys)]
	op.shard = sc.shardOf(op.key)
	return op
}

func (sc *shardCalls) planAdvance(p int, wm int64) {
	pl := &sc.plans[p]
	pl.ops = append(pl.ops, shardOp{wm: wm, advance: true, shard: -1})
}

// planned reports whether the current plan has a call left, and checks
// that it is this one: processing ev, or (ev nil) advancing to wm.
func (sc *shardCalls) planned(ev *event.Event, wm int64) bool {
	pl := &sc.plans[sc.cur]
	if pl.next == len(pl.ops) {
		return false
	}
	op := &pl.ops[pl.next]
	switch {
	case ev == nil && (!op.advance || op.wm != wm):
		panic(fmt.Sprintf("correlate: rule %s was planned another call than an advance to %d", sc.r.ID, wm))
	case ev != nil && (op.advance || op.ev != ev):
		panic(fmt.Sprintf("correlate: rule %s was planned another call than processing event %s", sc.r.ID, ev.ID))
	}
	return true
}

// take returns the next planned call, which the caller delivers.
func (sc *shardCalls) take() (int32, *shardOp) {
	pl := &sc.plans[sc.cur]
	i := pl.next
	pl.next++
	return int32(i), &pl.ops[i]
}

// resetCalls forgets the calls of plan p, which must have been carried
// out.
func (sc *shardCalls) resetCalls(p int) {
	pl := &sc.plans[p]
	if pl.next != len(pl.ops) {
		panic(fmt.Sprintf("correlate: rule %s was planned %d calls and got %d", sc.r.ID, len(pl.ops), pl.next))
	}
	clear(pl.ops)
	pl.ops, pl.next, pl.keys = pl.ops[:0], 0, pl.keys[:0]
}

// now plans one call of sr and carries it out on the engine's goroutine,
// while no shard runs: a call nobody planned.
func (sc *shardCalls) now(sr shardedRule, plan func()) {
	if sc.e.shardsBusy {
		panic(fmt.Sprintf("correlate: rule %s got a call nobody planned while its shards run", sc.r.ID))
	}
	sr.reset(sc.cur)
	plan()
	for s := range sc.n {
		clear(sc.e.shardHeld[s])
		sr.run(sc.cur, s)
	}
	sr.deliver()
	sr.reset(sc.cur)
}

// processOrNow delivers what the shards collected for processing ev, or
// processes it now when it was not planned.
func (sc *shardCalls) processOrNow(sr shardedRule, ev *event.Event) {
	if !sc.planned(ev, 0) {
		sc.now(sr, func() { sr.planProcess(sc.cur, ev) })
		return
	}
	sr.deliver()
}

// advanceOrNow is processOrNow for an advance to wm.
func (sc *shardCalls) advanceOrNow(sr shardedRule, wm int64) {
	if !sc.planned(nil, wm) {
		sc.now(sr, func() { sc.planAdvance(sc.cur, wm) })
		return
	}
	sr.deliver()
}

// opResult is something a shard collected, tagged with the index of the
// planned call it answers.
type opResult interface{ opIndex() int32 }

// forOp returns the results of call i from *next on, in the order the
// shard collected them, and moves *next past them.
func forOp[R opResult](res []R, next *int, i int32) []R {
	start := *next
	for *next < len(res) && res[*next].opIndex() == i {
		*next++
	}
	return res[start:*next]
}

// stateOf sums the state bytes of a rule's shards.
func stateOf[T any](shards []T, bytes func(T) int64) int64 {
	var n int64
	for _, d := range shards {
		n += bytes(d)
	}
	return n
}

// shedShares sheds each of a rule's shards to its share of target, by
// its share of their state, and returns how much they shed.
func shedShares[T any](shards []T, target int64, bytes func(T) int64, shed func(s int, d T, target int64) int) int {
	total := stateOf(shards, bytes)
	if total <= 0 {
		return 0
	}
	n := 0
	for s, d := range shards {
		n += shed(s, d, int64(float64(target)*float64(bytes(d))/float64(total)))
	}
	return n
}

// shareOf is each of n shards' share of a limit: 0 (none) stays 0.
func shareOf(limit, n int) int {
	return (limit + n - 1) / n
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
		sd.calls().cur = p
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
				sd.calls().planAdvance(p, t)
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
		var routed []int
		if e.shardIndexed {
			routed = e.routeAfterFilters(s.ev)
		}
		for _, sd := range e.sharded {
			if !sd.rule().ReadsStream(s.ev.Stream) {
				continue
			}
			if len(sd.constraints()) > 0 {
				if _, ok := slices.BinarySearch(routed, sd.calls().det); !ok {
					continue
				}
			}
			sd.planProcess(p, s.ev)
		}
	}
	return len(steps), false
}

// startShards starts running plan p, shard s of every sharded rule on a
// goroutine of its own, and returns what waits for them to finish.
func (e *Engine) startShards(p int) (wait func()) {
	planned := false
	for _, sd := range e.sharded {
		planned = planned || len(sd.calls().plans[p].ops) > 0
	}
	if !planned {
		return func() {}
	}
	e.shardsBusy = true
	e.shardWG.Add(e.cfg.Shards)
	for s := range e.cfg.Shards {
		go func() {
			defer e.shardWG.Done()
			clear(e.shardHeld[s])
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
	if len(evs) > 1 && e.manyFilters(evs[0].Stream) {
		e.prepareRest(evs)
		e.touchFiring(evs)
	}
	if len(evs) > 1 && e.prepKeyed != nil {
		e.touchKeys(evs)
	}
	// The slabs of what the batch released go back at its end.
	defer e.released.Flush()
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
