package join

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// BenchmarkJoin: logins joined with transfers within 15 minutes over
// 100,000 users, each user with about 3 events in a window. Each event owns
// a 200-byte raw line and eight fields, as decoded events do (their
// allocation is part of ns/op); est-bytes/key is the joiner's own estimate
// (Bytes), bytes/key what the heap grew by.
//
//	go test ./join -run XXX -bench Join -benchmem -cpu 1
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
	raw := []byte(`{"ts":"2026-03-02T08:00:00.000Z","type":"login","user":"user-000001","ip":"10.0.0.1","country":"DE","device":"d-0000000001","outcome":"success","amount":1234.56,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	j, _ := New(Config{Within: 15 * time.Minute, Type: Left, Sides: []string{"login", "transfer"}, MaxPerSide: 100})
	matches := 0
	emit := func(*Match) { matches++ }
	step := int64(3 * time.Millisecond)
	i := 0
	add := func() {
		x := i & (n - 1)
		// A fresh event each time, as the decoder gives the engine; the
		// joiner keeps pointers to them.
		ev := &event.Event{Stream: "s", Time: int64(i) * step, Seq: uint64(i),
			Raw: append([]byte(nil), raw...), Fields: make([]event.Field, 8)}
		j.Add(int(side[x]), keys[key[x]], ev, emit)
		if i&1023 == 0 {
			j.Advance(ev.Time, emit)
		}
		i++
	}
	// Fill the windows to steady state first (15 minutes of events).
	before := heapInUse()
	for range 300_000 {
		add()
	}
	after := heapInUse()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		add()
	}
	b.StopTimer()
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	s := j.Stats()
	b.ReportMetric(float64(matches)/float64(300_000+b.N), "matches/event")
	b.ReportMetric(float64(s.Keys), "keys")
	b.ReportMetric(float64(j.Bytes())/float64(s.Keys), "est-bytes/key")
	if after > before {
		b.ReportMetric(float64(after-before)/float64(s.Keys), "bytes/key")
	}
	runtime.KeepAlive(j)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
