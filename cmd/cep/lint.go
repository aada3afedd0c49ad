package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/mapping"
)

type lintParams struct {
	format       string
	failWarnings bool
	mappings     []string
	config       string
	ruleFlags
}

func (a *app) lintCmd() *cobra.Command {
	var p lintParams
	cmd := &cobra.Command{
		Use:   "lint [PATH ...]",
		Short: "Check rule files without running them",
		Long: `Check rule files: the strict schema, CEL type checks and cost estimates,
duplicate ids (everything loading checks), and warnings about rules that load
but are likely wrong: no tests, conditions that are always true or false,
malformed ATT&CK tags, deprecated rules. With --mapping, also case-sensitive
comparisons (==, in, startsWith, endsWith, contains, matches without (?i))
of fields the mapping marks case-insensitive (Windows paths, registry keys,
channels), in rules that read the mapping's streams. Every seen and fact
must name a fact some rule remembers (or one the config's facts.shared
declares), and with --config every context a context the config names.

Problems are printed as file:line:col: message. --format json prints one
JSON array for tools. Exit status: 0 without errors, 1 with errors (or with
warnings under --fail-on-warnings).`,
		Example: `  cep lint examples/fraud/rules
  cep lint --mapping windows-raw rules/windows
  cep lint --format json rules/ | jq '.[] | select(.severity == "error")'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			return a.runLint(args, p)
		},
	}
	cmd.Flags().StringVar(&p.format, "format", "text", "output format: text or json")
	cmd.Flags().BoolVar(&p.failWarnings, "fail-on-warnings", false, "exit 1 on warnings too")
	cmd.Flags().StringArrayVar(&p.mappings, "mapping", nil, "field mapping (a shipped name or a file) whose case-insensitive fields case-sensitive comparisons are warned about (repeatable)")
	cmd.Flags().StringVar(&p.config, "config", "", "cep config whose facts.contexts and facts.shared name the contexts and the facts of other processes that rules may read")
	a.addRuleFlags(cmd, &p.ruleFlags)
	return cmd
}

type lintFinding struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Col      int    `json:"col,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

func (a *app) runLint(paths []string, p lintParams) error {
	if p.format != "text" && p.format != "json" {
		return exitWith(exitUsage, "--format must be text or json")
	}
	var maps []rules.CaseFields
	for _, name := range p.mappings {
		m, err := mapping.Load(name)
		if err != nil {
			return exitWith(exitUsage, "--mapping: %v", err)
		}
		maps = append(maps, m)
	}
	known := rules.KnownFacts{}
	if p.config != "" {
		cfg, err := loadConfig(p.config)
		if err != nil {
			return exitWith(exitUsage, "%v", err)
		}
		known = cfg.Facts.known()
	}
	set, c, err := a.loadRules(paths, p.ruleFlags)
	if err != nil {
		return err
	}
	all := append(append([]error(nil), set.Errors...), c.Lint(set)...)
	all = append(all, rules.LintFacts(set, known)...)
	if len(maps) > 0 {
		all = append(all, rules.LintCase(set, maps...)...)
	}
	var findings []lintFinding
	nerr, nwarn := 0, 0
	for _, e := range all {
		f := lintFinding{Severity: "error", Message: e.Error()}
		var re *yamlx.Error
		if errors.As(e, &re) {
			f.File, f.Line, f.Col, f.Message = re.Pos.File, re.Pos.Line, re.Pos.Col, re.Msg
			if re.Warning {
				f.Severity = "warning"
			}
		}
		if f.Severity == "error" {
			nerr++
		} else {
			nwarn++
		}
		findings = append(findings, f)
		if p.format == "text" {
			if f.Severity == "warning" && re != nil {
				fmt.Fprintf(a.stdout, "%s: warning: %s\n", re.Pos, re.Msg)
				if re.Snippet != "" {
					fmt.Fprintln(a.stdout, re.Snippet)
				}
			} else {
				fmt.Fprintln(a.stdout, e)
			}
		}
	}
	if p.format == "json" {
		if findings == nil {
			findings = []lintFinding{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(findings); err != nil {
			return exitWith(exitRuntime, "%v", err)
		}
	} else {
		fmt.Fprintf(a.stdout, "%d rule(s) in %d file(s): %d error(s), %d warning(s)\n", len(set.Rules), set.Files, nerr, nwarn)
	}
	if nerr > 0 || (p.failWarnings && nwarn > 0) {
		return quietExit(exitFailed)
	}
	return nil
}
