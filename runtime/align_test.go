package runtime

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/source"
)

// batches makes one batch per event time (seconds), with positions, and
// a last batch with End.
func batches(src string, secs ...int64) []source.Batch {
	var out []source.Batch
	for _, s := range secs {
		ev := &event.Event{Time: s * int64(time.Second)}
		out = append(out, source.Batch{Source: src, Events: []*event.Event{ev}, Pos: []byte{1}})
	}
	return append(out, source.Batch{Source: src, End: true})
}

// runAligned sends each source's batches as fast as the aligner takes
// them and returns the event times in the order they were handed on.
func runAligned(t *testing.T, al *aligner, srcs map[string][]source.Batch) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make(chan source.Batch)
	var wg sync.WaitGroup
	for name, bs := range srcs {
		in := make(chan source.Batch)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for _, b := range bs {
				select {
				case in <- b:
				case <-ctx.Done():
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			al.forward(ctx, name, in, out)
		}()
	}
	var got []string
	for ended := 0; ended < len(srcs); {
		select {
		case b := <-out:
			if b.End {
				ended++
				continue
			}
			got = append(got, fmt.Sprintf("%s@%d", b.Source, b.Events[0].Time/int64(time.Second)))
		case <-ctx.Done():
			t.Fatalf("sources stuck after %v", got)
		}
	}
	cancel()
	wg.Wait()
	return got
}

// TestAlignerHoldsBackAFastSource: a source far ahead in event time waits
// for the other, so what reaches the engine is close to event-time order
// whatever the speed of reading.
func TestAlignerHoldsBackAFastSource(t *testing.T) {
	al := newAligner(5*time.Second, time.Hour, time.Now)
	got := runAligned(t, al, map[string][]source.Batch{
		"a": batches("a", 0, 10, 20, 30, 40, 50),
		"b": batches("b", 1, 11, 21, 31, 41, 51),
	})
	checkAligned(t, got, 5)
	if len(got) != 12 {
		t.Fatalf("got %d events, want 12: %v", len(got), got)
	}
}

// TestAlignerGapsDoNotDeadlock: a source whose next event is far in the
// future does not stop the others, and they do not stop it.
func TestAlignerGapsDoNotDeadlock(t *testing.T) {
	al := newAligner(time.Second, time.Hour, time.Now)
	got := runAligned(t, al, map[string][]source.Batch{
		"a": batches("a", 0, 1, 1000, 1001),
		"b": batches("b", 50, 60, 70),
		"c": batches("c", 5000),
	})
	if len(got) != 8 {
		t.Fatalf("got %d events, want 8: %v", len(got), got)
	}
	checkAligned(t, got, 1)
}

// checkAligned checks that, once every source has been seen (a source
// seen in no batch yet holds nobody back), no event was handed on while
// an event of another source more than skew seconds earlier was still to
// come.
func checkAligned(t *testing.T, got []string, skew int64) {
	t.Helper()
	parse := func(g string) (src string, sec int64) {
		fmt.Sscanf(g, "%1s@%d", &src, &sec)
		return src, sec
	}
	first := map[string]int{}
	for i, g := range got {
		if src, _ := parse(g); first[src] == 0 {
			first[src] = i + 1
		}
	}
	start := 0
	for _, i := range first {
		start = max(start, i-1)
	}
	for i := start; i < len(got); i++ {
		src, sec := parse(got[i])
		for _, later := range got[i+1:] {
			if s2, sec2 := parse(later); s2 != src && sec2+skew < sec {
				t.Fatalf("%s handed on before %s: %v", got[i], later, got)
			}
		}
	}
}

// TestAlignerIdleSourceReleases: a source that hands on nothing for the
// idle timeout stops holding the others back; live batches (no position)
// are never held.
func TestAlignerIdleSourceReleases(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(0, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	al := newAligner(time.Second, time.Minute, clock)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan source.Batch, 10)
	slowIn, fastIn, liveIn := make(chan source.Batch, 1), make(chan source.Batch, 1), make(chan source.Batch, 1)
	go al.forward(ctx, "slow", slowIn, out)
	go al.forward(ctx, "fast", fastIn, out)
	go al.forward(ctx, "live", liveIn, out)
	next := func(within time.Duration) (source.Batch, bool) {
		select {
		case b := <-out:
			return b, true
		case <-time.After(within):
			return source.Batch{}, false
		}
	}
	slowIn <- batches("slow", 0)[0]
	if b, ok := next(5 * time.Second); !ok || b.Source != "slow" {
		t.Fatalf("first batch: %+v", b)
	}
	fastIn <- batches("fast", 100)[0]
	liveIn <- source.Batch{Source: "live", Events: []*event.Event{{Time: 200 * int64(time.Second)}}}
	if b, ok := next(5 * time.Second); !ok || b.Source != "live" {
		t.Fatalf("a live batch was held back, or another went first: %+v", b)
	}
	if b, ok := next(100 * time.Millisecond); ok {
		t.Fatalf("a batch 100 s ahead went on while the slow source is not idle: %+v", b)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if b, ok := next(5 * time.Second); !ok || b.Source != "fast" {
		t.Fatalf("the idle source still holds the fast one back: %+v", b)
	}
}

// TestAlignerHoldsBackALaneSource: a source whose batches move lanes on
// (Kafka's partitions) can resume, and is aligned like a file.
func TestAlignerHoldsBackALaneSource(t *testing.T) {
	al := newAligner(5*time.Second, time.Hour, time.Now)
	lanes := batches("k", 0, 10, 20, 30, 40, 50)
	for i := range lanes {
		if !lanes[i].End {
			lanes[i].Pos, lanes[i].Lanes = nil, source.Positions{"t/0": {1}}
		}
	}
	got := runAligned(t, al, map[string][]source.Batch{"k": lanes, "b": batches("b", 1, 11, 21, 31, 41, 51)})
	checkAligned(t, got, 5)
	if len(got) != 12 {
		t.Fatalf("got %d events, want 12: %v", len(got), got)
	}
}

// TestAlignerPositionsOnlyBatch: a batch that only moves positions on
// (a Kafka source's partitions at start) does not hold the others back.
func TestAlignerPositionsOnlyBatch(t *testing.T) {
	al := newAligner(time.Second, time.Hour, time.Now)
	k := []source.Batch{{Source: "k", Lanes: source.Positions{"t/0": {1}}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kin, out := make(chan source.Batch, 1), make(chan source.Batch, 16)
	kin <- k[0]
	go al.forward(ctx, "k", kin, out)
	if b := <-out; len(b.Lanes) != 1 {
		t.Fatalf("first batch %+v", b)
	}
	got := runAligned(t, al, map[string][]source.Batch{"b": batches("b", 1, 100, 200)})
	if len(got) != 3 {
		t.Fatalf("a positions-only batch held the other source back: %v", got)
	}
}
