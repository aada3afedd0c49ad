package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/format"
	_ "github.com/cep-project/cep/sinks/siem/transport/all" // the sink types of the config
	"github.com/cep-project/cep/sinks/siem/transport/file"
)

// config is cep.yaml: where rules, lists and models are, the sources, the
// engine's event-time settings and the sinks. Relative paths are relative
// to the config file. Unknown keys are errors.
type config struct {
	// Rules are directories or files of rules, or Git repositories
	// ({git: {url, ref, path, interval, auth}}).
	Rules []ruleSource `yaml:"rules"`
	// Lists is the reference lists directory; default: lists beside rules.
	Lists string `yaml:"lists"`
	// Models is the PMML models directory; default: models beside rules.
	Models string `yaml:"models"`
	// Prepare runs a command before the first start, when what it creates
	// is missing: how the fraud example writes its synthetic data.
	Prepare *prepareConfig `yaml:"prepare"`
	Engine  engineConfig   `yaml:"engine"`
	CEL     celConfig      `yaml:"cel"`
	Sources []sourceConfig `yaml:"sources"`
	Sinks   []siem.Config  `yaml:"sinks"`
	Metrics metricsConfig  `yaml:"metrics"`
	Admin   *adminConfig   `yaml:"admin"`
	Ingest  *ingestConfig  `yaml:"ingest"`
	State   stateConfig    `yaml:"state"`
	Facts   *factsConfig   `yaml:"facts"`
	// ScaleOut makes this process one of a Kafka consumer group's.
	ScaleOut *scaleOutConfig `yaml:"scale_out"`
	// Priority weighs severity, score and criticality into 0–100.
	Priority *priorityConfig `yaml:"priority"`

	path string
	dir  string
}

type priorityConfig struct {
	alert.Priority `yaml:",inline"`
	// Criticality names a CSV reference list of entities (its value
	// column) with their criticality (0–1) in Column (default
	// "criticality"); an alert whose key names a listed entity ranks
	// higher.
	Criticality *struct {
		List   string `yaml:"list"`
		Column string `yaml:"column"`
	} `yaml:"criticality"`
}

type engineConfig struct {
	// AllowedLateness: how far behind its stream's newest event an event
	// may arrive and still be processed in order. Default 5s.
	AllowedLateness *duration `yaml:"allowed_lateness"`
	// IdleTimeout: a source silent this long (processing time) stops
	// holding back event time. Default 1m.
	IdleTimeout duration `yaml:"idle_timeout"`
	// Late: drop (default) or process events later than that.
	Late string `yaml:"late" yamlx:"oneof=drop|process"`
	// CorrectWithin is how long after its end a window of a rule with
	// late: correct can still be corrected; default 1h.
	CorrectWithin duration `yaml:"correct_within"`
	// MaxFuture: an event this far ahead of its stream's newest event, or
	// of the wall clock, is held back until a few more of its stream agree
	// on the jump, else quarantined. Default 1h; 0s trusts every time.
	MaxFuture *duration `yaml:"max_future"`
	// QuarantineFile receives quarantined events as JSON lines.
	QuarantineFile string `yaml:"quarantine_file"`
	// MaxBufferBytes bounds the reorder buffer (an estimate of the events
	// waiting for event time to pass them); default 256MiB.
	MaxBufferBytes byteSize `yaml:"max_buffer_bytes"`
	// BusyPoll: how long the service loop keeps polling for the next
	// batch before it sleeps (runtime.Config.BusyPoll); it spends a core
	// while events flow to cut their latency. Default 0, at most 10ms.
	BusyPoll duration `yaml:"busy_poll"`
	// StopTimeout bounds a graceful stop (SIGTERM, SIGINT, end of input):
	// the last checkpoint and the sinks' flush. Default 30s.
	StopTimeout duration `yaml:"stop_timeout"`
	// MaxPartialsPerKey and MaxPartials bound live partial matches.
	MaxPartialsPerKey int `yaml:"max_partials_per_key" yamlx:"min=0"`
	MaxPartials       int `yaml:"max_partials" yamlx:"min=0"`
	// Shards splits the keys of each sequence, window and join rule that
	// reads only its events among this many detectors, stepped in
	// parallel; default 1.
	Shards int `yaml:"shards" yamlx:"min=0"`
	// MemoryLimit is what cep may use; default half the machine's (or
	// the cgroup's) memory. It shares out the defaults below and is the
	// Go runtime's soft memory limit.
	MemoryLimit byteSize `yaml:"memory_limit"`
	// MaxStateBytes bounds all detector state; default half of
	// MemoryLimit.
	MaxStateBytes byteSize `yaml:"max_state_bytes"`
	// Per-rule caps: keys of a window or join rule, events per key and
	// side of a join, values of an exact count_distinct per key and
	// window, combinations one event completes in a join.
	MaxKeys        int `yaml:"max_keys" yamlx:"min=0"`
	MaxJoinBuffer  int `yaml:"max_join_buffer" yamlx:"min=0"`
	MaxDistinct    int `yaml:"max_distinct" yamlx:"min=0"`
	MaxJoinMatches int `yaml:"max_join_matches" yamlx:"min=0"`
}

type celConfig struct {
	// CostLimit bounds the estimated and actual cost of every expression.
	CostLimit uint64 `yaml:"cost_limit"`
	// MissingFields is the default missing_fields of rules that do not set
	// it.
	MissingFields string `yaml:"missing_fields" yamlx:"oneof=error|false_if_missing"`
}

type stateConfig struct {
	// Dir keeps checkpoints: all detector state and every source's
	// position, so a restart resumes where the last checkpoint left off.
	// Empty keeps state in memory only.
	Dir string `yaml:"dir"`
	// Interval is the time between checkpoints; default 10s. One is
	// always taken at a graceful stop.
	Interval duration `yaml:"interval"`
	// Keep is how many checkpoints are kept on disk; default 2.
	Keep int `yaml:"keep" yamlx:"min=0"`
	// Encryption seals checkpoint entries (entity keys, events) at rest:
	// AES-256-GCM, the key as "${env:NAME}" or key_file, older keys under
	// previous for rotation.
	Encryption *seal.Config `yaml:"encryption"`
	// Redis keeps checkpoints in Redis instead, shared by an active
	// process and its standbys (redisstate.go).
	Redis *redisStateConfig `yaml:"redis"`
	// MaxFailedCheckpoints: after this many checkpoints fail in a row,
	// sources are not read until one succeeds; default 3.
	MaxFailedCheckpoints int `yaml:"max_failed_checkpoints" yamlx:"min=0"`
}

type metricsConfig struct {
	// Listen is the address of the Prometheus /metrics and /healthz
	// endpoint, such as 127.0.0.1:9464; empty disables it.
	Listen string `yaml:"listen"`
}

type sourceConfig struct {
	// Name identifies the source in logs; default its path or type.
	Name string `yaml:"name"`
	// Type is file, stdin or kafka.
	Type string `yaml:"type" yamlx:"required,oneof=file|stdin|kafka"`
	// Stream names the stream of its events; default the file's base name.
	Stream string `yaml:"stream"`
	// Path is the file of a file source.
	Path string `yaml:"path"`
	// TimeField and IDField override the event-time and id fields.
	TimeField string `yaml:"time_field"`
	IDField   string `yaml:"id_field"`
	// TimeFields are tried after TimeField, the first present wins.
	TimeFields []string `yaml:"time_fields"`
	// TimeFormats are tried in order on the time field's value.
	TimeFormats []timeFormat `yaml:"time_formats"`
	// TimeZone reads times written without a zone.
	TimeZone *zone `yaml:"time_zone"`
	// EarliestTime and LatestTime bound the event times accepted.
	EarliestTime *rfc3339 `yaml:"earliest_time"`
	LatestTime   *rfc3339 `yaml:"latest_time"`
	// The input limits of one line (see the README's Events section).
	MaxLineSize byteSize `yaml:"max_line_size"`
	MaxDepth    int      `yaml:"max_depth" yamlx:"min=0"`
	MaxValues   int      `yaml:"max_values" yamlx:"min=0"`
	MaxBytes    byteSize `yaml:"max_bytes"`
	// Follow keeps reading a file as it grows, like tail -f.
	Follow bool `yaml:"follow"`
	// PollInterval is how often a followed file is checked; default 500ms.
	PollInterval duration `yaml:"poll_interval"`
	// Decoders is how many goroutines decode the source's lines; 0 (the
	// default) is one per core.
	Decoders int `yaml:"decoders" yamlx:"min=0"`
	// The keys of a kafka source (kafkasource.go).
	kafkaSourceConfig `yaml:",inline"`
}

type prepareConfig struct {
	// Creates is the file or directory the command makes; the command runs
	// only while it does not exist.
	Creates string `yaml:"creates"`
	// Command is the program and its arguments, run in the config file's
	// directory.
	Command []string `yaml:"command"`
}

// Defaults of the per-rule caps: one event completing a thousand join
// combinations is already an alert storm, and a hundred thousand distinct
// values per key and window is far past any threshold a rule compares.
const (
	defaultMaxJoinMatches = 1000
	defaultMaxDistinct    = 100000
)

// limits are the engine's state limits from the config, with defaults.
func (e *engineConfig) limits() correlate.Limits {
	l := correlate.Limits{
		MaxPartialsPerKey: e.MaxPartialsPerKey, MaxPartials: e.MaxPartials,
		MaxKeys: e.MaxKeys, MaxJoinBuffer: e.MaxJoinBuffer,
		MaxDistinct: e.MaxDistinct, MaxJoinMatches: e.MaxJoinMatches,
		MaxStateBytes: int64(e.MaxStateBytes),
	}
	if l.MaxDistinct == 0 {
		l.MaxDistinct = defaultMaxDistinct
	}
	if l.MaxJoinMatches == 0 {
		l.MaxJoinMatches = defaultMaxJoinMatches
	}
	return l
}

// byteSize reads 512MiB, 2GB or a number of bytes in YAML.
type byteSize int64

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := yamlx.ParseSize(n.Value)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

// timeFormat reads a named time format or a Go layout.
type timeFormat struct{ event.TimeFormat }

func (f *timeFormat) UnmarshalYAML(n *yaml.Node) error {
	tf, err := event.ParseTimeFormat(n.Value)
	if err != nil {
		return err
	}
	f.TimeFormat = tf
	return nil
}

// zone reads an IANA time zone name.
type zone struct{ *time.Location }

func (z *zone) UnmarshalYAML(n *yaml.Node) error {
	loc, err := time.LoadLocation(n.Value)
	if err != nil {
		return fmt.Errorf("unknown time zone %q (an IANA name such as Europe/Berlin, or UTC)", n.Value)
	}
	z.Location = loc
	return nil
}

// rfc3339 reads an RFC 3339 time.
type rfc3339 struct{ time.Time }

func (t *rfc3339) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.Parse(time.RFC3339Nano, n.Value)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time such as 2020-01-01T00:00:00Z", n.Value)
	}
	t.Time = v
	return nil
}

// decoder is the event decoder a source's options describe.
func (s *sourceConfig) decoder() (event.Decoder, error) {
	d := event.Decoder{TimeFields: s.TimeFields}
	for _, f := range s.TimeFormats {
		d.TimeFormats = append(d.TimeFormats, f.TimeFormat)
	}
	if s.TimeZone != nil {
		d.TimeZone = s.TimeZone.Location
	}
	if s.EarliestTime != nil {
		d.EarliestTime = s.EarliestTime.Time
	}
	if s.LatestTime != nil {
		d.LatestTime = s.LatestTime.Time
	}
	d.Limits = event.Limits{MaxLineSize: int(s.MaxLineSize), MaxDepth: s.MaxDepth, MaxValues: s.MaxValues, MaxBytes: int(s.MaxBytes)}
	return d, d.Limits.Validate()
}

// duration reads 90s, 10m, 2d in YAML.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := yamlx.ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// maxBusyPoll bounds engine.busy_poll: a loop that polls longer gains
// nothing more (an idle core's thread is woken in well under a
// millisecond) and only spends the core.
const maxBusyPoll = 10 * time.Millisecond

// loadConfig reads and validates a config file, reporting every problem
// with its line and column (and, for an unknown key, the keys allowed).
func loadConfig(path string) (*config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := &config{path: path, dir: filepath.Dir(path)}
	doc, err := yamlx.Parse(path, src, "a config file holds one YAML document")
	if err != nil {
		return nil, err
	}
	d := yamlx.NewDecoder(path, src)
	d.Root = "config"
	d.Decode(doc, cfg)
	if len(d.List) > 0 {
		return nil, errors.Join(d.List...)
	}
	if errs := cfg.validate(); len(errs) > 0 {
		for i, e := range errs {
			errs[i] = fmt.Errorf("%s: %w", path, e)
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

func (c *config) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Rules) == 0 {
		bad("rules: name at least one rules directory")
	}
	if c.Ingest != nil && c.Admin == nil {
		bad("ingest: HTTP ingest is served on the admin listener: configure admin too")
	}
	if c.Engine.AllowedLateness != nil && *c.Engine.AllowedLateness < 0 {
		bad("engine.allowed_lateness must not be negative")
	}
	if b := c.Engine.BusyPoll; b < 0 || time.Duration(b) > maxBusyPoll {
		bad("engine.busy_poll must be between 0s and %v", maxBusyPoll)
	}
	if len(c.Sources) == 0 && c.Ingest == nil {
		bad("sources: name at least one source (or configure ingest)")
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		switch s.Type {
		case "file":
			if s.Path == "" {
				bad("sources[%d]: a file source needs path", i)
			}
		case "stdin":
			if s.Stream == "" {
				bad("sources[%d]: a stdin source needs stream", i)
			}
		}
		if _, err := s.decoder(); err != nil {
			bad("sources[%d]: %v", i, err)
		}
		errs = append(errs, s.validateKafka(i)...)
	}
	errs = append(errs, c.validateScaleOut()...)
	if e := c.State.Encryption; e != nil {
		for _, err := range e.Validate() {
			bad("state.encryption.%v", err)
		}
	}
	if p := c.Prepare; p != nil {
		if p.Creates == "" {
			bad("prepare.creates is required: the command runs only while it is missing")
		}
		if len(p.Command) == 0 {
			bad("prepare.command is required")
		}
	}
	if len(c.Sinks) == 0 {
		c.Sinks = []siem.Config{{Name: "stdout", Type: file.Stdout, Format: format.JSON}}
	}
	errs = append(errs, siem.ValidateAll(c.Sinks)...)
	errs = append(errs, c.State.validate()...)
	errs = append(errs, c.Facts.validate(&c.State)...)
	return errs
}

// resolve makes a config path relative to the config file.
func (c *config) resolve(p string) string {
	if p == "" || p == "-" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// ruleSource is one entry of rules: a directory or file, or a Git
// repository.
type ruleSource struct {
	Dir string
	Git *gitConfig
}

type gitConfig struct {
	// URL is a local path, a file:// URL, or an https or ssh URL.
	URL string `yaml:"url" yamlx:"required"`
	// Ref is a branch, tag or revision; default HEAD.
	Ref string `yaml:"ref"`
	// Path is the rules directory inside the repository; default its root.
	Path string `yaml:"path"`
	// Interval is how often the repository is polled; default 1m, 0s
	// polls never (reload on SIGHUP or the admin API only).
	Interval *duration `yaml:"interval"`
	// Dir keeps the checked-out commits; default state.dir/git, else a
	// temporary directory.
	Dir  string     `yaml:"dir"`
	Auth gitAuthCfg `yaml:"auth"`
}

type gitAuthCfg struct {
	TokenEnv   string `yaml:"token_env"`
	TokenFile  string `yaml:"token_file"`
	SSHKeyFile string `yaml:"ssh_key_file"`
	Username   string `yaml:"username"`
}

// UnmarshalYAMLX decodes a rules entry: a path, or {git: {...}}.
func (r *ruleSource) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		d.Decode(n, &r.Dir)
		return
	}
	var w struct {
		Git *gitConfig `yaml:"git" yamlx:"required"`
	}
	d.Decode(n, &w)
	r.Git = w.Git
}

type adminConfig struct {
	// Listen is the admin API's address; default 127.0.0.1:9465. Beyond
	// loopback it needs a token.
	Listen string `yaml:"listen"`
	// TokenEnv or TokenFile hold the bearer token.
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// Rate bounds requests per second (all clients together); default 50.
	Rate float64 `yaml:"rate"`
	// MaxBody bounds a request body; default 1MiB (ingest has its own).
	MaxBody byteSize `yaml:"max_body"`
	// Profiling serves the Go runtime's profiles under /debug/pprof/.
	Profiling bool `yaml:"profiling"`
}

type ingestConfig struct {
	// Streams are the streams ingest takes, each with optional time and id
	// fields.
	Streams []ingestStream `yaml:"streams" yamlx:"required"`
	// MaxBody bounds a request body; default 8MiB.
	MaxBody byteSize `yaml:"max_body"`
	// MaxPendingEvents bounds the events taken and not yet pushed to the
	// engine; past it requests get 429. Default 100000.
	MaxPendingEvents int64 `yaml:"max_pending_events" yamlx:"min=1"`
}

type ingestStream struct {
	Stream    string `yaml:"stream" yamlx:"required"`
	TimeField string `yaml:"time_field"`
	IDField   string `yaml:"id_field"`
}

// UnmarshalYAMLX takes a stream name alone, or {stream, time_field, id_field}.
func (s *ingestStream) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		d.Decode(n, &s.Stream)
		return
	}
	type plain ingestStream
	d.Decode(n, (*plain)(s))
}

// dirs lists the plain directories among the rules entries.
func (c *config) ruleDirs() []string {
	var out []string
	for _, r := range c.Rules {
		if r.Git == nil {
			out = append(out, c.resolve(r.Dir))
		}
	}
	return out
}
