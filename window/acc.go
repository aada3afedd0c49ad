package window

import (
	"unsafe"

	"github.com/cep-project/cep/event"
)

// acc is the add-only state of one pane or session: what tumbling, hopping
// and session windows are made of. Panes and sessions merge, they never
// forget an event.
type acc struct {
	n    int64
	nums []numAcc
	sets []distinct
	ev   evidence
	// evBytes is the memory of the events in ev.
	evBytes int64
}

func newAcc(p *plan) acc {
	a := acc{}
	if p.nNum > 0 {
		a.nums = make([]numAcc, p.nNum)
	}
	if p.nSet > 0 {
		a.sets = make([]distinct, p.nSet)
	}
	return a
}

// add counts an event; it returns how many count_distinct values it could
// not keep (MaxDistinct).
func (a *acc) add(p *plan, args []Arg, ev *event.Event) (dropped uint64) {
	a.n++
	for i := range p.measures {
		m := &p.measures[i]
		s := p.slot[i]
		switch {
		case s < 0:
		case m.Func == CountDistinct:
			if !args[i].Missing && !a.sets[s].add(m, args[i].Str, p.maxDistinct) {
				dropped++
			}
		default:
			if x, ok := args[i].num(); ok {
				a.nums[s].add(m.Func, x)
			}
		}
	}
	a.evBytes += a.ev.add(ev, p.evidence)
	return dropped
}

// merge adds b to a; with limit it returns how many count_distinct values
// a could not keep (MaxDistinct). Merges that build a result from panes
// pass no limit: the result does not last.
func (a *acc) merge(p *plan, b *acc, limit bool) (dropped uint64) {
	a.n += b.n
	max := 0
	if limit {
		max = p.maxDistinct
	}
	for i := range p.measures {
		m := &p.measures[i]
		s := p.slot[i]
		switch {
		case s < 0:
		case m.Func == CountDistinct:
			dropped += a.sets[s].merge(m, &b.sets[s], max)
		default:
			a.nums[s].merge(m.Func, &b.nums[s])
		}
	}
	for _, ev := range b.ev {
		a.evBytes += a.ev.add(ev, p.evidence)
	}
	return dropped
}

// mem is the memory of the accumulator beside its struct: its measures'
// state and its evidence.
func (a *acc) mem() int64 {
	n := int64(cap(a.nums))*int64(unsafe.Sizeof(numAcc{})) + int64(cap(a.sets))*int64(unsafe.Sizeof(distinct{}))
	for i := range a.sets {
		n += a.sets[i].mem()
	}
	return n + a.ev.mem() + a.evBytes
}

func (a *acc) values(p *plan, dst []float64) []float64 {
	for i := range p.measures {
		m := &p.measures[i]
		s := p.slot[i]
		switch {
		case s < 0:
			dst = append(dst, float64(a.n))
		case m.Func == CountDistinct:
			dst = append(dst, a.sets[s].value())
		default:
			dst = append(dst, a.nums[s].value(m.Func))
		}
	}
	return dst
}
