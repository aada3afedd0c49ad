package sigma

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/mapping"
)

// Options configure an import.
type Options struct {
	Mapping *mapping.Mapping
	// Output is the directory rule files are written under; empty writes
	// nothing (a dry run that still counts).
	Output string
}

// Imported is one cep rule written.
type Imported struct {
	Source string // the Sigma file
	ID     string // the Sigma id
	Out    string // the cep rule file
	Text   []byte
	Tests  int
}

// Refused is one Sigma rule not imported.
type Refused struct {
	Source string
	ID     string
	Title  string
	*Refusal
}

// Report is what an import did.
type Report struct {
	Files    int
	Imported []Imported
	Refused  []Refused
	// Errors are files that could not be read or parsed at all.
	Errors []error
}

// ByReason counts the refused rules per reason, most frequent first.
func (r *Report) ByReason() [][2]string {
	counts := map[string]int{}
	for _, x := range r.Refused {
		counts[x.Reason]++
	}
	var out [][2]string
	for k, v := range counts {
		out = append(out, [2]string{k, strconv.Itoa(v)})
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(out[i][1])
		b, _ := strconv.Atoi(out[j][1])
		if a != b {
			return a > b
		}
		return out[i][0] < out[j][0]
	})
	return out
}

// Import converts every Sigma file (*.yml, *.yaml) under paths.
func Import(paths []string, opts Options) *Report {
	rep := &Report{}
	type doc struct {
		rule *Rule
		rel  string
	}
	var docs []doc
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			rep.Errors = append(rep.Errors, err)
			continue
		}
		base := root
		if !st.IsDir() {
			base = filepath.Dir(root)
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				rep.Errors = append(rep.Errors, err)
				return nil
			}
			if d.IsDir() {
				if p != root && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(p); ext != ".yml" && ext != ".yaml" {
				return nil
			}
			src, err := os.ReadFile(p)
			if err != nil {
				rep.Errors = append(rep.Errors, err)
				return nil
			}
			rep.Files++
			rules, err := Parse(p, src)
			if err != nil {
				rep.Errors = append(rep.Errors, err)
				return nil
			}
			rel, _ := filepath.Rel(base, p)
			for _, r := range rules {
				docs = append(docs, doc{r, rel})
			}
			return nil
		})
		if err != nil {
			rep.Errors = append(rep.Errors, err)
		}
	}
	// Correlations refer to rules by id or name, anywhere in the import.
	index := map[string]*Rule{}
	used := map[*Rule]bool{}
	for _, d := range docs {
		if d.rule.ID != "" {
			index[d.rule.ID] = d.rule
		}
		if d.rule.Name != "" {
			index[d.rule.Name] = d.rule
		}
	}
	for _, d := range docs {
		if c := d.rule.Correlation; c != nil && !d.rule.Generate {
			for _, ref := range c.Rules {
				if base, ok := index[ref]; ok && sameFile(base, d.rule) {
					used[base] = !base.Generate
				}
			}
		}
	}
	seen := map[string]string{}
	outs := map[string]bool{}
	for _, d := range docs {
		r := d.rule
		if used[r] {
			continue // only a part of a correlation in the same file
		}
		var text []byte
		var tests int
		ref := r.Refused
		if ref == nil {
			text, tests, ref = convert(r, d.rel, opts.Mapping, index)
		}
		if ref == nil && r.ID != "" {
			if prev, dup := seen[r.ID]; dup {
				ref = refuse("duplicate id", "id %s is also used by %s", r.ID, prev)
			}
		}
		if ref != nil {
			rep.Refused = append(rep.Refused, Refused{Source: r.File, ID: r.ID, Title: r.Title, Refusal: ref})
			continue
		}
		seen[r.ID] = r.File
		out := outName(d.rel, r)
		if outs[out] {
			// Two inputs with the same layout: keep both.
			out = strings.TrimSuffix(out, ".yaml") + "." + idSafe.ReplaceAllString(r.ID+strconv.Itoa(r.Line), "_") + ".yaml"
		}
		outs[out] = true
		rep.Imported = append(rep.Imported, Imported{Source: r.File, ID: r.ID, Out: out, Text: text, Tests: tests})
	}
	if opts.Output != "" {
		for _, im := range rep.Imported {
			p := filepath.Join(opts.Output, im.Out)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				rep.Errors = append(rep.Errors, err)
				continue
			}
			if err := os.WriteFile(p, im.Text, 0o644); err != nil {
				rep.Errors = append(rep.Errors, err)
			}
		}
	}
	return rep
}

func sameFile(a, b *Rule) bool { return a.File == b.File }

// outName places a rule's file under the output as its Sigma file sits
// under the input; a file with several documents adds the rule's id.
func outName(rel string, r *Rule) string {
	base := strings.TrimSuffix(rel, filepath.Ext(rel))
	if r.Correlation != nil || r.Line > 1 {
		suffix := r.ID
		if suffix == "" {
			suffix = strconv.Itoa(r.Line)
		}
		base += "." + suffix
	}
	return base + ".yaml"
}

var levels = map[string]string{"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}

var statuses = map[string]string{"stable": "stable", "test": "test", "experimental": "experimental", "deprecated": "deprecated"}

var idSafe = regexp.MustCompile(`[^A-Za-z0-9_.:/-]`)

// cepID is the cep id of a Sigma rule.
func cepID(r *Rule) string {
	id := r.ID
	if id == "" {
		id = r.Name
	}
	if id == "" {
		id = strings.ToLower(strings.TrimSuffix(filepath.Base(r.File), filepath.Ext(r.File)))
	}
	return "sigma." + idSafe.ReplaceAllString(id, "_")
}

// convert renders one rule file.
func convert(r *Rule, rel string, m *mapping.Mapping, index map[string]*Rule) ([]byte, int, *Refusal) {
	if r.Status == "unsupported" {
		return nil, 0, refuse("status unsupported", "Sigma marks the rule unsupported: it cannot be used as it is")
	}
	if r.Title == "" {
		return nil, 0, refuse("malformed rule", "the rule has no title")
	}
	w := &writer{}
	w.header(r, rel, m)
	w.meta(r)
	var tests []testCase
	if r.Correlation != nil {
		if ref := w.correlation(r, m, index); ref != nil {
			return nil, 0, ref
		}
	} else {
		expr, streams, ref := matchCEL(r, m)
		if ref != nil {
			return nil, 0, ref
		}
		w.kv("streams", flowList(streams))
		w.kv("missing_fields", "false_if_missing")
		w.kv("lenient_numbers", "true")
		w.block("match", expr)
		tests = findTests(r)
	}
	w.tests(tests, r)
	return w.b.Bytes(), len(tests), nil
}

// matchCEL is the condition of a detection rule over all the variants of
// its log source, and the streams it reads.
func matchCEL(r *Rule, m *mapping.Mapping) (string, []string, *Refusal) {
	tg, err := m.Resolve(r.LogSource)
	if err != nil {
		return "", nil, refuse("log source not in mapping", "%v", err)
	}
	type branch struct{ name, where, det string }
	var branches []branch
	var missing []string
	for i := range tg.Variants {
		v := &tg.Variants[i]
		det, miss, ref := detectionCEL(r, v)
		if ref != nil {
			return "", nil, ref
		}
		missing = append(missing, miss...)
		if det == "false" {
			continue // the variant's events lack what the rule needs
		}
		branches = append(branches, branch{v.Name, whereCEL(v), det})
	}
	switch {
	case len(branches) == 0:
		slices.Sort(missing)
		return "", nil, refuse("fields not in mapping", "no variant of log source %s in mapping %s has %s", r.LogSource, m.Name, strings.Join(slices.Compact(missing), ", "))
	case len(branches) == 1 && branches[0].where == "":
		return branches[0].det, []string{tg.Stream}, nil
	case len(branches) == 1:
		return branches[0].where + " &&\n" + paren(branches[0].det), []string{tg.Stream}, nil
	}
	// Variants are told apart by their conditions, so at most one holds:
	// a chain of ?: evaluates one detection, and its cost is estimated as
	// the dearest variant's rather than the sum of all.
	var b strings.Builder
	for _, br := range branches {
		where := br.where
		if where == "" {
			where = "true"
		}
		fmt.Fprintf(&b, "// %s\n%s ? (\n  %s\n) :\n", br.name, where, indent(br.det))
	}
	b.WriteString("false")
	return b.String(), []string{tg.Stream}, nil
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }

// writer builds a rule file's text.
type writer struct{ b bytes.Buffer }

func (w *writer) header(r *Rule, rel string, m *mapping.Mapping) {
	fmt.Fprintf(&w.b, "# Imported from Sigma by cep import sigma (mapping %s).\n", m.Name)
	if r.ID != "" {
		fmt.Fprintf(&w.b, "# Sigma id: %s\n", r.ID)
	}
	fmt.Fprintf(&w.b, "# Sigma title: %s\n", oneLine(r.Title))
	fmt.Fprintf(&w.b, "# Source: %s\n", filepath.ToSlash(rel))
	if r.Author != "" {
		fmt.Fprintf(&w.b, "# Author: %s\n", oneLine(r.Author))
	}
	if r.Date != "" || r.Modified != "" {
		fmt.Fprintf(&w.b, "# Date: %s", r.Date)
		if r.Modified != "" {
			fmt.Fprintf(&w.b, ", modified %s", r.Modified)
		}
		w.b.WriteString("\n")
	}
	lic := r.License
	if lic == "" {
		lic = "Detection Rule License (DRL) 1.1, https://github.com/SigmaHQ/Detection-Rule-License"
	}
	fmt.Fprintf(&w.b, "# Licence: %s\n", oneLine(lic))
	for _, ref := range r.References {
		fmt.Fprintf(&w.b, "# Reference: %s\n", oneLine(ref))
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (w *writer) kv(k, v string) { fmt.Fprintf(&w.b, "%s: %s\n", k, v) }

// scalar renders a YAML scalar safely (quoted when needed).
func scalar(s string) string {
	b, err := yaml.Marshal(s)
	if err != nil {
		return strconv.Quote(s)
	}
	out := strings.TrimSuffix(string(b), "\n")
	if strings.Contains(out, "\n") {
		return strconv.Quote(s)
	}
	return out
}

func flowList(vals []string) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = scalar(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// block writes a literal block; every line of text is indented.
func (w *writer) block(k, text string) {
	fmt.Fprintf(&w.b, "%s: |-\n", k)
	for _, l := range strings.Split(text, "\n") {
		w.b.WriteString("  ")
		w.b.WriteString(l)
		w.b.WriteString("\n")
	}
}

func (w *writer) meta(r *Rule) {
	w.kv("id", scalar(cepID(r)))
	w.kv("title", scalar(oneLine(r.Title)))
	var desc []string
	if d := strings.TrimSpace(r.Description); d != "" {
		desc = append(desc, d)
	}
	if len(r.FalsePositives) > 0 {
		desc = append(desc, "False positives: "+strings.Join(r.FalsePositives, "; "))
	}
	if len(desc) > 0 {
		w.kv("description", scalar(strings.Join(desc, "\n\n")))
	}
	if lv, ok := levels[strings.ToLower(r.Level)]; ok {
		w.kv("severity", lv)
	}
	if st, ok := statuses[strings.ToLower(r.Status)]; ok {
		w.kv("status", st)
	}
	if len(r.Tags) > 0 {
		tags := make([]string, len(r.Tags))
		for i, t := range r.Tags {
			tags[i] = normalizeTag(t)
		}
		w.kv("tags", flowList(tags))
	}
	if r.Author != "" {
		w.kv("owner", scalar(oneLine(r.Author)))
	}
}

// normalizeTag writes ATT&CK tactics as cep spells them: Sigma's newer
// attack.defense-evasion is attack.defense_evasion.
func normalizeTag(t string) string {
	if rest, ok := strings.CutPrefix(t, "attack."); ok && strings.Contains(rest, "-") && !strings.HasPrefix(rest, "t") {
		return "attack." + strings.ReplaceAll(rest, "-", "_")
	}
	return t
}

// testCase is a test the importer writes from example events.
type testCase struct {
	name   string
	events [][]byte
	alerts int
}

// findTests looks for example events of a rule: RULE.events.jsonl beside
// the rule file (every line must fire), or SigmaHQ regression data (the
// JSON export beside the .evtx its info.yml names).
func findTests(r *Rule) []testCase {
	var out []testCase
	base := strings.TrimSuffix(r.File, filepath.Ext(r.File))
	if evs := readJSONL(base + ".events.jsonl"); len(evs) > 0 {
		out = append(out, testCase{name: "example events fire", events: evs, alerts: len(evs)})
	}
	if r.RegressionTests != "" {
		for dir := filepath.Dir(r.File); ; dir = filepath.Dir(dir) {
			info := filepath.Join(dir, filepath.FromSlash(r.RegressionTests))
			if src, err := os.ReadFile(info); err == nil {
				out = append(out, regressionTests(dir, info, src)...)
				break
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	return out
}

func regressionTests(root, file string, src []byte) []testCase {
	var info struct {
		Tests []struct {
			Name       string `yaml:"name"`
			Type       string `yaml:"type"`
			MatchCount int    `yaml:"match_count"`
			Path       string `yaml:"path"`
		} `yaml:"regression_tests_info"`
	}
	doc, err := yamlx.Parse(file, src, "one document")
	if err != nil || doc == nil {
		return nil
	}
	if err := doc.Decode(&info); err != nil {
		return nil
	}
	var out []testCase
	for _, t := range info.Tests {
		p := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(t.Path, filepath.Ext(t.Path))+".json"))
		if evs := readJSONL(p); len(evs) > 0 {
			out = append(out, testCase{name: t.Name, events: evs, alerts: t.MatchCount})
		}
	}
	return out
}

// maxTestEvents bounds the events inlined into a rule file.
const maxTestEvents = 50

func readJSONL(p string) [][]byte {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(out) == maxTestEvents {
			return nil
		}
		out = append(out, append([]byte(nil), line...))
	}
	return out
}

func (w *writer) tests(tests []testCase, r *Rule) {
	if len(tests) == 0 {
		return
	}
	w.b.WriteString("tests:\n")
	for _, t := range tests {
		fmt.Fprintf(&w.b, "  - name: %s\n    events:\n", scalar(t.name))
		for _, e := range t.events {
			fmt.Fprintf(&w.b, "      - %s\n", e)
		}
		fmt.Fprintf(&w.b, "    expect:\n      alerts: %d\n", t.alerts)
	}
}

// durationText renders a Sigma timespan (30s, 5m, 1h, 2d) for cep.
func durationText(s string) (string, *Refusal) {
	d, err := yamlx.ParseDuration(s)
	if err != nil || d <= 0 {
		return "", refuse("malformed correlation", "timespan %q", s)
	}
	return s, nil
}
