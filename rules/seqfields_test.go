package rules

import (
	"reflect"
	"testing"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/nfa"
	"github.com/cep-project/cep/rules/celenv"
)

// TestStepFieldValues checks that an alert field reading a plain field of
// a step (first.user) gives what CEL gives, read from the match's held
// events, and that what the fast path cannot answer (a missing field, a
// looping step's list, an object) is left to CEL.
func TestStepFieldValues(t *testing.T) {
	c := newTestCompiler(t)
	r, errs := c.CompileFile("seq.yaml", []byte(`
id: t.steps
title: steps
severity: low
streams: [auth]
by: [event.user]
sequence:
  within: 1h
  steps:
    - {name: probe, where: event.outcome == "fail", times: 2+}
    - {name: first, where: event.outcome == "success"}
    - {name: second, where: event.outcome == "success"}
alert:
  fields:
    user: first.user
    city: first.geo.city
    lat: second["geo"]["lat"]
    missing: first.nothing
    geo: first.geo
    probes: probe.size()
    last: event.user
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	proj := event.NewProjection([][]string{{"user"}, {"outcome"}})
	lines := []string{
		`{"id":"p1","ts":1,"user":"u","outcome":"fail","geo":{"city":"Oslo","lat":59.9}}`,
		`{"id":"p2","ts":2,"user":"u","outcome":"fail","geo":{"city":"Oslo","lat":59.9}}`,
		`{"id":"a1","ts":3,"user":"u","outcome":"success","geo":{"city":"Lima","lat":-12.04}}`,
		`{"id":"a2","ts":4,"user":"u","outcome":"success","geo":{"city":"Rome","lat":41.9}}`,
	}
	names := []string{"probe", "probe", "first", "second"}
	var evs []nfa.Evidence
	for i, l := range lines {
		d := event.Decoder{Stream: "auth", Project: proj}
		ev, err := d.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		if i < len(lines)-1 {
			ev = ev.Hold(proj, nil)
		}
		evs = append(evs, nfa.Evidence{Step: i, Name: names[i], Event: ev})
	}
	act := r.Sequence.NewSeqActivation()
	act.BindMatch(evs)
	fast := 0
	for _, f := range r.Fields {
		got, gerr := f.Prog.Value(act)
		v, err := f.Prog.evalCEL(act)
		var want any
		if err == nil {
			want = celenv.Native(v)
		}
		if (gerr != nil) != (err != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, %v; CEL %#v, %v", f.Name, got, gerr, want, err)
		}
		if f.Prog.steps != nil && f.Prog.steps.path != nil {
			fast++
		}
	}
	if fast != 5 {
		t.Errorf("%d fields read a step's field, want 5 (user, city, lat, missing, geo)", fast)
	}
}
