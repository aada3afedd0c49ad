package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules/rulefmt"
)

// Set is what a load produced: the rules that compiled, the test files
// found beside them, and every problem, each with its position. A rule that
// fails to load is left out; the others run.
type Set struct {
	Rules     []*Rule
	TestFiles []*rulefmt.TestFile
	// Errors are problems that kept a rule or test file from loading.
	Errors []error
	// Files is the number of rule files read.
	Files int
	// Skipped are YAML files under the paths that are not rules (a
	// config file, an online model), each with why.
	Skipped []string
}

// notRule tells why a YAML file found under a rules directory is not a
// rule file, or "" when it is one: configs and online models often sit
// beside rules in one repository.
func notRule(path string) string {
	base := filepath.Base(path)
	switch {
	case base == "cep.yaml" || base == "cep.yml":
		return "a cep config file"
	case strings.HasSuffix(base, ".online.yaml") || strings.HasSuffix(base, ".online.yml"):
		return "an online model"
	}
	return ""
}

// Rule returns the rule with the given id.
func (s *Set) Rule(id string) (*Rule, bool) {
	for _, r := range s.Rules {
		if r.ID == id {
			return r, true
		}
	}
	return nil, false
}

// isTestFile reports whether path names a rule test file.
func isTestFile(path string) bool {
	return strings.HasSuffix(path, ".test.yaml") || strings.HasSuffix(path, ".test.yml")
}

func isRuleFile(path string) bool {
	ext := filepath.Ext(path)
	return (ext == ".yaml" || ext == ".yml") && !isTestFile(path)
}

// Load reads every rule file (*.yaml, *.yml) and test file (*.test.yaml)
// under the given files and directories, recursively, skipping hidden
// directories such as .git.
func (c *Compiler) Load(paths ...string) *Set {
	set := &Set{}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			set.Errors = append(set.Errors, fmt.Errorf("%s: %w", p, unwrapPathError(err)))
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				set.Errors = append(set.Errors, fmt.Errorf("%s: %w", path, unwrapPathError(err)))
				return nil
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if why := notRule(path); why != "" && (isRuleFile(path) || isTestFile(path)) {
				set.Skipped = append(set.Skipped, path+": "+why)
				return nil
			}
			if isRuleFile(path) || isTestFile(path) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			set.Errors = append(set.Errors, err)
		}
	}
	sort.Strings(files)
	// Files compile in parallel (a Compiler and its CEL environments are
	// safe to share); results are taken in file order, so errors and the
	// first of two rules with one id do not depend on scheduling.
	type result struct {
		rule *Rule
		tf   *rulefmt.TestFile
		errs []error
		test bool
	}
	results := make([]result, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(files)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				f := files[i]
				src, err := os.ReadFile(f)
				if err != nil {
					results[i].errs = []error{fmt.Errorf("%s: %w", f, unwrapPathError(err))}
					continue
				}
				if isTestFile(f) {
					results[i].test = true
					results[i].tf, results[i].errs = rulefmt.ParseTestFile(f, src)
					continue
				}
				results[i].rule, results[i].errs = c.CompileFile(f, src)
			}
		}()
	}
	wg.Wait()
	seen := map[string]string{}
	for i, f := range files {
		res := results[i]
		set.Errors = append(set.Errors, res.errs...)
		if res.test {
			if res.tf != nil {
				set.TestFiles = append(set.TestFiles, res.tf)
			}
			continue
		}
		set.Files++
		r := res.rule
		if r == nil {
			continue
		}
		if prev, dup := seen[r.ID]; dup {
			p := r.Spec.Pos
			set.Errors = append(set.Errors, &yamlx.Error{Pos: p, Msg: fmt.Sprintf("rule id %q is already used by %s; this file is skipped", r.ID, prev), Snippet: yamlx.Snippet(r.Spec.Source, p)})
			continue
		}
		seen[r.ID] = f
		set.Rules = append(set.Rules, r)
	}
	return set
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// CompileFile parses and compiles one rule file. It returns the rule, or nil
// when it has errors, and every error found (warnings do not stop a rule).
func (c *Compiler) CompileFile(file string, src []byte) (*Rule, []error) {
	spec, errs := rulefmt.Parse(file, src)
	if spec == nil {
		return nil, errs
	}
	// A rule with format errors is still compiled, so that a missing
	// title does not hide a type error in the same file.
	el := &yamlx.Errors{File: file, Src: src, List: errs}
	sum := sha256.Sum256(src)
	r := c.compileRule(el, spec, hex.EncodeToString(sum[:])[:12])
	yamlx.SortErrors(el.List)
	if el.HasErrors() || r == nil {
		return nil, el.List
	}
	r.StateVersion = stateVersion(src)
	return r, el.List
}
