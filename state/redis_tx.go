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
// the state: its lease is held by another process, or lapsed, or another
// process has written a newer checkpoint. A fenced process must not emit.
var ErrFenced = errors.New("this process does not hold the state's lease")

// commitScript makes a checkpoint visible in one step, or refuses it. It
// checks everything before it writes anything, so a refusal leaves Redis
// as it was.
//
//	KEYS  lease, head, index, then nOld value keys to delete, then
//	      nPersist value keys whose staging expiry goes
//	ARGV  1 owner (the lease value; "" checks none), 2 base (the id the
//	      checkpoint builds on; "*": any), 3 layout, 4 id, 5 version,
//	      6 created, 7 writer, 8 positions, 9 scopes, 10 entries,
//	      11 nOld, 12 nPersist, 13 nChanged, 14 full ("1": replace the
//	      index), 15 the value keys' prefix ("<base>v:"), 16 the writing
//	      store's token, then nChanged index fields that now point at
//	      the version, then fields to delete
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
if ARGV[14] == '1' then
  local cursor = '0'
  repeat
    local r = redis.call('HSCAN', KEYS[3], cursor, 'COUNT', 1000)
    cursor = r[1]
    local ks = {}
    for i = 1, #r[2], 2 do ks[#ks + 1] = ARGV[15] .. r[2][i + 1] .. ':' .. r[2][i] end
    if #ks > 0 then redis.call('UNLINK', unpack(ks)) end
  until cursor == '0'
  redis.call('DEL', KEYS[3])
end
local i, last = 4, 3 + tonumber(ARGV[11])
while i <= last do
  local j = math.min(i + step - 1, last)
  redis.call('UNLINK', unpack(KEYS, i, j))
  i = j + 1
end
last = last + tonumber(ARGV[12])
while i <= last do
  redis.call('PERSIST', KEYS[i])
  i = i + 1
end
local a = 17
last = 16 + tonumber(ARGV[13])
while a <= last do
  local j = math.min(a + step - 1, last)
  local fv = {}
  for k = a, j do
    fv[#fv + 1] = ARGV[k]
    fv[#fv + 1] = ARGV[5]
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
  'owner', owner, 'store', ARGV[16], 'positions', ARGV[8], 'scopes', ARGV[9], 'entries', ARGV[10])
return 'OK'
`)

// pipeChunk bounds one pipelined round trip of a checkpoint's writes.
const (
	pipeChunkCmds  = 2000
	pipeChunkBytes = 4 << 20
	arenaChunk     = 1 << 20
)

type redisTx struct {
	r     *Redis
	meta  Meta
	epoch uint32
	now   int64 // Unix ms at Begin
	// full: the index is replaced rather than updated.
	full bool
	base string
	// ver names this checkpoint's values.
	ver string

	changes []change
	arena   []byte
	scopes  []scopeHead
	inScope map[string]bool
	done    bool

	// Outcome, applied to the store's mirror once the commit is known.
	deleted []string
}

type change struct {
	name    string
	val     []byte
	hash    uint64
	ttl     time.Duration
	old     string
	expires int64
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
	tx := &redisTx{r: r, meta: m, epoch: r.epoch, now: time.Now().UnixMilli(), inScope: map[string]bool{},
		ver: strconv.FormatUint(m.ID, 10) + "-" + r.token[:8]}
	if r.mirror {
		tx.base = strconv.FormatUint(r.base, 10)
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
	if id != strconv.FormatUint(r.base, 10) {
		// Neither: the index is not what the mirror says.
		r.mirror = false
	}
	return nil
}

// ttlOf is how long an entry lives in Redis after it is written.
func (r *Redis) ttlOf(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return max(ttl, r.minTTL)
}

func (t *redisTx) Put(e Entry) error {
	if t.done {
		return errors.New("checkpoint already committed or aborted")
	}
	if strings.IndexByte(e.Scope, '|') >= 0 {
		return fmt.Errorf("state scope %q contains |, which the Redis layout uses to end a scope", e.Scope)
	}
	if !t.inScope[e.Scope] {
		t.inScope[e.Scope] = true
		t.scopes = append(t.scopes, scopeHead{e.Scope, e.Key})
	}
	name := e.Scope + "|" + e.Key
	h := xxhash.Sum64(e.Value)
	ttl := t.r.ttlOf(e.TTL)
	r := t.r
	r.mu.Lock()
	old, ok := r.written[name]
	if ok {
		old.seen = t.epoch
		r.written[name] = old
	}
	r.mu.Unlock()
	if ok && !t.full && old.hash == h && fresh(old.expires, ttl, t.now) {
		return nil
	}
	c := change{name: name, hash: h, ttl: ttl}
	if ok {
		c.old = old.ver
	}
	if ttl > 0 {
		c.expires = t.now + ttl.Milliseconds()
	}
	c.val = t.keep(e.Value)
	t.changes = append(t.changes, c)
	return nil
}

// fresh tells whether an unchanged entry may stay as it is in Redis: its
// expiry is what its TTL asks, and at least half its TTL is left.
func fresh(expires int64, ttl time.Duration, now int64) bool {
	switch {
	case expires == expiredMark:
		return false
	case ttl == 0:
		return expires == 0
	case expires == 0:
		return false
	}
	return expires-now >= ttl.Milliseconds()/2
}

// keep copies a value into the checkpoint's arena: the engine may reuse
// its buffers once Put returns, and one arena costs fewer allocations
// than a copy per entry.
func (t *redisTx) keep(v []byte) []byte {
	if len(v) > arenaChunk/4 {
		return append([]byte(nil), v...)
	}
	if cap(t.arena)-len(t.arena) < len(v) {
		t.arena = make([]byte, 0, arenaChunk)
	}
	n := len(t.arena)
	t.arena = append(t.arena, v...)
	return t.arena[n:len(t.arena):len(t.arena)]
}

func (t *redisTx) Abort() { t.done = true }

// Commit writes the changed values under the checkpoint's version, then
// runs the commit script.
func (t *redisTx) Commit(ctx context.Context) error {
	if t.done {
		return errors.New("checkpoint already committed or aborted")
	}
	t.done = true
	r := t.r
	id := t.meta.ID

	// What is gone since the last checkpoint, and the versions to delete.
	var oldKeys, persist []string
	r.mu.Lock()
	entries := len(t.changes)
	for name, rec := range r.written {
		if rec.seen != t.epoch {
			t.deleted = append(t.deleted, name)
			oldKeys = append(oldKeys, r.keys.value(rec.ver, name))
		} else if !t.full {
			entries++
		}
	}
	r.mu.Unlock()
	if !t.full {
		// changes holds new and changed entries; those changed were
		// counted above already.
		for _, c := range t.changes {
			if c.old != "" {
				entries--
				oldKeys = append(oldKeys, r.keys.value(c.old, c.name))
			}
		}
	} else {
		oldKeys, t.deleted = nil, nil
	}

	if err := t.writeValues(ctx, &persist); err != nil {
		r.observe(err)
		return fmt.Errorf("redis %s: writing checkpoint %d: %w", r.desc, id, err)
	}

	owner := ""
	r.mu.Lock()
	if r.lease != nil {
		owner = r.lease.value
	}
	r.mu.Unlock()
	keys := make([]string, 0, 3+len(oldKeys)+len(persist))
	keys = append(keys, r.keys.lease(), r.keys.head(), r.keys.index())
	keys = append(keys, oldKeys...)
	keys = append(keys, persist...)
	args := make([]any, 0, 16+len(t.changes)+len(t.deleted))
	full := "0"
	if t.full {
		full = "1"
	}
	args = append(args, owner, t.base, RedisLayout, id, t.version(), t.meta.Created.UnixNano(), t.meta.Writer,
		encodePositions(t.meta.Positions), encodeScopes(t.scopes), entries,
		len(oldKeys), len(persist), len(t.changes), full, r.keys.base+"v:", r.token)
	for _, c := range t.changes {
		args = append(args, c.name)
	}
	for _, d := range t.deleted {
		args = append(args, d)
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
	// Refused: nothing of it is visible, and its values can go now
	// rather than when they expire.
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
		return &LayoutError{Where: r.Where(), Version: v}
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

// writeValues writes the new values, pipelined, under the checkpoint's
// version; nothing reads them until the commit points the index at them.
// Entries without a TTL are written with a staging expiry that the commit
// removes (their keys go to persist).
func (t *redisTx) writeValues(ctx context.Context, persist *[]string) error {
	r := t.r
	pipe := r.client.Pipeline()
	n, size := 0, 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 2*r.opTTL+time.Duration(size/(1<<20))*time.Second)
		defer cancel()
		_, err := pipe.Exec(cctx)
		n, size = 0, 0
		return err
	}
	for _, c := range t.changes {
		key := r.keys.value(t.version(), c.name)
		ttl := c.ttl
		if ttl == 0 {
			ttl = stagingTTL
			*persist = append(*persist, key)
		}
		pipe.Set(ctx, key, c.val, ttl)
		n++
		size += len(key) + len(c.val)
		if n >= pipeChunkCmds || size >= pipeChunkBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (t *redisTx) version() string { return t.ver }

// discard deletes the values a refused checkpoint wrote, as well as it
// can: what stays expires.
func (t *redisTx) discard(ctx context.Context) {
	r := t.r
	pipe := r.client.Pipeline()
	for i, c := range t.changes {
		pipe.Unlink(ctx, r.keys.value(t.version(), c.name))
		if (i+1)%pipeChunkCmds == 0 || i == len(t.changes)-1 {
			cctx, cancel := r.op(ctx)
			_, err := pipe.Exec(cctx)
			cancel()
			if err != nil {
				r.log.Debug("deleting the values of a refused checkpoint", "id", t.meta.ID, "error", err)
				return
			}
		}
	}
}

// apply records a committed checkpoint in the mirror.
func (r *Redis) apply(t *redisTx) {
	if t.full {
		// A full checkpoint rewrote every entry it has; Redis holds
		// nothing else now.
		r.written = make(map[string]rec, len(t.changes))
	}
	for _, d := range t.deleted {
		delete(r.written, d)
	}
	for _, c := range t.changes {
		r.written[c.name] = rec{hash: c.hash, ver: t.ver, expires: c.expires, seen: t.epoch}
	}
	r.base, r.mirror = t.meta.ID, true
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
