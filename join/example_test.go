package join_test

import (
	"fmt"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/join"
)

// A login joined with a large transfer of the same user within 15 minutes.
// As a left join, a login that no transfer followed is reported too when
// its window closes, with the transfer side nil.
func ExampleJoiner() {
	j, err := join.New(join.Config{Within: 15 * time.Minute, Type: join.Left, Sides: []string{"login", "transfer"}})
	if err != nil {
		panic(err)
	}
	show := func(m *join.Match) {
		fmt.Printf("minute %d, %s: login %v, transfer %v\n", m.Time/int64(time.Minute), m.Key, id(m.Events[0]), id(m.Events[1]))
	}
	at := func(m int) int64 { return int64(m) * int64(time.Minute) }
	j.Add(0, "alice", &event.Event{ID: "l1", Time: at(0)}, show)
	j.Add(0, "bob", &event.Event{ID: "l2", Time: at(2)}, show)
	j.Add(1, "alice", &event.Event{ID: "t1", Time: at(9)}, show)
	j.Advance(at(60), show)
	// Output:
	// minute 9, alice: login l1, transfer t1
	// minute 17, bob: login l2, transfer <nil>
}

func id(ev *event.Event) any {
	if ev == nil {
		return nil
	}
	return ev.ID
}
