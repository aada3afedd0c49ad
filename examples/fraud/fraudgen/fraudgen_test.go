package fraudgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// TestWriteIsStable pins what a seed writes: the files of the example and
// of benchmarks must not change when the generator's insides do (these
// digests are those of the generator that sorted everything in memory).
func TestWriteIsStable(t *testing.T) {
	bufs, ws := map[string]*bytes.Buffer{}, map[string]io.Writer{}
	for _, s := range Streams {
		bufs[s] = &bytes.Buffer{}
		ws[s] = bufs[s]
	}
	if err := Write(ws, Config{Seed: 11, Events: 5000, Rate: 20, FraudRate: 0.05}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"payments": "078392d577ee336028ff9a86e5721a3ab1fde5e1fe31b4c3584304cfb5ac60bc",
		"auth":     "bc6a20ebbc70e04c47ab56a4ef4141b0a61d1553fc6b50c26cc5f2596f74ead5",
		"account":  "a83e11606042d12f61e8c282ce556e0b84d406af0425ea7779b941f658809fda",
		"orders":   "07337a63fa5d5a1b745a6d28708d2acd2159ef95390a0faf2e732db06df0ba64",
	}
	total := 0
	for _, s := range Streams {
		sum := sha256.Sum256(bufs[s].Bytes())
		if got := hex.EncodeToString(sum[:]); got != want[s] {
			t.Errorf("%s: sha256 %s, want %s", s, got, want[s])
		}
		// Each file is in event-time order.
		var last time.Time
		for _, line := range bytes.Split(bytes.TrimSpace(bufs[s].Bytes()), []byte("\n")) {
			var ev struct{ TS string }
			if err := json.Unmarshal(line, &ev); err != nil {
				t.Fatal(err)
			}
			ts, err := time.Parse(time.RFC3339, ev.TS)
			if err != nil {
				t.Fatal(err)
			}
			if ts.Before(last) {
				t.Fatalf("%s: %s after %s", s, ev.TS, last)
			}
			last = ts
			total++
		}
	}
	if total != 5000 {
		t.Errorf("%d events", total)
	}
}

// BenchmarkWrite generates 100,000 events: the generator holds only the
// events stamped ahead of the scenario at hand, so its memory does not
// grow with the size of what it writes.
func BenchmarkWrite(b *testing.B) {
	ws := map[string]io.Writer{}
	for _, s := range Streams {
		ws[s] = io.Discard
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(ws, Config{Seed: 1, Events: 100000, Rate: 200}); err != nil {
			b.Fatal(err)
		}
	}
}
