package window

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// TestTouchChangesNothing feeds two aggregators of each kind the same
// events, one of them touching each batch's keys first (and keys it has
// never seen): their results, counters and memory must be the same, and
// touching must not make keys.
func TestTouchChangesNothing(t *testing.T) {
	specs := map[string]Spec{
		"sliding":  {Kind: Sliding, Size: 20 * time.Second},
		"length":   {Kind: Length, Length: 4},
		"tumbling": {Kind: Tumbling, Size: 10 * time.Second},
		"hopping":  {Kind: Hopping, Size: 10 * time.Second, Slide: 5 * time.Second},
		"session":  {Kind: Session, Gap: 5 * time.Second},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Window: spec, Measures: allMeasures, Evidence: 3}
			plain, touched := mustNew(t, cfg), mustNew(t, cfg)
			if got := touched.Touch([][]byte{[]byte("k0")}); got != 0 {
				t.Errorf("Touch of an empty aggregator = %d, want 0", got)
			}
			r := rand.New(rand.NewPCG(7, 7))
			recs := randomEvents(r, 3000)
			var want, got []string
			collect := func(out *[]string) func(*Result) {
				return func(res *Result) { *out = append(*out, format(res)) }
			}
			for start := 0; start < len(recs); start += 16 {
				batch := recs[start:min(start+16, len(recs))]
				keys := [][]byte{[]byte("never")}
				for _, rc := range batch {
					keys = append(keys, []byte(rc.key))
				}
				touched.Touch(keys)
				for i, rc := range batch {
					ev := &event.Event{ID: fmt.Sprint("e", start+i), Time: rc.t, Seq: uint64(start + i + 1)}
					for _, a := range []*Aggregator{plain, touched} {
						out := &want
						if a == touched {
							out = &got
						}
						cur, st := a.Add(rc.key, rc.t, rc.args, ev)
						if cur != nil {
							// Fire's answer depends on what it answered
							// before for the key.
							fire := cur.Fire(cur.Count%3 != 0)
							*out = append(*out, fmt.Sprintf("%v fire=%v %s", st, fire, format(cur.Result())))
						}
					}
				}
				plain.Advance(batch[len(batch)-1].t, collect(&want), nil)
				touched.Advance(batch[len(batch)-1].t, collect(&got), nil)
			}
			if len(want) == 0 {
				t.Fatal("no results: the test checks nothing")
			}
			if !slices.Equal(got, want) {
				t.Errorf("touching changed the results:\n got %q\nwant %q", got, want)
			}
			if plain.Stats() != touched.Stats() {
				t.Errorf("touching changed the counters: %+v, want %+v", touched.Stats(), plain.Stats())
			}
			if plain.Bytes() != touched.Bytes() {
				t.Errorf("touching changed the memory: %d, want %d", touched.Bytes(), plain.Bytes())
			}
		})
	}
}
