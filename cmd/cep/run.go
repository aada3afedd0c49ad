package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/source"
)

type runParams struct {
	config      string
	rules       []string
	inputs      []string
	output      string
	format      string
	timeFields  []string
	idFields    []string
	timeFormats []string
	timeZones   []string
	progress    string
	stateDir    string
	decoders    int
	ruleFlags
	engineParams
}

func (a *app) runCmd() *cobra.Command {
	var p runParams
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run rules over event streams",
		Long: `Run rules over event streams.

With --config, cep runs the sources and sinks of a config file until every
source ends (files) or it is stopped (SIGINT/SIGTERM).

With --rules and --input, cep replays files: it reads every input, merges
them in event-time order, writes alerts as JSON lines, and at the end of
input lets every pending window and timeout expire.

Each input is [STREAM=]FILE; without STREAM the file's base name names the
stream (payments.jsonl → payments). "-" is standard input (stream "events")
for --input and standard output for --output.`,
		Example: `  # The fraud example: generates its data on first use, prints alerts.
  cep run --config examples/fraud/cep.yaml

  # Replay three streams and write alerts to a file.
  cep run --rules examples/fraud/rules \
    --input payments=examples/fraud/data/payments.jsonl \
    --input auth=examples/fraud/data/auth.jsonl \
    --input account=examples/fraud/data/account.jsonl \
    --output alerts.jsonl

  # Read stdin, write CEF to stdout, explain one rule on stderr.
  cat events.jsonl | cep run --rules rules/ --input auth=- --format cef --explain fraud.tor-login`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p.config != "" {
				if len(p.rules) > 0 || len(p.inputs) > 0 {
					return exitWith(exitUsage, "--config and --rules/--input are alternatives: the config file names rules and sources")
				}
				// Everything a replay takes from flags, a service takes from
				// its config file: a flag that would be ignored is an error.
				var ignored []string
				for _, name := range []string{"decoders", "output", "format", "allowed-lateness", "late", "max-future", "quarantine", "sort", "sort-buffer", "memory-limit", "time-format", "time-zone", "state", "time-field", "id-field", "progress", "lists", "models", "cost-limit", "missing-fields", "shards"} {
					if cmd.Flags().Changed(name) {
						ignored = append(ignored, "--"+name)
					}
				}
				if len(ignored) > 0 {
					return exitWith(exitUsage, "%s do(es) not apply with --config: set sinks, engine, state, sources, lists, models and cel in the config file", strings.Join(ignored, ", "))
				}
				return a.runConfig(cmd.Context(), p)
			}
			if len(p.rules) == 0 || len(p.inputs) == 0 {
				return exitWith(exitUsage, "run needs --config FILE, or --rules DIR and --input [STREAM=]FILE (see cep run --help)")
			}
			return a.runReplay(cmd.Context(), p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.config, "config", "", "config file (cep.yaml): rules, sources, sinks")
	f.StringArrayVar(&p.rules, "rules", nil, "rules directory or file (repeatable)")
	f.StringArrayVarP(&p.inputs, "input", "i", nil, "input [STREAM=]FILE of JSON lines (repeatable; - is stdin)")
	f.StringVarP(&p.output, "output", "o", "-", "where alerts go (- is stdout)")
	f.StringVar(&p.format, "format", "json", "alert format: json, ecs, ocsf, cef, leef, or text (one line per alert, for a terminal)")
	f.StringArrayVar(&p.timeFields, "time-field", nil, "event-time fields, [STREAM=]FIELD[,FIELD…]: the first present wins (default: @timestamp, timestamp, ts or time)")
	f.StringArrayVar(&p.timeFormats, "time-format", nil, "event-time format, [STREAM=]FORMAT, repeatable, tried in order: auto, rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns or a Go layout")
	f.StringArrayVar(&p.timeZones, "time-zone", nil, "zone of times written without one, [STREAM=]ZONE (an IANA name)")
	f.StringArrayVar(&p.idFields, "id-field", nil, "event id field, [STREAM=]FIELD (default: id, else a hash of the line)")
	f.StringVar(&p.stateDir, "state", "", "directory to restore online models and baselines from, and save them to at the end")
	f.StringVar(&p.progress, "progress", "auto", "progress on stderr: auto (when stderr is a terminal), always or never")
	f.IntVar(&p.decoders, "decoders", 0, "goroutines decoding each input's lines (0: one per core, GOMAXPROCS)")
	a.addRuleFlags(cmd, &p.ruleFlags)
	a.addEngineFlags(cmd, &p.engineParams)
	f.StringVar(&p.explainRule, "explain", "", "explain on stderr, event by event, what this rule's detector did")
	f.StringVar(&p.quarantine, "quarantine", "", "append events quarantined for an unbelievable time to this file (JSON lines)")
	return cmd
}

func (a *app) addRuleFlags(cmd *cobra.Command, f *ruleFlags) {
	cmd.Flags().StringVar(&f.lists, "lists", "", "reference lists directory (default: lists/ beside the rules)")
	cmd.Flags().StringVar(&f.models, "models", "", "PMML models directory (default: models/ beside the rules)")
	cmd.Flags().Uint64Var(&f.costLimit, "cost-limit", rules.DefaultCostLimit, "limit on the estimated and actual cost of each CEL expression")
	cmd.Flags().StringVar(&f.missingFields, "missing-fields", "", "default missing_fields of rules that do not set it: error (a comparison on a missing field fails the condition) or false_if_missing (as Sigma and EQL)")
}

func (a *app) addEngineFlags(cmd *cobra.Command, p *engineParams) {
	cmd.Flags().DurationVar(&p.lateness, "allowed-lateness", correlate.DefaultAllowedLateness, "how far behind its stream's newest event an event may arrive")
	cmd.Flags().StringVar(&p.late, "late", "drop", "events later than that: drop (counted and logged) or process")
	cmd.Flags().Var(newFutureFlag(&p.maxFuture), "max-future", "an event this far ahead of its stream's newest is held back until a few more agree, else quarantined (0: trust every time)")
	cmd.Flags().BoolVar(&p.sort, "sort", true, "process the input in event-time order whatever the files' order (false: keep each file's order, and fail if events come late)")
	cmd.Flags().Var(&p.sortBytes, "sort-buffer", "memory for sorting the input, beyond which sorted runs spill to the temporary directory (default an eighth of --memory-limit)")
	cmd.Flags().Var(&p.memoryLimit, "memory-limit", "memory cep may use (default half the machine's): half bounds detector state, an eighth the reorder buffer, an eighth sorting")
	cmd.Flags().IntVar(&p.shards, "shards", 1, "split the keys of each sequence, window and join rule that reads only its events among this many detectors, stepped in parallel (the alerts are the same)")
}

// sizeFlag reads a byte size such as 512MiB.
type sizeFlag int64

func (s *sizeFlag) String() string {
	if *s == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*s), 10)
}
func (s *sizeFlag) Type() string { return "size" }
func (s *sizeFlag) Set(v string) error {
	n, err := yamlx.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// replayDecoder builds a stream's decoder from the replay's flags: a
// comma-separated list of time fields, the formats given for the stream
// (or for every stream), and a zone.
func replayDecoder(stream, fields string, formats []string, zone string) (event.Decoder, error) {
	var d event.Decoder
	for _, f := range strings.Split(fields, ",") {
		if f = strings.TrimSpace(f); f != "" {
			d.TimeFields = append(d.TimeFields, f)
		}
	}
	for _, v := range formats {
		st, f := "", v
		if i := strings.IndexByte(v, '='); i > 0 && !strings.ContainsAny(v[:i], " :/") {
			st, f = v[:i], v[i+1:]
		}
		if st != "" && st != stream {
			continue
		}
		tf, err := event.ParseTimeFormat(f)
		if err != nil {
			return d, fmt.Errorf("--time-format %s: %v", v, err)
		}
		d.TimeFormats = append(d.TimeFormats, tf)
	}
	if zone != "" {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return d, fmt.Errorf("--time-zone %s: unknown time zone (an IANA name such as Europe/Berlin, or UTC)", zone)
		}
		d.TimeZone = loc
	}
	return d, nil
}

// futureFlag reads --max-future: a duration, with 0 turning the check
// off (the engine's own 0 means its default).
type futureFlag struct{ d *time.Duration }

func newFutureFlag(d *time.Duration) futureFlag {
	*d = correlate.DefaultMaxFuture
	return futureFlag{d}
}

func (f futureFlag) String() string {
	if f.d == nil {
		return correlate.DefaultMaxFuture.String()
	}
	if *f.d < 0 {
		return "0s"
	}
	return f.d.String()
}

func (f futureFlag) Set(s string) error {
	d, err := yamlx.ParseDuration(s)
	if err != nil {
		return err
	}
	if d <= 0 {
		d = -1
	}
	*f.d = d
	return nil
}

func (futureFlag) Type() string { return "duration" }

func (a *app) runReplay(ctx context.Context, p runParams) error {
	set, _, err := a.loadRules(p.rules, p.ruleFlags)
	if err != nil {
		return err
	}
	loadErrs := a.printLoadErrors(set)
	if len(set.Rules) == 0 {
		return exitWith(exitUsage, "no rule loaded from %v", p.rules)
	}
	if p.explainRule != "" {
		if _, ok := set.Rule(p.explainRule); !ok {
			return exitWith(exitUsage, "--explain: no rule %q is loaded", p.explainRule)
		}
	}
	rules.Compact(set.Rules)
	format, err := format.New(p.format, format.Options{Product: format.Product{Version: version}})
	if err != nil {
		return exitWith(exitUsage, "--format: %v", err)
	}
	if p.decoders < 0 {
		return exitWith(exitUsage, "--decoders must be 0 (one per core) or more")
	}
	times, ids, zones := parseFieldFlags(p.timeFields), parseFieldFlags(p.idFields), parseFieldFlags(p.timeZones)
	projs := newProjections(a.log)
	// The engine's stateless filters are evaluated on the decoders once
	// the engine exists (correlate.Engine.Preparer).
	prep := &source.Preparation{}
	var srcs []source.Source
	var files []*source.File
	names := map[string]int{}
	for _, in := range p.inputs {
		stream, path := parseInput(in)
		dec, err := replayDecoder(stream, fieldFor(times, stream), p.timeFormats, fieldFor(zones, stream))
		if err != nil {
			return exitWith(exitUsage, "%v", err)
		}
		spec := source.Spec{Name: path, Stream: stream, IDField: fieldFor(ids, stream), Decoder: dec,
			Projection: projs.of(stream, set.Rules), Prepare: prep, Decoders: p.decoders}
		// The same file may be given twice (as two streams): names
		// identify sources, so the second gets a suffix.
		if names[spec.Name]++; names[spec.Name] > 1 {
			spec.Name = fmt.Sprintf("%s#%d", spec.Name, names[spec.Name])
		}
		if path == "-" {
			srcs = append(srcs, &source.Reading{Spec: spec, R: a.stdin, Log: a.log})
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return exitWith(exitUsage, "--input %s: %v", in, err)
		}
		f := &source.File{Spec: spec, Path: path, Log: a.log}
		srcs, files = append(srcs, f), append(files, f)
	}
	a.warnUnreadStreams(set.Rules, srcs)
	sorted := p.sort
	if sorted && len(files) == len(srcs) {
		sorted = !a.mergeable(orBackground(ctx), files, p.lateness, p.maxFuture)
	}
	w := a.stdout
	if p.output != "-" {
		f, err := os.Create(p.output)
		if err != nil {
			return exitWith(exitUsage, "--output: %v", err)
		}
		defer f.Close()
		w = f
	}
	sink := newWriterSink(w, format, a.log)
	var explain io.Writer
	if p.explainRule != "" {
		explain = a.stderr
	}
	ecfg := p.engineParams.config(a.log, explain, nil)
	ecfg.Prepare, ecfg.Screen = prep.Store, prep.StoreScreens
	plan := planMemory(int64(p.memoryLimit))
	plan.apply()
	ecfg.Limits.MaxStateBytes = plan.state
	ecfg.MaxBufferBytes = plan.buffer
	if p.sortBytes == 0 {
		p.sortBytes = sizeFlag(plan.sort)
	}
	if p.quarantine != "" {
		q, err := openQuarantine(p.quarantine)
		if err != nil {
			return exitWith(exitUsage, "--quarantine: %v", err)
		}
		defer func() { _ = q.close() }()
		ecfg.Quarantine = q.write
	}
	cfg := runtime.Config{
		Mode:      runtime.Replay,
		Sort:      sorted,
		SortBytes: int64(p.sortBytes),
		Rules:     set.Rules,
		Engine:    ecfg,
		Sources:   srcs,
		Sink:      sink,
		Log:       a.log,
	}
	if p.stateDir != "" {
		cfg.Legacy = correlate.DirStore{Dir: p.stateDir}
	}
	prog := newProgress(a.stderr, p.progress, srcs)
	cfg.OnEvents = prog.update
	rt, err := runtime.New(cfg)
	if err != nil {
		return exitWith(exitUsage, "%v", err)
	}
	start := time.Now()
	res, err := rt.Run(orBackground(ctx))
	prog.done()
	if prog.on && err == nil {
		ruleTable(a.stderr, set.Rules, rt.Engine().RuleStats())
	}
	if err != nil {
		return exitWith(exitUsage, "--state: %v", err)
	}
	a.onlineSummary(rt.Engine())
	a.summary(set, res, srcs, time.Since(start))
	switch {
	case sink.err != nil:
		return exitWith(exitRuntime, "writing alerts: %v", sink.err)
	case len(res.Left) > 0:
		return exitWith(exitRuntime, "%s", strings.Join(res.Left, "; "))
	case len(res.SourceErrors) > 0:
		return exitWith(exitRuntime, "reading input: %v", errors.Join(res.SourceErrors...))
	case res.Interrupted:
		return exitWith(exitRuntime, "interrupted before the end of input")
	case res.Stats.Events == 0 && malformed(srcs) > 0:
		return exitWith(exitRuntime, "every input line (%d) was malformed: no event was read", malformed(srcs))
	case !p.sort && res.Stats.LateDropped > 0:
		return exitWith(exitRuntime, "%d event(s) came later than the allowed lateness and were dropped: the input is not in event-time order; leave out --sort=false to have cep sort it", res.Stats.LateDropped)
	case loadErrs > 0:
		return exitWith(exitUsage, "%d problem(s) in rule files: the rules that loaded ran; the others did not", loadErrs)
	}
	return nil
}

// onlineSummary logs what each online model learnt and scored.
func (a *app) onlineSummary(eng *correlate.Engine) {
	for name, s := range eng.OnlineStats() {
		a.log.Info("online model", "model", name, "labels", s.Labels, "unmatched_feedback", s.Unmatched,
			"scored_online", s.ScoredOnline, "scored_fallback", s.ScoredFallback, "unscored", s.Unscored,
			"feedback_errors", s.FeedbackErrors, "forgotten_alerts", s.ForgottenAlerts)
	}
}

func malformed(srcs []source.Source) uint64 {
	var n uint64
	for _, s := range srcs {
		n += s.Counts().Malformed.Load()
	}
	return n
}

// warnUnreadStreams warns about a source whose stream no rule reads: most
// often a misspelt STREAM= name, whose events would pass unseen.
func (a *app) warnUnreadStreams(rs []*rules.Rule, srcs []source.Source) {
	read := map[string]bool{}
	for _, r := range rs {
		for _, s := range r.Streams {
			read[s] = true
		}
	}
	for _, src := range srcs {
		for _, st := range src.Streams() {
			used := false
			for _, r := range rs {
				if r.ReadsStream(st) {
					used = true
					break
				}
			}
			if !used {
				a.log.Warn("no rule reads this stream: its events will pass unseen (is the stream name misspelt?)", "source", src.Name(), "stream", st, "streams_rules_read", strings.Join(sortedKeys(read), ","))
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// summary logs what a run did, including everything it counted as dropped
// or failed, so nothing is lost silently.
func (a *app) summary(set *rules.Set, res *runtime.Result, srcs []source.Source, took time.Duration) {
	s := res.Stats
	var malformed, screened uint64
	for _, src := range srcs {
		malformed += src.Counts().Malformed.Load()
		screened += src.Counts().Screened.Load()
	}
	a.log.Info("run finished",
		"events", s.Events, "malformed_lines", malformed, "late", s.Late, "late_dropped", s.LateDropped,
		"alerts", s.Alerts, "deduplicated", s.Deduped, "key_errors", s.KeyErrors, "without_key", s.KeyMissing,
		"late_for_window", s.LateInWindow, "shed", s.Shed, "partials_dropped", s.PartialsDropped, "quarantined", s.Quarantined,
		"state_shed", s.StateShed, "released_early", s.ReleasedEarly, "lines_packed", s.LinesPacked, "screened", screened, "peak_rss_bytes", peakRSS(),
		"rules", len(set.Rules), "seconds", fmt.Sprintf("%.3f", took.Seconds()), "engine_busy_seconds", fmt.Sprintf("%.3f", res.EngineBusy.Seconds()))
	for _, r := range set.Rules {
		if n := r.Health.Errors(); n > 0 {
			a.log.Warn("rule had evaluation errors (conditions counted as false)", "rule", r.ID, "errors", n, "last", r.Health.LastError())
		}
	}
}
