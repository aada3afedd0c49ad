package correlate

import (
	"fmt"
	"slices"

	"github.com/cep-project/cep/rules"
)

// ReloadReport says what a reload did with each rule's state.
type ReloadReport struct {
	// Same: the rule file did not change; its state was kept.
	Same []string
	// Kept: the file changed only under keys that keep state
	// (rules.StateKeepingKeys); its state was kept.
	Kept []string
	// Fresh: the file changed elsewhere; its state started empty.
	Fresh []string
	// Added rules start empty; Removed rules' state was released.
	Added, Removed []string
}

// carried are the counters an engine inherits from the engines it
// replaced, so that totals derived from detector state (which a reload
// rebuilds) never go backwards.
type carried struct {
	partialsDropped, partialsExpired, deduped uint64
}

// Reload returns a new engine that runs rs with e's configuration and
// carries on from e's state: the reorder buffer, watermarks and the
// events held for their future time move over as they are, and each
// rule's state moves through the checkpoint path (Snapshot, then a
// Restorer entry by entry), judged as a restore judges it — an unchanged
// rule and a rule changed only under rules.StateKeepingKeys keep their
// state, any other change starts empty, a removed rule's state is
// released. Online models keep their state. Counters carry on.
//
// Like Snapshot, it must be called between Pushes, from the goroutine
// that pushes; e must not be used afterwards. On error e is untouched and
// keeps running.
func (e *Engine) Reload(rs []*rules.Rule) (*Engine, *ReloadReport, error) {
	ne, err := newEngine(rs, e.cfg, e.out)
	if err != nil {
		return nil, nil, err
	}
	before := e.Stats()
	// The packers and their dictionaries carry on: the state that moves
	// over is packed again with them, and their counts go on.
	ne.packers = e.packers
	ne.packing.Store(e.packing.Load())
	r := ne.Restore()
	r.skipClock = true
	err = e.Snapshot(func(scope, key string, val []byte) error {
		// Snapshot may reuse its buffers; restored state may keep what
		// it is given.
		return r.Entry(scope, key, slices.Clone(val))
	})
	if err == nil {
		err = r.Finish()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("moving state to the new rules: %w", err)
	}
	// The clock moves as it is: idle marks and the wall time of each
	// stream's last event are not in a snapshot, and must not be lost.
	ne.reorder, ne.future, ne.detWM = e.reorder, e.future, e.detWM
	for _, s := range ne.cfg.Streams {
		ne.reorder.declare(s)
	}
	ne.stats = e.stats
	e.foldEvaluated()
	for id, st := range e.ruleStats {
		if cur := ne.ruleStats[id]; cur != nil {
			*cur = *st
		}
	}
	for _, nr := range rs {
		if old := e.byID[nr.ID]; old != nil {
			nr.Health.Carry(old.Health)
		}
	}
	after := ne.Stats()
	ne.carried = carried{
		partialsDropped: before.PartialsDropped - min(before.PartialsDropped, after.PartialsDropped),
		partialsExpired: before.PartialsExpired - min(before.PartialsExpired, after.PartialsExpired),
		deduped:         before.Deduped - min(before.Deduped, after.Deduped),
	}
	ne.announce()
	return ne, reportOf(e, ne, r), nil
}

func reportOf(old, ne *Engine, r *Restorer) *ReloadReport {
	rep := &ReloadReport{Kept: r.Kept, Fresh: r.Changed}
	for _, d := range old.dets {
		if _, ok := ne.byID[d.rule().ID]; !ok {
			rep.Removed = append(rep.Removed, d.rule().ID)
		}
	}
	for _, d := range ne.dets {
		id := d.rule().ID
		switch {
		case old.byID[id] == nil:
			rep.Added = append(rep.Added, id)
		case !slices.Contains(rep.Kept, id) && !slices.Contains(rep.Fresh, id):
			rep.Same = append(rep.Same, id)
		}
	}
	return rep
}
