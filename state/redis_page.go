package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/cep-project/cep/internal/wire"
)

// A page is one bucket of a scope:
//
//	version  byte (1)
//	scope    string
//	buckets  uvarint, bucket uvarint
//	entries  (string key, bytes value) until the trailer
//	trailer  uint32 count, uint64 TTL in milliseconds (0: none), and a
//	         uint32 CRC-32C of everything before it, little endian
//
// Strings and bytes are a uvarint length and the bytes. A page names its
// own scope and bucket, so that one put under the wrong key is refused;
// its trailer has a fixed size so that a page is written in one buffer as
// its entries come.
const (
	pageVersion = 1
	pageTrailer = 4 + 8 + 4
)

// perBucket is the number of entries a bucket aims at; a scope's bucket
// count changes (and its pages are rewritten) only when its entries are
// four times fewer or twice more than that, so it does not flap.
const perBucket = 64

// bucketOf is the bucket of a key among nb (a power of two).
func bucketOf(key string, nb uint32) uint32 {
	return uint32(xxhash.Sum64String(key)) & (nb - 1)
}

// bucketsFor is the bucket count for n entries, keeping cur while it
// fits.
func bucketsFor(n int, cur uint32) uint32 {
	if cur > 0 {
		per := n / int(cur)
		if per <= 2*perBucket && (per >= perBucket/4 || cur == 1) {
			return cur
		}
	}
	want := (n + perBucket - 1) / perBucket
	if want <= 1 {
		return 1
	}
	return 1 << bits.Len32(uint32(want-1))
}

// bucketField is a bucket's field in the buckets hash.
func bucketField(scope string, nb, b uint32) string {
	return scope + "|" + strconv.FormatUint(uint64(nb), 10) + "." + strconv.FormatUint(uint64(b), 10)
}

// parseBucketField reads what bucketField wrote.
func parseBucketField(f string) (scope string, nb, b uint32, err error) {
	i := strings.LastIndexByte(f, '|')
	if i < 0 {
		return "", 0, 0, fmt.Errorf("bucket %q has no scope", f)
	}
	n, k, ok := strings.Cut(f[i+1:], ".")
	nv, err1 := strconv.ParseUint(n, 10, 32)
	kv, err2 := strconv.ParseUint(k, 10, 32)
	if !ok || err1 != nil || err2 != nil || nv == 0 || nv&(nv-1) != 0 || kv >= nv {
		return "", 0, 0, fmt.Errorf("bucket %q is not <scope>|<buckets>.<bucket>", f)
	}
	return f[:i], uint32(nv), uint32(kv), nil
}

// pageBuilder collects a bucket's entries during a checkpoint, as the
// page they will be written as.
type pageBuilder struct {
	body  []byte // the page so far: header and entries
	count int
	ttl   time.Duration
	dirty bool
}

func (p *pageBuilder) header(scope string, nb, b uint32) {
	p.body = append(p.body, pageVersion)
	p.body = binary.AppendUvarint(p.body, uint64(len(scope)))
	p.body = append(p.body, scope...)
	p.body = binary.AppendUvarint(p.body, uint64(nb))
	p.body = binary.AppendUvarint(p.body, uint64(b))
}

// add appends an entry; the first one writes the page's header.
func (p *pageBuilder) add(scope string, nb, b uint32, key string, val []byte) {
	if len(p.body) == 0 {
		p.header(scope, nb, b)
	}
	p.body = binary.AppendUvarint(p.body, uint64(len(key)))
	p.body = append(p.body, key...)
	p.body = binary.AppendUvarint(p.body, uint64(len(val)))
	p.body = append(p.body, val...)
	p.count++
}

// finish appends the trailer and returns the page.
func (p *pageBuilder) finish() []byte {
	b := binary.LittleEndian.AppendUint32(p.body, uint32(p.count))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.ttl.Milliseconds()))
	p.body = nil
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// each calls f with the entries added so far, which share the builder's
// buffer.
func (p *pageBuilder) each(f func(key, val []byte)) {
	if len(p.body) == 0 {
		return
	}
	d := &wire.Dec{B: p.body}
	d.Byte()
	d.Next(d.Count(1))
	d.Uvarint()
	d.Uvarint()
	for range p.count {
		k := d.Next(d.Count(1))
		v := d.Next(d.Count(1))
		f(k, v)
	}
}

// page is a decoded page.
type page struct {
	scope   string
	nb, b   uint32
	ttl     time.Duration
	entries []pageEntry
}

type pageEntry struct {
	key string
	val []byte
}

// decodePage reads a page; its values share buf.
func decodePage(buf []byte) (*page, error) {
	if len(buf) < 1+pageTrailer {
		return nil, errors.New("too short to be a page")
	}
	body, sum := buf[:len(buf)-4], binary.LittleEndian.Uint32(buf[len(buf)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch")
	}
	tr := buf[len(buf)-pageTrailer:]
	count, ttl := binary.LittleEndian.Uint32(tr), binary.LittleEndian.Uint64(tr[4:])
	d := &wire.Dec{B: buf[:len(buf)-pageTrailer]}
	if v := d.Byte(); d.Err == nil && v != pageVersion {
		return nil, fmt.Errorf("page format %d; this cep reads format %d", v, pageVersion)
	}
	p := &page{scope: d.Str()}
	nb, b := d.Uvarint(), d.Uvarint()
	if d.Err == nil && (nb == 0 || nb > 1<<31 || nb&(nb-1) != 0 || b >= nb || ttl > uint64(1<<62)/uint64(time.Millisecond)) {
		return nil, fmt.Errorf("bucket %d of %d, TTL %dms", b, nb, ttl)
	}
	p.nb, p.b, p.ttl = uint32(nb), uint32(b), time.Duration(ttl)*time.Millisecond
	if uint64(count) > uint64(len(d.B)) {
		return nil, fmt.Errorf("%d entries in %d bytes", count, len(d.B))
	}
	p.entries = make([]pageEntry, 0, count)
	for range count {
		k := d.Str()
		v := d.Bytes()
		if d.Err != nil {
			break
		}
		if bucketOf(k, p.nb) != p.b {
			return nil, fmt.Errorf("key %q does not belong in bucket %d of %d", k, p.b, p.nb)
		}
		p.entries = append(p.entries, pageEntry{key: k, val: v})
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Err = fmt.Errorf("%d bytes after the last entry", len(d.B))
	}
	if d.Err != nil {
		return nil, d.Err
	}
	return p, nil
}
