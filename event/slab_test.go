package event

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// TestScreenSlabs decodes many lines with one screened decoder, keeping
// every event, and checks each against a decode of its own at the end:
// events screened out share slabs, the memory of those let through is
// given back and reused, and neither may change an event handed out
// before.
func TestScreenSlabs(t *testing.T) {
	paths, lines := slabPaths, variedLines()
	screen := NewProjection([][]string{{"type"}, {"geo", "country"}})
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
		checkVaried(t, evs[i], i, l)
	}
}

// slabPaths are what variedLines' events are decoded with.
var slabPaths = [][]string{{"type"}, {"user"}, {"geo", "country"}, {"attrs"}}

// checkVaried fails t unless ev reads as line l, the i'th of variedLines,
// decoded with slabPaths.
func checkVaried(t *testing.T, ev *Event, i int, l string) {
	t.Helper()
	want, err := (&Decoder{Stream: "f", Project: NewProjection(slabPaths)}).Decode([]byte(l))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != want.ID || ev.Time != want.Time || string(ev.Raw) != string(want.Raw) {
		t.Fatalf("line %d: id %q time %d raw %.40q, want %q %d %.40q", i+1, ev.ID, ev.Time, ev.Raw, want.ID, want.Time, want.Raw)
	}
	for _, p := range slabPaths {
		gv, _ := ev.Path(p...)
		wv, _ := want.Path(p...)
		if !reflect.DeepEqual(gv.Interface(), wv.Interface()) {
			t.Fatalf("line %d: %v = %#v, want %#v", i+1, p, gv.Interface(), wv.Interface())
		}
	}
	checkFull(t, fmt.Sprint("line ", i+1), ev.Full(), want.Full())
}

// checkFull fails t unless got holds want's members, in order.
func checkFull(t *testing.T, what string, got, want []Field) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: Full has %d members, want %d", what, len(got), len(want))
	}
	for k := range got {
		if got[k].Key != want[k].Key || !reflect.DeepEqual(got[k].Interface(), want[k].Interface()) {
			t.Fatalf("%s: Full has %s: %v, want %s: %v", what, got[k].Key, got[k].Interface(), want[k].Key, want[k].Interface())
		}
	}
}

// variedLines are lines of every kind a slab holds: ids in the line, in
// its spare bytes and in its decoded text, objects and arrays, lines
// beyond a slab's share of bytes, lines of more Fields than a block has.
func variedLines() []string {
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
			pad := 5000
			if i%25 == 4 {
				pad = 70000 // beyond a slab's share at its largest
			}
			fmt.Fprintf(&b, `"id":"e%d","pad":"%s",`, i, strings.Repeat("x", pad))
		}
		if i%11 == 0 {
			// Twenty Fields in the screen: allocated alone.
			b.WriteString(`"geo":{"country":["FR","DE","IT","ES","PT","BE","NL","LU","AT","CH","PL","CZ","SK","HU","SI","HR"]},`)
		} else if i%7 == 0 {
			// Nine Fields in the screen: a block of sixteen.
			b.WriteString(`"geo":{"country":["FR","DE","IT","ES","PT"]},`)
		} else if i%3 == 0 {
			b.WriteString(`"geo":{"country":"FR","city":"Paris"},`)
		}
		if i%4 == 1 {
			// Read whole: its members' names are the line's.
			fmt.Fprintf(&b, `"attrs":{"k%d":"v","k\u00e9":[1]},`, i)
		}
		fmt.Fprintf(&b, `"type":"t%d","user":"u\u00e9%d"}`, i%4, i%11)
		lines = append(lines, b.String())
	}
	return lines
}

// TestDetachVaried detaches every event of variedLines let through or
// screened out by a releasing decoder, releases the events and decodes
// the lines twice more into the same slabs: each copy still reads as its
// line.
func TestDetachVaried(t *testing.T) {
	lines := variedLines()
	d := Decoder{Stream: "f", Project: NewProjection(slabPaths)}
	d.SetScreen(&Screen{
		Project:  NewProjection([][]string{{"type"}, {"geo", "country"}}),
		Pass:     func(ev *Event) bool { v, _ := ev.Get("type"); return v.Str() == "t0" },
		Releases: true,
	})
	copies := make([]*Event, len(lines))
	detached := 0
	for round := range 3 {
		for i, l := range lines {
			ev, err := d.Decode([]byte(l))
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			if round == 0 {
				if copies[i] = ev.Detach(); copies[i] != ev {
					detached++
				}
			}
			Release(ev)
		}
	}
	if detached < len(lines)/2 {
		t.Fatalf("%d events of %d detached: the test needs most in slabs", detached, len(lines))
	}
	for i, l := range lines {
		checkVaried(t, copies[i], i, l)
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

// slabLines are lines a screen turns away, of n events from the first.
func slabLines(first, n int) [][]byte {
	lines := make([][]byte, n)
	for i := range n {
		k := first + i
		pad := ""
		if k%13 == 0 {
			pad = strings.Repeat("y", 700) // some lines fill a slab's bytes early
		}
		lines[i] = fmt.Appendf(nil, `{"ts":%d,"id":"e%d","type":"t%d","user":"u%d","pad":"%s"}`, 1000+k, k, k%4, k%11, pad)
	}
	return lines
}

// checkSlabEvent reports whether ev is still the k'th of slabLines.
func checkSlabEvent(t *testing.T, ev *Event, k int) bool {
	t.Helper()
	line := slabLines(k, 1)[0]
	want, err := (&Decoder{Stream: "f"}).Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	typ, _ := ev.Get("type")
	user, _ := ev.Get("user")
	if ev.ID != want.ID || ev.Time != want.Time || string(ev.Raw) != string(line) ||
		typ.Str() != fmt.Sprintf("t%d", k%4) || user.Str() != fmt.Sprintf("u%d", k%11) {
		t.Errorf("event %d: id %q time %d type %q user %q raw %.60q", k, ev.ID, ev.Time, typ.Str(), user.Str(), ev.Raw)
		return false
	}
	return true
}

func screenAll(d *Decoder) {
	d.SetScreen(&Screen{Project: NewProjection([][]string{{"type"}}), Pass: func(*Event) bool { return false }})
}

// TestReleaseReusesSlabs releases every event as soon as it is decoded:
// the slabs come back, and the events decoded into them are whole.
func TestReleaseReusesSlabs(t *testing.T) {
	d := Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
	screenAll(&d)
	lines := slabLines(0, 20*slabBlocks)
	if !decodeReleased(t, &d, lines) {
		return
	}
	if raceDetector {
		return // sync.Pool drops slabs at random
	}
	if allocs := releasedAllocs(t, &d, lines); allocs > 0.01 {
		t.Errorf("%.3f allocations per event released at once, want none", allocs)
	}
}

// TestReleaseReusesSlabsOfLongLines: lines of 3 KB, a Windows event's
// size, one in sixteen of 40 KB (a PowerShell script block), go into
// slabs sized for them once the decoder has seen a slab's worth, and
// released they take no allocation; lines of a few dozen bytes after
// them take slabs of the least size again.
func TestReleaseReusesSlabsOfLongLines(t *testing.T) {
	d := Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
	screenAll(&d)
	long := make([][]byte, 20*slabBlocks)
	for k := range long {
		pad := 3000 + k%500
		if k%16 == 5 {
			pad = 40000
		}
		long[k] = fmt.Appendf(nil, `{"ts":%d,"id":"e%d","type":"t%d","user":"u%d","pad":"%s"}`, 1000+k, k, k%4, k%11, strings.Repeat("z", pad))
	}
	for k, l := range long {
		ev, err := d.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Raw) != string(l) || ev.ID != fmt.Sprintf("e%d", k) {
			t.Fatalf("event %d: id %q raw %.60q", k, ev.ID, ev.Raw)
		}
		Release(ev)
	}
	if got := minSlabBytes << d.scr.slabs.four.size; got < slabBlocks*3500 {
		t.Errorf("slabs of %d bytes for %d lines of 3.0–3.5 KB", got, slabBlocks)
	}
	if !raceDetector {
		if allocs := releasedAllocs(t, &d, long); allocs > 0.01 {
			t.Errorf("%.3f allocations per 3 KB event released at once, want none", allocs)
		}
	}
	if !decodeReleased(t, &d, slabLines(0, 4*slabBlocks)) {
		return
	}
	if size := d.scr.slabs.four.size; size != slabSize(100) {
		t.Errorf("slabs of size %d for short lines, want %d", size, slabSize(100))
	}
}

// TestShortLinesTakeLargerFreeSlabs: when a stream's lines turn short
// while no slab of their size is free, the decoder takes the free slabs
// the long lines left instead of allocating new ones.
func TestShortLinesTakeLargerFreeSlabs(t *testing.T) {
	if raceDetector {
		t.Skip("sync.Pool drops slabs at random under the race detector")
	}
	d := Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
	screenAll(&d)
	// Two collections empty every pool: no short slab is free.
	runtime.GC()
	runtime.GC()
	long := make([][]byte, 6*slabBlocks)
	for k := range long {
		long[k] = fmt.Appendf(nil, `{"ts":%d,"id":"e%d","type":"t%d","user":"u%d","pad":"%s"}`, 1000+k, k, k%4, k%11, strings.Repeat("z", 3000))
	}
	keepAll := func(lines [][]byte) []*Event {
		evs := make([]*Event, 0, len(lines))
		for _, l := range lines {
			ev, err := d.Decode(l)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	for _, ev := range keepAll(long) {
		Release(ev)
	}
	// The first slab after the long lines is sized by them; the short
	// lines' slabs come after it.
	short := slabLines(0, 4*slabBlocks)
	evs := keepAll(short[:slabBlocks])
	evs = slices.Grow(evs, len(short))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, l := range short[slabBlocks:] {
		ev, err := d.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	runtime.ReadMemStats(&after)
	// A new slab is two allocations.
	if n := after.Mallocs - before.Mallocs; n > 1 {
		t.Errorf("%d allocations for %d short lines while %d slabs of long ones were free", n, len(short)-slabBlocks, len(long)/slabBlocks)
	}
	for k, ev := range evs {
		if !checkSlabEvent(t, ev, k) {
			return
		}
		Release(ev)
	}
}

// decodeReleased decodes lines, slabLines from the first, with d,
// checking each event and releasing it at once; false when one is wrong.
func decodeReleased(t *testing.T, d *Decoder, lines [][]byte) bool {
	t.Helper()
	for k, l := range lines {
		ev, err := d.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		if !checkSlabEvent(t, ev, k) {
			return false
		}
		Release(ev)
	}
	return true
}

// releasedAllocs decodes lines with d, releasing each event at once, and
// returns the allocations per line. testing.AllocsPerRun rounds down to
// whole allocations per run, and a slab is two allocations for 32
// events.
func releasedAllocs(t *testing.T, d *Decoder, lines [][]byte) float64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, l := range lines {
		ev, err := d.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		Release(ev)
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(len(lines))
}

// TestReleaseKeepsWhatIsKept releases most events but keeps some, then
// decodes many more: a slab with an event not released is never reused.
func TestReleaseKeepsWhatIsKept(t *testing.T) {
	d := Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
	screenAll(&d)
	kept := map[int]*Event{}
	var later []*Event
	for k, l := range slabLines(0, 40*slabBlocks) {
		ev, err := d.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case k%37 == 0:
			kept[k] = ev
		case k%3 == 0:
			later = append(later, ev) // released after the rest
		default:
			Release(ev)
		}
		if k%5 == 0 {
			c := *ev
			Release(&c) // a copy: nothing
		}
	}
	for i := len(later) - 1; i >= 0; i-- {
		Release(later[i])
		Release(later[i]) // twice: nothing
	}
	for k, l := range slabLines(40*slabBlocks, 40*slabBlocks) {
		ev, err := d.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		if !checkSlabEvent(t, ev, 40*slabBlocks+k) {
			return
		}
		Release(ev)
	}
	for k, ev := range kept {
		checkSlabEvent(t, ev, k)
	}
	// An event of no slab: nothing.
	plain, err := (&Decoder{Stream: "f"}).Decode(slabLines(0, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	Release(plain)
	checkSlabEvent(t, plain, 0)
}

// TestReleaseOnAnotherGoroutine hands events to a goroutine that checks
// and releases them, as the engine does, while the decoder goes on: an
// event reused before its release would fail the check, and, under the
// race detector, a read after its release would race with the decoder.
func TestReleaseOnAnotherGoroutine(t *testing.T) {
	d := Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
	screenAll(&d)
	const n = 200 * slabBlocks
	lines := slabLines(0, n)
	ch := make(chan *Event, 3*slabBlocks)
	done := make(chan struct{})
	go func() {
		defer close(done)
		k := 0
		for ev := range ch {
			if checkSlabEvent(t, ev, k) {
				Release(ev)
			}
			k++
		}
	}()
	for _, l := range lines {
		ev, err := d.Decode(l)
		if err != nil {
			t.Error(err)
			break
		}
		ch <- ev
	}
	close(ch)
	<-done
}

// TestReleaserRuns releases, through one Releaser, the events of two
// decoders in turns of a few at a time, as an engine merging two sources
// does: every slab comes back, and what is decoded into it is whole.
func TestReleaserRuns(t *testing.T) {
	var ds [2]Decoder
	for i := range ds {
		ds[i] = Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
		screenAll(&ds[i])
	}
	lines := slabLines(0, 40*slabBlocks)
	var r Releaser
	run := func(check bool) {
		for k := 0; k < len(lines); {
			for i := range ds {
				d := &ds[i]
				for range 5 {
					if k == len(lines) {
						break
					}
					ev, err := d.Decode(lines[k])
					if err != nil {
						t.Fatal(err)
					}
					if check && !checkSlabEvent(t, ev, k) {
						t.FailNow()
					}
					r.Release(ev)
					k++
				}
			}
		}
		r.Flush()
	}
	run(true)
	run(true) // in slabs that came back
	if raceDetector {
		return // sync.Pool drops slabs at random
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run(false)
	runtime.ReadMemStats(&after)
	if allocs := float64(after.Mallocs-before.Mallocs) / float64(len(lines)); allocs > 0.01 {
		t.Errorf("%.3f allocations per event released in runs, want none", allocs)
	}
}

// TestReleasesLetThrough: with Releases, the events a screen lets through
// are decoded into the slabs too, whether the decoder screens them or, as
// it does when too many pass, not; a Detached copy of one reads as the
// event did after the event's slab was reused, and a released event's
// slab comes back.
func TestReleasesLetThrough(t *testing.T) {
	d := Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
	// One in four passes: past the first run of 256 the decoder stops
	// screening for a while, and decodes every line whole.
	d.SetScreen(&Screen{
		Project:  NewProjection([][]string{{"type"}}),
		Pass:     func(ev *Event) bool { v, _ := ev.Get("type"); return v.Str() == "t0" },
		Releases: true,
	})
	lines := slabLines(0, 40*slabBlocks)
	copies := map[int]*Event{}
	inSlabs := 0
	for k, l := range lines {
		ev, err := d.Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		if !checkSlabEvent(t, ev, k) {
			return
		}
		if inSlab(ev) {
			inSlabs++
		}
		if k%5 == 0 {
			c := ev.Detach()
			if c == ev || inSlab(c) {
				t.Fatalf("event %d: Detach returned an event of a slab", k)
			}
			copies[k] = c
		}
		Release(ev)
	}
	if only, twice := d.Screened(); only == 0 || twice == 0 || int(only+twice) == len(lines) {
		t.Fatalf("screened out %d, let through %d, of %d: the test needs all three kinds", only, twice, len(lines))
	}
	// Events of 700 bytes' padding take a slab's bytes early, never a
	// block of their own.
	if inSlabs != len(lines) {
		t.Errorf("%d events of %d in slabs, want all", inSlabs, len(lines))
	}
	// The slabs were reused many times over since the copies were made.
	for k, c := range copies {
		if !checkSlabEvent(t, c, k) {
			return
		}
		checkFull(t, fmt.Sprint("copy of event ", k), c.Full(), decodeFull(lines[k], d.lim))
	}
	plain, err := (&Decoder{Stream: "f"}).Decode(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	if plain.Detach() != plain {
		t.Error("Detach copied an event of no slab")
	}
	if raceDetector {
		return // sync.Pool drops slabs at random
	}
	if allocs := releasedAllocs(t, &d, lines); allocs > 0.01 {
		t.Errorf("%.3f allocations per event let through and released, want none", allocs)
	}
}

// poison overwrites what ev's slab holds of it, as a decode into a
// reused slab would: its block's Fields and the slab's bytes. ev must be
// a slab's own, and no other event of its slab read again.
func poison(ev *Event) {
	ref := (*slabRef)(ev.at)
	for i := range ref.bytes {
		ref.bytes[i] = 'Z'
	}
	fs := unsafe.Slice((*Field)(unsafe.Add(unsafe.Pointer(ev), blockFields)), ref.fields)
	for i := range fs {
		fs[i] = Field{Key: "poison", Value: stringValue("poison")}
	}
}

// TestHoldOutlivesRelease: with a Screen that only releases, every event
// goes into the slabs, and a held copy of one (Hold, with or without a
// Packer) keeps its own line and id, whether the id is in the line, a
// number printed after it, or a hash of it, and whether the line is in
// the slab's bytes or, too long, in an allocation of its own: read after
// its event's slab was reused many times over, it is the event it was.
func TestHoldOutlivesRelease(t *testing.T) {
	for _, c := range []struct {
		name string
		line func(k int) []byte
	}{
		{"id in the line", func(k int) []byte { return slabLines(k, 1)[0] }},
		{"id a number", func(k int) []byte {
			return fmt.Appendf(nil, `{"ts":%d,"id":%d,"type":"t%d","user":"u%d"}`, 1000+k, 500000+k, k%4, k%11)
		}},
		{"id a hash", func(k int) []byte {
			return fmt.Appendf(nil, `{"ts":%d,"type":"t%d","user":"u\u00e9%d"}`, 1000+k, k%4, k%11)
		}},
		{"lines of every size class", func(k int) []byte {
			pad := strings.Repeat("y", k*13%420)
			return fmt.Appendf(nil, `{"ts":%d,"id":"e%d","type":"t%d","user":"u%d","pad":"%s"}`, 1000+k, k, k%4, k%11, pad)
		}},
		{"some lines too long for a slab", func(k int) []byte {
			pad := ""
			if k%7 == 0 {
				pad = strings.Repeat("x", 70000) // beyond half a slab at its largest
			}
			return fmt.Appendf(nil, `{"ts":%d,"id":%d,"type":"t%d","user":"u%d","pad":"%s"}`, 1000+k, 500000+k, k%4, k%11, pad)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			proj := NewProjection([][]string{{"type"}, {"user"}})
			d := Decoder{Stream: "f", Project: proj}
			d.SetScreen(&Screen{Releases: true})
			plain := Decoder{Stream: "f", Project: proj}
			var pk Packer
			type held struct {
				ev, want *Event
			}
			var kept []held
			inSlabs := 0
			for k := range 60 * slabBlocks {
				l := c.line(k)
				ev, err := d.Decode(l)
				if err != nil {
					t.Fatal(err)
				}
				if inSlab(ev) {
					inSlabs++
				}
				if k%7 == 0 {
					want, err := plain.Decode(l)
					if err != nil {
						t.Fatal(err)
					}
					var h *Event
					if k%2 == 0 {
						h = ev.Hold(proj, nil)
					} else {
						h = ev.Hold(proj, &pk)
					}
					if h == ev || inSlab(h) {
						t.Fatalf("event %d: Hold kept the slab's event", k)
					}
					kept = append(kept, held{h, want})
				}
				Release(ev)
			}
			if inSlabs != 60*slabBlocks {
				t.Fatalf("%d events of %d in slabs, want all", inSlabs, 60*slabBlocks)
			}
			for _, h := range kept {
				got := h.ev.Thaw()
				typ, _ := got.Get("type")
				user, _ := got.Get("user")
				wt, _ := h.want.Get("type")
				wu, _ := h.want.Get("user")
				if got.ID != h.want.ID || got.Time != h.want.Time || string(h.ev.RawLine()) != string(h.want.Raw) ||
					typ.Str() != wt.Str() || user.Str() != wu.Str() {
					t.Fatalf("held %q: id %q time %d type %q user %q line %.60q", h.want.ID, got.ID, got.Time, typ.Str(), user.Str(), h.ev.RawLine())
				}
			}
		})
	}
}

// TestNewHeld checks the room newHeld gives a held copy's line: all of
// it, apart from the header, and in the header's object while the two fit
// the small size classes.
func TestNewHeld(t *testing.T) {
	for size := 1; size <= 600; size++ {
		h, buf := newHeld(size)
		if len(buf) != size || cap(buf) != size {
			t.Fatalf("newHeld(%d): len %d cap %d", size, len(buf), cap(buf))
		}
		head := uintptr(unsafe.Pointer(h))
		at := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
		if at < head+unsafe.Sizeof(*h) && at+uintptr(size) > head {
			t.Fatalf("newHeld(%d): the line's room overlaps the header", size)
		}
		if together := at == head+unsafe.Sizeof(*h); together != (size <= 384) {
			t.Errorf("newHeld(%d): line after the header %v, want %v", size, together, size <= 384)
		}
		for i := range buf {
			buf[i] = 0xff
		}
		if h.Raw != nil || h.ID != "" || h.Stream != "" || h.lazy != nil {
			t.Fatalf("newHeld(%d): filling the line's room wrote into the header", size)
		}
	}
}

// TestCopiesKeepNothingPrepared: what was prepared of an event in a slab
// is for its dispatch; neither a copy of it nor the event once released
// keeps it, so that a block of a consumer's chunk of them is not pinned
// past the dispatch.
func TestCopiesKeepNothingPrepared(t *testing.T) {
	proj := NewProjection([][]string{{"type"}, {"user"}})
	d := Decoder{Stream: "f", Project: proj}
	d.SetScreen(&Screen{Releases: true})
	ev, err := d.Decode(slabLines(1, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	if !inSlab(ev) {
		t.Fatal("the event is not in a slab")
	}
	ev.Prepared = &Prepared{By: 1}
	if c := ev.Detach(); c == ev || c.Prepared != nil {
		t.Errorf("Detach: copy %v keeps Prepared %v", c != ev, c.Prepared)
	}
	if h := ev.Hold(proj, nil); h.Prepared != nil {
		t.Errorf("Hold: the held copy keeps Prepared")
	}
	Release(ev)
	if ev.Prepared != nil {
		t.Errorf("Release: the event keeps Prepared")
	}
}

// countingAux counts its slab's reuses.
type countingAux struct{ reused int }

func (a *countingAux) Reuse() { a.reused++ }

// What a consumer leaves with a slab is its slab's events' alone, and
// comes back with the slab: Reuse is called when the slab is taken
// again, once every event of it was released, and not before.
func TestSlabAuxComesBackWithItsSlab(t *testing.T) {
	if raceDetector {
		t.Skip("sync.Pool drops slabs at random under the race detector")
	}
	// One processor: a slab put back is in its pool's slot for this one.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	d := Decoder{Stream: "f", Project: NewProjection([][]string{{"type"}, {"user"}})}
	screenAll(&d)
	runtime.GC()
	runtime.GC()
	lines := slabLines(0, 6*slabBlocks)
	decode := func() *Event {
		ev, err := d.Decode(lines[0])
		if err != nil {
			t.Fatal(err)
		}
		lines = lines[1:]
		return ev
	}
	evs := []*Event{decode()}
	if a, ok := SlabAuxOf(evs[0]); !ok || a != nil {
		t.Fatalf("a new slab's event: aux %v, in a slab %v", a, ok)
	}
	aux := new(countingAux)
	SetSlabAux(evs[0], aux)
	for range slabBlocks - 1 {
		evs = append(evs, decode())
	}
	if a, _ := SlabAuxOf(evs[slabBlocks-1]); a != aux {
		t.Fatal("an event of the same slab does not find its aux")
	}
	if a, ok := SlabAuxOf(decode()); !ok || a == aux {
		t.Fatal("the next slab's event finds the first slab's aux")
	}
	for _, ev := range evs[1:] {
		Release(ev)
	}
	if _, ok := SlabAuxOf(evs[1]); ok {
		t.Fatal("a released event still finds its slab")
	}
	for range 2 * slabBlocks {
		Release(decode())
	}
	if aux.reused != 0 {
		t.Fatal("a slab taken again with one of its events not released")
	}
	Release(evs[0])
	for range 2 * slabBlocks {
		Release(decode())
	}
	if aux.reused == 0 {
		t.Fatal("not reused once every event of its slab was released")
	}
}
