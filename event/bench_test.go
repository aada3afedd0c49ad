package event

import (
	"encoding/json"
	"testing"
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
	v := StringValue("2026-03-02T08:00:00.123Z")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTime(v); err != nil {
			b.Fatal(err)
		}
	}
}
