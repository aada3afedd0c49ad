package rules

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

// meets reports whether ev meets con, as the router tests it.
func meets(con Constraint, ev *event.Event) bool {
	v, ok := ev.Path(con.Path...)
	if !ok {
		return false
	}
	if k, ok := AppendValueKey(nil, &v); ok && slices.Contains(con.Values, string(k)) {
		return true
	}
	text, ok := AppendText(nil, &v)
	if !ok {
		return false
	}
	for _, m := range con.Text {
		t := string(text)
		if m.Fold {
			t = celenv.FoldKey(t)
		}
		switch {
		case m.Kind == TextEqual && t == m.Text,
			m.Kind == TextPrefix && strings.HasPrefix(t, m.Text),
			m.Kind == TextSuffix && strings.HasSuffix(t, m.Text):
			return true
		}
	}
	return false
}

func compileIn(tb testing.TB, c *Compiler, expr string, sem celenv.Semantics) *Program {
	tb.Helper()
	el := &yamlx.Errors{File: "x.yaml"}
	h := &Health{Rule: "t", logger: c.opts.Logger}
	p := c.compile(el, c.base, rulefmt.InlineExpr(expr, yamlx.Pos{File: "x.yaml", Line: 1, Col: 1}), cel.BoolType, "expr", h, scope{sem: sem})
	if len(el.List) > 0 {
		tb.Fatal(el.List)
	}
	return p
}

func TestIndexConstraints(t *testing.T) {
	c := newTestCompiler(t)
	sigma := celenv.Semantics{FalseIfMissing: true, LenientNumbers: true}
	tests := []struct {
		expr string
		sem  celenv.Semantics
		want string
	}{
		{`event.type == "auth"`, celenv.Semantics{}, `type = s:auth`},
		{`event.Image.iendsWith("\\REG.exe") && event.CommandLine.icontains("save")`, sigma, `Image ends~ \reg.exe`},
		{`event.Image.iendsWithAny(["\\a.exe", "\\B.exe"]) || event.Image.iequals("x")`, sigma, `Image ends~ \a.exe ends~ \b.exe equal~ x`},
		{`event.Channel.iequals("Security") && event.EventID in [4624, 4625]`, sigma, `Channel equal~ security; EventID = n:4624 s:4624 n:4625 s:4625`},
		{"event.Channel.iequals(\"A\") && event.EventID == 1 ? event.Image.istartsWith(\"C:\\\\X\") :\nevent.Channel.iequals(\"B\") && event.EventID == 4688 ? event.NewProcessName.istartsWith(\"C:\\\\X\") : false",
			sigma, `Channel equal~ a equal~ b; EventID = n:1 n:4688 s:1 s:4688`},
		{`event.TargetObject.wildcard(r"HKU\\*\Software\\*\shell\open\command")`, sigma, `TargetObject ends~ \shell\open\command`},
		{`event.TargetObject.wildcard(r"HKLM\System\\*")`, sigma, `TargetObject starts~ hklm\system\`},
		{`event.p.wildcardCased("Abc")`, sigma, `p equal Abc`},
		{`event.p.startsWith("Ab") && event.q.endsWith("z")`, celenv.Semantics{}, `p starts Ab; q ends z`},
		{`event.p.wildcard("*x*")`, sigma, ``},
		{`event.p.istartsWith("")`, sigma, ``},
		{`!event.p.iequals("x")`, sigma, ``},
		{`event.p.iequals("x") || event.q.iequals("y")`, sigma, ``},
		{`event.p == "x" || event.p.iequals("Y")`, sigma, `p = s:x equal~ y`},
	}
	render := func(cons []Constraint) string {
		var parts []string
		for _, con := range cons {
			s := strings.Join(con.Path, ".")
			if len(con.Values) > 0 {
				s += " = " + strings.Join(con.Values, " ")
			}
			for _, m := range con.Text {
				s += " " + [...]string{"equal", "starts", "ends"}[m.Kind]
				if m.Fold {
					s += "~"
				}
				s += " " + m.Text
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "; ")
	}
	for _, tt := range tests {
		p := compileIn(t, c, tt.expr, tt.sem)
		if got := render(indexConstraints(p.AST())); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.expr, got, tt.want)
		}
	}
}

var indexAtoms = []string{
	`event.s == "Abc"`, `event.s in ["abc", "x"]`, `event.n == 3`, `event.s.iequals("ABC")`, `event.s.iin(["x", "ABc"])`,
	`event.s.istartsWith("AB")`, `event.s.iendsWith("C")`, `event.s.istartsWithAny(["q", "a"])`, `event.s.iendsWithAny(["bc", "Z"])`,
	`event.s.startsWith("A")`, `event.s.endsWith("c")`, `event.s.wildcard("a*C")`, `event.s.wildcard("*c")`, `event.s.wildcardCased("A?c")`,
	`event.n.iequals("3")`, `event.b.iequals("TRUE")`, `event.t.iequals("x")`, `event.o.s.istartsWith("x")`, `event.s.icontains("b")`,
	`event.k.iendsWith("\u212A")`, `event.k.iequals("k")`,
}

var indexEvents = []string{
	`{"ts":1,"s":"Abc","n":3,"b":true,"t":"X","o":{"s":"xy"},"k":"\u212A"}`,
	`{"ts":1,"s":"abc","n":"3","b":"true","t":null,"o":{"s":"y"},"k":"k"}`,
	`{"ts":1,"s":"AbC","n":3.0,"k":"K"}`,
	`{"ts":1,"s":"x","n":4,"o":"flat"}`,
	`{"ts":1,"s":3,"t":{"a":1}}`,
	`{"ts":1}`,
}

// TestIndexConstraintsAreImplied: whenever a condition is true, its event
// meets every constraint the index holds for it — for random conditions
// of the matching functions, under every missing-field semantics.
func TestIndexConstraintsAreImplied(t *testing.T) {
	c := newTestCompiler(t)
	rnd := rand.New(rand.NewPCG(9, 9))
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth == 0 || rnd.IntN(3) == 0 {
			return indexAtoms[rnd.IntN(len(indexAtoms))]
		}
		switch rnd.IntN(5) {
		case 0, 1:
			return fmt.Sprintf("(%s && %s)", gen(depth-1), gen(depth-1))
		case 2, 3:
			return fmt.Sprintf("(%s || %s)", gen(depth-1), gen(depth-1))
		}
		return fmt.Sprintf("(%s ? %s : %s)", gen(depth-1), gen(depth-1), []string{"false", gen(depth - 1)}[rnd.IntN(2)])
	}
	events := make([]*event.Event, len(indexEvents))
	for i, l := range indexEvents {
		events[i] = decode(t, l)
	}
	checked := 0
	for range 600 {
		expr := gen(3)
		for _, sem := range []celenv.Semantics{{}, {FalseIfMissing: true, LenientNumbers: true}} {
			p := compileIn(t, c, expr, sem)
			cons := indexConstraints(p.AST())
			for _, ev := range events {
				if !p.Test(EventActivation{Ev: ev}) {
					continue
				}
				for _, con := range cons {
					checked++
					if !meets(con, ev) {
						t.Fatalf("%s (%+v) is true for %s but constraint %+v fails", expr, sem, ev.Raw, con)
					}
				}
			}
		}
	}
	if checked < 500 {
		t.Errorf("only %d constraints checked", checked)
	}
	// The old equality constraints are the exact part of the index.
	p := compileIn(t, c, `event.type == "a" && event.n == 3`, celenv.Semantics{})
	if !reflect.DeepEqual(indexConstraints(p.AST()), extractConstraints(p.AST())) {
		t.Error("equality constraints differ")
	}
}
