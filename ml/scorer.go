package ml

import (
	"fmt"
	"math"
	"strings"
)

// Model is a compiled PMML model. It is immutable and safe for concurrent
// use; scoring state lives in Scorers.
type Model struct {
	// Name is the file's base name without its extension.
	Name string
	// Version is the first 12 hex digits of the SHA-256 of the document.
	Version string
	// PMMLVersion is the document's version attribute.
	PMMLVersion string

	root       *modelNode
	nodes      []*modelNode
	derivers   []deriver
	inputs     []Field
	inputIdx   map[string]int
	inputSlots []int
	inputPreps []*prep
	outputs    []OutputInfo
	outputIdx  map[string]int
	positive   int
}

func (m *Model) finish() {
	for _, slot := range m.inputSlots {
		p, _ := m.derivers[slot].(*prep)
		m.inputPreps = append(m.inputPreps, p)
	}
	m.outputIdx = map[string]int{}
	for i, o := range m.root.outputs {
		m.outputs = append(m.outputs, OutputInfo{Name: o.name, Feature: o.featStr, DataType: o.def.dataType, HasType: o.hasDT})
		m.outputIdx[o.name] = i
	}
	m.positive = -1
	if m.root.fn == classification {
		m.positive = positiveClass(m.root.cats)
	}
}

// positiveClass picks the class that Result.Score reports for a binary
// classification: the one spelled 1, true, yes, y or positive when exactly
// one is, otherwise the second class in target order.
func positiveClass(cats []string) int {
	if len(cats) != 2 {
		return -1
	}
	pos := func(s string) bool {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "true", "yes", "y", "positive":
			return true
		}
		return false
	}
	switch a, b := pos(cats[0]), pos(cats[1]); {
	case a && !b:
		return 0
	}
	return 1
}

// Function is "classification" or "regression".
func (m *Model) Function() string { return fnName(m.root.fn) }

// Inputs lists the fields a caller sets: the active (and supplementary)
// MiningFields of the model, in MiningSchema order, then any DataField only
// a nested model uses. Scorer setters take an index into this slice.
func (m *Model) Inputs() []Field { return m.inputs }

// InputIndex returns the index of the named input.
func (m *Model) InputIndex(name string) (int, bool) {
	i, ok := m.inputIdx[name]
	return i, ok
}

// Target describes the predicted field; ok is false when the MiningSchema
// names none.
func (m *Model) Target() (f Field, ok bool) {
	r := m.root
	if r.target == nil && r.targetName == "" {
		return Field{}, false
	}
	f = Field{Name: r.targetName, OpType: Continuous, DataType: TypeDouble}
	if r.target != nil {
		f = r.target.public()
	}
	if r.fn == classification {
		f.Values = r.cats
	}
	return f, true
}

// Classes lists the classes of a classification in target order, the order
// of Result.Probabilities; nil for a regression.
func (m *Model) Classes() []string {
	if m.root.fn != classification {
		return nil
	}
	return m.root.cats
}

// PositiveClass is the class whose probability Result.Score reports for a
// binary classification.
func (m *Model) PositiveClass() (string, bool) {
	if m.positive < 0 {
		return "", false
	}
	return m.root.cats[m.positive], true
}

// Outputs lists the model's OutputFields in document order.
func (m *Model) Outputs() []OutputInfo { return m.outputs }

type slotVal struct {
	v   Value
	gen uint32
}

// Scorer scores one input at a time with buffers sized at creation, so that
// scoring does not allocate. It is not safe for concurrent use: give each
// goroutine its own.
type Scorer struct {
	m     *Model
	gen   uint32
	raw   []Value
	slots []slotVal
	preds []prediction
	stack []Value
	nums  []float64
	frame int
	err   error
	res   Result
	outs  []Value
}

// NewScorer returns a Scorer with every input missing.
func (m *Model) NewScorer() *Scorer {
	s := &Scorer{
		m:     m,
		raw:   make([]Value, len(m.inputs)),
		slots: make([]slotVal, len(m.derivers)),
		preds: make([]prediction, len(m.nodes)),
		stack: make([]Value, 0, 64),
		nums:  make([]float64, 0, 64),
		outs:  make([]Value, len(m.outputs)),
	}
	for i, n := range m.nodes {
		p := &s.preds[i]
		p.probs = make([]float64, len(n.cats))
		p.reasons = make([]string, 0, n.maxReasons)
		p.path = make([]int32, 0, n.maxReasons)
		p.scratch = make([]float64, n.scratch)
		p.ranked = make([]int32, 0, n.ranks)
		p.rankAff = make([]float64, 0, n.ranks)
		p.affs = make([]float64, n.affinities)
	}
	s.res.m = m
	return s
}

// Set sets input i (an index into Model.Inputs).
func (s *Scorer) Set(i int, v Value) { s.raw[i] = v }

// SetNum sets input i to a number.
func (s *Scorer) SetNum(i int, f float64) { s.raw[i] = Num(f) }

// SetStr sets input i to a string.
func (s *Scorer) SetStr(i int, v string) { s.raw[i] = Str(v) }

// SetMissing marks input i missing.
func (s *Scorer) SetMissing(i int) { s.raw[i] = Value{} }

// SetByName sets the named input; it reports false for an unknown name.
func (s *Scorer) SetByName(name string, v Value) bool {
	i, ok := s.m.inputIdx[name]
	if ok {
		s.raw[i] = v
	}
	return ok
}

// Reset marks every input missing.
func (s *Scorer) Reset() {
	for i := range s.raw {
		s.raw[i] = Value{}
	}
}

func (s *Scorer) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// get returns the value of a slot, deriving it once per score.
func (s *Scorer) get(slot int) Value {
	sv := &s.slots[slot]
	if sv.gen == s.gen {
		return sv.v
	}
	var v Value
	if d := s.m.derivers[slot]; d != nil {
		// Mark first so that a failing derivation is not retried.
		sv.gen = s.gen
		v = d.derive(s)
	}
	sv.v, sv.gen = v, s.gen
	return v
}

func (s *Scorer) evalModel(n *modelNode) *prediction {
	p := &s.preds[n.id]
	p.reset()
	p.gen = s.gen
	n.eval.eval(s, p)
	if n.targets != nil {
		n.targets.apply(n, p)
	}
	for _, o := range n.outputs {
		v := o.compute(s, n, p)
		s.slots[o.slot] = slotVal{v: v, gen: s.gen}
	}
	return p
}

// Score evaluates the model on the inputs set so far. The Result belongs to
// the Scorer and is overwritten by the next Score. Inputs outside their
// domain, refused missing values and invalid function results are errors;
// a model that has no prediction for the input (a tree with no matching
// child, say) returns a Result whose OK is false.
func (s *Scorer) Score() (*Result, error) {
	s.gen++
	if s.gen == 0 {
		for i := range s.slots {
			s.slots[i].gen = 0
		}
		s.gen = 1
	}
	s.err = nil
	s.stack = s.stack[:0]
	s.nums = s.nums[:0]
	m := s.m
	for i, slot := range m.inputSlots {
		// Plain numeric inputs are copied without the general preparation.
		if p := m.inputPreps[i]; p != nil && p.plain && p.src < 0 && s.raw[p.input].kind == KindNumber {
			s.slots[slot] = slotVal{v: s.raw[p.input], gen: s.gen}
			continue
		}
		s.get(slot)
	}
	if s.err != nil {
		return nil, s.err
	}
	p := s.evalModel(m.root)
	if s.err != nil {
		return nil, s.err
	}
	for i, o := range m.root.outputs {
		s.outs[i] = s.slots[o.slot].v
	}
	r := &s.res
	r.p = p
	r.outs = s.outs
	return r, nil
}

// Result is the outcome of one score.
type Result struct {
	m    *Model
	p    *prediction
	outs []Value
}

// OK reports whether the model made a prediction.
func (r *Result) OK() bool { return r.p.ok }

// Predicted is the predicted value: the class for a classification, the
// number for a regression, missing when the model made no prediction.
func (r *Result) Predicted() Value {
	if !r.p.ok {
		return Value{}
	}
	return r.p.value
}

// Score is the single number a rule uses: for a binary classification the
// probability of Model.PositiveClass; for a classification with more
// classes the probability of the predicted class; for a regression the
// predicted value. It is NaN when the model made no prediction.
func (r *Result) Score() float64 {
	p := r.p
	if !p.ok {
		return math.NaN()
	}
	if r.m.root.fn != classification {
		return p.num
	}
	if !p.hasProbs {
		return math.NaN()
	}
	if r.m.positive >= 0 {
		return p.probs[r.m.positive]
	}
	return p.probs[p.cls]
}

// Probabilities returns the class probabilities in Model.Classes order, or
// nil. The slice is owned by the Scorer.
func (r *Result) Probabilities() []float64 {
	if !r.p.ok || !r.p.hasProbs {
		return nil
	}
	return r.p.probs
}

// Probability returns the probability of one class.
func (r *Result) Probability(class string) (float64, bool) {
	i, ok := r.m.root.catIdx[class]
	if !ok || !r.p.ok || !r.p.hasProbs {
		return 0, false
	}
	return r.p.probs[i], true
}

// Reasons explains the prediction: a scorecard's reason codes ranked by
// points; a tree's predicates on the path to the deciding node, root first,
// such as `amount > 500`; for a MiningModel choosing one segment
// (selectFirst, selectAll, modelChain), that segment's reasons. Ensembles
// that combine many models give none. The slice is owned by the Scorer.
func (r *Result) Reasons() []string { return r.p.reasonList() }

// Output returns an OutputField's value by name.
func (r *Result) Output(name string) (Value, bool) {
	i, ok := r.m.outputIdx[name]
	if !ok {
		return Value{}, false
	}
	return r.outs[i], true
}

// Outputs returns the OutputField values in Model.Outputs order, owned by
// the Scorer.
func (r *Result) Outputs() []Value { return r.outs }

// Map renders the result as the batch scorer writes it: every OutputField
// by name, or the predicted value under the target's name ("predicted" if
// the model names no target) when the model has no Output.
func (r *Result) Map() map[string]any {
	out := make(map[string]any, len(r.outs)+1)
	if len(r.m.outputs) == 0 {
		name := r.m.root.targetName
		if name == "" {
			name = "predicted"
		}
		out[name] = r.Predicted().Any()
		return out
	}
	for i, o := range r.m.outputs {
		out[o.Name] = r.outs[i].Any()
	}
	return out
}

// Detached is a copy of a Result that outlives its Scorer's next Score.
type Detached struct {
	Predicted     Value
	Score         float64
	Probabilities map[string]float64
	Reasons       []string
	Outputs       map[string]Value
}

// Detach copies the result out of the Scorer's buffers.
func (r *Result) Detach() *Detached {
	d := &Detached{Predicted: r.Predicted(), Score: r.Score(), Reasons: append([]string(nil), r.Reasons()...), Outputs: map[string]Value{}}
	if probs := r.Probabilities(); probs != nil {
		d.Probabilities = map[string]float64{}
		for i, c := range r.m.root.cats {
			d.Probabilities[c] = probs[i]
		}
	}
	for i, o := range r.m.outputs {
		d.Outputs[o.Name] = r.outs[i]
	}
	return d
}

// Score scores one input given by field name, allocating a Scorer: for
// tests, the CLI and other occasional use. Unknown names are an error.
func (m *Model) Score(in map[string]any) (*Detached, error) {
	s := m.NewScorer()
	for k, v := range in {
		if !s.SetByName(k, ValueOf(v)) {
			if _, isOut := m.outputIdx[k]; isOut {
				continue
			}
			if t, ok := m.Target(); ok && t.Name == k {
				continue
			}
			return nil, fmt.Errorf("model %s: unknown input field %q", m.Name, k)
		}
	}
	r, err := s.Score()
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	return r.Detach(), nil
}
