package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/transport"
	"github.com/cep-project/cep/source"
)

// kafkaSourceConfig is what a source of type kafka adds to a source's
// keys: the brokers, the topics, the group its offsets are committed to,
// and where partitions without a position start.
type kafkaSourceConfig struct {
	// Brokers are bootstrap host:port addresses.
	Brokers []string `yaml:"brokers"`
	// Topic, or Topics, are read; every partition of each.
	Topic  string   `yaml:"topic"`
	Topics []string `yaml:"topics"`
	// Group receives the offsets of durable checkpoints; empty commits
	// none.
	Group string `yaml:"group"`
	// Start is where a partition without a checkpointed or committed
	// offset starts: earliest (default), latest or an RFC 3339 time.
	Start string `yaml:"start"`
	// StopAtEnd ends the source at the end each partition had when it
	// started: a replay of what the topics hold.
	StopAtEnd bool `yaml:"stop_at_end"`
	// IdleTimeout: a partition with no new messages this long stops
	// holding event time back; default 10s, 0s waits for ever.
	IdleTimeout *duration `yaml:"idle_timeout"`
	// KeyedBy says how the producers keyed the topics' messages, as a
	// rule's by: [event.user] when the message key is the user field.
	// With scale_out, a stateful rule keyed otherwise reads the topics'
	// events through a repartition topic.
	KeyedBy []string             `yaml:"keyed_by"`
	TLS     *transport.TLSConfig `yaml:"tls"`
	SASL    *kafkaSASLConfig     `yaml:"sasl"`
}

// kafkaSASLConfig is SASL authentication: PLAIN (over TLS) or SCRAM.
type kafkaSASLConfig struct {
	Mechanism string `yaml:"mechanism" yamlx:"required,oneof=plain|scram-sha-256|scram-sha-512"`
	Username  string `yaml:"username" yamlx:"required"`
	// Password as "${env:NAME}", or in PasswordFile.
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
}

// kafkaKeys are the keys only a kafka source may set.
func (k *kafkaSourceConfig) set() bool {
	return len(k.Brokers) > 0 || k.Topic != "" || len(k.Topics) > 0 || k.Group != "" || k.Start != "" ||
		k.StopAtEnd || k.IdleTimeout != nil || k.TLS != nil || k.SASL != nil || len(k.KeyedBy) > 0
}

func (k *kafkaSourceConfig) topics() []string {
	if k.Topic != "" {
		return append([]string{k.Topic}, k.Topics...)
	}
	return k.Topics
}

// validateKafka checks a source's kafka keys against its type.
func (s *sourceConfig) validateKafka(i int) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("sources[%d]: "+format, append([]any{i}, args...)...))
	}
	k := &s.kafkaSourceConfig
	if s.Type != "kafka" {
		if k.set() {
			bad("brokers, topic, topics, group, start, stop_at_end, idle_timeout, keyed_by, tls and sasl are keys of a kafka source")
		}
		return errs
	}
	if len(k.Brokers) == 0 {
		bad("a kafka source needs brokers")
	}
	switch {
	case k.Topic == "" && len(k.Topics) == 0:
		bad("a kafka source needs topic or topics")
	case k.Topic != "" && len(k.Topics) > 0:
		bad("topic and topics: give one or the other")
	}
	for _, t := range k.topics() {
		if t == "" || strings.ContainsRune(t, '/') {
			bad("topic %q is not a Kafka topic name", t)
		}
	}
	if len(k.topics()) > 1 && s.Stream == "" {
		bad("a kafka source of several topics needs stream")
	}
	if s.Path != "" || s.Follow {
		bad("path and follow are keys of a file source")
	}
	if _, err := source.ParseKafkaStart(k.Start); err != nil {
		bad("%v", err)
	}
	if k.IdleTimeout != nil && *k.IdleTimeout < 0 {
		bad("idle_timeout must not be negative")
	}
	if k.TLS != nil {
		for _, err := range k.TLS.Validate("tls") {
			bad("%v", err)
		}
	}
	for _, f := range secret.Fields(k, fmt.Sprintf("sources[%d]", i)) {
		if err := f.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if k.SASL != nil && k.SASL.Password == "" && k.SASL.PasswordFile == "" {
		bad("sasl.password: required (or password_file)")
	}
	return errs
}

// kafkaSource builds a kafka source, reading its password.
func (s *sourceConfig) kafkaSource(cfg *config, i int, spec source.Spec, r secret.Resolver, log *slog.Logger) (*source.Kafka, error) {
	k := secret.Copy(&s.kafkaSourceConfig)
	secret.ResolveFiles(k, cfg.resolve)
	if err := r.Resolve(k, fmt.Sprintf("sources[%d]", i)); err != nil {
		return nil, err
	}
	start, err := source.ParseKafkaStart(k.Start)
	if err != nil {
		return nil, err
	}
	src := &source.Kafka{
		Spec: spec, Brokers: k.Brokers, Topics: k.topics(), Group: k.Group,
		Start: start, Bounded: k.StopAtEnd, Log: log,
	}
	if k.IdleTimeout != nil {
		src.IdleTimeout = time.Duration(*k.IdleTimeout)
		if src.IdleTimeout == 0 {
			src.IdleTimeout = -1
		}
	}
	if k.TLS != nil {
		tc := *k.TLS
		for _, p := range []*string{&tc.CAFile, &tc.CertFile, &tc.KeyFile} {
			*p = cfg.resolve(*p)
		}
		if src.TLS, err = tc.Build(); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if src.TLS == nil {
			// tls: {} asks for TLS with the system's CAs.
			src.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	if k.SASL != nil {
		if src.SASL, err = k.SASL.mechanism(); err != nil {
			return nil, fmt.Errorf("sasl: %w", err)
		}
	}
	return src, nil
}

func (c *kafkaSASLConfig) mechanism() (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.Username, c.Password.Reveal())
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.Username, c.Password.Reveal())
	}
	return plain.Mechanism{Username: c.Username, Password: c.Password.Reveal()}, nil
}

// sourceWarnings warns about plaintext Kafka passwords in the config
// file, as siem.Warnings does for sinks' secrets.
func sourceWarnings(cfg *config) []string {
	var out []string
	for i := range cfg.Sources {
		for _, f := range secret.Fields(&cfg.Sources[i].kafkaSourceConfig, fmt.Sprintf("sources[%d]", i)) {
			if f.Plaintext() {
				out = append(out, fmt.Sprintf("%s: a plaintext secret in the config file; write \"${env:NAME}\" or use %s_file", f.Path, f.Path[strings.LastIndexByte(f.Path, '.')+1:]))
			}
		}
	}
	return out
}
