package correlate

import (
	"fmt"
	"testing"
	"time"
)

// A stream that holds event time back (declared, silent, not yet idle)
// must not make the reorder buffer hold memory without bound: past its
// byte budget the oldest events go on, counted.
func TestReorderBufferIsBoundedInBytes(t *testing.T) {
	rs := compileRules(t, "id: all\ntitle: all\nmatch: \"true\"\n")
	col := &collector{}
	const budget = 64 << 10
	e, err := New(rs, Config{Streams: []string{"fast", "silent"}, MaxBufferBytes: budget}, col.add)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		now := time.Unix(1_700_000_000+int64(i), 0)
		e.Push(ev(t, "fast", fmt.Sprintf("e%d", i), i, `"pad":"`+fmt.Sprintf("%0100d", i)+`"`), now)
		if b := e.Stats().BufferedBytes; b > budget {
			t.Fatalf("after %d events the buffer holds %d bytes, over its %d", i, b, budget)
		}
	}
	s := e.Stats()
	if s.ReleasedEarly == 0 || len(col.alerts) == 0 {
		t.Fatalf("released early %d, alerts %d: nothing went on", s.ReleasedEarly, len(col.alerts))
	}
	e.Close()
	if len(col.alerts) != 5000 || e.Stats().LateDropped != 0 {
		t.Errorf("%d alerts, %d dropped; want every event once", len(col.alerts), e.Stats().LateDropped)
	}
}
