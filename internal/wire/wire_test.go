package wire

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cep-project/cep/event"
)

// A value is one thing to write and read back: put writes it, get reads it
// and returns what it read for comparison.
type value struct {
	name string
	put  func(*Enc)
	get  func(*Dec) any
	want any
}

func values() []value {
	return []value{
		{"uvarint 0", func(e *Enc) { e.Uvarint(0) }, func(d *Dec) any { return d.Uvarint() }, uint64(0)},
		{"uvarint max", func(e *Enc) { e.Uvarint(math.MaxUint64) }, func(d *Dec) any { return d.Uvarint() }, uint64(math.MaxUint64)},
		{"varint -1", func(e *Enc) { e.Varint(-1) }, func(d *Dec) any { return d.Varint() }, int64(-1)},
		{"varint min", func(e *Enc) { e.Varint(math.MinInt64) }, func(d *Dec) any { return d.Varint() }, int64(math.MinInt64)},
		{"float", func(e *Enc) { e.Float(-2.5) }, func(d *Dec) any { return d.Float() }, -2.5},
		{"float inf", func(e *Enc) { e.Float(math.Inf(1)) }, func(d *Dec) any { return d.Float() }, math.Inf(1)},
		{"str", func(e *Enc) { e.Str("héllo") }, func(d *Dec) any { return d.Str() }, "héllo"},
		{"str empty", func(e *Enc) { e.Str("") }, func(d *Dec) any { return d.Str() }, ""},
		{"bytes", func(e *Enc) { e.Bytes([]byte{0, 1, 255}) }, func(d *Dec) any { return string(d.Bytes()) }, "\x00\x01\xff"},
		{"bool true", func(e *Enc) { e.Bool(true) }, func(d *Dec) any { return d.Bool() }, true},
		{"bool false", func(e *Enc) { e.Bool(false) }, func(d *Dec) any { return d.Bool() }, false},
		{"time", func(e *Enc) { e.Varint(-MaxTime) }, func(d *Dec) any { return d.Time() }, -MaxTime},
		{"byte", func(e *Enc) { e.B = append(e.B, 7) }, func(d *Dec) any { return d.Byte() }, byte(7)},
		{"count", func(e *Enc) { e.Uvarint(2); e.B = append(e.B, 1, 2, 3, 4) }, func(d *Dec) any { return d.Count(2) }, 2},
	}
}

func TestRoundTrip(t *testing.T) {
	vs := values()
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			var e Enc
			v.put(&e)
			d := Dec{B: e.B}
			if got := v.get(&d); got != v.want || d.Err != nil {
				t.Errorf("read %v (%T), error %v; want %v (%T)", got, got, d.Err, v.want, v.want)
			}
		})
	}
	// All of them one after another, as a snapshot holds them.
	var e Enc
	for _, v := range vs {
		v.put(&e)
	}
	d := Dec{B: e.B}
	for _, v := range vs {
		if got := v.get(&d); got != v.want {
			t.Errorf("in sequence, %s: read %v, want %v", v.name, got, v.want)
		}
	}
	if d.Err != nil || len(d.B) != 4 { // the bytes Count counted are left
		t.Errorf("in sequence: error %v, %d bytes left", d.Err, len(d.B))
	}
}

// TestEncoding pins the bytes: snapshots taken before must still load.
func TestEncoding(t *testing.T) {
	var e Enc
	e.Uvarint(300)
	e.Varint(-3)
	e.Str("ab")
	e.Bytes([]byte{9})
	e.Bool(true)
	e.Float(1)
	e.Event(&event.Event{Stream: "s", ID: "i", Time: 2, Seq: 3, Line: 4, Raw: []byte(`{}`)})
	want := []byte{
		0xac, 0x02, // 300
		0x05,           // -3
		0x02, 'a', 'b', // "ab"
		0x01, 0x09, // [9]
		0x01,                                           // true
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, // 1.0
		0x01, 's', 0x01, 'i', 0x04, 0x03, 0x08, 0x02, '{', '}', // the event
	}
	if !bytes.Equal(e.B, want) {
		t.Errorf("wrote % x\nwant  % x", e.B, want)
	}
}

func TestDecErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		read func(*Dec)
		want string
	}{
		{"empty", nil, func(d *Dec) { d.Byte() }, "truncated"},
		{"varint cut", []byte{0x80}, func(d *Dec) { d.Uvarint() }, "bad varint"},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), func(d *Dec) { d.Varint() }, "bad varint"},
		{"uvarint longer than its value", []byte{0x80, 0x00}, func(d *Dec) { d.Uvarint() }, "varint longer than its value"},
		{"uvarint of 1 in two bytes", []byte{0x81, 0x00}, func(d *Dec) { d.Uvarint() }, "varint longer than its value"},
		{"varint longer than its value", []byte{0x81, 0x80, 0x00}, func(d *Dec) { d.Varint() }, "varint longer than its value"},
		{"string length longer than its value", []byte{0x80, 0x00}, func(d *Dec) { d.Str() }, "varint longer than its value"},
		{"string cut", []byte{0x03, 'a'}, func(d *Dec) { d.Str() }, "length past the end"},
		{"count past end", []byte{0x02, 1, 2, 3}, func(d *Dec) { d.Count(2) }, "length past the end"},
		{"float cut", []byte{1, 2, 3}, func(d *Dec) { d.Float() }, "truncated"},
		{"bool", []byte{2}, func(d *Dec) { d.Bool() }, "bad bool"},
		{"time", binary.AppendVarint(nil, MaxTime+1), func(d *Dec) { d.Time() }, "time out of range"},
		{"time before", binary.AppendVarint(nil, -MaxTime-1), func(d *Dec) { d.Time() }, "time out of range"},
		{"negative next", []byte{1}, func(d *Dec) { d.Next(-1) }, "truncated"},
		{"first error kept", []byte{2}, func(d *Dec) { d.Bool(); d.Byte(); d.Fail("later") }, "bad bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Dec{B: tc.in}
			tc.read(&d)
			if d.Err == nil || d.Err.Error() != tc.want {
				t.Errorf("error %v, want %q", d.Err, tc.want)
			}
		})
	}
}

func TestFields(t *testing.T) {
	fs, err := Fields([]byte(`{"a":1,"b":{"c":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Key)
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("fields %v, want a and b", names)
	}
	for _, bad := range []string{`[1]`, `"s"`, `{`, ``} {
		if _, err := Fields([]byte(bad)); err == nil {
			t.Errorf("Fields(%q) gave no error", bad)
		}
	}
}

func TestRaw(t *testing.T) {
	for _, tc := range []struct {
		name, in  string
		wantRaw   string
		wantField string
		wantErr   string
	}{
		{"object", `{"k":"v"}`, `{"k":"v"}`, "k", ""},
		{"none", ``, ``, "", ""},
		{"array", `[1]`, `[1]`, "", "evidence event: not a JSON object"},
		{"broken", `{"k":`, `{"k":`, "", "evidence event: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Enc
			e.Str(tc.in)
			d := Dec{B: e.B}
			raw, fs := d.Raw("evidence event")
			if string(raw) != tc.wantRaw || tc.wantRaw == "" && raw != nil {
				t.Errorf("raw %q, want %q", raw, tc.wantRaw)
			}
			if len(raw) > 0 && &raw[0] == &e.B[1] {
				t.Error("raw shares the bytes read")
			}
			if tc.wantField != "" && (len(fs) != 1 || fs[0].Key != tc.wantField) {
				t.Errorf("fields %v, want %s", fs, tc.wantField)
			}
			switch {
			case tc.wantErr == "" && d.Err != nil:
				t.Errorf("error %v", d.Err)
			case tc.wantErr != "" && (d.Err == nil || !strings.HasPrefix(d.Err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q...", d.Err, tc.wantErr)
			}
		})
	}
}

// FuzzDec reads untrusted bytes with a script of reads: whatever the bytes,
// the reader must not panic, read past the end, nor let a count promise more
// elements than the bytes left could hold; after an error it keeps the
// first one and reads nothing.
func FuzzDec(f *testing.F) {
	var e Enc
	for _, v := range values() {
		v.put(&e)
	}
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, e.B)
	f.Add([]byte{3, 3, 3}, []byte{0x02, 'a', 'b', 0x01, 'c', 0x05, 'x'})
	f.Add([]byte{8}, []byte(`{"a":[1,{"b":null}]}`))
	f.Add([]byte{12, 12, 12}, append(binary.AppendUvarint(nil, 7), `{"a":1}[]`...))
	f.Fuzz(func(t *testing.T, script, data []byte) {
		orig := slices.Clone(data)
		d := Dec{B: data}
		var first error
		for _, op := range script {
			left := len(d.B)
			switch op % 14 {
			case 0:
				d.Byte()
			case 1:
				d.Uvarint()
			case 2:
				d.Varint()
			case 3:
				d.Str()
			case 4:
				d.Bytes()
			case 5:
				d.Float()
			case 6:
				d.Bool()
			case 7:
				d.Time()
			case 8:
				if _, err := Fields(d.B); err == nil && !bytes.HasPrefix(bytes.TrimSpace(d.B), []byte("{")) {
					t.Fatalf("Fields(%q) took what is not an object", d.B)
				}
			case 9:
				least := int(op/14) - 4 // from -4 to 14, so zero and negatives too
				n := d.Count(least)
				if n < 0 || n > left || n > 0 && n > len(d.B)/max(least, 1) {
					t.Fatalf("Count(%d) = %d with %d bytes left", least, n, len(d.B))
				}
			case 10:
				n := int(op/14) - 2
				if b := d.Next(n); d.Err == nil && len(b) != n {
					t.Fatalf("Next(%d) gave %d bytes", n, len(b))
				}
			case 11:
				if x := d.Time(); x < -MaxTime || x > MaxTime {
					t.Fatalf("Time() = %d", x)
				}
			case 12:
				raw, _ := d.Raw("event")
				for i := range raw {
					raw[i] ^= 0xff // a copy: data must not change
				}
			case 13:
				if ev := d.Event("event"); d.Err == nil && ev.Line < 0 {
					t.Fatalf("Event() read line %d", ev.Line)
				}
			}
			if len(d.B) > left {
				t.Fatalf("op %d: bytes left grew from %d to %d", op, left, len(d.B))
			}
			if first != nil && (d.Err != first || len(d.B) != left) {
				t.Fatalf("op %d after error %v: error %v, %d bytes read", op, first, d.Err, left-len(d.B))
			}
			first = d.Err
		}
		if !bytes.Equal(data, orig) {
			t.Fatal("reading changed the bytes read")
		}
	})
}

func TestEventRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ev      *event.Event
		wantRaw string
		wantErr string
	}{
		{"raw line", &event.Event{Stream: "auth", ID: "e1", Time: -5, Seq: 9, Line: 12, Raw: []byte(`{"user":"u1"}`)}, `{"user":"u1"}`, ""},
		{"fields only", &event.Event{Stream: "s", ID: "e2", Time: 7, Fields: []event.Field{
			{Key: "user", Value: event.StringValue("u\"1\x00")},
			{Key: "n", Value: event.NumberValue(2.5)},
		}}, `{"user":"u\"1\u0000","n":2.5}`, ""},
		{"nothing", &event.Event{Stream: "s", ID: "e3"}, ``, ""},
		{"fields that are no JSON", &event.Event{ID: "e4", Fields: []event.Field{{Key: "x", Value: event.NumberValue(math.NaN())}}}, ``, "event e4: unsupported float value NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Enc
			e.Event(tc.ev)
			if tc.wantErr != "" {
				if e.Err == nil || e.Err.Error() != tc.wantErr {
					t.Errorf("error %v, want %q", e.Err, tc.wantErr)
				}
				return
			}
			if e.Err != nil {
				t.Fatal(e.Err)
			}
			d := Dec{B: e.B}
			got := d.Event("event")
			if d.Err != nil || len(d.B) != 0 {
				t.Fatalf("read error %v, %d bytes left", d.Err, len(d.B))
			}
			if got.Stream != tc.ev.Stream || got.ID != tc.ev.ID || got.Time != tc.ev.Time || got.Seq != tc.ev.Seq || got.Line != tc.ev.Line {
				t.Errorf("event came back as %+v", got)
			}
			if string(got.Raw) != tc.wantRaw {
				t.Errorf("raw %s, want %s", got.Raw, tc.wantRaw)
			}
			for _, f := range tc.ev.Fields {
				if v, ok := got.Get(f.Key); !ok || v.Kind() != f.Kind() {
					t.Errorf("field %q came back as %v", f.Key, v)
				}
			}
		})
	}
	var e Enc
	e.Str("s")
	e.Str("i")
	e.Varint(0)
	e.Uvarint(0)
	e.Varint(-1)
	e.Bytes(nil)
	d := Dec{B: e.B}
	if d.Event("evidence event"); d.Err == nil || d.Err.Error() != "evidence event: bad line number" {
		t.Errorf("negative line: %v", d.Err)
	}
}

func TestMemSize(t *testing.T) {
	raw := []byte(`{"a":"x","b":{"c":[1,{"d":2}]}}`)
	fs, err := Fields(raw)
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{Raw: raw, Fields: fs}
	// Fields: a, b; b's c (c's elements and deeper are left out): three.
	want := eventStructBytes + int64(cap(raw)) + 3*fieldBytes
	if got := MemSize(ev); got != want {
		t.Errorf("MemSize = %d, want %d", got, want)
	}
	if got := MemSize(&event.Event{}); got != eventStructBytes {
		t.Errorf("MemSize of an empty event = %d, want %d", got, eventStructBytes)
	}
	// A held event: its header and line, and the index of the line's
	// members its first thaw makes (3 bytes × 8 members, 4 of header).
	line := []byte(`{"ts":1,"a":"` + strings.Repeat("x", 512) + `","b":"y","c":"z","d":1,"e":2,"f":3,"g":4}`)
	p := event.NewProjection([][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}})
	pe, err := (&event.Decoder{Project: p}).Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	h := pe.Hold(p, nil)
	if !h.Held() {
		t.Fatal("not held")
	}
	before := MemSize(h)
	if least := eventStructBytes + int64(len(line)) + 4 + 3*8; before < least {
		t.Errorf("MemSize of a held event = %d, less than its header, line and index (%d)", before, least)
	}
	// What a detector releases is what it charged.
	h.Thaw()
	if after := MemSize(h); after != before {
		t.Errorf("MemSize of a held event with its index = %d, without %d", after, before)
	}
}

// TestVarintLengths: every value's shortest encoding, the one Enc writes,
// reads back, at each length's edges; the check for encodings longer than
// their value refuses none of them.
func TestVarintLengths(t *testing.T) {
	var us []uint64
	var is []int64
	for s := range 64 {
		us = append(us, 1<<s, 1<<s-1, 1<<s+1)
		is = append(is, 1<<s, 1<<s-1, -(1 << s), -(1<<s)+1, -(1<<s)-1)
	}
	us = append(us, math.MaxUint64)
	is = append(is, math.MaxInt64, math.MinInt64)
	for _, x := range us {
		e := Enc{}
		e.Uvarint(x)
		d := Dec{B: e.B}
		if got := d.Uvarint(); got != x || d.Err != nil || len(d.B) != 0 {
			t.Errorf("Uvarint %d: read %d, error %v, %d bytes left", x, got, d.Err, len(d.B))
		}
	}
	for _, x := range is {
		e := Enc{}
		e.Varint(x)
		d := Dec{B: e.B}
		if got := d.Varint(); got != x || d.Err != nil || len(d.B) != 0 {
			t.Errorf("Varint %d: read %d, error %v, %d bytes left", x, got, d.Err, len(d.B))
		}
	}
}
