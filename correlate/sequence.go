package correlate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/nfa"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// sequence is a `sequence:` rule: CEL guards on an NFA matcher, one state
// per partition key.
type sequence struct {
	// The fields up to traces are set once (traces on the first trace
	// asked for), when the detector is built. The decoders read r and nfa
	// for every event they prepare (prepareKeys), so the fields the
	// engine writes for every event come after them, on the detector's
	// second cache line: gathered beside them, appended to for each
	// event of a batch, made each of those reads a miss.
	e *Engine
	r *rules.Rule
	// det is the detector's index in the engine, by which the decoders'
	// work for it is found (preparedKey).
	det int32
	m   *nfa.Matcher
	nfa *nfa.NFA
	act *rules.SeqActivation
	// store holds the matcher's keys, so a key's partial matches can be
	// described (TraceKey); traces are the keys being traced.
	store  *nfa.MemoryStore
	traces *traces
	keyBuf []byte
	emitFn func(nfa.Match)
	gathered
}

func (e *Engine) newSequence(r *rules.Rule) (*sequence, error) {
	return e.newSequenceWith(r, e.holder(r), e.cfg.Limits.MaxPartials, nil)
}

// newSequenceWith builds a sequence detector whose matcher holds events
// with hold, keeps at most maxPartials partial matches and tells onDue
// its timers' deadlines (nfa.Options).
func (e *Engine) newSequenceWith(r *rules.Rule, hold func(*event.Event) *event.Event, maxPartials int, onDue func(int64)) (*sequence, error) {
	act := r.Sequence.NewSeqActivation()
	p, err := r.Sequence.Pattern(act)
	if err != nil {
		return nil, err
	}
	n, err := nfa.Compile(p)
	if err != nil {
		return nil, err
	}
	d := &sequence{e: e, r: r, det: -1, act: act, store: nfa.NewMemoryStore(), nfa: n}
	opts := nfa.Options{
		MaxPartialsPerKey: e.cfg.Limits.MaxPartialsPerKey,
		MaxPartials:       maxPartials,
		Store:             d.store,
		Hold:              hold,
		Reads:             stepProjections(r.Sequence),
		OnDue:             onDue,
	}
	if e.cfg.Explain != nil && (e.cfg.ExplainRule == "" || e.cfg.ExplainRule == r.ID) {
		opts.Observer = nfa.ObserverFunc(d.observe)
	}
	d.m = nfa.NewMatcher(n, opts)
	d.emitFn = d.emit
	return d, nil
}

// stepProjections is what q's conditions read of each step's events,
// for the matcher's thaws (nfa.Options.Reads): nil for a step read whole.
func stepProjections(q *rules.Sequence) []*event.Projection {
	reads := q.StepReads()
	out := make([]*event.Projection, len(reads))
	for i, rd := range reads {
		if !rd.Whole {
			out[i] = event.NewProjection(rd.Paths)
		}
	}
	return out
}

func (d *sequence) rule() *rules.Rule { return d.r }

// constraints: none. Every event of the rule's streams must reach the
// matcher, because an event that matches no step still breaks strict
// contiguity and is evidence that a `not` step did not happen.
func (d *sequence) constraints() []rules.Constraint { return nil }
func (d *sequence) timed() bool                     { return true }

func (d *sequence) process(ev *event.Event, anomaly *celenv.Scores) {
	d.act.Anomaly = anomaly
	if pk := d.e.preparedKey(ev, d.det); pk != nil {
		if pk.Key == nil {
			// No step takes the event, and none notices it (prepareKeys):
			// its key's state stays as it is.
			return
		}
		if err := d.m.ProcessDecided(pk.Key, ev, nfa.Decided(pk.Decided), d.emitFn); err != nil {
			d.e.stateError(d.r, err)
		}
		return
	}
	var ok bool
	if d.keyBuf, ok = d.e.encodedKey(d.r, ev, d.keyBuf); !ok {
		return
	}
	if err := d.m.ProcessBytes(d.keyBuf, ev, d.emitFn); err != nil {
		d.e.stateError(d.r, err)
	}
}

func (d *sequence) advance(wm int64) {
	if err := d.m.Advance(wm, d.emitFn); err != nil {
		d.e.stateError(d.r, err)
	}
}

// A sequence's state is one entry per key, as the matcher serialises it.
func (d *sequence) snapshot(put func(string, []byte) error) error {
	return d.m.Snapshot(func(key string, state []byte) error { return put("k/"+key, state) })
}

func (d *sequence) restore(key string, val []byte) error {
	if !strings.HasPrefix(key, "k/") {
		return fmt.Errorf("a sequence rule has no state %q", key)
	}
	return d.m.Restore(val)
}

// matchBlock is an alert of a match with room for the evidence of most
// sequences.
type matchBlock struct {
	alertBlock
	evs [4]alert.Evidence
}

func (d *sequence) emit(m nfa.Match) {
	b := new(matchBlock)
	key := decodeKeyIn(b.key[:0], d.r.KeyNames, m.Key)
	evidence := b.evs[:]
	if len(m.Events) > len(evidence) {
		evidence = make([]alert.Evidence, len(m.Events))
	}
	evidence = evidence[:len(m.Events)]
	for i, e := range m.Events {
		// The matcher hands on a match's last event itself only when
		// it is not in its decoder's slab (released once dispatched);
		// should it, the alert, its fields and facts are of a copy.
		m.Events[i].Event = e.Event.Detach()
		evidence[i] = alert.Evidence{Step: e.Name, Event: m.Events[i].Event}
	}
	d.act.BindMatch(m.Events)
	var extra []string
	if m.TimedOut {
		extra = []string{"timed_out", strconv.FormatInt(m.Time, 10)}
	}
	a := d.e.fillAlert(&b.alertBlock, d.r, key, m.Time, evidence, d.act, extra...)
	a.TimedOut = m.TimedOut
	d.e.emit(d.r, a, m.Key)
}

// observe renders the matcher's notes for --explain.
func (d *sequence) observe(n nfa.Note) {
	d.e.explainf(d.r, "%s", noteText(n))
}

// noteText renders a matcher's note as a line of explanation.
func noteText(n nfa.Note) string {
	var b strings.Builder
	fmt.Fprintf(&b, "key %s: partial %d %s", n.Key, n.Partial, n.Kind)
	if n.Parent != 0 {
		fmt.Fprintf(&b, " (from %d)", n.Parent)
	}
	if n.Step != "" {
		fmt.Fprintf(&b, " at step %s", n.Step)
	}
	if n.Event != nil {
		fmt.Fprintf(&b, " with event %s", n.Event.ID)
	} else if n.Time != 0 {
		fmt.Fprintf(&b, " at %s", time.Unix(0, n.Time).UTC().Format(time.RFC3339Nano))
	}
	if n.Reason != "" {
		fmt.Fprintf(&b, ": %s", n.Reason)
	}
	return b.String()
}

// sequenceStats sums the matchers' state, for metrics.
func (e *Engine) sequenceStats() nfa.Stats {
	var s nfa.Stats
	for _, d := range e.dets {
		switch q := d.(type) {
		case *sequence:
			s = addStats(s, q.m.Stats())
		case *shardedSequence:
			s = addStats(s, q.stats())
		}
	}
	return s
}

func (d *sequence) stateBytes() int64 { return d.m.Stats().Bytes }

// shed drops the oldest partial matches down to target; a partial match
// that was to be emitted when it timed out (emit_timeouts) is emitted.
func (d *sequence) shed(target int64) int {
	n, err := d.m.Shed(target, d.emitFn)
	if err != nil {
		d.e.stateError(d.r, err)
	}
	return n
}
