package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/reflist"
	"github.com/cep-project/cep/sinks/siem"
)

// ruleFlags are the flags of every command that loads rules.
type ruleFlags struct {
	lists     string
	models    string
	costLimit uint64
	// missingFields is the default missing_fields of rules that do not
	// set it: error or false_if_missing.
	missingFields string
	// facts is where rules remember and read facts; nil: in memory.
	facts facts.Store
}

// listsDir finds the reference lists: the --lists flag, else a lists
// directory inside or beside the first rules path.
func (f ruleFlags) listsDir(paths []string) string {
	return besideRules(f.lists, "lists", paths)
}

// modelsDir finds the PMML models the same way: --models, else models/
// inside or beside the first rules path.
func (f ruleFlags) modelsDir(paths []string) string {
	return besideRules(f.models, "models", paths)
}

func besideRules(flag, name string, paths []string) string {
	if flag != "" || len(paths) == 0 {
		return flag
	}
	dir := paths[0]
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	for _, cand := range []string{filepath.Join(dir, name), filepath.Join(dir, "..", name)} {
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return filepath.Clean(cand)
		}
	}
	return ""
}

// loadRules compiles every rule under paths. Problems are printed with
// their positions; rules that load are returned so the rest keeps working.
// The error is for problems that stop everything (bad lists).
func (a *app) loadRules(paths []string, f ruleFlags) (*rules.Set, *rules.Compiler, error) {
	// A path that is not there is a usage error for every command, not a
	// problem in a rule file.
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, nil, exitWith(exitUsage, "%v", err)
		}
	}
	paths, f, err := a.configPaths(paths, f)
	if err != nil {
		return nil, nil, err
	}
	lists, err := reflist.Load(f.listsDir(paths))
	if err != nil {
		return nil, nil, exitWith(exitUsage, "%v", err)
	}
	models, err := rules.LoadModels(f.modelsDir(paths))
	if err != nil {
		return nil, nil, exitWith(exitUsage, "%v", err)
	}
	c, err := rules.NewCompiler(rules.Options{Lists: lists, Models: models, CostLimit: f.costLimit, MissingFields: f.missingFields, Logger: a.log, Facts: f.facts})
	if err != nil {
		return nil, nil, exitWith(exitRuntime, "%v", err)
	}
	// Online models come first: rules may score with them.
	_, onlineErrs := c.LoadOnlineModels(f.modelsDir(paths))
	set := c.Load(paths...)
	set.Errors = append(onlineErrs, set.Errors...)
	for _, s := range set.Skipped {
		fmt.Fprintf(a.stderr, "note: skipped %s, not a rule file\n", s)
	}
	return set, c, nil
}

// configPaths replaces a cep config file given as a rules path (or a
// directory holding cep.yaml) by the rule directories it names, with its
// lists and models unless flags say otherwise: `cep test examples/fraud`
// tests the example's rules.
func (a *app) configPaths(paths []string, f ruleFlags) ([]string, ruleFlags, error) {
	var out []string
	for _, p := range paths {
		cfgPath := ""
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			for _, name := range []string{"cep.yaml", "cep.yml"} {
				if _, err := os.Stat(filepath.Join(p, name)); err == nil {
					cfgPath = filepath.Join(p, name)
					break
				}
			}
		} else if b := filepath.Base(p); b == "cep.yaml" || b == "cep.yml" {
			cfgPath = p
		}
		if cfgPath == "" {
			out = append(out, p)
			continue
		}
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return nil, f, exitWith(exitUsage, "%v", err)
		}
		dirs := cfg.ruleDirs()
		if len(dirs) < len(cfg.Rules) {
			fmt.Fprintf(a.stderr, "note: %s also names Git rule sources: only its directories are used here\n", cfgPath)
		}
		fmt.Fprintf(a.stderr, "note: %s is a cep config: using its rules %v\n", cfgPath, dirs)
		for _, w := range append(append(siem.Warnings(cfg.Sinks), stateWarnings(cfg)...), sourceWarnings(cfg)...) {
			fmt.Fprintf(a.stderr, "warning: %s: %s\n", cfgPath, w)
		}
		out = append(out, dirs...)
		if f.lists == "" && cfg.Lists != "" {
			f.lists = cfg.resolve(cfg.Lists)
		}
		if f.models == "" && cfg.Models != "" {
			f.models = cfg.resolve(cfg.Models)
		}
	}
	return out, f, nil
}

// printLoadErrors writes load problems to stderr; it returns how many were
// errors (not warnings).
func (a *app) printLoadErrors(set *rules.Set) int {
	n := 0
	for _, err := range set.Errors {
		if yamlx.IsWarning(err) {
			fmt.Fprintln(a.stderr, "warning:", err)
			continue
		}
		n++
		fmt.Fprintln(a.stderr, err)
	}
	return n
}
