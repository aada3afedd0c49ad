package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"

	"github.com/cep-project/cep/internal/wire"
)

// ErrFenced is a checkpoint refused because this process no longer owns
// the state: its lease is held by another process, or another process has
// written a newer checkpoint. A fenced process must not emit.
var ErrFenced = errors.New("this process does not hold the state's lease")

// commitScript makes a checkpoint visible in one step, or refuses it. It
// checks everything before it writes anything, so a refusal leaves Redis
// as it was. Its work is in pages, not entries.
//
//	KEYS  lease, head, buckets, then nOld page keys to delete, then
//	      nPersist page keys whose staging expiry goes
//	ARGV  1 owner (the lease value; "" checks none), 2 base (the id the
//	      checkpoint builds on; "*": any), 3 layout, 4 id, 5 version,
//	      6 created, 7 writer, 8 positions, 9 scopes, 10 entries,
//	      11 pages, 12 nOld, 13 nPersist, 14 nNew, 15 full ("1": replace
//	      every bucket), 16 the page keys' prefix ("<base>p:"), 17 the
//	      writing store's token, then nNew bucket fields now at the
//	      version, then bucket fields to delete
var commitScript = redis.NewScript(`#!lua
local owner = ARGV[1]
if owner ~= '' then
  local cur = redis.call('GET', KEYS[1])
  if cur ~= owner then
    return redis.error_reply('CEPLEASE ' .. (cur or ''))
  end
end
for i = 2, 3 do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= 'hash' then
    return redis.error_reply('CEPCORRUPT ' .. KEYS[i] .. ' is a ' .. t .. ', not a hash')
  end
end
local h = redis.call('HMGET', KEYS[2], 'layout', 'id', 'store')
if h[1] and (tonumber(h[1]) or 0) > tonumber(ARGV[3]) then
  return redis.error_reply('CEPLAYOUT ' .. h[1])
end
local cur = h[2] or '0'
if tonumber(ARGV[4]) <= (tonumber(cur) or 0) then
  return redis.error_reply('CEPNEWER ' .. cur .. ' ' .. (h[3] or ''))
end
if ARGV[2] ~= '*' and cur ~= ARGV[2] then
  return redis.error_reply('CEPBASE ' .. cur)
end
local step = 3000
if ARGV[15] == '1' then
  local cursor = '0'
  repeat
    local r = redis.call('HSCAN', KEYS[3], cursor, 'COUNT', 1000)
    cursor = r[1]
    local ks, n = {}, 0
    for i = 1, #r[2], 2 do
      n = n + 1
      ks[n] = ARGV[16] .. r[2][i + 1] .. ':' .. r[2][i]
    end
    if n > 0 then redis.call('UNLINK', unpack(ks)) end
  until cursor == '0'
  redis.call('DEL', KEYS[3])
end
local i, last = 4, 3 + tonumber(ARGV[12])
while i <= last do
  local j = math.min(i + step - 1, last)
  redis.call('UNLINK', unpack(KEYS, i, j))
  i = j + 1
end
last = last + tonumber(ARGV[13])
while i <= last do
  redis.call('PERSIST', KEYS[i])
  i = i + 1
end
local a = 18
last = 17 + tonumber(ARGV[14])
while a <= last do
  local j = math.min(a + step - 1, last)
  local fv, n = {}, 0
  for k = a, j do
    fv[n + 1] = ARGV[k]
    fv[n + 2] = ARGV[5]
    n = n + 2
  end
  redis.call('HSET', KEYS[3], unpack(fv))
  a = j + 1
end
last = #ARGV
while a <= last do
  local j = math.min(a + step - 1, last)
  redis.call('HDEL', KEYS[3], unpack(ARGV, a, j))
  a = j + 1
end
redis.call('HSET', KEYS[2], 'layout', ARGV[3], 'id', ARGV[4], 'created', ARGV[6], 'writer', ARGV[7],
  'owner', owner, 'store', ARGV[17], 'positions', ARGV[8], 'scopes', ARGV[9], 'entries', ARGV[10],
  'pages', ARGV[11])
return 'OK'
`)

// pipeChunk bounds one pipelined round trip of a checkpoint's writes.
const (
	pipeChunkCmds  = 500
	pipeChunkBytes = 8 << 20
)

type redisTx struct {
	r     *Redis
	meta  Meta
	epoch uint32
	now   int64 // Unix ms at Begin
	// full: every bucket is rewritten and the rest deleted.
	full bool
	base string
	// ver names this checkpoint's pages.
	ver string

	scopes  []scopeHead
	inScope map[string]*txScope
	byIdx   []*txScope
	cur     *txScope
	built   bool
	wrote   bool
	name    []byte
	// written and mirror are the store's: the loop owns them between
	// Begin and Commit, while no other checkpoint is in flight.
	written map[string]*rec
	mirror  map[string]*scopeState
	updates []hashUpdate
	done    bool

	// The plan, made by Commit and applied to the mirror once the commit
	// is known to have happened.
	plan plan
}

// txScope is a scope's entries in this checkpoint, by bucket.
type txScope struct {
	name  string
	st    *scopeState // nil: new
	nb    uint32
	pages []pageBuilder
	count int
}

// hashUpdate is an entry whose value changed (rec set) or that is new.
type hashUpdate struct {
	rec  *rec
	name string
	hash uint64
}

// plan is what a commit changes in Redis.
type plan struct {
	pages      []newPage
	oldKeys    []string
	persist    []string
	delFields  []string
	deleted    []string
	entries    int
	totalPages int
	bytes      int64
	scopes     map[string]*scopeState
}

type newPage struct {
	field string
	key   string
	data  []byte
	ttl   time.Duration
	scope string
	b     uint32
	count int
}

// scopeHead is a scope and the key written first in it: a reader hands
// that entry out first, before the rest of its scope.
type scopeHead struct{ scope, key string }

// Begin implements Store. It settles a previous commit whose outcome was
// unknown first, so that the new checkpoint is a diff against what Redis
// really holds.
func (r *Redis) Begin(ctx context.Context, m Meta) (Tx, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil {
		if err := r.settle(ctx); err != nil {
			return nil, err
		}
	}
	r.epoch++
	tx := &redisTx{r: r, meta: m, epoch: r.epoch, now: time.Now().UnixMilli(), inScope: map[string]*txScope{},
		ver: strconv.FormatUint(m.ID, 10) + "-" + r.token[:8], written: r.written, mirror: r.scopes}
	if r.mirror {
		tx.base = strconv.FormatUint(r.base.Load(), 10)
	} else {
		tx.full, tx.base = true, "*"
	}
	return tx, nil
}

// settle asks Redis whether the pending commit happened.
func (r *Redis) settle(ctx context.Context) error {
	p := r.pending
	octx, cancel := r.op(ctx)
	defer cancel()
	id, err := r.client.HGet(octx, r.keys.head(), "id").Result()
	if errors.Is(err, redis.Nil) {
		id, err = "0", nil
	}
	r.observe(err)
	if err != nil {
		return fmt.Errorf("redis %s: finding out whether checkpoint %d was committed: %w", r.desc, p.meta.ID, err)
	}
	r.pending = nil
	if id == strconv.FormatUint(p.meta.ID, 10) {
		r.log.Info("checkpoint was committed after all", "id", p.meta.ID)
		r.apply(p)
		return nil
	}
	if id != strconv.FormatUint(r.base.Load(), 10) {
		// Neither: the index is not what the mirror says.
		r.mirror = false
	}
	return nil
}

// loadScripts loads the commit script after the store (re)connects, so
// that a large commit is not sent twice; it reports whether it loaded it.
func (r *Redis) loadScripts(ctx context.Context) bool {
	r.hmu.Lock()
	need := r.loaded != r.health.Since || !r.health.Up
	since := r.health.Since
	r.hmu.Unlock()
	if !need {
		return false
	}
	octx, cancel := r.op(ctx)
	defer cancel()
	if err := commitScript.Load(octx, r.client).Err(); err != nil {
		return false
	}
	r.hmu.Lock()
	r.loaded = since
	r.hmu.Unlock()
	return true
}

// ttlOf is how long an entry lives in Redis after it is written.
func (r *Redis) ttlOf(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return max(ttl, r.minTTL)
}

// Put implements Tx. It only adds the entry to its bucket's page: the
// engine is paused while a checkpoint is taken, so comparing with what
// Redis holds waits for Commit, which runs beside the engine.
func (t *redisTx) Put(e Entry) error {
	if t.done {
		return errors.New("checkpoint already committed or aborted")
	}
	ts := t.cur
	if ts == nil || ts.name != e.Scope {
		var err error
		if ts, err = t.scope(e); err != nil {
			return err
		}
	}
	b := bucketOf(e.Key, ts.nb)
	pb := &ts.pages[b]
	pb.add(ts.name, ts.nb, b, e.Key, e.Value)
	pb.mergeTTL(t.r.ttlOf(e.TTL))
	ts.count++
	// A new scope learns its size as it goes: its buckets double before
	// they grow large.
	if ts.st == nil && ts.count > int(ts.nb)*2*perBucket {
		ts.rebucket(ts.nb * 2)
	}
	return nil
}

// build compares every entry with the mirror: a page in which an entry
// changed or appeared is dirty.
func (t *redisTx) build() {
	if t.built {
		return
	}
	t.built = true
	upd := make([]hashUpdate, 0, t.r.lastChanged+t.r.lastChanged/8+16)
	for _, ts := range t.byIdx {
		for i := range ts.pages {
			pb := &ts.pages[i]
			pb.each(func(key, val []byte) {
				// The name is built in a reused buffer: a lookup with
				// string(buf) does not allocate, and most entries of a
				// checkpoint are looked up only.
				t.name = append(append(append(t.name[:0], ts.name...), '|'), key...)
				h := xxhash.Sum64(val)
				switch old := t.written[string(t.name)]; {
				case old == nil:
					upd = append(upd, hashUpdate{name: string(t.name), hash: h})
					pb.dirty = true
				case old.hash != h:
					old.seen = t.epoch
					upd = append(upd, hashUpdate{rec: old, hash: h})
					pb.dirty = true
				default:
					old.seen = t.epoch
				}
			})
		}
	}
	t.updates = upd
}

// scope starts or resumes a scope of this checkpoint.
func (t *redisTx) scope(e Entry) (*txScope, error) {
	ts := t.inScope[e.Scope]
	if ts == nil {
		if strings.IndexByte(e.Scope, '|') >= 0 {
			return nil, fmt.Errorf("state scope %q contains |, which the Redis layout uses to end a scope", e.Scope)
		}
		ts = &txScope{name: e.Scope, st: t.mirror[e.Scope], nb: 1}
		if ts.st != nil {
			ts.nb = ts.st.nb
		}
		ts.pages = make([]pageBuilder, ts.nb)
		for i := range ts.pages {
			ts.pages[i].ttl = -1
			if ts.st != nil {
				if bs := ts.st.buckets[uint32(i)]; bs != nil {
					ts.pages[i].body = make([]byte, 0, bs.size+bs.size/4+64)
				}
			}
		}
		t.inScope[e.Scope] = ts
		t.byIdx = append(t.byIdx, ts)
		t.scopes = append(t.scopes, scopeHead{e.Scope, e.Key})
	}
	t.cur = ts
	return ts, nil
}

// mergeTTL makes a page live as long as its longest-lived entry: no
// expiry when one has none.
func (p *pageBuilder) mergeTTL(ttl time.Duration) {
	if p.ttl < 0 || ttl == 0 || p.ttl > 0 && ttl > p.ttl {
		p.ttl = ttl
	}
}

// rebucket spreads a scope's entries over nb buckets; every page changes.
func (ts *txScope) rebucket(nb uint32) {
	pages := make([]pageBuilder, nb)
	for i := range pages {
		pages[i].ttl, pages[i].dirty = -1, true
	}
	for i := range ts.pages {
		p := &ts.pages[i]
		p.each(func(k, v []byte) {
			key := string(k)
			b := bucketOf(key, nb)
			pages[b].add(ts.name, nb, b, key, v)
			pages[b].mergeTTL(p.ttl)
		})
	}
	ts.nb, ts.pages = nb, pages
}

func (t *redisTx) Abort() { t.done = true }

// makePlan decides which pages this checkpoint writes and which it
// deletes: a bucket is rewritten when an entry of it changed, appeared or
// went, when its TTL changed, or when less than half of its TTL is left;
// buckets left empty and scopes gone are deleted.
func (t *redisTx) makePlan() {
	r := t.r
	p := &t.plan
	if p.scopes != nil {
		return
	}
	p.scopes = make(map[string]*scopeState, len(t.inScope))
	r.mu.Lock()
	for name, rc := range t.written {
		if rc.seen == t.epoch {
			continue
		}
		p.deleted = append(p.deleted, name)
		scope, key, _ := strings.Cut(name, "|")
		if ts := t.inScope[scope]; ts != nil {
			ts.pages[bucketOf(key, ts.nb)].dirty = true
		}
	}
	r.mu.Unlock()
	remove := func(st *scopeState, scope string) {
		for b, bs := range st.buckets {
			f := bucketField(scope, st.nb, b)
			p.oldKeys = append(p.oldKeys, r.keys.page(bs.ver, f))
			p.delFields = append(p.delFields, f)
		}
	}
	for scope, st := range t.mirror {
		if t.inScope[scope] == nil {
			remove(st, scope)
		}
	}
	for _, sh := range t.scopes {
		ts := t.inScope[sh.scope]
		if nb := bucketsFor(ts.count, ts.nb); nb != ts.nb {
			ts.rebucket(nb)
		}
		var mb map[uint32]*bucketState
		if ts.st != nil {
			if ts.st.nb == ts.nb {
				mb = ts.st.buckets
			} else {
				remove(ts.st, ts.name)
			}
		}
		st := &scopeState{nb: ts.nb, buckets: map[uint32]*bucketState{}}
		p.scopes[ts.name] = st
		p.entries += ts.count
		for b := range ts.pages {
			pb := &ts.pages[b]
			f := bucketField(ts.name, ts.nb, uint32(b))
			old := mb[uint32(b)]
			if pb.count == 0 {
				if old != nil {
					p.oldKeys = append(p.oldKeys, r.keys.page(old.ver, f))
					p.delFields = append(p.delFields, f)
				}
				continue
			}
			p.totalPages++
			if old != nil && !t.full && !pb.dirty && old.count == pb.count && old.ttl == pb.ttl &&
				(old.expires == 0 || old.expires-t.now >= old.ttl.Milliseconds()/2) {
				old.size = len(pb.body)
				st.buckets[uint32(b)] = old
				pb.body = nil
				continue
			}
			if old != nil && !t.full {
				p.oldKeys = append(p.oldKeys, r.keys.page(old.ver, f))
			}
			size := len(pb.body)
			np := newPage{field: f, key: r.keys.page(t.ver, f), ttl: pb.ttl, scope: ts.name, b: uint32(b), count: pb.count}
			np.data = pb.finish()
			if r.seal != nil {
				// Bound to its key name, a sealed page cannot be passed
				// off as another.
				np.data = r.seal.Seal(nil, np.data, []byte(np.key))
			}
			if np.ttl == 0 {
				p.persist = append(p.persist, np.key)
			}
			p.pages = append(p.pages, np)
			bs := &bucketState{ver: t.ver, count: np.count, size: size, ttl: np.ttl}
			if np.ttl > 0 {
				bs.expires = t.now + np.ttl.Milliseconds()
			}
			st.buckets[uint32(b)] = bs
		}
	}
	if t.full {
		p.oldKeys, p.delFields = nil, nil
	}
}

// Commit writes the pages that changed under the checkpoint's version,
// then runs the commit script.
func (t *redisTx) Commit(ctx context.Context) error {
	if t.done {
		return errors.New("checkpoint already committed or aborted")
	}
	t.done = true
	r := t.r
	id := t.meta.ID
	t.build()
	t.makePlan()
	p := &t.plan

	start := time.Now()
	if err := t.writePages(ctx); err != nil {
		r.observe(err)
		return fmt.Errorf("redis %s: writing checkpoint %d: %w", r.desc, id, err)
	}
	owner := ""
	r.mu.Lock()
	if r.lease != nil {
		owner = r.lease.value
	}
	r.mu.Unlock()
	keys := make([]string, 0, 3+len(p.oldKeys)+len(p.persist))
	keys = append(keys, r.keys.lease(), r.keys.head(), r.keys.buckets())
	keys = append(keys, p.oldKeys...)
	keys = append(keys, p.persist...)
	full := "0"
	if t.full {
		full = "1"
	}
	args := make([]any, 0, 17+len(p.pages)+len(p.delFields))
	args = append(args, owner, t.base, RedisLayout, id, t.ver, t.meta.Created.UnixNano(), t.meta.Writer,
		encodePositions(t.meta.Positions), encodeScopes(t.scopes), p.entries, p.totalPages,
		len(p.oldKeys), len(p.persist), len(p.pages), full, r.keys.base+"p:", r.token)
	for _, np := range p.pages {
		args = append(args, np.field)
	}
	for _, f := range p.delFields {
		args = append(args, f)
	}
	wrote := time.Now()
	if r.loadScripts(ctx) {
		// A script Redis does not know would be sent twice: EVALSHA
		// fails, then EVAL with every argument again.
		r.log.Debug("commit script loaded into Redis")
	}
	sctx, cancel := context.WithTimeout(ctx, 2*r.opTTL+time.Duration(len(keys)+len(args))*10*time.Microsecond)
	defer cancel()
	err := commitScript.Run(sctx, r.client, keys, args...).Err()
	r.observe(err)
	var rerr redis.Error
	switch {
	case err == nil:
		r.mu.Lock()
		r.apply(t)
		r.lastChanged = len(t.updates)
		r.last = CommitStats{ID: id, Entries: p.entries, Changed: len(t.updates), Deleted: len(p.deleted),
			Pages: p.totalPages, PagesWritten: len(p.pages), PagesDeleted: len(p.delFields), Full: t.full,
			Bytes: p.bytes, Write: wrote.Sub(start), Commit: time.Since(wrote)}
		r.mu.Unlock()
		return nil
	case !errors.As(err, &rerr):
		// The script may or may not have run.
		r.mu.Lock()
		r.pending = t
		r.mu.Unlock()
		return fmt.Errorf("redis %s: committing checkpoint %d: %w", r.desc, id, err)
	}
	code, detail, _ := strings.Cut(rerr.Error(), " ")
	if code == "CEPNEWER" && detail == fmt.Sprintf("%d %s", id, r.token) {
		// A retry of this very commit, after the first went through.
		r.mu.Lock()
		r.apply(t)
		r.mu.Unlock()
		return nil
	}
	// Refused: nothing of it is visible, and its pages can go now rather
	// than when they expire.
	t.discard(ctx)
	switch code {
	case "CEPLEASE":
		if detail == "" {
			// Lapsed, not taken: the lease's renewal takes it back if
			// nobody wrote in between, and the checkpoint is retried.
			return fmt.Errorf("redis %s: checkpoint %d refused: the lease lapsed", r.desc, id)
		}
		return fmt.Errorf("redis %s: checkpoint %d refused: the lease is held by %s: %w", r.desc, id, holderOf(detail), ErrFenced)
	case "CEPNEWER":
		newer, _, _ := strings.Cut(detail, " ")
		return fmt.Errorf("redis %s: checkpoint %d refused: Redis holds checkpoint %s, written by another process: %w", r.desc, id, newer, ErrFenced)
	case "CEPLAYOUT":
		v, _ := strconv.Atoi(detail)
		return &LayoutError{Where: r.keys.base, Version: v}
	case "CEPBASE":
		r.log.Warn("the Redis state is not the checkpoint this process last wrote: the next checkpoint writes every entry",
			"expected", t.base, "found", detail)
		r.mu.Lock()
		r.mirror = false
		r.mu.Unlock()
		return fmt.Errorf("redis %s: checkpoint %d refused: it builds on checkpoint %s, Redis holds %s", r.desc, id, t.base, detail)
	}
	return fmt.Errorf("redis %s: committing checkpoint %d: %w", r.desc, id, err)
}

// writePages writes the new pages, pipelined, under the checkpoint's
// version; nothing reads them until the commit points the buckets at
// them. Pages without a TTL are written with a staging expiry that the
// commit removes.
func (t *redisTx) writePages(ctx context.Context) error {
	if t.wrote {
		return nil
	}
	r := t.r
	pages := t.plan.pages
	pipe := r.client.Pipeline()
	from, size := 0, 0
	flush := func(to int) error {
		if to == from {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 2*r.opTTL+time.Duration(size/(1<<20))*time.Second)
		defer cancel()
		_, err := pipe.Exec(cctx)
		// Written pages are not needed any more.
		for i := from; i < to; i++ {
			pages[i].data = nil
		}
		from, size = to, 0
		return err
	}
	for i := range pages {
		np := &pages[i]
		ttl := np.ttl
		if ttl == 0 {
			ttl = stagingTTL
		}
		pipe.Set(ctx, np.key, np.data, ttl)
		size += len(np.key) + len(np.data)
		t.plan.bytes += int64(len(np.data))
		if i+1-from >= pipeChunkCmds || size >= pipeChunkBytes {
			if err := flush(i + 1); err != nil {
				return err
			}
		}
	}
	if err := flush(len(pages)); err != nil {
		return err
	}
	t.wrote = true
	return nil
}

// discard deletes the pages a refused checkpoint wrote, as well as it
// can: what stays expires.
func (t *redisTx) discard(ctx context.Context) {
	keys := make([]string, 0, len(t.plan.pages))
	for _, np := range t.plan.pages {
		keys = append(keys, np.key)
	}
	t.r.unlink(ctx, keys)
}

// apply records a committed checkpoint in the mirror.
func (r *Redis) apply(t *redisTx) {
	for _, d := range t.plan.deleted {
		delete(r.written, d)
	}
	for _, u := range t.updates {
		if u.rec != nil {
			u.rec.hash = u.hash
		} else {
			r.written[u.name] = &rec{hash: u.hash, seen: t.epoch}
		}
	}
	r.scopes = t.plan.scopes
	r.base.Store(t.meta.ID)
	r.mirror = true
}

// CommitStats describe the last checkpoint committed to Redis.
type CommitStats struct {
	ID uint64
	// Entries is the checkpoint's size; Changed and Deleted are the
	// entries that changed or appeared, and went.
	Entries, Changed, Deleted int
	// Pages holds the entries; PagesWritten and PagesDeleted are what the
	// checkpoint wrote and deleted of them, Bytes the bytes written.
	Pages, PagesWritten, PagesDeleted int
	Bytes                             int64
	// Full is set when the checkpoint rewrote everything.
	Full bool
	// Write is the time the pages took, pipelined; Commit the script's.
	Write, Commit time.Duration
}

// Drop deletes the group's state from Redis: every page the buckets name,
// the buckets, the head and the lease. Pages of checkpoints that never
// committed expire.
func (r *Redis) Drop(ctx context.Context) error {
	var cursor uint64
	for {
		octx, cancel := r.op(ctx)
		kv, next, err := r.client.HScan(octx, r.keys.buckets(), cursor, "", scanCount).Result()
		cancel()
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			keys = append(keys, r.keys.page(kv[i+1], kv[i]))
		}
		if len(keys) > 0 {
			octx, cancel := r.op(ctx)
			err := r.client.Unlink(octx, keys...).Err()
			cancel()
			if err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	octx, cancel := r.op(ctx)
	defer cancel()
	err := r.client.Unlink(octx, r.keys.buckets(), r.keys.head(), r.keys.lease()).Err()
	r.mu.Lock()
	r.written, r.scopes, r.mirror, r.pending = map[string]*rec{}, map[string]*scopeState{}, true, nil
	r.base.Store(0)
	r.mu.Unlock()
	return err
}

// LastCommit describes the last checkpoint this store committed.
func (r *Redis) LastCommit() CommitStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// unlink deletes keys nothing refers to any more, pipelined, as well as it
// can: what stays expires.
func (r *Redis) unlink(ctx context.Context, keys []string) {
	const perCmd = 500
	pipe := r.client.Pipeline()
	for i := 0; i < len(keys); i += perCmd {
		pipe.Unlink(ctx, keys[i:min(i+perCmd, len(keys))]...)
		if pipe.Len() == 20 || i+perCmd >= len(keys) {
			octx, cancel := context.WithTimeout(ctx, 2*r.opTTL)
			_, err := pipe.Exec(octx)
			cancel()
			if err != nil {
				r.log.Debug("deleting replaced values; they expire instead", "error", err)
				return
			}
		}
	}
}

// holderOf renders a lease value for messages: its holder, not its token.
func holderOf(v string) string {
	if _, who, ok := strings.Cut(v, " "); ok {
		return who
	}
	return "another process"
}

func encodePositions(ps []Position) string {
	e := &wire.Enc{B: []byte{1}}
	e.Uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.Str(p.Source)
		e.Bytes(p.Data)
	}
	return string(e.B)
}

func encodeScopes(ss []scopeHead) string {
	e := &wire.Enc{B: []byte{1}}
	e.Uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.Str(s.scope)
		e.Str(s.key)
	}
	return string(e.B)
}
