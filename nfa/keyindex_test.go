package nfa

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKeyIndex holds the index to a Go map through random puts, removes
// and lookups, with few distinct keys (many removals and re-insertions in
// crowded runs of slots) and with many (growing and shrinking the table).
func TestKeyIndex(t *testing.T) {
	for _, keys := range []int{8, 100, 5000} {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(keys), 7))
			x := newKeyIndex()
			want := map[string]*KeyState{}
			for step := range 200_000 {
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
			if n := len(x.slots); n > max(minSlots, 8*len(want)) && n > 1024 {
				t.Errorf("%d slots for %d keys", n, len(want))
			}
		})
	}
}
