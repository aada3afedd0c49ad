package event

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestScreenSlabs decodes many lines with one screened decoder, keeping
// every event, and checks each against a decode of its own at the end:
// events screened out share slabs, the memory of those let through is
// given back and reused, and neither may change an event handed out
// before.
func TestScreenSlabs(t *testing.T) {
	paths := [][]string{{"type"}, {"user"}, {"geo", "country"}}
	screen := NewProjection([][]string{{"type"}, {"geo", "country"}})
	var lines []string
	for i := range 3000 {
		var b strings.Builder
		fmt.Fprintf(&b, `{"ts":%d,`, 1000+i)
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, `"id":"e%d",`, i) // an id in the line
		case 1:
			fmt.Fprintf(&b, `"id":%d,`, i) // a number: its text in the spare bytes
		case 2:
			// no id: a hash in the spare bytes
		case 3:
			fmt.Fprintf(&b, `"id":"e\u00e9%d",`, i) // decoded into the text
		case 4:
			fmt.Fprintf(&b, `"id":"e%d","pad":"%s",`, i, strings.Repeat("x", 5000)) // beyond a slab's share
		}
		if i%7 == 0 {
			// Nine Fields in the screen: allocated alone.
			b.WriteString(`"geo":{"country":["FR","DE","IT","ES","PT"]},`)
		} else if i%3 == 0 {
			b.WriteString(`"geo":{"country":"FR","city":"Paris"},`)
		}
		fmt.Fprintf(&b, `"type":"t%d","user":"u%d"}`, i%4, i%11)
		lines = append(lines, b.String())
	}
	d := Decoder{Stream: "f", Project: NewProjection(paths)}
	let := func(ev *Event) bool { v, _ := ev.Get("type"); return v.Str() == "t0" }
	d.SetScreen(&Screen{Project: screen, Pass: let})
	evs := make([]*Event, len(lines))
	for i, l := range lines {
		ev, err := d.Decode([]byte(l))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		evs[i] = ev
	}
	only, twice := d.Screened()
	if only == 0 || twice == 0 {
		t.Fatalf("screened out %d, let through %d: the test needs both", only, twice)
	}
	for i, l := range lines {
		want, err := (&Decoder{Stream: "f", Project: NewProjection(paths)}).Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		got := evs[i]
		if got.ID != want.ID || got.Time != want.Time || string(got.Raw) != string(want.Raw) {
			t.Fatalf("line %d: id %q time %d raw %.40q, want %q %d %.40q", i+1, got.ID, got.Time, got.Raw, want.ID, want.Time, want.Raw)
		}
		for _, p := range paths {
			gv, _ := got.Path(p...)
			wv, _ := want.Path(p...)
			if !reflect.DeepEqual(gv.Interface(), wv.Interface()) {
				t.Fatalf("line %d: %v = %#v, want %#v", i+1, p, gv.Interface(), wv.Interface())
			}
		}
	}
}

// TestScreenSlabsAfterErrors checks a malformed line screened gives back
// what it took, wherever its decode stopped.
func TestScreenSlabsAfterErrors(t *testing.T) {
	d := Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
	d.SetScreen(&Screen{Project: NewProjection([][]string{{"type"}}), Pass: func(*Event) bool { return false }})
	good := `{"ts":1,"id":"a","type":"x","user":"u"}`
	var evs []*Event
	for i, l := range []string{good, `{"ts":1,"type":`, good, `{"type":"x"}`, good, `{"ts":"never","type":"x"}`, good} {
		ev, err := d.Decode([]byte(l))
		if (err != nil) != (i%2 == 1) {
			t.Fatalf("line %d: error %v", i+1, err)
		}
		if err == nil {
			evs = append(evs, ev)
		}
	}
	for i, ev := range evs {
		if string(ev.Raw) != good || ev.ID != "a" {
			t.Errorf("event %d: raw %q id %q", i, ev.Raw, ev.ID)
		}
	}
}
