package event

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// A Packer keeps the lines it samples as they are, then packs the lines
// held with it: they read back as the line, thaw to the same values, keep
// their id, and take a fraction of the memory.
func TestPackedHold(t *testing.T) {
	cities := []string{"Madrid", "Chicago", "San Francisco", "London", "Singapore", "Lyon"}
	line := func(i int) string {
		return fmt.Sprintf(`{"id":"aut-%07d","ts":"2026-03-02T08:%02d:%02d.%03dZ","device_id":"d-%05d","geo":{"city":%q,"country":"ES","lat":%d.4168,"lon":-3.%d},"ip":"10.0.%d.%d","new_country":false,"new_device":%v,"outcome":"success","user":"u-%05d"}`,
			i, i/60%60, i%60, i%1000, i*7919%100000, cities[i%len(cities)], 40+i%10, i%9999, i%256, i*31%256, i%5 == 0, i*7919%100000)
	}
	dec := Decoder{Stream: "auth", Project: NewProjection([][]string{{"user"}, {"geo"}, {"outcome"}, {"device_id"}, {"ip"}, {"new_device"}})}
	proj := NewProjection([][]string{{"user"}, {"geo"}})
	var pk Packer
	var lineBytes, packedBytes, packed, plain int
	for i := range 2000 {
		l := line(i)
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		full, err := (&Decoder{}).Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		h := ev.Hold(proj, &pk)
		if !h.Held() {
			t.Fatalf("line %d: not held", i)
		}
		if string(h.RawLine()) != l || h.ID != ev.ID || h.Time != ev.Time {
			t.Fatalf("line %d: held %q id %q, want %q id %q", i, h.RawLine(), h.ID, l, ev.ID)
		}
		if unsafe.SliceData(h.Raw) == unsafe.SliceData(ev.Raw) {
			plain++
		} else {
			packed++
			lineBytes += len(l)
			packedBytes += len(h.Raw) + len(h.ID)
		}
		tv := h.Thaw()
		if string(tv.Raw) != l || tv.ID != ev.ID {
			t.Fatalf("line %d: thawed %q id %q", i, tv.Raw, tv.ID)
		}
		for _, path := range [][]string{{"user"}, {"geo", "city"}, {"geo"}, {"ip"}, {"nope"}} {
			want, wok := full.Path(path...)
			for _, e := range []*Event{h, tv} {
				if got, ok := e.Path(path...); ok != wok || !reflect.DeepEqual(got.Interface(), want.Interface()) {
					t.Fatalf("line %d, path %v: %v %v, want %v %v", i, path, got.Interface(), ok, want.Interface(), wok)
				}
			}
		}
		if got, want := ObjectValue(h.Full()).Interface(), ObjectValue(full.Fields).Interface(); !reflect.DeepEqual(got, want) {
			t.Fatalf("line %d: Full %v, want %v", i, got, want)
		}
	}
	// The sample is the first 64 KiB of lines: a few hundred.
	if plain == 0 || plain > 400 || packed < 1600 {
		t.Errorf("%d lines kept as they are, %d packed", plain, packed)
	}
	t.Logf("%d lines of %d bytes packed into %d with their ids", packed, lineBytes, packedBytes)
	if packedBytes*3 > lineBytes {
		t.Errorf("%d lines of %d bytes packed into %d: less than a third saved", packed, lineBytes, packedBytes)
	}
}

// testPacker is a Packer whose dictionary is made of the decoder's test
// lines.
func testPacker(tb testing.TB) *Packer {
	tb.Helper()
	files, _ := filepath.Glob("testdata/*.jsonl")
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		lines = append(lines, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	pk := &Packer{}
	for pk.dict == nil {
		for _, l := range lines {
			pk.pack([]byte(l), "")
		}
	}
	return pk
}

// Events of one stream decoded on several goroutines, each decoder with
// its own limits alike, share what they are held with: holding them in
// turn allocates nothing more.
func TestHeldEventsShareTheirLazyFields(t *testing.T) {
	proj := NewProjection([][]string{{"a"}})
	pk := testPacker(t)
	d1, d2 := Decoder{Project: NewProjection([][]string{{"a"}, {"b"}})}, Decoder{Project: NewProjection([][]string{{"a"}, {"b"}})}
	var lzs []*lazyFields
	for _, k := range []*Packer{nil, pk} {
		for i, d := range []*Decoder{&d1, &d2, &d1} {
			ev, err := d.Decode(fmt.Appendf(nil, `{"ts":%d,"a":"x","b":%q}`, i, strings.Repeat("ab", 50)))
			if err != nil {
				t.Fatal(err)
			}
			h := ev.hold(proj, k, 0)
			if !h.Held() || (k != nil) != (len(h.Raw) < len(ev.Raw)) {
				t.Fatalf("held %q, packed with %v", h.Raw, k)
			}
			lzs = append(lzs, h.lazy)
		}
	}
	if lzs[0] != lzs[1] || lzs[1] != lzs[2] || lzs[3] != lzs[4] || lzs[4] != lzs[5] || lzs[0] == lzs[3] {
		t.Errorf("held events of decoders with like limits do not share their lazyFields: %v", lzs)
	}
}

// Rules that hold one event share its packed line: it is packed once, and
// sampled once.
func TestOneEventPackedOnce(t *testing.T) {
	pk := testPacker(t)
	ev, err := (&Decoder{Project: NewProjection([][]string{{"a"}, {"b"}})}).Decode(fmt.Appendf(nil, `{"ts":1,"id":"x1","a":"x","b":%q}`, strings.Repeat("ab", 50)))
	if err != nil {
		t.Fatal(err)
	}
	before := pk.Packed()
	h1 := ev.hold(NewProjection([][]string{{"a"}}), pk, 0)
	h2 := ev.hold(NewProjection([][]string{{"b"}}), pk, 0)
	if pk.Packed() != before+1 || unsafe.SliceData(h1.Raw) != unsafe.SliceData(h2.Raw) || h1.ID != "x1" || h2.ID != "x1" {
		t.Errorf("packed %d times, lines at %p and %p, ids %q %q", pk.Packed()-before, h1.Raw, h2.Raw, h1.ID, h2.ID)
	}
	if v, _ := h2.Thaw().Path("b"); v.Str() != strings.Repeat("ab", 50) {
		t.Errorf("b of the second copy = %q", v.Str())
	}
	// So is it sampled once.
	var fresh Packer
	ev.hold(NewProjection([][]string{{"a"}}), &fresh, 0)
	ev.hold(NewProjection([][]string{{"b"}}), &fresh, 0)
	if len(fresh.sample) != len(ev.Raw)+1 {
		t.Errorf("a sample of %d bytes for one line of %d", len(fresh.sample), len(ev.Raw))
	}
}

// A line at the address of the one packed last is not taken for it: a
// caller's buffer may hold another line there, with another id.
func TestPackerComparesLinesNotAddresses(t *testing.T) {
	pk := testPacker(t)
	buf := []byte(`{"ts":1,"id":"a1","card":"c-100140"}`)
	for _, tt := range []struct{ line, id string }{
		{`{"ts":1,"id":"a1","card":"c-100140"}`, "a1"},
		{`{"ts":1,"id":"a1","card":"c-999999"}`, "a1"},
		{`{"ts":1,"id":"a1","card":"c-999999"}`, "a2"},
	} {
		copy(buf, tt.line)
		packed, id, ok := pk.pack(buf, tt.id)
		if !ok {
			continue
		}
		if got := pk.unpack(packed); string(got) != tt.line || id != tt.id {
			t.Errorf("packed %q as %q, id %q as %q", tt.line, got, tt.id, id)
		}
	}
}

// Lines packed ahead on other goroutines (Prepack) are held as Hold packs
// them: the same bytes, read back as the line, with its id, thawing to
// its values. Before its dictionary a Packer packs nothing ahead.
func TestPrepackedHold(t *testing.T) {
	if p, _ := (&Packer{}).Prepack([]byte(`{"a":"x"}`), "", nil); p != nil {
		t.Fatal("a Packer without its dictionary packed a line ahead")
	}
	pk := testPacker(t)
	proj := NewProjection([][]string{{"a"}})
	dec := Decoder{Project: NewProjection([][]string{{"a"}, {"b"}})}
	const n = 400
	evs := make([]*Event, n)
	for i := range evs {
		ev, err := dec.Decode(fmt.Appendf(nil, `{"ts":%d,"id":"x%d","a":"v%d","b":%q}`, i, i, i%7, strings.Repeat("ab", 20+i%30)))
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = ev
	}
	// Four goroutines pack a quarter each, as decoders would.
	ahead := make([]*Prepacked, n)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var buf []byte
			for i := g; i < n; i += 4 {
				ahead[i], buf = pk.Prepack(evs[i].Raw, evs[i].ID, buf)
			}
		})
	}
	wg.Wait()
	before := pk.Packed()
	for i, ev := range evs {
		if ahead[i] == nil {
			t.Fatalf("line %d not packed ahead", i)
		}
		h := ev.HoldPacked(proj, pk, ahead[i])
		again := ev.Hold(proj, pk)
		if unsafe.SliceData(h.Raw) != unsafe.SliceData(ahead[i].b) || !bytes.Equal(h.Raw, again.Raw) {
			t.Fatalf("line %d: held %x, packed ahead %x, by Hold %x", i, h.Raw, ahead[i].b, again.Raw)
		}
		if string(h.RawLine()) != string(ev.Raw) || h.ID != ev.ID || h.Time != ev.Time {
			t.Fatalf("line %d: held %q id %q, want %q id %q", i, h.RawLine(), h.ID, ev.Raw, ev.ID)
		}
		if v, _ := h.Thaw().Path("b"); v.Str() != strings.Repeat("ab", 20+i%30) {
			t.Fatalf("line %d: b thawed as %q", i, v.Str())
		}
	}
	if got := pk.Packed() - before; got != 2*n {
		t.Errorf("%d lines counted packed, want %d", got, 2*n)
	}
	if pk.PackedAhead() != n {
		t.Errorf("%d lines counted packed ahead, want %d", pk.PackedAhead(), n)
	}
}
