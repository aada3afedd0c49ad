package event

import (
	"bytes"
	"sync/atomic"
	"unsafe"

	"github.com/klauspost/compress/s2"
)

// A Packer compresses the lines of the events held with it (see Hold)
// against a dictionary of earlier lines of their stream. The JSON lines of
// one stream repeat their keys, their layout and many of their values: the
// fraud example's logins, 236 bytes on average, pack into about 60 as
// blocks of S2's dictionary mode, made by dictEncoder in about a tenth of
// a microsecond and unpacked by S2 in a fifth of one. A twelve-hour
// sequence that holds 170,000 logins holds their lines in a quarter of
// the memory.
//
// A Packer takes the lines it is first shown as its sample, until it has
// packSample bytes, and then makes its dictionary of them; the lines held
// until then are kept as they are. Its dictionary never changes after
// that, so lines packed with it stay readable for as long as they are
// held. A Packer is not safe for concurrent use; the lines it packed may
// be unpacked from any goroutine.
type Packer struct {
	sample []byte
	dict   *packDict
	// shared is dict for Prepack, which other goroutines call.
	shared atomic.Pointer[packDict]
	buf    []byte
	packed atomic.Uint64
	// ahead counts the lines of packed that Prepack packed.
	ahead atomic.Uint64
	// last is a copy of the line and id packed (or sampled) last, and
	// what they packed into: the engine hands an event to every rule that
	// reads it in turn, and the rules that hold it share one packed line
	// (or sample it once). It compares copies, not addresses: a caller's
	// buffer may hold another line at the same place later.
	last struct {
		line, id []byte
		ok       bool
		packed   []byte
		pid      string
	}
}

// Packed returns how many lines the Packer has packed.
func (pk *Packer) Packed() uint64 { return pk.packed.Load() }

// PackedAhead returns how many of the lines held packed were packed by
// Prepack.
func (pk *Packer) PackedAhead() uint64 { return pk.ahead.Load() }

// packSample is how much of its stream's lines a Packer samples for its
// dictionary.
const packSample = maxPackDict

// packDict is a Packer's dictionary: its lines pack with enc and unpack
// with S2's decoder.
type packDict struct {
	s2  *s2.Dict
	enc *dictEncoder
}

func newPackDict(sample []byte) *packDict {
	sample = sample[max(0, len(sample)-maxPackDict):]
	return &packDict{s2: s2.MakeDict(sample, nil), enc: newDictEncoder(sample)}
}

// pack returns line packed, in one allocation with id after it, and id
// pointing there; ok is false while the Packer samples, or when line does
// not pack smaller.
func (pk *Packer) pack(line []byte, id string) (packed []byte, pid string, ok bool) {
	l := &pk.last
	again := l.ok && string(l.id) == id && bytes.Equal(l.line, line)
	if pk.dict == nil {
		// A line several rules hold is sampled once.
		if !again {
			pk.sample = append(pk.sample, line...)
			pk.sample = append(pk.sample, '\n')
			l.line, l.id, l.ok, l.packed = append(l.line[:0], line...), append(l.id[:0], id...), true, nil
		}
		if len(pk.sample) >= packSample {
			pk.dict, pk.sample = newPackDict(pk.sample), nil
			pk.shared.Store(pk.dict)
		}
		return nil, "", false
	}
	if again && l.packed != nil {
		return l.packed, l.pid, true
	}
	l.ok = false
	pk.buf = pk.dict.enc.encode(pk.buf[:0], line)
	n := len(pk.buf)
	if n >= len(line) {
		return nil, "", false
	}
	b := make([]byte, n+len(id))
	copy(b, pk.buf)
	copy(b[n:], id)
	if len(id) > 0 {
		pid = unsafe.String(&b[n], len(id))
	}
	pk.packed.Add(1)
	l.line, l.id, l.ok, l.packed, l.pid = append(l.line[:0], line...), append(l.id[:0], id...), true, b[:n:n], pid
	return b[:n:n], pid, true
}

// Prepacked is a line Packer.Prepack packed, with its id after it.
type Prepacked struct{ b []byte }

// Prepack packs line ahead of Hold, on another goroutine than the
// Packer's owner: what it returns, handed to HoldPacked with the same
// Packer, is held as Hold would pack it, without packing it there. The
// engine holds events on one goroutine, and packing is most of what
// holding costs it; the decoders that prepare its events have time to
// spare. It returns nil until the Packer has its dictionary, or when the
// line does not pack smaller. buf is the caller's scratch, grown; it may
// be called from several goroutines at once, each with its own.
func (pk *Packer) Prepack(line []byte, id string, buf []byte) (*Prepacked, []byte) {
	d := pk.shared.Load()
	if d == nil {
		return nil, buf
	}
	buf = d.enc.encode(buf[:0], line)
	n := len(buf)
	if n >= len(line) {
		return nil, buf
	}
	b := make([]byte, n+len(id))
	copy(b, buf)
	copy(b[n:], id)
	return &Prepacked{b}, buf
}

// unpack returns the line of packed, in a new slice.
func (pk *Packer) unpack(packed []byte) []byte {
	n, err := s2.DecodedLen(packed)
	if err == nil {
		var line []byte
		if line, err = pk.dict.s2.Decode(make([]byte, n), packed); err == nil {
			return line
		}
	}
	// Only pack made what is unpacked, and held events are not changed.
	panic("event: a packed line fails to unpack: " + err.Error())
}
