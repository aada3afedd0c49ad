package state

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cep-project/cep/internal/seal"
)

// Redis keeps checkpoints in Redis, written incrementally. Hot state
// stays in the engine's memory; Redis is its durable copy, written once a
// checkpoint, never per event.
//
// Entries are kept in pages: the entries of a scope are spread over a
// power-of-two number of buckets by a hash of their key (about 64 entries
// a bucket), and a bucket is one Redis value. A checkpoint compares every
// entry's value with what Redis holds (by hash) and rewrites only the
// pages of buckets in which an entry changed, appeared or went, so that
// its cost follows the change, in a few Redis calls per 64 entries rather
// than several per entry.
//
// Key layout (version RedisLayout), all under one hash tag so that a
// checkpoint's keys share a Redis Cluster slot and one script can make it
// visible atomically:
//
//	<prefix>:{<group>}:lease     the active process's lease (see Lease)
//	<prefix>:{<group>}:head      hash: layout, id, created, writer, owner,
//	                             store, positions, scopes, entries, pages
//	<prefix>:{<group>}:buckets   hash: "<scope>|<buckets>.<bucket>" → version
//	<prefix>:{<group>}:p:<version>:<scope>|<buckets>.<bucket>
//	                             a page: the bucket's entries, with their TTL
//
// A version is the id of the checkpoint that wrote the page and a token of
// the writing process ("12-3f9a0c1d"), so that no two writers ever share a
// page key. A checkpoint first writes its pages under its own version,
// which no reader looks at yet; then one script checks the lease token,
// the checkpoint it builds on and the layout, points the buckets at the
// new pages, deletes the pages they replace, and writes the head. A reader
// therefore sees the previous checkpoint or the new one, never a mix, and
// a process that lost its lease cannot commit.
type Redis struct {
	client redis.UniversalClient
	keys   keyspace
	minTTL time.Duration
	opTTL  time.Duration
	log    *slog.Logger
	lease  *Lease
	seal   *seal.Keyring
	desc   string
	// token tells this store's commits from others' in the head.
	token  string
	prefix string
	// borrowed: the client belongs to the store this one is a Scope of.
	borrowed bool

	mu sync.Mutex
	// The mirror: what Redis holds as of checkpoint base — each entry's
	// hash, and each scope's buckets. mirror is false when it does not
	// know (nothing read yet, or a commit went astray): the next commit
	// then rewrites everything. base is written under mu, and read
	// without it by the lease's renewal, which must not wait for a
	// restore or a settle that holds mu through calls to Redis.
	written map[string]*rec
	scopes  map[string]*scopeState
	base    atomic.Uint64
	mirror  bool
	epoch   uint32
	// pending is a commit whose outcome is unknown (the connection broke
	// while the script ran); the next Begin asks Redis which it was.
	pending *redisTx
	last    CommitStats
	// lastChanged sizes the next checkpoint's list of changes.
	lastChanged int

	hmu    sync.Mutex
	health Health
	// loaded is health.Since when the scripts were last loaded: a server
	// seen down since may have restarted without them.
	loaded time.Time
}

// rec is what the store knows of one entry in Redis: the hash of its
// value, and the checkpoint that last saw it.
type rec struct {
	hash uint64
	seen uint32
}

// scopeState is what the store knows of a scope's pages in Redis.
type scopeState struct {
	nb      uint32 // buckets, a power of two
	buckets map[uint32]*bucketState
}

// bucketState is one page in Redis.
type bucketState struct {
	ver     string
	count   int
	size    int           // bytes of its entries, to size the next one's buffer
	ttl     time.Duration // the TTL it was written with
	expires int64         // Unix ms; 0: none
}

// RedisLayout is the version of the key layout this build writes; it
// reads layouts MinRedisLayout to RedisLayout.
const (
	RedisLayout    = 1
	MinRedisLayout = 1
)

// Defaults for RedisOptions.
const (
	DefaultRedisPrefix  = "cep"
	DefaultRedisGroup   = "default"
	DefaultRedisMinTTL  = 24 * time.Hour
	DefaultRedisTimeout = 5 * time.Second
	// stagingTTL bounds how long the new value of an entry without a TTL
	// may stay in Redis when its checkpoint never commits (a crash between
	// writing values and the commit); the commit removes the expiry.
	stagingTTL = time.Hour
)

// RedisOptions configures a Redis store.
type RedisOptions struct {
	// Addrs is one server's host:port, or several seed nodes of a Redis
	// Cluster.
	Addrs []string
	// Cluster uses the cluster client even with one seed node.
	Cluster  bool
	Username string
	Password string
	// DB selects a database of a single server (not a cluster).
	DB int
	// TLS, when set, connects over TLS.
	TLS *tls.Config
	// Prefix starts every key; default "cep".
	Prefix string
	// Group names the processes that share these checkpoints (one active,
	// the others standby): the lease's name; default "default".
	Group string
	// MinTTL is the least time an entry with a TTL lives in Redis after
	// its last write, so that cep may be down that long without its state
	// expiring; default 24h.
	MinTTL time.Duration
	// Timeout bounds every call that is not a checkpoint's bulk work
	// (connecting, reading the head, lease calls); default 5s.
	Timeout time.Duration
	// Wait, when set, opens the store even when Redis does not answer
	// yet: a service waits for it (the lease retries) rather than fail.
	Wait bool
	// Keys, when set, encrypt every page written with their primary key
	// (bound to the page's key name) and open pages sealed with any of
	// them; pages written before encryption was turned on are read as
	// they are.
	Keys *seal.Keyring
	Log  *slog.Logger
}

// LayoutError is Redis state in a layout this build cannot read.
type LayoutError struct {
	Where   string
	Version int
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("the Redis state at %s is in layout version %d; this cep reads layouts %d to %d: run the cep that wrote it, or delete the keys %s* to start empty",
		e.Where, e.Version, MinRedisLayout, RedisLayout, e.Where)
}

// keyspace builds the key names of one group.
type keyspace struct {
	base string // "<prefix>:{<group>}:"
}

func (k keyspace) lease() string   { return k.base + "lease" }
func (k keyspace) head() string    { return k.base + "head" }
func (k keyspace) buckets() string { return k.base + "buckets" }
func (k keyspace) page(ver, field string) string {
	return k.base + "p:" + ver + ":" + field
}

// checkName refuses names that would move keys out of the group's hash
// tag or make the layout ambiguous.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("redis %s is empty", what)
	}
	if strings.ContainsAny(s, "{}") {
		return fmt.Errorf("redis %s %q must not contain { or }: they would move keys out of their Redis Cluster slot", what, s)
	}
	return nil
}

// NewRedis connects to Redis and checks that it answers.
func NewRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	if len(o.Addrs) == 0 {
		return nil, errors.New("redis: no address")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultRedisPrefix
	}
	if o.Group == "" {
		o.Group = DefaultRedisGroup
	}
	if err := checkName("prefix", o.Prefix); err != nil {
		return nil, err
	}
	if err := checkName("lease name", o.Group); err != nil {
		return nil, err
	}
	if o.MinTTL <= 0 {
		o.MinTTL = DefaultRedisMinTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRedisTimeout
	}
	cluster := o.Cluster || len(o.Addrs) > 1
	if cluster && o.DB != 0 {
		return nil, errors.New("redis: db must be 0 with a Redis Cluster")
	}
	uo := &redis.UniversalOptions{
		Addrs:    o.Addrs,
		Username: o.Username,
		Password: o.Password,
		DB:       o.DB,
		// Every call carries a context with its own deadline: short for
		// lease calls, long for a checkpoint's bulk writes.
		ReadTimeout:           -1,
		WriteTimeout:          -1,
		ContextTimeoutEnabled: true,
		DialTimeout:           o.Timeout,
		PoolTimeout:           o.Timeout,
		TLSConfig:             o.TLS,
		IsClusterMode:         cluster,
		DisableIdentity:       true,
		MaxRetries:            2,
		MinRetryBackoff:       50 * time.Millisecond,
		MaxRetryBackoff:       time.Second,
		ClientName:            "cep",
	}
	r := &Redis{
		client:  redis.NewUniversalClient(uo),
		keys:    keyspace{base: o.Prefix + ":{" + o.Group + "}:"},
		minTTL:  o.MinTTL,
		opTTL:   o.Timeout,
		log:     o.Log,
		written: map[string]*rec{},
		scopes:  map[string]*scopeState{},
		desc:    strings.Join(o.Addrs, ","),
		seal:    o.Keys,
		token:   randomToken(),
		prefix:  o.Prefix,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	clientLog.set(r.log)
	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	err := r.client.Ping(pctx).Err()
	switch {
	case err == nil:
		r.up()
	case o.Wait:
		r.observe(err)
	default:
		_ = r.client.Close()
		return nil, fmt.Errorf("redis %s: %w", r.desc, err)
	}
	return r, nil
}

// Where names the store in messages: its address and key prefix.
func (r *Redis) Where() string { return r.desc + " " + r.keys.base }

// Client is the store's connection, for other users of the same Redis
// (facts, context lookups) that share its pool.
func (r *Redis) Client() redis.UniversalClient { return r.client }

// Close closes the connection; a Scope's leaves it to its parent.
func (r *Redis) Close() error {
	if r.borrowed {
		return nil
	}
	return r.client.Close()
}

// Scope returns a store of its own checkpoints and lease, named group, on
// the same connection: the state of one task of a scaled-out group (see
// package scaleout), under its own hash tag, so that tasks spread over a
// Redis Cluster's slots.
func (r *Redis) Scope(group string) (*Redis, error) {
	if err := checkName("lease name", group); err != nil {
		return nil, err
	}
	s := &Redis{
		client:   r.client,
		keys:     keyspace{base: r.prefix + ":{" + group + "}:"},
		minTTL:   r.minTTL,
		opTTL:    r.opTTL,
		log:      r.log,
		written:  map[string]*rec{},
		scopes:   map[string]*scopeState{},
		desc:     r.desc,
		seal:     r.seal,
		token:    randomToken(),
		prefix:   r.prefix,
		borrowed: true,
	}
	s.health = r.Health()
	return s, nil
}

// op is a context for one short call.
func (r *Redis) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opTTL)
}

// Health is whether a store's backend answered its last call.
type Health struct {
	Up bool `json:"up"`
	// Since is when Up last changed.
	Since time.Time `json:"since"`
	// Error is the last failure while down.
	Error string `json:"error,omitempty"`
	// Failures counts calls that failed since the store was opened.
	Failures uint64 `json:"failures"`
}

// Health reports whether Redis answered the last call.
func (r *Redis) Health() Health {
	r.hmu.Lock()
	defer r.hmu.Unlock()
	return r.health
}

func (r *Redis) up() {
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if !r.health.Up {
		if !r.health.Since.IsZero() {
			r.log.Info("redis answers again", "redis", r.desc, "down_seconds", fmt.Sprintf("%.1f", time.Since(r.health.Since).Seconds()))
		}
		r.health.Up, r.health.Since, r.health.Error = true, time.Now(), ""
	}
}

// observe records the outcome of a call; errors of Redis's own making
// (a script's refusal) say nothing about reachability.
func (r *Redis) observe(err error) {
	var rerr redis.Error
	if err == nil || errors.As(err, &rerr) {
		r.up()
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	r.hmu.Lock()
	defer r.hmu.Unlock()
	r.health.Failures++
	r.health.Error = err.Error()
	if r.health.Up {
		r.health.Up, r.health.Since = false, time.Now()
		r.log.Error("redis does not answer", "redis", r.desc, "error", err)
	}
}

// clientLog takes go-redis's own messages (dial retries and the like),
// which it would print to standard error, into the newest store's log at
// debug level: the store reports what they mean (Redis down, back) itself.
var clientLog = &redisLogger{}

type redisLogger struct {
	once sync.Once
	mu   sync.Mutex
	log  *slog.Logger
}

func (l *redisLogger) set(log *slog.Logger) {
	l.mu.Lock()
	l.log = log
	l.mu.Unlock()
	l.once.Do(func() { redis.SetLogger(l) })
}

func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.mu.Lock()
	log := l.log
	l.mu.Unlock()
	log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
