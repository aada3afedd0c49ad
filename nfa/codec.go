package nfa

import (
	"errors"
	"fmt"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// The serialised KeyState starts with this magic and a version byte, so a
// store can tell a state it cannot read from a corrupt one. The rest is in
// internal/wire's encoding.
//
// Versions:
//
//  1. Each event carried a flags byte before its JSON: 1 when the JSON was
//     the event's raw line, 0 when it was a rendering of the event's fields
//     made for the snapshot (the event came back without a raw line).
//  2. Events are written as internal/wire writes them for every detector:
//     the raw line, or for an event without one a rendering of its fields
//     by internal/jsonx, which the event comes back with as its raw line.
//
// This build writes version 2 and reads both.
const (
	codecMagic   = "cepK"
	codecVersion = 2
)

// MarshalBinary encodes the key's state: the key, the events its partial
// matches hold (stream, id, time, arrival, line and raw JSON), the shared
// evidence nodes and the partial and held matches. Events and nodes shared
// by several partial matches are written once. Partial matches are written
// in the matcher's order, parked ones included.
func (s *KeyState) MarshalBinary() ([]byte, error) {
	e := &wire.Enc{B: append([]byte(codecMagic), codecVersion)}
	e.Uvarint(uint64(s.fp))
	e.Str(s.key)

	var nodes []*node
	nodeIdx := map[*node]int{}
	var events []*event.Event
	evIdx := map[*event.Event]int{}
	var chain []*node
	visit := func(n *node) {
		chain = chain[:0]
		for x := n; x != nil; x = x.prev {
			if _, ok := nodeIdx[x]; ok {
				break
			}
			chain = append(chain, x)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			x := chain[i]
			nodeIdx[x] = len(nodes)
			nodes = append(nodes, x)
			if _, ok := evIdx[x.ev]; !ok {
				evIdx[x.ev] = len(events)
				events = append(events, x.ev)
			}
		}
	}
	parts := s.ordered()
	for _, p := range parts {
		visit(p.node)
	}
	held := s.heldMatches()
	for _, c := range held {
		visit(c.p.node)
	}

	e.Uvarint(uint64(len(events)))
	for _, ev := range events {
		e.Event(ev)
	}
	e.Uvarint(uint64(len(nodes)))
	for _, n := range nodes {
		e.Uvarint(uint64(evIdx[n.ev]))
		prev := 0
		if n.prev != nil {
			prev = nodeIdx[n.prev] + 1
		}
		e.Uvarint(uint64(prev))
		e.Uvarint(uint64(n.step))
	}
	writePartial := func(p partial) {
		e.Uvarint(uint64(nodeIdx[p.node]))
		e.Uvarint(uint64(p.state))
		e.Uvarint(uint64(p.id))
	}
	e.Uvarint(uint64(len(parts)))
	for _, p := range parts {
		writePartial(p)
	}
	e.Uvarint(uint64(len(held)))
	for _, c := range held {
		writePartial(c.p)
		e.Varint(c.time)
	}
	if e.Err != nil {
		return nil, fmt.Errorf("nfa: key state of %q: %w", s.key, e.Err)
	}
	return e.B, nil
}

// UnmarshalBinary decodes a state written by MarshalBinary, of this build
// or an earlier one. Events are rebuilt from their raw JSON with the
// stream, id, time and arrival order they had. The matcher checks, when it
// first loads the state, that it was written for the same pattern.
func (s *KeyState) UnmarshalBinary(data []byte) error {
	if len(data) < len(codecMagic)+1 || string(data[:len(codecMagic)]) != codecMagic {
		return errors.New("nfa: key state: not a serialised key state")
	}
	version := data[len(codecMagic)]
	if version < 1 || version > codecVersion {
		return fmt.Errorf("nfa: key state: version %d, this build reads versions 1 to %d", version, codecVersion)
	}
	d := &wire.Dec{B: data[len(codecMagic)+1:]}
	fp := uint32(d.Uvarint())
	key := d.Str()
	corrupt := func() error {
		return fmt.Errorf("nfa: key state of %q: truncated or corrupt at byte %d: %v", key, len(data)-len(d.B), d.Err)
	}

	evBytes := wire.EventMinBytes
	if version == 1 {
		evBytes++
	}
	nev := d.Count(evBytes)
	events := make([]*event.Event, 0, nev)
	for i := 0; i < nev && d.Err == nil; i++ {
		var ev *event.Event
		if version == 1 {
			ev = readEventV1(d)
		} else {
			ev = d.Event(fmt.Sprintf("event %d", i))
		}
		events = append(events, ev)
	}
	nn := d.Count(3)
	nodes := make([]*node, 0, nn)
	for i := 0; i < nn && d.Err == nil; i++ {
		e, prev, step := d.Uvarint(), d.Uvarint(), d.Uvarint()
		if d.Err != nil {
			break
		}
		if e >= uint64(len(events)) || prev > uint64(i) || step > maxStates {
			return fmt.Errorf("nfa: key state of %q: node %d refers outside the state", key, i)
		}
		n := &node{ev: events[e], step: uint16(step)}
		if prev > 0 {
			n.prev = nodes[prev-1]
			n.prev.refs++
		}
		nodes = append(nodes, n)
	}
	readPartial := func() (partial, bool) {
		ni, st, id := d.Uvarint(), d.Uvarint(), d.Uvarint()
		if d.Err != nil || ni >= uint64(len(nodes)) || st > maxStates || id > 1<<32-1 {
			return partial{}, false
		}
		n := nodes[ni]
		n.refs++
		return partial{node: n, state: uint16(st), id: uint32(id), deadline: noDeadline}, true
	}
	np := d.Count(3)
	parts := make([]partial, 0, np)
	for i := 0; i < np && d.Err == nil; i++ {
		p, ok := readPartial()
		if !ok {
			if d.Err != nil {
				return corrupt()
			}
			return fmt.Errorf("nfa: key state of %q: partial match %d is malformed", key, i)
		}
		parts = append(parts, p)
	}
	nh := d.Count(4)
	var held []completed
	for i := 0; i < nh && d.Err == nil; i++ {
		p, ok := readPartial()
		t := d.Varint()
		if !ok {
			if d.Err != nil {
				return corrupt()
			}
			return fmt.Errorf("nfa: key state of %q: held match %d is malformed", key, i)
		}
		held = append(held, completed{p: p, time: t})
	}
	if d.Err != nil {
		return corrupt()
	}
	if len(d.B) != 0 {
		return fmt.Errorf("nfa: key state of %q: %d bytes after the end", key, len(d.B))
	}
	*s = KeyState{key: key, parts: parts, fp: fp &^ 1}
	s.setHeld(held)
	return nil
}

// readEventV1 reads an event of version 1, whose JSON follows a flags
// byte: evRawJSONV1 when it is the event's raw line, otherwise a rendering
// of its fields, which gives the event no raw line.
func readEventV1(d *wire.Dec) *event.Event {
	const evRawJSONV1 = 1
	ev := &event.Event{Stream: d.Str(), ID: d.Str(), Time: d.Varint(), Seq: d.Uvarint(), Line: int(d.Varint())}
	flags := d.Byte()
	js := d.Bytes()
	if d.Err != nil {
		return ev
	}
	fields, err := wire.Fields(js)
	if err != nil {
		d.Fail(fmt.Sprintf("event %s: %v", ev.ID, err))
		return ev
	}
	ev.Fields = fields
	if flags&evRawJSONV1 != 0 {
		ev.Raw = append([]byte(nil), js...)
	}
	return ev
}
