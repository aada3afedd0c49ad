package join

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// checkBytes holds the joiner's memory estimate, kept up to date as events
// come and go, to a count from scratch.
func checkBytes(tb testing.TB, j *Joiner) {
	tb.Helper()
	var sum int64
	for key, k := range j.keys {
		want := j.keyBytes(key)
		for _, es := range k.sides {
			for _, e := range es {
				want += entryBytes(e.ev)
			}
		}
		if k.bytes != want {
			tb.Fatalf("key %q accounted at %d bytes, holds %d", key, k.bytes, want)
		}
		sum += want
	}
	if j.bytes != sum {
		tb.Fatalf("joiner accounts %d bytes, its keys %d", j.bytes, sum)
	}
}

func TestFanoutCap(t *testing.T) {
	two := []string{"login", "transfer"}
	three := []string{"a", "b", "c"}
	var many []in
	for i := range 10 {
		many = append(many, e("login", "u", int64(i)))
	}
	tests := []struct {
		name    string
		cfg     Config
		steps   []in
		want    []string
		dropped uint64
	}{
		{
			name:    "inner: the oldest partners first, the rest counted",
			cfg:     Config{Within: time.Minute, Type: Inner, Sides: two, MaxMatchesPerEvent: 3},
			steps:   append(slices.Clone(many), e("transfer", "u", 20), wm(1000)),
			want:    []string{"20 u login0 transfer20", "20 u login1 transfer20", "20 u login2 transfer20"},
			dropped: 7,
		},
		{
			name: "inner, three sides: 16 combinations, 5 emitted",
			cfg:  Config{Within: time.Minute, Type: Inner, Sides: three, MaxMatchesPerEvent: 5},
			steps: []in{e("a", "k", 0), e("a", "k", 1), e("a", "k", 2), e("a", "k", 3), e("b", "k", 4), e("b", "k", 5), e("b", "k", 6), e("b", "k", 7),
				e("c", "k", 8), wm(1000)},
			want:    []string{"8 k a0 b4 c8", "8 k a0 b5 c8", "8 k a0 b6 c8", "8 k a0 b7 c8", "8 k a1 b4 c8"},
			dropped: 11,
		},
		{
			// The logins left out still met a transfer: a left join does
			// not report them as unmatched.
			name:    "left: combinations left out still match their events",
			cfg:     Config{Within: time.Minute, Type: Left, Sides: two, MaxMatchesPerEvent: 1},
			steps:   []in{e("login", "u", 0), e("login", "u", 1), e("login", "u", 2), e("transfer", "u", 3), e("login", "u", 100), wm(1000)},
			want:    []string{"3 u login0 transfer3", "160 u login100 -"},
			dropped: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := play(t, j, tc.steps)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if s := j.Stats(); s.FanoutDropped != tc.dropped {
				t.Errorf("%d combinations dropped, want %d", s.FanoutDropped, tc.dropped)
			}
		})
	}
}

// TestFanoutCapAtScale: one payment meeting 100,000 buffered logins emits
// the cap and counts the rest without walking them one by one.
func TestFanoutCapAtScale(t *testing.T) {
	j, _ := New(Config{Within: time.Hour, Type: Inner, Sides: []string{"login", "payment"}, MaxMatchesPerEvent: 100})
	const logins = 100_000
	for i := range logins {
		j.Add(0, "u", &event.Event{Stream: "auth", Time: int64(i), Seq: uint64(i)}, nil)
	}
	n := 0
	j.Add(1, "u", &event.Event{Stream: "pay", Time: logins, Seq: 1}, func(*Match) { n++ })
	if s := j.Stats(); n != 100 || s.FanoutDropped != logins-100 {
		t.Errorf("%d matches and %d dropped, want 100 and %d", n, s.FanoutDropped, logins-100)
	}
}

func TestJoinBytes(t *testing.T) {
	j, _ := New(Config{Within: 10 * time.Second, Type: Inner, Sides: []string{"login", "transfer"}})
	raw := []byte(`{"user":"u1","ip":"10.0.0.1"}`)
	fs, err := wire.Fields(raw)
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{Stream: "auth", ID: "l1", Time: 0, Raw: raw, Fields: fs}
	j.Add(0, "u1", ev, nil)
	if want := j.keyBytes("u1") + entryBytes(ev); j.Bytes() != want || j.KeyBytes("u1") != want {
		t.Errorf("%d bytes (key %d), want %d", j.Bytes(), j.KeyBytes("u1"), want)
	}
	checkBytes(t, j)
	j.Advance(time.Minute.Nanoseconds(), nil)
	if j.Bytes() != 0 || j.KeyBytes("u1") != 0 {
		t.Errorf("%d bytes left after the window passed", j.Bytes())
	}
}

// TestJoinShed drops the oldest buffered events for the memory budget.
func TestJoinShed(t *testing.T) {
	j, _ := New(Config{Within: time.Minute, Type: Full, Sides: []string{"login", "transfer"}})
	for i := range 8 {
		j.Add(0, fmt.Sprint("k", i%2), &event.Event{Stream: "auth", ID: fmt.Sprint("login", i), Time: int64(i) * sec, Seq: uint64(i)}, nil)
	}
	full := j.Bytes()
	n := j.Shed(full / 2)
	s := j.Stats()
	if n == 0 || s.Bytes > full/2 || s.ShedEvents != uint64(n) || s.ShedBytes != uint64(full-s.Bytes) {
		t.Fatalf("shed %d: %+v (had %d bytes)", n, s, full)
	}
	checkBytes(t, j)
	// The events left are the newest, and a full join reports them, not
	// the shed ones, as unmatched.
	var got []string
	j.Advance(1<<62, func(m *Match) { got = append(got, m.Events[0].ID) })
	slices.Sort(got)
	var want []string
	for i := 8 - s.Buffered; i < 8; i++ {
		want = append(want, fmt.Sprint("login", i))
	}
	if s.Buffered != 8-n || !slices.Equal(got, want) {
		t.Errorf("reported %q, want %q", got, want)
	}
	if j.Bytes() != 0 {
		t.Errorf("%d bytes left", j.Bytes())
	}
}
