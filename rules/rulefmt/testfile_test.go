package rulefmt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTestFile(t *testing.T) {
	src, err := os.ReadFile("testdata/cards.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tf, errs := ParseTestFile("testdata/cards.test.yaml", src)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(tf.Tests) != 2 || tf.Tests[1].Name != "test 2" || tf.Rules[0] != "fraud.card-testing" {
		t.Fatalf("parsed %+v", tf)
	}
	t0 := tf.Tests[0]
	// The anchor and the merge key expand into the second event.
	if got, want := string(t0.Events[1].JSON), `{"ts":"2026-03-02T08:00:00Z","card_id":"c-1","type":"auth","result":"declined","amount":1.5,"id":"d2"}`; got != want {
		t.Errorf("second event %s", got)
	}
	if !t0.Expect.Listed || t0.Expect.Count != 1 || t0.Pos.Line != 3 {
		t.Errorf("first test %+v", t0)
	}
	in := tf.Tests[1].Inputs
	if len(in) != 2 || in[0].File != "events.jsonl" || len(in[1].Events) != 1 || in[1].Pos.Line != 14 {
		t.Errorf("inputs %+v", in)
	}
}

func TestParseTestFileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"tests:\n  - events: [{x: 1}]\n", `t.test.yaml:2:5: test "test 1" needs expect`},
		{"tests:\n  - expect: {alerts: 1}\n", `needs events, file or inputs`},
		{"tests:\n  - events: [1]\n    expect: {alerts: 1}\n", `t.test.yaml:2:14: an event must be a mapping of fields, got "1"`},
		{"tests:\n  - events: [{x: 1}]\n    expect: {alerts: [{nope: 1}]}\n", `t.test.yaml:3:24: unknown key "nope" in an expected alert`},
		{"tests:\n  - events: [{x: 1}]\n    expect: {alerts: -1}\n", `tests[0].expect.alerts must be an integer of at least 0, got "-1"`},
		{"tests:\n  - events: [{x: 1}]\n    expect: {}\n", `missing required key "alerts"`},
		{"tests:\n  - events: [{x: 1}]\n    expct: {alerts: 1}\n", `unknown key "expct" in tests[0] (allowed: name, stream, events, file, inputs, order, expect)`},
		{"rule: [x]\n", `unknown key "rule" in test file (allowed: rules, tests)`},
	}
	for _, tt := range tests {
		_, errs := ParseTestFile("t.test.yaml", []byte(tt.src))
		var all []string
		for _, e := range errs {
			all = append(all, e.Error())
		}
		if !strings.Contains(strings.Join(all, "\n"), tt.want) {
			t.Errorf("%q: errors %q, want %q", tt.src, all, tt.want)
		}
	}
}

// FuzzParseTestFile holds the test file decoder to never panic and to
// place every error, seeded with the test files of the repository, an
// alias bomb and an alias cycle.
func FuzzParseTestFile(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.test.yaml")
	more, _ := filepath.Glob("../../spec/testdata/*/*.test.yaml")
	for _, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	bomb := "tests:\n  - expect: {alerts: 0}\n    events:\n      - &a0 {x: 1}\n"
	for i := 1; i <= 9; i++ {
		prev := "*a" + string(rune('0'+i-1))
		bomb += "      - &a" + string(rune('0'+i)) + " {y: [" + strings.Repeat(prev+", ", 9) + prev + "]}\n"
	}
	f.Add([]byte(bomb))
	f.Add([]byte("tests:\n  - expect: {alerts: 0}\n    events: [&e {x: *e}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		tf, errs := ParseTestFile("f.test.yaml", src)
		if tf == nil && len(errs) == 0 {
			t.Fatal("no test file and no error")
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), "f.test.yaml") {
				t.Fatalf("error without its file: %v", e)
			}
		}
	})
}
