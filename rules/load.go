package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Set is what a load produced: the rules that compiled, the test files
// found beside them, and every problem, each with its position. A rule that
// fails to load is left out; the others run.
type Set struct {
	Rules     []*Rule
	TestFiles []*TestFile
	// Errors are problems that kept a rule or test file from loading.
	Errors []error
	// Files is the number of rule files read.
	Files int
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

// IsTestFile reports whether path names a rule test file.
func IsTestFile(path string) bool {
	return strings.HasSuffix(path, ".test.yaml") || strings.HasSuffix(path, ".test.yml")
}

func isRuleFile(path string) bool {
	ext := filepath.Ext(path)
	return (ext == ".yaml" || ext == ".yml") && !IsTestFile(path)
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
			if isRuleFile(path) || IsTestFile(path) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			set.Errors = append(set.Errors, err)
		}
	}
	sort.Strings(files)
	seen := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			set.Errors = append(set.Errors, fmt.Errorf("%s: %w", f, unwrapPathError(err)))
			continue
		}
		if IsTestFile(f) {
			tf, errs := ParseTestFile(f, src)
			set.Errors = append(set.Errors, errs...)
			if tf != nil {
				set.TestFiles = append(set.TestFiles, tf)
			}
			continue
		}
		set.Files++
		r, errs := c.CompileFile(f, src)
		set.Errors = append(set.Errors, errs...)
		if r == nil {
			continue
		}
		if prev, dup := seen[r.ID]; dup {
			p := r.Spec.Pos
			set.Errors = append(set.Errors, &Error{Pos: p, Msg: fmt.Sprintf("rule id %q is already used by %s; this file is skipped", r.ID, prev)})
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
	d := newDecoder(file, src)
	doc, err := parseDocument(file, src)
	if err != nil {
		return nil, []error{err}
	}
	if doc == nil {
		return nil, []error{&Error{Pos: Pos{File: file}, Msg: "the file is empty: a rule file holds one rule"}}
	}
	spec := parseSpec(d, doc)
	if hasErrors(d.errs) {
		return nil, d.errs
	}
	sum := sha256.Sum256(src)
	r := c.compileRule(d.errorList, spec, hex.EncodeToString(sum[:])[:12])
	if hasErrors(d.errs) || r == nil {
		return nil, d.errs
	}
	return r, d.errs
}

func hasErrors(errs []error) bool {
	for _, e := range errs {
		if !IsWarning(e) {
			return true
		}
	}
	return false
}

// parseDocument reads the single YAML document of a file. YAML syntax
// errors carry a line but no column.
func parseDocument(file string, src []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err.Error() == "EOF" {
			return nil, nil
		}
		return nil, yamlError(file, src, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{Pos: Pos{File: file, Line: extra.Line, Col: extra.Column}, Msg: "a rule file holds one rule; put the next one in its own file"}
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	return root.Content[0], nil
}

// yamlError turns "yaml: line 7: mapping values are not allowed" into a
// positioned error.
func yamlError(file string, src []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line = n
			}
			msg = strings.TrimSpace(rest[i+1:])
		}
	}
	p := Pos{File: file, Line: line}
	return &Error{Pos: p, Msg: "invalid YAML: " + msg, Snippet: snippet(src, Pos{File: file, Line: line, Col: 1})}
}
