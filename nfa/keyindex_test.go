package nfa

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKeyIndex holds the index to a Go map through random puts, removes
// and lookups, with few distinct keys (many removals and re-insertions in
// crowded runs of slots) and with many (growing and shrinking the table,
// and looking up, removing and listing keys while it moves).
func TestKeyIndex(t *testing.T) {
	for _, keys := range []int{8, 100, 5000, 60_000} {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(keys), 7))
			x := newKeyIndex()
			want := map[string]*KeyState{}
			moving := 0
			for step := range 200_000 {
				if x.old != nil {
					moving++
				}
				if step%20_000 == 10_000 {
					checkEach(t, &x, want)
				}
				key := fmt.Sprintf("k%d", rng.IntN(keys))
				switch op := rng.IntN(10); {
				case op < 4:
					if want[key] == nil {
						ks := &KeyState{key: key}
						x.put(ks)
						want[key] = ks
					}
				case op < 7:
					if ks := want[key]; ks != nil {
						x.remove(ks)
						delete(want, key)
					}
				default:
					if got := x.get(key); got != want[key] {
						t.Fatalf("step %d: get(%q) = %p, want %p", step, key, got, want[key])
					}
					if got := x.getBytes([]byte(key)); got != want[key] {
						t.Fatalf("step %d: getBytes(%q) = %p, want %p", step, key, got, want[key])
					}
				}
				if x.len() != len(want) {
					t.Fatalf("step %d: %d keys, want %d", step, x.len(), len(want))
				}
				// Emptied and refilled, as when most keys are removed.
				if step%50_000 == 49_999 {
					for _, ks := range want {
						x.remove(ks)
					}
					clear(want)
				}
			}
			checkEach(t, &x, want)
			if keys >= 5000 && moving == 0 {
				t.Errorf("no step while a table moved")
			}
			if n := len(x.slots); n > max(minSlots, 8*len(want)) && n > 1024 {
				t.Errorf("%d slots for %d keys", n, len(want))
			}
		})
	}
}

// checkEach checks that x.each lists the keys of want.
func checkEach(t *testing.T, x *keyIndex, want map[string]*KeyState) {
	t.Helper()
	var got, all []string
	x.each(func(ks *KeyState) { got = append(got, ks.key) })
	for k := range want {
		all = append(all, k)
	}
	slices.Sort(got)
	slices.Sort(all)
	if !slices.Equal(got, all) {
		t.Fatalf("each: %d keys, want %d", len(got), len(all))
	}
}
