package siem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// Clock is the time source of batching, backoff, the breaker and the
// transports that wait.
type Clock = transport.Clock

// SystemClock is the wall clock.
var SystemClock = transport.SystemClock

// Options are what a sink takes from its host process rather than from its
// configuration.
type Options struct {
	// Logger receives the sink's logs; default slog.Default().
	Logger *slog.Logger
	// Metrics are shared by all sinks of a process; default: unregistered.
	Metrics *Metrics
	// Clock is the time source of batching, backoff and the breaker;
	// default the wall clock.
	Clock Clock
	// Stdout is where a stdout sink writes; default os.Stdout.
	Stdout io.Writer
	// Version is cep's version, the default product_version.
	Version string
	// Secrets reads the secrets written as "${env:NAME}" or in files;
	// default the process environment and the file system.
	Secrets secret.Resolver
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = SystemClock
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Metrics == nil {
		o.Metrics, _ = NewMetrics(nil)
	}
	if o.Secrets.LookupEnv == nil || o.Secrets.ReadFile == nil {
		o.Secrets = secret.Default
	}
}

// ErrStopped is returned by Send after Stop.
var ErrStopped = errors.New("sink stopped")

// sink is one destination: the routing filter that decides which alerts it
// takes, the encoder that masks and formats them, and the sender that
// delivers them.
type sink struct {
	name   string
	filter route
	enc    *encoder
	snd    *sender
}

// newSink validates cfg and builds the sink it describes; it sends
// nothing until start.
func newSink(cfg Config, opts Options) (*sink, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("sink %q: %w", cfg.Name, errors.Join(errs...))
	}
	opts.defaults()
	cfg, err := cfg.resolved(opts.Secrets)
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", cfg.Name, err)
	}
	cfg.applyDefaults()
	kind, _ := cfg.kind()
	version := cfg.ProductVersion
	if version == "" {
		version = opts.Version
	}
	fname := cfg.Format
	if kind.Body == transport.AlertJSON {
		fname = format.JSON
	}
	f, err := format.New(fname, format.Options{
		Product:       format.Product{Vendor: cfg.Vendor, Name: cfg.Product, Version: version},
		LEEFDelimiter: cfg.LEEFDelimiter,
		FieldNames:    kind.FieldNames,
	})
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", cfg.Name, err)
	}
	var keys *seal.Keyring
	if e := cfg.Spool.Encryption; e != nil {
		if keys, err = e.Keyring(opts.Secrets, "spool.encryption."); err != nil {
			return nil, fmt.Errorf("sink %q: %w", cfg.Name, err)
		}
	}
	log := opts.Logger.With("sink", cfg.Name, "type", cfg.Type)
	m := opts.Metrics.forSink(cfg.Name)
	env := transport.Env{Settings: cfg.settings(), Logger: log, Clock: opts.Clock, Stdout: opts.Stdout,
		Truncated: func(n int) { m.truncated.Add(float64(n)) }}
	tr, err := kind.New(cfg.Transport, env)
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", cfg.Name, err)
	}
	return &sink{
		name:   cfg.Name,
		filter: route{cfg: &cfg},
		enc:    &encoder{mask: newMasker(cfg.Mask, cfg.HashKey), format: f},
		snd:    newSender(cfg, log, m, opts.Clock, tr, keys),
	}, nil
}

// send hands a over for delivery. It formats at once (so the caller may
// reuse a) and blocks while the sink's queue is full, which happens when
// the spool is full under on_full: block; ctx bounds that wait. It does not
// check the routing filter: the Router does.
func (s *sink) send(ctx context.Context, a *alert.Alert) error {
	r, err := s.enc.record(a)
	if err != nil {
		s.snd.m.fail("format", 1)
		return fmt.Errorf("sink %q: alert %s: %w", s.name, a.ID, err)
	}
	return s.snd.enqueue(ctx, r)
}

// route is a sink's routing filter.
type route struct{ cfg *Config }

// accepts reports whether the sink takes a: shadow alerts only where
// include_shadow allows, then priority, severity and tag filters.
func (r route) accepts(a *alert.Alert) bool {
	c := r.cfg
	if a.Shadow && !c.IncludeShadow {
		return false
	}
	if a.Priority < c.MinPriority {
		return false
	}
	if len(c.Severities) > 0 && !slices.Contains(c.Severities, a.Severity) {
		return false
	}
	if len(c.Tags) > 0 && !matchTags(c.Tags, a.Tags) {
		return false
	}
	return true
}

func matchTags(want, have []string) bool {
	for _, w := range want {
		prefix := w[:len(w)-1]
		glob := w[len(w)-1] == '*'
		for _, h := range have {
			if h == w || glob && len(h) >= len(prefix) && h[:len(prefix)] == prefix {
				return true
			}
		}
	}
	return false
}

// encoder turns an alert into a record: masked, then formatted into a
// pooled buffer and copied out at its exact size.
type encoder struct {
	mask   *masker
	format format.Formatter
	bufs   sync.Pool
}

func (e *encoder) record(a *alert.Alert) (transport.Record, error) {
	m, err := e.mask.apply(a)
	if err != nil {
		return transport.Record{}, err
	}
	bp, _ := e.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b, err := e.format.Append((*bp)[:0], m)
	*bp = b
	body := slices.Clone(b)
	e.bufs.Put(bp)
	if err != nil {
		return transport.Record{}, err
	}
	// The key comes from the masked alert: it is written to the spool and
	// is the Kafka message key.
	return transport.Record{ID: a.ID, Key: alertKey(m), Time: a.Time.UnixNano(), Sev: a.Severity, Body: body}, nil
}

// alertKey partitions alerts in Kafka: all alerts of a rule and key go to
// one partition, in order.
func alertKey(a *alert.Alert) string {
	if len(a.Key) == 0 {
		return a.Rule
	}
	return a.Rule + "|" + a.Key.String()
}
