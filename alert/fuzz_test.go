package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// FuzzUnmarshalAlert reads arbitrary JSON as an alert, as the webhook's
// templates and a group's checkpointed first alert do. Reading may fail;
// what reads writes back, and what it writes reads again to the same
// bytes.
func FuzzUnmarshalAlert(f *testing.F) {
	ev, err := (&event.Decoder{Stream: "auth"}).Decode([]byte(`{"id":"e1","time":"2026-03-02T08:00:00Z","user":"u1","n":1.5}`))
	if err != nil {
		f.Fatal(err)
	}
	a := Alert{
		ID: "a1", Rule: "r", RuleVersion: "1", Title: "t", Severity: "high", Tags: []string{"x"},
		Time:   time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		Key:    Key{{Expr: "event.user", Value: "u1"}, {Expr: "event.n", Value: int64(3)}},
		Events: []Evidence{{Step: "a", Event: ev}, {Step: "b"}},
		Fields: map[string]any{"n": 1.5, "s": "v", "l": []any{"a", true, nil}},
	}
	seed, err := json.Marshal(a)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"key":{"a":1e400}}`))
	f.Add([]byte(`{"key":null,"events":[{"event":"x"},{"event":{"time":"no"}}]}`))
	f.Add([]byte(`{"key":{"a":{"b":[1,2]}},"events":[{"step":"s","stream":"st","id":"i","event":{}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Alert
		if err := json.Unmarshal(b, &a); err != nil {
			return
		}
		once, err := json.Marshal(a)
		if err != nil {
			// Only values JSON cannot hold fail to write, and reading
			// JSON gives none.
			t.Fatalf("%q read, but did not write: %v", b, err)
		}
		var back Alert
		if err := json.Unmarshal(once, &back); err != nil {
			t.Fatalf("%s, written, does not read: %v", once, err)
		}
		twice, err := json.Marshal(back)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed %s into %s (%v)", once, twice, err)
		}
	})
}

// FuzzUnmarshalState restores arbitrary bytes as the pipeline's
// checkpointed state (open dedup spans, groups, throttle periods).
// Restoring may fail; a restored state is written again and restored
// from that.
func FuzzUnmarshalState(f *testing.F) {
	d := NewDedup(time.Minute)
	d.open = map[string]int64{"r|k": 5}
	g := NewGrouper(Group{})
	g.groups = map[string]*group{"g": {id: "g", first: Alert{ID: "a", Key: Key{{Expr: "k", Value: "v"}}}, count: 2}}
	th := NewThrottler(Throttle{})
	th.rules = map[string]*period{"r": {rule: "r", passed: 1, tags: []string{"t"}, suppressed: []string{"x"}}}
	for _, m := range []interface{ MarshalBinary() ([]byte, error) }{d, g, th} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"groups":[{"id":"g"},{"id":"g","first":{"key":{"a":[]}}}]}`))
	type state interface {
		MarshalBinary() ([]byte, error)
		UnmarshalBinary([]byte) error
	}
	fresh := []func() state{
		func() state { return NewDedup(time.Minute) },
		func() state { return NewGrouper(Group{}) },
		func() state { return NewThrottler(Throttle{}) },
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mk := range fresh {
			s := mk()
			if err := s.UnmarshalBinary(b); err != nil {
				continue
			}
			once, err := s.MarshalBinary()
			if err != nil {
				t.Fatalf("%T restored %q but did not write it: %v", s, b, err)
			}
			if err := mk().UnmarshalBinary(once); err != nil {
				t.Fatalf("%T wrote %s, which does not restore: %v", s, once, err)
			}
		}
	})
}

// TestKeyNumbers reads a key's numbers as integers where they are, as
// floats where not, and refuses one beyond float64, which would read as
// an infinity that no alert could be written with.
func TestKeyNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Key
		err  string
	}{
		{in: `{"a":3,"b":1.5,"c":"x"}`, want: Key{{Expr: "a", Value: int64(3)}, {Expr: "b", Value: 1.5}, {Expr: "c", Value: "x"}}},
		{in: `{"a":[1,{"b":2.5}]}`, want: Key{{Expr: "a", Value: []any{int64(1), map[string]any{"b": 2.5}}}}},
		{in: `{"a":1e400}`, err: "alert key a: number 1e400 out of range"},
		{in: `{"a":[{"b":-1e999}]}`, err: "alert key a: number -1e999 out of range"},
	} {
		var k Key
		err := json.Unmarshal([]byte(tc.in), &k)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		got, _ := json.Marshal(k)
		want, _ := json.Marshal(tc.want)
		if !bytes.Equal(got, want) || fmt.Sprintf("%#v", k) != fmt.Sprintf("%#v", tc.want) {
			t.Errorf("%s: read %#v, want %#v", tc.in, k, tc.want)
		}
	}
}
