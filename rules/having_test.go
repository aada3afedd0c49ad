package rules

import (
	"math/rand/v2"
	"testing"

	"github.com/google/cel-go/common/types"
)

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
