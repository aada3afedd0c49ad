package nfa

import (
	"slices"
	"strings"
	"testing"

	"github.com/cep-project/cep/event"
)

// The conformance table: each case is a pattern, its input and the matches
// Flink CEP produces for it, worked out by hand from Flink's documented
// semantics (and, where Flink's own documentation gives the example, its
// table). Expected matches list event ids in match order, optionally as
// step:id; "~" marks a timed-out partial match and " @t" the match time.
// Unless a case says otherwise it runs with no_skip, Flink's default, and the
// order of matches is not compared, as Flink does not define it.

type confCase struct {
	name     string
	p        Pattern
	in       string
	want     []string
	withTime bool
	ordered  bool
}

// sameFirstPrice accepts a b whose price equals the price of the event taken
// by step "a": an iterative condition, reading the partial match.
func sameFirstPrice(ev *event.Event, v View) bool {
	a := v.Named("a")
	return nameOf(ev) == "b" && len(a) > 0 && priceOf(a[0]) == priceOf(ev)
}

var conformance = []confCase{
	// Contiguity between steps: Flink docs, pattern "a b" on "a c b1 b2".
	{name: "next/strict", p: seq(st("a", is("a")), st("b", is("b"), nextC)), in: "a c b1 b2", want: nil},
	{name: "followedBy/relaxed", p: seq(st("a", is("a")), st("b", is("b"))), in: "a c b1 b2", want: []string{"a b1"}},
	{name: "followedByAny/any", p: seq(st("a", is("a")), st("b", is("b"), anyC)), in: "a c b1 b2", want: []string{"a b1", "a b2"}},
	{name: "followedByAny/skip_past_last", p: seq(st("a", is("a")), st("b", is("b"), anyC)).skip(skipPastLast), in: "a c b1 b2", want: []string{"a b1"}},
	{name: "next/direct", p: seq(st("a", is("a")), st("b", is("b"), nextC)), in: "a1 b1 a2 x b2", want: []string{"a:a1 b:b1"}},

	// Contiguity inside a looping step: Flink docs, "c a+ b" on
	// "C D A1 A2 A3 D A4 B".
	{name: "loop/consecutive", p: seq(st("c", is("c")), st("a", is("a"), oneOrMore, consecutive), st("b", is("b"))), in: "c d1 a1 a2 a3 d2 a4 b",
		want: []string{"c a1 b", "c a1 a2 b", "c a1 a2 a3 b"}},
	{name: "loop/relaxed", p: seq(st("c", is("c")), st("a", is("a"), oneOrMore), st("b", is("b"))), in: "c d1 a1 a2 a3 d2 a4 b",
		want: []string{"c a1 b", "c a1 a2 b", "c a1 a2 a3 b", "c a1 a2 a3 a4 b"}},
	{name: "loop/combinations", p: seq(st("c", is("c")), st("a", is("a"), oneOrMore, combinations), st("b", is("b"))), in: "c d1 a1 a2 a3 d2 a4 b",
		want: []string{"c a1 b", "c a1 a2 b", "c a1 a3 b", "c a1 a4 b", "c a1 a2 a3 b", "c a1 a2 a4 b", "c a1 a3 a4 b", "c a1 a2 a3 a4 b"}},
	{name: "loop/consecutive optional after any", p: seq(st("c", is("c")), st("a", is("a"), zeroOrMore, consecutive, anyC), st("b", is("b"))), in: "c f1 a1 f2 a2 a3 b",
		want: []string{"c a2 a3 b", "c a1 b", "c a2 b", "c a3 b", "c b"}},
	{name: "times/consecutive optional after next", p: seq(st("c", is("c")), st("a", is("a"), optionalTimes(2, 2), consecutive, nextC), st("b", is("b"))), in: "c a1 a2 a3 b",
		want: []string{"c a1 a2 b", "c b"}},
	{name: "times/combinations optional after next", p: seq(st("c", is("c")), st("a", is("a"), optionalTimes(2, 2), combinations, nextC), st("b", is("b"))), in: "c a1 f1 a2 f2 a3 b",
		want: []string{"c a1 a2 b", "c a1 a3 b", "c b"}},
	{name: "times/range", p: seq(st("a", is("a"), times(Between(2, 3))), st("b", is("b"))), in: "a1 a2 a3 b1",
		want: []string{"a1 a2 b1", "a1 a2 a3 b1", "a2 a3 b1"}},
	{name: "times/range greedy", p: seq(st("a", is("a"), times(Between(2, 3)), greedy), st("b", is("b"))), in: "a1 a2 a3 b1",
		want: []string{"a1 a2 a3 b1", "a2 a3 b1"}},
	{name: "times/exact skip_past_last", p: seq(st("a", is("a"), times(Times(3)))).skip(skipPastLast), in: "a1 a2 a3 a4 a5 a6",
		want: []string{"a1 a2 a3", "a4 a5 a6"}},
	{name: "times/exact no_skip", p: seq(st("a", is("a"), times(Times(3)))), in: "a1 a2 a3 a4 a5 a6",
		want: []string{"a1 a2 a3", "a2 a3 a4", "a3 a4 a5", "a4 a5 a6"}},
	{name: "times/at least", p: seq(st("p", is("p"), times(AtLeast(3))), st("c", is("c"))), in: "p1 p2 p3 p4 c1",
		want: []string{"p1 p2 p3 c1", "p1 p2 p3 p4 c1", "p2 p3 p4 c1"}},

	// Optional steps.
	{name: "optional/absent", p: seq(st("a", is("a")), st("b", is("b"), optional), st("c", is("c"))), in: "a1 c1", want: []string{"a:a1 c:c1"}},
	{name: "optional/present", p: seq(st("a", is("a")), st("b", is("b"), optional), st("c", is("c"))), in: "a1 b1 c1",
		want: []string{"a:a1 b:b1 c:c1", "a:a1 c:c1"}},
	{name: "optional/last step", p: seq(st("a", is("a")), st("b", is("b"), optional)), in: "a1 b1",
		want: []string{"a1", "a1 b1"}},
	{name: "optional/last step skip_past_last", p: seq(st("a", is("a")), st("b", is("b"), optional)).skip(skipPastLast), in: "a1 b1",
		want: []string{"a1"}},
	{name: "optional/first step", p: seq(st("a", is("a"), optional), st("b", is("b"), nextC)), in: "a1 b1 x b2",
		want: []string{"a1 b1", "b1", "b2"}},
	{name: "zero or more/non greedy", p: seq(st("c", is("c")), st("a", is("a"), zeroOrMore), st("d", is("d"))), in: "c a1 a2 a3 d",
		want: []string{"c d", "c a1 d", "c a1 a2 d", "c a1 a2 a3 d"}},

	// Greedy: Flink GreedyITCase inputs.
	{name: "greedy/zero or more", p: seq(st("c", is("c")), st("a", is("a"), zeroOrMore, greedy), st("d", is("d"))), in: "c a1 a2 a3 d",
		want: []string{"c a1 a2 a3 d"}},
	{name: "greedy/in between", p: seq(st("c", is("c")), st("a", is("a"), zeroOrMore, greedy), st("d", is("d"))), in: "c x1 a1 x2 a2 x3 a3 d",
		want: []string{"c a1 a2 a3 d"}},
	{name: "greedy/dummy after loop", p: seq(st("c", is("c")), st("a", is("a"), zeroOrMore, greedy), st("d", is("d"))), in: "c a1 a2 x d",
		want: []string{"c a1 a2 d"}},
	{name: "greedy/dummy before loop", p: seq(st("c", is("c")), st("a", is("a"), zeroOrMore, greedy), st("d", is("d"))), in: "c x d",
		want: []string{"c d"}},
	{name: "greedy/with until", p: seq(st("c", is("c")), st("a", is("a"), zeroOrMore, greedy, until(priceAbove(3))), st("d", is("d"))), in: "c a1$2 a2$3 a3$3 a4$4 d$3",
		want: []string{"c a1 a2 a3 d"}},

	// Until on a looping step: Flink docs, "(a+ until b)" on "a1 c a2 b a3".
	{name: "until/docs", p: seq(st("a", is("a"), oneOrMore, until(is("b")))), in: "a1 c a2 b a3",
		want: []string{"a1 a2", "a1", "a2", "a3"}},
	{name: "until/stops loop", p: seq(st("c", is("c")), st("a", is("a"), oneOrMore, until(priceAbove(3))), st("b", is("b"))), in: "c a1$1 a2$2 a3$5 a4$1 b",
		want: []string{"c a1 b", "c a1 a2 b"}},
	{name: "until/without", p: seq(st("c", is("c")), st("a", is("a"), oneOrMore), st("b", is("b"))), in: "c a1$1 a2$2 a3$5 a4$1 b",
		want: []string{"c a1 b", "c a1 a2 b", "c a1 a2 a3 b", "c a1 a2 a3 a4 b"}},

	// Negation between steps.
	{name: "notNext/between", p: seq(st("a", is("a")), st("b", is("b"), not, nextC), st("c", is("c"))), in: "a1 b1 c1 a2 d1 c2",
		want: []string{"a2 c2"}},
	{name: "notNext/direct", p: seq(st("a", is("a")), st("b", is("b"), not, nextC), st("c", is("c"))), in: "a1 c1", want: []string{"a1 c1"}},
	{name: "notNext/trailing completes on next event", p: seq(st("a", is("a")), st("b", is("b"), not, nextC)), in: "a1 b1 a2@5 c1@7",
		want: []string{"a2 @7"}, withTime: true},
	{name: "notFollowedBy/between", p: seq(st("a", is("a")), st("b", is("b"), not), st("c", is("c"))), in: "a1 d1 b1 c1 a2 d2 c2",
		want: []string{"a2 c2"}},
	{name: "notFollowedBy/shielded by optional", p: seq(st("a", is("a")), st("b", is("b"), not), st("c", is("c"), optional, anyC), st("d", is("d"), anyC)), in: "a1 c1 b1 d1",
		want: []string{"a1 c1 d1"}},
	{name: "notFollowedBy/not shielded", p: seq(st("a", is("a")), st("b", is("b"), not), st("c", is("c"), optional, anyC), st("d", is("d"), anyC)), in: "a1 b1 c1 d1",
		want: nil},
	{name: "notFollowedBy/before optional times within", p: seq(st("a", is("a")), st("b", is("b"), not), st("c", is("c"), optionalTimes(1, 2))).within(3),
		in:   "a1@1 b1@2 a2@10 c1@11 c2@12 a3@20 c3@21 c4@24",
		want: []string{"a1", "a2", "a2 c1", "a2 c1 c2", "a3", "a3 c3"}},

	// Absence: a trailing notFollowedBy completes when its window closes.
	{name: "absence/within first_and_last", p: seq(st("a", is("a")), st("b", is("b"), not)).within(3), in: "a1@1 b1@2 a2@4 c@5 b2@10 a3@11 b3@13",
		want: []string{"a2 @7"}, withTime: true},
	{name: "absence/within previous_and_current", p: seq(st("a", is("a")), st("b", is("b"), not)).prevWithin(3), in: "a1@1 b1@2 a2@4 c@5 b2@10 a3@11 b3@13",
		want: []string{"a2 @7"}, withTime: true},
	{name: "absence/for", p: seq(st("a", is("a")), st("b", is("b"), not, forD(3))), in: "a1@1 b1@2 a2@4 c@5 b2@10 a3@11 b3@13",
		want: []string{"a2 @7"}, withTime: true},
	{name: "absence/event at the deadline comes too late", p: seq(st("co", is("co")), st("pay", is("pay"), not, forD(30))), in: "co1@0 x@10 co2@40 pay1@50 pay2@200 co3@300 pay3@330",
		want: []string{"co1 @30", "co3 @330"}, withTime: true},
	{name: "absence/for shorter than within", p: seq(st("a", is("a")), st("b", is("b")), st("c", is("c"), not, forD(5))).within(100), in: "a1@0 b1@10 x@12 c1@16",
		want: []string{"a1 b1 @15"}, withTime: true},
	{name: "absence/after loop skip_past_last", p: seq(st("a", is("a"), oneOrMore, combinations), st("c", is("c")), st("b", is("b"), not)).within(5).skip(skipPastLast),
		in: "a1@1 a2@2 a3@3 c1@4 c2@10", want: []string{"a1 a2 a3 c1 @6"}, withTime: true},

	// Windows.
	{name: "within/inside", p: seq(st("a", is("a")), st("b", is("b"))).within(10), in: "a1@0 b1@9", want: []string{"a1 b1"}},
	{name: "within/exclusive boundary", p: seq(st("a", is("a")), st("b", is("b"))).within(10), in: "a1@0 b1@10", want: nil},
	{name: "within/first_and_last spans all", p: seq(st("a", is("a")), st("b", is("b")), st("c", is("c"))).within(5), in: "a1@0 b1@4 c1@8", want: nil},
	{name: "within/previous_and_current gaps", p: seq(st("a", is("a")), st("b", is("b")), st("c", is("c"))).prevWithin(5), in: "a1@0 b1@4 c1@8", want: []string{"a1 b1 c1"}},
	{name: "within/previous_and_current exclusive", p: seq(st("a", is("a")), st("b", is("b")), st("c", is("c"))).prevWithin(5), in: "a1@0 b1@4 c1@9", want: nil},

	// Timed-out partial matches (Flink's TimedOutPartialMatchHandler).
	{name: "timeouts/first_and_last", p: seq(st("a", is("a")), st("b", is("b")), st("c", is("c"))).within(10).timeouts(), in: "a1@0 b1@4 x@20",
		want: []string{"~a1 b1 @10"}, withTime: true},
	{name: "timeouts/previous_and_current", p: seq(st("a", is("a")), st("b", is("b")), st("c", is("c"))).prevWithin(5).timeouts(), in: "a1@0 b1@4 x@20",
		want: []string{"~a1 b1 @9"}, withTime: true},
	{name: "timeouts/completed and expired", p: seq(st("a", is("a")), st("b", is("b"))).within(10).timeouts().skip(skipPastLast), in: "a1@0 b1@5 a2@6 x@30",
		want: []string{"a1 b1 @5", "~a2 @16"}, withTime: true, ordered: true},
	{name: "timeouts/dropped without emit_timeouts", p: seq(st("a", is("a")), st("b", is("b"))).within(10), in: "a1@0 x@30", want: nil},

	// After-match skip strategies: Flink docs, "b+ c" on "b1 b2 b3 c".
	{name: "skip/docs no_skip", p: seq(st("b", is("b"), oneOrMore, consecutive, greedy), st("c", is("c"), nextC)), in: "b1 b2 b3 c",
		want: []string{"b1 b2 b3 c", "b2 b3 c", "b3 c"}},
	{name: "skip/docs skip_to_next", p: seq(st("b", is("b"), oneOrMore, consecutive, greedy), st("c", is("c"), nextC)).skip(skipToNext), in: "b1 b2 b3 c",
		want: []string{"b1 b2 b3 c", "b2 b3 c", "b3 c"}, ordered: true},
	{name: "skip/docs skip_past_last", p: seq(st("b", is("b"), oneOrMore, consecutive, greedy), st("c", is("c"), nextC)).skip(skipPastLast), in: "b1 b2 b3 c",
		want: []string{"b1 b2 b3 c"}},
	{name: "skip/docs skip_to_first", p: seq(st("b", is("b"), oneOrMore, consecutive, greedy), st("c", is("c"), nextC)).skip(skipToFirst("b")), in: "b1 b2 b3 c",
		want: []string{"b1 b2 b3 c", "b2 b3 c", "b3 c"}, ordered: true},
	{name: "skip/docs skip_to_last", p: seq(st("b", is("b"), oneOrMore, consecutive, greedy), st("c", is("c"), nextC)).skip(skipToLast("b")), in: "b1 b2 b3 c",
		want: []string{"b1 b2 b3 c", "b3 c"}, ordered: true},

	// Flink docs: "(a | b | c) (b | c) c+.greedy d" on "a b c1 c2 c3 d".
	{name: "skip/docs second no_skip", p: seq(st("x", is("a", "b", "c")), st("y", is("b", "c")), st("z", is("c"), oneOrMore, greedy), st("d", is("d"))), in: "a b c1 c2 c3 d",
		want: []string{"a b c1 c2 c3 d", "b c1 c2 c3 d", "c1 c2 c3 d"}},
	{name: "skip/docs second skip_to_first", p: seq(st("x", is("a", "b", "c")), st("y", is("b", "c")), st("z", is("c"), oneOrMore, greedy), st("d", is("d"))).skip(skipToFirst("z")), in: "a b c1 c2 c3 d",
		want: []string{"a b c1 c2 c3 d", "c1 c2 c3 d"}, ordered: true},

	// Flink docs: "a b+" on "a b1 b2 b3".
	{name: "skip/docs third no_skip", p: seq(st("a", is("a")), st("b", is("b"), oneOrMore, nextC)), in: "a b1 b2 b3",
		want: []string{"a b1", "a b1 b2", "a b1 b2 b3"}},
	{name: "skip/docs third skip_to_next", p: seq(st("a", is("a")), st("b", is("b"), oneOrMore, nextC)).skip(skipToNext), in: "a b1 b2 b3",
		want: []string{"a b1"}},

	{name: "skip/to_next with followedByAny", p: seq(st("a", is("a")), st("b", is("b"), anyC)).skip(skipToNext), in: "a1 b1 a2 b2",
		want: []string{"a1 b1", "a2 b2"}},
	{name: "skip/no_skip with followedByAny", p: seq(st("a", is("a")), st("b", is("b"), anyC)), in: "a1 b1 a2 b2",
		want: []string{"a1 b1", "a1 b2", "a2 b2"}},
	{name: "skip/to_first named step", p: seq(st("start", has("a"), times(Times(2))), st("end", has("b"), times(Times(2)), nextC)).skip(skipToFirst("end")), in: "ab1 ab2 ab3 ab4 ab5 ab6",
		want: []string{"ab1 ab2 ab3 ab4", "ab3 ab4 ab5 ab6"}},
	{name: "skip/to_last named step", p: seq(st("start", has("a"), times(Times(2))), st("end", has("b"), times(Times(2)), nextC)).skip(skipToLast("end")), in: "ab1 ab2 ab3 ab4 ab5 ab6 ab7",
		want: []string{"ab1 ab2 ab3 ab4", "ab4 ab5 ab6 ab7"}},
	{name: "skip/past_last any chain", p: seq(st("a", is("a")), st("b", is("b"), anyC), st("c", is("c"), anyC), st("d", is("d"))).skip(skipPastLast), in: "a1 a2 b1 b2 c1 c2 d1@7 d2@7",
		want: []string{"a1 b1 c1 d1"}},
	{name: "skip/past_last strict", p: seq(st("a", is("a")), st("b", is("b"), nextC)).skip(skipPastLast), in: "a1 c a2 b2", want: []string{"a2 b2"}},
	{name: "skip/to_first with optional loop", p: seq(st("x", has("x"), zeroOrMore), st("b", has("b"), nextC), st("c", has("c"), nextC)).skip(skipToFirst("b")), in: "ab1 c1 ab2 c2",
		want: []string{"ab1 c1", "ab2 c2"}},
	{name: "skip/to_first with one or more", p: seq(st("a", is("a")), st("b", is("b"), oneOrMore, consecutive, nextC)).skip(skipToFirst("b")), in: "a1 b1 a2 b2 b3 a3 b4",
		want: []string{"a1 b1", "a2 b2", "a3 b4"}},
	{name: "skip/to_last with one or more", p: seq(st("a", is("a")), st("b", is("b"), oneOrMore, consecutive, nextC)).skip(skipToLast("b")), in: "a1 b1 a2 b2 b3 a3 b4",
		want: []string{"a1 b1", "a2 b2", "a3 b4"}},
	{name: "skip/to_first missing step falls back to no_skip", p: seq(st("a", is("a")), st("b", is("b"), zeroOrMore, consecutive, nextC), st("c", is("c"), nextC)).skip(skipToFirst("b")), in: "a c",
		want: []string{"a c"}},
	{name: "skip/held until earlier partial completes", p: seq(st("a", is("a")), st("c", is("c")), st("b", sameFirstPrice)).skip(skipToFirst("c")), in: "a1$0 c1 a2$1 c2 b1$1 b2$0",
		want: []string{"a1 c1 b2 @6", "a2 c2 b1 @5"}, withTime: true, ordered: true},
	{name: "skip/past_last held match pruned", p: seq(st("a", is("a")), st("c", is("c")), st("b", sameFirstPrice)).skip(skipPastLast), in: "a1$0 c1 a2$1 c2 b1$1 b2$0",
		want: []string{"a1 c1 b2 @6"}, withTime: true},
	{name: "skip/held until earlier partial expires", p: seq(st("a", is("a")), st("c", is("c")), st("b", sameFirstPrice)).within(10).skip(skipPastLast), in: "a1$0@0 c1@1 a2$1@2 c2@3 b1$1@4",
		want: []string{"a2 c2 b1 @4"}, withTime: true},

	// cep's default after-match strategy: skip_past_last, one alert per
	// incident.
	{name: "default/one alert per incident", p: Pattern{Steps: []Step{st("probe", is("p"), times(AtLeast(3))), st("cashout", is("c"))}}, in: "p1 p2 p3 p4 c1 p5",
		want: []string{"probe:p1 probe:p2 probe:p3 probe:p4 cashout:c1"}},

	// The rule-level until (Elastic EQL) discards the key's partial matches.
	{name: "rule until", p: seq(st("a", is("a")), st("b", is("b"))).untilEvent("x"), in: "a1 x1 b1 a2 b2", want: []string{"a2 b2"}},
	{name: "rule until frees held matches", p: seq(st("a", is("a")), st("c", is("c")), st("b", sameFirstPrice)).skip(skipPastLast).untilEvent("x"), in: "a1$0 c1 a2$1 c2 b1$1 x1",
		want: []string{"a2 c2 b1 @5"}, withTime: true},

	// A step restricted to a stream only sees that stream's events.
	{name: "stream restriction", p: seq(st("a", is("a")), st("b", is("b"), stream("t"))), in: "a1 b1 b2%t", want: []string{"a1 b2"}},
	{name: "stream restriction strict", p: seq(st("a", is("a")), st("b", is("b"), stream("t"), nextC)), in: "a1 b1 b2%t", want: nil},
}

func TestConformance(t *testing.T) {
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) {
			got := run(t, c.p, events(t, c.in))
			withSteps := len(c.want) > 0 && strings.Contains(c.want[0], ":")
			var gs []string
			for _, m := range got {
				gs = append(gs, render(m, c.withTime, withSteps))
			}
			want := slices.Clone(c.want)
			if !c.ordered {
				slices.Sort(gs)
				slices.Sort(want)
			}
			if !slices.Equal(gs, want) {
				t.Errorf("pattern %s\n input %s\n got  %q\n want %q", mustCompile(t, c.p), c.in, gs, want)
			}
		})
	}
}

func mustCompile(tb testing.TB, p Pattern) *NFA {
	tb.Helper()
	n, err := Compile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
