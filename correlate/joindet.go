package correlate

import (
	"fmt"
	"strconv"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/join"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// joinDet is a `join:` rule: CEL computes each side's where and key;
// join.Joiner buffers the sides and finds the combinations.
type joinDet struct {
	e      *Engine
	r      *rules.Rule
	j      *join.Joiner
	keyBuf []byte
}

func (e *Engine) newJoin(r *rules.Rule) (*joinDet, error) {
	return e.newJoinWith(r, e.cfg.Limits.MaxKeys, e.holder(r))
}

// newJoinWith is newJoin with a bound on keys and what holds buffered
// events (see hold.go) of the caller's.
func (e *Engine) newJoinWith(r *rules.Rule, maxKeys int, hold func(*event.Event) *event.Event) (*joinDet, error) {
	spec := r.Join.Spec
	typ, err := join.ParseType(spec.Type)
	if err != nil {
		return nil, err
	}
	// Buffers wait the allowed lateness longer, so an event that late
	// still meets every partner it would have met in order.
	cfg := join.Config{Within: spec.Within, Type: typ, MaxPerSide: e.cfg.Limits.MaxJoinBuffer, MaxKeys: maxKeys,
		AllowedLateness: e.cfg.AllowedLateness, MaxMatchesPerEvent: e.cfg.Limits.MaxJoinMatches}
	for _, s := range r.Join.Sides {
		cfg.Sides = append(cfg.Sides, s.Name)
	}
	d := &joinDet{e: e, r: r}
	cfg.Hold = hold
	if d.j, err = join.New(cfg); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *joinDet) rule() *rules.Rule               { return d.r }
func (d *joinDet) constraints() []rules.Constraint { return nil }
func (d *joinDet) timed() bool                     { return true }

func (d *joinDet) process(ev *event.Event, _ *celenv.Scores) {
	for i, side := range d.r.Join.Sides {
		var ok bool
		if d.keyBuf, ok = d.sideKey(i, ev, d.keyBuf); !ok {
			continue
		}
		st := d.j.Add(i, viewString(d.keyBuf), ev, d.emit)
		if d.e.explaining(d.r) {
			d.e.explainf(d.r, "side %s of key %s: %s", side.Name, d.keyBuf, st)
		}
		d.added(ev, st)
	}
}

// sideKey appends to buf the key of ev on side i, and reports whether ev
// is on that side: of its stream, where true, with a key.
func (d *joinDet) sideKey(i int, ev *event.Event, buf []byte) ([]byte, bool) {
	side := &d.r.Join.Sides[i]
	if side.Stream != "" && side.Stream != ev.Stream {
		return buf, false
	}
	if side.Where != nil && !side.Where.Test(rules.EventActivation{Ev: ev}) {
		if d.e.explaining(d.r) {
			d.e.explainf(d.r, "side %s: where is false", side.Name)
		}
		return buf, false
	}
	vals, ok := d.e.partitionKey(d.r, ev, func(ev *event.Event, act *rules.Activation, buf []any) ([]any, rules.KeyStatus) {
		return d.r.SideKeyOf(i, ev, act, buf)
	})
	if !ok {
		return buf, false
	}
	return encodeKey(buf[:0], vals), true
}

// added counts an event Add did not buffer.
func (d *joinDet) added(ev *event.Event, st join.Status) {
	switch st {
	case join.Late:
		d.e.lateInWindow(d.r, ev)
	case join.DroppedKey, join.Unbuffered:
		d.e.shed(d.r, ev, st.String())
	}
}

func (d *joinDet) advance(wm int64) { d.j.Advance(wm, d.emit) }

func (d *joinDet) snapshot(put func(string, []byte) error) error {
	b, err := d.j.MarshalBinary()
	if err != nil {
		return err
	}
	return put("join", b)
}

func (d *joinDet) restore(key string, val []byte) error {
	if key != "join" {
		return fmt.Errorf("a join rule has no state %q", key)
	}
	return d.j.UnmarshalBinary(val)
}

func (d *joinDet) emit(m *join.Match) {
	key := decodeKey(d.r.KeyNames, m.Key)
	act := &d.e.act
	act.Reset()
	var evidence []alert.Evidence
	var last *event.Event
	for i, ev := range m.Events {
		name := d.r.Join.Sides[i].Name
		if ev != nil {
			// The event being added is itself, not a held copy, and may
			// be in its decoder's slab, released once dispatched: the
			// alert, its fields and facts are of a copy.
			ev = ev.Thaw().Detach()
		}
		act.BindEventOrNull(name, ev)
		if ev == nil {
			continue
		}
		evidence = append(evidence, alert.Evidence{Step: name, Event: ev})
		if last == nil || last.Before(ev) {
			last = ev
		}
	}
	if last != nil {
		act.BindEvent(last)
	}
	complete := m.Complete()
	a := d.e.newAlert(d.r, key, m.Time, evidence, act, strconv.FormatBool(complete))
	if !complete {
		var missing []any
		for i, ev := range m.Events {
			if ev == nil {
				missing = append(missing, d.r.Join.Sides[i].Name)
			}
		}
		a.Fields["missing_sides"] = missing
	}
	d.e.emit(d.r, a, m.Key)
}

func (d *joinDet) stateBytes() int64     { return d.j.Bytes() }
func (d *joinDet) shed(target int64) int { return d.j.Shed(target) }
