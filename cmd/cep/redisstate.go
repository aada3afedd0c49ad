package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/state"
)

// redisStateConfig is state.redis: checkpoints in Redis, shared by an
// active process and its standbys.
type redisStateConfig struct {
	// Addr is one server (host:port); Addrs are the seed nodes of a
	// Redis Cluster.
	Addr  string   `yaml:"addr"`
	Addrs []string `yaml:"addrs"`
	// Username and Password authenticate (Redis ACL); the password as
	// ${env:NAME} or in PasswordFile.
	Username     string         `yaml:"username"`
	Password     secret.Secret  `yaml:"password"`
	PasswordFile string         `yaml:"password_file"`
	DB           int            `yaml:"db" yamlx:"min=0"`
	TLS          redisTLSConfig `yaml:"tls"`
	// Prefix starts every key; default "cep".
	Prefix string `yaml:"prefix"`
	// Lease makes one process of those sharing the state the active one.
	Lease struct {
		// Name is the group of processes that share the state (one
		// active, the others standby); default "default".
		Name string `yaml:"name"`
		// TTL is how long the lease outlives its holder; default 10s.
		TTL duration `yaml:"ttl"`
	} `yaml:"lease"`
	// MinTTL is the least time state lives in Redis after its last
	// write (how long cep may be down without forgetting); default 24h.
	MinTTL duration `yaml:"min_ttl"`
	// Timeout bounds connecting and each short call; default 5s.
	Timeout duration `yaml:"timeout"`
}

// redisTLSConfig is tls: true, or a map of settings (which turns TLS on).
type redisTLSConfig struct {
	Enabled            bool   `yaml:"-"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// UnmarshalYAMLX decodes tls: a boolean, or the settings.
func (t *redisTLSConfig) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		d.Decode(n, &t.Enabled)
		return
	}
	type plain redisTLSConfig
	var p plain
	d.Decode(n, &p)
	*t = redisTLSConfig(p)
	t.Enabled = true
}

func (c *stateConfig) validate() []error {
	if c.Redis == nil {
		return nil
	}
	var errs []error
	if c.Dir != "" {
		errs = append(errs, fmt.Errorf("state.dir and state.redis: checkpoints go to one or the other"))
	}
	return append(errs, c.Redis.validate()...)
}

func (c *redisStateConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("state.redis."+format, args...)) }
	switch {
	case c.Addr == "" && len(c.Addrs) == 0:
		bad("addr: give the server's host:port (or addrs for a Redis Cluster)")
	case c.Addr != "" && len(c.Addrs) > 0:
		bad("addr and addrs: give one or the other")
	}
	for _, f := range secret.Fields(c, "state.redis") {
		if err := f.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.DB != 0 && len(c.Addrs) > 1 {
		bad("db: a Redis Cluster has only database 0")
	}
	for _, n := range []struct{ key, v string }{{"prefix", c.Prefix}, {"lease.name", c.Lease.Name}} {
		if strings.ContainsAny(n.v, "{}") {
			bad("%s %q must not contain { or }: they would move keys out of their Redis Cluster slot", n.key, n.v)
		}
	}
	if ttl := time.Duration(c.Lease.TTL); ttl != 0 && ttl < 200*time.Millisecond {
		bad("lease.ttl %v is too short: at least 200ms", ttl)
	}
	if c.MinTTL < 0 || c.Timeout < 0 {
		bad("min_ttl and timeout must not be negative")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls: cert_file and key_file go together")
	}
	return errs
}

// options turns the configuration into the store's options, reading the
// password and the certificates.
func (c *redisStateConfig) options(cfg *config, r secret.Resolver) (state.RedisOptions, error) {
	o := state.RedisOptions{
		Addrs:    c.Addrs,
		Username: c.Username,
		DB:       c.DB,
		Prefix:   c.Prefix,
		Group:    c.Lease.Name,
		MinTTL:   time.Duration(c.MinTTL),
		Timeout:  time.Duration(c.Timeout),
	}
	if c.Addr != "" {
		o.Addrs = []string{c.Addr}
	}
	rc := secret.Copy(c)
	secret.ResolveFiles(rc, cfg.resolve)
	if err := r.Resolve(rc, "state.redis"); err != nil {
		return o, err
	}
	o.Password = rc.Password.Reveal()
	if c.TLS.Enabled {
		var err error
		if o.TLS, err = c.TLS.build(cfg); err != nil {
			return o, err
		}
	}
	return o, nil
}

func (t redisTLSConfig) build(cfg *config) (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, for tests
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(cfg.resolve(t.CAFile))
		if err != nil {
			return nil, fmt.Errorf("state.redis.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("state.redis.tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.resolve(t.CertFile), cfg.resolve(t.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("state.redis.tls.cert_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// openRedisState opens the Redis store and its lease. A Redis that does
// not answer yet is waited for: the process is a standby until it does.
func (a *app) openRedisState(ctx context.Context, cfg *config) (*state.Redis, *state.Lease, error) {
	rc := cfg.State.Redis
	o, err := rc.options(cfg, secret.Default)
	if err != nil {
		return nil, nil, err
	}
	o.Wait, o.Log = true, a.log
	if e := cfg.State.Encryption; e != nil {
		if o.Keys, err = e.Keyring(secret.Default, "state.encryption."); err != nil {
			return nil, nil, err
		}
	}
	store, err := state.NewRedis(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	lease := store.NewLease(state.LeaseOptions{TTL: time.Duration(rc.Lease.TTL)})
	a.log.Info("state in Redis", "redis", store.Where(), "lease_ttl", lease.TTL().String(), "holder", lease.Holder())
	return store, lease, nil
}

// fencedError is the exit of a process that lost its lease.
func fencedError(err error) error {
	return exitWith(exitRuntime, "this process lost the state's lease (%v): another process is active on this state now; run this one again to make it a standby", err)
}

// benchRedis opens a Redis store for cep bench from a redis:// URL, under
// a key prefix of its own.
func benchRedis(url string, a *app) (*state.Redis, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	return state.NewRedis(context.Background(), state.RedisOptions{
		Addrs: []string{ro.Addr}, Username: ro.Username, Password: ro.Password, DB: ro.DB, TLS: ro.TLSConfig,
		Prefix: "cep-bench", Group: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()), Log: a.log,
		// A checkpoint of a million entries takes longer than a lease call.
		Timeout: 30 * time.Second,
	})
}

// benchRedisStats adds what the last checkpoint wrote to Redis.
func benchRedisStats(r *state.Redis, extra map[string]any) {
	c := r.LastCommit()
	extra["redis_entries"] = c.Entries
	extra["redis_entries_changed"] = c.Changed
	extra["redis_entries_deleted"] = c.Deleted
	extra["redis_pages"] = c.Pages
	extra["redis_pages_written"] = c.PagesWritten
	extra["redis_bytes_written"] = c.Bytes
	extra["redis_write_seconds"] = c.Write.Seconds()
	extra["redis_commit_seconds"] = c.Commit.Seconds()
}

// stateWarnings warns about a plaintext Redis password in the config
// file, as siem.Warnings does for sinks' secrets.
func stateWarnings(cfg *config) []string {
	if cfg.State.Redis == nil {
		return nil
	}
	var out []string
	for _, f := range secret.Fields(cfg.State.Redis, "state.redis") {
		if f.Plaintext() {
			out = append(out, fmt.Sprintf("%s: a plaintext secret in the config file; write \"${env:NAME}\" or use %s_file", f.Path, f.Path[strings.LastIndexByte(f.Path, '.')+1:]))
		}
	}
	return out
}
