package window

import "github.com/cep-project/cep/internal/timerq"

// timing is a key's place in the timer queue: the deadline of its live
// queue entry. A key has at most one live entry; when its deadline moves
// later the entry stays, and firing it early just reschedules.
type timing struct {
	at  int64
	set bool
}

func (a *Aggregator) schedule(key string, st *timing, at int64) {
	if st.set && st.at <= at {
		return
	}
	st.at, st.set = at, true
	a.tq.Push(timerq.Timer[string]{At: at, Key: key})
}
