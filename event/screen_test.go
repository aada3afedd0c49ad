package event

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeScreened: an event the screen turns away has only the
// screen's fields and the time and id, and answers every read as the
// event decoded with the projection does; one it lets through is that
// event. Errors are the projection's.
func TestDecodeScreened(t *testing.T) {
	proj := NewProjection([][]string{{"merchant"}, {"amount"}, {"geo", "city"}})
	passed := 0
	screen := &Screen{Project: NewProjection([][]string{{"merchant"}}), Pass: func(ev *Event) bool {
		v, _ := ev.Get("merchant")
		passed++
		return v.Str() == "m-a"
	}}
	lines := []string{
		`{"id":"p1","ts":1700000000,"merchant":"m-a","amount":12.5,"geo":{"city":"Lisbon","lat":1},"x":[1,2]}`,
		`{"id":"p2","ts":1700000001,"merchant":"m-b","amount":7,"geo":{"city":"Porto"},"x":{"y":"\u00e9"}}`,
		`{"ts":1700000002,"amount":7}`,
		`{"id":"p4","ts":1700000003,"merchant":"m-b","skip":[1e400]}`,
		`{"id":"p5","ts":"not a time","merchant":"m-b"}`,
	}
	plain := Decoder{Stream: "s", Project: proj}
	d := Decoder{Stream: "s", Project: proj}
	d.SetScreen(screen)
	for _, l := range lines {
		want, werr := plain.Decode([]byte(l))
		got, err := d.Decode([]byte(l))
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("%s: error %v, want %v", l, err, werr)
		}
		if err != nil {
			continue
		}
		if got.ID != want.ID || got.Time != want.Time || got.Seq != want.Seq || string(got.Raw) != string(want.Raw) {
			t.Errorf("%s: header %s %d %d, want %s %d %d", l, got.ID, got.Time, got.Seq, want.ID, want.Time, want.Seq)
		}
		m, _ := want.Get("merchant")
		wantKeys := keys(want.Fields)
		if m.Str() != "m-a" {
			wantKeys = keys(filterFields(want.Fields, "merchant", "id", "ts"))
		}
		if k := keys(got.Fields); k != wantKeys {
			t.Errorf("%s: fields %s, want %s", l, k, wantKeys)
		}
		for _, p := range [][]string{{"merchant"}, {"amount"}, {"geo", "city"}, {"geo", "lat"}, {"x"}, {"nope"}} {
			gv, gok := got.Path(p...)
			wv, wok := want.Path(p...)
			if gok != wok || !reflect.DeepEqual(gv.Interface(), wv.Interface()) {
				t.Errorf("%s: %v = %v %v, want %v %v", l, p, gv.Interface(), gok, wv.Interface(), wok)
			}
		}
		if g, w := ObjectValue(got.Full()).Interface(), ObjectValue(want.Full()).Interface(); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: Full %v, want %v", l, g, w)
		}
	}
	if only, twice := d.Screened(); only != 2 || twice != 1 || passed != 3 {
		t.Errorf("screened out %d, twice %d, asked %d; want 2, 1, 3", only, twice, passed)
	}
}

func filterFields(fs []Field, names ...string) []Field {
	var out []Field
	for _, f := range fs {
		for _, n := range names {
			if f.Key == n {
				out = append(out, f)
			}
		}
	}
	return out
}

// TestScreenBacksOff: a screen that lets most events through is set
// aside for screenOff events, twice as long after each such run, and
// taken up again at once after a run it pays in. A run that lets more
// than half of its first screenEarly events through ends there.
func TestScreenBacksOff(t *testing.T) {
	let := true
	asked := 0
	d := Decoder{Stream: "s", Project: NewProjection([][]string{{"a"}, {"b"}})}
	d.SetScreen(&Screen{Project: NewProjection([][]string{{"a"}}), Pass: func(*Event) bool {
		asked++
		return let
	}})
	line := []byte(`{"ts":1700000000,"a":1,"b":2}`)
	decode := func(n int) {
		for range n {
			if _, err := d.Decode(line); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(what string, want int) {
		t.Helper()
		if asked != want {
			t.Fatalf("%s: screen asked %d times, want %d", what, asked, want)
		}
	}
	decode(screenEarly)
	expect("the first run", screenEarly)
	decode(screenOff)
	expect("set aside", screenEarly)
	decode(screenEarly)
	expect("tried again", 2*screenEarly)
	decode(2 * screenOff)
	expect("set aside twice as long", 2*screenEarly)
	let = false
	decode(screenRun)
	expect("a run that pays", 2*screenEarly+screenRun)
	decode(screenRun)
	expect("kept up", 2*screenEarly+2*screenRun)
	let = true
	decode(screenEarly + screenOff)
	expect("set aside no longer than at first", 3*screenEarly+2*screenRun)
	decode(1)
	expect("after the first wait", 3*screenEarly+2*screenRun+1)

	// A run whose first events pass at the share a screen pays at, and
	// then more, is decided at its end.
	n := 0
	d.SetScreen(&Screen{Project: NewProjection([][]string{{"a"}}), Pass: func(*Event) bool {
		asked++
		n++
		return n%20 == 0 || n > screenEarly
	}})
	asked = 0
	decode(screenRun)
	expect("a run that passes too many late", screenRun)
	decode(screenOff)
	expect("then set aside", screenRun)
}

// checkScreened checks that decoding a line with a screen of some of
// paths gives the error, or the reads, of decoding it with paths alone,
// whether the screen lets the event through or not; and, with a screen
// that releases (one that screens or one that only releases), that a
// Detach'ed and a held copy read the same after the event's slab was
// poisoned and reused.
func checkScreened(t *testing.T, line []byte, paths [][]string) {
	t.Helper()
	proj := NewProjection(paths)
	plain := Decoder{Stream: "f", Project: proj}
	want, werr := plain.Decode(line)
	// only is a screen that only releases: every event into the slabs.
	for _, c := range []struct{ let, releases, only bool }{{false, false, false}, {true, false, false}, {false, true, false}, {true, true, false}, {false, true, true}} {
		let := c.let
		d := Decoder{Stream: "f", Project: proj}
		if c.only {
			d.SetScreen(&Screen{Releases: true})
		} else {
			d.SetScreen(&Screen{Project: NewProjection(paths[:1]), Pass: func(*Event) bool { return let }, Releases: c.releases})
		}
		got, err := d.Decode(line)
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("screened: error %v, want %v\nline %q", err, werr, line)
		}
		if err != nil {
			continue
		}
		var held *Event
		if c.releases {
			// The copies outlive the event's slab holding others.
			ev := got
			fields := fmt.Sprintf("%#v", ObjectValue(ev.Fields).Interface())
			held = ev.Hold(proj, nil)
			if got = ev.Detach(); got != ev {
				poison(ev)
			}
			Release(ev)
			if g := fmt.Sprintf("%#v", ObjectValue(got.Fields).Interface()); g != fields {
				t.Fatalf("detached: Fields %s, want %s\nline %q", g, fields, line)
			}
			filler := []byte(`{"ts":2,"id":"` + strings.Repeat("z", 200) + `","x":[{"y":"\u00e9"}]}`)
			for range 3 * slabBlocks {
				ev, err := d.Decode(filler)
				if err != nil {
					t.Fatal(err)
				}
				Release(ev)
			}
		}
		if got.ID != want.ID || got.Time != want.Time {
			t.Fatalf("screened: id %q time %d, want %q %d\nline %q", got.ID, got.Time, want.ID, want.Time, line)
		}
		for _, p := range paths {
			gv, gok := got.Path(p...)
			wv, wok := want.Path(p...)
			if gok != wok || !reflect.DeepEqual(gv.Interface(), wv.Interface()) {
				t.Fatalf("screened: %v = %#v %v, want %#v %v\nline %q", p, gv.Interface(), gok, wv.Interface(), wok, line)
			}
		}
		if g, w := ObjectValue(got.Full()).Interface(), ObjectValue(want.Full()).Interface(); !reflect.DeepEqual(g, w) {
			t.Fatalf("screened: Full %#v, want %#v\nline %q", g, w, line)
		}
		if held == nil {
			continue
		}
		th := held.Thaw()
		if th.ID != want.ID || th.Time != want.Time || string(held.RawLine()) != string(want.Raw) {
			t.Fatalf("held: id %q time %d line %q, want %q %d\nline %q", th.ID, th.Time, held.RawLine(), want.ID, want.Time, line)
		}
		for _, p := range paths {
			gv, gok := th.Path(p...)
			wv, wok := want.Path(p...)
			if gok != wok || !reflect.DeepEqual(gv.Interface(), wv.Interface()) {
				t.Fatalf("held: %v = %#v %v, want %#v %v\nline %q", p, gv.Interface(), gok, wv.Interface(), wok, line)
			}
		}
	}
}
