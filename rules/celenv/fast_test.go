package celenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules/reflist"
)

var fastEvents = []string{
	`{"ts":1,"s":"abc","n":3,"f":2.5,"b":true,"z":null,"o":{"s":"x","n":1},"a":[1,2]}`,
	`{"ts":1,"s":"b","n":"3","f":-1,"b":false,"o":"flat"}`,
	`{"ts":1,"n":3.0,"b":"true","o":{"n":"1"},"z":0}`,
	`{"ts":1}`,
	`{"ts":1,"s":"","n":0,"f":0,"b":false,"z":null,"o":{},"a":[]}`,
	`{"ts":1,"s":"ÄBC","n":"3.0","f":"2.5","b":true,"z":"x","o":{"s":"X","n":"1"},"a":{"x":1}}`,
}

var fastAtoms = []string{
	`event.s == "abc"`, `"b" == event.s`, `event.s != "abc"`, `event.s < "b"`, `event.s >= "abc"`,
	`event.n == 3`, `event.n == 3.0`, `event.n == 3u`, `event.n != 3`, `event.n > 2`, `2 < event.n`, `event.n <= 3.0`,
	`event.f > 0.0`, `event.f < 0`, `event.b`, `event.b == true`, `event.b > false`, `event.z == null`, `event.z != null`,
	`event.o.s == "x"`, `event.o.n >= 1`, `event["o"]["n"] == 1`, `has(event.o)`, `has(event.o.s)`, `has(event.q)`, `has(event.a.x)`, `has(event.s.x)`, `has(event.q.x)`, `has(event.z.x)`, `has(event.n.x)`,
	`event.s in ["abc", "b"]`, `event.n in [1, 2, 3]`, `event.n in ["3"]`, `event.a == 1`, `event.o == "x"`,
	`true`, `false`, `event.missing == 1`, `event.missing.deep == 1`, `event.missing != 1`, `event.o.missing == 1`,
	`event.s.iequals("ABC")`, `event.s.istartsWith("A")`, `event.s.iendsWith("BC")`, `event.s.icontains("B")`, `event.s.iequals("äbc")`,
	`event.n.iequals("3")`, `event.b.iequals("TRUE")`, `event.z.icontains("x")`, `event.o.iequals("x")`, `event.o.s.iin(["X", "y"])`,
	`event.s.icontainsAny(["q", "C"])`, `event.s.istartsWithAny(["x", "AB"])`, `event.s.iendsWithAny(["c"])`, `event.missing.iin(["a"])`,
	`event.s.wildcard("a*")`, `event.s.wildcard("?b?")`, `event.s.wildcardCased("A*")`, `event.s.wildcard("*")`, `event.missing.wildcard("*")`,
	`event.a.x == 1`, `event.o.s.wildcard("*X")`, `keywords(event, ["X", "flat"])`, `keywords(event, ["2.5"])`, `keywords(event.o, ["x"])`, `keywordsLike(event, ["a*c", "*L?t"])`,
	`event.n == 3 ? event.s.iequals("abc") : event.missing == 1`, `has(event.o) ? !(event.o.s == "x") : false`,
	`event.s.matches("^a.c$")`, `event.s.matches("B")`, `event.s.matches("(?i)b")`, `event.n.matches("3")`, `event.z.matches("x")`,
	`event.missing.matches("x")`, `event.o.s.matches("x|y")`, `event.a.matches("1")`, `event.o.matches("x")`, `event.s.matches("")`,
	`string(event.s).matches("b")`, `string(event.n).matches("^3$")`, `string(event.f).matches("^-?[12]")`, `string(event.b).matches("^t")`,
	`string(event.z).matches("x")`, `string(event.o).matches("x")`, `string(event.missing).matches("x")`, `string(event.o.n).matches("1")`,
}

// modes are the rule semantics the randomized tests cover.
var modes = []Semantics{{}, {FalseIfMissing: true}, {LenientNumbers: true}, {FalseIfMissing: true, LenientNumbers: true}}

// celTri evaluates a program the way the compiler does and reports CEL's
// outcome, telling a missing field's error apart.
func celTri(prg cel.Program, ev *event.Event) Tri {
	v, _, err := prg.Eval(map[string]any{"event": EventValue(ev)})
	if err != nil {
		if IsMissingField(err) {
			return Missing
		}
		return Failed
	}
	if b, ok := v.(types.Bool); ok {
		return triOf(bool(b))
	}
	return Failed
}

func compileMode(tb testing.TB, env *Env, expr string, m Semantics) (*cel.Ast, cel.Program) {
	tb.Helper()
	a, iss := env.Event.Compile(expr)
	if iss.Err() != nil {
		tb.Fatalf("%s: %v", expr, iss.Err())
	}
	if a.OutputType() == cel.BoolType || a.OutputType() == cel.DynType {
		var err error
		if a, err = m.Apply(env.Event, a); err != nil {
			tb.Fatalf("%s: %v", expr, err)
		}
	}
	prg, err := env.Event.Program(a, append(Precompiled(), cel.EvalOptions(cel.OptOptimize))...)
	if err != nil {
		tb.Fatal(err)
	}
	return a, prg
}

// TestFastMatchesCEL checks the native predicates against CEL on every
// atom and on random combinations with &&, || and !, under every mode: the
// same true, false or error for every event.
func TestFastMatchesCEL(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var exprs []string
	exprs = append(exprs, fastAtoms...)
	for i := 0; i < 250; i++ {
		exprs = append(exprs, randomExpr(rnd, 3))
	}
	// What a rule set shares (rules.Compact): one copy of each constant.
	shared := map[string]string{}
	share := func(s string) string {
		if v, ok := shared[s]; ok {
			return v
		}
		shared[s] = s
		return s
	}
	chains := 0
	for _, m := range modes {
		covered := 0
		for _, expr := range exprs {
			a, prg := compileMode(t, env, expr, m)
			// The compiler builds a fast form only for expressions typed bool.
			var (
				fast  Pred
				chain *Chain
			)
			if a.OutputType() == cel.BoolType {
				fast = FastPredicate(a.NativeRep().Expr())
				chain = FastChain(a.NativeRep().Expr(), share)
			}
			if fast == nil {
				if chain != nil {
					t.Errorf("%+v: %s: a chain but no fast form", m, expr)
				}
				continue
			}
			covered++
			if chain != nil {
				chains++
			}
			for _, line := range fastEvents {
				ev := decode(t, line)
				want := celTri(prg, ev)
				got := fast(ev)
				if chain != nil {
					if c := chain.Test(ev); c != got {
						t.Errorf("%+v: %s on %s: chain %d, fast %d", m, expr, line, c, got)
					}
				}
				// Above the atoms, the kind of an error does not matter.
				if isErr(want) && isErr(got) && !m.FalseIfMissing {
					continue
				}
				if got != want && (!isErr(got) || !isErr(want)) {
					t.Errorf("%+v: %s on %s: fast %d, CEL %d", m, expr, line, got, want)
				}
			}
		}
		if covered < len(exprs)*9/10 {
			t.Errorf("%+v: only %d of %d expressions have a fast form", m, covered, len(exprs))
		}
	}
	if chains == 0 {
		t.Error("no expression made a chain")
	}
}

// TestFalseIfMissingKeepsCEL holds missing_fields: false_if_missing to
// CEL's own answers wherever CEL has one: on events where the fields an
// expression reads are present, both modes agree; where CEL fails because
// a field is missing, the rewritten condition is true or false, never an
// error of that kind.
func TestFalseIfMissingKeepsCEL(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		expr := randomExpr(rnd, 4)
		_, plain := compileMode(t, env, expr, Semantics{})
		_, lax := compileMode(t, env, expr, Semantics{FalseIfMissing: true})
		for _, line := range fastEvents {
			ev := decode(t, line)
			p, l := celTri(plain, ev), celTri(lax, ev)
			switch {
			case !isErr(p) && p != l:
				t.Errorf("%s on %s: CEL %d, false_if_missing %d", expr, line, p, l)
			case l == Missing:
				t.Errorf("%s on %s: false_if_missing still fails on a missing field", expr, line)
			}
		}
	}
}

// TestMissingTruthTable is the table of README "Missing fields".
func TestMissingTruthTable(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	present := decode(t, `{"ts":1,"user":"admin","n":5}`)
	absent := decode(t, `{"ts":1}`)
	for _, c := range []struct {
		expr             string
		present, missing Tri
	}{
		{`event.user == "admin"`, True, False},
		{`!(event.user == "admin")`, False, True},
		{`event.user != "admin"`, False, True},
		{`event.user.iendsWith("MIN")`, True, False},
		{`!event.user.iendsWith("MIN")`, False, True},
		{`event.n > 3`, True, False},
		{`event.n <= 3`, False, False},
		{`event.user in ["admin", "root"]`, True, False},
		{`has(event.user)`, True, False},
		{`event.user == "admin" && !(event.n == 7)`, True, False},
		{`event.user == "admin" || !(event.n == 7)`, True, True},
		{`event.user == "admin" ? !(event.n == 7) : false`, True, False},
		{`event.n == 5 ? true : !(event.user == "x")`, True, True},
	} {
		_, prg := compileMode(t, env, c.expr, Semantics{FalseIfMissing: true})
		if got := celTri(prg, present); got != c.present {
			t.Errorf("%s, field present: %d, want %d", c.expr, got, c.present)
		}
		if got := celTri(prg, absent); got != c.missing {
			t.Errorf("%s, field missing: %d, want %d", c.expr, got, c.missing)
		}
	}
}

func TestLenientNumbers(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		expr, line string
		strict     Tri
		lenient    Tri
	}{
		{`event.EventID == 4624`, `{"ts":1,"EventID":"4624"}`, False, True},
		{`event.EventID == 4624`, `{"ts":1,"EventID":4624}`, True, True},
		{`event.EventID in [4624, 4625]`, `{"ts":1,"EventID":"4625"}`, False, True},
		{`event.EventID != 4624`, `{"ts":1,"EventID":"4624"}`, True, False},
		{`event.LogonType > 2`, `{"ts":1,"LogonType":"3"}`, Failed, True},
		{`event.EventID == 4624`, `{"ts":1,"EventID":"04624"}`, False, False},
		{`event.EventID == "4624"`, `{"ts":1,"EventID":4624}`, False, False},
		{`event.EventID.iequals("4624")`, `{"ts":1,"EventID":4624}`, True, True},
	} {
		ev := decode(t, c.line)
		for _, m := range []struct {
			s    Semantics
			want Tri
		}{{Semantics{}, c.strict}, {Semantics{LenientNumbers: true}, c.lenient}} {
			a, prg := compileMode(t, env, c.expr, m.s)
			if got := celTri(prg, ev); got != m.want {
				t.Errorf("%s on %s (%+v): CEL %d, want %d", c.expr, c.line, m.s, got, m.want)
			}
			if fast := FastPredicate(a.NativeRep().Expr()); fast == nil {
				t.Errorf("%s: no fast form", c.expr)
			} else if got := fast(ev); got != m.want {
				t.Errorf("%s on %s (%+v): fast %d, want %d", c.expr, c.line, m.s, got, m.want)
			}
		}
	}
}

func TestMissingFieldError(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, prg := compileMode(t, env, `event.EventID == 4624 ? event.TargetLogonId : event.SubjectLogonId`, Semantics{})
	_, _, err = prg.Eval(map[string]any{"event": EventValue(decode(t, `{"ts":1,"EventID":4624}`))})
	var m *MissingFieldError
	if !IsMissingField(err) || !strings.Contains(err.Error(), "TargetLogonId") || errors.As(err, &m) && m.Key != "TargetLogonId" {
		t.Fatalf("err = %v, want a missing TargetLogonId", err)
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

func randomExpr(rnd *rand.Rand, depth int) string { return randomOf(rnd, fastAtoms, depth) }

// randomOf joins atoms at random with &&, || and !, up to depth deep.
func randomOf(rnd *rand.Rand, atoms []string, depth int) string {
	if depth == 0 || rnd.IntN(3) == 0 {
		return atoms[rnd.IntN(len(atoms))]
	}
	switch rnd.IntN(3) {
	case 0:
		return fmt.Sprintf("(%s && %s)", randomOf(rnd, atoms, depth-1), randomOf(rnd, atoms, depth-1))
	case 1:
		return fmt.Sprintf("(%s || %s)", randomOf(rnd, atoms, depth-1), randomOf(rnd, atoms, depth-1))
	}
	return fmt.Sprintf("!(%s)", randomOf(rnd, atoms, depth-1))
}

// opaqueAtoms are conditions of the event that have no native form, as
// a test of anomaly scores or of facts has none: true, false or an error
// by event.
var opaqueAtoms = []string{
	`size(event.s) > 1`, `event.s + "x" == "abcx"`, `int(event.n) == 3`,
	`event.a.exists(x, x == 1)`, `in_list("none", event.s)`,
}

// TestFastRefuterMatchesCEL checks that where a chain of && has operands
// with no native form, a false from the chain of the others (FastRefuter)
// is CEL's answer, under every mode.
func TestFastRefuterMatchesCEL(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range opaqueAtoms {
		a, _ := compileMode(t, env, x, Semantics{})
		if FastPredicate(a.NativeRep().Expr()) != nil {
			t.Fatalf("%s has a native form: it tests nothing here", x)
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	var exprs []string
	for i := 0; i < 200; i++ {
		opaque := opaqueAtoms[rnd.IntN(len(opaqueAtoms))]
		switch i % 3 {
		case 0:
			exprs = append(exprs, fmt.Sprintf("%s && %s", randomExpr(rnd, 2), opaque))
		case 1:
			exprs = append(exprs, fmt.Sprintf("%s && %s && %s", opaque, randomExpr(rnd, 2), randomExpr(rnd, 2)))
		default:
			exprs = append(exprs, fmt.Sprintf("(%s || %s) && %s", opaque, randomExpr(rnd, 1), randomExpr(rnd, 2)))
		}
	}
	refuted, undecided := 0, 0
	for _, m := range modes {
		for _, expr := range exprs {
			a, prg := compileMode(t, env, expr, m)
			e := a.NativeRep().Expr()
			if FastChain(e, nil) != nil {
				t.Fatalf("%+v: %s has a native chain", m, expr)
			}
			r := FastRefuter(e, nil)
			if r == nil {
				continue
			}
			for _, line := range fastEvents {
				ev := decode(t, line)
				if r.Test(ev) != False {
					undecided++
					continue
				}
				refuted++
				if want := celTri(prg, ev); want != False {
					t.Errorf("%+v: %s on %s: refuted, CEL %d", m, expr, line, want)
				}
			}
		}
	}
	if refuted == 0 || undecided == 0 {
		t.Fatalf("refuted %d, undecided %d: the expressions test too little", refuted, undecided)
	}
	t.Logf("refuted %d, left to CEL %d", refuted, undecided)
}

// TestInListMatchesCEL checks in_list's native form against CEL, alone
// and in chains, under every mode: strings, numbers by their text, null,
// what it cannot look up, a missing field and a list that is not there.
func TestInListMatchesCEL(t *testing.T) {
	env, err := New(reflist.New(map[string][]string{"l": {"abc", "3", "2.5", "x", "10.0.0.0/8"}}))
	if err != nil {
		t.Fatal(err)
	}
	atoms := []string{
		`in_list("l", event.s)`, `in_list("l", event.n)`, `in_list("l", event.f)`, `in_list("l", event.b)`,
		`in_list("l", event.z)`, `in_list("l", event.o)`, `in_list("l", event.a)`, `in_list("l", event.o.s)`,
		`in_list("l", event.missing)`, `in_list("none", event.s)`, `!in_list("l", event.s)`,
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	exprs := append([]string{}, atoms...)
	for range 100 {
		exprs = append(exprs, randomOf(rnd, append(atoms, fastAtoms[:20]...), 2))
	}
	natives := env.Natives(nil)
	covered := 0
	for _, m := range modes {
		for _, expr := range exprs {
			a, prg := compileMode(t, env, expr, m)
			e := a.NativeRep().Expr()
			p := natives.Predicate(e)
			if p == nil {
				continue
			}
			if FastPredicate(e) != nil && CallsInList(e) {
				t.Errorf("%+v: %s: a native form without the lists", m, expr)
			}
			covered++
			c := natives.Chain(e)
			for _, line := range fastEvents {
				ev := decode(t, line)
				want, got := celTri(prg, ev), p(ev)
				if c != nil && c.Test(ev) != got {
					t.Errorf("%+v: %s on %s: chain %d, predicate %d", m, expr, line, c.Test(ev), got)
				}
				if isErr(want) && isErr(got) && !m.FalseIfMissing {
					continue
				}
				if got != want && (!isErr(got) || !isErr(want)) {
					t.Errorf("%+v: %s on %s: native %d, CEL %d", m, expr, line, got, want)
				}
			}
		}
	}
	if covered < len(atoms) {
		t.Fatalf("only %d expressions had a native form", covered)
	}
}
