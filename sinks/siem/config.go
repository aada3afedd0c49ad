package siem

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cep-project/cep/alert"
)

// The sink types, as named in Config.Type.
const (
	TypeSplunkHEC = "splunk_hec"
	TypeElastic   = "elastic"
	TypeSyslog    = "syslog"
	TypeWebhook   = "webhook"
	TypeKafka     = "kafka"
	TypeFile      = "file"
	TypeStdout    = "stdout"
)

// Types lists the sink types.
var Types = []string{TypeSplunkHEC, TypeElastic, TypeSyslog, TypeWebhook, TypeKafka, TypeFile, TypeStdout}

// The spool's policies when it is full.
const (
	OnFullBlock      = "block"
	OnFullDropOldest = "drop_oldest"
)

// Config configures one sink. It is decoded from YAML (the `sinks:` list of
// the cep config file) with unknown keys rejected; Validate reports every
// problem at once with its key path. Exactly the block named by Type is
// read among the type-specific blocks.
type Config struct {
	// Name identifies the sink in logs, metrics (label sink) and health; it
	// must be unique.
	Name string `yaml:"name"`
	// Type is splunk_hec, elastic, syslog, webhook, kafka, file or stdout.
	Type string `yaml:"type"`
	// Format is json (default; the alert contract), ecs, ocsf, cef or leef.
	// Elasticsearch takes JSON formats only; a webhook renders its own body.
	Format string `yaml:"format"`

	// MinPriority drops alerts whose priority is below it (0–100).
	MinPriority int `yaml:"min_priority"`
	// Tags, when set, pass only alerts with at least one of these tags; a
	// tag ending in '*' matches by prefix ("attack.*").
	Tags []string `yaml:"tags"`
	// Severities, when set, pass only alerts of these severities.
	Severities []alert.Severity `yaml:"severities"`
	// IncludeShadow lets alerts of experimental rules through. Only file
	// and stdout sinks may set it: shadow alerts never reach a SIEM.
	IncludeShadow bool `yaml:"include_shadow"`

	// Mask lists fields to mask, hash or redact before formatting.
	Mask []MaskRule `yaml:"mask"`
	// HashKey is the HMAC key of the hash mask action.
	HashKey Secret `yaml:"hash_key"`

	// Vendor, Product and ProductVersion name the sender in CEF and LEEF
	// headers and OCSF metadata; defaults cep-project, cep, the build's
	// version.
	Vendor         string `yaml:"vendor"`
	Product        string `yaml:"product"`
	ProductVersion string `yaml:"product_version"`
	// LEEFDelimiter is LEEF 2.0's attribute delimiter: one character or
	// xHH; default '^'.
	LEEFDelimiter string `yaml:"leef_delimiter"`

	// Timeout bounds every call to the destination (one HTTP request, one
	// write, one produce); default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Queue is the number of alerts held in memory between the engine and
	// the sink's sender; default 1024. When it is full, Send blocks.
	Queue int `yaml:"queue"`
	// Batch groups alerts into one request.
	Batch BatchConfig `yaml:"batch"`
	// Retry governs retries of a failed batch before it is spooled, and the
	// pace of attempts while the spool drains.
	Retry RetryConfig `yaml:"retry"`
	// Breaker stops calling a destination that keeps failing.
	Breaker BreakerConfig `yaml:"breaker"`
	// Spool keeps alerts that could not be delivered, on disk.
	Spool SpoolConfig `yaml:"spool"`

	// The type-specific blocks.
	SplunkHEC *HECConfig     `yaml:"splunk_hec"`
	Elastic   *ElasticConfig `yaml:"elastic"`
	Syslog    *SyslogConfig  `yaml:"syslog"`
	Webhook   *WebhookConfig `yaml:"webhook"`
	Kafka     *KafkaConfig   `yaml:"kafka"`
	File      *FileConfig    `yaml:"file"`
}

// BatchConfig groups alerts into one request.
type BatchConfig struct {
	// MaxAlerts is the most alerts in one batch; default 500 (1 for
	// webhooks, which send one request per alert anyway).
	MaxAlerts int `yaml:"max_alerts"`
	// MaxWait is how long a partial batch waits for more alerts; default
	// 200ms. Alerts are never held longer than this before a send.
	MaxWait time.Duration `yaml:"max_wait"`
}

// RetryConfig is exponential backoff with jitter.
type RetryConfig struct {
	// MaxAttempts is the number of tries of a fresh batch before it goes to
	// the spool; default 3.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialInterval is the first wait; default 200ms.
	InitialInterval time.Duration `yaml:"initial_interval"`
	// MaxInterval caps the wait, also between attempts to drain the spool;
	// default 30s.
	MaxInterval time.Duration `yaml:"max_interval"`
	// Multiplier grows the wait after each failure; default 2.
	Multiplier float64 `yaml:"multiplier"`
	// Jitter randomises each wait by ± this fraction; default 0.2. Zero
	// must be asked for with a negative value: synchronized retries from
	// many senders are what jitter exists to prevent.
	Jitter float64 `yaml:"jitter"`
}

// BreakerConfig is a consecutive-failure circuit breaker.
type BreakerConfig struct {
	// Failures is the number of consecutive failed calls that opens the
	// breaker; default 5.
	Failures int `yaml:"failures"`
	// Cooldown is how long an open breaker refuses calls before it lets one
	// trial through; default 30s.
	Cooldown time.Duration `yaml:"cooldown"`
}

// SpoolConfig is the sink's on-disk spool.
type SpoolConfig struct {
	// Dir holds the spool's segment files; it must be the sink's own. When
	// empty the spool is kept in memory: it bridges outages but not
	// restarts.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the spool; default 1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// OnFull is block (default: back-pressure to the engine) or
	// drop_oldest (counted in cep_sink_dropped_total).
	OnFull string `yaml:"on_full"`
}

// TLSConfig is client TLS for a transport.
type TLSConfig struct {
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate checks; for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (c *Config) applyDefaults() {
	if c.Format == "" {
		c.Format = FormatJSON
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Queue == 0 {
		c.Queue = 1024
	}
	if c.Batch.MaxAlerts == 0 {
		c.Batch.MaxAlerts = 500
		if c.Type == TypeWebhook {
			c.Batch.MaxAlerts = 1
		}
	}
	if c.Batch.MaxWait == 0 {
		c.Batch.MaxWait = 200 * time.Millisecond
	}
	r := &c.Retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 3
	}
	if r.InitialInterval == 0 {
		r.InitialInterval = 200 * time.Millisecond
	}
	if r.MaxInterval == 0 {
		r.MaxInterval = 30 * time.Second
	}
	if r.Multiplier == 0 {
		r.Multiplier = 2
	}
	if r.Jitter == 0 {
		r.Jitter = 0.2
	} else if r.Jitter < 0 {
		r.Jitter = 0
	}
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = 5
	}
	if c.Breaker.Cooldown == 0 {
		c.Breaker.Cooldown = 30 * time.Second
	}
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = 1 << 30
	}
	if c.Spool.OnFull == "" {
		c.Spool.OnFull = OnFullBlock
	}
}

// Validate reports every problem with c, each prefixed with its key path
// (relative to the sink: "splunk_hec.url: required").
func (c Config) Validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Name == "" {
		add("name: required")
	}
	if !slices.Contains(Types, c.Type) {
		add("type: %q is not one of %s", c.Type, strings.Join(Types, ", "))
	}
	if c.Format != "" && !slices.Contains(Formats, c.Format) {
		add("format: %q is not one of %s", c.Format, strings.Join(Formats, ", "))
	}
	if c.Format == FormatLEEF || c.LEEFDelimiter != "" {
		if _, err := parseLEEFDelimiter(c.LEEFDelimiter); err != nil {
			add("leef_delimiter: %v", err)
		}
	}
	if c.MinPriority < 0 || c.MinPriority > 100 {
		add("min_priority: %d is outside 0–100", c.MinPriority)
	}
	for i, s := range c.Severities {
		if !s.Valid() {
			add("severities[%d]: %q is not a severity", i, s)
		}
	}
	for i, t := range c.Tags {
		if t == "" || t == "*" {
			add("tags[%d]: empty tag", i)
		}
	}
	if c.IncludeShadow && c.Type != TypeFile && c.Type != TypeStdout {
		add("include_shadow: only file and stdout sinks may take alerts of experimental rules")
	}
	seen := map[string]bool{}
	for i, m := range c.Mask {
		errs = append(errs, m.validate(fmt.Sprintf("mask[%d]", i), c.HashKey)...)
		if seen[m.Field] && m.Field != "" {
			add("mask[%d].field: %q is masked twice", i, m.Field)
		}
		seen[m.Field] = true
	}
	nonNeg := func(key string, d time.Duration) {
		if d < 0 {
			add("%s: must not be negative", key)
		}
	}
	nonNeg("timeout", c.Timeout)
	nonNeg("batch.max_wait", c.Batch.MaxWait)
	nonNeg("retry.initial_interval", c.Retry.InitialInterval)
	nonNeg("retry.max_interval", c.Retry.MaxInterval)
	nonNeg("breaker.cooldown", c.Breaker.Cooldown)
	if c.Queue < 0 {
		add("queue: must not be negative")
	}
	if c.Batch.MaxAlerts < 0 {
		add("batch.max_alerts: must not be negative")
	}
	if c.Retry.MaxAttempts < 0 {
		add("retry.max_attempts: must not be negative")
	}
	if c.Retry.Multiplier != 0 && c.Retry.Multiplier < 1 {
		add("retry.multiplier: must be at least 1")
	}
	if c.Retry.Jitter > 1 {
		add("retry.jitter: must be at most 1")
	}
	if c.Breaker.Failures < 0 {
		add("breaker.failures: must not be negative")
	}
	if c.Spool.MaxBytes < 0 {
		add("spool.max_bytes: must not be negative")
	} else if c.Spool.MaxBytes > 0 && c.Spool.MaxBytes < minSpoolBytes {
		add("spool.max_bytes: must be at least %d", minSpoolBytes)
	}
	if c.Spool.OnFull != "" && c.Spool.OnFull != OnFullBlock && c.Spool.OnFull != OnFullDropOldest {
		add("spool.on_full: %q is not block or drop_oldest", c.Spool.OnFull)
	}

	blocks := map[string]bool{
		TypeSplunkHEC: c.SplunkHEC != nil, TypeElastic: c.Elastic != nil, TypeSyslog: c.Syslog != nil,
		TypeWebhook: c.Webhook != nil, TypeKafka: c.Kafka != nil, TypeFile: c.File != nil,
	}
	for _, t := range Types {
		if blocks[t] && t != c.Type {
			add("%s: set, but the sink's type is %q", t, c.Type)
		}
	}
	needs := func(present bool) bool {
		if !present {
			add("%s: required for type %s", c.Type, c.Type)
		}
		return present
	}
	switch c.Type {
	case TypeSplunkHEC:
		if needs(c.SplunkHEC != nil) {
			errs = append(errs, prefix(TypeSplunkHEC, c.SplunkHEC.validate())...)
		}
	case TypeElastic:
		if needs(c.Elastic != nil) {
			errs = append(errs, prefix(TypeElastic, c.Elastic.validate())...)
		}
		if c.Format == FormatCEF || c.Format == FormatLEEF {
			add("format: elastic indexes JSON documents; use json, ecs or ocsf")
		}
		if c.Elastic != nil && c.Elastic.DataStream != "" && c.Format != FormatECS && c.Elastic.Pipeline == "" {
			add("elastic.data_stream: a data stream needs @timestamp; use format ecs or a pipeline that sets it")
		}
	case TypeSyslog:
		if needs(c.Syslog != nil) {
			errs = append(errs, prefix(TypeSyslog, c.Syslog.validate())...)
		}
	case TypeWebhook:
		if needs(c.Webhook != nil) {
			errs = append(errs, prefix(TypeWebhook, c.Webhook.validate())...)
		}
	case TypeKafka:
		if needs(c.Kafka != nil) {
			errs = append(errs, prefix(TypeKafka, c.Kafka.validate())...)
		}
	case TypeFile:
		if needs(c.File != nil) {
			errs = append(errs, prefix(TypeFile, c.File.validate())...)
		}
	}
	return errs
}

// ValidateAll validates a list of sinks, as in the `sinks:` key of the cep
// config: each error is prefixed with sinks[i], and names and spool
// directories must be unique.
func ValidateAll(cfgs []Config) []error {
	var errs []error
	names := map[string]int{}
	dirs := map[string]int{}
	for i, c := range cfgs {
		errs = append(errs, prefix(fmt.Sprintf("sinks[%d]", i), c.Validate())...)
		if j, dup := names[c.Name]; dup && c.Name != "" {
			errs = append(errs, fmt.Errorf("sinks[%d].name: %q is also the name of sinks[%d]", i, c.Name, j))
		}
		names[c.Name] = i
		if j, dup := dirs[c.Spool.Dir]; dup && c.Spool.Dir != "" {
			errs = append(errs, fmt.Errorf("sinks[%d].spool.dir: %q is also the spool of sinks[%d]; each sink needs its own", i, c.Spool.Dir, j))
		}
		dirs[c.Spool.Dir] = i
	}
	return errs
}

func prefix(p string, errs []error) []error {
	for i, e := range errs {
		errs[i] = fmt.Errorf("%s.%w", p, e)
	}
	return errs
}

func validateURL(key, raw string, required bool) []error {
	if raw == "" {
		if required {
			return []error{fmt.Errorf("%s: required", key)}
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return []error{fmt.Errorf("%s: %v", key, err)}
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return []error{fmt.Errorf("%s: %q is not an http or https URL", key, raw)}
	}
	return nil
}

func (t TLSConfig) validate(key string) []error {
	var errs []error
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New(key+".cert_file: cert_file and key_file go together"))
	}
	return errs
}
