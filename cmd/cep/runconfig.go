package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/examples/fraud/fraudgen"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/source"
)

// tickEvery is how often the engine learns the processing time, to mark
// silent sources idle, and publishes its counters.
const tickEvery = time.Second

// runConfig runs the sources and sinks of a config file until every source
// has ended or the process is told to stop.
func (a *app) runConfig(ctx context.Context, p runParams) error {
	cfg, err := loadConfig(p.config)
	if err != nil {
		return exitWith(exitUsage, "%v", err)
	}
	if g := cfg.Generate; g != nil {
		dir := cfg.resolve(g.Dir)
		if fraudgen.Missing(dir) {
			a.log.Info("generating example data", "dir", dir, "events", g.Events, "seed", g.Seed)
			if err := fraudgen.Generate(dir, fraudgen.Config{Seed: g.Seed, Events: g.Events, Rate: g.Rate}); err != nil {
				return exitWith(exitRuntime, "generate: %v", err)
			}
		}
	}
	var rulePaths []string
	for _, r := range cfg.Rules {
		rulePaths = append(rulePaths, cfg.resolve(r))
	}
	rf := p.ruleFlags
	if cfg.Lists != "" {
		rf.lists = cfg.resolve(cfg.Lists)
	}
	if cfg.Models != "" {
		rf.models = cfg.resolve(cfg.Models)
	}
	if cfg.CEL.CostLimit > 0 {
		rf.costLimit = cfg.CEL.CostLimit
	}
	set, comp, err := a.loadRules(rulePaths, rf)
	if err != nil {
		return err
	}
	loadErrs := a.printLoadErrors(set)
	if len(set.Rules) == 0 {
		return exitWith(exitUsage, "no rule loaded from %v", rulePaths)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sinkMetrics, err := siem.NewMetrics(reg)
	if err != nil {
		return exitWith(exitRuntime, "metrics: %v", err)
	}
	for i := range cfg.Sinks {
		s := &cfg.Sinks[i]
		s.Spool.Dir = cfg.resolve(s.Spool.Dir)
		if s.File != nil {
			s.File.Path = cfg.resolve(s.File.Path)
		}
	}
	router, err := siem.Build(cfg.Sinks, siem.Options{Logger: a.log, Metrics: sinkMetrics, Stdout: a.stdout, Version: version})
	if err != nil {
		return exitWith(exitUsage, "%s: sinks: %v", p.config, err)
	}

	ctx, stop := signal.NotifyContext(orBackground(ctx), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := router.Start(ctx); err != nil {
		return exitWith(exitRuntime, "starting sinks: %v", err)
	}

	readers, closers, err := a.openSources(cfg)
	if err != nil {
		_ = router.Stop(context.Background())
		return err
	}
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()

	var sendErrs uint64
	var explain io.Writer
	if p.explainRule != "" {
		explain = a.stderr
	}
	ep := engineParams{
		lateness:    correlate.DefaultAllowedLateness,
		late:        cfg.Engine.Late,
		explainRule: p.explainRule,
		limits:      correlate.Limits{MaxPartialsPerKey: cfg.Engine.MaxPartialsPerKey, MaxPartials: cfg.Engine.MaxPartials},
	}
	if l := cfg.Engine.AllowedLateness; l != nil {
		ep.lateness = time.Duration(*l)
	}
	ecfg := ep.config(a.log, explain, streamNames(readers))
	ecfg.IdleTimeout = time.Duration(cfg.Engine.IdleTimeout)
	ecfg.CorrectWithin = time.Duration(cfg.Engine.CorrectWithin)
	if ecfg.IdleTimeout == 0 {
		ecfg.IdleTimeout = correlate.DefaultIdleTimeout
	}
	if pc := cfg.Priority; pc != nil {
		ecfg.Priority = pc.Priority
		if c := pc.Criticality; c != nil {
			crit, err := criticality(comp.Lists(), c.List, c.Column)
			if err != nil {
				return exitWith(exitUsage, "%s: priority.criticality: %v", p.config, err)
			}
			ecfg.Criticality = crit
		}
	}
	eng, err := correlate.New(set.Rules, ecfg, func(al *alert.Alert) {
		// Send blocks while a sink's spool is full under the block
		// policy: back-pressure reaches the sources, nothing is dropped.
		if err := router.Send(ctx, al); err != nil {
			sendErrs++
			a.log.Error("alert not handed to every sink", "id", al.ID, "rule", al.Rule, "error", err)
		}
	})
	if err != nil {
		return exitWith(exitUsage, "%v", err)
	}

	var store correlate.Store
	if cfg.State.Dir != "" {
		store = correlate.DirStore{Dir: cfg.resolve(cfg.State.Dir)}
		if err := eng.LoadState(store); err != nil {
			return exitWith(exitUsage, "%s: state: %v", p.config, err)
		}
	}
	saveEvery := time.Duration(cfg.State.Interval)
	if saveEvery <= 0 {
		saveEvery = time.Minute
	}
	lastSave := time.Now()
	save := func() {
		if store == nil {
			return
		}
		if err := eng.SaveState(store); err != nil {
			a.log.Error("saving state", "error", err)
		}
		lastSave = time.Now()
	}
	stats := newEngineMetrics(reg)
	reg.MustRegister(ruleErrors{set.Rules})
	if cfg.Metrics.Listen != "" {
		srv, err := serveMetrics(cfg.Metrics.Listen, reg, router)
		if err != nil {
			return exitWith(exitRuntime, "metrics.listen: %v", err)
		}
		defer func() { _ = srv.Close() }()
		a.log.Info("serving metrics", "address", srv.Addr)
	}

	a.log.Info("running", "rules", len(set.Rules), "sources", len(readers), "sinks", len(cfg.Sinks))
	started := time.Now()
	feed := startSources(ctx, readers)
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	open := map[string]int{}
	for _, r := range readers {
		open[r.Spec().Stream]++
	}
	remaining := len(readers)
	interrupted := false
loop:
	for remaining > 0 {
		select {
		case m := <-feed:
			now := time.Now()
			for _, ev := range m.events {
				eng.Push(ev, now)
			}
			if m.end {
				remaining--
				if m.err != nil {
					a.log.Error("source failed", "source", m.source, "error", m.err)
				}
				open[m.stream]--
				if open[m.stream] == 0 {
					eng.EndStream(m.stream)
				}
			}
		case now := <-ticker.C:
			eng.Tick(now)
			stats.publish(eng.Stats(), readers)
			if now.Sub(lastSave) >= saveEvery {
				save()
			}
		case <-ctx.Done():
			interrupted = true
			break loop
		}
	}
	if !interrupted {
		// Every source ended: event time runs to the end.
		eng.Close()
	}
	stats.publish(eng.Stats(), readers)
	save()
	a.onlineSummary(eng)
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := router.Stop(stopCtx); err != nil {
		a.log.Error("stopping sinks", "error", err)
	}
	var malformed uint64
	for _, r := range readers {
		malformed += r.Counts.Malformed.Load()
	}
	a.summary(set, replayResult{stats: eng.Stats(), malformed: malformed}, time.Since(started))
	if interrupted {
		s := eng.Stats()
		a.log.Warn("stopped before the end of input: buffered events and open windows were not completed", "buffered_events", s.Buffered)
	}
	if loadErrs > 0 {
		return exitWith(exitUsage, "%d problem(s) in rule files: the rules that loaded ran; the others did not", loadErrs)
	}
	if sendErrs > 0 {
		return exitWith(exitRuntime, "%d alert(s) could not be handed to a sink", sendErrs)
	}
	return nil
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

func (a *app) openSources(cfg *config) ([]*source.Reader, []io.Closer, error) {
	var readers []*source.Reader
	var closers []io.Closer
	for i, s := range cfg.Sources {
		var r io.Reader
		name := s.Name
		stream := s.Stream
		switch s.Type {
		case "file":
			path := cfg.resolve(s.Path)
			f, err := os.Open(path)
			if err != nil {
				for _, c := range closers {
					c.Close()
				}
				return nil, nil, exitWith(exitUsage, "%s: sources[%d]: %v", cfg.path, i, err)
			}
			closers = append(closers, f)
			r = f
			if s.Follow {
				poll := time.Duration(s.PollInterval)
				if poll == 0 {
					poll = 500 * time.Millisecond
				}
				r = &followReader{f: f, poll: poll}
			}
			if name == "" {
				name = path
			}
			if stream == "" {
				stream, _ = parseInput(filepath.Base(path))
			}
		case "stdin":
			r = a.stdin
			if name == "" {
				name = "stdin"
			}
		}
		readers = append(readers, source.NewReader(r, source.Spec{Name: name, Stream: stream, TimeField: s.TimeField, IDField: s.IDField}, a.log))
	}
	return readers, closers, nil
}

// followReader reads a file as it grows: at its end it waits and tries
// again instead of reporting io.EOF, as tail -f does.
type followReader struct {
	f    *os.File
	poll time.Duration
}

func (r *followReader) Read(p []byte) (int, error) {
	for {
		n, err := r.f.Read(p)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return n, err
		}
		time.Sleep(r.poll)
	}
}

// batch is a hand-off from a source goroutine to the engine goroutine.
type batch struct {
	source string
	stream string
	events []*event.Event
	end    bool
	err    error
}

// startSources reads every source in its own goroutine; the engine takes
// batches from one channel, so decoding runs beside detection.
func startSources(ctx context.Context, readers []*source.Reader) <-chan batch {
	out := make(chan batch, 2*len(readers))
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Add(1)
		go func(r *source.Reader) {
			defer wg.Done()
			spec := r.Spec()
			buf := make([]*event.Event, 0, 256)
			flush := func(end bool, err error) bool {
				select {
				case out <- batch{source: spec.Name, stream: spec.Stream, events: buf, end: end, err: err}:
					buf = make([]*event.Event, 0, 256)
					return true
				case <-ctx.Done():
					return false
				}
			}
			for {
				ev, err := r.Next()
				if err != nil {
					if errors.Is(err, io.EOF) {
						err = nil
					}
					flush(true, err)
					return
				}
				buf = append(buf, ev)
				// A source that pauses (stdin, a followed file) must not
				// sit on a partial batch.
				if len(buf) == cap(buf) || !r.Buffered() {
					if !flush(false, nil) {
						return
					}
				}
			}
		}(r)
	}
	return out
}

// engineMetrics exports the engine's counters; the engine goroutine
// publishes them once a tick, so scrapes never race with detection.
type engineMetrics struct {
	mu   sync.Mutex
	vals map[string]float64
}

func newEngineMetrics(reg prometheus.Registerer) *engineMetrics {
	m := &engineMetrics{vals: map[string]float64{}}
	counter := func(name, help string) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.vals[name]
		}))
	}
	gauge := func(name, help string) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.vals[name]
		}))
	}
	counter("cep_events_total", "Events received from sources.")
	counter("cep_events_malformed_total", "Input lines skipped because they are not valid events.")
	counter("cep_events_late_total", "Events behind the watermark.")
	counter("cep_events_late_dropped_total", "Late events dropped under late: drop.")
	counter("cep_alerts_total", "Alerts produced.")
	counter("cep_alerts_deduplicated_total", "Alerts suppressed by alert.dedup.")
	counter("cep_key_errors_total", "Events a rule skipped because its key could not be computed.")
	counter("cep_events_without_key_total", "Events a stateful rule skipped because they lack its key field.")
	counter("cep_events_late_for_window_total", "Events that reached a window or join after it had closed.")
	counter("cep_events_shed_total", "Events dropped by state limits (keys, buffers).")
	counter("cep_partials_dropped_total", "Partial sequence matches dropped by the per-key or total limit.")
	counter("cep_partials_expired_total", "Partial sequence matches that expired.")
	gauge("cep_partials", "Live partial sequence matches.")
	gauge("cep_partials_bytes", "Estimated memory of live partial sequence matches.")
	gauge("cep_watermark_seconds", "Event time up to which every event has been processed.")
	gauge("cep_reorder_buffered_events", "Events waiting in the reorder buffer.")
	return m
}

func (m *engineMetrics) publish(s correlate.Stats, readers []*source.Reader) {
	var bad uint64
	for _, r := range readers {
		bad += r.Counts.Malformed.Load()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals["cep_events_total"] = float64(s.Events)
	m.vals["cep_events_malformed_total"] = float64(bad)
	m.vals["cep_events_late_total"] = float64(s.Late)
	m.vals["cep_events_late_dropped_total"] = float64(s.LateDropped)
	m.vals["cep_alerts_total"] = float64(s.Alerts)
	m.vals["cep_alerts_deduplicated_total"] = float64(s.Deduped)
	m.vals["cep_key_errors_total"] = float64(s.KeyErrors)
	m.vals["cep_events_without_key_total"] = float64(s.KeyMissing)
	m.vals["cep_events_late_for_window_total"] = float64(s.LateInWindow)
	m.vals["cep_events_shed_total"] = float64(s.Shed)
	m.vals["cep_partials_dropped_total"] = float64(s.PartialsDropped)
	m.vals["cep_partials_expired_total"] = float64(s.PartialsExpired)
	m.vals["cep_partials"] = float64(s.Partials)
	m.vals["cep_partials_bytes"] = float64(s.PartialBytes)
	if s.Watermark > 0 && s.Watermark < correlate.MaxTime {
		m.vals["cep_watermark_seconds"] = float64(s.Watermark) / 1e9
	}
	m.vals["cep_reorder_buffered_events"] = float64(s.Buffered)
}

// serveMetrics serves /metrics and /healthz (sink health as JSON).
func serveMetrics(addr string, reg *prometheus.Registry, router *siem.Router) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(router.Health()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	srv := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// ruleErrors exports each rule's evaluation errors; the counters are
// atomic, so a scrape reads them directly.
type ruleErrors struct{ rules []*rules.Rule }

var ruleErrorsDesc = prometheus.NewDesc("cep_rule_eval_errors_total", "Evaluations of a rule's expressions that failed (the condition counted as false).", []string{"rule"}, nil)

func (r ruleErrors) Describe(ch chan<- *prometheus.Desc) { ch <- ruleErrorsDesc }

func (r ruleErrors) Collect(ch chan<- prometheus.Metric) {
	for _, rule := range r.rules {
		ch <- prometheus.MustNewConstMetric(ruleErrorsDesc, prometheus.CounterValue, float64(rule.Health.Errors()), rule.ID)
	}
}

// criticality reads entity criticality from a CSV reference list: the most
// critical entity named by an alert's key counts.
func criticality(lists *rules.Lists, name, column string) (func(alert.Key) (float64, bool), error) {
	l, ok := lists.Get(name)
	if !ok {
		return nil, fmt.Errorf("no reference list named %q", name)
	}
	if column == "" {
		column = "criticality"
	}
	return func(k alert.Key) (float64, bool) {
		best, found := 0.0, false
		for _, p := range k {
			s, ok := l.Attr(fmt.Sprint(p.Value), column)
			if !ok {
				continue
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil && (!found || f > best) {
				best, found = f, true
			}
		}
		return best, found
	}, nil
}
