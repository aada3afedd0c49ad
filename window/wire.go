package window

import (
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// enc and dec add the window's evidence and results to the snapshot
// encoding.
type enc struct{ wire.Enc }

type dec struct {
	wire.Dec
	hold func(*event.Event) *event.Event // Config.Hold
}

func (e *enc) events(evs []*event.Event) {
	e.Uvarint(uint64(len(evs)))
	for _, ev := range evs {
		e.Event(ev)
	}
}

func (e *enc) results(rs []*Result) {
	e.Uvarint(uint64(len(rs)))
	for _, r := range rs {
		e.Str(r.Key)
		e.Varint(r.Start)
		e.Varint(r.End)
		e.Uvarint(uint64(len(r.Values)))
		for _, v := range r.Values {
			e.Float(v)
		}
		e.Varint(r.Count)
		e.events(r.Evidence)
		e.Uvarint(uint64(r.Revision))
		e.results(r.Corrects)
	}
}

func (d *dec) events() []*event.Event {
	n := d.Count(wire.EventMinBytes)
	var out []*event.Event
	for i := 0; i < n && d.Err == nil; i++ {
		ev := d.Event("evidence event")
		// Equal is in order: a source numbering its events afresh after
		// a restart may give a new event the time and number of one kept.
		if i > 0 && ev.Before(out[i-1]) {
			d.Fail("evidence out of order")
		}
		if d.hold != nil {
			ev = d.hold(ev)
		}
		out = append(out, ev)
	}
	return out
}

func (d *dec) results(depth int) []*Result {
	n := d.Count(8)
	var out []*Result
	for i := 0; i < n && d.Err == nil; i++ {
		r := &Result{Key: d.Str(), Start: d.Time(), End: d.Time()}
		r.Values = make([]float64, d.Count(8))
		for j := range r.Values {
			r.Values[j] = d.Float()
		}
		r.Count = d.Varint()
		r.Evidence = d.events()
		r.Revision = int(d.Uvarint())
		if depth > 0 {
			r.Corrects = d.results(depth - 1)
		} else if d.Count(8) != 0 {
			d.Fail("corrections nested too deep")
		}
		r.keepEvidence()
		out = append(out, r)
	}
	return out
}
