package event

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// DefaultTimeFields are tried in order when a stream names no time field.
var DefaultTimeFields = []string{"@timestamp", "timestamp", "ts", "time"}

// DefaultIDField is the id field used when a stream names none.
const DefaultIDField = "id"

// DefaultEarliestTime is the earliest event time a Decoder accepts unless
// told otherwise. Telemetry from before 1970 is a broken clock or a field
// that is not a time, and one such event would hold a stream's event time
// back for nothing.
var DefaultEarliestTime = time.Unix(0, 0).UTC()

// clampNS is t in Unix nanoseconds, def for the zero time, and never
// beyond what an event time can hold.
func clampNS(t, def time.Time) int64 {
	if t.IsZero() {
		t = def
	}
	switch {
	case t.Before(MinTime):
		t = MinTime
	case t.After(MaxTime):
		t = MaxTime
	}
	return t.UnixNano()
}

// Error is a line that could not be decoded into an event. Column is 1-based
// and 0 when the problem is not at one place (a missing time field).
type Error struct {
	Column int
	Msg    string
}

func (e *Error) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
	}
	return e.Msg
}

// Decoder decodes JSON lines into events of one stream. A Decoder keeps
// scratch buffers between calls, so it is not safe for concurrent use; use
// one per input.
type Decoder struct {
	// Stream names the stream of every event decoded.
	Stream string
	// TimeField is the dotted path of the event-time field. It is the
	// one-field form of TimeFields, tried before them.
	TimeField string
	// TimeFields are dotted paths of event-time fields: the first present
	// and not null is the event's time (a present field that does not
	// parse makes the line malformed; the next is not tried). With neither
	// TimeField nor TimeFields, DefaultTimeFields.
	TimeFields []string
	// TimeFormats are tried in order on the time field's value; the first
	// that reads it wins. Empty means AutoTime.
	TimeFormats []TimeFormat
	// TimeZone is the zone of times written without one: for a layout
	// without a zone, nil means UTC; for AutoTime, nil means such a time
	// is malformed.
	TimeZone *time.Location
	// IDField is the dotted path of the id field; empty means DefaultIDField.
	// Events without it get a stable hash of their line.
	IDField string
	// EarliestTime and LatestTime bound the event times accepted; an event
	// outside them is malformed. The zero value means DefaultEarliestTime
	// and MaxTime. A time int64 nanoseconds cannot hold is malformed
	// whatever the bounds.
	EarliestTime, LatestTime time.Time
	// Limits bound what one line may cost; the zero value means the
	// defaults (see Limits).
	Limits Limits
	// Project, when not nil, is what the readers of the events can read:
	// Fields then holds only its paths and the time and id fields, the
	// rest of every line is validated and stepped over without building
	// values (a line is malformed exactly when it would be without a
	// projection), Raw keeps the whole line, and Full decodes the whole
	// event when something needs it. nil, or a projection of the whole
	// event, decodes every field.
	Project *Projection

	lim    *Limits // shared with projected events, never changed
	proj   *projNode
	screen *Screen
	scr    *screenState
	// screenedOnly and screenedTwice count what Screened reports.
	screenedOnly, screenedTwice uint64
	minNS                       int64
	maxNS                       int64
	seq                         uint64
	s                           scratch
	timeKeys                    [][]string
	timeNames                   []string
	// timeByLen flags, by length, the time keys a top-level member of
	// that length may be (bit i: timeNames[i]); set when every time key
	// is one short name, and stamp then finds the time in one pass over
	// the members instead of one per key.
	timeByLen *[32]uint8
	formats   []TimeFormat
	idKey     []string
	ready     bool
}

func (d *Decoder) init() {
	names := d.TimeFields
	if d.TimeField != "" {
		names = append([]string{d.TimeField}, names...)
	}
	if len(names) == 0 {
		names = DefaultTimeFields
	}
	// The names are shared (see Name): findTime compares every member
	// of every event with them.
	d.timeNames = shareNames(names)
	d.timeKeys = make([][]string, len(names))
	for i, n := range names {
		d.timeKeys[i] = SharedPath(strings.Split(n, "."))
	}
	d.timeByLen = new([32]uint8)
	for i, k := range d.timeKeys {
		if i >= 8 || len(k) > 1 || len(k[0]) >= len(d.timeByLen) {
			d.timeByLen = nil
			break
		}
		d.timeByLen[len(k[0])] |= 1 << i
	}
	d.formats = d.TimeFormats
	if len(d.formats) == 0 {
		d.formats = []TimeFormat{AutoTime}
	}
	id := d.IDField
	if id == "" {
		id = DefaultIDField
	}
	d.idKey = SharedPath(strings.Split(id, "."))
	d.minNS, d.maxNS = clampNS(d.EarliestTime, DefaultEarliestTime), clampNS(d.LatestTime, MaxTime)
	lim := d.Limits.WithDefaults()
	d.lim = &lim
	d.proj = nil
	stamped := slices.Concat(d.timeKeys, [][]string{d.idKey})
	if d.Project != nil && !d.Project.All() {
		d.proj = &d.Project.with(stamped...).root
	}
	d.scr = nil
	if s := d.screen; s != nil && s.Pass != nil && s.Project != nil && !s.Project.All() {
		// An event decoded in full (no projection) has no lazyFields,
		// which a slab's block holds, so only projected ones are slabbed.
		d.scr = &screenState{proj: &s.Project.with(stamped...).root, pass: s.Pass, releases: s.Releases && d.proj != nil}
	} else if s != nil && s.Pass == nil && s.Releases && d.proj != nil {
		// No screen, but the consumer releases: every event goes into
		// the slabs.
		d.scr = &screenState{releases: true}
	}
	if d.timeByLen != nil {
		d.markStamps(d.proj)
		if d.scr != nil {
			d.markStamps(d.scr.proj)
		}
	}
	d.ready = true
}

// markStamps marks the members of root, a projection of the Decoder's
// own, that are its time keys and its id, which are then found as the
// line is parsed. Only when every time key is one short name (timeByLen)
// and so is the id; the projection holds them all.
func (d *Decoder) markStamps(root *projNode) {
	if root == nil {
		return
	}
	for i, name := range d.timeNames {
		if kid := root.child(name); kid != nil {
			kid.stamp |= 1 << i
		}
	}
	if len(d.idKey) == 1 {
		if kid := root.child(d.idKey[0]); kid != nil {
			kid.stamp |= stampID
		}
	}
}

// SetProject changes the projection of the lines decoded from now on, as
// when a stream's rules are reloaded; events decoded before keep theirs.
func (d *Decoder) SetProject(p *Projection) {
	d.Project = p
	if d.ready {
		d.init()
	}
}

// MaxLineSize is the longest line d decodes: readers of lines stop
// buffering a longer one and count it as malformed.
func (d *Decoder) MaxLineSize() int { return d.Limits.WithDefaults().MaxLineSize }

// idSpare is room left after an event's bytes for its id when the id is
// made (a hash, or a number printed): 16 hex digits, or a number in up to
// 24 characters, share the event's allocation.
const idSpare = 24

// Decode decodes one JSON line into an event. The line is copied; the caller
// may reuse it. Line numbers are the caller's to set. Decoder fields must
// not change after the first call.
func (d *Decoder) Decode(line []byte) (*Event, error) {
	if !d.ready {
		d.init()
	}
	raw := trimSpace(line)
	if len(raw) == 0 {
		return nil, &Error{Column: 1, Msg: "empty line"}
	}
	if len(raw) > d.lim.MaxLineSize {
		return nil, &Error{Msg: fmt.Sprintf("line of %d bytes is longer than the limit of %d", len(raw), d.lim.MaxLineSize)}
	}
	if s := d.scr; s != nil && s.screening() {
		// A line is malformed under a screen exactly when it is under
		// the projection (see Project), so its error stands.
		s.slabs.mark()
		ev, err := d.decode(raw, s.proj, &s.slabs)
		if err != nil {
			s.slabs.giveBack()
			return nil, err
		}
		passed := s.pass(ev)
		s.count(passed)
		if !passed {
			d.screenedOnly++
			d.seq++
			ev.Seq = d.seq
			return ev, nil
		}
		s.slabs.giveBack()
		d.screenedTwice++
	}
	var sl *slabs
	if s := d.scr; s != nil && s.releases {
		sl = &s.slabs
		sl.mark()
	}
	ev, err := d.decode(raw, d.proj, sl)
	if err != nil {
		if sl != nil {
			sl.giveBack()
		}
		return nil, err
	}
	d.seq++
	ev.Seq = d.seq
	return ev, nil
}

// decode is Decode of a trimmed line within the size limit, with node's
// fields, allocating the event from sl when it is not nil (see slabs).
func (d *Decoder) decode(raw []byte, node *projNode, sl *slabs) (*Event, error) {
	d.s.reset()
	defer d.s.trim()
	p := d.s.parserFor(raw, d.lim)
	root, err := p.rootIn(node)
	if err != nil {
		return nil, err
	}
	// A projection of the Decoder's own had its time keys and id noted
	// as they were parsed (see markStamps).
	var at *noted
	if node != nil && d.timeByLen != nil {
		at = &p.noted
	}
	spare := idSpare
	if at != nil && len(d.idKey) == 1 {
		if at.id != 0 {
			if v := p.s.tape[root.ref.off+uint32(at.id)-1].val; v.kind == String && v.ref.n&^textBit != 0 {
				spare = 0 // the id will point into the line
			}
		}
	} else if v, ok := p.tapePath(root, d.idKey); ok && v.kind == String && v.ref.n&^textBit != 0 {
		spare = 0
	}
	var (
		ev *Event
		lz *lazyFields
		fs []Field
	)
	if sl != nil {
		ev, lz, fs, p.room = sl.event(len(d.s.tape), len(raw)+len(d.s.text)+spare)
	} else {
		ev, lz, fs = newEvent(len(d.s.tape), node != nil)
	}
	fields, buf := p.build(root, true, spare, fs)
	ev.Stream, ev.Raw, ev.Fields = d.Stream, buf[:len(raw):len(raw)], fields
	if lz != nil {
		lz.lim, lz.node, lz.raw, lz.proj, lz.n = d.lim, node, unsafe.SliceData(ev.Raw), unsafe.SliceData(fields), int32(len(fields))
		ev.lazy = lz
	}
	if err := d.stamp(ev, buf[len(buf):], at); err != nil {
		return nil, err
	}
	return ev, nil
}

// stamp sets the event's time and id. spare is room for the id's text;
// at, when set, is where the parse found them among the top-level
// members.
func (d *Decoder) stamp(ev *Event, spare []byte, at *noted) error {
	// v points at the member, never a copy of it: the parse has just
	// written it field by field (build), and copying a whole Value loads
	// it sixteen bytes at a time, across two of those stores, which the
	// processor cannot forward. Such a load waits until every store
	// before it has reached the cache, the slab's cold lines too: 0.13 s
	// of 2.7 in a profile of the filter scenario. Through a pointer, each
	// field is loaded as it was stored.
	var (
		name string
		v    *Value
		// idAt is 1 + the index of the id's member in Fields, 0 for
		// none, when the pass that finds the time found it too.
		idAt   int
		idSeen bool
	)
	// The time and id fields are projected: Fields has them if the line
	// does.
	switch {
	case at != nil:
		fs := ev.Fields
		for i, n := range at.time[:len(d.timeNames)] {
			if n != 0 && fs[n-1].kind != Null {
				v, name = &fs[n-1].Value, d.timeNames[i]
				break
			}
		}
		idAt, idSeen = int(at.id), len(d.idKey) == 1
	case d.timeByLen != nil:
		v, name, idAt = d.findTime(ev.Fields)
		idSeen = len(d.idKey) == 1
	default:
		for i, k := range d.timeKeys {
			if v = walkRef(ev.Fields, k); v != nil && v.kind != Null {
				name = d.timeNames[i]
				break
			}
		}
	}
	if v == nil || v.kind == Null {
		return d.noTime()
	}
	t, err := d.parseTime(v)
	if err != nil {
		return &Error{Msg: fmt.Sprintf("field %q: %v", name, err)}
	}
	if t < d.minNS || t > d.maxNS {
		return &Error{Msg: fmt.Sprintf("field %q: event time %s is outside the accepted range %s to %s", name,
			formatNS(t), formatNS(d.minNS), formatNS(d.maxNS))}
	}
	ev.Time = t
	ev.ID = ""
	if !idSeen {
		v = walkRef(ev.Fields, d.idKey)
	} else if v = nil; idAt != 0 {
		v = &ev.Fields[idAt-1].Value
	}
	if v != nil {
		switch v.kind {
		case String:
			ev.ID = unsafe.String((*byte)(v.ptr), int(v.word))
		case Number:
			b := strconv.AppendFloat(spare, math.Float64frombits(v.word), 'f', -1, 64)
			ev.ID = unsafe.String(unsafe.SliceData(b), len(b))
		}
	}
	if ev.ID == "" {
		b := appendHashID(spare, ev.Raw)
		ev.ID = unsafe.String(unsafe.SliceData(b), len(b))
	}
	return nil
}

// findTime finds the time as a walk per time key in turn does, in one
// pass over the top-level members fs: of each key its last member (as
// lookup takes it), and of the keys the first whose member is not null.
// Walking the members for @timestamp, timestamp and then ts was a tenth
// of a projected decode's profile; one pass takes about 5% off its time.
// The same pass finds the id's last member when the id is a top-level
// one (idAt: 1 + its index, 0 for none), which a walk of its own found
// in 2% of a filter scenario's CPU.
func (d *Decoder) findTime(fs []Field) (v *Value, name string, idAt int) {
	var last [8]int // of each key, 1 + the index of its last member in fs
	id := d.idKey[0]
	for i := range fs {
		k := fs[i].Key
		if k == id {
			idAt = i + 1
		}
		if len(k) >= len(d.timeByLen) {
			continue
		}
		for m := d.timeByLen[len(k)]; m != 0; m &= m - 1 {
			if j := bits.TrailingZeros8(m); k == d.timeNames[j] {
				last[j] = i + 1
			}
		}
	}
	for j, n := range last[:len(d.timeNames)] {
		if n != 0 && fs[n-1].kind != Null {
			return &fs[n-1].Value, d.timeNames[j], idAt
		}
	}
	return nil, "", idAt
}

func (d *Decoder) noTime() error {
	switch {
	case len(d.TimeFields) == 0 && d.TimeField == "":
		return &Error{Msg: "no event time: none of the fields @timestamp, timestamp, ts, time is present (set time_field or time_fields for this stream)"}
	case len(d.timeNames) == 1:
		return &Error{Msg: fmt.Sprintf("no event time: field %q is missing", d.timeNames[0])}
	}
	return &Error{Msg: fmt.Sprintf("no event time: none of the fields %s is present", quoteList(d.timeNames))}
}

// parseTime reads v in the first of the decoder's formats that takes it.
// When none does, the error of a format that read the value but found it
// out of range is the most useful; otherwise every format's complaint.
func (d *Decoder) parseTime(v *Value) (int64, error) {
	k, str, num := v.kind, "", 0.0
	switch k {
	case String:
		str = unsafe.String((*byte)(v.ptr), int(v.word))
	case Number, Bool:
		num = math.Float64frombits(v.word)
	}
	if len(d.formats) == 1 {
		return d.formats[0].parse(k, str, num, d.TimeZone)
	}
	var (
		msgs     []string
		rangeErr error
	)
	for _, f := range d.formats {
		t, err := f.parse(k, str, num, d.TimeZone)
		if err == nil {
			return t, nil
		}
		var re *rangeError
		if rangeErr == nil && errors.As(err, &re) {
			rangeErr = err
		}
		msgs = append(msgs, f.String()+": "+err.Error())
	}
	if rangeErr != nil {
		return 0, rangeErr
	}
	return 0, fmt.Errorf("matches none of the time formats (%s)", strings.Join(msgs, "; "))
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func formatNS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// appendHashID appends the id of an event without an id field: 16 hex
// digits of the xxhash of its line, stable across runs and machines.
func appendHashID(dst, raw []byte) []byte {
	const hexdigits = "0123456789abcdef"
	h := xxhash.Sum64(raw)
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexdigits[h&0xf]
		h >>= 4
	}
	return append(dst, b[:]...)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
