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
	readChunk    = 1000
	readPipeline = 4
	scanCount    = 5000
)

// redisHead is the head hash of a checkpoint.
type redisHead struct {
	layout  int
	meta    Meta
	owner   string
	scopes  []scopeHead
	entries int
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
	r.written = map[string]rec{}
	if hd == nil {
		octx, cancel := r.op(ctx)
		defer cancel()
		n, err := r.client.Exists(octx, r.keys.index()).Result()
		r.observe(err)
		if err != nil {
			return nil, fmt.Errorf("redis %s: %w", r.desc, err)
		}
		// An index without a head is left from something else: the first
		// checkpoint replaces it.
		r.base, r.mirror = 0, n == 0
		return nil, nil
	}
	r.base, r.mirror = hd.meta.ID, false
	return &redisSnapshot{r: r, ctx: ctx, head: hd}, nil
}

type redisSnapshot struct {
	r    *Redis
	ctx  context.Context
	head *redisHead
}

func (s *redisSnapshot) Meta() Meta   { return s.head.meta }
func (s *redisSnapshot) Close() error { return nil }

// indexed is one entry of the index.
type indexed struct {
	scope, key string
	ver        string
}

func (ix indexed) name() string { return ix.scope + "|" + ix.key }

// Entries implements Snapshot. Entries come grouped by scope, in the order
// the checkpoint wrote the scopes, each scope's first entry first. An
// entry whose value expired is left out; when the first entry of a scope
// expired, the whole scope is, since its owner reads that one first.
func (s *redisSnapshot) Entries(f func(Entry) error) error {
	r, ctx, hd := s.r, s.ctx, s.head
	items, err := s.scanIndex()
	if err != nil {
		return err
	}
	if len(items) != hd.entries {
		return fmt.Errorf("%w: the Redis index at %s holds %d entries; checkpoint %d has %d", ErrCorrupt, r.keys.base, len(items), hd.meta.ID, hd.entries)
	}
	items = order(items, hd.scopes)

	now := time.Now().UnixMilli()
	seed := make(map[string]rec, len(items))
	skip := ""
	var expired, dropped int
	for start := 0; start < len(items); start += readChunk * readPipeline {
		end := min(start+readChunk*readPipeline, len(items))
		vals, ttls, err := s.readValues(ctx, items[start:end], true)
		if err != nil {
			return err
		}
		for i, it := range items[start:end] {
			name := it.name()
			val := vals[i]
			if ttls[i] == -2 {
				seed[name] = rec{ver: it.ver, expires: expiredMark}
				expired++
				if i+start == 0 || items[start+i-1].scope != it.scope {
					skip = it.scope
					r.log.Warn("the first entry of a state scope expired in Redis: the scope's state is dropped", "scope", it.scope, "key", it.key)
				}
				continue
			}
			rc := rec{hash: xxhash.Sum64(val), ver: it.ver}
			if ttls[i] > 0 {
				rc.expires = now + ttls[i]
			}
			seed[name] = rc
			if skip == it.scope {
				dropped++
				continue
			}
			if err := f(Entry{Scope: it.scope, Key: it.key, Value: val}); err != nil {
				return err
			}
		}
	}
	if expired > 0 {
		r.log.Warn("entries of the checkpoint expired in Redis before they were read", "id", hd.meta.ID, "expired", expired, "dropped_with_their_scope", dropped)
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
	r.written, r.base, r.mirror = seed, hd.meta.ID, true
	r.mu.Unlock()
	return nil
}

// scanIndex reads the whole index; HSCAN may return a field twice, so
// fields are deduplicated.
func (s *redisSnapshot) scanIndex() ([]indexed, error) {
	r := s.r
	seen := make(map[string]struct{}, s.head.entries)
	items := make([]indexed, 0, s.head.entries)
	var cursor uint64
	for {
		octx, cancel := r.op(s.ctx)
		kv, next, err := r.client.HScan(octx, r.keys.index(), cursor, "", scanCount).Result()
		cancel()
		r.observe(err)
		if err != nil {
			return nil, fmt.Errorf("redis %s: reading the checkpoint index: %w", r.desc, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if _, dup := seen[kv[i]]; dup {
				continue
			}
			seen[kv[i]] = struct{}{}
			scope, key, ok := strings.Cut(kv[i], "|")
			ver := kv[i+1]
			if !ok || ver == "" || strings.IndexByte(ver, ':') >= 0 {
				return nil, fmt.Errorf("%w: the Redis index at %s has a bad entry %q → %q", ErrCorrupt, r.keys.base, kv[i], kv[i+1])
			}
			items = append(items, indexed{scope: scope, key: key, ver: ver})
		}
		cursor = next
		if cursor == 0 {
			return items, nil
		}
	}
}

// order groups entries by scope in the order of scopes, each scope's
// first key first and the rest by key; scopes the head does not name come
// last, by name.
func order(items []indexed, scopes []scopeHead) []indexed {
	rank := make(map[string]int, len(scopes))
	first := make(map[string]string, len(scopes))
	for i, s := range scopes {
		rank[s.scope] = i
		first[s.scope] = s.key
	}
	pos := func(it indexed) int {
		if r, ok := rank[it.scope]; ok {
			return r
		}
		return len(scopes)
	}
	slices.SortFunc(items, func(a, b indexed) int {
		if pa, pb := pos(a), pos(b); pa != pb {
			return pa - pb
		}
		if c := strings.Compare(a.scope, b.scope); c != 0 {
			return c
		}
		fa, fb := a.key == first[a.scope], b.key == first[b.scope]
		switch {
		case fa && !fb:
			return -1
		case fb && !fa:
			return 1
		}
		return strings.Compare(a.key, b.key)
	})
	return items
}

// readValues reads the values and TTLs of items, in pipelined chunks.
func (s *redisSnapshot) readValues(ctx context.Context, items []indexed, retry bool) ([][]byte, []int64, error) {
	r := s.r
	pipe := r.client.Pipeline()
	var cmds []*redis.Cmd
	for start := 0; start < len(items); start += readChunk {
		end := min(start+readChunk, len(items))
		keys := make([]string, 0, end-start)
		for _, it := range items[start:end] {
			keys = append(keys, r.keys.value(it.ver, it.name()))
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
			return s.readValues(ctx, items, false)
		}
	}
	r.observe(err)
	if err != nil {
		return nil, nil, fmt.Errorf("redis %s: reading checkpoint values: %w", r.desc, err)
	}
	vals := make([][]byte, 0, len(items))
	ttls := make([]int64, 0, len(items))
	for _, c := range cmds {
		reply, err := c.Slice()
		if err != nil {
			return nil, nil, fmt.Errorf("redis %s: reading checkpoint values: %w", r.desc, err)
		}
		for i := 0; i+1 < len(reply); i += 2 {
			switch v := reply[i].(type) {
			case string:
				vals = append(vals, []byte(v))
			case nil:
				vals = append(vals, nil)
			case []byte:
				vals = append(vals, v)
			default:
				return nil, nil, fmt.Errorf("%w: unexpected value type %T", ErrCorrupt, v)
			}
			ttl, _ := reply[i+1].(int64)
			ttls = append(ttls, ttl)
		}
	}
	return vals, ttls, nil
}
