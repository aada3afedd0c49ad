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
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/reflist"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
)

// runConfig runs the sources and sinks of a config file until every source
// has ended or the process is told to stop. With state.dir it checkpoints
// the engine and the sources' positions, and resumes from the newest
// checkpoint on start.
func (a *app) runConfig(ctx context.Context, p runParams) error {
	cfg, err := loadConfig(p.config)
	if err != nil {
		return exitWith(exitUsage, "%v", err)
	}
	if err := a.prepare(ctx, cfg); err != nil {
		return err
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
	if p.explainRule != "" {
		if _, ok := set.Rule(p.explainRule); !ok {
			return exitWith(exitUsage, "--explain: no rule %q is loaded", p.explainRule)
		}
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
	srcs, err := a.configSources(cfg)
	if err != nil {
		return err
	}

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
	if mf := cfg.Engine.MaxFuture; mf != nil {
		ep.maxFuture = time.Duration(*mf)
		if ep.maxFuture <= 0 {
			ep.maxFuture = -1
		}
	}
	ecfg := ep.config(a.log, explain, nil)
	ecfg.MaxBufferBytes = int64(cfg.Engine.MaxBufferBytes)
	if path := cfg.Engine.QuarantineFile; path != "" {
		q, err := openQuarantine(cfg.resolve(path))
		if err != nil {
			return exitWith(exitUsage, "%s: engine.quarantine_file: %v", p.config, err)
		}
		defer func() { _ = q.close() }()
		ecfg.Quarantine = q.write
	}
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
	stats := newEngineMetrics(reg, srcs)
	reg.MustRegister(ruleErrors{set.Rules})
	rcfg := runtime.Config{
		Mode:        runtime.Service,
		Rules:       set.Rules,
		Engine:      ecfg,
		Sources:     srcs,
		Sink:        routerSink{router},
		Interval:    time.Duration(cfg.State.Interval),
		StopTimeout: time.Duration(cfg.Engine.StopTimeout),
		Writer:      "cep " + version,
		Log:         a.log,
		OnTick:      stats.publish,
	}
	if cfg.State.Dir != "" {
		dir := cfg.resolve(cfg.State.Dir)
		rcfg.Store = &state.Dir{Path: dir, Keep: cfg.State.Keep, Log: a.log}
		rcfg.Legacy = correlate.DirStore{Dir: dir}
	}
	a.warnUnreadStreams(set.Rules, srcs)
	rt, err := runtime.New(rcfg)
	if err != nil {
		return exitWith(exitUsage, "%v", err)
	}

	ctx, stop := signal.NotifyContext(orBackground(ctx), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			a.log.Warn("SIGHUP received: reloading rules is not supported by this version; the signal is ignored")
		}
	}()
	if err := router.Start(ctx); err != nil {
		return exitWith(exitRuntime, "starting sinks: %v", err)
	}
	if cfg.Metrics.Listen != "" {
		srv, err := serveMetrics(cfg.Metrics.Listen, reg, router)
		if err != nil {
			_ = router.Stop(context.Background())
			return exitWith(exitRuntime, "metrics.listen: %v", err)
		}
		defer func() { _ = srv.Close() }()
		a.log.Info("serving metrics", "address", srv.Addr)
		if !loopback(cfg.Metrics.Listen) {
			a.log.Warn("metrics.listen is not a loopback address: /metrics and /healthz, which name every rule and sink with their counts and errors, are open to the network", "listen", cfg.Metrics.Listen)
		}
	}

	a.log.Info("running", "rules", len(set.Rules), "sources", len(srcs), "sinks", len(cfg.Sinks))
	started := time.Now()
	res, err := rt.Run(ctx)
	if err != nil {
		_ = router.Stop(context.Background())
		return exitWith(exitUsage, "%s: state: %v", p.config, err)
	}
	a.onlineSummary(rt.Engine())
	a.summary(set, res, srcs, time.Since(started))
	if res.Interrupted {
		a.log.Info("stopped", "checkpoints", res.Checkpoints, "buffered_events", res.Stats.Buffered)
	}
	switch {
	case len(res.Left) > 0:
		return exitWith(exitRuntime, "stopping: %s", strings.Join(res.Left, "; "))
	case res.SendErrors > 0:
		return exitWith(exitRuntime, "%d alert(s) could not be handed to a sink", res.SendErrors)
	case len(res.SourceErrors) > 0:
		return exitWith(exitRuntime, "%d source(s) failed: %v", len(res.SourceErrors), errors.Join(res.SourceErrors...))
	case loadErrs > 0:
		return exitWith(exitUsage, "%d problem(s) in rule files: the rules that loaded ran; the others did not", loadErrs)
	}
	return nil
}

// prepare runs the config's prepare command while what it creates is
// missing. A config file is trusted as a script is: it may name a command.
func (a *app) prepare(ctx context.Context, cfg *config) error {
	p := cfg.Prepare
	if p == nil {
		return nil
	}
	creates := cfg.resolve(p.Creates)
	if _, err := os.Stat(creates); err == nil {
		return nil
	}
	a.log.Info("preparing: running the config's prepare command", "creates", creates, "command", strings.Join(p.Command, " "))
	cmd := exec.CommandContext(orBackground(ctx), p.Command[0], p.Command[1:]...)
	cmd.Dir = cfg.dir
	cmd.Stdout, cmd.Stderr = a.stderr, a.stderr
	if err := cmd.Run(); err != nil {
		return exitWith(exitRuntime, "%s: prepare: %s: %v", cfg.path, strings.Join(p.Command, " "), err)
	}
	if _, err := os.Stat(creates); err != nil {
		return exitWith(exitRuntime, "%s: prepare: the command ran but %s is still missing", cfg.path, creates)
	}
	return nil
}

// loopback reports whether a listen address binds only the loopback
// interface: "localhost", 127.0.0.0/8 or ::1. An empty host binds every
// interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// configSources builds the sources of a config file.
func (a *app) configSources(cfg *config) ([]source.Source, error) {
	var srcs []source.Source
	for i, s := range cfg.Sources {
		name := s.Name
		stream := s.Stream
		dec, err := s.decoder()
		if err != nil {
			return nil, exitWith(exitUsage, "%s: sources[%d]: %v", cfg.path, i, err)
		}
		spec := source.Spec{TimeField: s.TimeField, IDField: s.IDField, Decoder: dec}
		switch s.Type {
		case "file":
			path := cfg.resolve(s.Path)
			if _, err := os.Stat(path); err != nil {
				return nil, exitWith(exitUsage, "%s: sources[%d]: %v", cfg.path, i, err)
			}
			if name == "" {
				name = path
			}
			if stream == "" {
				stream, _ = parseInput(filepath.Base(path))
			}
			spec.Name, spec.Stream = name, stream
			srcs = append(srcs, &source.File{Spec: spec, Path: path, Follow: s.Follow, Poll: time.Duration(s.PollInterval), Log: a.log})
		case "stdin":
			if name == "" {
				name = "stdin"
			}
			spec.Name, spec.Stream = name, stream
			if cfg.State.Dir != "" {
				a.log.Warn("standard input cannot resume after a restart: what it delivered before a crash is not read again", "source", name)
			}
			srcs = append(srcs, &source.Reading{Spec: spec, R: a.stdin, Log: a.log})
		}
	}
	return srcs, nil
}

// engineMetrics exports the engine's counters; the engine goroutine
// publishes them once a tick, so scrapes never race with detection.
type engineMetrics struct {
	mu   sync.Mutex
	vals map[string]float64
	srcs []source.Source
}

func newEngineMetrics(reg prometheus.Registerer, srcs []source.Source) *engineMetrics {
	m := &engineMetrics{vals: map[string]float64{}, srcs: srcs}
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
	counter("cep_events_quarantined_total", "Events set aside because their time is far ahead of their stream or the wall clock.")
	counter("cep_partials_dropped_total", "Partial sequence matches dropped by the per-key or total limit.")
	counter("cep_partials_expired_total", "Partial sequence matches that expired.")
	gauge("cep_partials", "Live partial sequence matches.")
	gauge("cep_partials_bytes", "Estimated memory of live partial sequence matches.")
	gauge("cep_watermark_seconds", "Event time up to which every event has been processed.")
	gauge("cep_reorder_buffered_events", "Events waiting in the reorder buffer.")
	return m
}

func (m *engineMetrics) publish(s correlate.Stats) {
	var bad uint64
	for _, src := range m.srcs {
		bad += src.Counts().Malformed.Load()
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
	m.vals["cep_events_quarantined_total"] = float64(s.Quarantined)
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
func criticality(lists *reflist.Set, name, column string) (func(alert.Key) (float64, bool), error) {
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
