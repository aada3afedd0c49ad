package event

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"
)

var benchLine = []byte(`{"id":"pay-0000001","ts":"2026-03-02T08:00:00.000Z","account_user":"u-00020","amount":38.89,"card_id":"c-100140","country":"DE","currency":"EUR","device_id":"d-00020","mcc":"4511","merchant":"m-0239","result":"approved","type":"card_auth"}`)

var benchNested = []byte(`{"id":"aut-0000016","ts":"2026-03-02T08:00:00.573Z","device_id":"d-00026","geo":{"city":"Manchester","country":"GB","lat":53.4808,"lon":-2.2426},"ip":"10.0.0.27","new_device":false,"outcome":"success","user":"u-00026"}`)

// wideLine is a 1.9 KB Sysmon event (registry value set) of real Windows
// telemetry: the shape of security data, 40 members, many escapes.
func wideLine(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile("testdata/otrf-sysmon.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return line
}

// BenchmarkDecode measures the hottest path of the product: one JSON line
// into an event, every field decoded.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		line []byte
	}{{"payment", benchLine}, {"login-nested", benchNested}, {"sysmon-wide", wideLine(b)}} {
		b.Run(bc.name, func(b *testing.B) {
			d := Decoder{Stream: "payments"}
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(bc.line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeStdlib is the baseline: encoding/json into a map, without
// time parsing or ids.
func BenchmarkDecodeStdlib(b *testing.B) {
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(benchLine, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTime(b *testing.B) {
	sysmon, err := ParseTimeFormat("2006-01-02 15:04:05.000")
	if err != nil {
		b.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		f    TimeFormat
		zone *time.Location
		v    Value
	}{
		{"rfc3339", AutoTime, nil, StringValue("2026-03-02T08:00:00.123Z")},
		{"epoch-ms", AutoTime, nil, NumberValue(1772438400123)},
		{"zoneless-utc", AutoTime, time.UTC, StringValue("2020-10-18 07:50:06.220")},
		{"zoneless-berlin", AutoTime, berlin, StringValue("2020-10-18 07:50:06.220")},
		{"layout-sysmon", sysmon, nil, StringValue("2020-10-18 07:50:06.220")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.f.Parse(bc.v, bc.zone); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkShortNumber reads the numbers of the benchmarks' lines: an
// epoch in milliseconds, an amount, a place's coordinates, a count.
func BenchmarkShortNumber(b *testing.B) {
	nums := [][]byte{[]byte("1772438400123"), []byte("123.45"), []byte("40.4168"), []byte("-3.7038"), []byte("7")}
	var sum float64
	for b.Loop() {
		for _, n := range nums {
			f, ok := shortNumber(n)
			if !ok {
				b.Fatalf("%s not read", n)
			}
			sum += f
		}
	}
	if sum == 0 {
		b.Fatal("nothing read")
	}
}

// BenchmarkDecodeProjected decodes with a projection of the fields a few
// rules read, as the engine does when no rule reads the whole event; the
// -full cases then ask for the whole event too, as an alert does.
func BenchmarkDecodeProjected(b *testing.B) {
	wide := wideLine(b)
	sysmon := [][]string{{"EventID"}, {"Channel"}, {"Image"}, {"TargetObject"}, {"Details"}}
	for _, bc := range []struct {
		name  string
		line  []byte
		paths [][]string
		full  bool
	}{
		{"payment-3", benchLine, [][]string{{"card_id"}, {"amount"}, {"result"}}, false},
		{"login-nested-3", benchNested, [][]string{{"user"}, {"outcome"}, {"geo", "country"}}, false},
		{"sysmon-wide-5", wide, sysmon, false},
		{"sysmon-wide-5-full", wide, sysmon, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := Decoder{Stream: "s", Project: NewProjection(bc.paths)}
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				ev, err := d.Decode(bc.line)
				if err != nil {
					b.Fatal(err)
				}
				if bc.full && len(ev.Full()) == 0 {
					b.Fatal("no fields")
				}
			}
		})
	}
}

// BenchmarkDecodeScreened decodes a payment with the fields a filter
// rule reads, and with a screen of its merchant that turns it away
// (Screen) or lets it through, decoded twice.
func BenchmarkDecodeScreened(b *testing.B) {
	reads := NewProjection([][]string{{"type"}, {"card_id"}, {"merchant"}, {"amount"}, {"result"}})
	for _, bc := range []struct {
		name    string
		screen  bool
		pass    bool
		release bool
	}{{"projected", false, false, false}, {"screened-out", true, false, false}, {"screened-out-released", true, false, true}, {"screened-through", true, true, false}, {"screened-through-released", true, true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			d := Decoder{Stream: "s", Project: reads}
			if bc.screen {
				d.SetScreen(&Screen{Project: NewProjection([][]string{{"merchant"}}), Pass: func(*Event) bool { return bc.pass }, Releases: bc.release})
			}
			b.SetBytes(int64(len(benchLine)))
			b.ReportAllocs()
			for b.Loop() {
				ev, err := d.Decode(benchLine)
				if err != nil {
					b.Fatal(err)
				}
				if bc.release {
					// As the engine does once it has passed the event.
					Release(ev)
				}
				// A screen that lets everything through is set aside
				// after a run; what is measured is the decode twice.
				if bc.pass {
					d.scr.off = 0
				}
			}
		})
	}
}

// BenchmarkDetach copies a payment out of its slab, as a filter's alert
// does (see Detach).
func BenchmarkDetach(b *testing.B) {
	d := Decoder{Stream: "s", Project: NewProjection([][]string{{"type"}, {"card_id"}, {"merchant"}, {"amount"}, {"result"}})}
	d.SetScreen(&Screen{Project: NewProjection([][]string{{"merchant"}}), Pass: func(*Event) bool { return true }, Releases: true})
	ev, err := d.Decode(benchLine)
	if err != nil {
		b.Fatal(err)
	}
	if !inSlab(ev) {
		b.Fatal("the event is not in a slab")
	}
	b.ReportAllocs()
	for b.Loop() {
		if ev.Detach() == ev {
			b.Fatal("not copied")
		}
	}
}

// BenchmarkThaw reads a held login's place again, as impossible travel
// compares each login with every earlier one of its user: the held event
// keeps its line, and each thaw parses it for geo alone. The Sysmon line
// (1.6 KB) gets an index of its members on its first thaw (lineindex.go);
// the login (230 B) is too short for one.
func BenchmarkThaw(b *testing.B) {
	for _, bc := range []struct {
		name string
		line []byte
		held [][]string
		read [][]string
	}{
		{"login-geo", benchNested, [][]string{{"user"}, {"geo"}, {"outcome"}}, [][]string{{"geo"}}},
		// What impossible travel reads of an earlier login: its place.
		{"login-lat-lon", benchNested, [][]string{{"user"}, {"geo"}, {"outcome"}}, [][]string{{"geo", "lat"}, {"geo", "lon"}}},
		{"sysmon-image", wideLine(b), [][]string{{"Image"}, {"ProcessId"}, {"TargetObject"}}, [][]string{{"Image"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			held := NewProjection(bc.held)
			d := Decoder{Stream: "s", Project: held}
			ev, err := d.Decode(bc.line)
			if err != nil {
				b.Fatal(err)
			}
			h := ev.hold(held, nil, 0)
			if !h.Held() {
				b.Fatal("the event was not held")
			}
			read := NewProjection(bc.read)
			var buf ThawBuf
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				if x := h.ThawInto(&buf, read); len(x.Fields) == 0 {
					b.Fatal("nothing thawed")
				}
			}
		})
	}
}

// BenchmarkHoldPacked is what holding a login costs the goroutine that
// holds it with a Packer: packing its line there ("pack"), or taking the
// line a decoder packed ahead ("prepacked"), and what packing it ahead
// costs that decoder ("prepack").
func BenchmarkHoldPacked(b *testing.B) {
	pk := testPacker(b)
	held := NewProjection([][]string{{"user"}, {"geo"}, {"outcome"}})
	d := Decoder{Stream: "s", Project: held}
	ev, err := d.Decode(benchNested)
	if err != nil {
		b.Fatal(err)
	}
	ahead, _ := pk.Prepack(ev.Raw, ev.ID, nil)
	if ahead == nil {
		b.Fatal("the line did not pack")
	}
	b.Run("pack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// The Packer packs a line held twice in a row once.
			pk.last.ok = false
			if h := ev.Hold(held, pk); len(h.Raw) >= len(ev.Raw) {
				b.Fatal("not packed")
			}
		}
	})
	b.Run("prepacked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if h := ev.HoldPacked(held, pk, ahead); len(h.Raw) >= len(ev.Raw) {
				b.Fatal("not packed")
			}
		}
	})
	b.Run("prepack", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			var p *Prepacked
			if p, buf = pk.Prepack(ev.Raw, ev.ID, buf); p == nil {
				b.Fatal("not packed")
			}
		}
	})
}
