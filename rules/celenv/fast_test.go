package celenv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/event"
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
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var exprs []string
	exprs = append(exprs, fastAtoms...)
	for i := 0; i < 400; i++ {
		exprs = append(exprs, randomExpr(rnd, 3))
	}
	covered := 0
	for _, expr := range exprs {
		a, iss := env.Event.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", expr, iss.Err())
		}
		prg, err := env.Event.Program(a, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			t.Fatal(err)
		}
		// The compiler builds a fast form only for expressions typed bool.
		var fast Pred
		if a.OutputType() == cel.BoolType {
			fast = FastPredicate(a.NativeRep().Expr())
		}
		if fast == nil {
			continue
		}
		covered++
		for _, line := range fastEvents {
			ev := decode(t, line)
			want := Failed
			if v, _, err := prg.Eval(map[string]any{"event": EventValue(ev)}); err == nil {
				if b, ok := v.(types.Bool); ok {
					want = triOf(bool(b))
				}
			}
			if got := fast(ev); got != want {
				t.Errorf("%s on %s: fast %d, CEL %d", expr, line, got, want)
			}
		}
	}
	if covered < len(exprs)*9/10 {
		t.Errorf("only %d of %d expressions have a fast form", covered, len(exprs))
	}
}

func decode(tb testing.TB, line string) *event.Event {
	tb.Helper()
	d := event.Decoder{Stream: "s"}
	ev, err := d.Decode([]byte(line))
	if err != nil {
		tb.Fatal(err)
	}
	return ev
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
