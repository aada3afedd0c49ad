package correlate

import (
	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// filter is a match rule: one event, one condition, one alert.
type filter struct {
	e *Engine
	r *rules.Rule
}

func (f *filter) rule() *rules.Rule               { return f.r }
func (f *filter) constraints() []rules.Constraint { return f.r.Constraints }
func (f *filter) advance(int64)                   {}
func (f *filter) timed() bool                     { return false }

func (f *filter) process(ev *event.Event) {
	if f.r.Match == nil || !f.r.Match.Test(rules.EventActivation{Ev: ev}) {
		f.e.explainf(f.r, "match is false")
		return
	}
	key, k, ok := f.e.keyOf(f.r, ev)
	if !ok {
		return
	}
	act := &f.e.act
	act.Reset()
	act.BindEvent(ev)
	a := f.e.newAlert(f.r, key, ev.Time, []alert.Evidence{{Step: "match", Event: ev}}, act)
	f.e.emit(f.r, a, k)
}
