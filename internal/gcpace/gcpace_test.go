package gcpace

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 200},
		{1, 200},
		{32 * mib, 200},
		{96 * mib, 200},
		{120 * mib, 160},
		{144 * mib, 133},
		{192 * mib, 100},
		{200 * mib, 100},
		{8 << 30, 100},
	} {
		if got := Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tc.live/mib, got, tc.want)
		}
	}
}

// TestStartFollowsLiveHeap holds a live heap past Headroom and lets it go,
// and watches the process's GOGC follow.
func TestStartFollowsLiveHeap(t *testing.T) {
	Start(func(string) string { return "" })
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	await := func(want uint64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			runtime.GC()
			metrics.Read(gogc)
			if got := gogc[0].Value.Uint64(); got == want {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("GOGC = %d, want %d", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	await(MaxPercent)
	held := make([]byte, Headroom+Headroom/4)
	await(MinPercent)
	runtime.KeepAlive(held) // and no longer: the next collections free it
	await(MaxPercent)
}
