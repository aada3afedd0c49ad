package nfa

import (
	"strings"
	"testing"
	"time"
)

func TestCompileRejects(t *testing.T) {
	a := st("a", is("a"))
	b := st("b", is("b"))
	cases := []struct {
		name string
		p    Pattern
		want string
	}{
		{"no steps", Pattern{}, "pattern has no steps"},
		{"empty name", seq(a, st("", is("b"))), "step 2: name is empty"},
		{"duplicate name", seq(a, st("a", is("b"))), `step "a": name is already used by step 1`},
		{"starts with not", seq(st("x", is("x"), not), b), `step "x": a pattern cannot start with a not step`},
		{"optional not", seq(a, st("x", is("x"), not, optional), b), `step "x": a not step cannot be optional`},
		{"looping not", seq(a, st("x", is("x"), not, oneOrMore), b), `step "x": a not step cannot take more than one event`},
		{"greedy not", seq(a, st("x", is("x"), not, greedy), b), `step "x": a not step cannot be greedy`},
		{"not with any", seq(a, st("x", is("x"), not, anyC), b), "not any"},
		{"not after optional", seq(a, st("o", is("o"), optional), st("x", is("x"), not), b), `step "x": a not step cannot follow the optional step "o"`},
		{"trailing not without window", seq(a, st("x", is("x"), not)), `step "x": a trailing not step detects absence and needs the pattern's within or its own for`},
		{"for longer than within", seq(a, st("x", is("x"), not, forD(time.Hour))).within(time.Minute), "for 1h0m0s exceeds the pattern's within 1m0s"},
		{"for on a middle not", seq(a, st("x", is("x"), not, forD(time.Minute)), b), "for applies only to a trailing not step"},
		{"for on a positive step", seq(a, st("b", is("b"), forD(time.Minute))), `step "b": for applies only to a trailing not step`},
		{"double trailing not", seq(a, st("x", is("x"), not), st("y", is("y"), not)).within(time.Minute), `step "y": a trailing absence step cannot follow another not step ("x")`},
		{"greedy single", seq(a, st("b", is("b"), greedy)), `step "b": greedy applies only to a step that takes more than one event`},
		{"optional after greedy", seq(a, st("b", is("b"), oneOrMore, greedy), st("c", is("c"), optional)), `step "c": an optional step cannot follow the greedy step "b"`},
		{"until on bounded", seq(a, st("b", is("b"), times(Between(1, 3)), until(is("x")))), `step "b": until applies only to a looping step`},
		{"consecutive single", seq(a, st("b", is("b"), consecutive)), `step "b": loop consecutive applies only to a step that takes more than one event`},
		{"bad times", seq(a, st("b", is("b"), times(Between(3, 2)))), `step "b": times: maximum 2 is below minimum 3`},
		{"too many times", seq(a, st("b", is("b"), times(Times(5000)))), "at most 1000 occurrences"},
		{"skip to unknown", seq(a, b).skip(skipToFirst("zz")), `after_match skip_to_first:zz: no step is named "zz"`},
		{"skip to not", seq(a, st("x", is("x"), not), b).skip(skipToLast("x")), "is a not step"},
		{"previous_and_current without within", Pattern{Steps: []Step{a, b}, WithinType: PreviousAndCurrent}, "within_type previous_and_current needs a within"},
		{"negative within", seq(a, b).within(-1), "within -1ns is negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.p)
			if err == nil {
				t.Fatalf("compiled; want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestCompileReportsAllProblems(t *testing.T) {
	_, err := Compile(seq(st("a", is("a")), st("a", is("b"), greedy)))
	if err == nil {
		t.Fatal("compiled")
	}
	for _, want := range []string{"already used", "greedy applies"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestCompileAccepts(t *testing.T) {
	cases := []Pattern{
		seq(st("a", nil)),
		seq(st("a", is("a")), st("x", is("x"), not, nextC)),
		seq(st("a", is("a")), st("x", is("x"), not, forD(time.Minute))),
		seq(st("a", is("a")), st("x", is("x"), not), st("b", is("b"))),
		seq(st("a", is("a"), times(Quantifier{Min: 4, Max: 4, Optional: true})), st("b", is("b"))),
		seq(st("a", is("a"), zeroOrMore, greedy, until(is("u"))), st("b", is("b"))),
		seq(st("a", is("a")), st("b", is("b"), times(AtLeast(2)), combinations, greedy)).prevWithin(time.Minute),
	}
	for _, p := range cases {
		n, err := Compile(p)
		if err != nil {
			t.Errorf("%v: %v", p.Steps, err)
			continue
		}
		if n.String() == "" || len(n.Steps()) != len(p.Steps) || n.StepIndex(p.Steps[0].Name) != 0 || n.StepIndex("nope") != -1 {
			t.Errorf("%s: accessors disagree with the pattern", n)
		}
	}
}

func TestFingerprintDiffers(t *testing.T) {
	a := mustCompile(t, seq(st("a", is("a")), st("b", is("b"))))
	b := mustCompile(t, seq(st("a", is("a")), st("b", is("b"), nextC)))
	c := mustCompile(t, seq(st("a", is("a")), st("b", is("b"))))
	if a.fingerprint == b.fingerprint {
		t.Error("strict and relaxed patterns share a fingerprint")
	}
	if a.fingerprint != c.fingerprint {
		t.Error("the same pattern compiled twice has two fingerprints")
	}
}

func TestParseQuantifier(t *testing.T) {
	cases := []struct {
		in   string
		want Quantifier
		err  string
	}{
		{in: "", want: Once()},
		{in: "1", want: Once()},
		{in: "3", want: Times(3)},
		{in: " 2..4 ", want: Between(2, 4)},
		{in: "0..3", want: Quantifier{Min: 1, Max: 3, Optional: true}},
		{in: "3+", want: AtLeast(3)},
		{in: "1+", want: AtLeast(1)},
		{in: "0+", want: ZeroOrMore()},
		{in: "?", want: OptionalOnce()},
		{in: "0", err: "at least one event"},
		{in: "4..2", err: "below minimum"},
		{in: "x", err: "not a count"},
		{in: "+", err: "not a count before +"},
		{in: "1..", err: "not a range"},
		{in: "-1", err: "not a count"},
		{in: "99999", err: "not a count"},
		{in: "2000", err: "at most 1000"},
	}
	for _, c := range cases {
		got, err := ParseQuantifier(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseQuantifier(%q) = %v, %v; want error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseQuantifier(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestQuantifierStringRoundTrips(t *testing.T) {
	for _, q := range []Quantifier{Once(), Times(3), Between(2, 4), AtLeast(1), AtLeast(5), ZeroOrMore(), OptionalOnce(), {Min: 0, Max: 3}} {
		got, err := ParseQuantifier(q.String())
		if err != nil || got != q.norm() {
			t.Errorf("%+v renders %q which parses to %+v, %v", q, q.String(), got, err)
		}
	}
}

func TestParseSkipStrategy(t *testing.T) {
	cases := []struct {
		in   string
		want SkipStrategy
		err  string
	}{
		{in: "", want: SkipStrategy{Kind: SkipPastLast}},
		{in: "skip_past_last", want: SkipStrategy{Kind: SkipPastLast}},
		{in: "no_skip", want: SkipStrategy{Kind: NoSkip}},
		{in: "skip_to_next", want: SkipStrategy{Kind: SkipToNext}},
		{in: "skip_to_first:probe", want: SkipStrategy{Kind: SkipToFirst, Step: "probe"}},
		{in: "skip_to_last: probe", want: SkipStrategy{Kind: SkipToLast, Step: "probe"}},
		{in: "skip_to_last:", err: "name the step"},
		{in: "skip_to_end", err: "want skip_past_last"},
	}
	for _, c := range cases {
		got, err := ParseSkipStrategy(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSkipStrategy(%q) = %v, %v; want error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSkipStrategy(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if back, err := ParseSkipStrategy(got.String()); err != nil || back != got {
			t.Errorf("%v does not round trip: %v, %v", got, back, err)
		}
	}
}

func FuzzParseQuantifier(f *testing.F) {
	for _, s := range []string{"", "3", "2..4", "0..3", "3+", "0+", "?", "x", "1..", "..", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantifier(s)
		if err != nil {
			return
		}
		if err := q.validate(); err != nil {
			t.Fatalf("ParseQuantifier(%q) = %+v, which is invalid: %v", s, q, err)
		}
		back, err := ParseQuantifier(q.String())
		if err != nil || back != q {
			t.Fatalf("%q parses to %+v, rendered %q, which parses to %+v, %v", s, q, q.String(), back, err)
		}
	})
}

func FuzzParseSkipStrategy(f *testing.F) {
	for _, s := range []string{"", "no_skip", "skip_to_first:a", "skip_to_last:", ":", "skip_to_next"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseSkipStrategy(s)
		if err != nil {
			return
		}
		back, err := ParseSkipStrategy(k.String())
		if err != nil || back != k {
			t.Fatalf("%q parses to %v, which does not round trip: %v, %v", s, k, back, err)
		}
	})
}
