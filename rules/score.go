package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/ml"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

// Models are the PMML models of a models directory, by name (the file name
// without .pmml).
type Models struct {
	m map[string]*ml.Model
}

// Get returns the model name.
func (ms *Models) Get(name string) (*ml.Model, bool) {
	if ms == nil {
		return nil, false
	}
	m, ok := ms.m[name]
	return m, ok
}

// Names returns the model names, sorted.
func (ms *Models) Names() []string {
	if ms == nil {
		return nil
	}
	out := make([]string, 0, len(ms.m))
	for n := range ms.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LoadModels reads every *.pmml file of dir. A model that does not load is
// reported with its element and line, and left out; a missing directory
// holds no models.
func LoadModels(dir string) (*Models, error) {
	ms := &Models{m: map[string]*ml.Model{}}
	if dir == "" {
		return ms, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ms, nil
	}
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	var errs []error
	for _, de := range entries {
		if de.IsDir() || !strings.EqualFold(filepath.Ext(de.Name()), ".pmml") {
			continue
		}
		m, err := ml.Load(filepath.Join(dir, de.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms.m[m.Name] = m
	}
	return ms, errors.Join(errs...)
}

// Score is a compiled score: block: the model and the CEL expression of
// each input feature. Exactly one of Model (PMML) and Online is set; an
// online model may have a PMML fallback.
type Score struct {
	Model    *ml.Model
	Online   *OnlineModel
	Features []Feature
}

// Feature is one model input and the expression that computes it.
type Feature struct {
	Name  string
	Input int // index of the PMML model's input, or -1
	Prog  *Program
}

// Scored is the outcome of scoring one alert.
type Scored struct {
	Score   float64
	Reasons []string
}

func mlValue(v ref.Val) ml.Value {
	switch x := v.(type) {
	case types.Double:
		return ml.Num(float64(x))
	case types.Int:
		return ml.Num(float64(x))
	case types.Uint:
		return ml.Num(float64(x))
	case types.Bool:
		return ml.Bool(bool(x))
	case types.String:
		return ml.Str(string(x))
	case types.Null:
		return ml.Missing()
	}
	return ml.ValueOf(celenv.Native(v))
}

// compileScore resolves the model and compiles the features in the scope
// of the rule's alert fields.
func (c *Compiler) compileScore(el *yamlx.Errors, s *rulefmt.ScoreSpec, r *Rule, fields scope) {
	if om, ok := c.online[s.Model]; ok {
		c.compileOnlineScore(el, s, r, fields, om)
		return
	}
	m, ok := c.opts.Models.Get(s.Model)
	if !ok {
		names := c.opts.Models.Names()
		for n := range c.online {
			names = append(names, n+" (online)")
		}
		known := strings.Join(names, ", ")
		if known == "" {
			known = "none: put NAME.pmml in the models directory"
		}
		el.Add(s.Pos.Line, s.Pos.Col, "no model named %q (known models: %s)", s.Model, known)
		return
	}
	env, err := c.env(fields)
	if err != nil {
		el.Add(s.Pos.Line, s.Pos.Col, "building the scope of score features: %v", err)
		return
	}
	sc := &Score{Model: m}
	for _, f := range s.Features {
		idx, ok := m.InputIndex(f.Name)
		if !ok {
			var names []string
			for _, in := range m.Inputs() {
				names = append(names, in.Name)
			}
			el.Add(f.Expr.Pos.Line, f.Expr.Pos.Col, "model %s has no input %q (inputs: %s)", m.Name, f.Name, strings.Join(names, ", "))
			continue
		}
		p := c.compile(el, env, f.Expr, nil, "feature "+f.Name, r.Health, fields)
		if p != nil {
			sc.Features = append(sc.Features, Feature{Name: f.Name, Input: idx, Prog: p})
		}
	}
	r.Score = sc
}

// compileOnlineScore compiles the features of an online model, which takes
// any names; those that are inputs of its fallback feed the fallback too.
func (c *Compiler) compileOnlineScore(el *yamlx.Errors, s *rulefmt.ScoreSpec, r *Rule, fields scope, om *OnlineModel) {
	env, err := c.env(fields)
	if err != nil {
		el.Add(s.Pos.Line, s.Pos.Col, "building the scope of score features: %v", err)
		return
	}
	sc := &Score{Online: om, Model: om.Fallback}
	for _, f := range s.Features {
		p := c.compile(el, env, f.Expr, nil, "feature "+f.Name, r.Health, fields)
		if p == nil {
			continue
		}
		idx := -1
		if om.Fallback != nil {
			if i, ok := om.Fallback.InputIndex(f.Name); ok {
				idx = i
			}
		}
		sc.Features = append(sc.Features, Feature{Name: f.Name, Input: idx, Prog: p})
	}
	r.Score = sc
}

// FeatureValue is one computed feature of an alert.
type FeatureValue struct {
	Name  string
	Input int // index of the PMML model's input, or -1
	Val   ref.Val
}

// FeatureValues computes a score's features with act. A feature that fails is
// left out, which both kinds of model treat as missing; the failure is
// counted.
func (sc *Score) FeatureValues(act interpreter.Activation, buf []FeatureValue) []FeatureValue {
	buf = buf[:0]
	for _, f := range sc.Features {
		v, err := f.Prog.Eval(act)
		if err != nil {
			continue
		}
		buf = append(buf, FeatureValue{Name: f.Name, Input: f.Input, Val: v})
	}
	return buf
}

// ScorePMML scores feature values with a PMML scorer.
func ScorePMML(m *ml.Model, s *ml.Scorer, vals []FeatureValue) (Scored, error) {
	s.Reset()
	for _, f := range vals {
		if f.Input >= 0 {
			s.Set(f.Input, mlValue(f.Val))
		}
	}
	res, err := s.Score()
	if err != nil {
		return Scored{}, err
	}
	score := res.Score()
	if math.IsNaN(score) {
		return Scored{}, fmt.Errorf("model %s made no prediction", m.Name)
	}
	return Scored{Score: score, Reasons: append([]string(nil), res.Reasons()...)}, nil
}
