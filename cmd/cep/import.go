package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/mapping"
	"github.com/cep-project/cep/rules/sigma"
)

type importParams struct {
	mapping string
	output  string
	format  string
	noLint  bool
	ruleFlags
}

func (a *app) importCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "import",
		Short: "Convert rules of other languages into cep rule files",
	}
	var p importParams
	sig := &cobra.Command{
		Use:   "sigma FILE|DIR ...",
		Short: "Convert Sigma rules into cep rule files",
		Long: `Convert Sigma rules (detection and correlation rules) into cep rule files,
one per rule, under --output, mirroring the layout of the input. Each file
starts with a header naming the Sigma id, title, source file and licence.

Field names and log sources are placed by a mapping (--mapping): a shipped
one (windows-raw, windows-evtx, ecs) or a mapping file. Imported rules use
Sigma's semantics: values compare without case, a test of a missing field
is false (missing_fields: false_if_missing), and numbers match strings that
hold them (lenient_numbers).

A rule that cannot be translated faithfully is refused with a reason, and
so is one whose translation does not load (an expression over the cost
limit): its file is removed. The summary counts the rules imported, the
rules refused by reason, and the errors and warnings of loading the
imported rules (as cep lint does).

Exit status: 0 when every imported rule loads, 1 when something else under
--output does not, 2 on bad usage.`,
		Example: `  cep import sigma sigma/rules/windows --mapping windows-raw --output rules/sigma
  cep import sigma rule.yml --mapping mappings/my-siem.yaml --output out --format json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.runImportSigma(args, p) },
	}
	f := sig.Flags()
	f.StringVar(&p.mapping, "mapping", "windows-raw", "field mapping: a shipped mapping's name ("+joinNames()+") or a file")
	f.StringVarP(&p.output, "output", "o", "", "directory to write cep rule files under (required)")
	f.StringVar(&p.format, "format", "text", "summary format: text or json")
	f.BoolVar(&p.noLint, "no-lint", false, "do not load and lint the imported rules")
	a.addRuleFlags(sig, &p.ruleFlags)
	root.AddCommand(sig)
	return root
}

func joinNames() string {
	s := ""
	for i, n := range mapping.Names() {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

type importSummary struct {
	Files    int              `json:"files"`
	Rules    int              `json:"rules"`
	Imported int              `json:"imported"`
	Refused  int              `json:"refused"`
	ByReason map[string]int   `json:"refused_by_reason"`
	Details  []importRefusal  `json:"refusals"`
	Errors   []string         `json:"errors,omitempty"`
	Lint     *importLintCount `json:"lint,omitempty"`
	Seconds  float64          `json:"seconds"`
}

type importRefusal struct {
	File   string `json:"file"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type importLintCount struct {
	Loaded   int `json:"loaded"`
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	// NoTests counts the warnings that a rule has no tests.
	NoTests int `json:"warnings_no_tests"`
}

func (a *app) runImportSigma(paths []string, p importParams) error {
	if p.output == "" {
		return exitWith(exitUsage, "import sigma needs --output DIR")
	}
	if p.format != "text" && p.format != "json" {
		return exitWith(exitUsage, "--format must be text or json")
	}
	m, err := mapping.Load(p.mapping)
	if err != nil {
		return exitWith(exitUsage, "--mapping: %v", err)
	}
	start := time.Now()
	rep := sigma.Import(paths, sigma.Options{Mapping: m, Output: p.output})
	sum := importSummary{Files: rep.Files, Imported: len(rep.Imported), Refused: len(rep.Refused), ByReason: map[string]int{}}
	sum.Rules = sum.Imported + sum.Refused
	for _, r := range rep.Refused {
		sum.ByReason[r.Reason]++
		sum.Details = append(sum.Details, importRefusal{File: r.Source, ID: r.ID, Reason: r.Reason, Detail: r.Detail})
	}
	for _, e := range rep.Errors {
		sum.Errors = append(sum.Errors, e.Error())
	}
	sum.Seconds = time.Since(start).Seconds()
	failed := false
	if !p.noLint && len(rep.Imported) > 0 {
		set, c, err := a.loadRules([]string{p.output}, p.ruleFlags)
		if err != nil {
			return err
		}
		// An imported rule that does not load (an expression over the
		// cost limit, such as .{1000,} over a command line) is refused
		// like any other: its file is removed and the reason counted.
		byOut := map[string]int{}
		for i, im := range rep.Imported {
			byOut[filepath.Clean(filepath.Join(p.output, im.Out))] = i
		}
		dropped := map[int]bool{}
		lc := &importLintCount{Loaded: len(set.Rules)}
		for _, e := range append(append([]error(nil), set.Errors...), c.Lint(set)...) {
			var ye *yamlx.Error
			if errors.As(e, &ye) && ye.Warning {
				lc.Warnings++
				if isNoTests(ye.Msg) {
					lc.NoTests++
				}
				continue
			}
			if ye != nil {
				if i, ok := byOut[filepath.Clean(ye.Pos.File)]; ok {
					if !dropped[i] {
						dropped[i] = true
						im := rep.Imported[i]
						reason := "does not load"
						if strings.Contains(ye.Msg, "too expensive") {
							reason = "exceeds the cost limit"
						}
						rep.Refused = append(rep.Refused, sigma.Refused{Source: im.Source, ID: im.ID, Refusal: &sigma.Refusal{Reason: reason, Detail: ye.Msg}})
						sum.ByReason[reason]++
						sum.Details = append(sum.Details, importRefusal{File: im.Source, ID: im.ID, Reason: reason, Detail: ye.Msg})
						if err := os.Remove(ye.Pos.File); err != nil {
							sum.Errors = append(sum.Errors, err.Error())
						}
					}
					continue
				}
			}
			lc.Errors++
			if p.format == "text" {
				fmt.Fprintln(a.stderr, e)
			}
		}
		sum.Imported -= len(dropped)
		sum.Refused += len(dropped)
		sum.Lint = lc
		failed = lc.Errors > 0
	}
	if p.format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return exitWith(exitRuntime, "%v", err)
		}
	} else {
		for _, d := range sum.Details {
			fmt.Fprintf(a.stdout, "refused %s: %s: %s\n", d.File, d.Reason, d.Detail)
		}
		for _, e := range sum.Errors {
			fmt.Fprintf(a.stdout, "error: %s\n", e)
		}
		pct := 0.0
		if sum.Rules > 0 {
			pct = 100 * float64(sum.Imported) / float64(sum.Rules)
		}
		fmt.Fprintf(a.stdout, "%d file(s), %d rule(s): %d imported (%.1f%%) into %s, %d refused, in %.2fs (mapping %s)\n",
			sum.Files, sum.Rules, sum.Imported, pct, filepath.Clean(p.output), sum.Refused, sum.Seconds, m.Name)
		for _, kv := range rep.ByReason() {
			fmt.Fprintf(a.stdout, "  refused: %s: %s\n", kv[1], kv[0])
		}
		if l := sum.Lint; l != nil {
			fmt.Fprintf(a.stdout, "loaded %d rule(s): %d error(s), %d warning(s) (%d of them: no tests)\n", l.Loaded, l.Errors, l.Warnings, l.NoTests)
		}
	}
	if len(rep.Errors) > 0 && len(rep.Imported) == 0 {
		return quietExit(exitFailed)
	}
	if failed {
		return quietExit(exitFailed)
	}
	return nil
}

func isNoTests(msg string) bool { return strings.Contains(msg, "has no tests") }
