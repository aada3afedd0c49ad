package siem

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// The spool's policies when it is full.
const (
	OnFullBlock      = "block"
	OnFullDropOldest = "drop_oldest"
)

// Config configures one sink. It is decoded from YAML (the `sinks:` list of
// the cep config file) with unknown keys rejected; Validate reports every
// problem at once with its key path. Beside the keys below, a sink has one
// block named like its type (`splunk_hec: {...}`), decoded by the
// registered transport into Transport.
type Config struct {
	// Name identifies the sink in logs, metrics (label sink) and health; it
	// must be unique.
	Name string `yaml:"name"`
	// Type is a registered transport kind: splunk_hec, elastic, syslog,
	// webhook, kafka, file or stdout with transport/all.
	Type string `yaml:"type"`
	// Format is json (default; the alert contract), ecs, ocsf, cef, leef or text (one line per alert).
	// Elasticsearch takes JSON formats only; a webhook renders its own body.
	Format string `yaml:"format"`

	// MinPriority drops alerts whose priority is below it (0–100).
	MinPriority int `yaml:"min_priority"`
	// Tags, when set, pass only alerts with at least one of these tags; a
	// tag ending in '*' matches by prefix ("attack.*").
	Tags []string `yaml:"tags"`
	// Severities, when set, pass only alerts of these severities.
	Severities []alert.Severity `yaml:"severities"`
	// IncludeShadow lets alerts of experimental rules through. Only local
	// sinks (file and stdout) may set it: shadow alerts never reach a SIEM.
	IncludeShadow bool `yaml:"include_shadow"`

	// Mask lists fields to mask, hash or redact before formatting.
	Mask []MaskRule `yaml:"mask"`
	// HashKey is the HMAC key of the hash mask action; "${env:NAME}", or
	// HashKeyFile names a file that holds it.
	HashKey     secret.Secret `yaml:"hash_key"`
	HashKeyFile string        `yaml:"hash_key_file"`

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

	// Transport is the block of the sink's type, such as a *hec.Config for
	// type splunk_hec. Decoding YAML fills it; a program may set it.
	Transport transport.Config `yaml:"-"`

	// others are blocks of other types found in the YAML, which Validate
	// reports.
	others []string
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
	// Encryption seals the spool's segments with AES-256-GCM; it needs
	// Dir. Segments written before it was turned on stay readable.
	Encryption *seal.Config `yaml:"encryption"`
}

// plainConfig is Config without its YAML methods, for decoding the keys
// common to every sink.
type plainConfig Config

// blockStruct is a struct type made at run time: the common keys inline,
// then one field per registered kind that has a block, named by the kind.
// Decoding into it with the caller's decoder keeps its settings (unknown
// keys are errors, with their line) for the blocks too, which decoding a
// yaml.Node separately would lose.
var blockStruct struct {
	sync.Mutex
	gen   int
	typ   reflect.Type
	kinds []transport.Kind
}

func configStruct() (reflect.Type, []transport.Kind) {
	blockStruct.Lock()
	defer blockStruct.Unlock()
	gen := transport.Generation()
	if blockStruct.typ != nil && blockStruct.gen == gen {
		return blockStruct.typ, blockStruct.kinds
	}
	fields := []reflect.StructField{{Name: "Common", Type: reflect.TypeFor[plainConfig](), Tag: `yaml:",inline"`}}
	var kinds []transport.Kind
	for _, k := range transport.Kinds() {
		if k.NewConfig == nil {
			continue
		}
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("Block%d", len(kinds)),
			Type: reflect.TypeOf(k.NewConfig()),
			Tag:  reflect.StructTag(`yaml:"` + k.Name + `"`),
		})
		kinds = append(kinds, k)
	}
	blockStruct.typ, blockStruct.kinds, blockStruct.gen = reflect.StructOf(fields), kinds, gen
	return blockStruct.typ, kinds
}

// UnmarshalYAMLX decodes the common keys and the block of every
// registered kind with cep's config decoder: unknown keys are errors with
// their position and the keys allowed, the kinds' block names among them.
func (c *Config) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	t, kinds := configStruct()
	v := reflect.New(t)
	d.Decode(n, v.Interface())
	c.fromBlocks(v.Elem(), kinds)
}

// UnmarshalYAML does the same for yaml.v3's decoder. It takes the
// decoder's unmarshal function (yaml.v3's older interface) because that
// one carries the decoder's KnownFields setting.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	t, kinds := configStruct()
	v := reflect.New(t)
	if err := unmarshal(v.Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			out := &yaml.TypeError{Errors: make([]string, len(te.Errors))}
			for i, e := range te.Errors {
				out.Errors[i] = strings.ReplaceAll(e, t.String(), "siem.Config")
			}
			return out
		}
		return err
	}
	c.fromBlocks(v.Elem(), kinds)
	return nil
}

// fromBlocks sets c from a value of the type configStruct made: the common
// keys, the block of the sink's type, and which other blocks were set.
func (c *Config) fromBlocks(e reflect.Value, kinds []transport.Kind) {
	*c = Config(e.Field(0).Interface().(plainConfig))
	for i, k := range kinds {
		f := e.Field(i + 1)
		if f.IsNil() {
			continue
		}
		if k.Name == c.Type {
			c.Transport = f.Interface().(transport.Config)
		} else {
			c.others = append(c.others, k.Name)
		}
	}
}

// MarshalYAML writes the config as it is read, the block under its kind's
// key; secrets show as [redacted].
func (c Config) MarshalYAML() (any, error) {
	t, kinds := configStruct()
	v := reflect.New(t).Elem()
	v.Field(0).Set(reflect.ValueOf(plainConfig(c)))
	for i, k := range kinds {
		f := v.Field(i + 1)
		if k.Name == c.Type && c.Transport != nil && reflect.TypeOf(c.Transport) == f.Type() {
			f.Set(reflect.ValueOf(c.Transport))
		}
	}
	return v.Interface(), nil
}

// ResolvePaths rewrites the paths of the config (the spool directory, and
// those of its block) with resolve, which a program uses to make them
// relative to its config file. Empty paths stay empty.
func (c *Config) ResolvePaths(resolve func(path string) string) {
	r := func(p string) string {
		if p == "" {
			return p
		}
		return resolve(p)
	}
	c.Spool.Dir = r(c.Spool.Dir)
	secret.ResolveFiles(c, r)
	if c.Transport != nil {
		secret.ResolveFiles(c.Transport, r)
	}
	if pr, ok := c.Transport.(transport.PathResolver); ok {
		pr.ResolvePaths(r)
	}
}

// secrets lists every secret of the sink, the common ones and those of its
// block, with their key paths under prefix.
func (c *Config) secrets(prefix string) []secret.Field {
	fs := secret.Fields(c, prefix)
	if c.Transport != nil {
		p := c.Type
		if prefix != "" {
			p = prefix + "." + c.Type
		}
		fs = append(fs, secret.Fields(c.Transport, p)...)
	}
	return fs
}

// resolved returns a copy of c with every secret read (from the
// environment or a file), so that nothing after it sees the config's
// references.
func (c Config) resolved(r secret.Resolver) (Config, error) {
	out := *secret.Copy(&c)
	var errs []error
	if err := r.Resolve(&out, ""); err != nil {
		errs = append(errs, err)
	}
	if c.Transport != nil {
		out.Transport = secret.CopyAny(c.Transport).(transport.Config)
		if err := r.Resolve(out.Transport, c.Type); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// Warnings reports what is allowed but unsafe in a list of sinks: secrets
// written in plaintext in the config file (use "${env:NAME}" or the
// secret's _file key), and URLs that carry credentials (user:password@ or
// a query string), which logs and health show redacted but the config
// file keeps. Validation passes with them; a program prints them.
func Warnings(cfgs []Config) []string {
	var out []string
	for i := range cfgs {
		c := &cfgs[i]
		p := fmt.Sprintf("sinks[%d]", i)
		for _, f := range c.secrets(p) {
			if f.Plaintext() {
				out = append(out, fmt.Sprintf("%s: a plaintext secret in the config file; write \"${env:NAME}\" or use %s", f.Path, f.FileKey()[strings.LastIndexByte(f.FileKey(), '.')+1:]))
			}
		}
		out = append(out, urlFields(c.Transport, p+"."+c.Type)...)
	}
	return out
}

// urlFields warns about URL keys of a block that carry credentials.
func urlFields(block transport.Config, prefix string) []string {
	v := reflect.ValueOf(block)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	v = v.Elem()
	var out []string
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if sf.Type.Kind() != reflect.String || key != "url" {
			continue
		}
		u, err := url.Parse(v.Field(i).String())
		if err == nil && (u.User != nil || u.RawQuery != "") {
			out = append(out, fmt.Sprintf("%s.%s: holds credentials or a query string; logs and health show it redacted, but the config file keeps it in plaintext", prefix, key))
		}
	}
	return out
}

// kind returns the sink's registered transport kind.
func (c *Config) kind() (transport.Kind, bool) { return transport.Lookup(c.Type) }

// settings are the sink-level values its transport sees.
func (c *Config) settings() transport.Settings {
	s := transport.Settings{Name: c.Name, Format: c.Format, Timeout: c.Timeout, BatchMaxAlerts: c.Batch.MaxAlerts}
	if s.Format == "" {
		s.Format = format.JSON
	}
	if f, ok := format.Lookup(s.Format); ok {
		s.JSON = f.JSON
	}
	return s
}

func (c *Config) applyDefaults() {
	if c.Format == "" {
		c.Format = format.JSON
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Queue == 0 {
		c.Queue = 1024
	}
	if c.Batch.MaxAlerts == 0 {
		c.Batch.MaxAlerts = 500
		if k, ok := c.kind(); ok && k.DefaultBatch > 0 {
			c.Batch.MaxAlerts = k.DefaultBatch
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
	kind, known := c.kind()
	if !known {
		add("type: %q is not one of %s", c.Type, strings.Join(transport.Names(), ", "))
	}
	if c.Format != "" {
		if _, ok := format.Lookup(c.Format); !ok {
			add("format: %q is not one of %s", c.Format, strings.Join(format.Names(), ", "))
		}
	}
	if c.Format == format.Text && c.Type != "file" && c.Type != "stdout" {
		// A SIEM parses what it receives; text is for people.
		add("format: text is for people reading a terminal or a file: use it with type file or stdout, not %s", c.Type)
	}
	if c.Format == format.LEEF || c.LEEFDelimiter != "" {
		if _, err := format.ParseLEEFDelimiter(c.LEEFDelimiter); err != nil {
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
	if c.IncludeShadow && !kind.Shadow {
		var local []string
		for _, k := range transport.Kinds() {
			if k.Shadow {
				local = append(local, k.Name)
			}
		}
		add("include_shadow: only %s sinks may take alerts of experimental rules", strings.Join(local, " and "))
	}
	seen := map[string]bool{}
	for i, m := range c.Mask {
		errs = append(errs, m.validate(fmt.Sprintf("mask[%d]", i), c.HashKey != "" || c.HashKeyFile != "")...)
		if seen[m.Field] && m.Field != "" {
			add("mask[%d].field: %q is masked twice", i, m.Field)
		}
		seen[m.Field] = true
	}
	errs = append(errs, c.validateDelivery()...)
	for _, f := range c.secrets("") {
		if err := f.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range c.others {
		add("%s: set, but the sink's type is %q", o, c.Type)
	}
	if known {
		errs = append(errs, c.validateBlock(kind)...)
	}
	return errs
}

// validateDelivery checks the queue, batch, retry, breaker and spool keys.
func (c *Config) validateDelivery() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
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
	if e := c.Spool.Encryption; e != nil {
		if c.Spool.Dir == "" {
			add("spool.encryption: needs spool.dir (an in-memory spool is not written anywhere)")
		}
		errs = append(errs, prefix("spool.encryption", e.Validate())...)
	}
	return errs
}

// validateBlock checks that the sink has the block its kind needs, of the
// kind's type, and lets the kind validate it.
func (c *Config) validateBlock(kind transport.Kind) []error {
	switch {
	case kind.NewConfig == nil && c.Transport != nil:
		return []error{fmt.Errorf("%s: type %s takes no block", c.Type, c.Type)}
	case kind.NewConfig == nil:
		return nil
	case c.Transport == nil || reflect.ValueOf(c.Transport).IsNil():
		return []error{fmt.Errorf("%s: required for type %s", c.Type, c.Type)}
	case reflect.TypeOf(c.Transport) != reflect.TypeOf(kind.NewConfig()):
		return []error{fmt.Errorf("%s: a %T is not the configuration of type %s", c.Type, c.Transport, c.Type)}
	}
	return transport.Prefix(c.Type, c.Transport.Validate(c.settings()))
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

// Types lists the registered sink types.
func Types() []string { return transport.Names() }

// Formats lists the registered formats.
func Formats() []string { return format.Names() }
