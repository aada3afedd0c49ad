package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/reflist"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/runtime/scaleout"
	"github.com/cep-project/cep/server"
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
	if cfg.CEL.MissingFields != "" {
		rf.missingFields = cfg.CEL.MissingFields
	}
	if rf.facts, err = a.openFacts(cfg); err != nil {
		return exitWith(exitUsage, "%s: facts: %v", p.config, err)
	}
	defer a.closeFacts(rf.facts)
	ruleSrcs, err := a.openRuleSources(ctx, cfg, rf)
	if err != nil {
		return err
	}
	defer ruleSrcs.close()
	set, comp, revision, err := ruleSrcs.initial(ctx)
	if err != nil {
		return err
	}
	loadErrs := a.printLoadErrors(set)
	if len(set.Rules) == 0 {
		return exitWith(exitUsage, "no rule loaded from the rules of %s", p.config)
	}
	if p.explainRule != "" {
		if _, ok := set.Rule(p.explainRule); !ok {
			return exitWith(exitUsage, "--explain: no rule %q is loaded", p.explainRule)
		}
	}
	rules.Compact(set.Rules)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), factsMetrics{rf.facts})
	sinkMetrics, err := siem.NewMetrics(reg)
	if err != nil {
		return exitWith(exitRuntime, "metrics: %v", err)
	}
	for i := range cfg.Sinks {
		cfg.Sinks[i].ResolvePaths(cfg.resolve)
	}
	for _, w := range append(append(siem.Warnings(cfg.Sinks), stateWarnings(cfg)...), sourceWarnings(cfg)...) {
		a.log.Warn(p.config + ": " + w)
	}
	router, err := siem.Build(cfg.Sinks, siem.Options{Logger: a.log, Metrics: sinkMetrics, Stdout: a.stdout, Version: version})
	if err != nil {
		return exitWith(exitUsage, "%s: sinks: %v", p.config, err)
	}
	projs := newProjections(a.log)
	srcs, err := a.configSources(cfg, projs, set.Rules)
	if err != nil {
		return err
	}
	ingest := cfg.ingestSource()
	if ingest != nil {
		srcs = append(srcs, ingest)
	}

	var explain io.Writer
	if p.explainRule != "" {
		explain = a.stderr
	}
	ep := engineParams{
		lateness:    correlate.DefaultAllowedLateness,
		late:        cfg.Engine.Late,
		explainRule: p.explainRule,
		limits:      cfg.Engine.limits(),
		shards:      cfg.Engine.Shards,
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
	if cfg.ScaleOut == nil {
		// The engine's stateless filters are evaluated on the sources'
		// decoders (correlate.Engine.Preparer). A scaled-out process has
		// an engine per task and unit, each with its own (scaleout.go).
		prep := &source.Preparation{}
		for _, s := range srcs {
			switch s := s.(type) {
			case *source.File:
				s.Spec.Prepare = prep
			case *source.Reading:
				s.Spec.Prepare = prep
			case *source.Kafka:
				s.Spec.Prepare = prep
			}
		}
		ecfg.Prepare, ecfg.Screen = prep.Store, prep.StoreScreens
	}
	plan := planMemory(int64(cfg.Engine.MemoryLimit))
	plan.apply()
	if ecfg.Limits.MaxStateBytes == 0 {
		ecfg.Limits.MaxStateBytes = plan.state
	}
	ecfg.MaxBufferBytes = int64(cfg.Engine.MaxBufferBytes)
	if ecfg.MaxBufferBytes == 0 {
		ecfg.MaxBufferBytes = plan.buffer
	}
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
	recorder := server.NewRecorder(routerSink{router})
	control := runtime.NewControl()
	rcfg := runtime.Config{
		Mode:        runtime.Service,
		Rules:       set.Rules,
		Engine:      ecfg,
		Sources:     srcs,
		Sink:        recorder,
		Control:     control,
		Interval:    time.Duration(cfg.State.Interval),
		StopTimeout: time.Duration(cfg.Engine.StopTimeout),
		BusyPoll:    time.Duration(cfg.Engine.BusyPoll),
		Writer:      "cep " + version,
		Log:         a.log,
	}
	if cfg.State.Dir != "" {
		dir := cfg.resolve(cfg.State.Dir)
		ds := &state.Dir{Path: dir, Keep: cfg.State.Keep, Log: a.log}
		if e := cfg.State.Encryption; e != nil {
			keys, err := e.Keyring(secret.Default, "state.encryption.")
			if err != nil {
				return exitWith(exitUsage, "%s: %v", p.config, err)
			}
			ds.Keys = keys
		}
		rcfg.Store = ds
		rcfg.Legacy = correlate.DirStore{Dir: dir}
	}
	if cfg.State.Redis != nil {
		store, lease, err := a.openRedisState(orBackground(ctx), cfg)
		if err != nil {
			return exitWith(exitUsage, "%s: %v", p.config, err)
		}
		defer func() { _ = store.Close() }()
		rcfg.Store, rcfg.Lease = store, lease
	}
	rcfg.MaxFailedCheckpoints = cfg.State.MaxFailedCheckpoints
	a.warnUnreadStreams(set.Rules, srcs)
	var (
		rt      *runtime.Runtime
		group   *scaleout.Group
		runner  service
		swapper runtime.Swapper = control
	)
	if cfg.ScaleOut != nil {
		group, err = a.scaleOutGroup(orBackground(ctx), cfg, rcfg, srcs, rcfg.Store.(*state.Redis))
		runner, swapper = group, group
	} else {
		rt, err = runtime.New(rcfg)
		runner = rt
	}
	if err != nil {
		return exitWith(exitUsage, "%v", err)
	}
	reloader := &runtime.Reloader{Load: ruleSrcs.load, Control: swapper, Log: a.log,
		Swapped: func(s *runtime.RuleSet) { projs.update(s.Rules) }}
	reloader.Started(&runtime.RuleSet{Rules: set.Rules, Revision: revision})
	reg.MustRegister(&server.Metrics{Runtime: runner, Reloader: reloader, Ingest: ingest, ScaleOut: group})
	ready := &server.Readiness{Runtime: runner, Reloader: reloader, Sinks: func() any { return router.Health() }}
	if d, ok := rf.facts.(interface{ Down() bool }); ok {
		ready.FactsDown = d.Down
	}

	ctx, stop := signal.NotifyContext(orBackground(ctx), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			a.log.Info("SIGHUP received: reloading the rules")
			_, _ = reloader.Reload(ctx, "SIGHUP")
		}
	}()
	if every := ruleSrcs.pollInterval(); every > 0 {
		go reloader.Poll(ctx, every)
	}
	if err := router.Start(ctx); err != nil {
		return exitWith(exitRuntime, "starting sinks: %v", err)
	}
	if cfg.Metrics.Listen != "" {
		srv, err := server.Serve(cfg.Metrics.Listen, server.HealthHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ready))
		if err != nil {
			_ = router.Stop(context.Background())
			return exitWith(exitRuntime, "metrics.listen: %v", err)
		}
		defer func() { _ = srv.Close() }()
		a.log.Info("serving metrics", "address", srv.Addr)
		if !loopback(cfg.Metrics.Listen) {
			a.log.Warn("metrics.listen is not a loopback address: /metrics, /healthz and /readyz, which name every rule and sink with their counts and errors, are open to the network", "listen", cfg.Metrics.Listen)
		}
	}
	if cfg.Admin != nil {
		srv, err := a.serveAdmin(cfg, &server.Admin{Runtime: rt, Control: control, Reloader: reloader, Recorder: recorder, Ready: ready, Profiling: cfg.Admin.Profiling}, ingest)
		if err != nil {
			_ = router.Stop(context.Background())
			return err
		}
		defer func() { _ = srv.Close() }()
	}

	a.log.Info("running", "rules", len(set.Rules), "sources", len(srcs), "sinks", len(cfg.Sinks))
	started := time.Now()
	res, err := runner.Run(ctx)
	if group != nil {
		// The tasks only waited for their alerts; the sinks close here.
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Engine.StopTimeout)+runtime.DefaultStopTimeout)
		if cerr := recorder.Close(sctx); cerr != nil && res != nil {
			res.Left = append(res.Left, fmt.Sprintf("sinks: %v", cerr))
		}
		cancel()
		if res != nil && res.Fenced != nil {
			return fencedError(res.Fenced)
		}
		if err != nil {
			return exitWith(exitRuntime, "%s: scale-out: %v", p.config, err)
		}
	}
	if err != nil {
		_ = router.Stop(context.Background())
		return exitWith(exitUsage, "%s: state: %v", p.config, err)
	}
	if rt != nil {
		a.onlineSummary(rt.Engine())
	}
	a.summary(set, res, srcs, time.Since(started))
	if res.Interrupted {
		a.log.Info("stopped", "checkpoints", res.Checkpoints, "buffered_events", res.Stats.Buffered)
	}
	switch {
	case res.Fenced != nil:
		return fencedError(res.Fenced)
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

// service is a running service: one runtime, or a scaled-out process's
// tasks.
type service interface {
	server.Runner
	Run(ctx context.Context) (*runtime.Result, error)
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

// configSources builds the sources of a config file; each stream decodes
// what rs read of it (projs).
func (a *app) configSources(cfg *config, projs *projections, rs []*rules.Rule) ([]source.Source, error) {
	var srcs []source.Source
	for i, s := range cfg.Sources {
		name := s.Name
		stream := s.Stream
		dec, err := s.decoder()
		if err != nil {
			return nil, exitWith(exitUsage, "%s: sources[%d]: %v", cfg.path, i, err)
		}
		spec := source.Spec{TimeField: s.TimeField, IDField: s.IDField, Decoder: dec, Decoders: s.Decoders}
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
			spec.Projection = projs.of(stream, rs)
			srcs = append(srcs, &source.File{Spec: spec, Path: path, Follow: s.Follow, Poll: time.Duration(s.PollInterval), Log: a.log})
		case "stdin":
			if name == "" {
				name = "stdin"
			}
			spec.Name, spec.Stream = name, stream
			spec.Projection = projs.of(stream, rs)
			if cfg.State.Dir != "" || cfg.State.Redis != nil {
				a.log.Warn("standard input cannot resume after a restart: what it delivered before a crash is not read again", "source", name)
			}
			srcs = append(srcs, &source.Reading{Spec: spec, R: a.stdin, Log: a.log})
		case "kafka":
			topics := s.topics()
			if name == "" {
				name = "kafka:" + strings.Join(topics, ",")
			}
			if stream == "" {
				stream = topics[0]
			}
			spec.Name, spec.Stream = name, stream
			spec.Projection = projs.of(stream, rs)
			k, err := s.kafkaSource(cfg, i, spec, secret.Default, a.log)
			if err != nil {
				return nil, exitWith(exitUsage, "%s: sources[%d]: %v", cfg.path, i, err)
			}
			if k.Group != "" && cfg.State.Dir == "" && cfg.State.Redis == nil {
				a.log.Warn("a kafka source's offsets are committed to its group only after a durable checkpoint, and without state.dir or state.redis there is none: the group's offsets stay where they are", "source", name, "group", k.Group)
			}
			srcs = append(srcs, k)
		}
	}
	return srcs, nil
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
