package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"

	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/internal/wire"
)

// readScript returns each key's value and remaining time to live in
// milliseconds (-1: none; -2: the key is gone).
var readScript = redis.NewScript(`#!lua flags=no-writes
local out = {}
for i = 1, #KEYS do
  out[2 * i - 1] = redis.call('GET', KEYS[i])
  out[2 * i] = redis.call('PTTL', KEYS[i])
end
return out
`)

const (
	readChunk    = 100
	readPipeline = 8
	scanCount    = 5000
)

// redisHead is the head hash of a checkpoint.
type redisHead struct {
	layout  int
	meta    Meta
	owner   string
	scopes  []scopeHead
	entries int
	pages   int
}

// decodeHead reads a head hash; where names it in errors.
func decodeHead(h map[string]string, where string) (*redisHead, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: the Redis head at %s: %s", ErrCorrupt, where, fmt.Sprintf(format, args...))
	}
	lv, ok := h["layout"]
	if !ok {
		return nil, bad("no layout field")
	}
	layout, err := strconv.Atoi(lv)
	if err != nil {
		return nil, bad("layout %q is not a number", lv)
	}
	if layout < MinRedisLayout || layout > RedisLayout {
		return nil, &LayoutError{Where: where, Version: layout}
	}
	hd := &redisHead{layout: layout, owner: h["owner"]}
	if hd.meta.ID, err = strconv.ParseUint(h["id"], 10, 64); err != nil || hd.meta.ID == 0 {
		return nil, bad("id %q is not a checkpoint id", h["id"])
	}
	created, err := strconv.ParseInt(h["created"], 10, 64)
	if err != nil {
		return nil, bad("created %q is not a time", h["created"])
	}
	hd.meta.Created = time.Unix(0, created).UTC()
	hd.meta.Writer = h["writer"]
	if hd.entries, err = strconv.Atoi(h["entries"]); err != nil || hd.entries < 0 {
		return nil, bad("entries %q is not a count", h["entries"])
	}
	if hd.pages, err = strconv.Atoi(h["pages"]); err != nil || hd.pages < 0 {
		return nil, bad("pages %q is not a count", h["pages"])
	}
	d := &wire.Dec{B: []byte(h["positions"])}
	if v := d.Byte(); d.Err == nil && v != 1 {
		return nil, bad("positions in encoding %d", v)
	}
	for range d.Count(2) {
		src := d.Str()
		hd.meta.Positions = append(hd.meta.Positions, Position{Source: src, Data: append([]byte(nil), d.Bytes()...)})
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Err = errors.New("bytes left over")
	}
	if d.Err != nil {
		return nil, bad("positions: %v", d.Err)
	}
	d = &wire.Dec{B: []byte(h["scopes"])}
	if v := d.Byte(); d.Err == nil && v != 1 {
		return nil, bad("scopes in encoding %d", v)
	}
	for range d.Count(2) {
		s := scopeHead{scope: d.Str()}
		s.key = d.Str()
		hd.scopes = append(hd.scopes, s)
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Err = errors.New("bytes left over")
	}
	if d.Err != nil {
		return nil, bad("scopes: %v", d.Err)
	}
	return hd, nil
}

func (r *Redis) readHead(ctx context.Context) (*redisHead, error) {
	octx, cancel := r.op(ctx)
	defer cancel()
	h, err := r.client.HGetAll(octx, r.keys.head()).Result()
	r.observe(err)
	if err != nil {
		return nil, fmt.Errorf("redis %s: reading the checkpoint head: %w", r.desc, err)
	}
	if len(h) == 0 {
		return nil, nil
	}
	return decodeHead(h, r.keys.base)
}

// Latest implements Store: the checkpoint the head names. Its entries are
// read by Entries, which also seeds the store's knowledge of what Redis
// holds, so that the next checkpoint writes only what changed since.
func (r *Redis) Latest(ctx context.Context) (Snapshot, error) {
	hd, err := r.readHead(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = nil
	r.written, r.scopes = map[string]*rec{}, map[string]*scopeState{}
	if hd == nil {
		octx, cancel := r.op(ctx)
		defer cancel()
		n, err := r.client.Exists(octx, r.keys.buckets()).Result()
		r.observe(err)
		if err != nil {
			return nil, fmt.Errorf("redis %s: %w", r.desc, err)
		}
		// Buckets without a head are left from something else: the first
		// checkpoint replaces them.
		r.base.Store(0)
		r.mirror = n == 0
		return nil, nil
	}
	r.base.Store(hd.meta.ID)
	r.mirror = false
	return &redisSnapshot{r: r, ctx: ctx, head: hd}, nil
}

type redisSnapshot struct {
	r    *Redis
	ctx  context.Context
	head *redisHead
}

func (s *redisSnapshot) Meta() Meta   { return s.head.meta }
func (s *redisSnapshot) Close() error { return nil }

// bucketRef is one field of the buckets hash.
type bucketRef struct {
	field, scope string
	nb, b        uint32
	ver          string
}

// Entries implements Snapshot. Entries come grouped by scope, in the order
// the checkpoint wrote the scopes, each scope's first entry first and the
// rest by key. A scope of which a page expired is left out whole: what is
// left of it is not a state its owner ever had.
func (s *redisSnapshot) Entries(f func(Entry) error) error {
	r, ctx, hd := s.r, s.ctx, s.head
	refs, err := s.scanBuckets()
	if err != nil {
		return err
	}
	if len(refs) != hd.pages {
		return fmt.Errorf("%w: the Redis buckets at %s name %d pages; checkpoint %d has %d", ErrCorrupt, r.keys.base, len(refs), hd.meta.ID, hd.pages)
	}
	now := time.Now().UnixMilli()
	scopes := map[string]*scopeState{}
	entries := map[string][]pageEntry{}
	gone := map[string]bool{}
	for start := 0; start < len(refs); start += readChunk * readPipeline {
		chunk := refs[start:min(start+readChunk*readPipeline, len(refs))]
		vals, ttls, err := s.readPages(ctx, chunk, true)
		if err != nil {
			return err
		}
		for i, ref := range chunk {
			st := scopes[ref.scope]
			if st == nil {
				st = &scopeState{nb: ref.nb, buckets: map[uint32]*bucketState{}}
				scopes[ref.scope] = st
			}
			if st.nb != ref.nb {
				return fmt.Errorf("%w: scope %s at %s has pages of %d and of %d buckets", ErrCorrupt, ref.scope, r.keys.base, st.nb, ref.nb)
			}
			if ttls[i] == -2 {
				// Known, so that the next checkpoint replaces it.
				st.buckets[ref.b] = &bucketState{ver: ref.ver, count: -1}
				gone[ref.scope] = true
				continue
			}
			pg, err := r.openPage(vals[i], r.keys.page(ref.ver, ref.field))
			if errors.Is(err, ErrKey) {
				return err
			}
			if err == nil && (pg.scope != ref.scope || pg.nb != ref.nb || pg.b != ref.b) {
				err = fmt.Errorf("it holds bucket %d of %d of scope %q", pg.b, pg.nb, pg.scope)
			}
			if err != nil {
				return fmt.Errorf("%w: page %s: %v", ErrCorrupt, r.keys.page(ref.ver, ref.field), err)
			}
			bs := &bucketState{ver: ref.ver, count: len(pg.entries), size: len(vals[i]), ttl: pg.ttl}
			if ttls[i] > 0 {
				bs.expires = now + ttls[i]
			}
			st.buckets[ref.b] = bs
			entries[ref.scope] = append(entries[ref.scope], pg.entries...)
		}
	}
	n := 0
	for _, es := range entries {
		n += len(es)
	}
	if len(gone) == 0 && n != hd.entries {
		return fmt.Errorf("%w: the Redis pages at %s hold %d entries; checkpoint %d has %d", ErrCorrupt, r.keys.base, n, hd.meta.ID, hd.entries)
	}
	written := make(map[string]*rec, n)
	for _, scope := range scopeOrder(hd.scopes, entries) {
		es := entries[scope]
		if gone[scope] {
			// Its pages count as changed, so that the next checkpoint
			// writes the scope anew or deletes it.
			for _, bs := range scopes[scope].buckets {
				bs.count = -1
			}
			r.log.Warn("a page of a state scope expired in Redis: the scope's state is dropped", "scope", scope, "entries_left", len(es))
			continue
		}
		orderScope(es, firstKey(hd.scopes, scope))
		for _, e := range es {
			written[scope+"|"+e.key] = &rec{hash: xxhash.Sum64(e.val)}
			if err := f(Entry{Scope: scope, Key: e.key, Value: e.val}); err != nil {
				return err
			}
		}
	}
	for scope := range gone {
		if entries[scope] == nil {
			r.log.Warn("a page of a state scope expired in Redis: the scope's state is dropped", "scope", scope, "entries_left", 0)
		}
	}
	// The head must still name the checkpoint read: only a process that
	// holds the lease writes, so a change means this one does not.
	now2, err := r.readHead(ctx)
	if err != nil {
		return err
	}
	if now2 == nil || now2.meta.ID != hd.meta.ID {
		return fmt.Errorf("redis %s: checkpoint %d was replaced while it was being read: %w", r.desc, hd.meta.ID, ErrFenced)
	}
	r.mu.Lock()
	r.written, r.scopes, r.mirror = written, scopes, true
	r.base.Store(hd.meta.ID)
	r.mu.Unlock()
	return nil
}

// scanBuckets reads the buckets hash; HSCAN may return a field twice, so
// fields are deduplicated.
func (s *redisSnapshot) scanBuckets() ([]bucketRef, error) {
	r := s.r
	seen := map[string]bool{}
	var refs []bucketRef
	var cursor uint64
	for {
		octx, cancel := r.op(s.ctx)
		kv, next, err := r.client.HScan(octx, r.keys.buckets(), cursor, "", scanCount).Result()
		cancel()
		r.observe(err)
		if err != nil {
			return nil, fmt.Errorf("redis %s: reading the checkpoint's buckets: %w", r.desc, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if seen[kv[i]] {
				continue
			}
			seen[kv[i]] = true
			scope, nb, b, err := parseBucketField(kv[i])
			ver := kv[i+1]
			if err == nil && (ver == "" || strings.IndexByte(ver, ':') >= 0) {
				err = fmt.Errorf("version %q", ver)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: the Redis buckets at %s: %v", ErrCorrupt, r.keys.base, err)
			}
			refs = append(refs, bucketRef{field: kv[i], scope: scope, nb: nb, b: b, ver: ver})
		}
		if cursor = next; cursor == 0 {
			return refs, nil
		}
	}
}

// scopeOrder lists the scopes in the order the checkpoint wrote them;
// scopes it does not name come last, by name.
func scopeOrder(heads []scopeHead, entries map[string][]pageEntry) []string {
	out := make([]string, 0, len(entries))
	named := map[string]bool{}
	for _, h := range heads {
		named[h.scope] = true
		if _, ok := entries[h.scope]; ok {
			out = append(out, h.scope)
		}
	}
	var rest []string
	for scope := range entries {
		if !named[scope] {
			rest = append(rest, scope)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func firstKey(heads []scopeHead, scope string) string {
	for _, h := range heads {
		if h.scope == scope {
			return h.key
		}
	}
	return ""
}

// orderScope puts a scope's first key first and the rest by key.
func orderScope(es []pageEntry, first string) {
	slices.SortFunc(es, func(a, b pageEntry) int {
		switch {
		case a.key == b.key:
			return 0
		case a.key == first:
			return -1
		case b.key == first:
			return 1
		}
		return strings.Compare(a.key, b.key)
	})
}

// readPages reads pages and their TTLs, in pipelined chunks.
func (s *redisSnapshot) readPages(ctx context.Context, refs []bucketRef, retry bool) ([][]byte, []int64, error) {
	r := s.r
	pipe := r.client.Pipeline()
	var cmds []*redis.Cmd
	for start := 0; start < len(refs); start += readChunk {
		end := min(start+readChunk, len(refs))
		keys := make([]string, 0, end-start)
		for _, ref := range refs[start:end] {
			keys = append(keys, r.keys.page(ref.ver, ref.field))
		}
		cmds = append(cmds, readScript.EvalSha(ctx, pipe, keys))
	}
	octx, cancel := context.WithTimeout(ctx, 4*r.opTTL)
	defer cancel()
	_, err := pipe.Exec(octx)
	if err != nil && retry && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		// A pipeline cannot fall back from EVALSHA to EVAL: load the
		// script (Redis restarted, or never saw it) and read again.
		if err = readScript.Load(octx, r.client).Err(); err == nil {
			return s.readPages(ctx, refs, false)
		}
	}
	r.observe(err)
	if err != nil {
		return nil, nil, fmt.Errorf("redis %s: reading checkpoint pages: %w", r.desc, err)
	}
	vals := make([][]byte, 0, len(refs))
	ttls := make([]int64, 0, len(refs))
	for _, c := range cmds {
		reply, err := c.Slice()
		if err != nil {
			return nil, nil, fmt.Errorf("redis %s: reading checkpoint pages: %w", r.desc, err)
		}
		for i := 0; i+1 < len(reply); i += 2 {
			switch v := reply[i].(type) {
			case string:
				vals = append(vals, []byte(v))
			case nil:
				vals = append(vals, nil)
			default:
				return nil, nil, fmt.Errorf("%w: unexpected page type %T", ErrCorrupt, v)
			}
			ttl, _ := reply[i+1].(int64)
			ttls = append(ttls, ttl)
		}
	}
	return vals, ttls, nil
}

// openPage decodes a page, opening it first when it is sealed.
func (r *Redis) openPage(b []byte, key string) (*page, error) {
	if seal.IsSealed(b) {
		id, _ := seal.EnvelopeKeyID(b)
		if r.seal == nil {
			return nil, fmt.Errorf("%w: page %s is encrypted with key %s and no key is configured (state.encryption)", ErrKey, key, id)
		}
		plain, err := r.seal.Open(nil, b, []byte(key))
		if err != nil {
			return nil, fmt.Errorf("%w: page %s: %v", ErrKey, key, err)
		}
		b = plain
	}
	return decodePage(b)
}
