package rules

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

var fastEvents = []string{
	`{"ts":1,"s":"abc","n":3,"f":2.5,"b":true,"z":null,"o":{"s":"x","n":1},"a":[1,2]}`,
	`{"ts":1,"s":"b","n":"3","f":-1,"b":false,"o":"flat"}`,
	`{"ts":1,"n":3.0,"b":"true","o":{"n":"1"},"z":0}`,
	`{"ts":1}`,
	`{"ts":1,"s":"","n":0,"f":0,"b":false,"z":null,"o":{},"a":[]}`,
}

var fastAtoms = []string{
	`event.s == "abc"`, `"b" == event.s`, `event.s != "abc"`, `event.s < "b"`, `event.s >= "abc"`,
	`event.n == 3`, `event.n == 3.0`, `event.n == 3u`, `event.n != 3`, `event.n > 2`, `2 < event.n`, `event.n <= 3.0`,
	`event.f > 0.0`, `event.f < 0`, `event.b`, `event.b == true`, `event.b > false`, `event.z == null`, `event.z != null`,
	`event.o.s == "x"`, `event.o.n >= 1`, `event["o"]["n"] == 1`, `has(event.o)`, `has(event.o.s)`, `has(event.q)`, `has(event.a.x)`, `has(event.s.x)`, `has(event.q.x)`, `has(event.z.x)`, `has(event.n.x)`,
	`event.s in ["abc", "b"]`, `event.n in [1, 2, 3]`, `event.n in ["3"]`, `event.a == 1`, `event.o == "x"`,
	`true`, `false`, `event.missing == 1`, `event.missing.deep == 1`,
}

// TestFastMatchesCEL checks the native predicates against CEL on every
// atom and on random combinations with &&, || and !: the same true, false
// or error for every event.
func TestFastMatchesCEL(t *testing.T) {
	c := newTestCompiler(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	var exprs []string
	exprs = append(exprs, fastAtoms...)
	for i := 0; i < 400; i++ {
		exprs = append(exprs, randomExpr(rnd, 3))
	}
	covered := 0
	for _, expr := range exprs {
		p, errs := compileOne(t, c, expr, cel.BoolType)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", expr, errs)
		}
		if p.fast == nil {
			continue
		}
		covered++
		for _, line := range fastEvents {
			ev := decode(t, line)
			want := tErr
			if v, _, err := p.prg.Eval(EventActivation{ev}); err == nil {
				if b, ok := v.(types.Bool); ok {
					want = triOf(bool(b))
				}
			}
			if got := p.fast(ev); got != want {
				t.Errorf("%s on %s: fast %d, CEL %d", expr, line, got, want)
			}
		}
	}
	if covered < len(exprs)*9/10 {
		t.Errorf("only %d of %d expressions have a fast form", covered, len(exprs))
	}
}

func randomExpr(rnd *rand.Rand, depth int) string {
	if depth == 0 || rnd.IntN(3) == 0 {
		return fastAtoms[rnd.IntN(len(fastAtoms))]
	}
	switch rnd.IntN(3) {
	case 0:
		return fmt.Sprintf("(%s && %s)", randomExpr(rnd, depth-1), randomExpr(rnd, depth-1))
	case 1:
		return fmt.Sprintf("(%s || %s)", randomExpr(rnd, depth-1), randomExpr(rnd, depth-1))
	}
	return fmt.Sprintf("!(%s)", randomExpr(rnd, depth-1))
}

// TestFastHavingMatchesCEL holds the native having to CEL's answers.
func TestFastHavingMatchesCEL(t *testing.T) {
	c := newTestCompiler(t)
	havings := []string{
		"n > 3", "3 < n", "total >= 100.0 || n == 2", "!(total < 5.5) && n != 0", "n <= 2 && total > -1.0",
		"total == 10.0", "true", "n > 2.5",
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, h := range havings {
		src := "id: h\ntitle: h\nby: [event.u]\naggregate:\n  window: {type: tumbling, size: 1m}\n  measures: {n: count(), total: sum(event.x)}\n  having: '" + h + "'\n"
		r, errs := c.CompileFile("h.yaml", []byte(src))
		if r == nil {
			t.Fatal(errs)
		}
		a := r.Aggregate
		if a.HavingFast == nil {
			t.Errorf("%s has no fast form", h)
			continue
		}
		for i := 0; i < 200; i++ {
			vals := []float64{float64(rnd.IntN(6)), float64(rnd.IntN(30)) - 5 + []float64{0, 0.5}[rnd.IntN(2)]}
			var act Activation
			act.Bind("n", types.Int(int64(vals[0])))
			act.Bind("total", types.Double(vals[1]))
			if got, want := a.HavingFast(vals), a.Having.Test(&act); got != want {
				t.Errorf("%s on %v: fast %v, CEL %v", h, vals, got, want)
			}
		}
	}
}
