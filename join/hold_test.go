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
