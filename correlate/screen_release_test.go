//go:build !race

// Under the race detector sync.Pool drops what it is given at random, so
// a slab may be allocated again however promptly it was released.

package correlate

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// TestScreenedOutReleased: the events a screen turns away are released
// once the engine has passed them, so that their decoder reuses their
// slabs: in a steady run they take no allocation. (A slab holds 32
// events in two allocations: without releases, one in sixteen events
// would allocate.)
func TestScreenedOutReleased(t *testing.T) {
	rs := compileRules(t, screenRules...)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	d := event.Decoder{Stream: "payments", Project: rules.Projection(rs, "payments")}
	d.SetScreen(e.Screens()("payments"))
	const n = 4096
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `{"id":"e%d","ts":%d,"card":"c%d","merchant":"m-x%d","amount":5.5,"geo":{"city":"Porto"}}`, i, 1_700_000_000+i, i%7, i%50)
	}
	i := 0
	push := func() {
		ev, err := d.Decode(lines[i%n])
		if err != nil {
			t.Fatal(err)
		}
		ev.Time = int64(i) * int64(time.Second) // rising as the lines repeat
		e.Push(ev, time.Time{})
		i++
	}
	for range n {
		push()
	}
	// testing.AllocsPerRun rounds down to whole allocations per run.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		push()
	}
	runtime.ReadMemStats(&after)
	if allocs := float64(after.Mallocs-before.Mallocs) / n; allocs > 0.01 {
		t.Errorf("%.3f allocations per event screened out, want none", allocs)
	}
	if only, _ := d.Screened(); only < 2*n {
		t.Fatalf("%d events screened out, want every one", only)
	}
}
