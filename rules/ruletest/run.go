// Package ruletest runs analysts' rule tests: the tests: of rule files and
// *.test.yaml files. Each test feeds its events through the engine the
// caller supplies — the production engine, as promtool's unit tests drive
// the real rule manager — and compares the alerts with what it expects.
package ruletest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/rulefmt"
)

// Input is the events of one stream for a test run, as JSON lines with the
// position each came from.
type Input struct {
	Stream string
	Lines  []Line
	// Listed asks for the lines in the order written, not sorted by
	// event time (a test's order: listed).
	Listed bool
}

// Line is one JSON event and where it was written.
type Line struct {
	Data []byte
	Pos  yamlx.Pos
}

// Engine runs rules over inputs exactly as `cep run` does and returns the
// alerts in their JSON form. The CLI supplies it, so rule tests exercise
// the production engine, never a second evaluator (as promtool's unit tests
// drive the real rule manager).
type Engine func(rs []*rules.Rule, inputs []Input, explain io.Writer) ([]map[string]any, error)

// Options select and instrument a test run.
type Options struct {
	// Run selects tests whose "rule-id/test name" matches.
	Run *regexp.Regexp
	// Explain, when set, receives the engine's step-by-step trace.
	Explain io.Writer
	// Roots are the directories a test's file: and inputs: may read from:
	// the rules paths given to cep test, and any the user adds. A test
	// file is code from a repository; it must not read the machine.
	// Empty allows any path.
	Roots []string
}

// Result is the outcome of one test.
type Result struct {
	Rule     string
	Name     string
	Pos      yamlx.Pos
	Err      error  // the test could not run
	Diff     string // the alerts differ from the expectation
	Alerts   int
	Duration time.Duration
}

// Passed reports whether the test passed.
func (r Result) Passed() bool { return r.Err == nil && r.Diff == "" }

// FullName is rule/test, the name --run matches.
func (r Result) FullName() string { return r.Rule + "/" + r.Name }

// Run runs the inline tests of every rule in set and every test file.
func Run(set *rules.Set, run Engine, opts Options) []Result {
	var out []Result
	for _, r := range set.Rules {
		for _, t := range r.Tests {
			if res, ok := runOne(r.ID, []*rules.Rule{r}, t, run, opts); ok {
				out = append(out, res)
			}
		}
	}
	for _, tf := range set.TestFiles {
		rs, label, err := rulesFor(set, tf)
		for _, t := range tf.Tests {
			if err != nil {
				res := Result{Rule: label, Name: t.Name, Pos: t.Pos, Err: err}
				if opts.Run == nil || opts.Run.MatchString(res.FullName()) {
					out = append(out, res)
				}
				continue
			}
			if res, ok := runOne(label, rs, t, run, opts); ok {
				out = append(out, res)
			}
		}
	}
	return out
}

func rulesFor(set *rules.Set, tf *rulefmt.TestFile) ([]*rules.Rule, string, error) {
	if len(tf.Rules) == 0 {
		return set.Rules, filepath.Base(tf.Path), nil
	}
	var rs []*rules.Rule
	for _, id := range tf.Rules {
		r, ok := set.Rule(id)
		if !ok {
			return nil, strings.Join(tf.Rules, ","), fmt.Errorf("%s: rule %q is not loaded (is its file in the paths given, and does it load without errors?)", tf.Path, id)
		}
		rs = append(rs, r)
	}
	return rs, strings.Join(tf.Rules, ","), nil
}

func runOne(label string, rs []*rules.Rule, t rulefmt.TestSpec, run Engine, opts Options) (Result, bool) {
	res := Result{Rule: label, Name: t.Name, Pos: t.Pos}
	if opts.Run != nil && !opts.Run.MatchString(res.FullName()) {
		return res, false
	}
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	inputs, err := testInputs(rs, t, opts.Roots)
	if err != nil {
		res.Err = err
		return res, true
	}
	var explain io.Writer
	if opts.Explain != nil {
		explain = opts.Explain
		fmt.Fprintf(explain, "=== %s (%s)\n", res.FullName(), t.Pos)
	}
	alerts, err := run(rs, inputs, explain)
	if err != nil {
		res.Err = err
		return res, true
	}
	res.Alerts = len(alerts)
	res.Diff = compareAlerts(t.Expect, alerts)
	res.Duration = time.Since(start)
	return res, true
}

// testInputs gathers a test's events by stream. Files are relative to the
// file that holds the test.
func testInputs(rs []*rules.Rule, t rulefmt.TestSpec, roots []string) ([]Input, error) {
	resolve := func(name string) (string, error) { return resolveData(filepath.Dir(t.Pos.File), name, roots) }
	var inputs []Input
	if len(t.Events) > 0 || t.File != "" {
		stream := t.Stream
		if stream == "" {
			s, err := defaultStream(rs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Pos, err)
			}
			stream = s
		}
		in := Input{Stream: stream, Listed: t.Order == "listed"}
		for _, e := range t.Events {
			in.Lines = append(in.Lines, Line{Data: e.JSON, Pos: e.Pos})
		}
		if t.File != "" {
			path, err := resolve(t.File)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Pos, err)
			}
			lines, err := readLines(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Pos, err)
			}
			in.Lines = append(in.Lines, lines...)
		}
		inputs = append(inputs, in)
	}
	for _, ti := range t.Inputs {
		in := Input{Stream: ti.Stream, Listed: t.Order == "listed"}
		for _, e := range ti.Events {
			in.Lines = append(in.Lines, Line{Data: e.JSON, Pos: e.Pos})
		}
		if ti.File != "" {
			path, err := resolve(ti.File)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ti.Pos, err)
			}
			lines, err := readLines(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ti.Pos, err)
			}
			in.Lines = append(in.Lines, lines...)
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

func defaultStream(rs []*rules.Rule) (string, error) {
	streams := map[string]bool{}
	for _, r := range rs {
		for _, s := range r.Streams {
			streams[s] = true
		}
	}
	switch len(streams) {
	case 0:
		return "events", nil
	case 1:
		for s := range streams {
			return s, nil
		}
	}
	names := make([]string, 0, len(streams))
	for s := range streams {
		names = append(names, s)
	}
	sort.Strings(names)
	return "", fmt.Errorf("the rules under test read several streams (%s): name the stream with the key stream, or use inputs", strings.Join(names, ", "))
}

// resolveData finds a test's data file: an absolute path as given, a
// relative one beside the test's file; either must lie inside one of the
// roots (symbolic links followed), when roots are given.
func resolveData(dir, name string, roots []string) (string, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if len(roots) == 0 {
		return abs, nil
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		// Missing: readLines reports it with the full path.
		real = abs
	}
	for _, root := range roots {
		r, err := filepath.Abs(root)
		if err != nil {
			continue
		}
		if rr, err := filepath.EvalSymlinks(r); err == nil {
			r = rr
		}
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return abs, nil
		}
	}
	return "", fmt.Errorf("test data %s is outside the rules directories (%s): a test may read only files under them; cep test --test-data DIR allows another directory", abs, strings.Join(roots, ", "))
}

func readLines(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, pathErr(err))
	}
	defer f.Close()
	var out []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		out = append(out, Line{Data: append([]byte(nil), b...), Pos: yamlx.Pos{File: path, Line: n}})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
	}
	return out, nil
}

// compareAlerts returns "" when the alerts meet the expectation, else a
// readable diff.
func compareAlerts(exp rulefmt.Expect, got []map[string]any) string {
	if !exp.Listed {
		if len(got) == exp.Count {
			return ""
		}
		var b strings.Builder
		fmt.Fprintf(&b, "expected %d alert(s), got %d", exp.Count, len(got))
		for _, a := range got {
			fmt.Fprintf(&b, "\n  + %s", summarize(a))
		}
		return b.String()
	}
	used := make([]bool, len(got))
	var missing []map[string]any
	for _, want := range exp.Alerts {
		found := false
		for i, a := range got {
			if !used[i] && matchAlert(want, a) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	var extra []map[string]any
	for i, a := range got {
		if !used[i] {
			extra = append(extra, a)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "expected %d alert(s), got %d", len(exp.Alerts), len(got))
	for _, m := range missing {
		j, _ := json.Marshal(m)
		fmt.Fprintf(&b, "\n  - expected, not found: %s", j)
	}
	for _, a := range extra {
		fmt.Fprintf(&b, "\n  + got, not expected:  %s", summarize(a))
	}
	return b.String()
}

// summarize shows an alert the way an analyst compares it: key, time,
// fields and evidence ids, without the full events.
func summarize(a map[string]any) string {
	s := map[string]any{}
	for _, k := range []string{"key", "time", "fields", "score", "timed_out", "corrects"} {
		if v, ok := a[k]; ok {
			s[k] = v
		}
	}
	if evs, ok := a["events"].([]any); ok {
		ids := make([]any, 0, len(evs))
		for _, e := range evs {
			if m, ok := e.(map[string]any); ok {
				ids = append(ids, m["id"])
			}
		}
		s["events"] = ids
	}
	j, _ := json.Marshal(s)
	return string(j)
}

// matchAlert reports whether the actual alert has everything the partial
// expected alert names. Evidence may be given as a list of event ids.
func matchAlert(want, got map[string]any) bool {
	for k, w := range want {
		g, ok := got[k]
		switch k {
		case "time", "first_seen", "last_seen":
			if !ok || !sameTime(w, g) {
				return false
			}
		case "events":
			if !matchEvidence(w, g) {
				return false
			}
		default:
			if !partialEqual(w, g) {
				return false
			}
		}
	}
	return true
}

func sameTime(w, g any) bool {
	ws, ok1 := w.(string)
	gs, ok2 := g.(string)
	if !ok1 || !ok2 {
		return partialEqual(w, g)
	}
	wt, err1 := time.Parse(time.RFC3339Nano, ws)
	gt, err2 := time.Parse(time.RFC3339Nano, gs)
	if err1 != nil || err2 != nil {
		return ws == gs
	}
	return wt.Equal(gt)
}

func matchEvidence(w, g any) bool {
	wl, ok1 := w.([]any)
	gl, ok2 := g.([]any)
	if !ok1 || !ok2 || len(wl) != len(gl) {
		return false
	}
	for i := range wl {
		gm, _ := gl[i].(map[string]any)
		switch x := wl[i].(type) {
		case map[string]any:
			if !partialEqual(x, gm) {
				return false
			}
		default:
			if gm == nil || fmt.Sprint(gm["id"]) != fmt.Sprint(x) {
				return false
			}
		}
	}
	return true
}

// partialEqual compares an expected value with an actual one: objects
// match when every expected member matches; numbers compare as numbers.
func partialEqual(w, g any) bool {
	switch x := w.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range x {
			if !partialEqual(v, gm[k]) {
				return false
			}
		}
		return true
	case []any:
		gl, ok := g.([]any)
		if !ok || len(gl) != len(x) {
			return false
		}
		for i := range x {
			if !partialEqual(x[i], gl[i]) {
				return false
			}
		}
		return true
	case float64:
		switch y := g.(type) {
		case float64:
			return x == y || (x != 0 && abs(x-y)/abs(x) < 1e-9)
		case json.Number:
			f, err := y.Float64()
			return err == nil && f == x
		}
		return false
	case nil:
		return g == nil
	}
	return w == g
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// pathErr drops the path os.Open repeats, since messages name it already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
