package correlate

import (
	"fmt"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

func futureEngine(t *testing.T) (*Engine, *collector, *[]string) {
	t.Helper()
	var quarantined []string
	col := &collector{}
	e, err := New(compileRules(t, `id: every
title: Every event
match: "true"
`), Config{Streams: []string{"auth"}, Quarantine: func(ev *event.Event, why string) { quarantined = append(quarantined, ev.ID) }}, col.add)
	if err != nil {
		t.Fatal(err)
	}
	return e, col, &quarantined
}

// One event stamped far in the future among ordinary ones must not move
// event time: it once made every event after it late.
func TestFarFutureEventIsQuarantined(t *testing.T) {
	e, col, q := futureEngine(t)
	for i := range 1000 {
		sec := i
		if i == 10 {
			sec = int(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - 1_700_000_000)
		}
		e.Push(ev(t, "auth", fmt.Sprintf("e%d", i), sec, ""), time.Time{})
	}
	e.Close()
	s := e.Stats()
	if s.LateDropped != 0 || s.Late != 0 {
		t.Errorf("late %d, dropped %d: the far-future event moved event time", s.Late, s.LateDropped)
	}
	if len(col.alerts) != 999 || s.Quarantined != 1 || len(*q) != 1 || (*q)[0] != "e10" {
		t.Errorf("%d alerts, %d quarantined (%v), want 999 and e10", len(col.alerts), s.Quarantined, *q)
	}
}

// A stream that resumes after a real gap moves on once a few events agree.
func TestGapIsBelievedWhenConfirmed(t *testing.T) {
	e, col, q := futureEngine(t)
	for i := range 5 {
		e.Push(ev(t, "auth", fmt.Sprintf("a%d", i), i, ""), time.Time{})
	}
	for i := range 5 {
		e.Push(ev(t, "auth", fmt.Sprintf("b%d", i), 3*3600+i, ""), time.Time{})
	}
	e.Close()
	if len(*q) != 0 || len(col.alerts) != 10 {
		t.Errorf("%d alerts, quarantined %v; want 10 and none", len(col.alerts), *q)
	}
	if got := col.ids(); got[:len("every@0")] != "every@0" {
		t.Errorf("order: %s", got)
	}
}

// In service mode the wall clock bounds event time too.
func TestEventAheadOfWallClockIsQuarantined(t *testing.T) {
	e, col, q := futureEngine(t)
	now := time.Unix(1_700_000_000, 0)
	e.Push(ev(t, "auth", "first", 2*3600, ""), now)
	e.Push(ev(t, "auth", "ok", 0, ""), now)
	e.Close()
	if len(*q) != 1 || (*q)[0] != "first" || len(col.alerts) != 1 {
		t.Errorf("quarantined %v, %d alerts; want [first] and 1", *q, len(col.alerts))
	}
}

// Suspects wait in a checkpoint like buffered events.
func TestSuspectsSurviveACheckpoint(t *testing.T) {
	e, _, _ := futureEngine(t)
	e.Push(ev(t, "auth", "a", 0, ""), time.Time{})
	e.Push(ev(t, "auth", "jump1", 7200, ""), time.Time{})
	e2, col2, q2 := futureEngine(t)
	restoreInto(t, e, e2)
	e2.Push(ev(t, "auth", "jump2", 7201, ""), time.Time{})
	e2.Push(ev(t, "auth", "jump3", 7202, ""), time.Time{})
	e2.Close()
	// a was still in the reorder buffer: it comes out of the restored one.
	if got := col2.ids(); len(*q2) != 0 || got != "every@0[a] every@7200[jump1] every@7201[jump2] every@7202[jump3]" {
		t.Errorf("after restore: %s, quarantined %v; want a and the 3 jumps", got, *q2)
	}
}
