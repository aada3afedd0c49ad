package correlate

import (
	"fmt"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// filter is a match rule: one event, one condition, one alert.
type filter struct {
	e *Engine
	r *rules.Rule
	// match is r.Match, kept here because an event's test should not
	// have to reach the rule: at 10,000 rules it is a cache miss.
	match *rules.Program
	// handle and stats are the rule's alert handling and counters,
	// which each alert would otherwise look up by the rule's id.
	handle *alert.RuleHandle
	stats  *RuleStats
}

// The verdicts of a filter.
const (
	verdictMiss = iota
	verdictHit
)

func (f *filter) rule() *rules.Rule { return f.r }

// constraints route the rule by its condition's equality tests, except when
// it keeps baselines: those learn from every event of its streams.
func (f *filter) constraints() []rules.Constraint {
	if len(f.r.Baselines) > 0 {
		return nil
	}
	return f.r.Constraints
}

func (f *filter) advance(int64) {}

// A filter keeps no state of its own.
func (f *filter) snapshot(func(string, []byte) error) error { return nil }
func (f *filter) restore(key string, _ []byte) error {
	return fmt.Errorf("a match rule has no state %q", key)
}
func (f *filter) timed() bool { return false }

func (f *filter) process(ev *event.Event, anomaly *celenv.Scores) {
	var ok bool
	var errsBefore uint64
	explaining := f.e.explaining(f.r)
	if explaining {
		// Read only when explaining: at 10,000 rules, touching every
		// candidate rule's health costs a cache miss per rule and event.
		errsBefore = f.r.Health.Errors()
	}
	if f.match != nil {
		if anomaly == nil {
			ok = f.match.Test(rules.EventActivation{Ev: ev})
		} else if verdict, decided := f.match.DecideEvent(ev); decided {
			// The tests of the event alone that the condition is a
			// chain of have refuted it (rules.Program.DecideEvent),
			// whatever the anomaly scores.
			ok = verdict
		} else {
			ok = f.match.Test(f.bind(ev, anomaly))
		}
	}
	if !ok {
		if explaining {
			if f.r.Health.Errors() > errsBefore {
				f.e.explainf(f.r, "match could not be evaluated (counted as false): %v", f.r.Health.LastError())
			} else {
				f.e.explainf(f.r, "match is false")
			}
		}
		return
	}
	f.fire(ev, anomaly)
}

// fire raises the rule's alert for an event its condition matched. The
// alert, its key and fields are of a copy of an event in a decoder's slab,
// which the engine releases once dispatched (see Engine.dispatch).
func (f *filter) fire(ev *event.Event, anomaly *celenv.Scores) {
	ev = ev.Detach()
	b := new(alertBlock)
	key, k, ok := f.e.keyOf(f.r, ev, b.key[:0], f.handle != nil)
	if !ok {
		return
	}
	b.ev[0] = alert.Evidence{Step: "match", Event: ev}
	a := f.e.fillAlert(b, f.r, key, ev.Time, b.ev[:], f.bind(ev, anomaly))
	f.e.emitTo(f.r, f.handle, f.stats, a, k)
}

// bind sets the engine's activation to ev (and its anomaly scores).
func (f *filter) bind(ev *event.Event, anomaly *celenv.Scores) *rules.Activation {
	act := &f.e.act
	act.Reset()
	act.BindEvent(ev)
	if anomaly != nil {
		act.Bind("anomaly", anomaly)
	}
	return act
}

func (f *filter) stateBytes() int64 { return 0 }
func (f *filter) shed(int64) int    { return 0 }
