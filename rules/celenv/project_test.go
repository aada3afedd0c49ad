package celenv

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"github.com/google/cel-go/cel"

	"github.com/cep-project/cep/event"
)

// viewExprs read events in the ways a projection must not change: the
// whole event (size, keys, rendering), objects kept only in part, members
// the projection left out, and presence tests.
var viewExprs = []string{
	`size(event)`, `event.size()`, `event.exists(k, k == "z")`, `event.all(k, k != "q")`, `event.map(k, k)`,
	`event`, `event.o`, `size(event.o)`, `event.o.exists(k, k == "n")`, `event.o.map(k, k)`, `event.o == {"s": "x", "n": 1.0}`,
	`event.o.s`, `event.o.n`, `event.o.q`, `event["o"]["s"]`, `event.deep.a.b`, `event.deep.a`, `size(event.deep.a)`, `event.deep`,
	`has(event.o.s)`, `has(event.o.q)`, `has(event.deep.a.c)`, `has(event.z)`, `has(event.q)`, `"s" in event`, `"q" in event.o`,
	`event.a`, `event.a[0]`, `size(event.a)`, `event.s`, `event.n + 1.0`, `event[event.s]`, `event.?o.?s.orValue("none")`,
	`keywords(event, ["x"])`, `keywords(event.o, ["x"])`, `keywords(event.deep, ["7"])`, `keywordsLike(event, ["*lat*"])`,
	`event.deep.a.b == 7`, `event.deep.a.c.iequals("Q")`, `event.o.s.iin(["x"])`,
}

var viewEvents = []string{
	`{"ts":1,"s":"abc","n":3,"z":null,"o":{"s":"x","n":1},"a":[1,{"o":2}],"deep":{"a":{"b":7,"c":"q"},"d":"flat"}}`,
	`{"ts":1,"s":"o","o":{"n":"1"},"deep":{"a":"x"}}`,
	`{"ts":1,"o":{},"deep":{"d":1}}`,
	`{"ts":1}`,
}

// TestProjectedViewMatchesFull holds the CEL view of a projected event,
// and the native predicates over it, to the answers on the whole event,
// whatever the projection holds.
func TestProjectedViewMatchesFull(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	projections := [][][]string{
		{},
		{{"s"}},
		{{"o", "s"}},
		{{"deep", "a", "b"}},
		{{"deep", "a", "b"}, {"deep", "d"}, {"o"}},
		{{"o", "q"}, {"z"}, {"a"}, {"deep", "a", "c"}},
	}
	outcome := func(prg cel.Program, ev *event.Event) string {
		v, _, err := prg.Eval(map[string]any{"event": EventValue(ev)})
		if err != nil {
			if IsMissingField(err) {
				return "missing"
			}
			return "error"
		}
		return fmt.Sprintf("%#v", Native(v))
	}
	for _, m := range modes {
		for _, expr := range viewExprs {
			a, prg := compileMode(t, env, expr, m)
			var fast Pred
			if a.OutputType() == cel.BoolType {
				fast = FastPredicate(a.NativeRep().Expr())
			}
			for _, line := range viewEvents {
				full := decode(t, line)
				want := outcome(prg, full)
				for _, proj := range projections {
					d := event.Decoder{Stream: "s", Project: event.NewProjection(proj)}
					ev, err := d.Decode([]byte(line))
					if err != nil {
						t.Fatal(err)
					}
					if got := outcome(prg, ev); got != want && (!isMap(got) || !reflect.DeepEqual(evalNative(prg, ev), evalNative(prg, full))) {
						t.Errorf("%+v: %s on %s projected to %v: %s, whole event %s", m, expr, line, proj, got, want)
					}
					if fast != nil {
						if got, want := fast(ev), fast(full); got != want {
							t.Errorf("%+v: fast %s on %s projected to %v: %d, whole event %d", m, expr, line, proj, got, want)
						}
					}
				}
			}
		}
	}
}

// isMap tells rendered maps, whose order of printing is not fixed.
func isMap(s string) bool { return len(s) > 3 && s[:3] == "map" }

func evalNative(prg cel.Program, ev *event.Event) any {
	v, _, err := prg.Eval(map[string]any{"event": EventValue(ev)})
	if err != nil {
		return err.Error()
	}
	return Native(v)
}

// TestReadingProjectedPathsStaysInPlace checks that reading what the
// projection holds never decodes the whole line.
func TestReadingProjectedPathsStaysInPlace(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := event.Decoder{Stream: "s", Project: event.NewProjection([][]string{{"s"}, {"o", "s"}, {"q"}, {"deep", "a", "b"}})}
	ev, err := d.Decode([]byte(viewEvents[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{`event.s == "abc"`, `event.o.s.iequals("X")`, `has(event.q)`, `event.deep.a.b > 1`, `event.q == 1`} {
		_, prg := compileMode(t, env, expr, Semantics{FalseIfMissing: true})
		_, _, _ = prg.Eval(map[string]any{"event": EventValue(ev)})
		a, _ := env.Event.Compile(expr)
		if fast := FastPredicate(a.NativeRep().Expr()); fast != nil {
			fast(ev)
		}
	}
	// The first Full decodes the line, which allocates; had a read above
	// decoded it, this one would not.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ev.Full()
	runtime.ReadMemStats(&after)
	if after.Mallocs == before.Mallocs {
		t.Error("the whole line was decoded while only projected paths were read")
	}
}
