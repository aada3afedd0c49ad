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
//	ttl      uvarint milliseconds (0: none)
//	count    uvarint
//	entries  count × (string key, bytes value)
//	trailer  uint32 CRC-32C of everything before it, little endian
//
// Strings and bytes are a uvarint length and the bytes. A page names its
// own scope and bucket, so that one put under the wrong key is refused.
const pageVersion = 1

// perBucket is the number of entries a bucket aims at; a scope's bucket
// count changes (and its pages are rewritten) only when its entries are
// four times fewer or twice more than that, so it does not flap.
const perBucket = 64

// bucketOf is the bucket of a key among nb (a power of two).
func bucketOf(key string, nb uint32) uint32 {
	return uint32(xxhash.Sum64String(key)) & (nb - 1)
}

func bucketOfBytes(key []byte, nb uint32) uint32 {
	return uint32(xxhash.Sum64(key)) & (nb - 1)
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

// pageBuilder collects a bucket's entries during a checkpoint.
type pageBuilder struct {
	body  []byte // the entries, encoded
	count int
	ttl   time.Duration
	dirty bool
}

func (p *pageBuilder) addBytes(key, val []byte) {
	p.body = binary.AppendUvarint(p.body, uint64(len(key)))
	p.body = append(p.body, key...)
	p.body = binary.AppendUvarint(p.body, uint64(len(val)))
	p.body = append(p.body, val...)
	p.count++
}

func (p *pageBuilder) add(key string, val []byte) {
	p.body = binary.AppendUvarint(p.body, uint64(len(key)))
	p.body = append(p.body, key...)
	p.body = binary.AppendUvarint(p.body, uint64(len(val)))
	p.body = append(p.body, val...)
	p.count++
}

// encode makes the page.
func (p *pageBuilder) encode(scope string, nb, b uint32) []byte {
	e := &wire.Enc{B: make([]byte, 0, len(p.body)+len(scope)+32)}
	e.B = append(e.B, pageVersion)
	e.Str(scope)
	e.Uvarint(uint64(nb))
	e.Uvarint(uint64(b))
	e.Uvarint(uint64(p.ttl.Milliseconds()))
	e.Uvarint(uint64(p.count))
	e.B = append(e.B, p.body...)
	return binary.LittleEndian.AppendUint32(e.B, crc32.Checksum(e.B, castagnoli))
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
	if len(buf) < 5 {
		return nil, errors.New("too short to be a page")
	}
	body, sum := buf[:len(buf)-4], binary.LittleEndian.Uint32(buf[len(buf)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch")
	}
	d := &wire.Dec{B: body}
	if v := d.Byte(); d.Err == nil && v != pageVersion {
		return nil, fmt.Errorf("page format %d; this cep reads format %d", v, pageVersion)
	}
	p := &page{scope: d.Str()}
	nb, b, ttl := d.Uvarint(), d.Uvarint(), d.Uvarint()
	if d.Err == nil && (nb == 0 || nb > 1<<31 || nb&(nb-1) != 0 || b >= nb || ttl > uint64(1<<62)/uint64(time.Millisecond)) {
		return nil, fmt.Errorf("bucket %d of %d, TTL %dms", b, nb, ttl)
	}
	p.nb, p.b, p.ttl = uint32(nb), uint32(b), time.Duration(ttl)*time.Millisecond
	n := d.Count(2)
	p.entries = make([]pageEntry, 0, n)
	for range n {
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
