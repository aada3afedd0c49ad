package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/source"
)

func loadSourcesConfig(t *testing.T, sources string) (*config, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "cep.yaml")
	if err := os.WriteFile(path, []byte("rules: [rules]\nsources:\n"+sources), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadConfig(path)
}

func TestKafkaSourceConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		sources, want string
	}{
		{"  - {type: kafka, topic: t}", "sources[0]: a kafka source needs brokers"},
		{"  - {type: kafka, brokers: [a:1]}", "a kafka source needs topic or topics"},
		{"  - {type: kafka, brokers: [a:1], topic: t, topics: [u]}", "topic and topics: give one or the other"},
		{"  - {type: kafka, brokers: [a:1], topics: [t, u]}", "a kafka source of several topics needs stream"},
		{"  - {type: kafka, brokers: [a:1], topic: a/b}", `topic "a/b" is not a Kafka topic name`},
		{"  - {type: kafka, brokers: [a:1], topic: t, start: yesterday}", `start "yesterday" is not earliest, latest or an RFC 3339 time`},
		{"  - {type: kafka, brokers: [a:1], topic: t, idle_timeout: -1s}", "idle_timeout must not be negative"},
		{"  - {type: kafka, brokers: [a:1], topic: t, path: x}", "path and follow are keys of a file source"},
		{"  - {type: kafka, brokers: [a:1], topic: t, sasl: {mechanism: md5, username: u, password: p}}", "sasl.mechanism must be one of plain"},
		{"  - {type: kafka, brokers: [a:1], topic: t, sasl: {mechanism: plain, username: u}}", "sasl.password: required (or password_file)"},
		{"  - {type: kafka, brokers: [a:1], topic: t, sasl: {mechanism: plain, username: u, password: x, password_file: f}}", "set either password or password_file, not both"},
		{"  - {type: kafka, brokers: [a:1], topic: t, tls: {cert_file: c}}", "cert_file and key_file go together"},
		{"  - {type: file, path: x, group: g}", "sources[0]: brokers, topic, topics, group, start, stop_at_end, idle_timeout, keyed_by, tls and sasl are keys of a kafka source"},
		{"  - {type: kafka, brokers: [a:1], topic: t, bogus: 1}", "bogus"},
	} {
		_, err := loadSourcesConfig(t, tc.sources)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.sources, err, tc.want)
		}
	}
}

func TestKafkaSourceBuild(t *testing.T) {
	t.Setenv("CEP_TEST_KAFKA_PASSWORD", "s3cret")
	cfg, err := loadSourcesConfig(t, `  - type: kafka
    brokers: [k1:9092, k2:9092]
    topics: [payments-eu, payments-us]
    stream: payments
    group: fraud
    start: 2026-11-01T00:00:00Z
    stop_at_end: true
    idle_timeout: 0s
    tls: {}
    sasl: {mechanism: scram-sha-512, username: cep, password: "${env:CEP_TEST_KAFKA_PASSWORD}"}
  - {type: kafka, brokers: [k1:9092], topic: auth, sasl: {mechanism: plain, username: cep, password_file: pw}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if w := sourceWarnings(cfg); len(w) != 0 {
		t.Fatalf("warnings without a plaintext password: %q", w)
	}
	k, err := cfg.Sources[0].kafkaSource(cfg, 0, source.Spec{Name: "k", Stream: "payments"}, secret.Default, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Brokers) != 2 || strings.Join(k.Topics, ",") != "payments-eu,payments-us" || k.Group != "fraud" || !k.Bounded ||
		k.Start.Mode != source.StartAt || !k.Start.At.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) ||
		k.IdleTimeout >= 0 || k.TLS == nil || k.SASL == nil || k.SASL.Name() != "SCRAM-SHA-512" {
		t.Fatalf("source %+v", k)
	}
	if _, err := cfg.Sources[1].kafkaSource(cfg, 1, source.Spec{}, secret.Default, nil); err == nil || !strings.Contains(err.Error(), "sources[1].sasl.password_file") {
		t.Fatalf("missing password file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.dir, "pw"), []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err = cfg.Sources[1].kafkaSource(cfg, 1, source.Spec{}, secret.Default, nil)
	if err != nil || k.SASL.Name() != "PLAIN" || k.Start.Mode != source.StartEarliest || k.IdleTimeout != 0 || k.TLS != nil {
		t.Fatalf("second source %+v, %v", k, err)
	}

	cfg, err = loadSourcesConfig(t, "  - {type: kafka, brokers: [a:1], topic: t, sasl: {mechanism: plain, username: u, password: hunter2}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if w := sourceWarnings(cfg); len(w) != 1 || !strings.Contains(w[0], "sources[0].sasl.password: a plaintext secret in the config file") || !strings.Contains(w[0], "password_file") {
		t.Fatalf("warnings for a plaintext password: %q", w)
	}
}
