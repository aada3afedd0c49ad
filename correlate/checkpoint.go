package correlate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
	"github.com/cep-project/cep/rules"
)

// An engine's state goes into a checkpoint as entries grouped by scope:
//
//	engine          clock: watermarks, stream clocks and the events waiting
//	                in the reorder buffer
//	rule/<id>       #version first, then the rule's detector state (k/<key>
//	                per sequence key, window, join), dedup, group, throttle
//	                and baseline/<name>
//	online          one entry per online model
//
// A rule's state is restored only into the same rule: the same id, and
// the same content hash or — when only keys that cannot alter what its
// state means changed (rules.StateKeepingKeys) — the same state version.
// #version holds "<content hash> <state version>"; a checkpoint of an
// older cep holds the content hash alone, and then only an unchanged rule
// keeps its state. A rule that changed otherwise starts empty, and the log
// says so; state of a rule that is gone is dropped. Reload moves state
// between engines through the same path.
const (
	scopeEngine  = "engine"
	scopeOnline  = "online"
	rulePrefix   = "rule/"
	keyVersion   = "#version"
	keyClock     = "clock"
	clockVersion = 1
)

// Snapshot writes the engine's whole state through put. It must be called
// between Pushes, from the goroutine that pushes; the entries then form a
// consistent cut together with the sources' positions at that moment.
func (e *Engine) Snapshot(put func(scope, key string, val []byte) error) error {
	if err := e.flushFacts(); err != nil {
		return err
	}
	if err := put(scopeEngine, keyClock, e.encodeClock()); err != nil {
		return err
	}
	for _, d := range e.dets {
		r := d.rule()
		scope := rulePrefix + r.ID
		p := func(key string, val []byte) error { return put(scope, key, val) }
		if err := p(keyVersion, []byte(versionEntry(r))); err != nil {
			return err
		}
		if err := d.snapshot(p); err != nil {
			return fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if err := e.alerts.Snapshot(r.ID, p); err != nil {
			return fmt.Errorf("rule %s: %w", r.ID, err)
		}
	}
	return e.SaveState(putStore(func(key string, val []byte) error {
		if name, ok := strings.CutPrefix(key, "online/"); ok {
			return put(scopeOnline, name, val)
		}
		// baseline/<rule>/<name> belongs to the rule's scope.
		rest, _ := strings.CutPrefix(key, "baseline/")
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			return fmt.Errorf("unexpected state key %q", key)
		}
		return put(rulePrefix+rest[:i], "baseline/"+rest[i+1:], val)
	}))
}

// putStore adapts a put function to Store for SaveState.
type putStore func(key string, val []byte) error

func (p putStore) Put(key string, val []byte) error { return p(key, val) }
func (putStore) Get(string) ([]byte, error)         { return nil, errors.New("write-only store") }

// mapStore serves LoadState from the entries of a checkpoint.
type mapStore map[string][]byte

func (m mapStore) Get(key string) ([]byte, error) { return m[key], nil }
func (m mapStore) Put(key string, val []byte) error {
	m[key] = val
	return nil
}

// Restorer reads a checkpoint back into a new engine, entry by entry, in
// the order Snapshot wrote them.
type Restorer struct {
	e       *Engine
	rules   map[string]*rules.Rule
	dets    map[string]detector
	current *rules.Rule // the rule whose scope is being read, if it matches
	skip    string      // a rule scope being skipped
	legacy  mapStore
	// Changed and Dropped name the rules whose state was not restored:
	// changed since the checkpoint, or no longer loaded.
	Changed, Dropped []string
	// Kept names the rules whose state was restored although their file
	// changed, only under keys that keep state.
	Kept []string
	// skipClock leaves the engine's clock entry alone (a reload moves
	// the clock itself).
	skipClock bool
}

// Restore starts restoring a checkpoint; call it before the first Push.
func (e *Engine) Restore() *Restorer {
	rs := &Restorer{e: e, rules: map[string]*rules.Rule{}, dets: map[string]detector{}, legacy: mapStore{}}
	e.held.restoring = map[storedEvent]*event.Event{}
	for _, d := range e.dets {
		rs.rules[d.rule().ID] = d.rule()
		rs.dets[d.rule().ID] = d
	}
	return rs
}

// Entry restores one entry.
func (rs *Restorer) Entry(scope, key string, val []byte) error {
	e := rs.e
	switch scope {
	case scopeEngine:
		if key == keyClock {
			if rs.skipClock {
				return nil
			}
			return e.decodeClock(val)
		}
		return fmt.Errorf("unknown engine state %q", key)
	case scopeOnline:
		rs.legacy["online/"+key] = val
		return nil
	}
	id, ok := strings.CutPrefix(scope, rulePrefix)
	if !ok {
		return fmt.Errorf("unknown state scope %q", scope)
	}
	if key == keyVersion {
		rs.current, rs.skip = nil, ""
		r, ok := rs.rules[id]
		switch {
		case !ok:
			rs.Dropped = append(rs.Dropped, id)
			rs.skip = id
		default:
			switch sameState(r, string(val)) {
			case stateSame:
				rs.current = r
			case stateKept:
				rs.current = r
				rs.Kept = append(rs.Kept, id)
			default:
				rs.Changed = append(rs.Changed, id)
				rs.skip = id
			}
		}
		return nil
	}
	if rs.skip == id {
		return nil
	}
	r := rs.current
	if r == nil || r.ID != id {
		return fmt.Errorf("state of rule %s without its version", id)
	}
	if name, ok := strings.CutPrefix(key, "baseline/"); ok {
		rs.legacy["baseline/"+id+"/"+name] = val
		return nil
	}
	ok, err := e.alerts.Restore(id, key, val)
	if !ok {
		err = rs.dets[id].restore(key, val)
	}
	if err != nil {
		return fmt.Errorf("state of rule %s (%s): %w", id, key, err)
	}
	return nil
}

// versionEntry is a rule's #version entry.
func versionEntry(r *rules.Rule) string {
	if r.StateVersion == "" {
		return r.Version
	}
	return r.Version + " " + r.StateVersion
}

type stateMatch int

const (
	stateFresh stateMatch = iota
	stateSame
	stateKept
)

// sameState judges a rule against the #version entry of its state.
func sameState(r *rules.Rule, entry string) stateMatch {
	version, sv, _ := strings.Cut(entry, " ")
	switch {
	case version == r.Version:
		return stateSame
	case sv != "" && sv == r.StateVersion:
		return stateKept
	}
	return stateFresh
}

// Finish completes the restore.
func (rs *Restorer) Finish() error {
	rs.e.held.restoring = nil
	// The shards' held copies of restored events are the restoring map's
	// again; their maps would keep them until the shards next run.
	for s := range rs.e.shardHeld {
		rs.e.shardHeld[s] = map[*event.Event]*event.Event{}
	}
	return rs.e.LoadState(rs.legacy)
}

func decodeEvent(d *wire.Dec) *event.Event {
	ev := &event.Event{Stream: d.Str(), ID: d.Str(), Time: d.Time(), Seq: d.Uvarint(), Line: int(d.Varint())}
	ev.Raw, ev.Fields = d.Raw("buffered event")
	return ev
}

// encodeClock writes the engine's event time: how far detectors have been
// advanced, the reorder buffer's watermark, each stream's clock and the
// events waiting to be released.
func (e *Engine) encodeClock() []byte {
	enc := &wire.Enc{B: []byte{clockVersion}}
	enc.Varint(e.detWM)
	r := e.reorder
	enc.Varint(r.wm)
	enc.Uvarint(uint64(len(r.streams)))
	for _, name := range sortedKeys(r.streams) {
		sc := r.streams[name]
		enc.Str(name)
		enc.Varint(sc.max)
		enc.Bool(sc.seen)
	}
	buffered := r.events()
	enc.Uvarint(uint64(len(buffered)))
	for _, ev := range buffered {
		enc.Event(ev)
	}
	// Suspects held back for their future time wait on.
	var pending map[string]*suspects
	if e.future != nil {
		pending = e.future.pending
	}
	enc.Uvarint(uint64(len(pending)))
	for _, s := range sortedKeys(pending) {
		enc.Str(s)
		enc.Uvarint(uint64(len(pending[s].evs)))
		for _, ev := range pending[s].evs {
			enc.Event(ev)
		}
	}
	return enc.B
}

func (e *Engine) decodeClock(b []byte) error {
	d := &wire.Dec{B: b}
	if v := d.Byte(); v != clockVersion {
		return fmt.Errorf("engine clock state version %d; this cep reads version %d", v, clockVersion)
	}
	e.detWM = d.Varint()
	r := e.reorder
	r.wm = d.Varint()
	n := d.Count(1)
	for range n {
		name := d.Str()
		sc := r.streams[name]
		if sc == nil {
			sc = r.newClock(name, 0)
		}
		sc.max = d.Varint()
		sc.seen = d.Bool()
	}
	n = d.Count(1)
	var buffered []*event.Event
	for range n {
		buffered = append(buffered, decodeEvent(d))
	}
	n = d.Count(1)
	for range n {
		stream := d.Str()
		p := &suspects{}
		for range d.Count(1) {
			p.evs = append(p.evs, decodeEvent(d))
		}
		if e.future != nil && len(p.evs) > 0 {
			e.future.pending[stream] = p
		} else {
			buffered = append(buffered, p.evs...)
		}
	}
	if d.Err != nil {
		return fmt.Errorf("engine clock state: %w", d.Err)
	}
	if len(d.B) != 0 {
		return fmt.Errorf("engine clock state: %d bytes left over", len(d.B))
	}
	r.restore(buffered)
	return nil
}

// ScopeTTL is how long a scope's state may go unchanged before it can only
// be abandoned: twice the longest span of event time its rule keeps state
// for (within, window, gap, dedup, group, throttle), plus an hour for a
// stalled source. A store that can expire state (Redis) uses it so that
// state of a rule that is gone, or of keys never seen again, does not stay
// forever. 0 means no expiry: the engine's own state and online models.
func (e *Engine) ScopeTTL(scope string) time.Duration {
	id, ok := strings.CutPrefix(scope, rulePrefix)
	if !ok {
		return 0
	}
	for _, d := range e.dets {
		if r := d.rule(); r.ID == id {
			return 2*ruleSpan(r) + time.Hour
		}
	}
	return 0
}

// ruleSpan is the longest span of event time a rule holds state for.
func ruleSpan(r *rules.Rule) time.Duration {
	span := r.Dedup
	if g := r.Group; g != nil {
		span = max(span, g.For)
	}
	if t := r.Throttle; t != nil {
		span = max(span, t.Per)
	}
	switch {
	case r.Sequence != nil:
		span = max(span, r.Sequence.Spec.Within)
		for _, st := range r.Sequence.Spec.Steps {
			span = max(span, st.For)
		}
	case r.Aggregate != nil:
		w := r.Aggregate.Spec.Window
		span = max(span, w.Size, w.Gap)
		if w.Type == "length" {
			// A length window of a quiet key is forgotten after a day.
			span = max(span, 24*time.Hour)
		}
	case r.Join != nil:
		span = max(span, r.Join.Spec.Within)
	}
	for _, b := range r.Baselines {
		span = max(span, 10*b.Params.HalfLife)
	}
	return span
}
