package nfa

import (
	"fmt"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// admit checks a state decoded by UnmarshalBinary against the NFA before
// its first use, and counts it in Stats. Decoded states carry the
// fingerprint with its low bit cleared; compiled ones have it set.
func (m *Matcher) admit(key string, ks *KeyState) error {
	if ks.fp != m.fp&^1 {
		return fmt.Errorf("nfa: state of key %q was saved by a different pattern than %s", key, m.nfa)
	}
	bad := func(what string) error {
		return fmt.Errorf("nfa: state of key %q does not fit pattern %s: %s", key, m.nfa, what)
	}
	seen := map[*node]bool{}
	// The first node of each event carries its memory, as if the events
	// had been taken in one step each.
	charged := map[*event.Event]bool{}
	// Restored events are held as taken ones are (Options.Hold), one copy
	// for every node that shares an event.
	held := map[*event.Event]*event.Event{}
	var bytes int64
	check := func(p partial, done bool) error {
		if int(p.state) >= len(m.nfa.states) {
			return bad("unknown state")
		}
		k := m.nfa.states[p.state].kind
		if !done && k != kindNormal && k != kindPending {
			return bad("a partial match in a terminal state")
		}
		for x := p.node; x != nil && !seen[x]; x = x.prev {
			if int(x.step) >= len(m.nfa.steps) {
				return bad("an event of an unknown step")
			}
			seen[x] = true
			if m.hold != nil {
				h, ok := held[x.ev]
				if !ok {
					h = m.hold(x.ev)
					held[x.ev] = h
				}
				x.ev = h
			}
			x.charge = 0
			if !charged[x.ev] {
				charged[x.ev] = true
				x.charge = sizeClass(wire.MemSize(x.ev))
				bytes += classBytes(x.charge)
			}
		}
		return nil
	}
	for i := range ks.parts {
		if err := check(ks.parts[i], false); err != nil {
			return err
		}
		ks.parts[i].deadline = m.deadlineOf(&ks.parts[i])
	}
	for _, c := range ks.heldMatches() {
		if err := check(c.p, true); err != nil {
			return err
		}
	}
	ks.key = key
	ks.fp = m.fp
	// Keep explain ids unique after a restore.
	for _, p := range ks.parts {
		m.nextID = max(m.nextID, p.id)
	}
	for _, c := range ks.heldMatches() {
		m.nextID = max(m.nextID, c.p.id)
	}
	m.stats.Keys++
	m.stats.Partials += len(ks.parts)
	m.stats.Held += ks.heldLen()
	m.stats.Nodes += len(seen)
	m.evBytes += bytes
	return nil
}

// Restore loads a key state saved with KeyState.MarshalBinary into the
// matcher's store, replacing any state the key has.
func (m *Matcher) Restore(data []byte) error {
	ks := new(KeyState)
	if err := ks.UnmarshalBinary(data); err != nil {
		return err
	}
	key := ks.key
	if old, err := m.load(key); err != nil {
		return err
	} else if old != nil {
		m.forget(old)
		if err := m.store.Delete(key); err != nil {
			return fmt.Errorf("nfa: delete state of key %q: %w", key, err)
		}
	}
	if err := m.admit(key, ks); err != nil {
		return err
	}
	if ks.empty() {
		m.stats.Keys--
		return nil
	}
	if err := m.store.Put(key, ks); err != nil {
		return fmt.Errorf("nfa: save state of key %q: %w", key, err)
	}
	if m.mem == nil {
		m.untrack(ks)
	}
	return nil
}

// Snapshot writes the serialised state of every key, in key order, for a
// checkpoint that Restore reads back. It needs the matcher's store to be a
// MemoryStore; an external store keeps its state itself.
func (m *Matcher) Snapshot(write func(key string, state []byte) error) error {
	if m.mem == nil {
		return fmt.Errorf("nfa: snapshot: the matcher's store is not a MemoryStore; it keeps state itself")
	}
	var err error
	m.mem.Range(func(key string, ks *KeyState) bool {
		var b []byte
		if b, err = ks.MarshalBinary(); err != nil {
			err = fmt.Errorf("nfa: snapshot of key %q: %w", key, err)
			return false
		}
		err = write(key, b)
		return err == nil
	})
	return err
}

// forget releases everything a key state holds.
func (m *Matcher) forget(ks *KeyState) {
	ks.each(func(p *partial) { m.release(p.node) })
	m.stats.Partials -= ks.Len()
	m.stats.Parked -= ks.parkedLen()
	if ks.ext != nil {
		m.keyBytes -= ks.ext.keyBytes
	}
	for _, c := range ks.heldMatches() {
		m.release(c.p.node)
	}
	m.stats.Held -= ks.heldLen()
	m.stats.Keys--
	ks.parts, ks.ext = nil, nil
}
