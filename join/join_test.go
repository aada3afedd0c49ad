package join

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cep-project/cep/event"
)

const sec = int64(time.Second)

// in is one scripted input: an event of side (by name) and key at a time in
// seconds, or a watermark when side is empty.
type in struct {
	side, key string
	at        int64
}

func e(side, key string, at int64) in { return in{side: side, key: key, at: at} }
func wm(at int64) in                  { return in{at: at} }

func play(tb testing.TB, j *Joiner, steps []in) []string {
	tb.Helper()
	var out []string
	emit := func(m *Match) { out = append(out, format(m)) }
	for i, s := range steps {
		if s.side == "" {
			j.Advance(s.at*sec, emit)
			continue
		}
		side := slices.Index(j.cfg.Sides, s.side)
		ev := &event.Event{Stream: s.side, ID: fmt.Sprintf("%s%d", s.side, s.at), Time: s.at * sec, Seq: uint64(i + 1)}
		if st := j.Add(side, s.key, ev, emit); st != Joined {
			out = append(out, fmt.Sprintf("%v %s", st, ev.ID))
		}
	}
	return out
}

func format(m *Match) string {
	var ids []string
	for _, ev := range m.Events {
		if ev == nil {
			ids = append(ids, "-")
		} else {
			ids = append(ids, ev.ID)
		}
	}
	return fmt.Sprintf("%d %s %s", m.Time/sec, m.Key, strings.Join(ids, " "))
}

func TestJoin(t *testing.T) {
	two := []string{"login", "transfer"}
	three := []string{"a", "b", "c"}
	tests := []struct {
		name  string
		cfg   Config
		steps []in
		want  []string
	}{
		{
			name:  "inner: every pair within the window, once",
			cfg:   Config{Within: 10 * time.Second, Type: Inner, Sides: two},
			steps: []in{e("login", "u", 0), e("transfer", "u", 5), e("transfer", "u", 9), e("login", "u", 12), e("transfer", "x", 13), wm(100)},
			want:  []string{"5 u login0 transfer5", "9 u login0 transfer9", "12 u login12 transfer5", "12 u login12 transfer9"},
		},
		{
			name:  "inner: within is inclusive",
			cfg:   Config{Within: 10 * time.Second, Type: Inner, Sides: two},
			steps: []in{e("login", "u", 0), e("transfer", "u", 10), e("transfer", "u", 11), e("transfer", "u", 9)},
			want:  []string{"10 u login0 transfer10", "9 u login0 transfer9"},
		},
		{
			name:  "inner: the order of sides in time does not matter",
			cfg:   Config{Within: 10 * time.Second, Type: Inner, Sides: two},
			steps: []in{e("transfer", "u", 1), e("login", "u", 2)},
			want:  []string{"2 u login2 transfer1"},
		},
		{
			name: "inner, three sides: max time - min time ≤ within",
			cfg:  Config{Within: 10 * time.Second, Type: Inner, Sides: three},
			steps: []in{
				e("a", "k", 0), e("b", "k", 6), e("c", "k", 10), // a0..c10 spans 10: yes
				e("a", "k", 7),  // a7 b6 c10: yes
				e("c", "k", 12), // a7 b6 c12: span 6, yes; a0: span 12, no
				wm(100),
			},
			want: []string{"10 k a0 b6 c10", "10 k a7 b6 c10", "12 k a7 b6 c12"},
		},
		{
			// At a watermark of 10 an event at 10 may still come, and
			// joins login0; past it, login0 is gone.
			name:  "events expire once the watermark passes their window",
			cfg:   Config{Within: 10 * time.Second, Type: Inner, Sides: two},
			steps: []in{e("login", "u", 0), wm(10), e("transfer", "u", 10), wm(11), e("transfer", "u", 11), e("login", "u", 3)},
			want:  []string{"10 u login0 transfer10", "late login3"},
		},
		{
			// Lateness is judged per buffer: an event up to the allowed
			// lateness behind the watermark meets every partner it would
			// have met in order, as buffers are kept that much longer.
			name: "allowed lateness: a late event joins what it would have joined in order",
			cfg:  Config{Within: 10 * time.Second, Type: Inner, Sides: two, AllowedLateness: 5 * time.Second},
			steps: []in{
				e("login", "u", 0), wm(15),
				e("transfer", "u", 10), // 5 s behind: joins login0, kept until past 15
				e("transfer", "u", 9),  // 6 s behind: late
				wm(16),
				e("login", "u", 11), // joins transfer10: |Δt| = 1
				wm(100),
			},
			want: []string{"10 u login0 transfer10", "late transfer9", "11 u login11 transfer10"},
		},
		{
			name:  "allowed lateness: an outer join's unmatched event waits for late partners",
			cfg:   Config{Within: 10 * time.Second, Type: Left, Sides: two, AllowedLateness: 5 * time.Second},
			steps: []in{e("login", "u", 0), e("login", "v", 0), wm(15), e("transfer", "v", 10), wm(16), wm(100)},
			want:  []string{"10 v login0 transfer10", "10 u login0 -"},
		},
		{
			name:  "left: an unmatched first-side event is emitted when its window closes",
			cfg:   Config{Within: 10 * time.Second, Type: Left, Sides: two},
			steps: []in{e("login", "u", 0), e("transfer", "v", 1), e("login", "v", 2), e("login", "w", 3), wm(12), wm(13), wm(100)},
			want:  []string{"2 v login2 transfer1", "10 u login0 -", "13 w login3 -"},
		},
		{
			name:  "full: both sides are preserved",
			cfg:   Config{Within: 10 * time.Second, Type: Full, Sides: two},
			steps: []in{e("login", "u", 0), e("transfer", "u", 20), e("login", "v", 1), e("transfer", "v", 2), wm(100)},
			want:  []string{"2 v login1 transfer2", "10 u login0 -", "30 u - transfer20"},
		},
		{
			name: "left, three sides: the partial match shows the partners it had",
			cfg:  Config{Within: 10 * time.Second, Type: Left, Sides: three},
			steps: []in{
				e("a", "k", 0), e("b", "k", 2), e("b", "k", 3), e("c", "k", 30),
				e("b", "x", 0), wm(100),
			},
			want: []string{"10 k a0 b3 -"},
		},
		{
			name: "full, three sides: every event is reported, unmatched ones once",
			cfg:  Config{Within: 10 * time.Second, Type: Full, Sides: three},
			steps: []in{
				e("a", "k", 0), e("b", "k", 2), e("c", "k", 5), // complete
				e("b", "k", 20), e("c", "k", 25), // partial together
				wm(100),
			},
			want: []string{"5 k a0 b2 c5", "30 k - b20 c25"},
		},
		{
			name:  "full buffers count what they cannot keep",
			cfg:   Config{Within: 10 * time.Second, Type: Inner, Sides: two, MaxPerSide: 1, MaxKeys: 1},
			steps: []in{e("login", "u", 0), e("login", "u", 1), e("transfer", "u", 2), e("login", "v", 3)},
			want:  []string{"unbuffered: side buffer full login1", "2 u login0 transfer2", "dropped: key limit login3"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := play(t, j, tc.steps)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
			if s := j.Stats(); s.Keys != 0 && tc.steps[len(tc.steps)-1].side == "" {
				t.Errorf("%d keys hold state after the last watermark", s.Keys)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Type: Inner, Sides: []string{"a", "b"}}, "within must be positive"},
		{Config{Within: time.Second, Sides: []string{"a", "b"}}, "type must be"},
		{Config{Within: time.Second, Type: Left, Sides: []string{"a"}}, "at least two sides"},
		{Config{Within: time.Second, Type: Left, Sides: []string{"a", "a"}}, `"a" appears twice`},
		{Config{Within: time.Second, Type: Left, Sides: []string{"a", "b"}, AllowedLateness: -time.Second}, "allowed lateness must not be negative"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if typ, err := ParseType("full"); err != nil || typ != Full {
		t.Errorf("ParseType(full) = %v, %v", typ, err)
	}
}

// TestRandomInnerJoinAgreesWithEnumeration checks the inner join of three
// sides against brute force over all events: the same set of combinations,
// each exactly once. Half the seeds allow 5 s of lateness and feed events
// up to that much out of order, with the watermark as far ahead as that
// allows.
func TestRandomInnerJoinAgreesWithEnumeration(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 1))
		lateness := time.Duration(0)
		if seed%2 == 1 {
			lateness = 5 * time.Second
		}
		j, _ := New(Config{Within: 10 * time.Second, Type: Inner, Sides: []string{"a", "b", "c"}, AllowedLateness: lateness})
		var evs []*event.Event
		var sides []int
		var keys []string
		var arrive []int64
		tt := int64(0)
		for i := range 150 {
			// Whole seconds half the time, so pairs fall exactly within
			// apart.
			if r.IntN(2) == 0 {
				tt += r.Int64N(4) * sec
			} else {
				tt += r.Int64N(3 * sec)
			}
			ev := &event.Event{Stream: "s", ID: fmt.Sprint(i), Time: tt, Seq: uint64(i)}
			s, k := r.IntN(3), fmt.Sprint(r.IntN(2))
			evs, sides, keys = append(evs, ev), append(sides, s), append(keys, k)
			arrive = append(arrive, tt+r.Int64N(int64(lateness)+1))
		}
		order := make([]int, len(evs))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(arrive[a], arrive[b]) })
		// Matches are read at the end: half the seeds hand Add each key as
		// a view of one buffer, overwritten after each Add, which Add must
		// not keep.
		var matches []*Match
		emit := func(m *Match) { matches = append(matches, m) }
		buf := make([]byte, 0, 8)
		for _, i := range order {
			key := keys[i]
			if seed%4 >= 2 {
				buf = append(buf[:0], key...)
				key = unsafe.String(&buf[0], len(buf))
			}
			st := j.Add(sides[i], key, evs[i], emit)
			copy(buf, "########")
			if st != Joined {
				t.Fatalf("seed %d: event %d at %d arriving at %d: %v", seed, i, evs[i].Time, arrive[i], st)
			}
			if r.IntN(10) == 0 {
				// Every event still to come arrives later, so it is at
				// most lateness behind this.
				j.Advance(arrive[i], emit)
			}
		}
		want := map[string]int{}
		for x := range evs {
			for y := range evs {
				for z := range evs {
					if sides[x] != 0 || sides[y] != 1 || sides[z] != 2 || keys[x] != keys[y] || keys[y] != keys[z] {
						continue
					}
					lo := min(evs[x].Time, evs[y].Time, evs[z].Time)
					hi := max(evs[x].Time, evs[y].Time, evs[z].Time)
					if hi-lo <= 10*sec {
						want[format(&Match{Key: keys[x], Time: hi, Events: []*event.Event{evs[x], evs[y], evs[z]}})]++
					}
				}
			}
		}
		got := map[string]int{}
		for _, m := range matches {
			got[format(m)]++
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d:\ngot  %v\nwant %v", seed, got, want)
		}
		checkBytes(t, j)
		j.Advance(1<<62, emit)
		if j.Bytes() != 0 {
			t.Fatalf("seed %d: %d bytes left after the end", seed, j.Bytes())
		}
	}
}
