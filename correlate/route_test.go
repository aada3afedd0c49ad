package correlate

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

var routeTests = []string{
	`event.s == "%s"`, `event.s.iequals("%s")`, `event.s.istartsWith("%s")`, `event.s.iendsWith("%s")`,
	`event.s.iin(["%s", "zz"])`, `event.s.startsWith("%s")`, `event.s.endsWith("%s")`, `event.s.wildcard("%s*")`,
	`event.s.wildcard("*%s")`, `event.s.wildcardCased("%s")`, `event.n == %d`, `event.o.p.iequals("%s")`,
}

var routeWords = []string{"a", "A", "ab", "Ab", "aB", "abc", "ABC", "b", "bc", "BC", "c", "k", "\u212A", "Σ", "σ", "ς", "é", "É", "ab\u212A", "Σa"}

// TestRouteIsSound: the index hands an event to every rule whose condition
// is true for it, whatever the mix of exact, case-insensitive, prefix and
// suffix tests rules are indexed by.
func TestRouteIsSound(t *testing.T) {
	rnd := rand.New(rand.NewPCG(2, 3))
	for round := range 20 {
		var matches []string
		for range 60 {
			var conds []string
			for range 1 + rnd.IntN(2) {
				f := routeTests[rnd.IntN(len(routeTests))]
				if f == `event.n == %d` {
					conds = append(conds, fmt.Sprintf(f, rnd.IntN(3)))
				} else {
					conds = append(conds, fmt.Sprintf(f, routeWords[rnd.IntN(len(routeWords))]))
				}
			}
			cond := conds[0]
			if len(conds) == 2 {
				cond = fmt.Sprintf("(%s) %s (%s)", conds[0], []string{"&&", "||"}[rnd.IntN(2)], conds[1])
			}
			matches = append(matches, cond)
		}
		rs, e := lenientEngine(t, matches)
		d := event.Decoder{Stream: "s"}
		indexed := 0
		for _, r := range rs {
			if len(r.Constraints) > 0 {
				indexed++
			}
		}
		if indexed < 40 {
			t.Fatalf("round %d: only %d of 60 rules indexed", round, indexed)
		}
		for i := range 300 {
			w := routeWords[rnd.IntN(len(routeWords))] + routeWords[rnd.IntN(len(routeWords))]
			line := fmt.Sprintf(`{"id":"e%d","ts":1,"s":%q,"n":%d,"o":{"p":%q}}`, i, w, rnd.IntN(3), routeWords[rnd.IntN(len(routeWords))])
			if rnd.IntN(5) == 0 {
				line = fmt.Sprintf(`{"id":"e%d","ts":1,"s":%d,"n":"%d"}`, i, rnd.IntN(3), rnd.IntN(3))
			}
			x, err := d.Decode([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			routed := e.router.route(x)
			for j, r := range rs {
				if r.Match.Test(rules.EventActivation{Ev: x}) && !slices.Contains(routed, j) {
					t.Fatalf("round %d: %s is true for %s, but the index does not route it there (constraints %+v)", round, r.Match.Expr.Text, line, r.Constraints)
				}
			}
			if !slices.IsSorted(routed) || len(slices.Compact(slices.Clone(routed))) != len(routed) {
				t.Fatalf("routed %v: not in rule order, or twice", routed)
			}
		}
	}
}

// TestRouteByTheRarerField: rules imported from Sigma test the channel
// and the event id of their log source, both under lenient_numbers, which
// indexes a number as itself and as its text. A thousand process-creation
// rules share one channel with a few process-access rules, and must go
// under their event id, not their channel: an event of another id is then
// tested against none of them.
func TestRouteByTheRarerField(t *testing.T) {
	var matches []string
	for i := range 40 {
		cond := fmt.Sprintf(`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 1 ? event.CommandLine.icontains("x%d") : event.Channel.iequals("Security") && event.EventID == 4688 ? event.CommandLine.icontains("x%d") : false`, i, i)
		if i%10 == 0 {
			cond = fmt.Sprintf(`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 10 && event.GrantedAccess.icontains("y%d")`, i)
		}
		matches = append(matches, cond)
	}
	_, e := lenientEngine(t, matches)
	d := event.Decoder{Stream: "windows"}
	x, err := d.Decode([]byte(`{"ts":1,"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":10,"GrantedAccess":"0x1410"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.router.route(x); !slices.Equal(got, []int{0, 10, 20, 30}) {
		t.Errorf("a process-access event goes to rules %v, want the four process-access rules [0 10 20 30]", got)
	}
}

// BenchmarkSigmaShapeRules measures decode + route + evaluate per event
// for rules of Sigma's shape (case-insensitive paths tested by prefix and
// suffix) as their number grows.
func BenchmarkSigmaShapeRules(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var srcs []string
			for i := 0; i < n; i++ {
				var cond string
				switch i % 3 {
				case 0:
					cond = fmt.Sprintf(`event.EventID == 1 && event.Image.iendsWith("\\tool%d.exe")`, i)
				case 1:
					cond = fmt.Sprintf(`event.EventID == 13 && event.TargetObject.istartsWith("HKLM\\Software\\Vendor%d\\")`, i)
				default:
					cond = fmt.Sprintf(`event.Channel.iequals("Security") && event.ServiceName.iequals("svc%d")`, i)
				}
				srcs = append(srcs, fmt.Sprintf("id: r%d\ntitle: r\nmissing_fields: false_if_missing\nlenient_numbers: true\nmatch: %q\n", i, cond))
			}
			rs := compileRules(b, srcs...)
			e, _ := New(rs, Config{}, func(*alert.Alert) {})
			d := event.Decoder{Stream: "windows"}
			lines := make([][]byte, 1024)
			for i := range lines {
				switch i % 3 {
				case 0:
					lines[i] = []byte(fmt.Sprintf(`{"id":"e%d","ts":%d,"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\Windows\\TOOL%d.exe","CommandLine":"x"}`, i, 1_700_000_000_000+i, i*7))
				case 1:
					lines[i] = []byte(fmt.Sprintf(`{"id":"e%d","ts":%d,"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":13,"TargetObject":"HKLM\\SOFTWARE\\Vendor%d\\Run","Details":"x"}`, i, 1_700_000_000_000+i, i*5))
				default:
					lines[i] = []byte(fmt.Sprintf(`{"id":"e%d","ts":%d,"Channel":"Security","EventID":7045,"ServiceName":"SVC%d"}`, i, 1_700_000_000_000+i, i))
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				x, err := d.Decode(lines[i%len(lines)])
				if err != nil {
					b.Fatal(err)
				}
				x.Time = benchStart + int64(i)*1e6
				e.Push(x, time.Time{})
				i++
			}
		})
	}
}

// lenientEngine is an engine of one filter rule per condition, rule i
// matching matches[i], with Sigma's missing_fields and lenient_numbers.
func lenientEngine(t *testing.T, matches []string) ([]*rules.Rule, *Engine) {
	t.Helper()
	var srcs []string
	for i, m := range matches {
		srcs = append(srcs, fmt.Sprintf("id: r%d\ntitle: r\nmissing_fields: false_if_missing\nlenient_numbers: true\nmatch: %q\n", i, m))
	}
	rs := compileRules(t, srcs...)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	return rs, e
}

// TestRouteAlternatingStreams: the router remembers the stream it routed
// last; events of two streams in turn, with names at other addresses than
// the decoders', still go to their own stream's rules.
func TestRouteAlternatingStreams(t *testing.T) {
	rs := compileRules(t,
		"id: a1\ntitle: r\nstreams: [a]\nmatch: event.k == \"x\"\n",
		"id: b1\ntitle: r\nstreams: [b]\nmatch: event.k == \"x\"\n",
		"id: a2\ntitle: r\nstreams: [a]\nmatch: event.k == \"y\"\n",
		"id: b2\ntitle: r\nstreams: [b]\nmatch: true\n",
	)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"a/x": {0}, "a/y": {2}, "b/x": {1, 3}, "b/y": {3}}
	for i := range 12 {
		stream := []string{"a", "b"}[i%2]
		if i%3 == 0 {
			stream = string([]byte(stream)) // the same name at another address
		}
		k := []string{"x", "y"}[i/2%2]
		d := event.Decoder{Stream: stream}
		x, err := d.Decode(fmt.Appendf(nil, `{"ts":1,"k":%q}`, k))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.router.route(x); !slices.Equal(got, want[stream+"/"+k]) {
			t.Errorf("event %d (%s, k %s) goes to %v, want %v", i, stream, k, got, want[stream+"/"+k])
		}
	}
}

// TestRouteIndexShared: routers on several goroutines share one index,
// whose streams' routes are built while others route; each stream is
// built once, and every router finds what a router of its own finds.
func TestRouteIndexShared(t *testing.T) {
	var srcs []string
	streams := []string{"a", "b", "c", "d", "e", "f"}
	for i := range 60 {
		srcs = append(srcs, fmt.Sprintf("id: r%d\ntitle: r\nstreams: [%s]\nmatch: event.k == \"k%d\"\n", i, streams[i%len(streams)], i%5))
	}
	rs := compileRules(t, srcs...)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for i := range 120 {
		d := event.Decoder{Stream: streams[i*7%len(streams)]}
		x, err := d.Decode(fmt.Appendf(nil, `{"ts":1,"k":"k%d"}`, i%5))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, x)
	}
	own := newRouter(newRouteIndex(e.dets, nil, false))
	want := make([][]int, len(evs))
	for i, x := range evs {
		want[i] = slices.Clone(own.route(x))
	}
	shared := newRouteIndex(e.dets, nil, false)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := newRouter(shared)
			for k := range evs {
				i := (k + g*31) % len(evs)
				if got := r.route(evs[i]); !slices.Equal(got, want[i]) {
					t.Errorf("goroutine %d: event %d goes to %v, want %v", g, i, got, want[i])
				}
			}
		})
	}
	wg.Wait()
	if m := shared.streams.Load(); m == nil || len(*m) != len(streams) {
		t.Fatalf("the index holds %v, want the routes of %d streams", m, len(streams))
	}
	for _, s := range streams {
		if a, b := shared.stream(s), shared.stream(string([]byte(s))); a != b {
			t.Errorf("stream %s has two routes", s)
		}
	}
}

// TestRoutesBuiltAhead: New builds the route of every stream a rule
// names in each index the engine routes by, so that neither the first
// events nor the decoders' screens wait for it; the route of a stream no
// rule names, which a rule of every stream reads, is built on its first
// event, and routes the same as one built ahead.
func TestRoutesBuiltAhead(t *testing.T) {
	rs := compileRules(t,
		"id: a1\ntitle: r\nstreams: [a]\nmatch: event.k == \"x\"\n",
		"id: b1\ntitle: r\nstreams: [b, a]\nmatch: event.k == \"y\"\n",
		"id: any\ntitle: r\nmatch: event.k == \"x\"\n",
		"id: seq\ntitle: r\nstreams: [c]\nby: [event.k]\nsequence:\n  within: 1m\n  steps:\n    - {name: s1, where: event.n == 1}\n    - {name: s2, where: event.n == 2}\n",
	)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	idxs := map[string]*routeIndex{"router": e.router.idx, "prepared": e.prepIndex, "rest": e.rest.idx}
	for name, ix := range idxs {
		if ix == nil {
			t.Fatalf("no %s index", name)
		}
		m := ix.streams.Load()
		if m == nil {
			t.Fatalf("the %s index holds no route", name)
		}
		for _, s := range []string{"a", "b", "c"} {
			if (*m)[s] == nil {
				t.Errorf("the %s index holds the routes of %v, not of stream %s", name, slices.Sorted(maps.Keys(*m)), s)
			}
		}
	}
	for _, tc := range []struct {
		stream, k string
		want      []int
	}{{"a", "x", []int{0, 2}}, {"a", "y", []int{1}}, {"b", "x", []int{2}}, {"d", "x", []int{2}}, {"d", "y", nil}, {"c", "x", []int{2, 3}}} {
		d := event.Decoder{Stream: tc.stream}
		x, err := d.Decode(fmt.Appendf(nil, `{"ts":1,"k":%q,"n":1}`, tc.k))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.router.route(x); !slices.Equal(got, tc.want) {
			t.Errorf("stream %s, k %s: goes to %v, want %v", tc.stream, tc.k, got, tc.want)
		}
	}
	if m := e.router.idx.streams.Load(); (*m)["d"] == nil {
		t.Error("the route of stream d, which no rule names, was not built on its first event")
	}
}

// TestRouteTellsPathsApart: a member's name may hold any byte, so the
// index keeps event["a\u0000b"] and event.a.b apart, as the conditions do.
func TestRouteTellsPathsApart(t *testing.T) {
	rs, e := lenientEngine(t, []string{`event["a\u0000b"] == "x"`, `event.a.b == "x"`})
	for _, r := range rs {
		if len(r.Constraints) == 0 {
			t.Fatalf("%s is not indexed", r.Match.Expr.Text)
		}
	}
	d := event.Decoder{Stream: "s"}
	for _, tc := range []struct {
		line string
		want []int
	}{
		{`{"ts":1,"a\u0000b":"x"}`, []int{0}},
		{`{"ts":1,"a":{"b":"x"}}`, []int{1}},
	} {
		x, err := d.Decode([]byte(tc.line))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.router.route(x); !slices.Equal(got, tc.want) {
			t.Errorf("%s routed to %v, want %v", tc.line, got, tc.want)
		}
	}
}

// TestRouteInOnePass: with many indexed fields an event decoded whole is
// routed in one pass over its members (scanRoutes). It must route as a
// lookup of each path does, duplicate members (the last counts) and
// nested paths included, and soundly.
func TestRouteInOnePass(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	var matches []string
	for i := range 80 {
		f := fmt.Sprintf("f%d", i%12)
		switch i % 4 {
		case 0:
			matches = append(matches, fmt.Sprintf(`event.%s == "%s"`, f, routeWords[rnd.IntN(len(routeWords))]))
		case 1:
			matches = append(matches, fmt.Sprintf(`event.%s.iendsWith("%s")`, f, routeWords[rnd.IntN(len(routeWords))]))
		case 2:
			matches = append(matches, fmt.Sprintf(`event.%s == %d`, f, rnd.IntN(3)))
		default:
			matches = append(matches, fmt.Sprintf(`event.o.p.iequals("%s")`, routeWords[rnd.IntN(len(routeWords))]))
		}
	}
	rs, e := lenientEngine(t, matches)
	d := event.Decoder{Stream: "s"}
	for i := range 2000 {
		line := fmt.Sprintf(`{"id":"e%d","ts":1`, i)
		for range 1 + rnd.IntN(16) {
			f := fmt.Sprintf("f%d", rnd.IntN(14))
			switch rnd.IntN(3) {
			case 0:
				line += fmt.Sprintf(`,%q:%q`, f, routeWords[rnd.IntN(len(routeWords))]+routeWords[rnd.IntN(len(routeWords))])
			case 1:
				line += fmt.Sprintf(`,%q:%d`, f, rnd.IntN(3))
			default:
				line += fmt.Sprintf(`,"o":{"p":%q}`, routeWords[rnd.IntN(len(routeWords))])
			}
		}
		line += "}"
		x, err := d.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		sr := e.router.idx.stream("s")
		if sr.top == nil || x.Projected() {
			t.Fatalf("%s: not routed in one pass (%d top-level paths)", line, len(sr.paths))
		}
		routed := slices.Clone(e.router.route(x))
		var want []int
		for j := range sr.paths {
			if v, ok := x.Path(sr.paths[j].path...); ok {
				want = e.router.meet(want, &sr.paths[j], &v)
			}
		}
		want = slices.Compact(slices.Sorted(slices.Values(append(want, sr.always...))))
		if !slices.Equal(routed, want) {
			t.Fatalf("%s: routed %v in one pass, %v path by path", line, routed, want)
		}
		for j, r := range rs {
			if r.Match.Test(rules.EventActivation{Ev: x}) && !slices.Contains(routed, j) {
				t.Fatalf("%s is true for %s, but the index does not route it there", r.Match.Expr.Text, line)
			}
		}
	}
}
