package nfa

import (
	"math"
	"os"
	"slices"
	"testing"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/jsonx"
)

// The snapshot fixtures testdata/keystate-v1-*.bin were written by the
// version 1 codec (the code of commit 1dbcd25) for fixturePattern after the
// first fixtureCut events of fixtureEvents. Key k holds a partial match and
// a held match, its events carrying their raw lines; key j's events have no
// raw line, so that codec rendered their fields as JSON.

func fixturePattern() Pattern {
	return seq(st("a", is("a")), st("c", is("c")), st("b", sameFirstPrice)).skip(skipToFirst("c")).timeouts().within(100)
}

const fixtureCut = 8

func fixtureEvents(tb testing.TB) ([]*event.Event, []string) {
	tb.Helper()
	evs := events(tb, "a1$0 c1 a2$1 a3$7 c2 c3 b1$1 b3$7 b2$0 b4$7")
	keys := []string{"k", "k", "k", "j", "k", "j", "k", "k", "k", "j"}
	for i, ev := range evs {
		if keys[i] == "k" {
			raw, err := jsonx.AppendFields(nil, ev.Fields)
			if err != nil {
				tb.Fatal(err)
			}
			ev.Raw = raw
			continue
		}
		ev.Fields = append(ev.Fields,
			event.Field{Key: "note", Value: event.StringValue("quote \" back\\ é\ttab")},
			event.Field{Key: "geo", Value: event.ObjectValue([]event.Field{
				{Key: "tags", Value: event.ArrayValue([]event.Value{event.NumberValue(1), event.NumberValue(2.5), event.BoolValue(true), {}})},
			})})
	}
	return evs, keys
}

// TestReadsVersion1 restores the fixtures written by the version 1 codec
// and finishes the run: the matches are those of an uninterrupted run, and
// the events come back as they were, with or without their raw lines.
func TestReadsVersion1(t *testing.T) {
	n := mustCompile(t, fixturePattern())
	evs, keys := fixtureEvents(t)
	want := feedKeyed(t, NewMatcher(n, Options{}), keys, evs)
	// The held match a2 c2 b1 waits for a1's partial match, which b2
	// completes first.
	if w := []string{"k: a1 c1 b2 @9", "k: a2 c2 b1 @7", "j: a3 c3 b4 @10"}; !slices.Equal(want, w) {
		t.Fatalf("uninterrupted run: %q, want %q", want, w)
	}

	m := NewMatcher(n, Options{})
	for _, k := range []string{"k", "j"} {
		b, err := os.ReadFile("testdata/keystate-v1-" + k + ".bin")
		if err != nil {
			t.Fatal(err)
		}
		if b[len(codecMagic)] != 1 {
			t.Fatalf("fixture %s is version %d, not 1", k, b[len(codecMagic)])
		}
		var ks KeyState
		if err := ks.UnmarshalBinary(b); err != nil {
			t.Fatalf("fixture %s: %v", k, err)
		}
		for _, p := range ks.parts {
			for x := p.node; x != nil; x = x.prev {
				checkFixtureEvent(t, k, x.ev)
			}
		}
		if err := m.Restore(b); err != nil {
			t.Fatalf("fixture %s: %v", k, err)
		}
	}
	if s := m.Stats(); s.Keys != 2 || s.Partials != 2 || s.Held != 1 {
		t.Errorf("restored %+v, want 2 keys, 2 partial matches and a held match", s)
	}
	got := feedKeyed(t, m, keys[fixtureCut:], evs[fixtureCut:])
	if !slices.Equal(got, want) {
		t.Errorf("resumed from version 1: %q, want %q", got, want)
	}

	// Written again, the state is version 2 and reads back the same.
	var back []byte
	if err := m.Snapshot(func(_ string, b []byte) error { back = b; return nil }); err != nil {
		t.Fatal(err)
	}
	if back != nil && back[len(codecMagic)] != codecVersion {
		t.Errorf("written as version %d", back[len(codecMagic)])
	}
}

func checkFixtureEvent(t *testing.T, key string, ev *event.Event) {
	t.Helper()
	if key == "k" {
		if len(ev.Raw) == 0 {
			t.Errorf("event %s lost its raw line", ev.ID)
		}
		return
	}
	if ev.Raw != nil {
		t.Errorf("event %s gained a raw line %s", ev.ID, ev.Raw)
	}
	if v, _ := ev.Get("note"); v.Str() != "quote \" back\\ é\ttab" {
		t.Errorf("event %s: note %q", ev.ID, v.Str())
	}
	if v, ok := ev.Path("geo", "tags"); !ok || v.Len() != 4 || v.Index(1).Num() != 2.5 || v.Index(3).Kind() != event.Null {
		t.Errorf("event %s: geo.tags %v", ev.ID, v)
	}
}

// feedKeyed feeds evs under their keys and lets time run to the end.
func feedKeyed(tb testing.TB, m *Matcher, keys []string, evs []*event.Event) []string {
	tb.Helper()
	var out []string
	emit := func(x Match) { out = append(out, x.Key+": "+render(x, true, false)) }
	for i, ev := range evs {
		if err := m.Advance(ev.Time, emit); err != nil {
			tb.Fatal(err)
		}
		if err := m.Process(keys[i], ev, emit); err != nil {
			tb.Fatal(err)
		}
	}
	if err := m.Advance(math.MaxInt64, emit); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestEventsWithoutRawRoundTrip: an event built in code, with fields and no
// raw line, keeps its fields through a snapshot; it comes back with their
// JSON rendering as its raw line, escaped as every cep JSON is.
func TestEventsWithoutRawRoundTrip(t *testing.T) {
	n := mustCompile(t, fixturePattern())
	store := NewMemoryStore()
	m := NewMatcher(n, Options{Store: store})
	ev := &event.Event{Stream: "s", ID: "a1", Time: 5, Seq: 1, Fields: []event.Field{
		{Key: "name", Value: event.StringValue("a")},
		{Key: "ctl\x01", Value: event.StringValue("bad \xff utf-8 </script>")},
	}}
	if err := m.Process("k", ev, nil); err != nil {
		t.Fatal(err)
	}
	b := snapshot(t, store)[0]
	var ks KeyState
	if err := ks.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	got := ks.parts[0].node.ev
	if want := `{"name":"a","ctl\u0001":"bad \ufffd utf-8 \u003c/script\u003e"}`; string(got.Raw) != want {
		t.Errorf("raw %s, want %s", got.Raw, want)
	}
	if v, _ := got.Get("ctl\x01"); v.Str() != "bad \uFFFD utf-8 </script>" {
		t.Errorf("field came back as %q", v.Str())
	}
	if got.ID != "a1" || got.Time != 5 || got.Seq != 1 || got.Stream != "s" {
		t.Errorf("event came back as %+v", got)
	}
}
