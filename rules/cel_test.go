package rules

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

func decode(tb testing.TB, line string) *event.Event {
	tb.Helper()
	d := event.Decoder{Stream: "s"}
	ev, err := d.Decode([]byte(line))
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

func compileOne(tb testing.TB, c *Compiler, text string, want *cel.Type) (*Program, []error) {
	tb.Helper()
	el := &yamlx.Errors{File: "x.yaml"}
	h := &Health{Rule: "t", logger: c.opts.Logger}
	p := c.compile(el, c.base, rulefmt.InlineExpr(text, yamlx.Pos{File: "x.yaml", Line: 1, Col: 1}), want, "expr", h, scope{})
	return p, el.List
}

const celEvent = `{"ts":"2026-03-02T08:30:00Z","type":"auth","user":"Alice","ip":"10.1.2.3","ip6":"2001:db8::1",
 "amount":12.5,"count":3,"ok":true,"url":"https://shop.example/cart?id=7","tags":["a","b"],
 "geo":{"lat":48.8566,"lon":2.3522,"country":"FR"},"prev":{"lat":51.5072,"lon":-0.1276},
 "later":"2026-03-02T10:00:00Z"}`

func TestCELFunctions(t *testing.T) {
	c := newTestCompiler(t)
	ev := decode(t, strings.ReplaceAll(celEvent, "\n", ""))
	tests := []struct {
		expr string
		want any
	}{
		// Fields, types and JSON numbers.
		{`event.type == "auth"`, true},
		{`event.count == 3`, true},
		{`event.count > 2`, true},
		{`event.amount * 2.0`, 25.0},
		{`event.geo.country`, "FR"},
		{`event["geo"]["lat"] > 48.0`, true},
		{`has(event.geo.city)`, false},
		{`has(event.geo.country)`, true},
		{`"b" in event.tags`, true},
		{`size(event.tags)`, int64(2)},
		{`event.tags.exists(t, t == "a")`, true},
		// Regular expressions (RE2) and strings.
		{`event.url.matches("^https://[a-z.]+/cart")`, true},
		{`regex.extract(event.url, "id=([0-9]+)").orValue("")`, "7"},
		{`event.user.lowerAscii() == "alice"`, true},
		{`equals_ignore_case(event.user, "ALICE")`, true},
		{`contains_ignore_case(event.url, "SHOP.EXAMPLE")`, true},
		{`contains_ignore_case(event.url, "nowhere")`, false},
		// IP addresses and CIDR.
		{`in_cidr(event.ip, "10.0.0.0/8")`, true},
		{`in_cidr(event.ip, ["192.168.0.0/16", "172.16.0.0/12"])`, false},
		{`in_cidr(event.ip6, "2001:db8::/32")`, true},
		{`is_private_ip(event.ip)`, true},
		{`is_private_ip("8.8.8.8")`, false},
		{`cidr("10.0.0.0/8").containsIP(event.ip)`, true},
		{`isIP("not an ip")`, false},
		// Time.
		{`ts(event).getHours()`, int64(8)},
		{`ts(event).getHours("Europe/Paris")`, int64(9)},
		{`ts(event).getDayOfWeek()`, int64(1)},
		{`ts(event.later) - ts(event) == duration("90m")`, true},
		{`hours_between(event, event.later)`, 1.5},
		{`ts(1772440200)`, "2026-03-02T08:30:00Z"},
		// Geo.
		{`geo_distance_km(event.geo, event.prev) > 340.0 && geo_distance_km(event.geo, event.prev) < 345.0`, true},
		{`geo_distance_km(48.8566, 2.3522, 48.8566, 2.3522)`, 0.0},
		{`geo_distance_km(event, event.prev) > 340.0`, true},
		// Lists.
		{`in_list("tor_exit_nodes", "198.51.100.7")`, true},
		{`in_list("tor_exit_nodes", "203.0.113.66")`, true},
		{`in_list("tor_exit_nodes", event.ip)`, false},
		// Case-insensitive matching and wildcards.
		{`event.user.iequals("ALICE")`, true},
		{`event.url.istartsWith("HTTPS://")`, true},
		{`event.url.iendsWith("ID=7")`, true},
		{`event.url.icontains("/CART")`, true},
		{`event.user.iin(["bob", "alice"])`, true},
		{`event.url.icontainsAny(["/checkout", "?ID="])`, true},
		{`event.url.wildcard("https://*.example/cart?id=?")`, true},
		{`event.url.wildcardCased("HTTPS://*")`, false},
		{`event.count.iequals("3")`, true},
		{`["x", "cart"].exists(s, event.url.icontains(s))`, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, errs := compileOne(t, c, tt.expr, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			v, err := p.Eval(EventActivation{Ev: ev})
			if err != nil {
				t.Fatal(err)
			}
			if got := celenv.Native(v); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("= %#v (%T), want %#v", got, got, tt.want)
			}
		})
	}
}

// TestEvalErrors checks that a failing condition is false, counted, and
// never a crash.
func TestEvalErrors(t *testing.T) {
	c := newTestCompiler(t)
	ev := decode(t, `{"ts":1,"amount":"12"}`)
	for _, expr := range []string{`event.missing == "x"`, `event.amount > 10.0`, `int(event.amount) / 0 == 1`} {
		p, errs := compileOne(t, c, expr, cel.BoolType)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if p.Test(EventActivation{Ev: ev}) {
			t.Errorf("%s is true", expr)
		}
		if p.health.Errors() != 1 || p.health.LastError() == "" {
			t.Errorf("%s: errors %d, last %q", expr, p.health.Errors(), p.health.LastError())
		}
	}
}

// TestSemanticsConstraints checks that routing sees through the rewrites
// of missing_fields and lenient_numbers, and stays sound under them.
func TestSemanticsConstraints(t *testing.T) {
	c := newTestCompiler(t)
	sem := scope{sem: celenv.Semantics{FalseIfMissing: true, LenientNumbers: true}}
	for _, tt := range []struct {
		expr string
		want []Constraint
	}{
		{`event.EventID == 4688 && event.Channel.iequals("security")`, []Constraint{{Path: []string{"EventID"}, Values: []string{"n:4688", "s:4688"}}}},
		{`(event.EventID == 1 && event.Image.iendsWith("x")) || (event.EventID == 4688 && event.NewProcessName.iendsWith("x"))`,
			[]Constraint{{Path: []string{"EventID"}, Values: []string{"n:1", "n:4688", "s:1", "s:4688"}}}},
		{"event.Channel.iequals(\"x\") && event.EventID == 1 ? event.Image.iendsWith(\"a\") :\nevent.EventID == 4688 ? event.NewProcessName.iendsWith(\"a\") : false",
			[]Constraint{{Path: []string{"EventID"}, Values: []string{"n:1", "n:4688", "s:1", "s:4688"}}}},
		{`event.EventID in [4624, 4625] && !(event.LogonType == 3)`, []Constraint{{Path: []string{"EventID"}, Values: []string{"n:4624", "s:4624", "n:4625", "s:4625"}}}},
	} {
		el := &yamlx.Errors{File: "x.yaml"}
		h := &Health{Rule: "t", logger: c.opts.Logger}
		p := c.compile(el, c.base, rulefmt.InlineExpr(tt.expr, yamlx.Pos{File: "x.yaml", Line: 1, Col: 1}), cel.BoolType, "expr", h, sem)
		if len(el.List) > 0 {
			t.Fatal(el.List)
		}
		if !p.native() {
			t.Errorf("%s: no fast form", tt.expr)
		}
		got := extractConstraints(p.AST())
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.expr, got, tt.want)
		}
		for _, line := range []string{`{"ts":1,"EventID":"4688","Channel":"Security","NewProcessName":"x"}`, `{"ts":1,"EventID":4625,"LogonType":"2"}`, `{"ts":1,"EventID":1,"Image":"X"}`} {
			ev := decode(t, line)
			if !p.Test(EventActivation{Ev: ev}) {
				continue
			}
			for _, con := range got {
				v, _ := ev.Path(con.Path...)
				if k, _ := valueKey(v); !contains(con.Values, k) {
					t.Errorf("%s is true for %s but constraint %v fails", tt.expr, line, con)
				}
			}
		}
	}
}

// TestComputedKeyMissing: a computed key that reads a missing field leaves
// the event without a key, as a plain field key does, instead of counting
// an error against the rule.
func TestComputedKeyMissing(t *testing.T) {
	c := newTestCompiler(t)
	p, errs := compileOne(t, c, `event.EventID == 4624 ? event.TargetLogonId : event.SubjectLogonId`, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var act Activation
	vals, st := evalKey([]*Program{p}, decode(t, `{"ts":1,"EventID":4624}`), &act, nil)
	if st != KeyMissing || len(vals) != 1 || vals[0] != nil {
		t.Errorf("missing: %v %v", vals, st)
	}
	if p.health.Errors() != 0 {
		t.Errorf("a missing key counted as an error")
	}
	vals, st = evalKey([]*Program{p}, decode(t, `{"ts":1,"EventID":4624,"TargetLogonId":"0x1"}`), &act, nil)
	if st != KeyOK || vals[0] != "0x1" {
		t.Errorf("present: %v %v", vals, st)
	}
	if _, st = evalKey([]*Program{p}, decode(t, `{"ts":1,"EventID":{"x":1}}`), &act, nil); st != KeyMissing {
		// EventID == 4624 on an object is false, so SubjectLogonId is read.
		t.Errorf("object: %v", st)
	}
	p2, _ := compileOne(t, c, `int(event.a) / 0`, nil)
	if _, st = evalKey([]*Program{p2}, decode(t, `{"ts":1,"a":1}`), &act, nil); st != KeyError || p2.health.Errors() != 1 {
		t.Errorf("a real error: %v, %d errors", st, p2.health.Errors())
	}
}

func TestConstraints(t *testing.T) {
	c := newTestCompiler(t)
	tests := []struct {
		expr string
		want []Constraint
	}{
		{`event.type == "auth"`, []Constraint{{Path: []string{"type"}, Values: []string{"s:auth"}}}},
		{`"auth" == event.type && event.amount > 5.0`, []Constraint{{Path: []string{"type"}, Values: []string{"s:auth"}}}},
		{`event.type == "a" && event.geo.country in ["FR", "DE"] && event.n == 3`, []Constraint{
			{Path: []string{"type"}, Values: []string{"s:a"}},
			{Path: []string{"geo", "country"}, Values: []string{"s:FR", "s:DE"}},
			{Path: []string{"n"}, Values: []string{"n:3"}},
		}},
		{`event.mcc == "6051" || event.mcc == "7995"`, []Constraint{{Path: []string{"mcc"}, Values: []string{"s:6051", "s:7995"}}}},
		{`event["type"] == "x" && (event.a == 1.0 || event.b == 2.0)`, []Constraint{{Path: []string{"type"}, Values: []string{"s:x"}}}},
		{`event.type != "auth"`, nil},
		{`!(event.type == "auth")`, nil},
		{`event.type == event.other`, nil},
	}
	for _, tt := range tests {
		p, errs := compileOne(t, c, tt.expr, cel.BoolType)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if got := extractConstraints(p.AST()); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.expr, got, tt.want)
		}
	}
}

// TestConstraintsAreImplied checks the index's soundness: whenever a
// condition is true, the event meets every constraint extracted from it.
func TestConstraintsAreImplied(t *testing.T) {
	c := newTestCompiler(t)
	exprs := []string{
		`event.type == "auth" && event.n > 1.0`,
		`event.n == 3 && event.type in ["auth", "login"]`,
		`event.ok == true && event.type == "x"`,
	}
	events := []string{
		`{"ts":1,"type":"auth","n":3,"ok":true}`,
		`{"ts":1,"type":"login","n":3.0,"ok":false}`,
		`{"ts":1,"type":"x","n":"3","ok":true}`,
		`{"ts":1,"type":"auth","n":0}`,
	}
	for _, expr := range exprs {
		p, _ := compileOne(t, c, expr, cel.BoolType)
		cons := extractConstraints(p.AST())
		for _, line := range events {
			ev := decode(t, line)
			if !p.Test(EventActivation{Ev: ev}) {
				continue
			}
			for _, con := range cons {
				v, ok := ev.Path(con.Path...)
				k, _ := valueKey(v)
				if !ok || !contains(con.Values, k) {
					t.Errorf("%s is true for %s but constraint %v fails", expr, line, con)
				}
			}
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// BenchmarkEval measures one filter condition of the fraud example's shape
// over a decoded event.
func BenchmarkEval(b *testing.B) {
	c := newTestCompiler(b)
	ev := decode(b, `{"id":"p1","ts":"2026-03-02T08:00:00Z","type":"card_auth","card_id":"c-1","merchant":"m-0042","mcc":"5411","amount":38.5,"country":"DE","result":"approved"}`)
	for _, bc := range []struct{ name, expr string }{
		{"equality", `event.type == "card_auth"`},
		{"conjunction", `event.type == "card_auth" && event.result == "approved" && event.amount > 30.0 && event.country == "DE"`},
		{"regex", `event.merchant.matches("^m-00[0-9]+$")`},
		{"in_list", `in_list("tor_exit_nodes", event.merchant)`},
		// A test of the event that refutes the condition before the
		// interpreter would read the list (celenv.FastRefuter).
		{"refuted", `event.type == "transfer" && in_list("tor_exit_nodes", event.merchant)`},
		{"not-refuted", `event.type == "card_auth" && in_list("tor_exit_nodes", event.merchant)`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, errs := compileOne(b, c, bc.expr, cel.BoolType)
			if len(errs) > 0 {
				b.Fatal(errs)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Test(EventActivation{Ev: ev})
			}
		})
	}
}
