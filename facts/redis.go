package facts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of RedisOptions.
const (
	DefaultPrefix       = "cep"
	DefaultCacheTTL     = time.Second
	DefaultCacheEntries = 100_000
	DefaultCacheBytes   = 64 << 20
	DefaultFlushEvery   = 100 * time.Millisecond
	DefaultBatch        = 512
	DefaultMaxPending   = 100_000
	DefaultTimeout      = 5 * time.Second
)

// RedisOptions configure a Redis store.
type RedisOptions struct {
	// Client is the connection; the store does not close it.
	Client redis.UniversalClient
	// Prefix starts every fact's key; default "cep".
	Prefix string
	// OnError is what a lookup does when Redis fails; default Wait.
	OnError OnError
	// CacheTTL bounds how long an answer from Redis is reused, and so
	// how late a fact written by another process may be seen.
	CacheTTL time.Duration
	// CacheEntries and CacheBytes bound the local cache.
	CacheEntries int
	CacheBytes   int64
	// FlushEvery is the longest a remembered fact waits before it is
	// written; Batch writes sooner when that many are waiting.
	FlushEvery time.Duration
	Batch      int
	// MaxPending bounds the facts waiting to be written: Remember blocks
	// beyond it (with OnError Wait) or drops and counts (Unknown).
	MaxPending int
	// Timeout bounds each call to Redis.
	Timeout time.Duration
	// Contexts map a context name to its key pattern, in which {id} is
	// replaced by the looked-up id ("risk:{id}"). A name not listed reads
	// the key "<name>:<id>".
	Contexts map[string]string
	// Now is the wall clock, for the cache's TTL and retry backoff; it
	// never decides whether a fact has expired (event time does).
	Now func() time.Time
	// Log receives outages and dropped writes.
	Log *slog.Logger
}

// Redis keeps facts in Redis, shared by every process that uses the same
// prefix. Key layout (hash tags keep all facts of one entity in one Redis
// Cluster slot):
//
//	<prefix>:facts:set:<name>:{<key>}   sorted set: member → expiry (Unix ms, event time)
//	<prefix>:facts:hash:<name>:{<key>}  hash: v → value, x → expiry, t → write time (Unix ms, event time)
//
// Each key also carries a Redis TTL of the fact's ttl from its last write,
// so abandoned facts leave Redis in wall time too.
type Redis struct {
	o     RedisOptions
	cache *cache

	mu      sync.Mutex
	flushMu sync.Mutex // one flush at a time, so batches stay in order
	pending []Write
	// overlay holds written facts until Redis has them, so that this
	// process reads its own writes whatever the cache evicts.
	overlay map[cacheKey]overlayEntry
	gen     uint64
	room    *sync.Cond
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	closed  atomic.Bool

	lookups, hits, fetches, trips, writes, written, errs, unknown, dropped atomic.Uint64
	down                                                                   atomic.Bool
}

type overlayEntry struct {
	a   answer
	gen uint64
}

// NewRedis starts a store over o.Client; Close stops it.
func NewRedis(o RedisOptions) (*Redis, error) {
	if o.Client == nil {
		return nil, errors.New("facts: no Redis client")
	}
	if o.Now == nil {
		return nil, errors.New("facts: no clock")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	switch o.OnError {
	case "":
		o.OnError = Wait
	case Wait, Unknown:
	default:
		return nil, fmt.Errorf("facts: on_error must be wait or unknown, got %q", o.OnError)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.CacheTTL, DefaultCacheTTL)
	def(&o.FlushEvery, DefaultFlushEvery)
	def(&o.Timeout, DefaultTimeout)
	if o.CacheEntries <= 0 {
		o.CacheEntries = DefaultCacheEntries
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	r := &Redis{
		o:       o,
		cache:   newCache(int64(o.CacheTTL), o.CacheEntries, o.CacheBytes),
		overlay: map[cacheKey]overlayEntry{},
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	r.room = sync.NewCond(&r.mu)
	go r.flusher()
	return r, nil
}

// SetKey is the Redis key of a set fact.
func (r *Redis) SetKey(name, key string) string {
	return r.o.Prefix + ":facts:set:" + name + ":{" + key + "}"
}

// HashKey is the Redis key of a hash fact.
func (r *Redis) HashKey(name, key string) string {
	return r.o.Prefix + ":facts:hash:" + name + ":{" + key + "}"
}

// ContextKey is the Redis key of a context hash.
func (r *Redis) ContextKey(name, id string) string {
	if p, ok := r.o.Contexts[name]; ok {
		return strings.ReplaceAll(p, "{id}", id)
	}
	return name + ":" + id
}

func (r *Redis) now() int64 { return r.o.Now().UnixNano() }

// lookup answers k from the overlay, the cache, or Redis.
func (r *Redis) lookup(k cacheKey) (answer, error) {
	r.lookups.Add(1)
	r.mu.Lock()
	if len(r.overlay) > 0 {
		if o, ok := r.overlay[k]; ok {
			r.mu.Unlock()
			r.hits.Add(1)
			return o.a, nil
		}
	}
	r.mu.Unlock()
	now := r.now()
	if a, ok := r.cache.get(k, now); ok {
		r.hits.Add(1)
		return a, nil
	}
	as, err := r.fetch([]cacheKey{k})
	if err != nil {
		return answer{}, err
	}
	return as[0], nil
}

// Lookup names one fact or context for Prefetch.
type Lookup struct {
	Kind Kind
	// Context is set for a context lookup (Kind is then ignored).
	Context bool
	// Name, Key and Member as for Seen, Fact and Context (Key is the id).
	Name, Key, Member string
}

func (l Lookup) cacheKey() cacheKey {
	switch {
	case l.Context:
		return cacheKey{kContext, l.Name, l.Key, ""}
	case l.Kind == Set:
		return cacheKey{kSet, l.Name, l.Key, l.Member}
	}
	return cacheKey{kHash, l.Name, l.Key, ""}
}

// Prefetch reads every lookup the cache cannot answer in one pipelined
// round trip, so that a batch of events costs one call to Redis.
func (r *Redis) Prefetch(ls []Lookup) error {
	now := r.now()
	var miss []cacheKey
	for _, l := range ls {
		k := l.cacheKey()
		if _, ok := r.cache.get(k, now); !ok {
			miss = append(miss, k)
		}
	}
	if len(miss) == 0 {
		return nil
	}
	_, err := r.fetch(miss)
	return err
}

// fetch reads keys in one pipeline and caches the answers; on error it
// waits and retries or gives up, as OnError says.
func (r *Redis) fetch(ks []cacheKey) ([]answer, error) {
	var out []answer
	err := r.retry(func(ctx context.Context) error {
		var err error
		out, err = r.fetchOnce(ctx, ks)
		return err
	})
	if err != nil {
		return nil, err
	}
	now := r.now()
	for i, k := range ks {
		r.cache.put(k, out[i], now)
	}
	return out, nil
}

func (r *Redis) fetchOnce(ctx context.Context, ks []cacheKey) ([]answer, error) {
	pipe := r.o.Client.Pipeline()
	cmds := make([]redis.Cmder, len(ks))
	for i, k := range ks {
		switch k.kind {
		case kSet:
			cmds[i] = pipe.ZScore(ctx, r.SetKey(k.name, k.key), k.m)
		case kHash:
			cmds[i] = pipe.HMGet(ctx, r.HashKey(k.name, k.key), "v", "x", "t")
		case kContext:
			cmds[i] = pipe.HGetAll(ctx, r.ContextKey(k.name, k.key))
		}
	}
	r.trips.Add(1)
	r.fetches.Add(uint64(len(ks)))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]answer, len(ks))
	for i, c := range cmds {
		switch c := c.(type) {
		case *redis.FloatCmd:
			s, err := c.Result()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return nil, err
			default:
				out[i] = answer{present: true, expiry: int64(s) * int64(time.Millisecond)}
			}
		case *redis.SliceCmd:
			vals, err := c.Result()
			if err != nil {
				return nil, err
			}
			v, ok1 := vals[0].(string)
			x, ok2 := vals[1].(string)
			if !ok1 || !ok2 {
				continue
			}
			ms, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("facts: %s holds expiry %q, not Unix milliseconds", r.HashKey(ks[i].name, ks[i].key), x)
			}
			a := answer{present: true, value: v, expiry: ms * int64(time.Millisecond)}
			if ts, ok := vals[2].(string); ok {
				if at, err := strconv.ParseInt(ts, 10, 64); err == nil {
					a.at = at * int64(time.Millisecond)
				}
			}
			out[i] = a
		case *redis.MapStringStringCmd:
			m, err := c.Result()
			if err != nil {
				return nil, err
			}
			if len(m) > 0 {
				out[i] = answer{present: true, fields: m}
			}
		}
	}
	return out, nil
}

// retry runs op with the store's timeout. With OnError Wait it retries
// with backoff until op succeeds or the store closes; with Unknown it
// returns the first error.
func (r *Redis) retry(op func(ctx context.Context) error) error {
	delay := 50 * time.Millisecond
	for {
		if r.closed.Load() {
			return ErrClosed
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.o.Timeout)
		err := op(ctx)
		cancel()
		if err == nil {
			if r.down.CompareAndSwap(true, false) {
				r.o.Log.Info("facts: Redis answers again")
			}
			return nil
		}
		r.errs.Add(1)
		if r.down.CompareAndSwap(false, true) {
			r.o.Log.Warn("facts: Redis does not answer", "error", err.Error(), "on_error", string(r.o.OnError))
		}
		if r.o.OnError == Unknown {
			return err
		}
		select {
		case <-r.done:
			return ErrClosed
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// Down reports whether the last call to Redis failed.
func (r *Redis) Down() bool { return r.down.Load() }

// Seen implements Store.
func (r *Redis) Seen(name, key, member string, at int64) (bool, error) {
	a, err := r.lookup(cacheKey{kSet, name, key, member})
	if err != nil {
		return r.unknownBool(err)
	}
	return a.present && at < a.expiry, nil
}

// Fact implements Store.
func (r *Redis) Fact(name, key string, at int64) (string, bool, error) {
	a, err := r.lookup(cacheKey{kHash, name, key, ""})
	if err != nil {
		_, err = r.unknownBool(err)
		return "", false, err
	}
	if !a.present || at >= a.expiry {
		return "", false, nil
	}
	return a.value, true, nil
}

// Context implements Store.
func (r *Redis) Context(name, id string) (map[string]string, bool, error) {
	a, err := r.lookup(cacheKey{kContext, name, id, ""})
	if err != nil {
		_, err = r.unknownBool(err)
		return nil, false, err
	}
	return a.fields, a.present, nil
}

// unknownBool turns a failed lookup into "absent" under OnError Unknown.
func (r *Redis) unknownBool(err error) (bool, error) {
	if r.o.OnError == Unknown && !errors.Is(err, ErrClosed) {
		r.unknown.Add(1)
		return false, nil
	}
	return false, err
}

// Remember implements Store.
func (r *Redis) Remember(w Write) {
	r.writes.Add(1)
	exp := w.Expiry()
	var k cacheKey
	merge := func(a answer, _ bool) answer {
		if w.Kind == Set {
			if !a.present || a.expiry < exp {
				a = answer{present: true, expiry: exp}
			}
			return a
		}
		if a.present && a.at > w.At {
			return a
		}
		return answer{present: true, value: w.Value, expiry: exp, at: w.At}
	}
	switch w.Kind {
	case Set:
		k = cacheKey{kSet, w.Name, w.Key, w.Value}
	case Hash:
		k = cacheKey{kHash, w.Name, w.Key, ""}
	default:
		return
	}
	r.mu.Lock()
	for len(r.pending) >= r.o.MaxPending && !r.closed.Load() {
		if r.o.OnError == Unknown {
			r.mu.Unlock()
			r.dropped.Add(1)
			r.o.Log.Warn("facts: too many facts wait for Redis; this one is dropped", "name", w.Name, "pending", r.o.MaxPending)
			return
		}
		r.room.Wait()
	}
	r.gen++
	prev := r.overlay[k]
	r.overlay[k] = overlayEntry{a: merge(prev.a, prev.gen != 0), gen: r.gen}
	r.pending = append(r.pending, w)
	full := len(r.pending) >= r.o.Batch
	r.mu.Unlock()
	r.cache.update(k, r.now(), merge)
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

func (r *Redis) flusher() {
	defer close(r.stopped)
	t := time.NewTicker(r.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		case <-r.kick:
		}
		_ = r.flush()
	}
}

// Flush implements Store.
func (r *Redis) Flush(ctx context.Context) error {
	for {
		r.mu.Lock()
		n := len(r.pending)
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := r.flush(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// flush writes the waiting facts in batches of at most Batch, each one
// pipeline.
func (r *Redis) flush() error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	for {
		r.mu.Lock()
		n := min(len(r.pending), r.o.Batch)
		batch := r.pending[:n:n]
		gen := r.gen
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		err := r.retry(func(ctx context.Context) error { return r.write(ctx, batch) })
		r.mu.Lock()
		r.pending = r.pending[n:]
		if len(r.pending) == 0 {
			r.pending = nil
		}
		if err == nil {
			r.written.Add(uint64(n))
		} else {
			r.dropped.Add(uint64(n))
		}
		// Redis now holds every write up to gen (or they were given
		// up): reads may go to Redis for them.
		for k, o := range r.overlay {
			if o.gen <= gen {
				delete(r.overlay, k)
			}
		}
		r.room.Broadcast()
		r.mu.Unlock()
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			// on_error: unknown gives the writes up, counted: the
			// caller (a checkpoint) goes on.
			r.o.Log.Warn("facts: writes to Redis failed and are dropped (on_error: unknown)", "facts", n, "error", err.Error())
			return nil
		}
	}
}

// hashWrite replaces a hash fact unless Redis holds one written at a later
// event time (t), so that the newest fact wins whatever order processes
// write in. It is sent whole (EVAL, which Redis caches by its digest): on
// a Redis Cluster no node needs it loaded first.
const hashWrite = `
local t = redis.call('HGET', KEYS[1], 't')
if t and tonumber(t) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2], 't', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`

// write sends one batch. A set member keeps the later of its expiries
// (ZADD GT), and members that lapsed before the write's event time are
// trimmed; a hash fact is replaced by a write of a later (or the same)
// event time.
func (r *Redis) write(ctx context.Context, batch []Write) error {
	pipe := r.o.Client.Pipeline()
	for _, w := range batch {
		exp := w.Expiry() / int64(time.Millisecond)
		switch w.Kind {
		case Set:
			k := r.SetKey(w.Name, w.Key)
			pipe.ZAddGT(ctx, k, redis.Z{Score: float64(exp), Member: w.Value})
			pipe.ZRemRangeByScore(ctx, k, "-inf", "("+strconv.FormatInt(w.At/int64(time.Millisecond), 10))
			pipe.PExpire(ctx, k, w.TTL)
		case Hash:
			pipe.Eval(ctx, hashWrite, []string{r.HashKey(w.Name, w.Key)},
				w.Value, exp, w.At/int64(time.Millisecond), w.TTL.Milliseconds())
		}
	}
	r.trips.Add(1)
	_, err := pipe.Exec(ctx)
	return err
}

// Stats implements Store.
func (r *Redis) Stats() Stats {
	n, b := r.cache.size()
	return Stats{
		Lookups: r.lookups.Load(), CacheHits: r.hits.Load(),
		Fetches: r.fetches.Load(), RoundTrips: r.trips.Load(),
		Writes: r.writes.Load(), Written: r.written.Load(),
		Errors: r.errs.Load(), Unknown: r.unknown.Load(), Dropped: r.dropped.Load(),
		CacheEntries: n, CacheBytes: b,
	}
}

// Close implements Store: it writes what waits (giving up after the
// store's timeout when Redis does not answer) and stops the flusher.
func (r *Redis) Close() error {
	if r.closed.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.o.Timeout)
	defer cancel()
	var err error
	done := make(chan struct{})
	go func() { err = r.Flush(ctx); close(done) }()
	var late error
	select {
	case <-done:
	case <-ctx.Done():
		late = fmt.Errorf("facts: %d facts not written to Redis at close: %w", r.pendingLen(), ctx.Err())
	}
	r.closed.Store(true)
	close(r.done)
	r.mu.Lock()
	r.room.Broadcast()
	r.mu.Unlock()
	<-done
	<-r.stopped
	if late != nil {
		return late
	}
	return err
}

func (r *Redis) pendingLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}
