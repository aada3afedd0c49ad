package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStepKey holds a step's key to the conjuncts of its where's top-level
// && that compare a field of the event with a field of an earlier step,
// and to wheres that may be left unasked.
func TestStepKey(t *testing.T) {
	tests := []struct {
		name, where, missing string
		want                 bool
	}{
		{"an equality", `event.t == "b" && event.u == a.u`, "", true},
		{"the other way round", `a.u == event.u`, "", true},
		{"two", `event.u == a.u && event.v.w == a.v.w`, "", true},
		{"with false_if_missing", `event.t == "b" && event.u == a.u`, "false_if_missing", true},
		{"a disjunction", `event.t == "b" || event.u == a.u`, "", false},
		{"an inequality", `event.u != a.u`, "", false},
		{"between steps", `a.u == a.v`, "", false},
		{"a step's whole event", `event.u == a`, "", false},
		{"a fact", `event.u == a.u && seen("users", event.u, event.d)`, "", false},
		{"only the event", `event.u == event.v`, "", false},
	}
	c := newTestCompiler(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := ""
			if tt.missing != "" {
				mode = "missing_fields: " + tt.missing + "\n"
			}
			src := fmt.Sprintf("id: r\ntitle: r\nby: [event.k]\n%ssequence:\n  within: 1h\n  steps:\n    - {name: a, where: event.t == \"a\"}\n    - {name: b, where: '%s'}\nalert:\n  fields: {}\n", mode, tt.where)
			r, errs := c.CompileFile("r.yaml", []byte(src))
			if r == nil {
				t.Fatalf("%v\n%s", errs, src)
			}
			if got := r.Sequence.Steps[1].Where.stepKey() != nil; got != tt.want {
				t.Errorf("key: %v, want %v", got, tt.want)
			}
		})
	}
}

// A sequence finds the same matches, and reports the same evaluation
// errors, with its steps' keys as without, under both missing-field
// modes: random events whose compared fields are strings, numbers (0 and
// -0, 1 and 1.0), null, objects, lists, or missing, and a member of
// them; step b's key has two parts, and events without the second.
func TestStepKeySameMatches(t *testing.T) {
	for _, missing := range []string{"error", "false_if_missing"} {
		t.Run(missing, func(t *testing.T) {
			src := `id: r
title: r
by: [event.k]
missing_fields: ` + missing + `
sequence:
  within: 1h
  steps:
    - {name: a, where: event.t == "a"}
    - {name: b, where: 'event.t == "b" && event.u == a.u && event.v == a.v && event.n > a.n'}
    - {name: c, where: 'a.v == event.u.x && event.t == "c"'}
alert:
  fields: {}
`
			values := []string{`"u1"`, `"u2"`, `"u1"`, `1`, `1.0`, `0`, `-0`, `null`, `{"x":1}`, `{"x":"u1"}`, `[1]`, `true`, ``}
			rng := rand.New(rand.NewPCG(3, 4))
			var lines []string
			for i := range 16000 {
				line := fmt.Sprintf(`{"id":"e%d","ts":%d,"k":"k%d","t":%q,"n":%d`, i, i+1, rng.IntN(3), []string{"a", "b", "c", "x"}[rng.IntN(4)], rng.IntN(10))
				for _, f := range []string{"u", "v"} {
					if v := values[rng.IntN(len(values))]; v != "" {
						line += `,"` + f + `":` + v
					}
				}
				lines = append(lines, line+"}")
			}
			run := func(withKeys bool) seqRun {
				return runSequence(t, src, lines, func(r *Rule) {
					keys := 0
					for _, st := range r.Sequence.Steps {
						if st.Where.stepKey() != nil {
							keys++
							if !withKeys {
								st.Where.steps.key = nil
							}
						}
					}
					if keys != 2 {
						t.Fatalf("%d steps with a key, want 2", keys)
					}
				})
			}
			with, without := run(true), run(false)
			t.Logf("%d matches, %d evaluation errors, at most %d parked", len(with.matches), with.errors, with.maxParked)
			if len(with.matches) < 10 || !slices.Equal(with.matches, without.matches) {
				t.Errorf("%d matches with the keys, %d without, or they differ", len(with.matches), len(without.matches))
			}
			if with.errors != without.errors || with.errors == 0 {
				t.Errorf("%d evaluation errors with the keys, %d without", with.errors, without.errors)
			}
			if with.maxParked < 50 || without.maxParked != 0 {
				t.Errorf("at most %d partial matches parked with the keys, %d without", with.maxParked, without.maxParked)
			}
		})
	}
}
