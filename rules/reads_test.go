package rules

import (
	"strings"
	"testing"
)

// TestReads holds the analysis of what rules read to the paths each
// expression can reach, and to reading whole events wherever an
// expression may read anything.
func TestReads(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"fields and nested fields", `match: event.a == 1 && event.b.c == "x"`, "a, b.c"},
		{"index by literal", `match: event["a"]["b"] == 1 && event.o[?"p"].orValue(0) == 1`, "a.b, o.p"},
		{"presence", `match: has(event.x.y) && !has(event.z)`, "x.y, z"},
		{"a path under another", `match: event.o.p == 1 && size(event.o) > 1`, "o"},
		{"size of the event", `match: size(event) > 3`, "the whole event"},
		{"keywords over the event", `match: keywords(event, ["mimikatz"])`, "the whole event"},
		{"keywords over a field", `match: keywords(event.cmd, ["mimikatz"])`, "cmd"},
		{"computed member name", `match: event[event.k] == 1`, "the whole event"},
		{"computed member of an object", `match: event.o[event.k] == 1`, "k, o"},
		{"the event's keys", `match: event.exists(k, k.startsWith("x"))`, "the whole event"},
		{"an object's keys", `match: event.o.exists(k, k == "a")`, "o"},
		{"a list's elements", `match: event.tags.exists(t, t.name == "x")`, "tags"},
		{"optional selection", `match: event.?o.?s.orValue("") == "x"`, "o.s"},
		{"a shadowing variable", `match: "[1].exists(event, event > 0) && event.q == 1"`, "q"},
		{"a key and alert fields", "by: [event.card]\nmatch: event.t == \"x\"\nalert:\n  fields: {amount: event.amount, all: event.meta}", "amount, card, meta, t"},
		{"an alert field that is the event", "match: event.t == \"x\"\nalert:\n  fields: {ev: event}", "the whole event"},
		{"sequence steps, loops and time", `by: [event.k]
sequence:
  within: 10m
  until: event.stop == true
  steps:
    - {name: a, where: event.t == "a", times: 2+}
    - name: b
      where: event.t == "b" && event.n > a[0].n
alert:
  fields:
    first: a[0].x
    n: size(a)
    all: a.all(e, e.ok == true)
    m: a.map(e, e.v)
    secs: (ts(b) - ts(a[0])).getSeconds()`,
			"k, n, ok, stop, t, v, x"},
		{"a looping step's events compared whole", `by: [event.k]
sequence:
  within: 10m
  steps:
    - {name: a, where: event.t == "a", times: 2+}
    - {name: b, where: event.t == "b"}
alert:
  fields:
    again: a[0] == b`, "the whole event"},
		{"geo distance", `by: [event.user]
sequence:
  within: 1h
  steps:
    - {name: a, where: event.ok == true}
    - {name: b, where: "geo_distance_km(a, event) > 500.0 && geo_distance_km(a.geo, event.pos) > 1.0 && hours_between(a, event) < 1.0"}`,
			"geo, lat, latitude, lng, lon, longitude, ok, pos.lat, pos.latitude, pos.lng, pos.lon, pos.longitude, user"},
		{"aggregate", `by: [event.user]
aggregate:
  window: {type: tumbling, size: 1h}
  where: event.type == "x"
  measures: {total: sum(event.amount), devices: count_distinct(event.device)}
  having: total > 1.0
alert:
  fields: {last: event.id}`, "amount, device, id, type, user"},
		{"join", `streams: [a, b]
join:
  within: 1m
  sides:
    - {name: l, stream: a, where: event.ok == true, by: [event.u]}
    - {name: r, stream: b, by: [event.v]}
alert:
  fields: {c: l.geo.country}`, "geo.country, ok, u, v"},
		{"baselines", `by: [event.card]
baselines:
  amt: {value: event.amount, where: event.kind == "x"}
match: anomaly.amt > 3.0`, "amount, card, kind"},
		{"sigma shape", `missing_fields: false_if_missing
lenient_numbers: true
match: event.Channel.iequals("Security") && event.EventID == 4688 && event.CommandLine.icontainsAny(["a", "b"]) && !event.Image.iendsWith("x")`,
			"Channel, CommandLine, EventID, Image"},
	}
	c, err := NewCompiler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "id: r\ntitle: r\n" + tt.body + "\n"
			if !strings.Contains(tt.body, "alert:") {
				src += "alert:\n  fields: {}\n"
			}
			r, errs := c.CompileFile("r.yaml", []byte(src))
			if r == nil {
				t.Fatalf("%v\n%s", errs, src)
			}
			if got := r.Reads().String(); got != tt.want {
				t.Errorf("reads %s, want %s", got, tt.want)
			}
		})
	}
}

// TestStepReads holds what a sequence's conditions read of each step's
// events to the paths they name of that step, apart from the event's own
// and the other steps': a held event is thawed for no more.
func TestStepReads(t *testing.T) {
	tests := []struct {
		name  string
		steps string
		want  []string // by step; "" reads nothing
	}{
		{"a place compared with the one before", `
    - {name: a, where: event.ok == true}
    - {name: b, where: "event.ok == true && geo_distance_km(a.geo, event.geo) / math.greatest(hours_between(a, event), 0.01) > 900.0"}`,
			[]string{"geo.lat, geo.latitude, geo.lng, geo.lon, geo.longitude", ""}},
		{"steps read by later ones and by an until", `
    - {name: a, where: event.t == "a"}
    - {name: b, where: event.u == a.u, until: event.v == a.x.y, times: 1+}
    - {name: c, where: "event.n > b[0].n"}`,
			[]string{"u, x.y", "n", ""}},
		{"a looping step read by its own condition", `
    - {name: a, where: "event.t == 'a' && (size(a) == 0 || a[0].n < event.n)", times: 2+}
    - {name: b, where: event.t == "b"}`,
			[]string{"n", ""}},
		{"a looping step's events compared whole", `
    - {name: a, where: event.t == "a", times: 2+}
    - {name: b, where: "event.t == 'b' && a[0] != a[1]"}`,
			[]string{"the whole event", ""}},
		{"a step passed whole", `
    - {name: a, where: event.t == "a"}
    - {name: b, where: "keywords(a, ['x'])"}`,
			[]string{"the whole event", ""}},
		{"a not step", `
    - {name: a, where: event.t == "a"}
    - {name: x, where: event.t == "x" && event.u == a.u, not: true}
    - {name: b, where: event.t == "b"}`,
			[]string{"u", "", ""}},
	}
	c, err := NewCompiler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "id: r\ntitle: r\nby: [event.k]\nsequence:\n  within: 1h\n  steps:" + tt.steps + "\nalert:\n  fields: {}\n"
			r, errs := c.CompileFile("r.yaml", []byte(src))
			if r == nil {
				t.Fatalf("%v\n%s", errs, src)
			}
			var got []string
			for _, rd := range r.Sequence.StepReads() {
				got = append(got, rd.String())
			}
			if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
				t.Errorf("step reads %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProjection holds the projection of a stream to what the rules that
// read it (and their online models' feedback) read.
func TestProjection(t *testing.T) {
	c, err := NewCompiler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rs []*Rule
	for _, src := range []string{
		"id: a\ntitle: a\nstreams: [x]\nmatch: event.a == 1\n",
		"id: b\ntitle: b\nmatch: event.b.c == 1\n",
		"id: c\ntitle: c\nstreams: [y]\nmatch: size(event) > 1\n",
	} {
		r, errs := c.CompileFile("r.yaml", []byte(src))
		if r == nil {
			t.Fatal(errs)
		}
		rs = append(rs, r)
	}
	if p := Projection(rs, "x"); p == nil || strings.Join(p.Paths(), " ") != "a b.c" {
		t.Errorf("x: %v", p)
	}
	if p := Projection(rs, "y"); p != nil {
		t.Errorf("y reads whole events, projected to %v", p.Paths())
	}
	if p := Projection(rs, "z"); p == nil || strings.Join(p.Paths(), " ") != "b.c" {
		t.Errorf("z: %v", p)
	}
	if p := Projection(rs[:1], "z"); p == nil || len(p.Paths()) != 0 {
		t.Errorf("a stream no rule reads: %v", p)
	}
}
