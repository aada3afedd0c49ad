package join

import (
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// The buffers keep what Hold returns; an event's own combinations, made as
// it arrives, hold the event itself.
func TestHoldKeepsTheCopyInTheBuffer(t *testing.T) {
	copies := map[string]*event.Event{}
	j, err := New(Config{Within: time.Hour, Type: Inner, Sides: []string{"a", "b"}, Hold: func(ev *event.Event) *event.Event {
		c := *ev
		copies[ev.ID] = &c
		return &c
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got []*Match
	emit := func(m *Match) { got = append(got, m) }
	a1 := &event.Event{ID: "a1", Time: 1}
	b1 := &event.Event{ID: "b1", Time: 2}
	b2 := &event.Event{ID: "b2", Time: 3}
	j.Add(0, "k", a1, emit)
	j.Add(1, "k", b1, emit)
	j.Add(1, "k", b2, emit)
	if len(got) != 2 {
		t.Fatalf("%d matches, want 2", len(got))
	}
	for i, m := range got {
		if m.Events[0] != copies["a1"] {
			t.Errorf("match %d holds a1 itself, not the buffer's copy", i)
		}
	}
	if got[0].Events[1] != b1 || got[1].Events[1] != b2 {
		t.Error("the arriving event's own combination holds a copy")
	}
	if len(copies) != 3 {
		t.Errorf("%d events held, want 3", len(copies))
	}
}

// Restored buffers keep what Hold returns too, so that a restart does not
// bring back the memory holding saved.
func TestRestoreHoldsBufferedEvents(t *testing.T) {
	cfg := Config{Within: time.Hour, Type: Inner, Sides: []string{"a", "b"}}
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a1 := stored(t, `{"k":1}`)
	a1.ID, a1.Time = "a1", 1
	first.Add(0, "k", a1, func(*Match) {})
	snap, err := first.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	copies := map[string]*event.Event{}
	cfg.Hold = func(ev *event.Event) *event.Event {
		c := *ev
		copies[ev.ID] = &c
		return &c
	}
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if len(copies) != 1 || copies["a1"] == nil {
		t.Fatalf("Hold asked for %v after the restore, want a1", copies)
	}
	var got []*Match
	second.Add(1, "k", &event.Event{ID: "b1", Time: 2}, func(m *Match) { got = append(got, m) })
	if len(got) != 1 || got[0].Events[0] != copies["a1"] {
		t.Errorf("matches %v: a1 is not the copy Hold returned", got)
	}
}
