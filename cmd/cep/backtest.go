package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/gitsrc"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
)

type backtestParams struct {
	ruleFlags
	rules      string
	inputs     []string
	since      string
	until      string
	compare    string
	format     string
	progress   string
	timeFields []string
	idFields   []string
}

func (a *app) backtestCmd() *cobra.Command {
	var p backtestParams
	cmd := &cobra.Command{
		Use:   "backtest",
		Short: "Run rules over history and report what each would have alerted",
		Long: `Run rules over history and report, per rule, what it would have alerted:
alerts, alerts per day, distinct keys, the top 5 keys, the first and the last
alert. Shadow alerts (status: experimental) are counted apart.

--rules is a directory, or a Git revision of the repository around the
current directory: REF (the current directory at REF) or REF:PATH (PATH from
the repository's root at REF). --compare REF runs the same rules path at
another revision on the same events and shows, per rule, the alerts gained
and lost (by key and time): what a change of rules does to alert volume.

The events run through the same runtime as cep run, sorted in event time.`,
		Example: `  cep backtest --rules examples/fraud/rules --input examples/fraud/data/payments.jsonl
  cep backtest --rules examples/fraud/rules --compare HEAD~1 --input payments=pay.jsonl --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.backtest(cmd.Context(), p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.rules, "rules", "", "rules directory, or REF or REF:PATH of the Git repository around the current directory")
	f.StringArrayVar(&p.inputs, "input", nil, "[STREAM=]FILE of events (repeatable)")
	f.StringVar(&p.since, "since", "", "only events at or after this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&p.until, "until", "", "only events before this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&p.compare, "compare", "", "Git revision whose rules (the same path) are compared with --rules")
	f.StringVar(&p.format, "format", "table", "table or json")
	f.StringVar(&p.progress, "progress", "auto", "progress line on stderr: auto (on a terminal), always or never")
	f.StringVar(&p.lists, "lists", "", "reference lists directory")
	f.StringVar(&p.models, "models", "", "models directory")
	f.StringArrayVar(&p.timeFields, "time-field", nil, "[STREAM=]FIELD holding event time")
	f.StringArrayVar(&p.idFields, "id-field", nil, "[STREAM=]FIELD holding the event id")
	return cmd
}

// ruleTally is what one rule alerted in one run.
type ruleTally struct {
	alerts, shadow int
	keys           map[string]int
	first, last    time.Time
	seen           map[string]bool // key + time, for comparisons
}

// backtestRun is one run's alerts by rule.
type backtestRun struct {
	rules   []*rules.Rule
	tallies map[string]*ruleTally
	events  uint64
	from    time.Time
	to      time.Time
}

// tallySink is a runtime.Sink that counts alerts per rule.
type tallySink struct {
	mu  sync.Mutex
	run *backtestRun
}

func (s *tallySink) Send(_ context.Context, a *alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.run.tallies[a.Rule]
	if t == nil {
		t = &ruleTally{keys: map[string]int{}, seen: map[string]bool{}}
		s.run.tallies[a.Rule] = t
	}
	t.alerts++
	if a.Shadow {
		t.shadow++
	}
	k := keyText(a.Key)
	t.keys[k]++
	if t.first.IsZero() || a.Time.Before(t.first) {
		t.first = a.Time
	}
	if a.Time.After(t.last) {
		t.last = a.Time
	}
	t.seen[k+"\x00"+a.Time.Format(time.RFC3339Nano)] = true
	return nil
}
func (s *tallySink) Mark() uint64                       { return 0 }
func (s *tallySink) Wait(context.Context, uint64) error { return nil }
func (s *tallySink) Close(context.Context) error        { return nil }

// keyText renders an alert key: its value for a one-part key, else a
// JSON array of the parts.
func keyText(k alert.Key) string {
	if len(k) == 0 {
		return "(no key)"
	}
	vals := make([]any, len(k))
	for i, p := range k {
		vals[i] = p.Value
	}
	if len(vals) == 1 {
		if s, ok := vals[0].(string); ok {
			return s
		}
	}
	b, _ := json.Marshal(vals)
	return string(b)
}

// timeFilter passes on only the events in [since, until).
type timeFilter struct {
	source.Source
	since, until int64
	from         *minmax
}

type minmax struct {
	mu       sync.Mutex
	min, max int64
	set      bool
}

func (m *minmax) add(t int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.set || t < m.min {
		m.min = t
	}
	if !m.set || t > m.max {
		m.max = t
	}
	m.set = true
}

func (f timeFilter) Run(ctx context.Context, from source.Positions, out chan<- source.Batch) error {
	mid := make(chan source.Batch)
	errc := make(chan error, 1)
	go func() { errc <- f.Source.Run(ctx, from, mid) }()
	for {
		select {
		case b := <-mid:
			kept := b.Events[:0]
			for _, ev := range b.Events {
				if ev.Time >= f.since && ev.Time < f.until {
					kept = append(kept, ev)
					f.from.add(ev.Time)
				}
			}
			b.Events = kept
			select {
			case out <- b:
			case <-ctx.Done():
				return nil
			}
			if b.End {
				return <-errc
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func parseWhen(s string, dflt int64) (int64, error) {
	if s == "" {
		return dflt, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, fmt.Errorf("%q is not a time (RFC 3339 or YYYY-MM-DD)", s)
}

// backtestRules resolves --rules: a directory, or a Git revision.
type rulesAt struct {
	paths []string
	label string
	repo  *gitsrc.Repo
	rel   string
}

func (a *app) resolveBacktestRules(spec, scratch string) (*rulesAt, error) {
	if st, err := os.Stat(spec); err == nil && st.IsDir() {
		return &rulesAt{paths: []string{spec}, label: spec}, nil
	}
	ref, path, hasPath := strings.Cut(spec, ":")
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	repo, rel, err := gitsrc.OpenAt(wd, scratch)
	if err != nil {
		return nil, fmt.Errorf("--rules %s is not a directory, and %w", spec, err)
	}
	if hasPath {
		rel = strings.Trim(filepath.ToSlash(filepath.Clean(path)), "/")
		if rel == "." {
			rel = ""
		}
	}
	return a.checkoutRules(repo, rel, ref, scratch)
}

func (a *app) checkoutRules(repo *gitsrc.Repo, rel, ref, scratch string) (*rulesAt, error) {
	r2, err := gitsrc.Open(context.Background(), gitsrc.Config{URL: repo.URL(), Path: rel, Dir: scratch})
	if err != nil {
		return nil, err
	}
	h, err := r2.Resolve(context.Background(), ref)
	if err != nil {
		return nil, err
	}
	co, err := r2.Checkout(h)
	if err != nil {
		return nil, err
	}
	return &rulesAt{paths: []string{co.Rules}, label: ref + " (" + co.Short() + ")", repo: repo, rel: rel}, nil
}

func (a *app) backtest(ctx context.Context, p backtestParams) error {
	if p.rules == "" {
		return exitWith(exitUsage, "--rules is required")
	}
	if len(p.inputs) == 0 {
		return exitWith(exitUsage, "--input is required")
	}
	if p.format != "table" && p.format != "json" {
		return exitWith(exitUsage, "--format must be table or json, got %q", p.format)
	}
	since, err := parseWhen(p.since, math.MinInt64)
	if err != nil {
		return exitWith(exitUsage, "--since: %v", err)
	}
	until, err := parseWhen(p.until, math.MaxInt64)
	if err != nil {
		return exitWith(exitUsage, "--until: %v", err)
	}
	scratch, err := os.MkdirTemp("", "cep-backtest-")
	if err != nil {
		return exitWith(exitRuntime, "%v", err)
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	cur, err := a.resolveBacktestRules(p.rules, scratch)
	if err != nil {
		return exitWith(exitUsage, "%v", err)
	}
	var base *rulesAt
	if p.compare != "" {
		repo, rel := cur.repo, cur.rel
		if repo == nil {
			repo, rel, err = gitsrc.OpenAt(cur.paths[0], scratch)
			if err != nil {
				return exitWith(exitUsage, "--compare: %v", err)
			}
		}
		base, err = a.checkoutRules(repo, rel, p.compare, scratch)
		if err != nil {
			return exitWith(exitUsage, "--compare: %v", err)
		}
	}
	runOne := func(at *rulesAt) (*backtestRun, error) {
		set, _, err := a.loadRules(at.paths, p.ruleFlags)
		if err != nil {
			return nil, err
		}
		if n := a.printLoadErrors(set); n > 0 || len(set.Rules) == 0 {
			return nil, exitWith(exitUsage, "the rules at %s do not load (%d problem(s))", at.label, n)
		}
		rules.Compact(set.Rules)
		return a.backtestOnce(ctx, set.Rules, p, since, until, at.label)
	}
	run, err := runOne(cur)
	if err != nil {
		return err
	}
	var old *backtestRun
	if base != nil {
		if old, err = runOne(base); err != nil {
			return err
		}
	}
	rep := makeReport(run, old, cur, base)
	if p.format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitWith(exitRuntime, "%v", err)
		}
		return nil
	}
	rep.table(a.stdout)
	return nil
}

func (a *app) backtestOnce(ctx context.Context, rs []*rules.Rule, p backtestParams, since, until int64, label string) (*backtestRun, error) {
	times, ids := parseFieldFlags(p.timeFields), parseFieldFlags(p.idFields)
	span := &minmax{}
	var srcs []source.Source
	var files []*source.File
	names := map[string]int{}
	for _, in := range p.inputs {
		stream, path := parseInput(in)
		if _, err := os.Stat(path); err != nil {
			return nil, exitWith(exitUsage, "--input %s: %v", in, err)
		}
		spec := source.Spec{Name: path, Stream: stream, TimeField: fieldFor(times, stream), IDField: fieldFor(ids, stream),
			Decoder: event.Decoder{Project: rules.Projection(rs, stream)}}
		if names[spec.Name]++; names[spec.Name] > 1 {
			spec.Name = fmt.Sprintf("%s#%d", spec.Name, names[spec.Name])
		}
		f := &source.File{Spec: spec, Path: path, Log: a.log}
		srcs, files = append(srcs, timeFilter{Source: f, since: since, until: until, from: span}), append(files, f)
	}
	run := &backtestRun{rules: rs, tallies: map[string]*ruleTally{}}
	sink := &tallySink{run: run}
	prog := newProgress(a.stderr, p.progress, srcs)
	if prog.on {
		fmt.Fprintf(a.stderr, "backtest of the rules at %s\n", label)
	}
	ep := engineParams{lateness: correlate.DefaultAllowedLateness}
	// Files in order are merged as they are, as cep run merges them; a
	// window of time (--since, --until) leaves out events, and what that
	// does to the order is not what the scan looked at, so then the
	// replay sorts.
	sorted := true
	if since == math.MinInt64 && until == math.MaxInt64 {
		sorted = !a.mergeable(orBackground(ctx), files, ep.lateness, ep.maxFuture)
	}
	rt, err := runtime.New(runtime.Config{Mode: runtime.Replay, Sort: sorted, Rules: rs, Engine: ep.config(a.log, nil, nil),
		Sources: srcs, Sink: sink, Log: a.log, OnEvents: prog.update})
	if err != nil {
		return nil, exitWith(exitUsage, "%v", err)
	}
	res, err := rt.Run(orBackground(ctx))
	prog.done()
	if err != nil {
		return nil, exitWith(exitRuntime, "%v", err)
	}
	if res.Interrupted {
		return nil, exitWith(exitRuntime, "interrupted before the end of input")
	}
	if len(res.SourceErrors) > 0 {
		return nil, exitWith(exitRuntime, "reading input: %v", errors.Join(res.SourceErrors...))
	}
	run.events = res.Stats.Events
	if span.set {
		run.from, run.to = time.Unix(0, span.min).UTC(), time.Unix(0, span.max).UTC()
	}
	if since != math.MinInt64 {
		run.from = time.Unix(0, since).UTC()
	}
	if until != math.MaxInt64 {
		run.to = time.Unix(0, until).UTC()
	}
	return run, nil
}

// backtestReport is the JSON form of a backtest; its fields and their
// order are stable.
type backtestReport struct {
	Rules   string        `json:"rules"`
	Compare string        `json:"compare,omitempty"`
	Events  uint64        `json:"events"`
	From    *time.Time    `json:"from,omitempty"`
	To      *time.Time    `json:"to,omitempty"`
	Days    float64       `json:"days"`
	PerRule []ruleSummary `json:"per_rule"`
}

type ruleSummary struct {
	Rule         string     `json:"rule"`
	Status       string     `json:"status"`
	Alerts       int        `json:"alerts"`
	Shadow       int        `json:"shadow"`
	AlertsPerDay float64    `json:"alerts_per_day"`
	DistinctKeys int        `json:"distinct_keys"`
	TopKeys      []keyCount `json:"top_keys"`
	First        *time.Time `json:"first,omitempty"`
	Last         *time.Time `json:"last,omitempty"`
	Diff         *ruleDiff  `json:"compare,omitempty"`
}

type keyCount struct {
	Key    string `json:"key"`
	Alerts int    `json:"alerts"`
}

// ruleDiff is one rule's change against the compared revision.
type ruleDiff struct {
	// Before is the rule's alerts at the compared revision; -1 when the
	// rule is not there (added) — After likewise when it was removed.
	Before int `json:"before"`
	After  int `json:"after"`
	// Gained and Lost count alerts (by key and time) only in the new or
	// only in the old run; the examples list the first few.
	Gained        int         `json:"gained"`
	Lost          int         `json:"lost"`
	GainedSamples []keyAtTime `json:"gained_samples"`
	LostSamples   []keyAtTime `json:"lost_samples"`
}

type keyAtTime struct {
	Key  string    `json:"key"`
	Time time.Time `json:"time"`
}

const diffSamples = 5

func makeReport(run, old *backtestRun, cur, base *rulesAt) *backtestReport {
	rep := &backtestReport{Rules: cur.label, Events: run.events, PerRule: []ruleSummary{}}
	if !run.from.IsZero() {
		f, t := run.from, run.to
		rep.From, rep.To = &f, &t
		// Alerts per day over the span of the events, at least an hour
		// so a short sample is not blown up.
		rep.Days = math.Round(max(t.Sub(f).Hours(), 1)/24*1e4) / 1e4
	}
	if base != nil {
		rep.Compare = base.label
	}
	ids := map[string]*rules.Rule{}
	var order []string
	for _, r := range run.rules {
		ids[r.ID] = r
		order = append(order, r.ID)
	}
	if old != nil {
		for _, r := range old.rules {
			if ids[r.ID] == nil {
				ids[r.ID] = r
				order = append(order, r.ID)
			}
		}
	}
	slices.Sort(order)
	inNew := map[string]bool{}
	for _, r := range run.rules {
		inNew[r.ID] = true
	}
	for _, id := range order {
		t := run.tallies[id]
		if t == nil {
			t = &ruleTally{keys: map[string]int{}, seen: map[string]bool{}}
		}
		s := ruleSummary{Rule: id, Status: ids[id].Status, Alerts: t.alerts, Shadow: t.shadow, DistinctKeys: len(t.keys), TopKeys: topKeys(t.keys, 5)}
		if rep.Days > 0 {
			s.AlertsPerDay = math.Round(float64(t.alerts)/rep.Days*100) / 100
		}
		if !t.first.IsZero() {
			f, l := t.first, t.last
			s.First, s.Last = &f, &l
		}
		if old != nil {
			s.Diff = diffRule(run, old, id, inNew[id])
		}
		rep.PerRule = append(rep.PerRule, s)
	}
	return rep
}

func diffRule(run, old *backtestRun, id string, inNew bool) *ruleDiff {
	d := &ruleDiff{Before: -1, After: -1, GainedSamples: []keyAtTime{}, LostSamples: []keyAtTime{}}
	n, o := run.tallies[id], old.tallies[id]
	inOld := slices.ContainsFunc(old.rules, func(r *rules.Rule) bool { return r.ID == id })
	if inNew {
		d.After = 0
		if n != nil {
			d.After = n.alerts
		}
	}
	if inOld {
		d.Before = 0
		if o != nil {
			d.Before = o.alerts
		}
	}
	var gained, lost []keyAtTime
	if n != nil {
		for k := range n.seen {
			if o == nil || !o.seen[k] {
				gained = append(gained, splitSeen(k))
			}
		}
	}
	if o != nil {
		for k := range o.seen {
			if n == nil || !n.seen[k] {
				lost = append(lost, splitSeen(k))
			}
		}
	}
	byTime := func(a, b keyAtTime) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	}
	slices.SortFunc(gained, byTime)
	slices.SortFunc(lost, byTime)
	d.Gained, d.Lost = len(gained), len(lost)
	d.GainedSamples = append(d.GainedSamples, gained[:min(len(gained), diffSamples)]...)
	d.LostSamples = append(d.LostSamples, lost[:min(len(lost), diffSamples)]...)
	return d
}

func splitSeen(k string) keyAtTime {
	// The time, after the last NUL, has none; the key's text may.
	i := strings.LastIndexByte(k, 0)
	if i < 0 {
		return keyAtTime{Key: k}
	}
	key, ts := k[:i], k[i+1:]
	t, _ := time.Parse(time.RFC3339Nano, ts)
	return keyAtTime{Key: key, Time: t}
}

func topKeys(keys map[string]int, n int) []keyCount {
	out := make([]keyCount, 0, len(keys))
	for k, c := range keys {
		out = append(out, keyCount{k, c})
	}
	slices.SortFunc(out, func(a, b keyCount) int {
		if a.Alerts != b.Alerts {
			return b.Alerts - a.Alerts
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out[:min(len(out), n)]
}

func (rep *backtestReport) table(w io.Writer) {
	fmt.Fprintf(w, "rules %s", rep.Rules)
	if rep.Compare != "" {
		fmt.Fprintf(w, " compared with %s", rep.Compare)
	}
	fmt.Fprintf(w, "; %d events", rep.Events)
	if rep.From != nil {
		fmt.Fprintf(w, " from %s to %s (%.2f days)", rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), rep.Days)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "rule\talerts\tshadow\tper day\tkeys\ttop keys\tfirst\tlast\t"
	if rep.Compare != "" {
		head += "before\tgained\tlost\t"
	}
	fmt.Fprintln(tw, head)
	for _, s := range rep.PerRule {
		var top []string
		for _, k := range s.TopKeys {
			top = append(top, fmt.Sprintf("%s (%d)", k.Key, k.Alerts))
		}
		first, last := "-", "-"
		if s.First != nil {
			first, last = s.First.Format(time.RFC3339), s.Last.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%d\t%s\t%s\t%s\t", s.Rule, s.Alerts, s.Shadow, s.AlertsPerDay, s.DistinctKeys, strings.Join(top, ", "), first, last)
		if d := s.Diff; d != nil {
			before := fmt.Sprint(d.Before)
			if d.Before < 0 {
				before = "new"
			}
			fmt.Fprintf(tw, "%s\t+%d\t-%d\t", before, d.Gained, d.Lost)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	if rep.Compare == "" {
		return
	}
	for _, s := range rep.PerRule {
		d := s.Diff
		if d == nil || d.Gained+d.Lost == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d gained, %d lost\n", s.Rule, d.Gained, d.Lost)
		for _, g := range d.GainedSamples {
			fmt.Fprintf(w, "  + %s at %s\n", g.Key, g.Time.Format(time.RFC3339))
		}
		if d.Gained > len(d.GainedSamples) {
			fmt.Fprintf(w, "  + … %d more\n", d.Gained-len(d.GainedSamples))
		}
		for _, l := range d.LostSamples {
			fmt.Fprintf(w, "  - %s at %s\n", l.Key, l.Time.Format(time.RFC3339))
		}
		if d.Lost > len(d.LostSamples) {
			fmt.Fprintf(w, "  - … %d more\n", d.Lost-len(d.LostSamples))
		}
	}
}
