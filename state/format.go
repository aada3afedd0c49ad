package state

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"time"

	"github.com/cep-project/cep/internal/seal"
)

// The file format of a checkpoint:
//
//	magic    "CEPCKPT\n"
//	version  uint16, little endian
//	flags    byte: 0, or flagSealed
//	key id   string, when sealed: the key the entries are sealed with
//	meta     uvarint id, varint created (Unix ns), string writer,
//	         uvarint n, n × (string source, bytes data)
//	entries  n × (byte 1, string scope, string key, bytes value), byte 0;
//	         sealed: n × (byte 2, bytes frame), byte 0, where a frame is
//	         AES-256-GCM over the entry's scope, key and value, bound to
//	         the checkpoint id and the entry's place
//	trailer  uint32 CRC-32C of everything before it, little endian
//
// Strings and bytes are a uvarint length and the bytes. The checksum is
// verified before any entry is handed out, so a torn or flipped file is
// refused as a whole, never half applied.
const magic = "CEPCKPT\n"

// flagSealed marks a file whose entries are encrypted (internal/seal).
// Entities' keys and events are in the entries, so both are sealed; the
// meta (ids, positions in files) is not.
const flagSealed = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxField bounds one string or value, so a corrupt length cannot make
// the reader allocate without limit before the checksum fails.
const maxField = 1 << 30

type encoder struct {
	w   *bufio.Writer
	crc hash.Hash32
	buf [binary.MaxVarintLen64]byte
	err error
	// key seals entries when set; id and n bind each frame to its
	// checkpoint and place, so frames cannot be moved or replayed.
	key   *seal.Key
	id    uint64
	n     uint64
	plain []byte
	frame []byte
}

func newEncoder(w io.Writer) *encoder {
	e := &encoder{crc: crc32.New(castagnoli)}
	e.w = bufio.NewWriterSize(io.MultiWriter(w, e.crc), 256*1024)
	return e
}

func (e *encoder) write(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) uvarint(x uint64) { e.write(e.buf[:binary.PutUvarint(e.buf[:], x)]) }
func (e *encoder) varint(x int64)   { e.write(e.buf[:binary.PutVarint(e.buf[:], x)]) }
func (e *encoder) bytes(b []byte)   { e.uvarint(uint64(len(b))); e.write(b) }
func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *encoder) header(m Meta) {
	e.write([]byte(magic))
	var v [3]byte
	binary.LittleEndian.PutUint16(v[:], FormatVersion)
	if e.key != nil {
		v[2] = flagSealed
	}
	e.write(v[:])
	if e.key != nil {
		e.str(e.key.ID())
		e.id = m.ID
	}
	e.uvarint(m.ID)
	e.varint(m.Created.UnixNano())
	e.str(m.Writer)
	e.uvarint(uint64(len(m.Positions)))
	for _, p := range m.Positions {
		e.str(p.Source)
		e.bytes(p.Data)
	}
}

func (e *encoder) entry(en Entry) {
	if e.key == nil {
		e.write([]byte{1})
		e.str(en.Scope)
		e.str(en.Key)
		e.bytes(en.Value)
		return
	}
	e.plain = binary.AppendUvarint(e.plain[:0], uint64(len(en.Scope)))
	e.plain = append(e.plain, en.Scope...)
	e.plain = binary.AppendUvarint(e.plain, uint64(len(en.Key)))
	e.plain = append(e.plain, en.Key...)
	e.plain = append(e.plain, en.Value...)
	e.frame = e.key.SealFrame(e.frame[:0], e.plain, frameAAD(e.id, e.n))
	e.n++
	e.write([]byte{2})
	e.bytes(e.frame)
}

// frameAAD binds a sealed entry to its checkpoint and place.
func frameAAD(id, n uint64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, id)
	return binary.LittleEndian.AppendUint64(b, n)
}

// finish writes the end mark and the checksum, and flushes.
func (e *encoder) finish() error {
	e.write([]byte{0})
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return e.err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], e.crc.Sum32())
	// The sum covers what came before it; that the hash also sees the sum
	// afterwards changes nothing.
	_, err := e.w.Write(sum[:])
	if err == nil {
		err = e.w.Flush()
	}
	return err
}

// decoder reads the format back. Every read is bounded by what is left of
// the file, so corrupt lengths fail instead of allocating.
type decoder struct {
	r    *bufio.Reader
	left int64 // bytes before the trailer
	crc  hash.Hash32
	name string
	err  error
	// keys open sealed entries; key is the one the file names.
	keys  *seal.Keyring
	key   *seal.Key
	id, n uint64
	plain []byte
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, d.name, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) read(n int64) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.left {
		d.fail("a field runs past the end of the file")
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.fail("%v", err)
		return nil
	}
	d.left -= n
	d.crc.Write(b)
	return b
}

func (d *decoder) byte() byte {
	b := d.read(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c := d.byte()
		if d.err != nil {
			return 0
		}
		if c < 0x80 {
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	d.fail("a number is too long")
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > maxField {
		d.fail("a field of %d bytes is over the limit", n)
		return nil
	}
	return d.read(int64(n))
}

func (d *decoder) str() string { return string(d.bytes()) }

// verify checks a file: first its checksum, which every format version
// ends with, so a damaged file is told from a newer format; then its
// magic, version and structure. It returns the file's meta.
func verify(r io.ReadSeeker, size int64, name string, keys *seal.Keyring) (Meta, error) {
	if size < int64(len(magic))+3+4 {
		return Meta{}, fmt.Errorf("%w: %s: too short to be a checkpoint", ErrCorrupt, name)
	}
	crc := crc32.New(castagnoli)
	if _, err := io.CopyN(crc, r, size-4); err != nil {
		return Meta{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return Meta{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	if binary.LittleEndian.Uint32(sum[:]) != crc.Sum32() {
		return Meta{}, fmt.Errorf("%w: %s: checksum mismatch", ErrCorrupt, name)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Meta{}, err
	}
	d := newDecoder(r, size, name, keys)
	m, err := d.header()
	if err != nil {
		return m, err
	}
	for d.entry(func(Entry) error { return nil }) {
	}
	if d.err != nil {
		return m, d.err
	}
	return m, d.trailer()
}

func newDecoder(r io.Reader, size int64, name string, keys *seal.Keyring) *decoder {
	return &decoder{r: bufio.NewReaderSize(r, 256*1024), left: size - 4, crc: crc32.New(castagnoli), name: name, keys: keys}
}

func (d *decoder) header() (Meta, error) {
	var m Meta
	if d.left < int64(len(magic))+3 {
		d.fail("too short to be a checkpoint")
		return m, d.err
	}
	if string(d.read(int64(len(magic)))) != magic {
		d.fail("not a cep checkpoint")
		return m, d.err
	}
	v := d.read(3)
	if d.err != nil {
		return m, d.err
	}
	if ver := int(binary.LittleEndian.Uint16(v)); ver < MinFormatVersion || ver > FormatVersion {
		return m, &VersionError{Name: d.name, Version: ver}
	}
	switch v[2] {
	case 0:
	case flagSealed:
		id := d.str()
		if d.err != nil {
			return m, d.err
		}
		if d.keys == nil {
			return m, fmt.Errorf("%w: checkpoint %s is encrypted with key %s and no key is configured (state.encryption)", ErrKey, d.name, id)
		}
		k, err := d.keys.Key(id)
		if err != nil {
			return m, fmt.Errorf("%w: checkpoint %s: %v", ErrKey, d.name, err)
		}
		d.key = k
	default:
		d.fail("unknown flags %#x", v[2])
		return m, d.err
	}
	m.ID = d.uvarint()
	d.id = m.ID
	m.Created = time.Unix(0, d.varint()).UTC()
	m.Writer = d.str()
	n := d.uvarint()
	if n > uint64(d.left) {
		d.fail("%d positions in %d bytes", n, d.left)
		return m, d.err
	}
	for range n {
		src := d.str()
		m.Positions = append(m.Positions, Position{Source: src, Data: d.bytes()})
	}
	return m, d.err
}

// entry reads one entry into f; it reports false at the end mark or on an
// error (in d.err).
func (d *decoder) entry(f func(Entry) error) bool {
	var e Entry
	switch tag := d.byte(); {
	case tag == 0:
		return false
	case tag == 1 && d.key == nil:
		e = Entry{Scope: d.str(), Key: d.str()}
		e.Value = d.bytes()
	case tag == 2 && d.key != nil:
		frame := d.bytes()
		if d.err != nil {
			return false
		}
		plain, err := d.key.OpenFrame(d.plain[:0], frame, frameAAD(d.id, d.n))
		d.n++
		if err != nil {
			d.err = fmt.Errorf("%w: checkpoint %s: entry %d does not open with key %s: %v", ErrKey, d.name, d.n-1, d.key.ID(), err)
			return false
		}
		d.plain = plain
		var ok bool
		if e, ok = splitEntry(plain); !ok {
			d.fail("a sealed entry is malformed")
			return false
		}
	default:
		d.fail("bad entry tag")
		return false
	}
	if d.err != nil {
		return false
	}
	if err := f(e); err != nil {
		d.err = err
		return false
	}
	return true
}

// splitEntry reads a sealed entry's plaintext; the value is copied, since
// the plaintext buffer is reused.
func splitEntry(b []byte) (Entry, bool) {
	var e Entry
	for _, s := range []*string{&e.Scope, &e.Key} {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return e, false
		}
		*s = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	e.Value = append([]byte(nil), b...)
	return e, true
}

func (d *decoder) trailer() error {
	if d.left != 0 {
		d.fail("%d bytes after the last entry", d.left)
		return d.err
	}
	var sum [4]byte
	if _, err := io.ReadFull(d.r, sum[:]); err != nil {
		d.fail("no checksum: %v", err)
		return d.err
	}
	if binary.LittleEndian.Uint32(sum[:]) != d.crc.Sum32() {
		d.fail("checksum mismatch")
		return d.err
	}
	if _, err := d.r.ReadByte(); !errors.Is(err, io.EOF) {
		d.fail("bytes after the checksum")
	}
	return d.err
}
