package join

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func codecConfigs() []Config {
	return []Config{
		{Within: 10 * time.Second, Type: Full, Sides: []string{"a", "b", "c"}},
		{Within: 15 * time.Second, Type: Left, Sides: []string{"login", "transfer"}, MaxPerSide: 5},
	}
}

func drive(tb testing.TB, j *Joiner, r *rand.Rand, t0 int64, n int, log *[]string) int64 {
	tb.Helper()
	emit := func(m *Match) { *log = append(*log, format(m)) }
	t := t0
	for i := range n {
		t += r.Int64N(3 * sec)
		raw := fmt.Sprintf(`{"i":%d,"nested":{"x":[1,"two",null]}}`, i)
		ev := stored(tb, raw)
		ev.Stream, ev.ID, ev.Time, ev.Seq = "s", fmt.Sprint(t0, "-", i), t, uint64(i)
		st := j.Add(r.IntN(len(j.cfg.Sides)), fmt.Sprint("k", r.IntN(3)), ev, emit)
		*log = append(*log, st.String())
		if r.IntN(8) == 0 {
			j.Advance(t-r.Int64N(5*sec), emit)
		}
		checkBytes(tb, j)
	}
	return t
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, cfg := range codecConfigs() {
		for seed := range uint64(10) {
			a, _ := New(cfg)
			var la, lb []string
			t1 := drive(t, a, rand.New(rand.NewPCG(seed, 1)), 0, 100, &la)
			snap, _ := a.MarshalBinary()
			b, _ := New(cfg)
			if err := b.UnmarshalBinary(snap); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if again, _ := b.MarshalBinary(); !bytes.Equal(snap, again) {
				t.Fatalf("seed %d: the restored joiner encodes differently", seed)
			}
			if a.Stats() != b.Stats() {
				t.Fatalf("seed %d: stats %+v, restored %+v", seed, a.Stats(), b.Stats())
			}
			la, lb = nil, nil
			drive(t, a, rand.New(rand.NewPCG(seed, 2)), t1, 100, &la)
			drive(t, b, rand.New(rand.NewPCG(seed, 2)), t1, 100, &lb)
			a.Advance(1<<62, func(m *Match) { la = append(la, format(m)) })
			b.Advance(1<<62, func(m *Match) { lb = append(lb, format(m)) })
			if strings.Join(la, "\n") != strings.Join(lb, "\n") {
				t.Fatalf("seed %d: the restored joiner behaves differently", seed)
			}
		}
	}
}

func TestSnapshotRejects(t *testing.T) {
	cfgs := codecConfigs()
	a, _ := New(cfgs[0])
	var log []string
	drive(t, a, rand.New(rand.NewPCG(1, 1)), 0, 30, &log)
	snap, _ := a.MarshalBinary()
	b, _ := New(cfgs[1])
	if err := b.UnmarshalBinary(snap); !errors.Is(err, ErrSnapshot) {
		t.Errorf("loading into another join: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("CEPJ\x09"), snap[:len(snap)-1], append(snap[:len(snap):len(snap)], 0)} {
		if err := a.UnmarshalBinary(bad); !errors.Is(err, ErrSnapshot) {
			t.Errorf("UnmarshalBinary(%q) = %v, want ErrSnapshot", bad[:min(len(bad), 8)], err)
		}
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	cfgs := codecConfigs()
	for i, cfg := range cfgs {
		j, _ := New(cfg)
		var log []string
		drive(f, j, rand.New(rand.NewPCG(uint64(i), 3)), 0, 30, &log)
		snap, _ := j.MarshalBinary()
		f.Add(uint8(i), snap)
		// The version 1 fixture of the same configuration.
		old, err := os.ReadFile(fixtureName(i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), old)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		j, _ := New(cfgs[int(which)%len(cfgs)])
		if err := j.UnmarshalBinary(data); err != nil {
			return
		}
		if _, err := j.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		var log []string
		drive(t, j, rand.New(rand.NewPCG(1, 2)), j.Watermark()/2, 20, &log)
		j.Advance(1<<62, func(*Match) {})
	})
}

// TestSnapshotCorruption flips bytes of real snapshots: loading must fail
// cleanly or give a joiner that works, never panic or hang.
func TestSnapshotCorruption(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for i, cfg := range codecConfigs() {
		j, _ := New(cfg)
		var log []string
		drive(t, j, rand.New(rand.NewPCG(uint64(i), 3)), 0, 30, &log)
		snap, _ := j.MarshalBinary()
		for range 1000 {
			data := append([]byte(nil), snap...)
			for range 1 + r.IntN(3) {
				data[r.IntN(len(data))] = byte(r.IntN(256))
			}
			k, _ := New(cfg)
			if err := k.UnmarshalBinary(data); err != nil {
				continue
			}
			drive(t, k, rand.New(rand.NewPCG(1, 2)), k.Watermark()/2, 20, &log)
			k.Advance(1<<62, func(*Match) {})
		}
	}
}

// TestSnapshotParts splits a snapshot among joiners by key, as an engine
// splitting a rule's keys among cores does, and checks that the parts
// write back the same snapshot, count what the whole counted, and expire
// the same partial matches, merged by time and key.
func TestSnapshotParts(t *testing.T) {
	expired := 0
	for _, cfg := range codecConfigs() {
		for n := 1; n <= 3; n++ {
			whole, _ := New(cfg)
			var log []string
			drive(t, whole, rand.New(rand.NewPCG(uint64(n), 5)), 0, 100, &log)
			snap, _ := whole.MarshalBinary()
			parts := make([]*Joiner, n)
			for i := range parts {
				parts[i], _ = New(cfg)
			}
			partOf := func(key string) int { return int(key[len(key)-1]) % n }
			if err := UnmarshalParts(snap, parts, partOf); err != nil {
				t.Fatal(err)
			}
			var sum Stats
			for i, p := range parts {
				for key := range p.keys {
					if partOf(key) != i {
						t.Fatalf("%d parts: key %s in part %d", n, key, i)
					}
				}
				checkBytes(t, p)
				s := p.Stats()
				sum.Keys += s.Keys
				sum.Buffered += s.Buffered
				sum.Late += s.Late
				sum.Unbuffered += s.Unbuffered
			}
			if w := whole.Stats(); sum.Keys != w.Keys || sum.Buffered != w.Buffered || sum.Late != w.Late || sum.Unbuffered != w.Unbuffered {
				t.Fatalf("%d parts count %+v, the whole %+v", n, sum, w)
			}
			if back, _ := MarshalParts(parts); !bytes.Equal(back, snap) {
				t.Fatalf("%d parts write another snapshot", n)
			}
			var want, got []string
			whole.Advance(1<<62, func(m *Match) { want = append(want, format(m)) })
			var all []*Match
			for _, p := range parts {
				p.Advance(1<<62, func(m *Match) { all = append(all, m) })
			}
			slices.SortStableFunc(all, CompareMatches)
			for _, m := range all {
				got = append(got, format(m))
			}
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Fatalf("%d parts expire other matches than the whole (%d)", n, len(want))
			}
			expired += len(want)
		}
	}
	if expired == 0 {
		t.Fatal("no partial match expired: the test proves nothing")
	}
}
