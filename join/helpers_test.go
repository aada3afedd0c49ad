package join

import "github.com/cep-project/cep/event"

// stored is a test event as restoring it from a snapshot gives it (see
// wire.Dec.Event), so that a joiner restored from a snapshot holds the
// same events, of the same estimated memory, as the one that took it.
func stored(tb interface{ Fatal(...any) }, raw string) *event.Event {
	ev, err := event.Stored([]byte(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}
