package rules

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// stateBase is a rule using every key whose change is judged: each case
// below edits one of them.
const stateBase = `id: t.state
title: Declines then approval
description: Three declines, then an approval.
severity: high
status: stable
tags: [fraud]
owner: fraud-team
streams: [payments]
by: [event.card]
late: drop
aggregate:
  window: {type: sliding, size: 10m}
  where: event.result == "declined"
  measures:
    n: count()
    total: sum(event.amount)
  having: n >= 3
alert:
  fields:
    card: event.card
  dedup: 1h
  group: {by: [key], for: 5m}
  throttle: {max: 10, per: 1h}
tests:
  - name: fires
    events:
      - {stream: payments, ts: 1, card: c, result: declined, amount: 1}
    expect: {alerts: 0}
`

const seqBase = `id: t.seq
title: Sequence
streams: [auth]
by: [event.user]
sequence:
  within: 10m
  steps:
    - name: fail
      where: event.result == "fail"
      times: 3+
    - name: ok
      where: event.result == "ok"
`

// TestStateVersion holds the compiler to StateKeepingKeys: a change under
// one of them keeps the state version, and a change anywhere else moves
// it. Each kept key has a case here (checked below), so a key added to
// the list without a case fails.
func TestStateVersion(t *testing.T) {
	cases := []struct {
		name     string
		base     string
		old, new string
		keep     bool
		key      string // the StateKeepingKeys entry the case covers
	}{
		{"title", stateBase, "title: Declines then approval", "title: Card testing", true, "title"},
		{"description", stateBase, "description: Three declines, then an approval.", "description: other words", true, "description"},
		{"severity", stateBase, "severity: high", "severity: critical", true, "severity"},
		{"status to experimental", stateBase, "status: stable", "status: experimental", true, "status"},
		{"tags", stateBase, "tags: [fraud]", "tags: [fraud, attack.t1110]", true, "tags"},
		{"owner", stateBase, "owner: fraud-team", "owner: soc", true, "owner"},
		{"tests", stateBase, "expect: {alerts: 0}", "expect: {alerts: 1}", true, "tests"},
		{"alert field added", stateBase, "    card: event.card\n", "    card: event.card\n    amount: event.amount\n", true, "alert.fields"},
		{"dedup span", stateBase, "dedup: 1h", "dedup: 2h", true, "alert.dedup"},
		{"group span", stateBase, "for: 5m}", "for: 15m}", true, "alert.group.for"},
		{"throttle cap", stateBase, "throttle: {max: 10, per: 1h}", "throttle: {max: 20, per: 2h}", true, "alert.throttle"},
		{"score added", stateBase, "tests:\n", "score:\n  model: m\n  features: {n: n}\ntests:\n", true, "score"},
		{"having threshold", stateBase, "having: n >= 3", "having: n >= 5", true, "aggregate.having"},
		{"comment and layout", stateBase, "having: n >= 3", "having:   n >= 3   # three", true, ""},
		{"alert key added for fields", seqBase, "sequence:", "alert:\n  fields: {who: event.user}\nsequence:", true, ""},
		{"key order", seqBase, "title: Sequence\nstreams: [auth]", "streams: [auth]\ntitle: Sequence", true, ""},

		{"streams", stateBase, "streams: [payments]", "streams: [payments, cards]", false, ""},
		{"by", stateBase, "by: [event.card]", "by: [event.account]", false, ""},
		{"late", stateBase, "late: drop", "late: process", false, ""},
		{"window size", stateBase, "size: 10m}", "size: 20m}", false, ""},
		{"where", stateBase, `where: event.result == "declined"`, `where: event.result != "approved"`, false, ""},
		{"measure", stateBase, "total: sum(event.amount)", "total: max(event.amount)", false, ""},
		{"group by", stateBase, "by: [key]", "by: [key, severity]", false, ""},
		{"within", seqBase, "within: 10m", "within: 20m", false, ""},
		{"step condition", seqBase, `where: event.result == "fail"`, `where: event.result == "denied"`, false, ""},
		{"step times", seqBase, "times: 3+", "times: 4+", false, ""},
		{"step added", seqBase, "    - name: ok\n", "    - name: mid\n      where: event.result == \"mfa\"\n    - name: ok\n", false, ""},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.base, tc.old) {
				t.Fatalf("the base rule has no %q", tc.old)
			}
			changed := strings.Replace(tc.base, tc.old, tc.new, 1)
			a, b := stateVersion([]byte(tc.base)), stateVersion([]byte(changed))
			if a == "" || b == "" {
				t.Fatal("no state version")
			}
			if got := a == b; got != tc.keep {
				t.Errorf("state kept = %v, want %v", got, tc.keep)
			}
		})
		if tc.key != "" {
			covered[tc.key] = true
		}
	}
	for _, k := range StateKeepingKeys {
		if !covered[k] {
			t.Errorf("StateKeepingKeys has %q but no case changes it", k)
		}
	}
}

// TestCompiledStateVersion checks that compiling a rule records its state
// version, and that the base rules of TestStateVersion are valid rules.
func TestCompiledStateVersion(t *testing.T) {
	c := newTestCompiler(t)
	for _, src := range []string{stateBase, seqBase} {
		r, errs := c.CompileFile("t.yaml", []byte(src))
		if r == nil {
			t.Fatalf("rule does not compile: %v", errs)
		}
		if r.StateVersion != stateVersion([]byte(src)) || len(r.StateVersion) != 12 {
			t.Errorf("%s: state version %q", r.ID, r.StateVersion)
		}
	}
}

// TestStateKeepingKeysInREADME checks that the README lists exactly the
// keys the code keeps state for.
func TestStateKeepingKeysInREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	const start = "<!-- state-keeping keys -->"
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("README has no %q marker before the list of keys that keep state", start)
	}
	j := strings.Index(s[i:], "<!-- end -->")
	if j < 0 {
		t.Fatal("README: the state-keeping list has no end marker")
	}
	var got []string
	for _, m := range regexp.MustCompile("(?m)^- `([a-z.]+)`").FindAllStringSubmatch(s[i:i+j], -1) {
		got = append(got, m[1])
	}
	want := slices.Clone(StateKeepingKeys)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("README lists %v; the code keeps state for %v", got, want)
	}
}
