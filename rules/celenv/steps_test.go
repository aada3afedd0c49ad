package celenv

import (
	"math/rand/v2"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/event"
)

// stepEvents are events of a login sequence, with their coordinates in
// the shapes geo_distance_km reads and some it does not.
var stepEvents = []string{
	`{"ts":"2026-03-02T08:00:00Z","outcome":"success","amount":10,"geo":{"city":"London","lat":51.5072,"lon":-0.1276}}`,
	`{"ts":"2026-03-02T08:40:00Z","outcome":"success","amount":2.5,"geo":{"city":"Singapore","lat":1.3521,"lon":103.8198}}`,
	`{"ts":"2026-03-02T11:00:00Z","outcome":"fail","amount":0,"geo":{"latitude":48.8566,"longitude":2.3522}}`,
	`{"ts":"2026-03-02T11:00:00Z","outcome":"success","amount":-4,"lat":40.4168,"lng":-3.7038}`,
	`{"ts":"2026-03-02T12:00:00Z","outcome":"success","amount":"7","geo":{"lat":"north","latitude":10,"lon":20}}`,
	`{"ts":"2026-03-02T12:00:00Z","amount":1e308,"geo":[1,2]}`,
	`{"ts":"2026-03-02T13:00:00Z","outcome":true,"amount":null,"geo":{"lat":1}}`,
	`{"ts":"2026-03-03T08:00:00Z","outcome":"success","amount":10,"geo":{"lat":51.5072,"lon":-0.1276},"lat":0,"lon":0}`,
}

var stepAtoms = []string{
	`geo_distance_km(first.geo, event.geo) > 100.0`,
	`geo_distance_km(first, event) / math.greatest(hours_between(first, event), 0.01) > 900.0`,
	`geo_distance_km(first.geo.lat, first.geo.lon, event.geo.lat, event.geo.lon) < 5000.0`,
	`geo_distance_km(second, first) >= 0.0`,
	`first.amount * 2.0 < event.amount`, `first.amount - event.amount >= 0.0`, `first.amount + 1.5 == 11.5`,
	`-first.amount < 3`, `first.amount > 2`, `first.amount / 0.0 > 1.0`, `(first.amount - first.amount) / 0.0 < 1.0`,
	`first.amount * 1e308 > 1.0`, `math.least(first.amount, event.amount, 10.0) == 2.5`, `math.greatest(first.amount) >= 10.0`,
	`hours_between(first, second) <= 2.0`, `hours_between(event, first) > 0.5`, `second.amount == first.amount`,
	`first.amount * 2 > 1.0`, `first.missing > 1.0`, `first.geo.lat > 50`, `first.outcome == "success"`,
	`event.outcome == "success"`, `first.amount != event.amount`, `first.geo.city == event.geo.city`,
	`first.outcome != "fail"`, `first.amount == 10`, `first.outcome == event.outcome`, `first.geo == event.geo`,
	`first.amount > 10.0`, `first.amount >= 10.0`, `first.amount < 10`, `first.amount <= 10.0`, `hours_between(first, first) > 0.0`,
	`second.amount == null`, `first.outcome == true`, `event.outcome == "success" && first.geo.city != event.geo.city`,
}

// steps binds step names to events for the native form; CEL gets the
// same names, an absent step as null.
type steps map[string]*event.Event

func (s steps) StepEvent(name string) *event.Event { return s[name] }

// TestFastStepsMatchCEL checks the native form of conditions over steps
// against CEL: wherever it answers true or false, CEL answers the same
// without an error, on every event of every step, and on random
// combinations with &&, || and !, under every mode.
func TestFastStepsMatchCEL(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	stepEnv, err := env.Event.Extend(cel.Variable("first", EventType), cel.Variable("second", EventType))
	if err != nil {
		t.Fatal(err)
	}
	senv := &Env{Event: stepEnv}
	rnd := rand.New(rand.NewPCG(3, 4))
	exprs := append([]string{}, stepAtoms...)
	for range 300 {
		exprs = append(exprs, randomOf(rnd, stepAtoms, 3))
	}
	var evs []*event.Event
	for _, l := range stepEvents {
		evs = append(evs, decode(t, l))
	}
	built, answered := 0, 0
	for _, m := range modes {
		for _, expr := range exprs {
			a, prg := compileMode(t, senv, expr, m)
			if a.OutputType() != cel.BoolType {
				continue
			}
			p := FastStepPredicate(a.NativeRep().Expr(), nil)
			if p == nil {
				continue
			}
			built++
			for range 12 {
				ev, first := evs[rnd.IntN(len(evs))], evs[rnd.IntN(len(evs))]
				var second *event.Event
				if rnd.IntN(3) > 0 {
					second = evs[rnd.IntN(len(evs))]
				}
				vars := map[string]any{"event": EventValue(ev), "first": EventValue(first), "second": types.NullValue}
				if second != nil {
					vars["second"] = EventValue(second)
				}
				got := p(ev, steps{"first": first, "second": second})
				if got != True && got != False {
					continue
				}
				answered++
				v, _, err := prg.Eval(vars)
				if err != nil {
					t.Fatalf("%+v: %s: native %d, CEL fails: %v\nevent %s\nfirst %s\nsecond %v", m, expr, got, err, ev.Raw, first.Raw, second)
				}
				if b, ok := v.(types.Bool); !ok || triOf(bool(b)) != got {
					t.Fatalf("%+v: %s: native %d, CEL %v\nevent %s\nfirst %s", m, expr, got, v, ev.Raw, first.Raw)
				}
			}
		}
	}
	t.Logf("native forms for %d of %d expressions in all modes, %d answers", built, len(exprs)*len(modes), answered)
	// The test proves something only where the native form answers.
	if built < len(exprs) || answered < built*3 {
		t.Errorf("native forms for %d of %d expressions in all modes, %d answers", built, len(exprs)*len(modes), answered)
	}
}
