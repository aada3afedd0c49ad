package join

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// BenchmarkJoin: logins joined with transfers within 15 minutes over
// 100,000 users, each user with about 3 events in a window.
func BenchmarkJoin(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const nKeys, n = 100_000, 1 << 20
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%06d", i)
	}
	key := make([]int32, n)
	side := make([]uint8, n)
	for i := range key {
		key[i], side[i] = int32(r.IntN(nKeys)), uint8(r.IntN(2))
	}
	j, _ := New(Config{Within: 15 * time.Minute, Type: Left, Sides: []string{"login", "transfer"}, MaxPerSide: 100})
	matches := 0
	emit := func(*Match) { matches++ }
	step := int64(3 * time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		x := i & (n - 1)
		// A fresh event each time, as the decoder gives the engine; the
		// joiner keeps pointers to them.
		ev := &event.Event{Stream: "s", Time: int64(i) * step, Seq: uint64(i)}
		j.Add(int(side[x]), keys[key[x]], ev, emit)
		if i&1023 == 0 {
			j.Advance(ev.Time, emit)
		}
	}
	b.ReportMetric(float64(matches)/float64(b.N), "matches/event")
}
