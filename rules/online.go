package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/ml"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/rulefmt"
)

// OnlineModel is a model that keeps learning from labelled feedback: an
// online logistic regression defined in models/NAME.online.yaml. Rules
// score with it like with a PMML model; until it has learnt from
// MinLabels labels, its fallback PMML model scores instead.
type OnlineModel struct {
	Name string
	File string
	// Feedback says which stream carries labels, which alert each label is
	// for, and the label itself.
	FeedbackStream string
	AlertID        *Program
	Label          *Program
	Config         ml.OnlineLogisticConfig
	// Fallback scores while the model is not ready; it may be nil.
	Fallback *ml.Model
	// Remember is how many scored alerts' features are kept to learn from
	// when their label arrives.
	Remember int
	Health   *Health
}

// DefaultRemember is the default number of scored alerts an online model
// keeps features for.
const DefaultRemember = 100_000

// LoadOnlineModels reads every NAME.online.yaml of dir and registers the
// models, so that rules compiled afterwards may score with them.
func (c *Compiler) LoadOnlineModels(dir string) ([]*OnlineModel, []error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	var out []*OnlineModel
	var errs []error
	for _, de := range entries {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".online.yaml") {
			continue
		}
		path := filepath.Join(dir, de.Name())
		src, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m, merrs := c.compileOnline(path, strings.TrimSuffix(de.Name(), ".online.yaml"), src)
		errs = append(errs, merrs...)
		if m != nil {
			if c.online == nil {
				c.online = map[string]*OnlineModel{}
			}
			c.online[m.Name] = m
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errs
}

func (c *Compiler) compileOnline(path, name string, src []byte) (*OnlineModel, []error) {
	spec, errs := rulefmt.ParseOnlineModel(path, src)
	if spec == nil {
		return nil, errs
	}
	el := &yamlx.Errors{File: path, Src: src, List: errs}
	m := &OnlineModel{Name: name, File: path, Remember: DefaultRemember, FeedbackStream: spec.Feedback.Stream}
	m.Health = &Health{Rule: "model " + name, logger: c.opts.Logger}
	m.Config = ml.OnlineLogisticConfig{
		MinLabels: uint64(spec.MinLabels), HashBits: uint(spec.HashBits),
		Alpha: spec.Alpha, Beta: spec.Beta, L1: spec.L1, L2: spec.L2,
	}
	if spec.Remember > 0 {
		m.Remember = spec.Remember
	}
	if spec.Fallback != "" {
		fm, ok := c.opts.Models.Get(spec.Fallback)
		if !ok {
			el.Add(spec.FallbackPos.Line, spec.FallbackPos.Col, "fallback names no PMML model %q (known models: %s)", spec.Fallback, strings.Join(c.opts.Models.Names(), ", "))
		}
		m.Fallback = fm
	}
	// The expressions are compiled even when the file has other errors,
	// so that every problem is reported at once.
	m.AlertID = c.compile(el, c.base, spec.Feedback.AlertID, cel.StringType, "feedback.alert_id", m.Health, scope{})
	m.Label = c.compile(el, c.base, spec.Feedback.Label, cel.BoolType, "feedback.label", m.Health, scope{})
	if err := m.Config.Validate(); err != nil {
		el.Add(spec.Pos.Line, spec.Pos.Col, "%v", err)
	}
	if el.HasErrors() {
		return nil, el.List
	}
	return m, el.List
}

// OnlineFeatures turns feature values into an online model's input:
// numbers as they are, booleans as 0 or 1, and any other value v of
// feature f as the indicator feature "f=v".
func OnlineFeatures(vals []FeatureValue, buf []ml.Feature) []ml.Feature {
	buf = buf[:0]
	for _, f := range vals {
		switch x := f.Val.(type) {
		case types.Double:
			buf = append(buf, ml.Feature{Name: f.Name, Value: float64(x)})
		case types.Int:
			buf = append(buf, ml.Feature{Name: f.Name, Value: float64(x)})
		case types.Uint:
			buf = append(buf, ml.Feature{Name: f.Name, Value: float64(x)})
		case types.Bool:
			v := 0.0
			if x {
				v = 1
			}
			buf = append(buf, ml.Feature{Name: f.Name, Value: v})
		case types.Null:
		default:
			buf = append(buf, ml.Feature{Name: f.Name + "=" + fmt.Sprint(celenv.Native(x)), Value: 1})
		}
	}
	return buf
}

// Baseline is a compiled per-entity baseline: an exponentially weighted
// mean and variance of Value for each entity By, over the events Where
// selects. anomaly.NAME in the rule's expressions is the z-score of the
// event's value against its entity's baseline before the event.
type Baseline struct {
	Name   string
	Value  *Program
	By     []*Program
	Where  *Program
	Params ml.Baseline
}

func (c *Compiler) compileBaselines(el *yamlx.Errors, s *rulefmt.Spec, r *Rule) {
	for _, b := range s.Baselines {
		cb := Baseline{Name: b.Name, Params: ml.Baseline{HalfLife: b.HalfLife, Alpha: b.Alpha, MinCount: uint64(b.MinCount)}}
		if err := cb.Params.Validate(); err != nil {
			el.Add(b.Pos.Line, b.Pos.Col, "%v", err)
		}
		cb.Value = c.compile(el, c.base, b.Value, cel.DoubleType, "baseline value", r.Health, scope{})
		if b.Where != nil {
			cb.Where = c.compile(el, c.base, *b.Where, cel.BoolType, "baseline where", r.Health, scope{})
		}
		by := b.By
		if len(by) == 0 {
			by = s.By
		}
		if len(by) == 0 && len(s.ByStream) == 0 {
			el.Add(b.Pos.Line, b.Pos.Col, "baseline %s needs by (the entity), or the rule needs by", b.Name)
		}
		for _, e := range by {
			cb.By = append(cb.By, c.compileKey(el, e, r.Health))
		}
		r.Baselines = append(r.Baselines, cb)
	}
}
