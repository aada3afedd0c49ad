package rules

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"

	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/examples/fraud/fraudgen"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/reflist"
)

// loadExample compiles the fraud example's rules, which have every kind of
// rule and condition, with a compiler of their own.
func loadExample(t *testing.T) *Set {
	t.Helper()
	lists, err := reflist.Load("../examples/fraud/lists")
	if err != nil {
		t.Fatal(err)
	}
	models, err := LoadModels("../examples/fraud/models")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCompiler(Options{Lists: lists, Models: models})
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := c.LoadOnlineModels("../examples/fraud/models"); len(errs) > 0 {
		t.Fatal(errs)
	}
	set := c.Load("../examples/fraud/rules")
	if len(set.Errors) > 0 || len(set.Rules) == 0 {
		t.Fatalf("%d rules, errors: %v", len(set.Rules), set.Errors)
	}
	return set
}

// TestCompactKeepsAnswers holds compacted rules to the answers of the same
// rules as compiled, condition by condition, on the example's events.
func TestCompactKeepsAnswers(t *testing.T) {
	plain, compacted := loadExample(t), loadExample(t)
	Compact(compacted.Rules)
	// The example's own generator, with some fraud, so that conditions
	// also come out true.
	streams := map[string]io.Writer{}
	bufs := map[string]*bytes.Buffer{}
	for _, s := range fraudgen.Streams {
		bufs[s] = &bytes.Buffer{}
		streams[s] = bufs[s]
	}
	if err := fraudgen.Write(streams, fraudgen.Config{Seed: 7, Events: 4000, Rate: 2, FraudRate: 0.05}); err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	dec := &event.Decoder{TimeField: "ts"}
	for _, s := range fraudgen.Streams {
		for line := range bytes.Lines(bufs[s].Bytes()) {
			ev, err := dec.Decode(line)
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			evs = append(evs, ev)
		}
	}
	tested, trues, values := 0, 0, 0
	for i, r := range plain.Rules {
		rc := compacted.Rules[i]
		// What a run still reads of the rule file.
		if rc.Spec.Pos != r.Spec.Pos || rc.Emits() != r.Emits() {
			t.Fatalf("%s: compacted at %v, emits %v; before at %v, emits %v", r.ID, rc.Spec.Pos, rc.Emits(), r.Spec.Pos, r.Emits())
		}
		want, got := r.eventConditions(), rc.eventConditions()
		if len(want) != len(got) {
			t.Fatalf("%s: %d conditions compacted, %d before", r.ID, len(got), len(want))
		}
		if !reflect.DeepEqual(r.Constraints, rc.Constraints) {
			t.Errorf("%s: constraints changed: %v, want %v", r.ID, rc.Constraints, r.Constraints)
		}
		for j := range want {
			if got[j].CallsFacts() != want[j].CallsFacts() {
				t.Errorf("%s: %s: CallsFacts %v, want %v", r.ID, want[j].Expr.Text, got[j].CallsFacts(), want[j].CallsFacts())
			}
			for _, ev := range evs {
				g, w := got[j].Test(EventActivation{Ev: ev}), want[j].Test(EventActivation{Ev: ev})
				if g != w {
					t.Errorf("%s: %s on %s: %v compacted, %v before", r.ID, want[j].Expr.Text, ev.Raw, g, w)
				}
				tested++
				if w {
					trues++
				}
			}
		}
		// Every expression's value, under an activation that binds only
		// the event: plain fields read directly, the rest by programs
		// built again on first use; what needs more fails in both.
		// (programs lists keys by stream in map order: pair them by
		// position.)
		wantAt := map[string]*Program{}
		for _, p := range r.programs() {
			wantAt[p.Expr.Pos.String()] = p
		}
		for _, gp := range rc.programs() {
			wp := wantAt[gp.Expr.Pos.String()]
			if wp == nil || wp.Expr.Text != gp.Expr.Text {
				t.Fatalf("%s: %s at %s has no counterpart", r.ID, gp.Expr.Text, gp.Expr.Pos)
			}
			for _, ev := range evs[:200] {
				var a, b Activation
				a.BindEvent(ev)
				b.BindEvent(ev)
				w, werr := wp.Value(&a)
				g, gerr := gp.Value(&b)
				if !reflect.DeepEqual(g, w) || (gerr == nil) != (werr == nil) {
					t.Errorf("%s: %s on %s: %v, %v compacted; %v, %v before", r.ID, wp.Expr.Text, ev.Raw, g, gerr, w, werr)
				}
				values++
			}
		}
		for _, p := range append(rc.programs(), rc.conditions()...) {
			if p.AST() != nil {
				t.Errorf("%s: %s keeps its syntax tree", r.ID, p.Expr.Text)
			}
		}
	}
	if tested == 0 || trues == 0 || values == 0 {
		t.Fatalf("%d tests of a condition, %d true; %d values", tested, trues, values)
	}
}

// TestCompactSharesOnlyEqualLists holds Compact's sharing to lists equal
// element by element: a value may hold any byte, so ["a\x00b"] and
// ["a", "b"] are two lists, whatever separator would join them. (An
// indexed value is kept with its kind, "s:a"; joined with NULs,
// ["s:a", "s:b"] was taken for ["s:a\x00s:b"].)
func TestCompactSharesOnlyEqualLists(t *testing.T) {
	c := newTestCompiler(t)
	var rs []*Rule
	for i, cond := range []string{`event.x in ["a", "b"]`, `event.x == "a\u0000s:b"`, `event["a\u0000b"] == "x"`, `event.a.b == "x"`} {
		src := fmt.Sprintf("id: r%d\ntitle: r\nseverity: low\nstreams: [\"s\\u0000t\", u]\nmatch: '%s'\n", i, cond)
		r, errs := c.CompileFile(fmt.Sprintf("r%d.yaml", i), []byte(src))
		if r == nil {
			t.Fatal(errs)
		}
		rs = append(rs, r)
	}
	type lists struct {
		values [][]string
		paths  [][]string
	}
	before := make([]lists, len(rs))
	for i, r := range rs {
		for _, k := range r.Constraints {
			before[i].values = append(before[i].values, slices.Clone(k.Values))
			before[i].paths = append(before[i].paths, slices.Clone(k.Path))
		}
	}
	Compact(rs)
	for i, r := range rs {
		var after lists
		for _, k := range r.Constraints {
			after.values = append(after.values, k.Values)
			after.paths = append(after.paths, k.Path)
		}
		if !reflect.DeepEqual(after, before[i]) {
			t.Errorf("%s: constraints %q compacted, %q before", r.ID, after, before[i])
		}
		if want := []string{"s\x00t", "u"}; !slices.Equal(r.Streams, want) {
			t.Errorf("%s: streams %q, want %q", r.ID, r.Streams, want)
		}
	}
	if len(before[0].values) == 0 || len(before[1].values) == 0 || len(before[2].paths) == 0 {
		t.Fatalf("the conditions are not indexed: %q", before)
	}
}

// watchRule is a rule of the many-rule benchmarks' shape (cep bench
// --scenario filter).
func watchRule(i int) []byte {
	return fmt.Appendf(nil, `id: bench.watch-%d
title: Watched merchant %d, large approval
severity: medium
streams: [payments]
by: [event.card_id]
match: event.type == "card_auth" && event.merchant == "m-%05d" && event.result == "approved" && event.amount > %d.0
alert:
  fields:
    card: event.card_id
    amount: event.amount
`, i, i, i, 900+i%50)
}

func compileWatchRules(tb testing.TB, n int) []*Rule {
	tb.Helper()
	c, err := NewCompiler(Options{})
	if err != nil {
		tb.Fatal(err)
	}
	rs := make([]*Rule, n)
	for i := range rs {
		r, errs := c.CompileFile(fmt.Sprintf("watch-%d.yaml", i), watchRule(i))
		if r == nil {
			tb.Fatal(errs)
		}
		rs[i] = r
	}
	return rs
}

// BenchmarkCandidateTest times the test of an event's one candidate rule,
// as the index hands it out: a random rule of n. Its cost is the memory
// the test reaches, hence Compact.
func BenchmarkCandidateTest(b *testing.B) {
	for _, n := range []int{10, 10000} {
		for _, compact := range []bool{false, true} {
			b.Run(fmt.Sprintf("rules=%d/compact=%v", n, compact), func(b *testing.B) {
				rs := compileWatchRules(b, n)
				if compact {
					Compact(rs)
				}
				const m = 4096
				evs := make([]*event.Event, m)
				order := make([]*Program, m)
				dec := &event.Decoder{TimeField: "ts"}
				for i := range evs {
					k := (i * 7919) % n
					ev, err := dec.Decode(fmt.Appendf(nil, `{"id":"p%d","ts":1,"type":"card_auth","card_id":"c-1","merchant":"m-%05d","amount":950.5,"result":"approved"}`, i, k))
					if err != nil {
						b.Fatal(err)
					}
					evs[i], order[i] = ev, rs[k].Match
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					order[i%m].Test(EventActivation{Ev: evs[i%m]})
				}
			})
		}
	}
}

// BenchmarkCompiledRuleBytes reports the heap a compiled rule of the
// many-rule shape holds, as compiled and once compacted.
func BenchmarkCompiledRuleBytes(b *testing.B) {
	const n = 2000
	var compiled, compacted, objects, scan uint64
	for i := 0; i < b.N; i++ {
		var m0, m1, m2 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		scan0 := scannableHeap()
		rs := compileWatchRules(b, n)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		Compact(rs)
		runtime.GC()
		runtime.ReadMemStats(&m2)
		scan += (scannableHeap() - scan0) / n
		runtime.KeepAlive(rs)
		compiled += (m1.HeapAlloc - m0.HeapAlloc) / n
		compacted += (m2.HeapAlloc - m0.HeapAlloc) / n
		objects += (m2.HeapObjects - m0.HeapObjects) / n
	}
	b.ReportMetric(float64(compiled)/float64(b.N), "B/rule")
	b.ReportMetric(float64(compacted)/float64(b.N), "B/rule-compacted")
	b.ReportMetric(float64(objects)/float64(b.N), "objects/rule-compacted")
	b.ReportMetric(float64(scan)/float64(b.N), "scan-B/rule-compacted")
}

// scannableHeap is the heap the collector last had to scan for pointers
// (objects that hold none it only marks): the work each cycle's marking
// does for what stays live.
func scannableHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestPlainFieldsReadAsCEL holds the direct read of a plain field
// (event.a.b) to cel-go's answer for every kind of member, present or
// not, on events decoded whole and projected to part of them.
func TestPlainFieldsReadAsCEL(t *testing.T) {
	c := newTestCompiler(t)
	exprs := []string{`event.s`, `event.n`, `event.f`, `event.b`, `event.z`, `event.o`, `event.o.s`, `event.o.n`,
		`event["o"]["n"]`, `event.a`, `event.a.x`, `event.missing`, `event.o.missing`, `event.s.x`, `event.u`}
	lines := []string{
		`{"ts":1,"s":"abc","n":3,"f":2.5,"b":true,"z":null,"o":{"s":"x","n":1},"a":[1,2],"u":"\u00e9\n"}`,
		`{"ts":1,"s":"","n":-0.0,"f":1e300,"b":false,"o":"flat","a":{"x":1}}`,
		`{"ts":1,"o":{},"z":0}`,
	}
	projections := []*event.Projection{nil, event.NewProjection([][]string{{"s"}, {"o", "s"}}), event.NewProjection([][]string{{"o", "n"}, {"a"}})}
	checked := 0
	for _, text := range exprs {
		p, errs := compileOne(t, c, text, nil)
		if p == nil {
			t.Fatalf("%s: %v", text, errs)
		}
		if p.path == nil {
			t.Fatalf("%s: not read as a plain field", text)
		}
		for _, proj := range projections {
			for _, line := range lines {
				ev, err := (&event.Decoder{TimeField: "ts", Project: proj}).Decode([]byte(line))
				if err != nil {
					t.Fatal(err)
				}
				var a Activation
				a.BindEvent(ev)
				for _, act := range []Vars{EventActivation{Ev: ev}, &a} {
					got, gerr := p.Value(act)
					cv, _, werr := p.celEval(act)
					var want any
					if werr == nil {
						want = celenv.Native(cv)
					}
					if !reflect.DeepEqual(got, want) || (gerr == nil) != (werr == nil) {
						t.Errorf("%s on %s (%T): %#v, %v; cel-go %#v, %v", text, line, act, got, gerr, want, werr)
					}
					if g, gerr := p.Eval(act); (gerr == nil) != (werr == nil) || (gerr == nil && g.Equal(cv) != types.True) {
						t.Errorf("Eval of %s on %s (%T): %v, %v; cel-go %v, %v", text, line, act, g, gerr, cv, werr)
					}
					checked++
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}

// TestCompactedProgramsBuildOnce has many goroutines need a compacted
// program's cel-go form at once, as the decoders preparing filters do:
// a comparison of mismatched types fails on the native path, so every
// test asks cel-go to word the error. Run with -race.
func TestCompactedProgramsBuildOnce(t *testing.T) {
	rs := compileWatchRules(t, 1)
	Compact(rs)
	p := rs[0].Match
	if p.cel != nil {
		t.Fatal("Compact kept the cel-go program of a condition with a native form")
	}
	ev, err := (&event.Decoder{TimeField: "ts"}).Decode([]byte(`{"ts":1,"type":"card_auth","merchant":"m-00000","result":"approved","amount":"high"}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if p.Test(EventActivation{Ev: ev}) {
					t.Error("a string amount compared with a number passed")
				}
			}
		})
	}
	wg.Wait()
	if got := rs[0].Health.Errors(); got != 8*50 {
		t.Errorf("%d evaluation errors counted, want %d", got, 8*50)
	}
	if c := (*celProgram)(p.cel); c == nil || c.prg == nil {
		t.Error("the cel-go program was not built")
	}
}
