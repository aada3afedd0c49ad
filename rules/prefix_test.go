package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/nfa"
)

// TestEventPrefix holds what a step's where asks of the event alone to the
// conjuncts of its top-level && that name only event and read no facts.
func TestEventPrefix(t *testing.T) {
	tests := []struct {
		name, where, want string // want "" is no prefix
	}{
		{"a kind and a comparison with a step", `event.t == "b" && event.n > a.n`, `(event.t == "b")`},
		{"two of three", `event.t == "b" && a.u == event.u && event.n > 3.0`, `(event.t == "b") && (event.n > 3.0)`},
		{"a disjunction is one conjunct", `event.t == "b" && (event.n > 1.0 || a.n > 1.0)`, `(event.t == "b")`},
		{"every conjunct reads the event alone", `event.t == "b" && event.n > 1.0`, ``},
		{"none does", `a.u == event.u`, ``},
		{"a top-level disjunction", `event.t == "b" || a.u == event.u`, ``},
		{"facts", `seen("users", event.u, event.d) && a.u == event.u`, ``},
		{"a macro's variable", `event.tags.exists(x, x == "y") && a.u == event.u`, ``},
	}
	c := newTestCompiler(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf("id: r\ntitle: r\nby: [event.k]\nsequence:\n  within: 1h\n  steps:\n    - {name: a, where: event.t == \"a\"}\n    - {name: b, where: '%s'}\nalert:\n  fields: {}\n", tt.where)
			r, errs := c.CompileFile("r.yaml", []byte(src))
			if r == nil {
				t.Fatalf("%v\n%s", errs, src)
			}
			got := ""
			if p := r.Sequence.Steps[1].pre; p != nil {
				got = p.Expr.Text
			}
			if got != tt.want {
				t.Errorf("prefix %q, want %q", got, tt.want)
			}
		})
	}
}

// A sequence finds the same matches, and reports the same evaluation
// errors, with its steps' event prefixes as without: random events, some
// without the fields the conditions read, some with the wrong types.
func TestEventPrefixSameMatches(t *testing.T) {
	src := `id: r
title: r
by: [event.k]
sequence:
  within: 1h
  steps:
    - {name: a, where: event.t == "a"}
    - {name: b, where: 'event.t == "b" && event.n > a.n && event.u == a.u'}
    - {name: c, where: 'a.u == event.u && event.t == "c" && has(event.n)'}
alert:
  fields: {}
`
	rng := rand.New(rand.NewPCG(1, 2))
	var lines []string
	for i := range 8000 {
		t := []string{`"a"`, `"b"`, `"c"`, `"x"`, `7`, ``}[rng.IntN(6)]
		n := []string{`1`, `5`, `9`, `"5"`, ``}[rng.IntN(5)]
		line := fmt.Sprintf(`{"id":"e%d","ts":%d,"k":"k%d","u":"u%d"`, i, i+1, rng.IntN(3), rng.IntN(2))
		if t != "" {
			line += `,"t":` + t
		}
		if n != "" {
			line += `,"n":` + n
		}
		lines = append(lines, line+"}")
	}
	run := func(withPrefix bool) ([]string, uint64) {
		res := runSequence(t, src, lines, func(r *Rule) {
			prefixes := 0
			for i := range r.Sequence.Steps {
				if r.Sequence.Steps[i].pre != nil {
					prefixes++
				}
				if !withPrefix {
					r.Sequence.Steps[i].pre = nil
				}
			}
			if prefixes != 2 {
				t.Fatalf("%d steps with a prefix, want 2", prefixes)
			}
		})
		return res.matches, res.errors
	}
	with, withErrs := run(true)
	without, withoutErrs := run(false)
	t.Logf("%d matches, %d evaluation errors", len(with), withErrs)
	if len(with) < 20 || !slices.Equal(with, without) {
		t.Errorf("%d matches with the prefixes, %d without, or they differ", len(with), len(without))
	}
	if withErrs != withoutErrs || withErrs == 0 {
		t.Errorf("%d evaluation errors with the prefixes, %d without (want some, the same)", withErrs, withoutErrs)
	}
}

// seqRun is what runSequence found.
type seqRun struct {
	// matches are the ids of each match's events, by step.
	matches []string
	// errors counts evaluation errors; maxParked is the most partial
	// matches parked at once.
	errors    uint64
	maxParked int
}

// runSequence compiles the sequence rule src, lets change alter it, and
// runs it over lines, keyed by their k.
func runSequence(t *testing.T, src string, lines []string, change func(*Rule)) seqRun {
	t.Helper()
	r, errs := newTestCompiler(t).CompileFile("r.yaml", []byte(src))
	if r == nil {
		t.Fatal(errs)
	}
	change(r)
	p, err := r.Sequence.Pattern(r.Sequence.NewSeqActivation())
	if err != nil {
		t.Fatal(err)
	}
	n, err := nfa.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	m := nfa.NewMatcher(n, nfa.Options{})
	var res seqRun
	d := event.Decoder{Stream: "s"}
	for _, l := range lines {
		ev, err := d.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		k, _ := ev.Get("k")
		err = m.Process(k.Str(), ev, func(mt nfa.Match) {
			var ids []string
			for _, e := range mt.Events {
				ids = append(ids, e.Name+"="+e.Event.ID)
			}
			res.matches = append(res.matches, fmt.Sprint(ids))
		})
		if err != nil {
			t.Fatal(err)
		}
		res.maxParked = max(res.maxParked, m.Stats().Parked)
	}
	res.errors = r.Health.Errors()
	return res
}
