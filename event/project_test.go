package event

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func keys(fs []Field) string {
	var ks []string
	for _, f := range fs {
		if f.Kind() == Object {
			ks = append(ks, f.Key+"{"+keys(f.Fields())+"}")
			continue
		}
		ks = append(ks, f.Key)
	}
	return strings.Join(ks, ",")
}

func TestDecodeProjected(t *testing.T) {
	tests := []struct {
		name       string
		paths      [][]string
		timeFields []string
		line       string
		keys       string // of Fields, nested objects in braces
		errMsg     string
	}{
		{name: "top-level fields, with the id and time fields, in document order", paths: [][]string{{"card_id"}, {"amount"}},
			line: `{"id":"p1","ts":"2026-03-02T08:00:00Z","user":"u","amount":38.89,"card_id":"c-1","geo":{"country":"DE"}}`,
			keys: "id,ts,amount,card_id"},
		{name: "a nested path keeps only its members", paths: [][]string{{"geo", "country"}},
			line: `{"ts":1,"geo":{"city":"Manchester","country":"GB","lat":53.48},"ip":"10.0.0.27"}`,
			keys: "ts,geo{country}"},
		{name: "a path and a longer one under it: the whole value", paths: [][]string{{"geo", "country"}, {"geo"}},
			line: `{"ts":1,"geo":{"city":"Manchester","country":"GB"}}`,
			keys: "ts,geo{city,country}"},
		{name: "a path through an array keeps the array whole", paths: [][]string{{"a", "b"}},
			line: `{"ts":1,"a":[{"b":1,"c":2}],"z":0}`, keys: "ts,a"},
		{name: "a path through a scalar keeps the scalar", paths: [][]string{{"a", "b"}},
			line: `{"ts":1,"a":"x"}`, keys: "ts,a"},
		{name: "a configured time field is projected", paths: [][]string{{"user"}}, timeFields: []string{"meta.when"},
			line: `{"meta":{"when":5,"other":1},"user":"u","x":[1]}`, keys: "meta{when},user"},
		{name: "no projected field present", paths: [][]string{{"nope"}}, line: `{"ts":1,"a":1}`, keys: "ts"},
		{name: "escaped member names match decoded", paths: [][]string{{"é"}},
			line: `{"ts":1,"\u00e9":"yes","\u00e8":"no"}`, keys: "ts,é"},
		{name: "duplicate members are all kept; the last wins", paths: [][]string{{"a"}},
			line: `{"ts":1,"a":1,"b":2,"a":3}`, keys: "ts,a,a"},
		{name: "a malformed value outside the projection", paths: [][]string{{"user"}},
			line: `{"ts":1,"user":"u","skip":[1,2,}`, errMsg: "column 32: unexpected '}'"},
		{name: "a bad escape outside the projection", paths: [][]string{{"user"}},
			line: `{"ts":1,"skip":"a\qb","user":"u"}`, errMsg: "column 19: invalid escape 'q'"},
		{name: "a number beyond float64 outside the projection", paths: [][]string{{"user"}},
			line: `{"ts":1,"skip":[1e400],"user":"u"}`, errMsg: "column 17: number out of range"},
		{name: "nesting outside the projection", paths: [][]string{{"user"}},
			line: `{"ts":1,"skip":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, errMsg: "nesting deeper than 64"},
		{name: "values outside the projection count", paths: [][]string{{"user"}},
			line: `{"ts":1,"skip":[` + strings.Repeat("0,", 100_000) + `0]}`, errMsg: "event takes more than 4194304 bytes decoded"},
		{name: "a control character outside the projection", paths: [][]string{{"user"}},
			line: "{\"ts\":1,\"skip\":\"a\x01\"}", errMsg: "column 18: control character byte 0x01 in a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{Stream: "s", Project: NewProjection(tt.paths), TimeFields: tt.timeFields}
			ev, err := d.Decode([]byte(tt.line))
			// The full decode must agree on the outcome.
			full := Decoder{Stream: "s", TimeFields: tt.timeFields}
			fe, ferr := full.Decode([]byte(tt.line))
			if tt.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("error = %v, want %q", err, tt.errMsg)
				}
				if ferr == nil || ferr.Error() != err.Error() {
					t.Fatalf("full decode: %v; projected: %v", ferr, err)
				}
				return
			}
			if err != nil || ferr != nil {
				t.Fatal(err, ferr)
			}
			if got := keys(ev.Fields); got != tt.keys {
				t.Errorf("projected fields %s, want %s", got, tt.keys)
			}
			if !ev.Projected() {
				t.Error("not Projected")
			}
			if got, want := ObjectValue(ev.Full()).Interface(), ObjectValue(fe.Fields).Interface(); !reflect.DeepEqual(got, want) {
				t.Errorf("Full = %#v, want %#v", got, want)
			}
			if string(ev.Raw) != tt.line {
				t.Errorf("Raw = %q", ev.Raw)
			}
		})
	}
}

func TestFullIsDecodedOnce(t *testing.T) {
	d := Decoder{Project: NewProjection([][]string{{"user"}})}
	ev, err := d.Decode([]byte(`{"ts":1,"user":"u","path":"C:\\Windows","n":[1,2]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent readers get one and the same decode.
	var wg sync.WaitGroup
	got := make([]*Field, 8)
	for i := range got {
		wg.Go(func() { got[i] = unsafe.SliceData(ev.Full()) })
	}
	wg.Wait()
	for _, p := range got {
		if p != got[0] || p == nil {
			t.Fatalf("Full gave different slices: %v", got)
		}
	}
	if v, _ := ObjectValue(ev.Full()).Get("path"); v.Str() != `C:\Windows` {
		t.Errorf("path = %q", v.Str())
	}
	if n := testing.AllocsPerRun(10, func() { ev.Full() }); n != 0 {
		t.Errorf("a second Full allocates %v times", n)
	}
}

func TestFullOfOtherEvents(t *testing.T) {
	d := Decoder{Project: NewProjection([][]string{{"user"}})}
	ev, err := d.Decode([]byte(`{"ts":1,"user":"u","card":"4111"}`))
	if err != nil {
		t.Fatal(err)
	}
	// A copy whose Fields are replaced (as masking does) is its own
	// event: Full gives its Fields, never the original line's.
	masked := *ev
	masked.Fields = []Field{{Key: "card", Value: StringValue("****")}}
	if got := keys(masked.Full()); got != "card" || masked.Projected() {
		t.Errorf("Full of a masked copy = %s, projected %v", got, masked.Projected())
	}
	raw := *ev
	raw.Raw = []byte(`{"ts":1}`)
	if raw.Projected() {
		t.Error("a copy with another Raw is still projected")
	}
	// A copy that changes neither is the same projected event.
	same := *ev
	if !same.Projected() || keys(same.Full()) != "ts,user,card" {
		t.Errorf("a plain copy: projected %v, Full %s", same.Projected(), keys(same.Full()))
	}
	// Events decoded in full, by hand, or with a projection of everything.
	for _, d := range []Decoder{{}, {Project: ProjectAll}, {Project: NewProjection([][]string{{"user"}, {}})}} {
		ev, err := d.Decode([]byte(`{"ts":1,"user":"u","card":"4111"}`))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Projected() || unsafe.SliceData(ev.Full()) != unsafe.SliceData(ev.Fields) {
			t.Errorf("%v: Full is not Fields", d.Project.Paths())
		}
	}
	hand := &Event{Fields: []Field{{Key: "a", Value: NumberValue(1)}}}
	if keys(hand.Full()) != "a" {
		t.Error("Full of an event built by hand")
	}
}

func TestProjectionPaths(t *testing.T) {
	p := NewProjection([][]string{{"user"}, {"geo", "country"}, {"user"}, {"a", "b", "c"}, {"a", "b"}})
	if got := strings.Join(p.Paths(), " "); got != "a.b a.b.c geo.country user" {
		t.Errorf("Paths = %s", got)
	}
	if p.All() || !ProjectAll.All() {
		t.Error("All")
	}
	// Many names at one level are looked up through an index.
	var many [][]string
	for i := range 20 {
		many = append(many, []string{fmt.Sprintf("f%02d", i)})
	}
	d := Decoder{Project: NewProjection(many)}
	ev, err := d.Decode([]byte(`{"ts":1,"f03":1,"g":2,"f19":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(ev.Fields); got != "ts,f03,f19" {
		t.Errorf("fields %s", got)
	}
}

// ExampleDecoder_projection decodes only what rules read; the whole event
// is there when an alert needs it.
func ExampleDecoder_projection() {
	d := Decoder{Stream: "auth", Project: NewProjection([][]string{{"user"}, {"geo", "country"}})}
	ev, err := d.Decode([]byte(`{"id":"a1","ts":"2026-03-02T08:00:00Z","user":"u-1","ip":"198.51.100.7","geo":{"city":"Lagos","country":"NG"}}`))
	if err != nil {
		panic(err)
	}
	for _, f := range ev.Fields {
		fmt.Println(f.Key, f.Interface())
	}
	fmt.Println(len(ev.Full()), "members in full")
	// Output:
	// id a1
	// ts 2026-03-02T08:00:00Z
	// user u-1
	// geo map[country:NG]
	// 5 members in full
}

// TestProjectedLookups holds Get, Path and Keeps of a projected event to
// what a full decode gives, whatever path is asked: projected, partly
// projected or not projected at all.
func TestProjectedLookups(t *testing.T) {
	line := []byte(`{"ts":1,"user":"u","geo":{"city":"Lyon","country":"FR","pos":{"lat":45.7,"lon":4.8}},"tags":[{"a":1}],"n":null,"s":"x","e":{}}`)
	paths := [][]string{
		{"user"}, {"geo"}, {"geo", "city"}, {"geo", "country"}, {"geo", "pos"}, {"geo", "pos", "lat"}, {"geo", "nope"},
		{"tags"}, {"tags", "a"}, {"n"}, {"s"}, {"s", "x"}, {"e"}, {"e", "x"}, {"nope"}, {"nope", "x"},
	}
	full := Decoder{}
	fe, err := full.Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	for _, proj := range [][][]string{
		{{"user"}},
		{{"geo", "country"}},
		{{"geo", "pos", "lat"}, {"s"}},
		{{"geo"}, {"tags", "a"}},
		{{"e", "x"}, {"nope"}},
		{},
	} {
		d := Decoder{Project: NewProjection(proj)}
		ev, err := d.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			got, gok := ev.Path(path...)
			want, wok := fe.Path(path...)
			if gok != wok || !reflect.DeepEqual(got.Interface(), want.Interface()) || got.Partial() {
				t.Errorf("projection %v: Path(%v) = %v %v (partial %v), want %v %v", proj, path, got.Interface(), gok, got.Partial(), want.Interface(), wok)
			}
			if len(path) == 1 {
				got, gok = ev.Get(path[0])
				if gok != wok || !reflect.DeepEqual(got.Interface(), want.Interface()) {
					t.Errorf("projection %v: Get(%v) = %v %v", proj, path, got.Interface(), gok)
				}
			}
			// Keeps promises that a member missing from Fields is missing
			// from the line.
			if ev.Keeps(path...) {
				if _, ok := walk(ev.Fields, path); !ok && wok {
					t.Errorf("projection %v: Keeps(%v) but Fields lacks what the line has", proj, path)
				}
			}
		}
	}
	// Objects that left members out say so; those that did not, do not.
	d := Decoder{Project: NewProjection([][]string{{"geo", "city"}, {"geo", "pos", "lat"}, {"geo", "pos", "lon"}})}
	ev, err := d.Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	geo, _ := lookup(ev.Fields, "geo")
	pos, _ := geo.Get("pos")
	if !geo.Partial() || pos.Partial() {
		t.Errorf("geo partial %v, pos partial %v", geo.Partial(), pos.Partial())
	}
	// An object is partial when an object inside it is.
	d = Decoder{Project: NewProjection([][]string{{"geo", "pos", "lat"}})}
	ev, err = d.Decode([]byte(`{"ts":1,"geo":{"pos":{"lat":1,"lon":2}}}`))
	if err != nil {
		t.Fatal(err)
	}
	geo, _ = lookup(ev.Fields, "geo")
	if !geo.Partial() {
		t.Error("geo holds a partial pos but is not partial")
	}
	if !ev.Keeps("geo", "pos", "lat") || ev.Keeps("geo", "pos", "x") || ev.Keeps("geo", "x") || !ev.Keeps() {
		t.Error("Keeps")
	}
}

func TestHold(t *testing.T) {
	line := []byte(`{"id":"e1","ts":1,"user":"u","geo":{"city":"Lyon","country":"FR","pos":{"lat":45.7,"lon":4.8}},"tags":[{"a":1}],"n":null,"s":"x\n","e":{},"d":1,"d":2}`)
	paths := [][]string{
		{"id"}, {"ts"}, {"user"}, {"geo"}, {"geo", "city"}, {"geo", "country"}, {"geo", "pos"}, {"geo", "pos", "lat"}, {"geo", "nope"},
		{"tags"}, {"tags", "a"}, {"n"}, {"s"}, {"s", "x"}, {"e"}, {"e", "x"}, {"d"}, {"nope"}, {"nope", "x"},
	}
	fe, err := (&Decoder{}).Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	// The decoder's projection: what every rule of the stream reads.
	wide := NewProjection([][]string{{"user"}, {"geo"}, {"tags"}, {"n"}, {"s"}, {"e"}, {"d"}})
	tests := []struct {
		name string
		hold [][]string
		keys string // of the thawed copy's Fields; "-" when Hold returns the event itself
	}{
		{name: "top-level fields", hold: [][]string{{"user"}, {"d"}}, keys: "user,d,d"},
		{name: "a member of an object", hold: [][]string{{"geo", "city"}}, keys: "geo{city}"},
		{name: "an object inside an object", hold: [][]string{{"geo", "pos", "lat"}, {"s"}}, keys: "geo{pos{lat}},s"},
		{name: "an array whole", hold: [][]string{{"tags", "a"}}, keys: "tags"},
		{name: "nothing the line has", hold: [][]string{{"e", "x"}}, keys: "e{}"},
		{name: "a path the decoder left out", hold: [][]string{{"user"}, {"nope"}}, keys: "user"},
		{name: "an object whole", hold: [][]string{{"geo"}}, keys: "geo{city,country,pos{lat,lon}}"},
		{name: "no path", hold: [][]string{}, keys: ""},
		{name: "everything", hold: [][]string{{}}, keys: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{Project: wide}
			ev, err := d.Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			hv := ev.Hold(NewProjection(tt.hold), nil)
			if tt.keys == "-" {
				if hv != ev {
					t.Fatal("Hold made a copy, want the event itself")
				}
				return
			}
			if hv == ev || !hv.Held() || len(hv.Fields) != 0 {
				t.Fatalf("Hold returned %+v, want a copy without values", hv)
			}
			tv := hv.Thaw()
			if tv.Held() || hv.Thaw() == tv {
				t.Error("a thawed event is held, or Thaw returned a copy it keeps")
			}
			if got := keys(tv.Fields); got != tt.keys {
				t.Errorf("thawed Fields %s, want %s", got, tt.keys)
			}
			for _, cp := range []*Event{hv, tv} {
				if cp.ID != ev.ID || cp.Time != ev.Time || cp.Seq != ev.Seq || cp.Stream != ev.Stream || unsafe.SliceData(cp.Raw) != unsafe.SliceData(ev.Raw) {
					t.Errorf("copy %+v, event %+v", cp, ev)
				}
				for _, path := range paths {
					got, gok := cp.Path(path...)
					want, wok := fe.Path(path...)
					if gok != wok || !reflect.DeepEqual(got.Interface(), want.Interface()) || got.Partial() {
						t.Errorf("Path(%v) = %v %v (partial %v), want %v %v", path, got.Interface(), gok, got.Partial(), want.Interface(), wok)
					}
					if cp.Keeps(path...) {
						if _, ok := walk(cp.Fields, path); !ok && wok {
							t.Errorf("Keeps(%v) but Fields lacks what the line has", path)
						}
					}
				}
				if got, want := ObjectValue(cp.Full()).Interface(), ObjectValue(fe.Fields).Interface(); !reflect.DeepEqual(got, want) {
					t.Errorf("Full = %#v, want %#v", got, want)
				}
			}
		})
	}
	// An event decoded in full has no limits to decode it again with, and
	// a small one saves too little.
	if hv := fe.Hold(NewProjection([][]string{{"user"}}), nil); hv != fe {
		t.Error("Hold copied an event decoded in full")
	}
	// A held copy must free at least its own header: an event of one
	// value frees 112 bytes, one of two 152 (the values, and what Full
	// needs, share the event's allocation).
	for _, tt := range []struct {
		line string
		n    int
		held bool
	}{
		{`{"ts":1,"b":2,"c":3}`, 1, false},
		{`{"ts":1,"a":1,"b":2}`, 2, true},
	} {
		ev, err := (&Decoder{Project: NewProjection([][]string{{"a"}})}).Decode([]byte(tt.line))
		if err != nil {
			t.Fatal(err)
		}
		if n := countAll(ev.Fields); n != tt.n {
			t.Fatalf("%s: %d values decoded, want %d", tt.line, n, tt.n)
		}
		if hv := ev.Hold(NewProjection([][]string{{"a"}}), nil); (hv != ev) != tt.held || hv.Held() != tt.held {
			t.Errorf("%s: held %v, want %v", tt.line, hv != ev, tt.held)
		}
	}
}

// A held event does not keep what Full decodes: that would give it back
// the memory holding saved.
func TestHeldFullIsNotKept(t *testing.T) {
	ev, err := (&Decoder{Project: NewProjection([][]string{{"a"}})}).Decode([]byte(`{"ts":1,"a":1,"b":2}`))
	if err != nil {
		t.Fatal(err)
	}
	hv := ev.hold(NewProjection([][]string{{"a"}}), nil, 0)
	if !hv.Held() {
		t.Fatal("not held")
	}
	if a, b := hv.Full(), hv.Full(); unsafe.SliceData(a) == unsafe.SliceData(b) || hv.lazy.full != nil {
		t.Error("Full of a held event was kept")
	}
}
