package main

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/ruletest"
)

type testParams struct {
	run      string
	junit    string
	explain  bool
	verbose  bool
	testData []string
	ruleFlags
	engineParams
}

func (a *app) testCmd() *cobra.Command {
	var p testParams
	cmd := &cobra.Command{
		Use:   "test [PATH ...]",
		Short: "Run the tests of rules",
		Long: `Run rule tests: the tests: of each rule file and every *.test.yaml file
under the given paths (default: the current directory).

Each test feeds its events through the same engine as 'cep run' and compares
the alerts with what it expects: a count, or a list of partial alerts (key,
fields, evidence ids, time, …) that must each match one alert. A failing
test prints the difference. The last line reads "N passed, N failed".

Exit status: 0 when every test passes, 1 when one fails, 2 when rules or
tests do not load.`,
		Example: `  cep test examples/fraud/rules
  cep test --run 'card-testing' --explain examples/fraud/rules
  cep test --junit report.xml rules/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			return a.runTests(args, p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.run, "run", "", "run only tests whose RULE/NAME matches this regular expression")
	f.StringVar(&p.junit, "junit", "", "also write a JUnit XML report to this file")
	f.BoolVar(&p.explain, "explain", false, "print, event by event, what each detector did")
	f.BoolVarP(&p.verbose, "verbose", "v", false, "print passing tests too")
	f.StringArrayVar(&p.testData, "test-data", nil, "a directory tests may read events from besides the rules paths (repeatable)")
	a.addRuleFlags(cmd, &p.ruleFlags)
	a.addEngineFlags(cmd, &p.engineParams)
	return cmd
}

func (a *app) runTests(paths []string, p testParams) error {
	var opts ruletest.Options
	if p.run != "" {
		re, err := regexp.Compile(p.run)
		if err != nil {
			return exitWith(exitUsage, "--run: %v", err)
		}
		opts.Run = re
	}
	if p.explain {
		opts.Explain = a.stdout
	}
	// A test reads its events from under the rules paths (a file's
	// directory for a file) or what --test-data adds, never elsewhere.
	for _, path := range paths {
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			path = filepath.Dir(path)
		}
		opts.Roots = append(opts.Roots, path)
	}
	opts.Roots = append(opts.Roots, p.testData...)
	set, _, err := a.loadRules(paths, p.ruleFlags)
	if err != nil {
		return err
	}
	loadErrs := a.printLoadErrors(set)
	// Rule tests run the rules as a run would.
	rules.Compact(set.Rules)
	results := ruletest.Run(set, a.testEngine(p.engineParams), opts)
	passed, failed := 0, 0
	for _, r := range results {
		if r.Passed() {
			passed++
			if p.verbose {
				fmt.Fprintf(a.stdout, "PASS  %s (%d alerts)\n", r.FullName(), r.Alerts)
			}
			continue
		}
		failed++
		fmt.Fprintf(a.stdout, "FAIL  %s  (%s)\n", r.FullName(), r.Pos)
		if r.Err != nil {
			fmt.Fprintf(a.stdout, "      %s\n", indent(r.Err.Error(), "      "))
		}
		if r.Diff != "" {
			fmt.Fprintf(a.stdout, "      %s\n", indent(r.Diff, "      "))
		}
	}
	if len(results) == 0 && opts.Run != nil {
		return exitWith(exitUsage, "--run %q matches no test", p.run)
	}
	if len(results) == 0 {
		fmt.Fprintln(a.stderr, "cep test: no tests found (add tests: to a rule, or a *.test.yaml file)")
	}
	fmt.Fprintf(a.stdout, "%d passed, %d failed\n", passed, failed)
	if p.junit != "" {
		if err := writeJUnit(p.junit, results, loadErrors(set)); err != nil {
			return exitWith(exitRuntime, "--junit: %v", err)
		}
	}
	switch {
	case loadErrs > 0:
		return exitWith(exitUsage, "%d problem(s) in rule or test files", loadErrs)
	case failed > 0:
		return quietExit(exitFailed)
	}
	return nil
}

func indent(s, pad string) string { return strings.ReplaceAll(s, "\n", "\n"+pad) }

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	File      string `xml:"file,attr,omitempty"`
	Line      int    `xml:"line,attr,omitempty"`
	// Time is decimal seconds: JUnit readers do not all take exponents.
	Time    string        `xml:"time,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
	Error   *junitFailure `xml:"error,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// writeJUnit writes one testsuite per rule, the shape CI systems render.
// writeJUnit writes the results, and each file that did not load as a
// test case in error, so a CI report is never green while cep test fails.
func writeJUnit(path string, results []ruletest.Result, loadErrs []error) error {
	var doc junitSuites
	if len(loadErrs) > 0 {
		s := junitSuite{Name: "files that do not load"}
		for _, err := range loadErrs {
			c := junitCase{Name: "load", Classname: "load", Time: "0.000", Error: &junitFailure{Message: firstLine(err.Error()), Body: err.Error()}}
			var ye *yamlx.Error
			if errors.As(err, &ye) {
				c.Name, c.File, c.Line = ye.Pos.File, ye.Pos.File, ye.Pos.Line
			}
			s.Cases = append(s.Cases, c)
			s.Tests++
			s.Errors++
		}
		doc.Suites = append(doc.Suites, s)
	}
	index := map[string]int{}
	for _, r := range results {
		i, ok := index[r.Rule]
		if !ok {
			i = len(doc.Suites)
			index[r.Rule] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: r.Rule})
		}
		s := &doc.Suites[i]
		c := junitCase{Name: r.Name, Classname: r.Rule, File: r.Pos.File, Line: r.Pos.Line, Time: strconv.FormatFloat(r.Duration.Seconds(), 'f', 6, 64)}
		switch {
		case r.Err != nil:
			c.Error = &junitFailure{Message: firstLine(r.Err.Error()), Body: r.Err.Error()}
			s.Errors++
		case r.Diff != "":
			c.Failure = &junitFailure{Message: firstLine(r.Diff), Body: r.Diff}
			s.Failures++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeXML(f, doc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeXML(w io.Writer, v any) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// loadErrors are the errors (not warnings) of loading the rules.
func loadErrors(set *rules.Set) []error {
	var out []error
	for _, err := range set.Errors {
		if !yamlx.IsWarning(err) {
			out = append(out, err)
		}
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
