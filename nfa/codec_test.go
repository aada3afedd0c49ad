package nfa

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/internal/wire"
)

// snapshot serialises every key of a matcher's MemoryStore.
func snapshot(tb testing.TB, s *MemoryStore) [][]byte {
	tb.Helper()
	var out [][]byte
	s.Range(func(_ string, ks *KeyState) bool {
		b, err := ks.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
		return true
	})
	return out
}

// withRaw gives events a raw JSON line, as decoded events have.
func withRaw(evs []*event.Event) []*event.Event {
	for i, ev := range evs {
		if i%2 == 0 {
			raw, err := jsonx.AppendFields(nil, ev.Fields)
			if err != nil {
				panic(err)
			}
			ev.Raw = raw
		}
	}
	return evs
}

// TestSnapshotResumes stops a matcher halfway, moves every key's state
// through MarshalBinary and UnmarshalBinary into a new matcher, and checks
// that it finishes with the matches of an uninterrupted run.
func TestSnapshotResumes(t *testing.T) {
	cases := []struct {
		name string
		p    Pattern
		in   string
	}{
		{"any branches share nodes", seq(st("a", is("a")), st("b", is("b"), anyC), st("c", is("c"), anyC)).within(100), "a1 a2 b1 b2 x c1 b3 c2"},
		{"held matches", seq(st("a", is("a")), st("c", is("c")), st("b", sameFirstPrice)).skip(skipToFirst("c")).timeouts().within(100), "a1$0 c1 a2$1 c2 b1$1 b2$0"},
		{"combinations and absence", seq(st("a", is("a"), oneOrMore, combinations), st("c", is("c")), st("b", is("b"), not)).within(5), "a1@1 a2@2 a3@3 c1@4 c2@10"},
		{"previous_and_current", seq(st("a", is("a")), st("b", is("b"), oneOrMore), st("c", is("c"))).prevWithin(4).timeouts(), "a1@0 b1@2 b2@4 c1@6 a2@7 b3@8 x@20"},
	}
	keys := []string{"k1", "k2"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := mustCompile(t, c.p)
			evs := withRaw(events(t, c.in))
			want := feed(t, NewMatcher(n, Options{}), keys, evs, math.MaxInt64)

			for cut := 1; cut < len(evs); cut++ {
				store := NewMemoryStore()
				first := NewMatcher(n, Options{Store: store})
				var got []string
				emit := func(x Match) { got = append(got, x.Key+": "+render(x, true, false)) }
				for i, ev := range evs[:cut] {
					if err := first.Advance(ev.Time, emit); err != nil {
						t.Fatal(err)
					}
					if err := first.Process(keys[i%len(keys)], ev, emit); err != nil {
						t.Fatal(err)
					}
				}
				second := NewMatcher(n, Options{})
				for _, b := range snapshot(t, store) {
					if err := second.Restore(b); err != nil {
						t.Fatalf("cut %d: restore: %v", cut, err)
					}
				}
				if a, b := first.Stats(), second.Stats(); a.Keys != b.Keys || a.Partials != b.Partials || a.Nodes != b.Nodes || a.Held != b.Held {
					t.Errorf("cut %d: restored stats %+v differ from %+v", cut, b, a)
				}
				for i, ev := range evs[cut:] {
					if err := second.Advance(ev.Time, emit); err != nil {
						t.Fatal(err)
					}
					if err := second.Process(keys[(cut+i)%len(keys)], ev, emit); err != nil {
						t.Fatal(err)
					}
				}
				if err := second.Advance(math.MaxInt64, emit); err != nil {
					t.Fatal(err)
				}
				// Keys are restored in map order, so compare as sets.
				slices.Sort(got)
				w := slices.Clone(want)
				slices.Sort(w)
				if !slices.Equal(got, w) {
					t.Errorf("cut %d: got %q, want %q", cut, got, w)
				}
			}
		})
	}
}

func TestMatcherSnapshot(t *testing.T) {
	n := mustCompile(t, seq(st("a", is("a")), st("b", is("b"), anyC)).within(50))
	m := NewMatcher(n, Options{})
	feed(t, m, []string{"k2", "k1"}, withRaw(events(t, "a1 a2 b1")), 0)
	var keys []string
	states := map[string][]byte{}
	if err := m.Snapshot(func(k string, b []byte) error { keys = append(keys, k); states[k] = b; return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Errorf("snapshot keys %q, want them in key order", keys)
	}
	back := NewMatcher(n, Options{})
	for _, k := range keys {
		if err := back.Restore(states[k]); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := m.Stats(), back.Stats(); a.Keys != b.Keys || a.Partials != b.Partials || a.Nodes != b.Nodes {
		t.Errorf("restored %+v, saved %+v", b, a)
	}
	if err := NewMatcher(n, Options{Store: newBytesStore()}).Snapshot(nil); err == nil {
		t.Error("snapshot of an external store succeeded")
	}
}

func TestUnmarshalRestoresEvents(t *testing.T) {
	store := NewMemoryStore()
	n := mustCompile(t, seq(st("a", is("a")), st("b", is("b"))))
	m := NewMatcher(n, Options{Store: store})
	ev := &event.Event{Stream: "auth", ID: "e-1", Time: 42, Seq: 7, Line: 3,
		Raw: []byte(`{"name":"a","geo":{"lat":1.5,"tags":["x",true,null]}}`)}
	fields, err := wire.Fields(ev.Raw)
	if err != nil {
		t.Fatal(err)
	}
	ev.Fields = fields
	if err := m.Process("k", ev, nil); err != nil {
		t.Fatal(err)
	}
	ks, _ := store.Get("k")
	b, err := ks.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back KeyState
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	got := back.parts[0].node.ev
	if got.Stream != "auth" || got.ID != "e-1" || got.Time != 42 || got.Seq != 7 || got.Line != 3 || string(got.Raw) != string(ev.Raw) {
		t.Errorf("event came back as %+v", got)
	}
	if v, ok := got.Path("geo", "lat"); !ok || v.Num() != 1.5 {
		t.Errorf("geo.lat = %v, %v", v, ok)
	}
	if back.Key() != "k" || back.Len() != 1 {
		t.Errorf("key %q with %d partial matches", back.Key(), back.Len())
	}
}

func TestRestoreRejects(t *testing.T) {
	store := NewMemoryStore()
	m := NewMatcher(mustCompile(t, seq(st("a", is("a")), st("b", is("b")))), Options{Store: store})
	if err := m.Process("k", events(t, "a1")[0], nil); err != nil {
		t.Fatal(err)
	}
	b := snapshot(t, store)[0]
	other := NewMatcher(mustCompile(t, seq(st("a", is("a")), st("b", is("b"), nextC))), Options{})
	if err := other.Restore(b); err == nil || !strings.Contains(err.Error(), "different pattern") {
		t.Errorf("restoring into another pattern: %v", err)
	}
	for _, bad := range []struct {
		data []byte
		want string
	}{
		{nil, "not a serialised key state"},
		{[]byte("cepK\x09"), "version 9"},
		{b[:len(b)-1], "truncated"},
		{append(slices.Clone(b), 0), "bytes after the end"},
	} {
		var ks KeyState
		if err := ks.UnmarshalBinary(bad.data); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("UnmarshalBinary(%q) = %v, want %q", bad.data, err, bad.want)
		}
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	n := mustCompile(f, seq(st("a", is("a")), st("b", is("b"), anyC, oneOrMore), st("c", is("c"))).within(50).skip(skipToFirst("b")))
	store := NewMemoryStore()
	m := NewMatcher(n, Options{Store: store})
	feed(f, m, []string{"k", "j"}, withRaw(events(f, "a1 a2 b1 b2 b3 x c1 a3 b4")), 0)
	for _, b := range snapshot(f, store) {
		f.Add(b)
	}
	f.Add([]byte("cepK\x01"))
	f.Add([]byte("cepK\x02"))
	fixtures, err := filepath.Glob("testdata/keystate-*.bin")
	if err != nil || len(fixtures) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range fixtures {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	probe := events(f, "b9 c9 a9 x9")
	f.Fuzz(func(t *testing.T, data []byte) {
		var ks KeyState
		if err := ks.UnmarshalBinary(data); err != nil {
			return
		}
		if _, err := ks.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		// A state that decodes must either be rejected by the matcher or
		// run without panicking.
		m := NewMatcher(n, Options{})
		if err := m.Restore(data); err != nil {
			return
		}
		for _, ev := range probe {
			if err := m.Process(ks.Key(), ev, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Advance(math.MaxInt64, nil); err != nil {
			t.Fatal(err)
		}
		if s := m.Stats(); s.Partials != 0 || s.Nodes != 0 || s.Keys != 0 {
			t.Fatalf("state left after the end: %+v", s)
		}
	})
}
