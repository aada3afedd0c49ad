package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/ml"
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

var onlineKeys = []string{"kind", "feedback", "min_labels", "fallback", "remember", "hash_bits", "alpha", "beta", "l1", "l2"}

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
	doc, err := parseDocument(path, src)
	if err != nil {
		return nil, []error{err}
	}
	if doc == nil {
		return nil, []error{&Error{Pos: Pos{File: path}, Msg: "the file is empty"}}
	}
	d := newDecoder(path, src)
	m := &OnlineModel{Name: name, File: path, Remember: DefaultRemember}
	m.Health = &Health{Rule: "model " + name, logger: c.opts.Logger}
	var alertID, label Expr
	var fallback string
	var fbPos Pos
	haveFeedback := false
	d.fields(doc, "online model", onlineKeys, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "kind":
			d.oneOf(v, "kind", "logistic")
		case "feedback":
			haveFeedback = true
			d.fields(v, "feedback", []string{"stream", "alert_id", "label"}, func(key string, k, v *yaml.Node) bool {
				switch key {
				case "stream":
					m.FeedbackStream = d.str(v, "feedback.stream")
				case "alert_id":
					alertID = d.expr(v, "feedback.alert_id")
				case "label":
					label = d.expr(v, "feedback.label")
				default:
					return false
				}
				return true
			})
		case "min_labels":
			m.Config.MinLabels = uint64(d.integer(v, "min_labels", 0))
		case "fallback":
			fallback = d.str(v, "fallback")
			fbPos = Pos{File: path, Line: v.Line, Col: v.Column}
		case "remember":
			m.Remember = d.integer(v, "remember", 1)
		case "hash_bits":
			m.Config.HashBits = uint(d.integer(v, "hash_bits", 1))
		case "alpha":
			m.Config.Alpha = d.number(v, "alpha")
		case "beta":
			m.Config.Beta = d.number(v, "beta")
		case "l1":
			m.Config.L1 = d.number(v, "l1")
		case "l2":
			m.Config.L2 = d.number(v, "l2")
		default:
			return false
		}
		return true
	})
	if !haveFeedback || m.FeedbackStream == "" || alertID.Text == "" || label.Text == "" {
		d.add(doc.Line, doc.Column, "an online model needs feedback: {stream, alert_id, label}")
	}
	if fallback != "" {
		fm, ok := c.opts.Models.Get(fallback)
		if !ok {
			d.add(fbPos.Line, fbPos.Col, "fallback names no PMML model %q (known models: %s)", fallback, strings.Join(c.opts.Models.Names(), ", "))
		}
		m.Fallback = fm
	}
	if hasErrors(d.errs) {
		return nil, d.errs
	}
	m.AlertID = c.compile(d.errorList, c.base, alertID, cel.StringType, "feedback.alert_id", m.Health, scope{})
	m.Label = c.compile(d.errorList, c.base, label, cel.BoolType, "feedback.label", m.Health, scope{})
	if _, err := ml.NewOnlineLogistic(m.Config); err != nil {
		d.add(doc.Line, doc.Column, "%v", err)
	}
	if hasErrors(d.errs) {
		return nil, d.errs
	}
	return m, d.errs
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
			buf = append(buf, ml.Feature{Name: f.Name + "=" + fmt.Sprint(Native(x)), Value: 1})
		}
	}
	return buf
}

// BaselineSpec is a per-entity baseline as written in a rule.
type BaselineSpec struct {
	Name     string
	Value    Expr
	By       []Expr
	Where    *Expr
	HalfLife time.Duration
	Alpha    float64
	MinCount int
	Pos      Pos
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

var baselineKeys = []string{"value", "by", "where", "half_life", "alpha", "min_count"}

func parseBaselines(d *decoder, n *yaml.Node) []BaselineSpec {
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, n.Column, "baselines must map names to baselines, got %s", kindName(n))
		return nil
	}
	var out []BaselineSpec
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		b := BaselineSpec{Name: k.Value, Pos: Pos{File: d.file, Line: k.Line, Col: k.Column}, MinCount: 5}
		if !namePattern.MatchString(b.Name) {
			d.add(k.Line, k.Column, "baseline name %q must be an identifier", b.Name)
		}
		d.fields(v, "baseline", baselineKeys, func(key string, k, v *yaml.Node) bool {
			switch key {
			case "value":
				b.Value = d.expr(v, "baseline value")
			case "by":
				b.By = d.exprList(v, "baseline by")
			case "where":
				e := d.expr(v, "baseline where")
				b.Where = &e
			case "half_life":
				b.HalfLife = d.duration(v, "half_life")
			case "alpha":
				b.Alpha = d.number(v, "alpha")
			case "min_count":
				b.MinCount = d.integer(v, "min_count", 1)
			default:
				return false
			}
			return true
		})
		if b.Value.Text == "" && v.Kind == yaml.MappingNode {
			d.add(v.Line, v.Column, "baseline %s needs value", b.Name)
		}
		if b.HalfLife == 0 && b.Alpha == 0 {
			b.HalfLife = 7 * 24 * time.Hour
		}
		out = append(out, b)
	}
	return out
}

func (c *Compiler) compileBaselines(el *errorList, s *Spec, r *Rule) {
	for _, b := range s.Baselines {
		cb := Baseline{Name: b.Name, Params: ml.Baseline{HalfLife: b.HalfLife, Alpha: b.Alpha, MinCount: uint64(b.MinCount)}}
		if err := cb.Params.Validate(); err != nil {
			el.add(b.Pos.Line, b.Pos.Col, "%v", err)
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
			el.add(b.Pos.Line, b.Pos.Col, "baseline %s needs by (the entity), or the rule needs by", b.Name)
		}
		for _, e := range by {
			cb.By = append(cb.By, c.compileKey(el, e, r.Health))
		}
		r.Baselines = append(r.Baselines, cb)
	}
}

// Scores are the anomaly z-scores of one event, by baseline name: the CEL
// value of anomaly.
type Scores struct {
	Names []string
	Z     []float64
}

var _ traits.Mapper = (*Scores)(nil)

// Find implements traits.Mapper.
func (s *Scores) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), false
	}
	for i, n := range s.Names {
		if n == string(k) {
			return types.Double(s.Z[i]), true
		}
	}
	return nil, false
}

// Get implements traits.Indexer.
func (s *Scores) Get(key ref.Val) ref.Val {
	if v, ok := s.Find(key); ok {
		return v
	}
	return types.NewErr("no baseline named %v", key)
}

// Contains implements traits.Container.
func (s *Scores) Contains(key ref.Val) ref.Val {
	_, ok := s.Find(key)
	return types.Bool(ok)
}

// Size implements traits.Sizer.
func (s *Scores) Size() ref.Val { return types.Int(len(s.Names)) }

// Iterator implements traits.Iterable.
func (s *Scores) Iterator() traits.Iterator {
	return &indexIter{n: len(s.Names), get: func(i ref.Val) ref.Val { return types.String(s.Names[i.(types.Int)]) }}
}

// Type implements ref.Val.
func (s *Scores) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (s *Scores) Value() any {
	m := map[string]any{}
	for i, n := range s.Names {
		m[n] = s.Z[i]
	}
	return m
}

// ConvertToNative implements ref.Val.
func (s *Scores) ConvertToNative(reflect.Type) (any, error) { return s.Value(), nil }

// ConvertToType implements ref.Val.
func (s *Scores) ConvertToType(t ref.Type) ref.Val { return convertType(s, t) }

// Equal implements ref.Val.
func (s *Scores) Equal(o ref.Val) ref.Val { return types.Bool(o == ref.Val(s)) }

// String renders the scores for explain output.
func (s *Scores) String() string {
	var b strings.Builder
	for i, n := range s.Names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(s.Z[i], 'g', 4, 64))
	}
	return b.String()
}
