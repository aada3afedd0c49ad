package join

import "github.com/cep-project/cep/internal/timerq"

func (j *Joiner) schedule(key string, k *keyState, at int64) {
	if k.timed && k.at <= at {
		return
	}
	k.at, k.timed = at, true
	j.tq.Push(timerq.Timer[string]{At: at, Key: key})
}
