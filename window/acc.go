package window

import "github.com/cep-project/cep/event"

// acc is the add-only state of one pane or session: what tumbling, hopping
// and session windows are made of. Panes and sessions merge, they never
// forget an event.
type acc struct {
	n    int64
	nums []numAcc
	sets []distinct
	ev   evidence
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

func (a *acc) add(p *plan, args []Arg, ev *event.Event) {
	a.n++
	for i := range p.measures {
		m := &p.measures[i]
		s := p.slot[i]
		switch {
		case s < 0:
		case m.Func == CountDistinct:
			if !args[i].Missing {
				a.sets[s].add(m, args[i].Str)
			}
		default:
			if x, ok := args[i].num(); ok {
				a.nums[s].add(m.Func, x)
			}
		}
	}
	a.ev.add(ev, p.evidence)
}

func (a *acc) merge(p *plan, b *acc) {
	a.n += b.n
	for i := range p.measures {
		m := &p.measures[i]
		s := p.slot[i]
		switch {
		case s < 0:
		case m.Func == CountDistinct:
			a.sets[s].merge(m, &b.sets[s])
		default:
			a.nums[s].merge(m.Func, &b.nums[s])
		}
	}
	for _, ev := range b.ev {
		a.ev.add(ev, p.evidence)
	}
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
