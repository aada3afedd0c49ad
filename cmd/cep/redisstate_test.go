package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/internal/secret"
)

func loadTestConfig(t *testing.T, state string) (*config, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "cep.yaml")
	text := "rules: [rules]\nsources: [{type: stdin, stream: s}]\nstate:\n" + state
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadConfig(path)
}

func TestRedisStateConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		state, want string
	}{
		{"  redis: {}", "state.redis.addr: give the server's host:port"},
		{"  redis: {addr: a:1, addrs: [b:1]}", "addr and addrs: give one or the other"},
		{"  redis: {addr: a:1, password: x, password_file: f}", "set either password or password_file, not both"},
		{"  redis: {addr: a:1, password: '${env:1x}'}", "is not ${env:NAME}"},
		{"  redis: {addrs: [a:1, b:1], db: 2}", "a Redis Cluster has only database 0"},
		{"  redis: {addr: a:1, db: -1}", "db"},
		{"  redis: {addr: a:1, prefix: 'a{b'}", "prefix \"a{b\" must not contain { or }"},
		{"  redis: {addr: a:1, lease: {name: 'x}'}}", "lease.name \"x}\" must not contain"},
		{"  redis: {addr: a:1, lease: {ttl: 10ms}}", "lease.ttl 10ms is too short"},
		{"  redis: {addr: a:1, tls: {cert_file: c}}", "cert_file and key_file go together"},
		{"  redis: {addr: a:1, bogus: 1}", "bogus"},
		{"  redis: {addr: a:1, tls: {bogus: 1}}", "bogus"},
		{"  dir: state\n  redis: {addr: a:1}", "state.dir and state.redis"},
		{"  max_failed_checkpoints: -1", "max_failed_checkpoints"},
	} {
		_, err := loadTestConfig(t, tc.state)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.state, err, tc.want)
		}
	}
}

func TestRedisStateOptions(t *testing.T) {
	t.Setenv("CEP_TEST_REDIS_PASSWORD", "s3cret")
	cfg, err := loadTestConfig(t, `  redis:
    addr: 127.0.0.1:6379
    username: detector
    password: ${env:CEP_TEST_REDIS_PASSWORD}
    db: 3
    tls: true
    prefix: fraud
    lease: {name: payments, ttl: 3s}
    min_ttl: 2d
`)
	if err != nil {
		t.Fatal(err)
	}
	o, err := cfg.State.Redis.options(cfg, secret.Default)
	if err != nil {
		t.Fatal(err)
	}
	if o.Username != "detector" || o.Password != "s3cret" || o.DB != 3 || o.TLS == nil || o.Prefix != "fraud" ||
		o.Group != "payments" || o.MinTTL != 48*time.Hour || len(o.Addrs) != 1 || time.Duration(cfg.State.Redis.Lease.TTL) != 3*time.Second {
		t.Fatalf("options %+v", o)
	}

	os.Unsetenv("CEP_TEST_REDIS_PASSWORD")
	if _, err := cfg.State.Redis.options(cfg, secret.Default); err == nil || !strings.Contains(err.Error(), "state.redis.password: environment variable CEP_TEST_REDIS_PASSWORD is not set") {
		t.Fatalf("unset variable: %v", err)
	}

	cfg, err = loadTestConfig(t, "  redis: {addrs: [a:1, b:1], password_file: pw, tls: {server_name: redis.internal}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.dir, "pw"), []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err = cfg.State.Redis.options(cfg, secret.Default)
	if err != nil {
		t.Fatal(err)
	}
	if o.Password != "from a file" || len(o.Addrs) != 2 || o.TLS == nil || o.TLS.ServerName != "redis.internal" {
		t.Fatalf("options %+v", o)
	}
	cfg, err = loadTestConfig(t, "  redis: {addr: a:1, tls: false, password_file: missing}\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.State.Redis.options(cfg, secret.Default); err == nil || !strings.Contains(err.Error(), "state.redis.password_file") {
		t.Fatalf("missing password file: %v", err)
	}
	if cfg.State.Redis.TLS.Enabled {
		t.Fatal("tls: false enabled TLS")
	}
	if w := stateWarnings(cfg); len(w) != 0 {
		t.Fatalf("warnings for a password in a file: %q", w)
	}
	cfg, err = loadTestConfig(t, "  redis: {addr: a:1, password: hunter2}\n")
	if err != nil {
		t.Fatal(err)
	}
	if w := stateWarnings(cfg); len(w) != 1 || !strings.Contains(w[0], "state.redis.password: a plaintext secret in the config file") || !strings.Contains(w[0], "password_file") {
		t.Fatalf("warnings for a plaintext password: %q", w)
	}
}
