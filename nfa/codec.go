package nfa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/cep-project/cep/event"
)

// The serialised KeyState starts with this magic and a version byte, so a
// store can tell a state it cannot read from a corrupt one.
const (
	codecMagic   = "cepK"
	codecVersion = 1
)

// Event flags in the serialised form.
const (
	// evRawJSON: the bytes are the event's original Raw line. Otherwise they
	// are a JSON rendering of Fields made for the snapshot.
	evRawJSON = 1
)

// MarshalBinary encodes the key's state: the key, the events its partial
// matches hold (stream, id, time, arrival, line and raw JSON), the shared
// evidence nodes and the partial and held matches. Events and nodes shared
// by several partial matches are written once.
func (s *KeyState) MarshalBinary() ([]byte, error) {
	b := append([]byte(codecMagic), codecVersion)
	b = binary.AppendUvarint(b, uint64(s.fp))
	b = appendString(b, s.key)

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

	b = binary.AppendUvarint(b, uint64(len(events)))
	for _, ev := range events {
		b = appendString(b, ev.Stream)
		b = appendString(b, ev.ID)
		b = binary.AppendVarint(b, ev.Time)
		b = binary.AppendUvarint(b, ev.Seq)
		b = binary.AppendVarint(b, int64(ev.Line))
		if len(ev.Raw) > 0 {
			b = append(b, evRawJSON)
			b = appendBytes(b, ev.Raw)
		} else {
			b = append(b, 0)
			b = appendBytes(b, appendObject(nil, ev.Fields))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(nodes)))
	for _, n := range nodes {
		b = binary.AppendUvarint(b, uint64(evIdx[n.ev]))
		prev := 0
		if n.prev != nil {
			prev = nodeIdx[n.prev] + 1
		}
		b = binary.AppendUvarint(b, uint64(prev))
		b = binary.AppendUvarint(b, uint64(n.step))
	}
	appendPartial := func(b []byte, p partial) []byte {
		b = binary.AppendUvarint(b, uint64(nodeIdx[p.node]))
		b = binary.AppendUvarint(b, uint64(p.state))
		return binary.AppendUvarint(b, uint64(p.id))
	}
	b = binary.AppendUvarint(b, uint64(len(parts)))
	for _, p := range parts {
		b = appendPartial(b, p)
	}
	b = binary.AppendUvarint(b, uint64(len(held)))
	for _, c := range held {
		b = appendPartial(b, c.p)
		b = binary.AppendVarint(b, c.time)
	}
	return b, nil
}

// UnmarshalBinary decodes a state written by MarshalBinary. Events are
// rebuilt from their raw JSON with the stream, id, time and arrival order
// they had. The matcher checks, when it first loads the state, that it was
// written for the same pattern.
func (s *KeyState) UnmarshalBinary(data []byte) error {
	r := reader{buf: data}
	if len(data) < len(codecMagic)+1 || string(data[:len(codecMagic)]) != codecMagic {
		return errors.New("nfa: key state: not a serialised key state")
	}
	r.pos = len(codecMagic)
	if v := r.byte(); v != codecVersion {
		return fmt.Errorf("nfa: key state: version %d, this build reads version %d", v, codecVersion)
	}
	fp := uint32(r.uvarint())
	key := r.string()

	nev := r.count()
	events := make([]*event.Event, 0, nev)
	for i := 0; i < nev && r.err == nil; i++ {
		ev := &event.Event{Stream: r.string(), ID: r.string(), Time: r.varint(), Seq: r.uvarint(), Line: int(r.varint())}
		flags := r.byte()
		js := r.bytes()
		if r.err != nil {
			break
		}
		fields, err := decodeFields(js)
		if err != nil {
			return fmt.Errorf("nfa: key state of %q: event %s: %w", key, ev.ID, err)
		}
		ev.Fields = fields
		if flags&evRawJSON != 0 {
			ev.Raw = append([]byte(nil), js...)
		}
		events = append(events, ev)
	}
	nn := r.count()
	nodes := make([]*node, 0, nn)
	for i := 0; i < nn && r.err == nil; i++ {
		e, prev, step := r.uvarint(), r.uvarint(), r.uvarint()
		if r.err != nil {
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
		ni, st, id := r.uvarint(), r.uvarint(), r.uvarint()
		if r.err != nil || ni >= uint64(len(nodes)) || st > maxStates || id > 1<<32-1 {
			return partial{}, false
		}
		n := nodes[ni]
		n.refs++
		return partial{node: n, state: uint16(st), id: uint32(id), deadline: noDeadline}, true
	}
	np := r.count()
	parts := make([]partial, 0, np)
	for i := 0; i < np && r.err == nil; i++ {
		p, ok := readPartial()
		if !ok {
			return fmt.Errorf("nfa: key state of %q: partial match %d is malformed", key, i)
		}
		parts = append(parts, p)
	}
	nh := r.count()
	var held []completed
	for i := 0; i < nh && r.err == nil; i++ {
		p, ok := readPartial()
		t := r.varint()
		if !ok {
			return fmt.Errorf("nfa: key state of %q: held match %d is malformed", key, i)
		}
		held = append(held, completed{p: p, time: t})
	}
	if r.err != nil {
		return fmt.Errorf("nfa: key state of %q: %w", key, r.err)
	}
	if r.pos != len(data) {
		return fmt.Errorf("nfa: key state of %q: %d bytes after the end", key, len(data)-r.pos)
	}
	*s = KeyState{key: key, parts: parts, fp: fp &^ 1}
	s.setHeld(held)
	return nil
}

// decodeFields parses an event's JSON object. The event decoder needs an
// event time, so the object is wrapped beside one; the time and id it finds
// are discarded, since the serialised event carries its own.
func decodeFields(js []byte) ([]event.Field, error) {
	line := make([]byte, 0, len(js)+16)
	line = append(line, `{"ts":0,"e":`...)
	line = append(line, js...)
	line = append(line, '}')
	d := event.Decoder{TimeField: "ts"}
	ev, err := d.Decode(line)
	if err != nil {
		return nil, err
	}
	v, _ := ev.Get("e")
	if v.Kind() != event.Object {
		return nil, errors.New("event is not a JSON object")
	}
	return v.Fields(), nil
}

// appendObject renders fields as a JSON object in document order.
func appendObject(b []byte, fs []event.Field) []byte {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, f.Key)
		b = append(b, ':')
		b = appendValue(b, f.Value)
	}
	return append(b, '}')
}

func appendValue(b []byte, v event.Value) []byte {
	switch v.Kind() {
	case event.Bool:
		return strconv.AppendBool(b, v.Bool())
	case event.Number:
		return strconv.AppendFloat(b, v.Num(), 'g', -1, 64)
	case event.String:
		return strconv.AppendQuote(b, v.Str())
	case event.Object:
		return appendObject(b, v.Fields())
	case event.Array:
		b = append(b, '[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, v.Index(i))
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// reader decodes the serialised form, remembering the first error so the
// decoding code reads straight through.
type reader struct {
	buf []byte
	pos int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("truncated or corrupt %s at byte %d", what, r.pos)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || r.pos >= len(r.buf) {
		r.fail("byte")
		return 0
	}
	c := r.buf[r.pos]
	r.pos++
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.pos:])
	if n <= 0 {
		r.fail("number")
		return 0
	}
	r.pos += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf[r.pos:])
	if n <= 0 {
		r.fail("number")
		return 0
	}
	r.pos += n
	return v
}

// count reads a length and bounds it by the bytes left, so a corrupt count
// cannot make the decoder allocate without limit.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.buf)-r.pos) {
		r.fail("count")
		return 0
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.count()
	if r.err != nil {
		return nil
	}
	p := r.buf[r.pos : r.pos+n]
	r.pos += n
	return p
}

func (r *reader) string() string { return string(r.bytes()) }
