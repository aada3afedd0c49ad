package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/rules"
)

// factsConfig is facts: what rules remember (remember:, seen, fact) and
// the context they read (context), in the Redis of state.redis when
// there is one, else in process memory.
type factsConfig struct {
	// OnError is what a lookup does while Redis fails: wait (default:
	// evaluation, and so consumption, waits for Redis) or unknown (the
	// fact counts as absent; counted in cep_fact_errors_total).
	OnError string `yaml:"on_error" yamlx:"oneof=wait|unknown"`
	// CacheTTL bounds how stale an answer from Redis may be, and so how
	// late a fact another process remembered is seen; default 1s.
	CacheTTL duration `yaml:"cache_ttl"`
	// CacheEntries and CacheBytes bound the local cache.
	CacheEntries int      `yaml:"cache_entries" yamlx:"min=0"`
	CacheBytes   byteSize `yaml:"cache_bytes"`
	// FlushInterval is the longest a remembered fact waits before it is
	// written to Redis; default 100ms.
	FlushInterval duration `yaml:"flush_interval"`
	// Contexts are the context hashes other systems keep in Redis, by
	// the name rules give context(): key is the Redis key, {id} standing
	// for the id looked up.
	Contexts map[string]contextConfig `yaml:"contexts"`
	// Shared declares facts the rules of other processes remember, by
	// name: set or hash, so that lint knows them.
	Shared map[string]string `yaml:"shared"`
}

type contextConfig struct {
	Key string `yaml:"key"`
}

func (c *factsConfig) validate(st *stateConfig) []error {
	if c == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("facts."+format, args...)) }
	for name, ctx := range c.Contexts {
		if !validName(name) {
			bad("contexts: %q must hold only letters, digits and _ . - (and start with a letter or _)", name)
		}
		if ctx.Key != "" && !strings.Contains(ctx.Key, "{id}") {
			bad("contexts.%s.key %q must contain {id}, which stands for the id looked up", name, ctx.Key)
		}
	}
	for name, kind := range c.Shared {
		if kind != "set" && kind != "hash" {
			bad("shared.%s must be set or hash, got %q", name, kind)
		}
	}
	if len(c.Contexts) > 0 && st.Redis == nil {
		bad("contexts: context lives in Redis: configure state.redis")
	}
	if c.CacheTTL < 0 || c.FlushInterval < 0 || c.CacheBytes < 0 {
		bad("cache_ttl, cache_bytes and flush_interval must not be negative")
	}
	return errs
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '-')
		if !ok {
			return false
		}
	}
	return true
}

// known is what lint may take as remembered elsewhere and as configured.
func (c *factsConfig) known() rules.KnownFacts {
	k := rules.KnownFacts{CheckContexts: true}
	if c == nil {
		return k
	}
	for name, kind := range c.Shared {
		if kind == "set" {
			k.Sets = append(k.Sets, name)
		} else {
			k.Hashes = append(k.Hashes, name)
		}
	}
	for name := range c.Contexts {
		k.Contexts = append(k.Contexts, name)
	}
	return k
}

// openFacts opens the facts store of a config: in the Redis of
// state.redis (its own connection), else in memory.
func (a *app) openFacts(cfg *config) (facts.Store, error) {
	if cfg.State.Redis == nil {
		return facts.NewMemory(), nil
	}
	o, err := cfg.State.Redis.options(cfg, secret.Default)
	if err != nil {
		return nil, err
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: o.Addrs, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLS,
		IsClusterMode: len(o.Addrs) > 1, ContextTimeoutEnabled: true, DisableIdentity: true,
		ClientName: "cep-facts", MaxRetries: 1,
	})
	fo := facts.RedisOptions{Client: client, Prefix: o.Prefix, Timeout: o.Timeout, Now: time.Now, Log: a.log}
	if fc := cfg.Facts; fc != nil {
		fo.OnError = facts.OnError(fc.OnError)
		fo.CacheTTL, fo.FlushEvery = time.Duration(fc.CacheTTL), time.Duration(fc.FlushInterval)
		fo.CacheEntries, fo.CacheBytes = fc.CacheEntries, int64(fc.CacheBytes)
		fo.Contexts = map[string]string{}
		for name, c := range fc.Contexts {
			if c.Key != "" {
				fo.Contexts[name] = c.Key
			}
		}
	}
	s, err := facts.NewRedis(fo)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return &closingStore{s, client}, nil
}

// closingStore closes the store's own connection after the store.
type closingStore struct {
	*facts.Redis
	client redis.UniversalClient
}

func (c *closingStore) Close() error {
	err := c.Redis.Close()
	_ = c.client.Close()
	return err
}

// factsMetrics exports the facts store's counters.
type factsMetrics struct{ s facts.Store }

var (
	factLookups = prometheus.NewDesc("cep_fact_lookups_total", "Lookups of facts and context (seen, fact, context).", nil, nil)
	factHits    = prometheus.NewDesc("cep_fact_cache_hits_total", "Lookups answered from the local cache.", nil, nil)
	factTrips   = prometheus.NewDesc("cep_fact_redis_round_trips_total", "Pipelined calls to Redis that read or wrote facts.", nil, nil)
	factWrites  = prometheus.NewDesc("cep_fact_writes_total", "Facts remembered.", nil, nil)
	factErrors  = prometheus.NewDesc("cep_fact_errors_total", "Failed Redis calls for facts, and lookups answered as absent because of one (on_error: unknown), by kind.", []string{"kind"}, nil)
	factDropped = prometheus.NewDesc("cep_fact_writes_dropped_total", "Remembered facts given up after a Redis failure (on_error: unknown).", nil, nil)
)

func (m factsMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{factLookups, factHits, factTrips, factWrites, factErrors, factDropped} {
		ch <- d
	}
}

func (m factsMetrics) Collect(ch chan<- prometheus.Metric) {
	s := m.s.Stats()
	c := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	c(factLookups, s.Lookups)
	c(factHits, s.CacheHits)
	c(factTrips, s.RoundTrips)
	c(factWrites, s.Writes)
	c(factErrors, s.Errors, "redis")
	c(factErrors, s.Unknown, "unknown")
	c(factDropped, s.Dropped)
}

// closeFacts writes what waits and closes the store, logging what could
// not be written.
func (a *app) closeFacts(s facts.Store) {
	if err := s.Close(); err != nil {
		a.log.Error("facts", "error", err.Error())
	}
}
