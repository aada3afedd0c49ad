package facts_test

import (
	"fmt"
	"time"

	"github.com/cep-project/cep/facts"
)

// A set fact lasts its ttl from the event time it was written at, and is
// judged at the event time of the question.
func ExampleMemory() {
	m := facts.NewMemory()
	login := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	m.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: "alice", Value: "d1", At: login.UnixNano(), TTL: 90 * 24 * time.Hour})
	m.Remember(facts.Write{Kind: facts.Hash, Name: "card_last_country", Key: "c1", Value: "FR", At: login.UnixNano(), TTL: 30 * 24 * time.Hour})

	seen := func(after time.Duration) bool {
		ok, _ := m.Seen("known_devices", "alice", "d1", login.Add(after).UnixNano())
		return ok
	}
	fmt.Println(seen(time.Hour), seen(89*24*time.Hour), seen(90*24*time.Hour))
	country, ok, _ := m.Fact("card_last_country", "c1", login.Add(time.Hour).UnixNano())
	fmt.Println(country, ok)
	// Output:
	// true true false
	// FR true
}
