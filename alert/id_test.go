package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/cep-project/cep/event"
)

// makeIDByParts is MakeID as first written, part by part into the hash:
// the ids it gave are in sinks and tickets, and must not change.
func makeIDByParts(rule string, key Key, evidence []Evidence, extra ...string) string {
	h := sha256.New()
	w := func(s string) {
		var n [8]byte
		for i := range n {
			n[i] = byte(len(s) >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(s))
	}
	w(rule)
	for _, p := range key {
		w(p.Expr)
		w(fmt.Sprint(p.Value))
	}
	for _, e := range evidence {
		w(e.Step)
		if e.Event != nil {
			w(e.Event.Stream)
			w(e.Event.ID)
		}
	}
	for _, x := range extra {
		w(x)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func TestMakeIDStable(t *testing.T) {
	ev := &event.Event{Stream: "payments", ID: "p-1"}
	long := strings.Repeat("x", 700) // past the stack buffer
	tests := []struct {
		name     string
		rule     string
		key      Key
		evidence []Evidence
		extra    []string
		want     string // "" when only compared with makeIDByParts; else sha256 by hand
	}{
		{name: "filter", rule: "big-payment", key: Key{{"event.card", "c-1"}}, evidence: []Evidence{{Step: "match", Event: ev}}},
		{name: "values", rule: "r", key: Key{{"a", int64(-7)}, {"b", 2.5}, {"c", true}, {"d", nil}, {"e", []any{"x", 1.0}}, {"f", map[string]any{"k": "v"}}}},
		{name: "evidence without event", rule: "r", evidence: []Evidence{{Step: "absent"}}},
		{name: "extra", rule: "r", extra: []string{ThrottledTag, "2025-03-01T12:00:00Z"}},
		{name: "long", rule: long, key: Key{{long, long}, {"n", 1e300}}, evidence: []Evidence{{Step: long, Event: &event.Event{Stream: long, ID: long}}}, extra: []string{long}},
		{name: "empty", rule: "", want: "af5570f5a1810b7af78caf4bc70a660f"},
	}
	for _, tt := range tests {
		got := MakeID(tt.rule, tt.key, tt.evidence, tt.extra...)
		if want := makeIDByParts(tt.rule, tt.key, tt.evidence, tt.extra...); got != want {
			t.Errorf("%s: MakeID = %s, part by part %s", tt.name, got, want)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("%s: MakeID = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func BenchmarkMakeID(b *testing.B) {
	ev := &event.Event{Stream: "payments", ID: "p-000123456"}
	key := Key{{"event.card_id", "c-000042"}}
	evidence := []Evidence{{Step: "match", Event: ev}}
	b.ReportAllocs()
	for b.Loop() {
		MakeID("big-payment-at-merchant-00042", key, evidence)
	}
}
