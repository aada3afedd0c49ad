package event

import (
	"encoding/json"
	"testing"
	"time"
)

var benchLine = []byte(`{"id":"pay-0000001","ts":"2026-03-02T08:00:00.000Z","account_user":"u-00020","amount":38.89,"card_id":"c-100140","country":"DE","currency":"EUR","device_id":"d-00020","mcc":"4511","merchant":"m-0239","result":"approved","type":"card_auth"}`)

var benchNested = []byte(`{"id":"aut-0000016","ts":"2026-03-02T08:00:00.573Z","device_id":"d-00026","geo":{"city":"Manchester","country":"GB","lat":53.4808,"lon":-2.2426},"ip":"10.0.0.27","new_device":false,"outcome":"success","user":"u-00026"}`)

// BenchmarkDecode measures the hottest path of the product: one JSON line
// of the fraud example into an event.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		line []byte
	}{{"payment", benchLine}, {"login-nested", benchNested}} {
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
