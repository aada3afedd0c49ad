// Package kafka is the kafka sink transport: alerts produced to a topic
// with acks from all in-sync replicas, keyed by rule and alert key.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// Kind is the sink type and the key of its block.
const Kind = "kafka"

func init() {
	transport.Register(transport.Typed(Kind, newKafka))
}

// Config is the kafka block: alerts produced to a topic, keyed by
// rule and alert key so that one key's alerts stay in order in one
// partition.
type Config struct {
	// Brokers are bootstrap host:port addresses.
	Brokers []string `yaml:"brokers"`
	// Topic receives the alerts.
	Topic string `yaml:"topic"`
	// BatchTimeout is how long the producer waits to fill a produce
	// request; default 10ms, since the sink batches already.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// Compression is none (default), gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
	// AllowAutoTopicCreation lets the first produce create the topic.
	AllowAutoTopicCreation bool                 `yaml:"allow_auto_topic_creation"`
	TLS                    *transport.TLSConfig `yaml:"tls"`
	// SASL authenticates to the brokers.
	SASL *SASLConfig `yaml:"sasl"`
}

// SASLConfig is SASL authentication: PLAIN (use it over TLS) or SCRAM.
type SASLConfig struct {
	// Mechanism is plain, scram-sha-256 or scram-sha-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password may be "${env:NAME}", or PasswordFile names a file that
	// holds it.
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
}

func (c *SASLConfig) validate() []error {
	var errs []error
	switch c.Mechanism {
	case "plain", "scram-sha-256", "scram-sha-512":
	default:
		errs = append(errs, fmt.Errorf("sasl.mechanism: %q is not plain, scram-sha-256 or scram-sha-512", c.Mechanism))
	}
	if c.Username == "" {
		errs = append(errs, fmt.Errorf("sasl.username: required"))
	}
	if c.Password == "" && c.PasswordFile == "" {
		errs = append(errs, fmt.Errorf("sasl.password: required (or password_file)"))
	}
	return errs
}

func (c *SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.Username, c.Password.Reveal())
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.Username, c.Password.Reveal())
	}
	return plain.Mechanism{Username: c.Username, Password: c.Password.Reveal()}, nil
}

var kafkaCodecs = map[string]compress.Compression{
	"": 0, "none": 0, "gzip": compress.Gzip, "snappy": compress.Snappy, "lz4": compress.Lz4, "zstd": compress.Zstd,
}

// Validate implements transport.Config.
func (c *Config) Validate(transport.Settings) []error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, fmt.Errorf("brokers: at least one is required"))
	}
	if c.Topic == "" {
		errs = append(errs, fmt.Errorf("topic: required"))
	}
	if _, ok := kafkaCodecs[c.Compression]; !ok {
		errs = append(errs, fmt.Errorf("compression: %q is not none, gzip, snappy, lz4 or zstd", c.Compression))
	}
	if c.BatchTimeout < 0 {
		errs = append(errs, fmt.Errorf("batch_timeout: must not be negative"))
	}
	if c.TLS != nil {
		errs = append(errs, c.TLS.Validate("tls")...)
	}
	if c.SASL != nil {
		errs = append(errs, c.SASL.validate()...)
	}
	return errs
}

// maxProduceBatch bounds the messages of one produce batch: kafka-go gives
// each batch room for its writer's BatchSize messages up front (152 bytes
// each), so a batch.max_alerts of a million cost 152 MiB a partition a
// send. A send of more alerts goes in several produce batches, each of
// which the brokers' default largest message (1 MiB) bounds anyway.
const maxProduceBatch = 4096

// kafkaTransport produces with acks from all in-sync replicas; the writer
// makes one attempt per call because the sink owns retries, backoff and
// the spool.
type kafkaTransport struct {
	w    *kafka.Writer
	msgs []kafka.Message
}

func newKafka(c Config, env transport.Env) (*kafkaTransport, error) {
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 10 * time.Millisecond
	}
	tr := &kafka.Transport{}
	if c.TLS != nil {
		tc, err := c.TLS.Build()
		if err != nil {
			return nil, err
		}
		tr.TLS = tc
	}
	if c.SASL != nil {
		m, err := c.SASL.mechanism()
		if err != nil {
			return nil, fmt.Errorf("sasl: %w", err)
		}
		tr.SASL = m
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(c.Brokers...),
		Topic:                  c.Topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           c.BatchTimeout,
		BatchSize:              min(env.BatchMaxAlerts, maxProduceBatch),
		MaxAttempts:            1,
		WriteTimeout:           env.Timeout,
		ReadTimeout:            env.Timeout,
		Compression:            kafkaCodecs[c.Compression],
		AllowAutoTopicCreation: c.AllowAutoTopicCreation,
		Transport:              tr,
	}
	return &kafkaTransport{w: w}, nil
}

// Start implements transport.Transport.
func (k *kafkaTransport) Start(context.Context) error { return nil }

// Send implements transport.Transport.
func (k *kafkaTransport) Send(ctx context.Context, batch []transport.Record) error {
	msgs := k.msgs[:0]
	for i := range batch {
		r := &batch[i]
		msgs = append(msgs, kafka.Message{
			Key:     []byte(r.Key),
			Value:   r.Body,
			Time:    r.EventTime(),
			Headers: []kafka.Header{{Key: "alert_id", Value: []byte(r.ID)}},
		})
	}
	k.msgs = msgs
	err := k.w.WriteMessages(ctx, msgs...)
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) {
		return err
	}
	var fails []transport.ItemFailure
	for i, e := range werrs {
		if e == nil {
			continue
		}
		retry := true
		var ke kafka.Error
		if errors.As(e, &ke) && !ke.Temporary() {
			retry = ke == kafka.MessageSizeTooLarge || ke == kafka.UnknownTopicOrPartition || ke == kafka.LeaderNotAvailable
		}
		fails = append(fails, transport.ItemFailure{Index: i, Retry: retry, Reason: e.Error()})
	}
	if len(fails) == 0 {
		return nil
	}
	return &transport.ItemsError{Items: fails}
}

// Close implements transport.Transport.
func (k *kafkaTransport) Close() error { return k.w.Close() }
