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
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/cep-project/cep/alert"
)

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
}

// ErrStopped is returned by Send after Stop.
var ErrStopped = errors.New("sink stopped")

// Sink delivers alerts to one destination. Send hands an alert over; a
// single sender goroutine batches, sends with retries, and spools what the
// destination does not take, draining the spool in order when it recovers.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	m      *sinkMetrics
	clock  Clock
	format Formatter
	mask   *masker
	encode func([]byte, *alert.Alert) ([]byte, error)
	tr     transport
	brk    *breaker
	bo     *backoff.ExponentialBackOff
	sp     spool
	dead   *deadLetter
	rec    Recovery
	bufs   sync.Pool

	bar      barrier
	queue    chan record
	pending  []record // taken from the queue, waiting for spool room
	skip     map[string]bool
	mu       sync.RWMutex
	stopped  bool
	stopOnce sync.Once
	stopping chan struct{}
	sealed   chan struct{}
	done     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	started  bool

	hmu     sync.Mutex
	lastErr string
	lastAt  time.Time
	full    bool
	dropped int64
}

// New validates cfg and builds the sink it describes. The sink sends
// nothing until Start.
func New(cfg Config, opts Options) (*Sink, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("sink %q: %w", cfg.Name, errors.Join(errs...))
	}
	cfg.applyDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Metrics == nil {
		opts.Metrics, _ = NewMetrics(nil)
	}
	version := cfg.ProductVersion
	if version == "" {
		version = opts.Version
	}
	f, err := NewFormatter(cfg.Format, Product{Vendor: cfg.Vendor, Name: cfg.Product, Version: version}, cfg.LEEFDelimiter)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:      cfg,
		log:      opts.Logger.With("sink", cfg.Name, "type", cfg.Type),
		m:        opts.Metrics.forSink(cfg.Name),
		clock:    opts.Clock,
		format:   f,
		mask:     newMasker(cfg.Mask, cfg.HashKey),
		brk:      newBreaker(opts.Clock, cfg.Breaker.Failures, cfg.Breaker.Cooldown),
		queue:    make(chan record, cfg.Queue),
		skip:     map[string]bool{},
		stopping: make(chan struct{}),
		sealed:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.encode = f.Append
	s.bo = &backoff.ExponentialBackOff{
		InitialInterval:     cfg.Retry.InitialInterval,
		RandomizationFactor: cfg.Retry.Jitter,
		Multiplier:          cfg.Retry.Multiplier,
		MaxInterval:         cfg.Retry.MaxInterval,
	}
	s.bo.Reset()
	if s.tr, err = newTransport(s, opts); err != nil {
		return nil, fmt.Errorf("sink %q: %w", cfg.Name, err)
	}
	return s, nil
}

func newTransport(s *Sink, opts Options) (transport, error) {
	switch s.cfg.Type {
	case TypeSplunkHEC:
		return newHEC(s.cfg, s.format, s.clock)
	case TypeElastic:
		return newElastic(s.cfg)
	case TypeSyslog:
		return newSyslog(s.cfg, s.format)
	case TypeWebhook:
		w, err := newWebhook(s.cfg, s.clock)
		if err != nil {
			return nil, err
		}
		// The webhook renders its body from the alert at send time, so the
		// spool holds the masked alert JSON and never a secret that a
		// template might embed.
		s.encode = appendAlertJSON
		return w, nil
	case TypeKafka:
		return newKafka(s.cfg)
	case TypeFile:
		return newFile(s.cfg)
	case TypeStdout:
		return &writerTransport{w: opts.Stdout}, nil
	}
	return nil, fmt.Errorf("unknown type %q", s.cfg.Type)
}

// Name returns the sink's configured name.
func (s *Sink) Name() string { return s.cfg.Name }

// Accepts reports whether the sink's routing takes a: shadow alerts only
// where include_shadow allows, then priority, severity and tag filters.
func (s *Sink) Accepts(a *alert.Alert) bool {
	c := &s.cfg
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

// Start opens the spool (reporting anything it had to repair) and starts
// the sender, which drains the spool before it takes new alerts.
func (s *Sink) Start(ctx context.Context) error {
	if s.started {
		return fmt.Errorf("sink %q: already started", s.cfg.Name)
	}
	if s.cfg.Spool.Dir != "" {
		sp, rec, err := openDiskSpool(s.cfg.Spool.Dir, s.cfg.Spool.MaxBytes)
		if err != nil {
			return fmt.Errorf("sink %q: spool: %w", s.cfg.Name, err)
		}
		s.hmu.Lock()
		s.sp, s.rec = sp, rec
		s.hmu.Unlock()
		if rec.TruncatedBytes > 0 || len(rec.Problems) > 0 {
			s.log.Error("spool repaired on open; alerts in the cut bytes are lost", "truncated_bytes", rec.TruncatedBytes, "problems", rec.Problems)
			s.m.fail("spool_corrupt", 1)
		}
		if s.dead, err = openDeadLetter(s.cfg.Spool.Dir); err != nil {
			_ = sp.close()
			return fmt.Errorf("sink %q: dead-letter file: %w", s.cfg.Name, err)
		}
	} else {
		s.hmu.Lock()
		s.sp = newMemSpool(s.cfg.Spool.MaxBytes)
		s.hmu.Unlock()
	}
	if n, b := s.sp.stats(); n > 0 {
		s.log.Info("spool holds undelivered alerts; draining them first", "records", n, "bytes", b)
	}
	s.updateSpoolGauges()
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.started = true
	go s.run()
	return nil
}

// Send hands a over for delivery. It formats at once (so the caller may
// reuse a) and blocks while the sink's queue is full, which happens when
// the spool is full under on_full: block; ctx bounds that wait. It does not
// check Accepts: the Router does.
func (s *Sink) Send(ctx context.Context, a *alert.Alert) error {
	r, err := s.makeRecord(a)
	if err != nil {
		s.m.fail("format", 1)
		return fmt.Errorf("sink %q: alert %s: %w", s.cfg.Name, a.ID, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopped {
		return ErrStopped
	}
	select {
	case s.queue <- r:
		s.bar.accepted.Add(1)
		return nil
	case <-s.stopping:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sink) makeRecord(a *alert.Alert) (record, error) {
	m, err := s.mask.apply(a)
	if err != nil {
		return record{}, err
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b, err := s.encode((*bp)[:0], m)
	*bp = b
	body := slices.Clone(b)
	s.bufs.Put(bp)
	if err != nil {
		return record{}, err
	}
	return record{ID: a.ID, Key: alertKey(a), Time: a.Time.UnixNano(), Sev: a.Severity, Body: body}, nil
}

// alertKey partitions alerts in Kafka: all alerts of a rule and key go to
// one partition, in order.
func alertKey(a *alert.Alert) string {
	if len(a.Key) == 0 {
		return a.Rule
	}
	return a.Rule + "|" + a.Key.String()
}

// Stop stops taking alerts, sends or spools what is in flight, and closes
// the destination. Alerts still undelivered when ctx ends are spooled; with
// an in-memory spool they are lost, counted and logged.
func (s *Sink) Stop(ctx context.Context) error {
	if !s.started {
		return s.tr.close()
	}
	s.stopOnce.Do(func() {
		close(s.stopping)
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		close(s.sealed)
	})
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	return nil
}

// Health is a sink's state for the health endpoint and logs.
type Health struct {
	Name string `json:"name"`
	// State is ok, spooling (the destination is failing; alerts wait in the
	// spool), spool_full, or stopped.
	State        string    `json:"state"`
	Breaker      string    `json:"breaker"`
	SpoolRecords int       `json:"spool_records"`
	SpoolBytes   int64     `json:"spool_bytes"`
	Dropped      int64     `json:"dropped"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	Recovery     *Recovery `json:"spool_recovery,omitempty"`
}

// Health reports the sink's current state.
func (s *Sink) Health() Health {
	h := Health{Name: s.cfg.Name, Breaker: s.brk.current().String(), State: "ok"}
	s.hmu.Lock()
	sp, rec := s.sp, s.rec
	h.LastError, h.LastErrorAt, h.Dropped = s.lastErr, s.lastAt, s.dropped
	full := s.full
	s.hmu.Unlock()
	if sp != nil {
		h.SpoolRecords, h.SpoolBytes = sp.stats()
	}
	switch {
	case s.isStopping():
		h.State = "stopped"
	case full:
		h.State = "spool_full"
	case h.SpoolRecords > 0:
		h.State = "spooling"
	}
	if rec.TruncatedBytes > 0 || len(rec.Problems) > 0 {
		h.Recovery = &rec
	}
	return h
}

func (s *Sink) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

func (s *Sink) noteError(err error) {
	s.hmu.Lock()
	s.lastErr, s.lastAt = err.Error(), s.clock.Now()
	s.hmu.Unlock()
}

func (s *Sink) setFull(full bool) {
	s.hmu.Lock()
	was := s.full
	s.full = full
	s.hmu.Unlock()
	if full && !was {
		n, b := s.sp.stats()
		s.log.Error("spool full: alerts are held back and the pipeline blocks until the destination recovers", "records", n, "bytes", b, "max_bytes", s.cfg.Spool.MaxBytes, "on_full", s.cfg.Spool.OnFull)
	}
	if !full && was {
		s.log.Warn("spool has room again")
	}
	if full {
		s.m.spoolFull.Set(1)
	} else {
		s.m.spoolFull.Set(0)
	}
}

func (s *Sink) updateSpoolGauges() {
	n, b := s.sp.stats()
	s.m.spoolCount.Set(float64(n))
	s.m.spoolBytes.Set(float64(b))
}
